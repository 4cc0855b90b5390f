//! IPv6 pinholes: a typed client of the `WANIPv6FirewallControl:1` service of an IGDv2, which
//! opens holes in the gateway's IPv6 firewall so WAN hosts can reach a LAN host's port (no
//! address translation: the LAN host's own global address is what the WAN host dials).
//!
//! The service lives in the `WANConnectionDevice:2`, beside `WANIPConnection:2`.
//! [`FirewallControl`] finds it in a description ([`FirewallControl::find_in`],
//! [`FirewallControl::from_root`]) and calls its actions through a [`ServiceClient`], so
//! every action can also be called by name through the generic dispatcher
//! ([`FirewallControl::service_client`]).
//!
//! | action | method | answer |
//! |---|---|---|
//! | `GetFirewallStatus` | [`firewall_status`](FirewallControl::firewall_status) | [`FirewallStatus`] |
//! | `GetOutboundPinholeTimeout` | [`outbound_pinhole_timeout`](FirewallControl::outbound_pinhole_timeout) | [`Duration`] |
//! | `AddPinhole` | [`add_pinhole`](FirewallControl::add_pinhole) | [`Pinhole`] (its `UniqueID`) |
//! | `UpdatePinhole` | [`update_pinhole`](FirewallControl::update_pinhole) | [`Pinhole`] |
//! | `DeletePinhole` | [`delete_pinhole`](FirewallControl::delete_pinhole), [`remove_pinhole`](FirewallControl::remove_pinhole) | `()`, [`Deleted`] |
//! | `GetPinholePackets` | [`pinhole_packets`](FirewallControl::pinhole_packets) | `u32` |
//! | `CheckPinholeWorking` | [`check_pinhole_working`](FirewallControl::check_pinhole_working) | `bool` |
//!
//! Requests are checked before sending (lease 1 s to 86400 s, an internal port, an internal
//! client a WAN host can reach) and every answer is parsed against its data type
//! ([`InvalidValue`] otherwise). The service's error codes come back as
//! [`PinholeError::Refused`] with a [`Refusal`] (606, 701 to 709); every operation is bounded by
//! [`Config::operation_bound`].
//!
//! # Talking to the gateway over IPv6
//!
//! miniupnpd (in its default secure mode) opens a pinhole only for the address the request
//! comes from, and refuses `AddPinhole` sent over IPv4 (606): the request must go over IPv6,
//! from the internal client's address, to the router's IPv6 address. miniupnpd serves its
//! HTTP port on IPv6 too (the same port), so a gateway found over IPv4 is reached at
//! `http://[router's IPv6 address]:<same port>/...`: [`ipv6_location`] rewrites a LOCATION
//! that way and [`FirewallControl::over_ipv6`] moves a client found over IPv4. The host
//! sends from the address its routing table picks toward the router; with several global
//! addresses, that is the one to put in [`PinholeRequest::internal_client`]
//! ([`FirewallControl::local_address`] asks the routing table).
//!
//! What miniupnpd 2.3.1 (nftables backend, seen in natlab's dual-stack lab) does:
//! - `AddPinhole` over IPv4, for another host's address, or to a port below 1024: 606
//!   ([`Refusal::NotAuthorized`]); protocol 65535: 707; protocols other than TCP, UDP and
//!   UDP-Lite: 705.
//! - An unknown id answers 402 `Invalid Args`, not 704 ([`PinholeError::UnknownId`]); test with
//!   [`PinholeError::is_no_such_pinhole`], which covers both.
//! - Its rules count no packets: `GetPinholePackets` answers 0 even after traffic went
//!   through, so `CheckPinholeWorking` answers 709 ([`Refusal::NoPacketSent`]).
//! - `GetOutboundPinholeTimeout` is not implemented (501, a [`crate::Error::Fault`]).
//!
//! Link-local router addresses (`fe80::...`) are not supported: reaching them needs a zone
//! id, which neither [`Url`] nor the HTTP client carries ([`PinholeError::LinkLocalRouter`]). Use
//! the router's global or unique local address (miniupnpd announces its LOCATION on IPv6
//! with one).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use upnp_soap::pinhole::{FirewallControl, PinholeRequest, Protocol};
//! use upnp_soap::{Config, parse_url};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let location = parse_url("http://[fd77::1]:5000/rootDesc.xml")?;
//! let router = "fd77::1".parse()?;
//! let firewall = FirewallControl::connect(&location, router, Config::default()).await?;
//! if !firewall.firewall_status().await?.pinholes_possible() {
//!     return Ok(());
//! }
//! let me = firewall.local_address().expect("an ipv6 address toward the router");
//! let request = PinholeRequest::new(me, 8080, Protocol::TCP, Duration::from_secs(3600));
//! let pinhole = firewall.add_pinhole(&request).await?;
//! firewall.update_pinhole(pinhole.id, Duration::from_secs(7200)).await?;
//! firewall.delete_pinhole(pinhole.id).await?;
//! # Ok(())
//! # }
//! ```

mod answer;
mod error;
mod request;

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

pub use answer::{
    InvalidValue, MAX_REPORTED_VALUE, parse_firewall_status, parse_is_working,
    parse_outbound_pinhole_timeout, parse_pinhole_packets, parse_unique_id,
};
pub use error::{PinholeError, Refusal, Result};
pub use request::{FirewallStatus, MAX_LEASE, MIN_LEASE, Pinhole, PinholeRequest, Protocol};

pub use crate::igd::Deleted;

use crate::control::{RootDevice, ServiceClient};
use crate::description::{Description, Service, split_type};
use crate::http::{Config, HttpClient};
use crate::soap::Arguments;
use crate::{Url, UrlError, parse_url, request_target};

/// The service type this client speaks (a later version is accepted too).
pub const SERVICE_TYPE: &str = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1";

/// The service family, without the version.
const SERVICE_FAMILY: &str = "urn:schemas-upnp-org:service:WANIPv6FirewallControl";

/// The IPv6 firewall control service of a gateway.
#[derive(Debug, Clone)]
pub struct FirewallControl {
    client: ServiceClient,
}

impl FirewallControl {
    /// Fetches the description at `location` from `responder` and takes its firewall
    /// control service (see [`from_root`](Self::from_root)).
    ///
    /// # Errors
    /// Those of [`RootDevice::fetch`] and [`from_root`](Self::from_root).
    pub async fn connect(
        location: &Url,
        responder: IpAddr,
        config: Config,
    ) -> Result<FirewallControl> {
        let root = RootDevice::fetch(location, responder, config).await?;
        FirewallControl::from_root(&root)
    }

    /// The firewall control service of `root`, anywhere in its tree. Its SCPD is not
    /// fetched (the actions are the standard's); the calls go out unchecked, after this
    /// module's own checks.
    ///
    /// # Errors
    /// [`PinholeError::NoFirewallControl`]; [`PinholeError::Control`] with [`crate::Error::OffHost`] when
    /// its control URL is not on the responder.
    pub fn from_root(root: &RootDevice) -> Result<FirewallControl> {
        let description = root.description();
        let service = FirewallControl::find_in(description).ok_or_else(|| {
            PinholeError::NoFirewallControl {
                location: Box::new(description.location.clone()),
            }
        })?;
        root.http().check_url(&service.control_url)?;
        Ok(FirewallControl::new(ServiceClient::unchecked(
            root.http().clone(),
            service.clone(),
        )))
    }

    /// The firewall control service of a description: `WANIPv6FirewallControl:1` or a
    /// later version (the lowest offered), `None` when there is none.
    pub fn find_in(description: &Description) -> Option<&Service> {
        description.find_service(SERVICE_TYPE)
    }

    /// A client over a service client (checked against an SCPD or not).
    pub fn new(client: ServiceClient) -> FirewallControl {
        FirewallControl { client }
    }

    /// A client of a service known from an earlier discovery (a cache of its control URL),
    /// without fetching anything: the first call shows whether it is still there.
    ///
    /// # Errors
    /// [`PinholeError::Control`] with [`crate::Error::OffHost`] or
    /// [`crate::Error::UnsupportedScheme`] for a URL not on `responder`.
    pub fn resume(responder: IpAddr, config: Config, control_url: &Url) -> Result<FirewallControl> {
        let http = HttpClient::new(responder, config);
        http.check_url(control_url)?;
        let service = Service::resumed(SERVICE_TYPE, control_url);
        Ok(FirewallControl::new(ServiceClient::unchecked(
            http, service,
        )))
    }

    /// The same service reached at the router's IPv6 address `router`: the control URL's
    /// host replaced, its port and path kept, requests pinned to `router`. For a gateway
    /// found over IPv4 whose daemon also listens on IPv6 (miniupnpd does, on the same port).
    ///
    /// # Errors
    /// [`PinholeError::LinkLocalRouter`] for a link-local `router`; [`PinholeError::Control`] with
    /// [`crate::Error::InvalidUrl`] if the rewritten URL does not parse.
    pub fn over_ipv6(&self, router: Ipv6Addr) -> Result<FirewallControl> {
        let control_url = ipv6_location(self.control_url(), router)?;
        let mut service = self.client.service().clone();
        service.control_url = control_url;
        let http = HttpClient::new(IpAddr::V6(router), *self.client.http().config());
        Ok(FirewallControl::new(match self.client.scpd() {
            Some(scpd) => ServiceClient::new(http, service, scpd.clone()),
            None => ServiceClient::unchecked(http, service),
        }))
    }

    /// The service client (for calling the actions by name through the generic dispatcher).
    pub fn service_client(&self) -> &ServiceClient {
        &self.client
    }

    /// The service type, e.g. `urn:schemas-upnp-org:service:WANIPv6FirewallControl:1`.
    pub fn service_type(&self) -> &str {
        &self.client.service().service_type
    }

    /// The control URL.
    pub fn control_url(&self) -> &Url {
        &self.client.service().control_url
    }

    /// The address the client talks to.
    pub fn responder(&self) -> IpAddr {
        self.client.http().responder()
    }

    /// This host's IPv6 address toward the router, as the routing table picks it: the
    /// address requests come from, so the internal client miniupnpd (secure mode) accepts.
    /// `None` when the router is reached over IPv4 or no route leads to it.
    pub fn local_address(&self) -> Option<Ipv6Addr> {
        let IpAddr::V6(router) = self.responder() else {
            return None;
        };
        match netinfo::local_address_toward(IpAddr::V6(router)) {
            Ok(IpAddr::V6(local)) => Some(local),
            Ok(IpAddr::V4(_)) => None,
            Err(error) => {
                tracing::debug!(%router, %error, "no local ipv6 address toward the router");
                None
            }
        }
    }

    /// The firewall's state (`GetFirewallStatus`).
    ///
    /// # Errors
    /// [`PinholeError::Refused`] (606), [`PinholeError::InvalidResponse`], [`PinholeError::OperationTimeout`],
    /// [`PinholeError::Control`].
    pub async fn firewall_status(&self) -> Result<FirewallStatus> {
        const ACTION: &str = "GetFirewallStatus";
        let reply = self.call(ACTION, &[]).await?;
        parse_firewall_status(&reply).map_err(|problem| self.invalid(ACTION, problem))
    }

    /// How long the gateway keeps an outbound flow's state open without traffic
    /// (`GetOutboundPinholeTimeout`), for the flow `request` describes (its lease is not
    /// sent; its ports may be 0, the wildcard).
    ///
    /// # Errors
    /// [`PinholeError::InvalidInternalClient`] and [`PinholeError::InvalidRemoteHost`] before sending;
    /// [`PinholeError::Refused`] (606, 702, 705), [`PinholeError::InvalidResponse`],
    /// [`PinholeError::OperationTimeout`], [`PinholeError::Control`].
    pub async fn outbound_pinhole_timeout(&self, request: &PinholeRequest) -> Result<Duration> {
        const ACTION: &str = "GetOutboundPinholeTimeout";
        request.check_addresses()?;
        let reply = self.call(ACTION, &request.flow_arguments()).await?;
        parse_outbound_pinhole_timeout(&reply).map_err(|problem| self.invalid(ACTION, problem))
    }

    /// Opens a pinhole (`AddPinhole`).
    ///
    /// # Errors
    /// The checks of [`PinholeRequest::check`] before sending; [`PinholeError::Refused`] (606, 701
    /// to 708), [`PinholeError::InvalidResponse`] when the `UniqueID` does not parse,
    /// [`PinholeError::OperationTimeout`], [`PinholeError::Control`].
    pub async fn add_pinhole(&self, request: &PinholeRequest) -> Result<Pinhole> {
        const ACTION: &str = "AddPinhole";
        let arguments = request.add_pinhole_arguments()?;
        let reply = self.call(ACTION, &arguments).await?;
        let id = parse_unique_id(&reply).map_err(|problem| self.invalid(ACTION, problem))?;
        tracing::debug!(id, client = %request.internal_client, port = request.internal_port, protocol = %request.protocol, "pinhole opened");
        Ok(Pinhole {
            id,
            lease: Duration::from_secs(request::lease_seconds(request.lease)?.into()),
        })
    }

    /// Sets a pinhole's lease anew, counted from now (`UpdatePinhole`).
    ///
    /// # Errors
    /// [`PinholeError::LeaseOutOfRange`] before sending; [`PinholeError::Refused`] (606, 704 when the
    /// pinhole is gone), [`PinholeError::UnknownId`] (miniupnpd's 402 for a pinhole that is gone):
    /// [`PinholeError::is_no_such_pinhole`] says both; [`PinholeError::OperationTimeout`],
    /// [`PinholeError::Control`].
    pub async fn update_pinhole(&self, id: u16, lease: Duration) -> Result<Pinhole> {
        const ACTION: &str = "UpdatePinhole";
        let seconds = request::lease_seconds(lease)?;
        self.call_on(
            ACTION,
            id,
            &[
                ("UniqueID", id.to_string()),
                ("NewLeaseTime", seconds.to_string()),
            ],
        )
        .await?;
        Ok(Pinhole {
            id,
            lease: Duration::from_secs(seconds.into()),
        })
    }

    /// Closes a pinhole (`DeletePinhole`).
    ///
    /// # Errors
    /// [`PinholeError::Refused`] (606, 704 when there is no such pinhole), [`PinholeError::UnknownId`]
    /// (miniupnpd's answer for no such pinhole), [`PinholeError::OperationTimeout`],
    /// [`PinholeError::Control`].
    pub async fn delete_pinhole(&self, id: u16) -> Result<()> {
        self.call_on("DeletePinhole", id, &[("UniqueID", id.to_string())])
            .await
            .map(|_| ())
    }

    /// Closes a pinhole (`DeletePinhole`) and says whether it was there: no such pinhole
    /// ([`PinholeError::is_no_such_pinhole`]: 704 `NoSuchEntry`, or miniupnpd's 402) is
    /// [`Deleted::NotThere`], not an error.
    ///
    /// # Errors
    /// As [`delete_pinhole`](Self::delete_pinhole), but for no such pinhole.
    pub async fn remove_pinhole(&self, id: u16) -> Result<Deleted> {
        match self.delete_pinhole(id).await {
            Ok(()) => Ok(Deleted::Removed),
            Err(e) if e.is_no_such_pinhole() => Ok(Deleted::NotThere),
            Err(e) => Err(e),
        }
    }

    /// How many packets went through a pinhole (`GetPinholePackets`).
    ///
    /// # Errors
    /// [`PinholeError::Refused`] (606, 704), [`PinholeError::UnknownId`], [`PinholeError::InvalidResponse`],
    /// [`PinholeError::OperationTimeout`], [`PinholeError::Control`] (401 from a gateway without the
    /// action).
    pub async fn pinhole_packets(&self, id: u16) -> Result<u32> {
        const ACTION: &str = "GetPinholePackets";
        let reply = self
            .call_on(ACTION, id, &[("UniqueID", id.to_string())])
            .await?;
        parse_pinhole_packets(&reply).map_err(|problem| self.invalid(ACTION, problem))
    }

    /// Whether traffic goes through a pinhole (`CheckPinholeWorking`).
    ///
    /// # Errors
    /// [`PinholeError::Refused`] with [`Refusal::NoPacketSent`] (709) while no packet has gone
    /// through, so the answer is not known yet; 606, 704; [`PinholeError::UnknownId`],
    /// [`PinholeError::InvalidResponse`],
    /// [`PinholeError::OperationTimeout`], [`PinholeError::Control`] (401 from a gateway without the
    /// optional action).
    pub async fn check_pinhole_working(&self, id: u16) -> Result<bool> {
        const ACTION: &str = "CheckPinholeWorking";
        let reply = self
            .call_on(ACTION, id, &[("UniqueID", id.to_string())])
            .await?;
        parse_is_working(&reply).map_err(|problem| self.invalid(ACTION, problem))
    }

    /// Calls `action` within the operation bound, turning the service's error codes into
    /// [`PinholeError::Refused`].
    async fn call(&self, action: &'static str, arguments: &[(&str, String)]) -> Result<Arguments> {
        let pairs: Vec<(&str, &str)> = arguments.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let bound = self.client.http().config().operation_bound();
        let result = match tokio::time::timeout(bound, self.client.call(action, &pairs)).await {
            Ok(result) => result,
            Err(_) => {
                return Err(PinholeError::OperationTimeout {
                    action,
                    url: Box::new(self.control_url().clone()),
                    timeout: bound,
                });
            }
        };
        match result {
            Ok(reply) => Ok(reply),
            Err(crate::Error::Fault {
                action: name,
                url,
                fault,
            }) => match Refusal::from_code(fault.code) {
                Some(refusal) => {
                    tracing::debug!(%action, code = fault.code, description = %fault.description, "the gateway refused");
                    Err(PinholeError::Refused {
                        action,
                        url,
                        refusal,
                        description: fault.description,
                    })
                }
                None => Err(PinholeError::Control(crate::Error::Fault {
                    action: name,
                    url,
                    fault,
                })),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// [`call`](Self::call) for an action on the pinhole `id` whose other arguments (a lease)
    /// were checked: 402 can then only be about the id ([`PinholeError::UnknownId`]).
    async fn call_on(
        &self,
        action: &'static str,
        id: u16,
        arguments: &[(&str, String)],
    ) -> Result<Arguments> {
        match self.call(action, arguments).await {
            Err(e) if e.upnp_code() == Some(crate::code::INVALID_ARGS) => {
                tracing::debug!(%action, id, "402 answering a well-formed pinhole id: taken as an unknown id");
                Err(PinholeError::UnknownId {
                    action,
                    url: Box::new(self.control_url().clone()),
                    id,
                })
            }
            other => other,
        }
    }

    fn invalid(&self, action: &'static str, problem: InvalidValue) -> PinholeError {
        PinholeError::InvalidResponse {
            action,
            url: Box::new(self.control_url().clone()),
            problem,
        }
    }
}

/// `url` at the router's IPv6 address `router`: the host replaced, the scheme, port, path
/// and query kept (`http://192.168.1.1:5000/rootDesc.xml` → `http://[fd77::1]:5000/rootDesc.xml`).
/// For a gateway found over IPv4 whose daemon also serves HTTP on IPv6, as miniupnpd does on
/// the same port.
///
/// # Errors
/// [`PinholeError::LinkLocalRouter`] for a link-local `router` (a zone id would be needed);
/// [`PinholeError::Control`] with [`crate::Error::InvalidUrl`] if the result does not parse.
pub fn ipv6_location(url: &Url, router: Ipv6Addr) -> Result<Url> {
    if router.is_unicast_link_local() {
        return Err(PinholeError::LinkLocalRouter { address: router });
    }
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let text = format!("{}://[{router}]{port}{}", url.scheme(), request_target(url));
    parse_url(&text).map_err(|e: UrlError| {
        PinholeError::Control(crate::Error::InvalidUrl {
            url: text,
            reason: e.to_string(),
        })
    })
}

/// Whether `service_type` is a firewall control service this client speaks.
pub fn is_firewall_control(service_type: &str) -> bool {
    split_type(service_type.trim())
        .is_some_and(|(family, version)| family == SERVICE_FAMILY && version >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_DESC: &[u8] = include_bytes!("../testdata/miniupnpd/rootDesc.xml");

    #[test]
    fn the_service_is_found_beside_wanipconnection() {
        let location = parse_url("http://[fd77::1]:5000/rootDesc.xml").unwrap();
        let description = Description::parse(ROOT_DESC, &location).unwrap();
        let service = FirewallControl::find_in(&description).unwrap().clone();
        assert_eq!(service.service_type, SERVICE_TYPE);
        assert_eq!(
            service.control_url.as_str(),
            "http://[fd77::1]:5000/ctl/IP6FCtl"
        );
        let root = RootDevice::new(description, "fd77::1".parse().unwrap(), Config::default());
        let firewall = FirewallControl::from_root(&root).unwrap();
        assert_eq!(firewall.control_url(), &service.control_url);
        assert_eq!(firewall.responder(), "fd77::1".parse::<IpAddr>().unwrap());
        assert!(is_firewall_control(firewall.service_type()));
        assert!(is_firewall_control(
            "urn:schemas-upnp-org:service:WANIPv6FirewallControl:2"
        ));
        assert!(!is_firewall_control(
            "urn:schemas-upnp-org:service:WANIPConnection:2"
        ));
    }

    #[test]
    fn a_description_without_the_service_is_a_typed_error() {
        let location = parse_url("http://192.168.77.1:5000/rootDesc.xml").unwrap();
        let text = String::from_utf8_lossy(ROOT_DESC).replace("WANIPv6FirewallControl", "Other");
        let description = Description::parse(text.as_bytes(), &location).unwrap();
        let root = RootDevice::new(
            description,
            "192.168.77.1".parse().unwrap(),
            Config::default(),
        );
        let e = FirewallControl::from_root(&root).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no WANIPv6FirewallControl service in the description at http://192.168.77.1:5000/rootDesc.xml"
        );
    }

    #[test]
    fn a_gateway_found_over_ipv4_is_moved_to_its_ipv6_address() {
        let location = parse_url("http://192.168.77.1:5000/rootDesc.xml").unwrap();
        let description = Description::parse(ROOT_DESC, &location).unwrap();
        let root = RootDevice::new(
            description,
            "192.168.77.1".parse().unwrap(),
            Config::default(),
        );
        let v4 = FirewallControl::from_root(&root).unwrap();
        assert_eq!(v4.local_address(), None);
        let v6 = v4.over_ipv6("fd77::1".parse().unwrap()).unwrap();
        assert_eq!(
            v6.control_url().as_str(),
            "http://[fd77::1]:5000/ctl/IP6FCtl"
        );
        assert_eq!(v6.responder(), "fd77::1".parse::<IpAddr>().unwrap());
        v6.service_client()
            .http()
            .check_url(v6.control_url())
            .unwrap();
        assert!(matches!(
            v4.over_ipv6("fe80::1".parse().unwrap()),
            Err(PinholeError::LinkLocalRouter { .. })
        ));
    }

    #[test]
    fn ipv6_locations_keep_port_path_and_query() {
        let router: Ipv6Addr = "2001:db8::1".parse().unwrap();
        for (from, to) in [
            (
                "http://192.168.1.1:5000/rootDesc.xml",
                "http://[2001:db8::1]:5000/rootDesc.xml",
            ),
            ("http://192.168.1.1/a/b?c=d", "http://[2001:db8::1]/a/b?c=d"),
            (
                "http://[fd00::5]:49000/igd.xml",
                "http://[2001:db8::1]:49000/igd.xml",
            ),
        ] {
            let url = ipv6_location(&parse_url(from).unwrap(), router).unwrap();
            assert_eq!(url.as_str(), to);
            assert_eq!(crate::host_ip(&url), Some(IpAddr::V6(router)));
        }
        let e = ipv6_location(
            &parse_url("http://192.168.1.1:5000/").unwrap(),
            "fe80::1".parse().unwrap(),
        )
        .unwrap_err();
        assert!(e.is_refused_before_sending());
        assert!(e.to_string().contains("link-local"), "{e}");
    }

    #[test]
    fn resume_refuses_urls_off_the_responder() {
        let url = parse_url("http://[fd77::1]:5000/ctl/IP6FCtl").unwrap();
        assert!(
            FirewallControl::resume("fd77::1".parse().unwrap(), Config::default(), &url).is_ok()
        );
        let e = FirewallControl::resume("fd77::2".parse().unwrap(), Config::default(), &url)
            .unwrap_err();
        assert!(
            matches!(e, PinholeError::Control(crate::Error::OffHost { .. })),
            "{e:?}"
        );
    }
}
