//! [`UpnpTechnique`]: UPnP IGD through upnp-soap, found with an SSDP search; with its
//! events (the IGD's SSDP notifications and GENA events, `upnp/events.rs`), the on-disk
//! cache of IGDs (`upnp/cache.rs`), and the IPv6 pinhole technique over the same IGD
//! (`upnp/pinhole.rs`).

pub(crate) mod cache;
mod events;
mod gena;
mod notify;
mod pinhole;

pub use pinhole::PinholeTechnique;

use std::future::Future;

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use sync_wrapper::SyncFuture;

use async_trait::async_trait;
use upnp_soap::igd::{Gateway, MappingRequest};
use upnp_soap::{Config, Url, parse_url};

use crate::error::{Error, Result};
use crate::technique::{
    MapRequest, Mapping, NatTechnique, Protocol, TableEntry, TableHost, Technique, TechniqueEvents,
    Unmapped,
};

/// How long an external address read from the gateway is reused before asking again.
const ADDRESS_FRESHNESS: Duration = Duration::from_secs(2);

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
    on_default_gateway: bool,
    /// How long each later operation may take (the event subscription's requests too).
    timeout: Duration,
}

impl UpnpTechnique {
    /// Searches for an IGD on `gateway` with upnp-soap's discovery (SSDP by multicast and by
    /// unicast to `gateway:1900`, answers from `gateway` itself only), and opens its WAN
    /// connection service. `timeout` bounds the search and the whole of each later
    /// operation.
    pub fn discover(
        gateway: IpAddr,
        timeout: Duration,
    ) -> impl Future<Output = Result<UpnpTechnique>> + Send + Sync {
        SyncFuture::new(async move { UpnpTechnique::discover_with(gateway, timeout, false).await })
    }

    /// [`discover`](Self::discover); with `allow_other_igd`, an IGD on another LAN host is
    /// taken when none answered on `gateway` within the search (it is then not
    /// [`on_default_gateway`](Self::on_default_gateway), and outputs should say so).
    pub fn discover_with(
        gateway: IpAddr,
        timeout: Duration,
        allow_other_igd: bool,
    ) -> impl Future<Output = Result<UpnpTechnique>> + Send + Sync {
        SyncFuture::new(async move {
            Ok(
                UpnpTechnique::search(gateway, timeout, allow_other_igd, false)
                    .await?
                    .0,
            )
        })
    }

    /// The search behind [`discover_with`](Self::discover_with). With `quick`, a gateway
    /// whose search answer says enough is used without reading its description
    /// ([`upnp_soap::discover_fast`]); the `bool` says the technique is such a guess, to be
    /// searched for again, description and all, if it does not answer.
    pub(crate) async fn search(
        gateway: IpAddr,
        timeout: Duration,
        allow_other_igd: bool,
        quick: bool,
    ) -> Result<(UpnpTechnique, bool)> {
        let started = Instant::now();
        let config = Config {
            connect_timeout: timeout.min(Config::default().connect_timeout),
            timeout,
            ..Config::default()
        }
        .with_operation_timeout(timeout);
        let mut options = upnp_soap::DiscoverOptions::default();
        // Multicast only on the gateway's own link: a bridge of containers or a VPN tunnel
        // must not be searched (nor answer as the gateway).
        match netinfo::route_to(gateway) {
            Ok(route) => options = options.interface(route.interface),
            Err(error) => {
                tracing::debug!(%error, %gateway, "no route read toward the gateway; searching on every interface")
            }
        }
        let options = options
            .gateway(gateway)
            .allow_other_igd(allow_other_igd)
            .scan_time(timeout)
            .operation_timeout(timeout)
            .http(config);
        let not_found = |error: upnp_soap::DiscoverError| -> Error {
            tracing::debug!(%error, "no usable IGD at the gateway");
            match error {
                upnp_soap::DiscoverError::Search(e) => e.into(),
                error => Error::NoInternetGatewayDevice {
                    gateway,
                    waited: started.elapsed(),
                    reason: match &error {
                        upnp_soap::DiscoverError::NotFound { summary, .. } => summary.clone(),
                        other => other.to_string(),
                    },
                    refused: match error {
                        upnp_soap::DiscoverError::NotFound { tried, .. } => tried,
                        _ => Vec::new(),
                    },
                },
            }
        };
        let (igd, guessed, on_default_gateway) = if quick {
            let found = upnp_soap::discover_fast(&options)
                .await
                .map_err(not_found)?;
            let responder = found.gateway.service_client().http().responder();
            let on_default_gateway = found.gateway.on_default_gateway() || responder == gateway;
            (found.gateway, found.from_answer, on_default_gateway)
        } else {
            let root = upnp_soap::discover_root(&options)
                .await
                .map_err(not_found)?;
            let responder = root.http().responder();
            let on_default_gateway = root.on_default_gateway() || responder == gateway;
            (Gateway::from_root(&root).await?, false, on_default_gateway)
        };
        let responder = igd.service_client().http().responder();
        tracing::debug!(control_url = %igd.control_url(), service = %igd.service_type(), %responder, on_default_gateway, guessed, "upnp gateway");
        let mut technique = UpnpTechnique::from_gateway(igd, responder);
        technique.on_default_gateway = on_default_gateway;
        technique.timeout = timeout;
        Ok((technique, guessed))
    }

    /// A technique over the WAN connection service a cache remembered for `gateway` (see
    /// [`NatOptions::upnp_cache`](crate::NatOptions::upnp_cache)): nothing is sent until it
    /// is used.
    pub(crate) fn resume(
        gateway: IpAddr,
        timeout: Duration,
        service_type: &str,
        control_url: &str,
    ) -> Result<UpnpTechnique> {
        let control_url = parse_url(control_url).map_err(|e| Error::NoInternetGatewayDevice {
            gateway,
            waited: Duration::ZERO,
            reason: format!("the cached control url is unusable: {e}"),
            refused: Vec::new(),
        })?;
        let config = Config {
            connect_timeout: timeout.min(Config::default().connect_timeout),
            timeout,
            ..Config::default()
        }
        .with_operation_timeout(timeout);
        let igd = Gateway::resume(gateway, config, service_type, &control_url)?;
        let mut technique = UpnpTechnique::from_gateway(igd, gateway);
        technique.timeout = timeout;
        Ok(technique)
    }

    /// Whether the IGD answers from the default gateway (the router), not from another LAN
    /// host that claims to be one.
    pub fn on_default_gateway(&self) -> bool {
        self.on_default_gateway
    }

    /// Opens the WAN connection service described at `location` (from an SSDP answer sent
    /// by `responder`).
    pub fn connect(
        location: &Url,
        responder: IpAddr,
        config: Config,
    ) -> impl Future<Output = Result<UpnpTechnique>> + Send + Sync {
        SyncFuture::new(async move {
            let gateway = Gateway::connect(location, responder, config).await?;
            tracing::debug!(control_url = %gateway.control_url(), service = %gateway.service_type(), "upnp gateway");
            Ok(UpnpTechnique::from_gateway(gateway, responder))
        })
    }

    /// A technique over an IGD client already opened.
    pub fn from_gateway(gateway: Gateway, responder: IpAddr) -> UpnpTechnique {
        UpnpTechnique {
            on_default_gateway: gateway.on_default_gateway(),
            gateway,
            responder,
            description: crate::options::DEFAULT_DESCRIPTION.to_owned(),
            address: Mutex::new(None),
            timeout: Config::default().timeout,
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
            protocol: request.protocol().into(),
            internal_port: request.internal_port(),
            external_port: request.external_port(),
            internal_client: None,
            description: self.description.clone(),
            lease: request.lifetime().min(upnp_soap::igd::MAX_LEASE),
        };
        let address = async {
            if fresh {
                self.external_address().await
            } else {
                self.recent_address().await
            }
        };
        let (granted, address) = tokio::join!(self.gateway.add_port_mapping(&lower), address);
        let granted = granted?;
        let address = address?;
        let mut mapping = Mapping::new(
            Technique::Upnp,
            request.protocol(),
            granted.internal_port,
            SocketAddr::new(address, granted.external_port),
            if granted.permanent {
                Duration::ZERO
            } else {
                granted.lease
            },
        );
        mapping.on_default_gateway = self.on_default_gateway;
        Ok(mapping)
    }
}

#[async_trait]
impl NatTechnique for UpnpTechnique {
    fn kind(&self) -> Technique {
        Technique::Upnp
    }

    fn on_default_gateway(&self) -> bool {
        self.on_default_gateway
    }

    fn gateway(&self) -> IpAddr {
        self.responder
    }

    /// The IGD's restarts (its SSDP notifications: a new boot id or location, a goodbye)
    /// and its new external address (GENA events of the WAN connection service).
    fn events(&self) -> TechniqueEvents {
        events::follow(
            self.responder,
            Some(self.gateway.control_url().clone()),
            self.timeout,
        )
    }

    async fn external_address(&self) -> Result<IpAddr> {
        // A private address is still the gateway's answer: the facade classifies it
        // (double NAT) rather than treating the technique as broken.
        let address = self.gateway.reported_external_address().await?;
        if let Ok(mut cached) = self.address.lock() {
            *cached = Some((address, Instant::now()));
        }
        Ok(address)
    }

    async fn map(&self, request: &MapRequest) -> Result<Mapping> {
        self.add(request, false).await
    }

    async fn refresh(&self, mapping: &Mapping, lifetime: Duration) -> Result<Mapping> {
        let request = MapRequest::new(mapping.protocol, mapping.internal_port)
            .with_external_port(mapping.external.port())
            .with_lifetime(lifetime);
        self.add(&request, true).await
    }

    async fn unmap(&self, mapping: &Mapping) -> Result<()> {
        self.delete(mapping.protocol, mapping.external.port())
            .await
            .map(|_| ())
    }

    /// Deletes the entry at the mapping's external port only when the gateway's table shows it
    /// as `former`'s, to the same internal port; an entry gone or now another host's is left
    /// alone (`Ok`: nothing of `former`'s is there). An IGD in secure mode refuses (606).
    async fn unmap_former(&self, mapping: &Mapping, former: IpAddr) -> Result<()> {
        let entry = self
            .gateway
            .specific_port_mapping(mapping.protocol.into(), mapping.external.port())
            .await?;
        match entry {
            Some(entry)
                if entry.internal_client.trim().parse::<IpAddr>() == Ok(former)
                    && entry.internal_port == mapping.internal_port =>
            {
                self.delete(mapping.protocol, mapping.external.port())
                    .await
                    .map(|_| ())
            }
            _ => Ok(()),
        }
    }

    /// Looks the port up as the external port first (`GetSpecificPortMappingEntry`: natkit
    /// and most programs ask for the same external port), then in the gateway's table; deletes
    /// only entries whose internal client is this host, so another host's mapping is never
    /// touched.
    async fn unmap_port(&self, protocol: Protocol, internal_port: u16) -> Result<Unmapped> {
        let me = self.gateway.local_address().to_string();
        let direct = self
            .gateway
            .specific_port_mapping(protocol.into(), internal_port)
            .await?;
        let mut ports = Vec::new();
        match direct {
            Some(entry) if entry.internal_client == me && entry.internal_port == internal_port => {
                ports.push(entry.external_port);
            }
            _ => {
                // Mapped under another external port, or not at all: the table says which.
                match self.gateway.port_mappings().await {
                    Ok(entries) => ports.extend(
                        entries
                            .into_iter()
                            .filter(|e| {
                                e.protocol == protocol.into()
                                    && e.internal_client == me
                                    && e.internal_port == internal_port
                            })
                            .map(|e| e.external_port),
                    ),
                    Err(error) => {
                        tracing::debug!(%error, "the gateway's table cannot be read");
                    }
                }
            }
        }
        self.delete_each(protocol, &ports).await
    }

    async fn unmap_all(&self, protocol: Protocol) -> Result<Unmapped> {
        let me = self.gateway.local_address().to_string();
        let ports: Vec<u16> = self
            .gateway
            .port_mappings()
            .await?
            .into_iter()
            .filter(|e| e.protocol == protocol.into() && e.internal_client == me)
            .map(|e| e.external_port)
            .collect();
        self.delete_each(protocol, &ports).await
    }

    async fn list(&self) -> Result<Vec<TableEntry>> {
        let (entries, address) = tokio::join!(self.gateway.port_mappings(), self.recent_address());
        let external_address = address.ok();
        Ok(entries?
            .into_iter()
            .map(|e| TableEntry {
                technique: Technique::Upnp,
                protocol: match e.protocol {
                    upnp_soap::igd::Protocol::Tcp => Protocol::Tcp,
                    upnp_soap::igd::Protocol::Udp => Protocol::Udp,
                },
                external_address,
                external_port: e.external_port,
                internal_client: TableHost::parse(&e.internal_client),
                internal_port: e.internal_port,
                description: e.description,
                lifetime: e.lease_duration,
                enabled: e.enabled,
                remote_host: (!e.remote_host.trim().is_empty())
                    .then(|| TableHost::parse(&e.remote_host)),
                on_default_gateway: self.on_default_gateway,
            })
            .collect())
    }
}

impl UpnpTechnique {
    /// Deletes the mapping of `external_port`; `false` when the gateway had none (714).
    async fn delete(&self, protocol: Protocol, external_port: u16) -> Result<bool> {
        Ok(matches!(
            self.gateway
                .remove_port_mapping(protocol.into(), external_port)
                .await?,
            upnp_soap::igd::Deleted::Removed
        ))
    }

    async fn delete_each(&self, protocol: Protocol, external_ports: &[u16]) -> Result<Unmapped> {
        let mut removed = 0;
        for &port in external_ports {
            if self.delete(protocol, port).await? {
                removed += 1;
            }
        }
        Ok(if removed == 0 {
            Unmapped::NotThere
        } else {
            Unmapped::Removed {
                count: Some(removed),
            }
        })
    }
}
