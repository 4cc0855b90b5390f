//! [`UpnpTechnique`]: UPnP IGD through upnp-soap, found with an SSDP search.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use upnp_soap::igd::{Gateway, MappingRequest};
use upnp_soap::{Config, Url, code};

use crate::error::{Error, Result};
use crate::technique::{MapRequest, Mapping, NatTechnique, Technique};

/// How long an external address read from the gateway is reused before asking again.
const ADDRESS_FRESHNESS: Duration = Duration::from_secs(2);

/// The `NewPortMappingDescription` sent unless told otherwise.
pub(crate) const DEFAULT_DESCRIPTION: &str = "nat-traversal";

/// A UPnP Internet Gateway Device's WAN connection service.
///
/// Refreshing re-sends `AddPortMapping` for the same ports, which gateways treat as a
/// renewal. The external address is read with `GetExternalIPAddress` alongside each
/// refresh, and alongside each new mapping unless it was read in the last two seconds (so
/// many mappings made together do not each ask).
#[derive(Debug)]
pub struct UpnpTechnique {
    gateway: Gateway,
    responder: IpAddr,
    description: String,
    address: Mutex<Option<(IpAddr, Instant)>>,
}

impl UpnpTechnique {
    /// Searches for an IGD on `gateway` with upnp-soap's discovery (SSDP by multicast and by
    /// unicast to `gateway:1900`, answers from `gateway` itself only), and opens its WAN
    /// connection service. `timeout` bounds the search; each HTTP exchange is
    /// bounded by it too.
    pub async fn discover(gateway: IpAddr, timeout: Duration) -> Result<UpnpTechnique> {
        let started = Instant::now();
        let config = Config {
            connect_timeout: timeout.min(Config::default().connect_timeout),
            timeout,
            ..Config::default()
        };
        let options = upnp_soap::DiscoverOptions::default()
            .gateway(gateway)
            .only_gateway(true)
            .scan_time(timeout)
            .http(config);
        let root = match upnp_soap::discover_root(&options).await {
            Ok(root) => root,
            Err(upnp_soap::DiscoverError::Search(e)) => return Err(e.into()),
            Err(error) => {
                tracing::debug!(%error, "no usable IGD at the gateway");
                return Err(Error::NoInternetGatewayDevice {
                    gateway,
                    waited: started.elapsed(),
                });
            }
        };
        let igd = Gateway::from_root(&root).await?;
        tracing::debug!(control_url = %igd.control_url(), service = %igd.service_type(), "upnp gateway");
        Ok(UpnpTechnique::from_gateway(igd, gateway))
    }

    /// Opens the WAN connection service described at `location` (from an SSDP answer sent
    /// by `responder`).
    pub async fn connect(
        location: &Url,
        responder: IpAddr,
        config: Config,
    ) -> Result<UpnpTechnique> {
        let gateway = Gateway::connect(location, responder, config).await?;
        tracing::debug!(control_url = %gateway.control_url(), service = %gateway.service_type(), "upnp gateway");
        Ok(UpnpTechnique::from_gateway(gateway, responder))
    }

    /// A technique over an IGD client already opened.
    pub fn from_gateway(gateway: Gateway, responder: IpAddr) -> UpnpTechnique {
        UpnpTechnique {
            gateway,
            responder,
            description: DEFAULT_DESCRIPTION.to_owned(),
            address: Mutex::new(None),
        }
    }

    /// Sets the description shown in the router's mapping table.
    pub fn with_description(mut self, description: impl Into<String>) -> UpnpTechnique {
        self.description = description.into();
        self
    }

    /// The IGD client (for the generic dispatcher and listings).
    pub fn igd(&self) -> &Gateway {
        &self.gateway
    }

    async fn recent_address(&self) -> Result<IpAddr> {
        if let Ok(cached) = self.address.lock() {
            if let Some((address, at)) = *cached {
                if at.elapsed() < ADDRESS_FRESHNESS {
                    return Ok(address);
                }
            }
        }
        self.external_address().await
    }

    /// Maps; `fresh` reads the external address anew rather than reusing a recent one (a
    /// refresh may follow an address change).
    async fn add(&self, request: &MapRequest, fresh: bool) -> Result<Mapping> {
        let lower = MappingRequest {
            protocol: request.protocol.into(),
            internal_port: request.internal_port,
            external_port: request.external_port,
            internal_client: None,
            description: self.description.clone(),
            lease: request.lifetime.min(upnp_soap::igd::MAX_LEASE),
        };
        let address = async {
            if fresh {
                self.external_address().await
            } else {
                self.recent_address().await
            }
        };
        let (granted, address) =
            futures_util::future::join(self.gateway.add_port_mapping(&lower), address).await;
        let granted = granted?;
        let address = address?;
        Ok(Mapping::new(
            Technique::Upnp,
            request.protocol,
            granted.internal_port,
            SocketAddr::new(address, granted.external_port),
            if granted.permanent {
                Duration::ZERO
            } else {
                granted.lease
            },
        ))
    }
}

#[async_trait]
impl NatTechnique for UpnpTechnique {
    fn kind(&self) -> Technique {
        Technique::Upnp
    }

    fn gateway(&self) -> IpAddr {
        self.responder
    }

    async fn external_address(&self) -> Result<IpAddr> {
        let address = self.gateway.external_address().await?;
        if let Ok(mut cached) = self.address.lock() {
            *cached = Some((address, Instant::now()));
        }
        Ok(address)
    }

    async fn map(&self, request: &MapRequest) -> Result<Mapping> {
        self.add(request, false).await
    }

    async fn refresh(&self, mapping: &Mapping, lifetime: Duration) -> Result<Mapping> {
        let request = MapRequest {
            protocol: mapping.protocol,
            internal_port: mapping.internal_port,
            external_port: mapping.external.port(),
            lifetime,
        };
        self.add(&request, true).await
    }

    async fn unmap(&self, mapping: &Mapping) -> Result<()> {
        match self
            .gateway
            .delete_port_mapping(mapping.protocol.into(), mapping.external.port())
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.upnp_code() == Some(code::NO_SUCH_ENTRY_IN_ARRAY) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
