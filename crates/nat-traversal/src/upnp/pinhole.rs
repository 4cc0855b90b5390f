//! [`PinholeTechnique`]: IPv6 pinholes through a UPnP IGD's `WANIPv6FirewallControl:1`, the
//! UPnP technique of an IPv6 [`Nat`](crate::Nat).
//!
//! There is no translation on IPv6: a "mapping" lets WAN hosts reach this host's own global
//! address on the internal port, so its external address is that address and its external
//! port the internal one.
//!
//! Finding the service: an SSDP search over IPv6 (link-local multicast `ff02::c`) for the
//! firewall service. The router answers from a link-local address with a LOCATION on one of
//! its global (or unique local) addresses. That LOCATION is used only when its host lies in
//! the on-link prefix of this host's global address toward the gateway and the answer came
//! from a link-local address (a router on this link) or from that host itself; every later
//! request goes to that host only, like any UPnP URL. The requests are sent over IPv6, from
//! this host's global address: miniupnpd opens pinholes only for the address a request comes
//! from.
//!
//! The protocol has no listing and no delete-by-port: the pinholes this technique made are
//! remembered by (protocol, port) → `UniqueID`, and so are those the facade's pinhole record
//! holds (opened by another process). A pinhole whose id is known neither way is not
//! deleted: opening it to learn its id would make state at the gateway in order to delete
//! it.

use std::future::Future;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;
use sync_wrapper::SyncFuture;

use async_trait::async_trait;
use upnp_soap::pinhole::{self, FirewallControl, PinholeRequest};
use upnp_soap::{Config, Url};

use crate::error::{Error, Result};
use crate::technique::{
    MapRequest, Mapping, NatTechnique, Protocol, TableEntry, TableHost, Technique, TechniqueEvents,
    Unmapped,
};

/// IPv6 pinholes through a UPnP IGD's `WANIPv6FirewallControl:1`.
#[derive(Debug)]
pub struct PinholeTechnique {
    control: FirewallControl,
    /// The gateway of the `Nat` (the IPv6 default route's next hop, often link-local), which
    /// may differ from the address the service is reached at.
    gateway: IpAddr,
    local_address: Ipv6Addr,
    description: String,
    ids: Mutex<HashMap<(Protocol, u16), u16>>,
}

impl PinholeTechnique {
    /// Searches over IPv6 for the firewall control service of the router on this link, for
    /// the IPv6 `gateway`. `timeout` bounds the search and each later operation.
    ///
    /// # Errors
    /// [`Error::Network`] when this host has no global IPv6 address toward `gateway`;
    /// [`Error::NoInternetGatewayDevice`] when no usable service answered.
    pub fn discover(
        gateway: IpAddr,
        timeout: Duration,
    ) -> impl Future<Output = Result<PinholeTechnique>> + Send + Sync {
        SyncFuture::new(async move {
            let started = std::time::Instant::now();
            let local = match netinfo::local_address_toward(gateway)? {
                IpAddr::V6(local) => local,
                IpAddr::V4(_) => {
                    return Err(Error::NoInternetGatewayDevice {
                        gateway,
                        waited: started.elapsed(),
                        reason: "the gateway is not an ipv6 address".to_owned(),
                        refused: Vec::new(),
                    });
                }
            };
            let prefix_len = netinfo::global_ipv6_addresses()
                .ok()
                .and_then(|all| all.into_iter().find(|a| a.address == local))
                .map_or(64, |a| a.prefix_len);
            let config = Config {
                connect_timeout: timeout.min(Config::default().connect_timeout),
                timeout,
                ..Config::default()
            }
            .with_operation_timeout(timeout);
            let search = ssdp::SearchOptions::default()
                .targets([
                    pinhole::SERVICE_TYPE,
                    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
                ])
                .ipv6(true)
                .scan_time(timeout)
                .sends(4, Duration::from_millis(300));
            let mut answers = ssdp::search_with(&search).await?;
            let mut tried: Vec<String> = Vec::new();
            let mut fetched = std::collections::HashSet::new();
            let deadline = tokio::time::Instant::now() + timeout;
            // Every fetch ends by the search's deadline too; the service found is handed
            // back without it, so each later operation gets its own bound.
            let bounded = config.with_deadline(deadline.into_std());
            while let Ok(Some(answer)) =
                tokio::time::timeout_at(deadline, answers.next_response()).await
            {
                // ssdp caps the answers per responder; this caps the descriptions fetched.
                if fetched.len() >= upnp_soap::MAX_DESCRIPTIONS {
                    break;
                }
                let Some((location, host)) = usable_location(&answer, local, prefix_len) else {
                    if tried.len() < 4 {
                        tried.push(format!(
                            "{} from {} (not on this link's prefix)",
                            answer.location,
                            answer.source.ip()
                        ));
                    }
                    continue;
                };
                if !fetched.insert(location.clone()) {
                    continue;
                }
                let found = async {
                    let root =
                        upnp_soap::RootDevice::fetch(&location, IpAddr::V6(host), bounded).await?;
                    FirewallControl::from_root(&root.with_config(config))
                };
                match found.await {
                    Ok(control) => {
                        answers.stop();
                        tracing::debug!(%location, control_url = %control.control_url(), "upnp ipv6 firewall control");
                        return Ok(PinholeTechnique::new(control, gateway, local));
                    }
                    Err(error) => {
                        if tried.len() < 4 {
                            tried.push(format!("{location}: {error}"));
                        }
                    }
                }
            }
            Err(Error::NoInternetGatewayDevice {
                gateway,
                waited: started.elapsed(),
                reason: if tried.is_empty() {
                    "no WANIPv6FirewallControl service answered an ipv6 search".to_owned()
                } else {
                    format!("no usable WANIPv6FirewallControl: {}", tried.join("; "))
                },
                refused: tried
                    .iter()
                    .map(|reason| (String::new(), reason.clone()))
                    .collect(),
            })
        })
    }

    /// A technique over a firewall control client found elsewhere, for the `Nat`'s
    /// `gateway`, opening pinholes for `local_address`.
    pub fn new(
        control: FirewallControl,
        gateway: IpAddr,
        local_address: Ipv6Addr,
    ) -> PinholeTechnique {
        PinholeTechnique {
            control,
            gateway,
            local_address,
            description: crate::options::DEFAULT_DESCRIPTION.to_owned(),
            ids: Mutex::new(HashMap::new()),
        }
    }

    /// The firewall control client.
    pub fn control(&self) -> &FirewallControl {
        &self.control
    }

    /// Sets the description shown by [`list`](NatTechnique::list) (`AddPinhole` itself
    /// carries none).
    pub fn with_description(mut self, description: impl Into<String>) -> PinholeTechnique {
        self.description = description.into();
        self
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, HashMap<(Protocol, u16), u16>> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn request(&self, protocol: Protocol, port: u16, lease: Duration) -> PinholeRequest {
        let lease = lease.clamp(pinhole::MIN_LEASE, pinhole::MAX_LEASE);
        PinholeRequest::new(
            self.local_address,
            port,
            upnp_soap::igd::Protocol::from(protocol).into(),
            lease,
        )
    }

    fn mapping(&self, protocol: Protocol, port: u16, lease: Duration, id: u16) -> Mapping {
        let mut mapping = Mapping::new(
            Technique::Upnp,
            protocol,
            port,
            SocketAddr::new(IpAddr::V6(self.local_address), port),
            lease,
        );
        mapping.pinhole_id = Some(id);
        mapping
    }

    /// Knows the ids of pinholes opened earlier, by this program or another (the facade's
    /// pinhole record), so it can delete them: the protocol deletes by id only.
    pub(crate) fn with_known_pinholes(
        self,
        known: impl IntoIterator<Item = (Protocol, u16, u16)>,
    ) -> PinholeTechnique {
        {
            let mut ids = self.ids();
            for (protocol, port, id) in known {
                ids.entry((protocol, port)).or_insert(id);
            }
        }
        self
    }

    async fn add(&self, protocol: Protocol, port: u16, lease: Duration) -> Result<Mapping> {
        let pinhole = self
            .control
            .add_pinhole(&self.request(protocol, port, lease))
            .await?;
        self.ids().insert((protocol, port), pinhole.id);
        Ok(self.mapping(protocol, port, pinhole.lease, pinhole.id))
    }

    /// Deletes the pinhole of (protocol, port) by its id, known from opening it or from the
    /// pinhole record. Without one there is nothing to ask: the protocol deletes by id only,
    /// and opening the pinhole to learn its id would make state at the gateway in order to
    /// delete it.
    async fn delete(&self, protocol: Protocol, port: u16) -> Result<Unmapped> {
        let known = self.ids().remove(&(protocol, port));
        let Some(id) = known else {
            return Err(Error::Unsupported {
                technique: Technique::Upnp,
                what: format!(
                    "delete the {protocol} pinhole of port {port}: WANIPv6FirewallControl deletes by id only, and no pinhole of this port is known or recorded"
                ),
            });
        };
        match self.control.remove_pinhole(id).await? {
            upnp_soap::igd::Deleted::Removed => Ok(Unmapped::Removed { count: Some(1) }),
            upnp_soap::igd::Deleted::NotThere => Ok(Unmapped::NotThere),
        }
    }
}

/// The LOCATION of an IPv6 answer and its host, when the host is in this link's prefix and
/// the answer came from a router on the link.
fn usable_location(
    answer: &ssdp::Response,
    local: Ipv6Addr,
    prefix_len: u8,
) -> Option<(Url, Ipv6Addr)> {
    let location = upnp_soap::parse_url(&answer.location).ok()?;
    let IpAddr::V6(host) = upnp_soap::host_ip(&location)? else {
        return None;
    };
    let source = match answer.source.ip() {
        IpAddr::V6(source) => source,
        IpAddr::V4(_) => return None,
    };
    let on_link = same_prefix(host, local, prefix_len) && !host.is_unicast_link_local();
    let from_router = source.is_unicast_link_local() || source == host;
    (on_link && from_router && host != local).then_some((location, host))
}

fn same_prefix(a: Ipv6Addr, b: Ipv6Addr, prefix_len: u8) -> bool {
    let bits = u32::from(prefix_len.min(128));
    if bits == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - bits);
    (u128::from(a) & mask) == (u128::from(b) & mask)
}

#[async_trait]
impl NatTechnique for PinholeTechnique {
    fn kind(&self) -> Technique {
        Technique::Upnp
    }

    fn gateway(&self) -> IpAddr {
        self.gateway
    }

    /// The IGD's restarts, from its SSDP notifications over IPv6.
    fn events(&self) -> TechniqueEvents {
        super::events::follow(self.gateway, None, Duration::from_secs(5))
    }

    /// This host's global address (there is no translation), once the service said its
    /// firewall lets inbound pinholes be opened.
    async fn external_address(&self) -> Result<IpAddr> {
        let status = self.control.firewall_status().await?;
        if !status.pinholes_possible() {
            return Err(Error::Unsupported {
                technique: Technique::Upnp,
                what: format!(
                    "open ipv6 pinholes at {}: the gateway says its firewall is {} and inbound pinholes are {}",
                    self.control.control_url(),
                    if status.firewall_enabled { "on" } else { "off" },
                    if status.inbound_pinhole_allowed {
                        "allowed"
                    } else {
                        "not allowed"
                    },
                ),
            });
        }
        Ok(IpAddr::V6(self.local_address))
    }

    async fn map(&self, request: &MapRequest) -> Result<Mapping> {
        self.add(
            request.protocol(),
            request.internal_port(),
            request.lifetime(),
        )
        .await
    }

    async fn refresh(&self, mapping: &Mapping, lifetime: Duration) -> Result<Mapping> {
        let key = (mapping.protocol, mapping.internal_port);
        let known = self.ids().get(&key).copied();
        if let Some(id) = known {
            let lease = lifetime.clamp(pinhole::MIN_LEASE, pinhole::MAX_LEASE);
            match self.control.update_pinhole(id, lease).await {
                Ok(pinhole) => {
                    return Ok(self.mapping(
                        mapping.protocol,
                        mapping.internal_port,
                        pinhole.lease,
                        id,
                    ));
                }
                Err(error) if error.is_no_such_pinhole() => {
                    tracing::debug!(id, "the pinhole is gone; opening it again");
                    self.ids().remove(&key);
                }
                Err(error) => return Err(error.into()),
            }
        }
        self.add(mapping.protocol, mapping.internal_port, lifetime)
            .await
    }

    async fn unmap(&self, mapping: &Mapping) -> Result<()> {
        self.delete(mapping.protocol, mapping.internal_port)
            .await
            .map(|_| ())
    }

    async fn unmap_port(&self, protocol: Protocol, internal_port: u16) -> Result<Unmapped> {
        self.delete(protocol, internal_port).await
    }

    async fn unmap_all(&self, protocol: Protocol) -> Result<Unmapped> {
        let ports: Vec<u16> = self
            .ids()
            .keys()
            .filter(|(p, _)| *p == protocol)
            .map(|(_, port)| *port)
            .collect();
        let mut removed = 0;
        for port in ports {
            if matches!(self.delete(protocol, port).await?, Unmapped::Removed { .. }) {
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

    async fn list(&self) -> Result<Vec<TableEntry>> {
        let mut listed: Vec<TableEntry> = self
            .ids()
            .keys()
            .map(|&(protocol, port)| TableEntry {
                technique: Technique::Upnp,
                protocol,
                external_address: Some(IpAddr::V6(self.local_address)),
                external_port: port,
                internal_client: TableHost::Address(IpAddr::V6(self.local_address)),
                internal_port: port,
                description: self.description.clone(),
                lifetime: Duration::ZERO,
                enabled: true,
                remote_host: None,
                on_default_gateway: true,
            })
            .collect();
        listed.sort_by_key(|m| (m.protocol, m.internal_port));
        Ok(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(location: &str, source: &str) -> ssdp::Response {
        let mut response = ssdp::parse_response(
            format!("HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nUSN: uuid:x::upnp:rootdevice\r\nLOCATION: {location}\r\n\r\n").as_bytes(),
        )
        .expect("an answer");
        response.source = source.parse().expect("a socket address");
        response
    }

    #[test]
    fn only_a_location_on_this_links_prefix_from_a_router_on_the_link_is_used() {
        let local: Ipv6Addr = "2001:db8:77:1::10".parse().expect("an address");
        let good = answer(
            "http://[2001:db8:77:1::1]:5000/rootDesc.xml",
            "[fe80::1%2]:1900",
        );
        assert!(usable_location(&good, local, 64).is_some());
        let off_prefix = answer(
            "http://[2001:db8:99::1]:5000/rootDesc.xml",
            "[fe80::1%2]:1900",
        );
        assert!(usable_location(&off_prefix, local, 64).is_none());
        let from_elsewhere = answer(
            "http://[2001:db8:77:1::1]:5000/rootDesc.xml",
            "[2001:db8:77:1::99]:1900",
        );
        assert!(usable_location(&from_elsewhere, local, 64).is_none());
        let ourselves = answer(
            "http://[2001:db8:77:1::10]:5000/rootDesc.xml",
            "[fe80::5%2]:1900",
        );
        assert!(usable_location(&ourselves, local, 64).is_none());
        let v4 = answer("http://192.168.1.1:5000/rootDesc.xml", "192.168.1.1:1900");
        assert!(usable_location(&v4, local, 64).is_none());
    }

    #[test]
    fn prefixes_compare_by_their_length() {
        let a: Ipv6Addr = "2001:db8:77:1::1".parse().expect("an address");
        let b: Ipv6Addr = "2001:db8:77:1:ffff::".parse().expect("an address");
        assert!(same_prefix(a, b, 64));
        assert!(!same_prefix(a, b, 80));
        assert!(same_prefix(a, "::1".parse().expect("an address"), 0));
    }
}
