//! The Internet Gateway Device client: finds the WAN connection service anywhere in a
//! device tree and maps ports through it, handling the well-known error codes.
//!
//! Services, in order of preference: `WANIPConnection` (version 2 or later first, then
//! version 1), `WANPPPConnection` (any version: an Orange LiveBox offers only
//! `WANPPPConnection:2`), then the `urn:dslforum-org` variants (FRITZ!Box TR-064). Types
//! are matched by family and version, never as an exact list: UPnP versions are backward
//! compatible, so a `:3` is used like a `:2`. With several, the gateway prefers one that is
//! connected (`GetStatusInfo`) and has a public external address; at most
//! [`MAX_CONNECTION_CANDIDATES`] are looked at, so a description listing a thousand
//! services costs a handful of requests.
//!
//! Every public operation is bounded as a whole by [`Config::operation_bound`]: retries
//! after conflicts, lease fallbacks and table listings included.
//!
//! Error codes handled by [`Gateway::add_port_mapping`]:
//! - 718 `ConflictInMappingEntry`: another client holds the port. `AddAnyPortMapping` is
//!   tried on a v2 service, then a few other external ports; nobody's mapping is deleted.
//! - 724 `SamePortValuesRequired`: retried with the external port equal to the internal one.
//! - 725 `OnlyPermanentLeasesSupported`, and 402 `InvalidArgs` answering a finite lease:
//!   retried with lease 0, and remembered for later calls. Such a mapping outlives us unless
//!   deleted; it comes back with [`PortMapping::permanent`] set.
//! - 606 `ActionNotAuthorized`: [`Error::NotAuthorized`].

use std::fmt;
use std::hash::{BuildHasher as _, RandomState};
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::Url;
use xmltree::Element;

use crate::control::{RootDevice, ServiceClient};
use crate::description::Service;
use crate::error::code;
use crate::http::Config;
use crate::http::HttpClient;
use crate::soap::Arguments;
use crate::xml;

/// The WAN connection service types, most preferred first. A later version of any of them
/// is accepted too (see [`connection_rank`]).
pub const CONNECTION_SERVICE_TYPES: [&str; 6] = [
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:2",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
    "urn:dslforum-org:service:WANIPConnection:1",
    "urn:dslforum-org:service:WANPPPConnection:1",
];

/// The most WAN connection services [`Gateway::from_root`] fetches an SCPD for and asks
/// for their status.
pub const MAX_CONNECTION_CANDIDATES: usize = 4;

/// What [`Gateway::remove_port_mapping`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The gateway deleted the mapping.
    Removed,
    /// The gateway holds no such mapping (error 714, `NoSuchEntryInArray`): nothing to do.
    NotThere,
}

/// The longest lease asked for: `PortMappingLeaseDuration`'s maximum in WANIPConnection:2.
pub const MAX_LEASE: Duration = Duration::from_secs(604_800);

/// How many external ports `add_port_mapping` tries after conflicts (718).
const MAX_PORT_ATTEMPTS: usize = 6;

/// The most entries `port_mappings` reads with `GetGenericPortMappingEntry` (some devices
/// never answer 713 and repeat entries forever).
const MAX_GENERIC_ENTRIES: u16 = 1024;

/// Shorthand for results whose error is this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to an Internet Gateway Device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fetching, parsing, checking or calling failed, or the device answered a fault not
    /// handled here.
    #[error(transparent)]
    Control(#[from] crate::Error),

    /// The description has no WAN connection service.
    #[error("no WANIPConnection or WANPPPConnection service in the description at {location}")]
    NoConnectionService {
        /// The LOCATION of the description.
        location: Box<Url>,
    },

    /// The gateway refuses the action for this control point (error 606).
    #[error("{action} at {url} was refused: not authorized (upnp error 606)")]
    NotAuthorized {
        /// The refused action.
        action: &'static str,
        /// The control URL.
        url: Box<Url>,
    },

    /// The gateway reports no external address (empty or `0.0.0.0`): it has no WAN
    /// connection.
    #[error("the gateway at {url} has no external address (it reported {reported:?})")]
    NoExternalAddress {
        /// The control URL.
        url: Box<Url>,
        /// What `GetExternalIPAddress` returned.
        reported: String,
    },

    /// The gateway's external address is private: it sits behind another NAT (double NAT),
    /// so its mappings do not make anything reachable from the internet.
    #[error(
        "the gateway at {url} reports the private external address {address}: it is behind another nat"
    )]
    PrivateExternalAddress {
        /// The control URL.
        url: Box<Url>,
        /// The private address reported.
        address: IpAddr,
    },

    /// Every external port tried conflicts with another client's mapping (error 718).
    #[error(
        "AddPortMapping at {url}: every external port tried conflicts with another mapping (upnp error 718; tried {tried:?})"
    )]
    Conflict {
        /// The control URL.
        url: Box<Url>,
        /// The external ports tried, in order.
        tried: Vec<u16>,
    },

    /// The gateway answered an action with a value that does not parse.
    #[error("{action} at {url} returned an invalid {argument}: {value:?}")]
    InvalidResponse {
        /// The action.
        action: &'static str,
        /// The control URL.
        url: Box<Url>,
        /// The out argument.
        argument: &'static str,
        /// The value received.
        value: String,
    },

    /// The action needs `WANIPConnection:2` and the service is an older one.
    #[error("{action} needs WANIPConnection:2, but the gateway at {url} offers {service_type}")]
    NotSupported {
        /// The action.
        action: &'static str,
        /// The control URL.
        url: Box<Url>,
        /// The service type offered.
        service_type: String,
    },

    /// The operation did not finish within its bound ([`Config::operation_bound`]).
    #[error("{operation} at {url} did not finish within {}", crate::error::Seconds(*.timeout))]
    OperationTimeout {
        /// The operation (an action name, or "choosing the wan connection service").
        operation: &'static str,
        /// The control URL (or the description's LOCATION).
        url: Box<Url>,
        /// The bound that elapsed.
        timeout: Duration,
    },

    /// The local address toward the gateway (the internal client) could not be found.
    #[error("cannot find the local address toward {gateway}: {source}")]
    LocalAddress {
        /// The gateway's address.
        gateway: IpAddr,
        /// netinfo's error.
        #[source]
        source: netinfo::Error,
    },
}

impl Error {
    /// The UPnP error code if the gateway refused with a fault, e.g. `Some(714)`.
    pub fn upnp_code(&self) -> Option<u16> {
        match self {
            Error::Control(e) => e.upnp_code(),
            Error::NotAuthorized { .. } => Some(code::ACTION_NOT_AUTHORIZED),
            Error::Conflict { .. } => Some(code::CONFLICT_IN_MAPPING_ENTRY),
            _ => None,
        }
    }
}

/// A transport protocol, written upper case on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `TCP`.
    Tcp,
    /// `UDP`.
    Udp,
}

impl Protocol {
    /// `"TCP"` or `"UDP"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;

    /// Parses `TCP` or `UDP`, in any case (devices differ).
    fn from_str(text: &str) -> std::result::Result<Protocol, String> {
        match text.trim() {
            t if t.eq_ignore_ascii_case("TCP") => Ok(Protocol::Tcp),
            t if t.eq_ignore_ascii_case("UDP") => Ok(Protocol::Udp),
            other => Err(format!("unknown protocol {other:?}")),
        }
    }
}

/// What to map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRequest {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port on the internal client.
    pub internal_port: u16,
    /// The external port wanted; 0 for any (the internal port is asked for first).
    pub external_port: u16,
    /// The LAN host to forward to; `None` for this host's address toward the gateway.
    pub internal_client: Option<IpAddr>,
    /// `NewPortMappingDescription`, shown in the router's UI.
    pub description: String,
    /// The lease asked for, at most [`MAX_LEASE`]; zero asks for a permanent mapping.
    pub lease: Duration,
}

impl MappingRequest {
    /// A request forwarding `external_port` to `internal_port` on this host for `lease`.
    pub fn new(
        protocol: Protocol,
        internal_port: u16,
        external_port: u16,
        lease: Duration,
    ) -> MappingRequest {
        MappingRequest {
            protocol,
            internal_port,
            external_port,
            internal_client: None,
            description: "upnp-soap".to_owned(),
            lease,
        }
    }
}

/// A mapping the gateway granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The external port granted (may differ from the one asked for after a conflict).
    pub external_port: u16,
    /// The LAN host traffic goes to.
    pub internal_client: IpAddr,
    /// The port on the LAN host.
    pub internal_port: u16,
    /// The description sent.
    pub description: String,
    /// The lease asked for and accepted; zero for a permanent mapping.
    pub lease: Duration,
    /// The mapping has no lease (the gateway only supports permanent leases, or one was
    /// asked for): it stays until deleted with [`Gateway::delete_port_mapping`].
    pub permanent: bool,
}

/// A mapping as the gateway lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMappingEntry {
    /// `NewRemoteHost`: the only remote host allowed, empty for any.
    pub remote_host: String,
    /// `NewExternalPort`.
    pub external_port: u16,
    /// `NewProtocol`.
    pub protocol: Protocol,
    /// `NewInternalPort`.
    pub internal_port: u16,
    /// `NewInternalClient`, as the gateway wrote it (an address, normally).
    pub internal_client: String,
    /// `NewEnabled`.
    pub enabled: bool,
    /// `NewPortMappingDescription` (`NewDescription` in a port listing).
    pub description: String,
    /// The remaining lease (`NewLeaseDuration` / `NewLeaseTime`); zero for permanent.
    pub lease_duration: Duration,
}

/// The connection's state (`GetStatusInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInfo {
    /// `NewConnectionStatus`: `Connected`, `Disconnected`, `Unconfigured`, ...
    pub connection_status: String,
    /// `NewLastConnectionError`, e.g. `ERROR_NONE`.
    pub last_connection_error: String,
    /// `NewUptime`, when it parses.
    pub uptime: Option<Duration>,
}

impl StatusInfo {
    /// Whether the status is `Connected`.
    pub fn is_connected(&self) -> bool {
        self.connection_status.eq_ignore_ascii_case("Connected")
    }
}

/// A WAN connection service of an Internet Gateway Device, ready to map ports.
///
/// Cloning is cheap and clones share what was learnt about the gateway (that it only
/// accepts permanent leases).
#[derive(Debug, Clone)]
pub struct Gateway {
    client: ServiceClient,
    local_address: IpAddr,
    v2: bool,
    permanent_only: Arc<AtomicBool>,
    on_default_gateway: bool,
}

impl Gateway {
    /// Fetches the description at `location` from `responder` and picks its WAN connection
    /// service (see [`from_root`](Self::from_root)).
    ///
    /// # Errors
    /// Those of [`RootDevice::fetch`] and [`from_root`](Self::from_root).
    pub async fn connect(location: &Url, responder: IpAddr, config: Config) -> Result<Gateway> {
        let root = RootDevice::fetch(location, responder, config).await?;
        Gateway::from_root(&root).await
    }

    /// A gateway over a WAN connection service known from an earlier discovery (a cache of
    /// its type and control URL), without fetching anything: the first call shows whether it
    /// is still there. The control URL must be on `responder`, like every URL a device gives.
    ///
    /// # Errors
    /// [`Error::Control`] with [`crate::Error::OffHost`] or
    /// [`crate::Error::UnsupportedScheme`] for a URL not on `responder`;
    /// [`Error::NoConnectionService`] for a type that is not a WAN connection service;
    /// [`Error::LocalAddress`].
    pub fn resume(
        responder: IpAddr,
        config: Config,
        service_type: &str,
        control_url: &Url,
    ) -> Result<Gateway> {
        let http = HttpClient::new(responder, config);
        http.check_url(control_url)?;
        if connection_rank(service_type).is_none() {
            return Err(Error::NoConnectionService {
                location: Box::new(control_url.clone()),
            });
        }
        let local_address =
            netinfo::local_address_toward(responder).map_err(|source| Error::LocalAddress {
                gateway: responder,
                source,
            })?;
        let service = Service::resumed(service_type, control_url);
        let mut gateway = Gateway::new(ServiceClient::unchecked(http, service), local_address);
        gateway.on_default_gateway = true;
        Ok(gateway)
    }

    /// Picks the WAN connection service of `root`, anywhere in its tree, and fetches its
    /// SCPD. A service whose SCPD cannot be fetched or parsed is still used, unchecked.
    /// With several services, asks each for its status and external address and takes the
    /// first connected one with a public address (else the first connected one, else the
    /// first).
    ///
    /// # Errors
    /// [`Error::NoConnectionService`]; [`Error::Control`] with [`crate::Error::OffHost`]
    /// when every candidate points off the responder; [`Error::LocalAddress`].
    pub async fn from_root(root: &RootDevice) -> Result<Gateway> {
        let bound = root.http().config().operation_bound();
        match tokio::time::timeout(bound, Gateway::choose(root)).await {
            Ok(result) => result,
            Err(_) => Err(Error::OperationTimeout {
                operation: "choosing the wan connection service",
                url: Box::new(root.description().location.clone()),
                timeout: bound,
            }),
        }
    }

    async fn choose(root: &RootDevice) -> Result<Gateway> {
        let description = root.description();
        let mut candidates: Vec<(usize, &Service)> = description
            .services()
            .filter_map(|s| connection_rank(&s.service_type).map(|rank| (rank, s)))
            .collect();
        candidates.sort_by_key(|(rank, _)| *rank);
        if candidates.len() > MAX_CONNECTION_CANDIDATES {
            tracing::debug!(
                offered = candidates.len(),
                kept = MAX_CONNECTION_CANDIDATES,
                "more wan connection services than are looked at"
            );
            candidates.truncate(MAX_CONNECTION_CANDIDATES);
        }
        if candidates.is_empty() {
            return Err(Error::NoConnectionService {
                location: Box::new(description.location.clone()),
            });
        }
        let responder = root.http().responder();
        let local_address =
            netinfo::local_address_toward(responder).map_err(|source| Error::LocalAddress {
                gateway: responder,
                source,
            })?;

        let mut gateways = Vec::new();
        let mut refused = None;
        for (_, service) in candidates {
            if let Err(e) = root.http().check_url(&service.control_url) {
                refused = Some(e);
                continue;
            }
            // The IGD actions and their arguments are the standard's: no SCPD fetch (one
            // round trip less). A device without an action answers 401 Invalid Action, and
            // the methods that can fall back do (listing with GetListOfPortMappings).
            let client = ServiceClient::unchecked(root.http().clone(), service.clone());
            let mut gateway = Gateway::new(client, local_address);
            gateway.on_default_gateway = root.on_default_gateway();
            gateways.push(gateway);
        }
        if gateways.len() <= 1 {
            return match (gateways.pop(), refused) {
                (Some(gateway), _) => Ok(gateway),
                (None, Some(e)) => Err(e.into()),
                (None, None) => Err(Error::NoConnectionService {
                    location: Box::new(description.location.clone()),
                }),
            };
        }
        let mut best = (0, 0);
        for (index, gateway) in gateways.iter().enumerate() {
            let connected = gateway.status_info().await.is_ok_and(|s| s.is_connected());
            let public = gateway.external_address().await.is_ok();
            let score = 2 * usize::from(connected) + usize::from(public);
            tracing::debug!(service_type = %gateway.service_type(), connected, public, "candidate wan connection");
            if score > best.1 {
                best = (index, score);
            }
        }
        Ok(gateways.swap_remove(best.0))
    }

    /// A gateway over a service client, mapping to `local_address` by default.
    pub fn new(client: ServiceClient, local_address: IpAddr) -> Gateway {
        let v2 = client.has_action("AddAnyPortMapping").unwrap_or_else(|| {
            crate::description::split_type(&client.service().service_type)
                .is_some_and(|(_, version)| version >= 2)
        });
        Gateway {
            client,
            local_address,
            v2,
            permanent_only: Arc::new(AtomicBool::new(false)),
            on_default_gateway: false,
        }
    }

    /// Whether the device answering is this host's default gateway. An IGD elsewhere on the
    /// LAN is used only when the caller allowed it ([`DiscoverOptions::allow_other_igd`](
    /// crate::DiscoverOptions::allow_other_igd)), and callers should say so in their output:
    /// any LAN host can claim to be a gateway.
    pub fn on_default_gateway(&self) -> bool {
        self.on_default_gateway
    }

    /// Marks the gateway as being (or not) on the default gateway (for gateways built with
    /// [`new`](Self::new)).
    pub fn set_on_default_gateway(&mut self, on_default_gateway: bool) {
        self.on_default_gateway = on_default_gateway;
    }

    /// Runs one operation within [`Config::operation_bound`].
    async fn bounded<T>(
        &self,
        operation: &'static str,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let bound = self.client.http().config().operation_bound();
        match tokio::time::timeout(bound, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::OperationTimeout {
                operation,
                url: Box::new(self.control_url().clone()),
                timeout: bound,
            }),
        }
    }

    /// The service client (for calling other actions through the generic dispatcher).
    pub fn service_client(&self) -> &ServiceClient {
        &self.client
    }

    /// The service type, e.g. `urn:schemas-upnp-org:service:WANIPConnection:2`.
    pub fn service_type(&self) -> &str {
        &self.client.service().service_type
    }

    /// The control URL.
    pub fn control_url(&self) -> &Url {
        &self.client.service().control_url
    }

    /// Whether the service offers the WANIPConnection:2 actions (`AddAnyPortMapping`,
    /// `GetListOfPortMappings`).
    pub fn is_v2(&self) -> bool {
        self.v2
    }

    /// This host's address toward the gateway, the default internal client.
    pub fn local_address(&self) -> IpAddr {
        self.local_address
    }

    /// Whether the gateway was found to accept only permanent leases.
    pub fn permanent_leases_only(&self) -> bool {
        self.permanent_only.load(Ordering::Relaxed)
    }

    /// The gateway's external address (`GetExternalIPAddress`), public only.
    ///
    /// # Errors
    /// [`Error::NoExternalAddress`] for an empty or `0.0.0.0` answer (no WAN connection),
    /// [`Error::PrivateExternalAddress`] for a private one (double NAT or CGNAT; the error
    /// carries it, and [`reported_external_address`](Self::reported_external_address)
    /// returns it for callers that classify it themselves), [`Error::InvalidResponse`] when
    /// it does not parse.
    pub async fn external_address(&self) -> Result<IpAddr> {
        let address = self.reported_external_address().await?;
        if !netinfo::is_public(address) {
            return Err(Error::PrivateExternalAddress {
                url: Box::new(self.control_url().clone()),
                address,
            });
        }
        Ok(address)
    }

    /// The external address as the gateway reports it, private or shared (CGNAT) ones
    /// included: what a caller needs to classify double NAT itself.
    ///
    /// # Errors
    /// [`Error::NoExternalAddress`] for an empty or `0.0.0.0` answer (no WAN connection),
    /// [`Error::InvalidResponse`] when it does not parse, [`Error::OperationTimeout`].
    pub async fn reported_external_address(&self) -> Result<IpAddr> {
        const ACTION: &str = "GetExternalIPAddress";
        let reply = self.bounded(ACTION, self.call(ACTION, &[])).await?;
        let reported = reply.get("NewExternalIPAddress").unwrap_or_default().trim();
        if reported.is_empty() {
            return Err(self.no_external_address(reported));
        }
        let address: IpAddr = reported
            .parse()
            .map_err(|_| self.invalid(ACTION, "NewExternalIPAddress", reported))?;
        if netinfo::is_wildcard(address) {
            return Err(self.no_external_address(reported));
        }
        Ok(address)
    }

    /// The connection's status (`GetStatusInfo`).
    ///
    /// # Errors
    /// [`Error::Control`] when the call fails.
    pub async fn status_info(&self) -> Result<StatusInfo> {
        let reply = self
            .bounded("GetStatusInfo", self.call("GetStatusInfo", &[]))
            .await?;
        Ok(StatusInfo {
            connection_status: reply
                .get("NewConnectionStatus")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            last_connection_error: reply
                .get("NewLastConnectionError")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            uptime: reply
                .get("NewUptime")
                .and_then(|u| u.trim().parse().ok())
                .map(Duration::from_secs),
        })
    }

    /// Maps a port (`AddPortMapping`), working around conflicts and lease restrictions
    /// (see the module documentation).
    ///
    /// # Errors
    /// [`Error::Conflict`] after six conflicting external ports,
    /// [`Error::NotAuthorized`], [`Error::Control`] for other failures.
    pub async fn add_port_mapping(&self, request: &MappingRequest) -> Result<PortMapping> {
        self.bounded("AddPortMapping", self.add_port_mapping_unbounded(request))
            .await
    }

    async fn add_port_mapping_unbounded(&self, request: &MappingRequest) -> Result<PortMapping> {
        let internal_client = request.internal_client.unwrap_or(self.local_address);
        let mut lease = self.initial_lease(request.lease);
        let mut external_port = if request.external_port == 0 {
            request.internal_port
        } else {
            request.external_port
        };
        let mut tried = Vec::new();
        let mut same_ports_required = false;
        let mut tried_any = false;
        let random = RandomState::new();
        loop {
            let result = self
                .add_with_lease_fallback(
                    "AddPortMapping",
                    external_port,
                    request,
                    internal_client,
                    &mut lease,
                )
                .await;
            let fault = match result {
                Ok(_) => return Ok(self.granted(request, external_port, internal_client, lease)),
                Err(e) => match e.upnp_code() {
                    Some(code) => (code, e),
                    None => return Err(e),
                },
            };
            match fault {
                (code::SAME_PORT_VALUES_REQUIRED, _) if !same_ports_required => {
                    tracing::debug!(
                        port = request.internal_port,
                        "the gateway requires equal ports (724)"
                    );
                    same_ports_required = true;
                    tried.push(external_port);
                    external_port = request.internal_port;
                }
                (code::CONFLICT_IN_MAPPING_ENTRY | code::SAME_PORT_VALUES_REQUIRED, _) => {
                    tried.push(external_port);
                    tracing::debug!(port = external_port, "external port taken (718)");
                    if same_ports_required || tried.len() >= MAX_PORT_ATTEMPTS {
                        return Err(Error::Conflict {
                            url: Box::new(self.control_url().clone()),
                            tried,
                        });
                    }
                    if self.v2 && !tried_any {
                        tried_any = true;
                        match self
                            .add_any(request, external_port, internal_client, &mut lease)
                            .await
                        {
                            Ok(port) => {
                                return Ok(self.granted(request, port, internal_client, lease));
                            }
                            Err(e) if e.upnp_code().is_some_and(is_conflict) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    // A random unprivileged port not tried yet.
                    external_port = (0u32..)
                        .map(|salt| {
                            let hash = random.hash_one((request.internal_port, tried.len(), salt));
                            1024 + (hash % (65536 - 1024)) as u16
                        })
                        .find(|candidate| !tried.contains(candidate))
                        .unwrap_or(request.internal_port);
                }
                (code::ACTION_NOT_AUTHORIZED, _) => {
                    return Err(self.not_authorized("AddPortMapping"));
                }
                (_, e) => return Err(e),
            }
        }
    }

    /// Asks the gateway to pick a free external port (`AddAnyPortMapping`, v2 only),
    /// starting from `request.external_port` (or the internal port when that is 0). Lease
    /// restrictions are handled as in [`add_port_mapping`](Self::add_port_mapping).
    ///
    /// # Errors
    /// [`Error::NotSupported`] on a v1 service, [`Error::NotAuthorized`],
    /// [`Error::InvalidResponse`] when the reserved port does not parse, [`Error::Control`].
    pub async fn add_any_port_mapping(&self, request: &MappingRequest) -> Result<PortMapping> {
        self.bounded("AddAnyPortMapping", async {
            let internal_client = request.internal_client.unwrap_or(self.local_address);
            let mut lease = self.initial_lease(request.lease);
            let wanted = if request.external_port == 0 {
                request.internal_port
            } else {
                request.external_port
            };
            let port = self
                .add_any(request, wanted, internal_client, &mut lease)
                .await?;
            Ok(self.granted(request, port, internal_client, lease))
        })
        .await
    }

    /// Deletes a mapping (`DeletePortMapping`).
    ///
    /// # Errors
    /// [`Error::NotAuthorized`]; [`Error::Control`] with code 714 when there is no such
    /// mapping.
    pub async fn delete_port_mapping(&self, protocol: Protocol, external_port: u16) -> Result<()> {
        const ACTION: &str = "DeletePortMapping";
        let port = external_port.to_string();
        self.bounded(
            ACTION,
            self.call(
                ACTION,
                &[
                    ("NewRemoteHost", ""),
                    ("NewExternalPort", &port),
                    ("NewProtocol", protocol.as_str()),
                ],
            ),
        )
        .await
        .map(|_| ())
    }

    /// Deletes a mapping (`DeletePortMapping`) directly, without looking for it in the
    /// table first, and says whether it was there: 714 (`NoSuchEntryInArray`) is
    /// [`Deleted::NotThere`], not an error.
    ///
    /// # Errors
    /// [`Error::NotAuthorized`], [`Error::OperationTimeout`], [`Error::Control`] for other
    /// failures.
    pub async fn remove_port_mapping(
        &self,
        protocol: Protocol,
        external_port: u16,
    ) -> Result<Deleted> {
        match self.delete_port_mapping(protocol, external_port).await {
            Ok(()) => Ok(Deleted::Removed),
            Err(e) if e.upnp_code() == Some(code::NO_SUCH_ENTRY_IN_ARRAY) => Ok(Deleted::NotThere),
            Err(e) => Err(e),
        }
    }

    /// The mapping of `external_port` (`GetSpecificPortMappingEntry`), `None` when there is
    /// none (714).
    ///
    /// # Errors
    /// [`Error::NotAuthorized`], [`Error::InvalidResponse`], [`Error::Control`].
    pub async fn specific_port_mapping(
        &self,
        protocol: Protocol,
        external_port: u16,
    ) -> Result<Option<PortMappingEntry>> {
        const ACTION: &str = "GetSpecificPortMappingEntry";
        let port = external_port.to_string();
        let reply = self
            .bounded(
                ACTION,
                self.call(
                    ACTION,
                    &[
                        ("NewRemoteHost", ""),
                        ("NewExternalPort", &port),
                        ("NewProtocol", protocol.as_str()),
                    ],
                ),
            )
            .await;
        match reply {
            Ok(reply) => Ok(Some(self.entry(
                ACTION,
                &reply,
                String::new(),
                external_port,
                protocol,
            )?)),
            Err(e) if e.upnp_code() == Some(code::NO_SUCH_ENTRY_IN_ARRAY) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The mapping at `index` of the gateway's table (`GetGenericPortMappingEntry`), `None`
    /// past the end (713, or 714 as some devices answer).
    ///
    /// # Errors
    /// [`Error::NotAuthorized`], [`Error::InvalidResponse`], [`Error::Control`].
    pub async fn generic_port_mapping(&self, index: u16) -> Result<Option<PortMappingEntry>> {
        self.bounded(
            "GetGenericPortMappingEntry",
            self.generic_port_mapping_unbounded(index),
        )
        .await
    }

    async fn generic_port_mapping_unbounded(&self, index: u16) -> Result<Option<PortMappingEntry>> {
        const ACTION: &str = "GetGenericPortMappingEntry";
        let index = index.to_string();
        let reply = match self.call(ACTION, &[("NewPortMappingIndex", &index)]).await {
            Ok(reply) => reply,
            Err(e)
                if matches!(
                    e.upnp_code(),
                    Some(code::SPECIFIED_ARRAY_INDEX_INVALID | code::NO_SUCH_ENTRY_IN_ARRAY)
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let protocol_text = reply.get("NewProtocol").unwrap_or_default();
        let remote_host = reply
            .get("NewRemoteHost")
            .unwrap_or_default()
            .trim()
            .to_owned();
        let external_port = self.parse_port(ACTION, &reply, "NewExternalPort")?;
        let protocol = protocol_text
            .parse()
            .map_err(|_| self.invalid(ACTION, "NewProtocol", protocol_text))?;
        Ok(Some(self.entry(
            ACTION,
            &reply,
            remote_host,
            external_port,
            protocol,
        )?))
    }

    /// A table entry from a `GetSpecificPortMappingEntry` or `GetGenericPortMappingEntry`
    /// reply: the fields both answers carry, plus the key fields the caller already has.
    fn entry(
        &self,
        action: &'static str,
        reply: &Arguments,
        remote_host: String,
        external_port: u16,
        protocol: Protocol,
    ) -> Result<PortMappingEntry> {
        Ok(PortMappingEntry {
            remote_host,
            external_port,
            protocol,
            internal_port: self.parse_port(action, reply, "NewInternalPort")?,
            internal_client: reply
                .get("NewInternalClient")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            enabled: parse_bool(reply.get("NewEnabled").unwrap_or("1")),
            description: reply
                .get("NewPortMappingDescription")
                .unwrap_or_default()
                .to_owned(),
            lease_duration: parse_seconds(reply.get("NewLeaseDuration")),
        })
    }

    /// Every mapping of the gateway's table, read with `GetGenericPortMappingEntry` from
    /// index 0 until the gateway says the index is past the end (713; 714, 402 and 501 as
    /// some devices answer), at most 1024.
    ///
    /// # Errors
    /// As [`generic_port_mapping`](Self::generic_port_mapping).
    pub async fn port_mappings(&self) -> Result<Vec<PortMappingEntry>> {
        self.bounded("GetGenericPortMappingEntry", self.port_mappings_unbounded())
            .await
    }

    async fn port_mappings_unbounded(&self) -> Result<Vec<PortMappingEntry>> {
        let lists_generically = self.client.has_action("GetGenericPortMappingEntry");
        if self.v2 && lists_generically == Some(false) {
            return self.listed_port_mappings().await;
        }
        let mut entries = Vec::new();
        for index in 0..MAX_GENERIC_ENTRIES {
            match self.generic_port_mapping_unbounded(index).await {
                Ok(Some(entry)) => entries.push(entry),
                Ok(None) => return Ok(entries),
                // A v2 device that lists only with GetListOfPortMappings.
                Err(e)
                    if index == 0
                        && self.v2
                        && matches!(e.upnp_code(), Some(code::INVALID_ACTION)) =>
                {
                    tracing::debug!(error = %e, "no GetGenericPortMappingEntry; listing with GetListOfPortMappings");
                    return self.listed_port_mappings().await;
                }
                // Some devices end the table with 402 or 501 instead of 713.
                Err(e)
                    if matches!(
                        e.upnp_code(),
                        Some(code::INVALID_ARGS | code::ACTION_FAILED)
                    ) =>
                {
                    tracing::debug!(index, error = %e, "taking the error as the end of the table");
                    return Ok(entries);
                }
                Err(e) => return Err(e),
            }
        }
        tracing::warn!(
            limit = MAX_GENERIC_ENTRIES,
            "the gateway lists too many mappings; stopped reading"
        );
        Ok(entries)
    }

    /// Every mapping, TCP then UDP, with `GetListOfPortMappings` over the whole port range:
    /// every client's where the gateway allows it, else ours.
    async fn listed_port_mappings(&self) -> Result<Vec<PortMappingEntry>> {
        let mut entries = Vec::new();
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let listed = match self
                .list_unbounded(protocol, 0, u16::MAX, true, MAX_GENERIC_ENTRIES)
                .await
            {
                Err(Error::NotAuthorized { .. }) => {
                    self.list_unbounded(protocol, 0, u16::MAX, false, MAX_GENERIC_ENTRIES)
                        .await?
                }
                other => other?,
            };
            entries.extend(listed);
        }
        Ok(entries)
    }

    /// The mappings of `protocol` with external ports in `start..=end`
    /// (`GetListOfPortMappings`, v2 only), at most `max_entries` (0: as many as the gateway
    /// gives). `manage` asks for every client's mappings rather than only ours (the gateway
    /// may refuse that with 606).
    ///
    /// # Errors
    /// [`Error::NotSupported`] on a v1 service, [`Error::NotAuthorized`],
    /// [`Error::Control`] (also for a listing that does not parse).
    pub async fn list_port_mappings(
        &self,
        protocol: Protocol,
        start: u16,
        end: u16,
        manage: bool,
        max_entries: u16,
    ) -> Result<Vec<PortMappingEntry>> {
        self.bounded(
            "GetListOfPortMappings",
            self.list_unbounded(protocol, start, end, manage, max_entries),
        )
        .await
    }

    async fn list_unbounded(
        &self,
        protocol: Protocol,
        start: u16,
        end: u16,
        manage: bool,
        max_entries: u16,
    ) -> Result<Vec<PortMappingEntry>> {
        const ACTION: &str = "GetListOfPortMappings";
        if !self.v2 {
            return Err(self.not_supported(ACTION));
        }
        let (start, end, max) = (start.to_string(), end.to_string(), max_entries.to_string());
        let reply = self
            .call(
                ACTION,
                &[
                    ("NewStartPort", &start),
                    ("NewEndPort", &end),
                    ("NewProtocol", protocol.as_str()),
                    ("NewManage", if manage { "1" } else { "0" }),
                    ("NewNumberOfPorts", &max),
                ],
            )
            .await;
        match reply {
            Ok(reply) => Ok(parse_port_listing(
                reply.get("NewPortListing").unwrap_or_default().as_bytes(),
            )
            .map_err(|e| e.with_source(self.control_url()))?),
            Err(e) if e.upnp_code() == Some(code::PORT_MAPPING_NOT_FOUND) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Calls an action through the service client, turning 606 into
    /// [`Error::NotAuthorized`].
    async fn call(&self, action: &'static str, arguments: &[(&str, &str)]) -> Result<Arguments> {
        match self.client.call(action, arguments).await {
            Ok(reply) => Ok(reply),
            Err(e) if e.upnp_code() == Some(code::ACTION_NOT_AUTHORIZED) => {
                Err(self.not_authorized(action))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// One `AddPortMapping` or `AddAnyPortMapping`, retried once with lease 0 when the
    /// gateway refuses a finite lease (725, or 402 answering one).
    async fn add_with_lease_fallback(
        &self,
        action: &'static str,
        external_port: u16,
        request: &MappingRequest,
        internal_client: IpAddr,
        lease: &mut u32,
    ) -> Result<Arguments> {
        let first = self
            .add_once(action, external_port, request, internal_client, *lease)
            .await;
        match first {
            Err(e)
                if *lease != 0
                    && matches!(
                        e.upnp_code(),
                        Some(code::ONLY_PERMANENT_LEASES_SUPPORTED | code::INVALID_ARGS)
                    ) =>
            {
                tracing::debug!(%action, code = ?e.upnp_code(), "the gateway refuses a finite lease; retrying with a permanent one");
                let was = self.permanent_only.swap(true, Ordering::Relaxed);
                let asked = *lease;
                *lease = 0;
                let retry = self
                    .add_once(action, external_port, request, internal_client, 0)
                    .await;
                if retry
                    .as_ref()
                    .is_err_and(|e| e.upnp_code() == Some(code::INVALID_ARGS))
                {
                    // 402 again: the lease was not what it objected to.
                    self.permanent_only.store(was, Ordering::Relaxed);
                    *lease = asked;
                }
                retry
            }
            other => other,
        }
    }

    async fn add_once(
        &self,
        action: &'static str,
        external_port: u16,
        request: &MappingRequest,
        internal_client: IpAddr,
        lease: u32,
    ) -> Result<Arguments> {
        let external = external_port.to_string();
        let internal = request.internal_port.to_string();
        let client = internal_client.to_string();
        let lease = lease.to_string();
        self.call(
            action,
            &[
                ("NewRemoteHost", ""),
                ("NewExternalPort", &external),
                ("NewProtocol", request.protocol.as_str()),
                ("NewInternalPort", &internal),
                ("NewInternalClient", &client),
                ("NewEnabled", "1"),
                ("NewPortMappingDescription", &request.description),
                ("NewLeaseDuration", &lease),
            ],
        )
        .await
    }

    async fn add_any(
        &self,
        request: &MappingRequest,
        external_port: u16,
        internal_client: IpAddr,
        lease: &mut u32,
    ) -> Result<u16> {
        const ACTION: &str = "AddAnyPortMapping";
        if !self.v2 {
            return Err(self.not_supported(ACTION));
        }
        let reply = self
            .add_with_lease_fallback(ACTION, external_port, request, internal_client, lease)
            .await?;
        // The spec names it NewReservedPort; miniupnpd's SCPD calls it NewExternalPort.
        let reserved = reply
            .get("NewReservedPort")
            .or_else(|| reply.get("NewExternalPort"))
            .unwrap_or_default();
        match reserved.trim().parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            _ => Err(self.invalid(ACTION, "NewReservedPort", reserved)),
        }
    }

    fn initial_lease(&self, lease: Duration) -> u32 {
        if self.permanent_leases_only() || lease.is_zero() {
            return 0;
        }
        lease.min(MAX_LEASE).as_secs().max(1) as u32
    }

    fn granted(
        &self,
        request: &MappingRequest,
        external_port: u16,
        internal_client: IpAddr,
        lease: u32,
    ) -> PortMapping {
        PortMapping {
            protocol: request.protocol,
            external_port,
            internal_client,
            internal_port: request.internal_port,
            description: request.description.clone(),
            lease: Duration::from_secs(lease.into()),
            permanent: lease == 0,
        }
    }

    fn parse_port(
        &self,
        action: &'static str,
        reply: &Arguments,
        argument: &'static str,
    ) -> Result<u16> {
        let value = reply.get(argument).unwrap_or_default();
        value
            .trim()
            .parse()
            .map_err(|_| self.invalid(action, argument, value))
    }

    fn invalid(&self, action: &'static str, argument: &'static str, value: &str) -> Error {
        Error::InvalidResponse {
            action,
            url: Box::new(self.control_url().clone()),
            argument,
            value: value.to_owned(),
        }
    }

    fn not_authorized(&self, action: &'static str) -> Error {
        Error::NotAuthorized {
            action,
            url: Box::new(self.control_url().clone()),
        }
    }

    fn not_supported(&self, action: &'static str) -> Error {
        Error::NotSupported {
            action,
            url: Box::new(self.control_url().clone()),
            service_type: self.service_type().to_owned(),
        }
    }

    fn no_external_address(&self, reported: &str) -> Error {
        Error::NoExternalAddress {
            url: Box::new(self.control_url().clone()),
            reported: reported.to_owned(),
        }
    }
}

/// The preference rank of a WAN connection service type (0 is best), `None` for others:
/// `WANIPConnection` version 2 or later, version 1, `WANPPPConnection` version 2 or later,
/// version 1, then the `urn:dslforum-org` `WANIPConnection` and `WANPPPConnection` of any
/// version.
pub fn connection_rank(service_type: &str) -> Option<usize> {
    let (family, version) = crate::description::split_type(service_type.trim())?;
    let later = usize::from(version < 2);
    match family {
        "urn:schemas-upnp-org:service:WANIPConnection" => Some(later),
        "urn:schemas-upnp-org:service:WANPPPConnection" => Some(2 + later),
        "urn:dslforum-org:service:WANIPConnection" => Some(4),
        "urn:dslforum-org:service:WANPPPConnection" => Some(5),
        _ => None,
    }
}

fn is_conflict(code: u16) -> bool {
    matches!(
        code,
        code::CONFLICT_IN_MAPPING_ENTRY
            | code::NO_PORT_MAPS_AVAILABLE
            | code::CONFLICT_WITH_OTHER_MECHANISMS
    )
}

fn parse_bool(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes"
    )
}

fn parse_seconds(text: Option<&str>) -> Duration {
    Duration::from_secs(text.and_then(|t| t.trim().parse().ok()).unwrap_or(0))
}

/// Parses the `NewPortListing` of `GetListOfPortMappings`: a `<PortMappingList>` of
/// `<PortMappingEntry>` elements (namespace prefixes ignored). Entries whose ports or
/// protocol do not parse are left out.
///
/// # Errors
/// [`crate::Error::Xml`] for malformed or refused XML, [`crate::Error::MissingElement`] when
/// the root is not `<PortMappingList>`.
pub fn parse_port_listing(bytes: &[u8]) -> Result<Vec<PortMappingEntry>, crate::Error> {
    const DOCUMENT: &str = "port listing";
    let root = xml::parse(bytes, DOCUMENT)?;
    if !root.name.eq_ignore_ascii_case("PortMappingList") {
        return Err(crate::Error::MissingElement {
            document: DOCUMENT.to_owned(),
            element: "PortMappingList",
        });
    }
    Ok(xml::children_named(&root, "PortMappingEntry")
        .filter_map(|entry| {
            let entry_text = |name: &str| xml::child_text(entry, name);
            let parsed = listing_entry(entry, &entry_text);
            if parsed.is_none() {
                tracing::debug!("skipping an unreadable port listing entry");
            }
            parsed
        })
        .collect())
}

fn listing_entry(entry: &Element, text: &dyn Fn(&str) -> String) -> Option<PortMappingEntry> {
    let description = xml::child(entry, "NewDescription")
        .or_else(|| xml::child(entry, "NewPortMappingDescription"))
        .map(|d| xml::text(d).into_owned())
        .unwrap_or_default();
    let lease = xml::child(entry, "NewLeaseTime").or_else(|| xml::child(entry, "NewLeaseDuration"));
    Some(PortMappingEntry {
        remote_host: text("NewRemoteHost"),
        external_port: text("NewExternalPort").parse().ok()?,
        protocol: text("NewProtocol").parse().ok()?,
        internal_port: text("NewInternalPort").parse().ok()?,
        internal_client: text("NewInternalClient"),
        enabled: parse_bool(&text("NewEnabled")),
        description,
        lease_duration: parse_seconds(lease.map(|l| xml::text(l)).as_deref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fault as an [`Error`], for tests of code that matches on it.
    fn fault(code: u16) -> Error {
        Error::Control(crate::Error::Fault {
            action: "AddPortMapping".to_owned(),
            url: Box::new(Url::parse("http://127.0.0.1/ctl").unwrap()),
            fault: crate::UpnpError {
                code,
                description: String::new(),
            },
        })
    }

    const LISTING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xsi:schemaLocation="urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd">
<p:PortMappingEntry>
<p:NewRemoteHost></p:NewRemoteHost>
<p:NewExternalPort>4000</p:NewExternalPort>
<p:NewProtocol>TCP</p:NewProtocol>
<p:NewInternalPort>4001</p:NewInternalPort>
<p:NewInternalClient>192.168.77.10</p:NewInternalClient>
<p:NewEnabled>1</p:NewEnabled>
<p:NewDescription>a &amp; b</p:NewDescription>
<p:NewLeaseTime>3599</p:NewLeaseTime>
</p:PortMappingEntry>
<p:PortMappingEntry><p:NewExternalPort>not a port</p:NewExternalPort></p:PortMappingEntry>
<p:PortMappingEntry>
<p:NewExternalPort>5000</p:NewExternalPort><p:NewProtocol>udp</p:NewProtocol>
<p:NewInternalPort>5000</p:NewInternalPort><p:NewInternalClient>192.168.77.11</p:NewInternalClient>
<p:NewEnabled>0</p:NewEnabled>
</p:PortMappingEntry>
</p:PortMappingList>"#;

    #[test]
    fn port_listing_parses_and_skips_broken_entries() {
        let entries = parse_port_listing(LISTING.as_bytes()).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0],
            PortMappingEntry {
                remote_host: String::new(),
                external_port: 4000,
                protocol: Protocol::Tcp,
                internal_port: 4001,
                internal_client: "192.168.77.10".to_owned(),
                enabled: true,
                description: "a & b".to_owned(),
                lease_duration: Duration::from_secs(3599),
            }
        );
        assert_eq!(entries[1].protocol, Protocol::Udp);
        assert!(!entries[1].enabled);
        assert_eq!(entries[1].lease_duration, Duration::ZERO);
    }

    #[test]
    fn port_listing_errors() {
        assert!(matches!(
            parse_port_listing(b"<other/>"),
            Err(crate::Error::MissingElement { .. })
        ));
        assert!(matches!(
            parse_port_listing(b""),
            Err(crate::Error::Xml { .. })
        ));
        assert_eq!(parse_port_listing(b"<PortMappingList/>").unwrap(), []);
    }

    #[test]
    fn connection_services_are_ranked() {
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:WANIPConnection:2"),
            Some(0)
        );
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:WANPPPConnection:1"),
            Some(3)
        );
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:WANPPPConnection:2"),
            Some(2)
        );
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:WANIPConnection:3"),
            Some(0)
        );
        assert_eq!(
            connection_rank("urn:dslforum-org:service:WANIPConnection:1"),
            Some(4)
        );
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:WANIPConnection"),
            None
        );
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:WANIPConnection:x"),
            None
        );
        for (rank, service_type) in CONNECTION_SERVICE_TYPES.iter().enumerate() {
            assert_eq!(connection_rank(service_type), Some(rank));
        }
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:Layer3Forwarding:1"),
            None
        );
    }

    #[test]
    fn protocols_are_upper_case_on_the_wire() {
        assert_eq!(Protocol::Tcp.to_string(), "TCP");
        assert_eq!(Protocol::Udp.as_str(), "UDP");
        assert_eq!("tcp".parse::<Protocol>(), Ok(Protocol::Tcp));
        assert!("sctp".parse::<Protocol>().is_err());
    }

    #[test]
    fn error_codes_and_messages() {
        assert_eq!(fault(718).upnp_code(), Some(718));
        let url = Url::parse("http://192.168.1.1:5000/ctl/IPConn").unwrap();
        let e = Error::NotAuthorized {
            action: "AddPortMapping",
            url: Box::new(url.clone()),
        };
        assert_eq!(
            e.to_string(),
            "AddPortMapping at http://192.168.1.1:5000/ctl/IPConn was refused: not authorized (upnp error 606)"
        );
        assert_eq!(e.upnp_code(), Some(606));
        let e = Error::PrivateExternalAddress {
            url: Box::new(url),
            address: "10.0.0.2".parse().unwrap(),
        };
        assert!(e.to_string().contains("10.0.0.2") && e.to_string().contains("another nat"));
    }
}
