//! [`Client`]: NAT-PMP and PCP requests over a tokio UDP socket.
//!
//! The socket is *connected* to the gateway's port 5351. That makes the kernel report an ICMP
//! port unreachable as "connection refused" (so a gateway without NAT-PMP/PCP is reported at
//! once) and drop datagrams from any other source before they reach us; the sans-IO
//! [`Transaction`] validates everything else (opcode, nonce, mapping fields) and counts what it
//! ignores.
//!
//! Over IPv6 only PCP is spoken (NAT-PMP is IPv4 only). The socket is bound to this host's
//! *global* address toward the gateway, not the kernel's link-local choice toward a
//! link-local router: a PCP MAP's internal address is the request's source, and a pinhole
//! for a link-local address would let nothing in. A link-local gateway is reached through
//! its interface (the scope id). A PCP server's unsolicited ANNOUNCE sent to the client's
//! own port (RFC 6887 §14.1.3) is read during the next exchange and its epoch checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::broadcast;

use super::error::{ClientError, io};
use crate::pcp::{self, MapData, PeerData};
use crate::{
    Answer, AnyRequest, AnyResponse, Decision, EpochCheck, EpochTracker, Nonce, Protocol, Schedule,
    Transaction, TransactionError, Version, VersionNegotiator, natpmp,
};

/// Which protocol version the client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionChoice {
    /// PCP first; NAT-PMP when the gateway answers "unsupported version" (and the reverse,
    /// RFC 6887 §9). The version that worked is remembered.
    #[default]
    Auto,
    /// NAT-PMP (RFC 6886) only.
    NatPmp,
    /// PCP (RFC 6887) only.
    Pcp,
}

/// How a [`Client`] behaves.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The gateway's NAT-PMP/PCP port (5351; other values are for tests against fake servers).
    pub server_port: u16,
    /// Which versions to use.
    pub version: VersionChoice,
    /// Retransmissions for NAT-PMP requests (RFC 6886 §3.1 by default: 250 ms doubling, 9 tries).
    pub natpmp_schedule: Schedule,
    /// Retransmissions for PCP requests (RFC 6887 §8.1.1 by default: 3 s, doubling to 1024 s).
    pub pcp_schedule: Schedule,
    /// An upper bound on each operation, whatever the schedules say.
    pub timeout: Option<Duration>,
    /// For an IPv6 link-local gateway (`fe80::/10`): the index of the interface to reach it
    /// through. `None`: the interface of the IPv6 default route whose next hop it is
    /// ([`netinfo::scope_id_toward`]). Ignored for other gateways.
    pub scope_id: Option<u32>,
    /// The address to send from, which PCP also names as the client's (and the mapping's
    /// internal) address. `None`: for IPv4 the kernel's choice; for IPv6 the global address
    /// toward the gateway ([`netinfo::local_ipv6_address_toward`]), so that a MAP opens a
    /// pinhole for an address peers can reach.
    pub local_address: Option<IpAddr>,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            server_port: crate::SERVER_PORT,
            version: VersionChoice::Auto,
            natpmp_schedule: Schedule::natpmp_rfc(),
            pcp_schedule: Schedule::pcp_rfc(),
            timeout: None,
            scope_id: None,
            local_address: None,
        }
    }
}

impl ClientConfig {
    /// A configuration for interactive tools: both versions retransmit like NAT-PMP (250 ms,
    /// doubling) but at least every 500 ms, and every operation gives up after `timeout`.
    /// PCP's RFC schedule starts at 3 s, too slow for a person waiting on a lossy link; and
    /// with the RFC's unbounded doubling a 5 s wait holds only five tries (0, 0.25, 0.75,
    /// 1.75 and 3.75 s), where capped it holds eleven. Measured in the lab under 40 % loss
    /// each way (`cargo xtask bench --only loss`), a NAT-PMP map, which needs two answers,
    /// succeeded 15 times in 20 uncapped and 16 with a 1 s cap.
    pub fn interactive(timeout: Duration) -> ClientConfig {
        // No attempt limit: `timeout` ends the operation.
        let schedule = Schedule::natpmp_rfc()
            .with_max_interval(Duration::from_millis(500))
            .with_max_attempts(0);
        ClientConfig {
            natpmp_schedule: schedule.clone(),
            pcp_schedule: schedule,
            timeout: Some(timeout),
            ..ClientConfig::default()
        }
    }
}

/// A port mapping the gateway granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port on this host.
    pub internal_port: u16,
    /// The port on the gateway's external address.
    pub external_port: u16,
    /// The gateway's external address.
    pub external_address: IpAddr,
    /// How long the gateway keeps the mapping unless refreshed.
    pub lifetime: Duration,
    /// The gateway's epoch (seconds since its mapping table started) in the answer.
    pub epoch: u32,
    /// The protocol version that made it.
    pub version: Version,
    /// The PCP mapping nonce (needed to refresh or delete it with PCP).
    pub nonce: Option<Nonce>,
    /// True when this answer showed that the gateway had lost its state (epoch went back):
    /// every other mapping held at this gateway must be made again.
    pub epoch_reset: bool,
}

/// Something the client noticed about the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The gateway's epoch went back (or grew too slowly): it restarted and lost its mappings.
    EpochReset {
        /// The version whose epoch was checked.
        version: Version,
        /// The epoch seen before.
        previous: u32,
        /// The epoch now.
        current: u32,
    },
}

struct State {
    version: Option<Version>,
    natpmp_epoch: EpochTracker,
    pcp_epoch: EpochTracker,
}

/// A NAT-PMP/PCP client for one gateway.
///
/// Operations are serialised on one socket (each is a short exchange); a client is cheap to
/// share behind an `Arc`.
pub struct Client {
    gateway: SocketAddr,
    socket: UdpSocket,
    client_address: IpAddr,
    config: ClientConfig,
    state: Mutex<State>,
    exchange: tokio::sync::Mutex<()>,
    ignored: AtomicU64,
    events: broadcast::Sender<Event>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("gateway", &self.gateway)
            .field("client_address", &self.client_address)
            .finish_non_exhaustive()
    }
}

/// What to ask, independent of the version it is asked in.
#[derive(Debug, Clone, Copy)]
enum Operation {
    ExternalAddress,
    Map {
        protocol: Protocol,
        internal_port: u16,
        suggested_external_port: u16,
        lifetime: u32,
        nonce: Nonce,
        /// PCP THIRD_PARTY: the mapping is for this LAN address, not for us.
        third_party: Option<IpAddr>,
    },
    Peer {
        data: PeerData,
        lifetime: u32,
    },
}

impl Operation {
    fn describe(&self) -> String {
        match self {
            Operation::ExternalAddress => "external address request".into(),
            Operation::Map {
                protocol,
                internal_port,
                lifetime: 0,
                ..
            } => format!("deletion of the {protocol} mapping of port {internal_port}"),
            Operation::Map {
                protocol,
                internal_port,
                ..
            } => format!("{protocol} mapping of port {internal_port}"),
            Operation::Peer { data, .. } => format!(
                "PEER mapping of port {} toward {}:{}",
                data.internal_port, data.remote_peer_address, data.remote_peer_port
            ),
        }
    }
}

impl Client {
    /// A client for the gateway at `gateway` (port 5351), with the default configuration.
    pub async fn new(gateway: IpAddr) -> Result<Client, ClientError> {
        Client::with_config(gateway, ClientConfig::default()).await
    }

    /// A client for `gateway` with `config`.
    ///
    /// An IPv6 gateway (a link-local router address included) is spoken to in PCP only; its
    /// interface and this host's address toward it come from `config` or, by default, from
    /// the routing table and the interfaces (see [`ClientConfig::scope_id`] and
    /// [`ClientConfig::local_address`]).
    ///
    /// # Errors
    /// [`ClientError::NatPmpOverIpv6`] when `config` forces NAT-PMP toward an IPv6 gateway;
    /// [`ClientError::LocalAddress`] when this host's IPv6 address toward it is unknown;
    /// [`ClientError::Io`] when the socket cannot be bound or connected.
    pub async fn with_config(gateway: IpAddr, config: ClientConfig) -> Result<Client, ClientError> {
        // An IPv4-mapped gateway is an IPv4 gateway, NAT-PMP and all.
        let gateway = gateway.to_canonical();
        let (server, bind) = match gateway {
            IpAddr::V4(_) => (
                SocketAddr::new(gateway, config.server_port),
                SocketAddr::new(
                    config
                        .local_address
                        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    0,
                ),
            ),
            IpAddr::V6(gateway_v6) => {
                let scope_id = if is_link_local(gateway_v6) {
                    match config.scope_id {
                        Some(scope_id) => scope_id,
                        None => netinfo::scope_id_toward(gateway_v6)
                            .map_err(|source| ClientError::LocalAddress { gateway, source })?,
                    }
                } else {
                    0
                };
                let server = SocketAddrV6::new(gateway_v6, config.server_port, 0, scope_id);
                if config.version == VersionChoice::NatPmp {
                    return Err(ClientError::NatPmpOverIpv6 {
                        gateway: server.into(),
                    });
                }
                let local = match config.local_address {
                    Some(IpAddr::V6(local)) => local,
                    Some(IpAddr::V4(local)) => {
                        return Err(ClientError::Io {
                            what: format!("cannot reach IPv6 gateway {server} from {local}"),
                            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
                        });
                    }
                    None => netinfo::local_ipv6_address_toward(gateway_v6, scope_id)
                        .map_err(|source| ClientError::LocalAddress { gateway, source })?,
                };
                // A link-local source (given by the caller) needs the same scope.
                let local_scope = if is_link_local(local) { scope_id } else { 0 };
                (
                    SocketAddr::V6(server),
                    SocketAddr::V6(SocketAddrV6::new(local, 0, 0, local_scope)),
                )
            }
        };
        let socket = UdpSocket::bind(bind).await.map_err(io(format!(
            "cannot bind a UDP socket for NAT-PMP/PCP on {bind}"
        )))?;
        socket
            .connect(server)
            .await
            .map_err(io(format!("cannot reach gateway {server}")))?;
        let client_address = socket
            .local_addr()
            .map_err(io("cannot read the socket's local address"))?
            .ip();
        Ok(Client {
            gateway: server,
            socket,
            client_address,
            state: Mutex::new(State {
                version: match config.version {
                    VersionChoice::Auto => None,
                    VersionChoice::NatPmp => Some(Version::NatPmp),
                    VersionChoice::Pcp => Some(Version::Pcp),
                },
                natpmp_epoch: EpochTracker::natpmp(),
                pcp_epoch: EpochTracker::pcp(),
            }),
            config,
            exchange: tokio::sync::Mutex::new(()),
            ignored: AtomicU64::new(0),
            events: broadcast::channel(16).0,
        })
    }

    /// The gateway's address and port.
    pub fn gateway(&self) -> SocketAddr {
        self.gateway
    }

    /// This host's address toward the gateway (what PCP requests carry as client address).
    pub fn client_address(&self) -> IpAddr {
        self.client_address
    }

    /// The local address of the client's socket.
    pub fn local_addr(&self) -> Result<SocketAddr, ClientError> {
        self.socket
            .local_addr()
            .map_err(io("cannot read the socket's local address"))
    }

    /// The version in use: the configured one, or the negotiated one after a first answer.
    pub fn version(&self) -> Option<Version> {
        self.state.lock().ok().and_then(|s| s.version)
    }

    /// How many datagrams were ignored so far (wrong opcode, nonce, mapping fields, malformed).
    pub fn ignored(&self) -> u64 {
        self.ignored.load(Ordering::Relaxed)
    }

    /// Events about the gateway (epoch resets) from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The gateway's external address.
    ///
    /// NAT-PMP asks for it directly (opcode 0). PCP has no such request: the client first
    /// sends a MAP deletion (lifetime 0) for its own UDP port, which creates nothing; servers
    /// like miniupnpd put their external address in that answer, even when it is an error.
    /// When the answer carries no address, the client maps its port for a moment, reads the
    /// assigned address, and deletes the mapping.
    pub async fn external_address(&self) -> Result<IpAddr, ClientError> {
        // Auto starts with PCP (RFC 6887 §9) and remembers what worked.
        if self.version().unwrap_or(Version::Pcp) == Version::NatPmp {
            return self.natpmp_external_address().await;
        }
        let port = self.local_addr()?.port();
        let probe = Operation::Map {
            protocol: Protocol::Udp,
            internal_port: port,
            suggested_external_port: 0,
            lifetime: 0,
            nonce: random_nonce(),
            third_party: None,
        };
        let answer = match self.exchange(probe, Version::Pcp).await {
            Ok(answer) => Some(answer),
            Err(Failure::Transaction(TransactionError::Rejected { answer, .. })) => Some(*answer),
            Err(Failure::Transaction(TransactionError::UnsupportedVersion { .. }))
                if self.config.version == VersionChoice::Auto && self.natpmp_allowed() =>
            {
                tracing::debug!(gateway = %self.gateway, "no PCP here; asking with NAT-PMP");
                self.set_version(Version::NatPmp);
                return self.natpmp_external_address().await;
            }
            Err(Failure::Transaction(error)) => {
                return Err(self.translate(error, &Operation::ExternalAddress, Version::Pcp));
            }
            Err(Failure::Client(error)) => return Err(error),
        };
        if let Some(answer) = answer {
            self.set_version(Version::Pcp);
            self.check_epoch(&answer);
            if let AnyResponse::Pcp(pcp::Response {
                data: pcp::ResponseData::Map(data),
                ..
            }) = answer.response
            {
                let address = pcp::canonical(data.external_address);
                if !address.is_unspecified() {
                    return Ok(address);
                }
            }
        }
        let (answer, _) = self
            .perform_in_checked(Operation::ExternalAddress, Version::Pcp)
            .await?;
        let AnyResponse::Pcp(response) = &answer.response else {
            return Err(self.bad_answer(&Operation::ExternalAddress, "answered in NAT-PMP"));
        };
        let pcp::ResponseData::Map(data) = response.data else {
            return Err(self.bad_answer(&Operation::ExternalAddress, "no MAP data"));
        };
        let delete = Operation::Map {
            protocol: Protocol::Udp,
            internal_port: data.internal_port,
            suggested_external_port: 0,
            lifetime: 0,
            nonce: data.nonce,
            third_party: None,
        };
        if let Err(error) = self.perform_in(delete, Version::Pcp).await {
            tracing::debug!(%error, "could not delete the PCP address probe mapping");
        }
        self.usable_address(pcp::canonical(data.external_address), Version::Pcp)
    }

    /// The external address as reported, unless it is unspecified (no WAN connection).
    /// Private and shared addresses are returned as they are: classifying double NAT and
    /// CGNAT is the caller's business.
    fn usable_address(&self, address: IpAddr, version: Version) -> Result<IpAddr, ClientError> {
        if address.to_canonical().is_unspecified() {
            return Err(ClientError::NoExternalAddress {
                gateway: self.gateway,
                version,
                reported: address,
            });
        }
        Ok(address)
    }

    /// Refuses a "successful" mapping that maps nothing: external port 0, lifetime 0 when
    /// a lifetime was asked for, or no external address.
    fn check_granted(
        &self,
        operation: &Operation,
        mapping: Mapping,
        asked_lifetime: u32,
    ) -> Result<Mapping, ClientError> {
        let version = mapping.version;
        self.usable_address(mapping.external_address, version)?;
        if mapping.external_port == 0 {
            return Err(self.bad_answer(
                operation,
                &format!("{version} success with external port 0"),
            ));
        }
        if asked_lifetime > 0 && mapping.lifetime.is_zero() {
            return Err(self.bad_answer(operation, &format!("{version} success with lifetime 0")));
        }
        Ok(mapping)
    }

    async fn natpmp_external_address(&self) -> Result<IpAddr, ClientError> {
        let (answer, _) = self
            .perform_in_checked(Operation::ExternalAddress, Version::NatPmp)
            .await?;
        match &answer.response {
            AnyResponse::NatPmp(natpmp::Response {
                body: natpmp::ResponseBody::ExternalAddress { external_address },
                ..
            }) => self.usable_address(IpAddr::V4(*external_address), Version::NatPmp),
            _ => Err(self.bad_answer(&Operation::ExternalAddress, "no address in the answer")),
        }
    }

    /// NAT-PMP is IPv4 only: never negotiated down to over IPv6.
    fn natpmp_allowed(&self) -> bool {
        self.gateway.is_ipv4()
    }

    fn set_version(&self, version: Version) {
        if let Ok(mut state) = self.state.lock() {
            state.version = Some(version);
        }
    }

    /// Asks for a mapping of `internal_port` (on this host) for `lifetime`, preferring
    /// `suggested_external_port` (0: no preference).
    pub async fn map(
        &self,
        protocol: Protocol,
        internal_port: u16,
        suggested_external_port: u16,
        lifetime: Duration,
    ) -> Result<Mapping, ClientError> {
        self.map_with_nonce(
            protocol,
            internal_port,
            suggested_external_port,
            lifetime,
            random_nonce(),
        )
        .await
    }

    /// Renews `mapping` for `lifetime`, asking for the same external port (and, for PCP, with
    /// the same nonce). The answer may carry a different port if the gateway restarted.
    pub async fn refresh(
        &self,
        mapping: &Mapping,
        lifetime: Duration,
    ) -> Result<Mapping, ClientError> {
        self.map_with_nonce(
            mapping.protocol,
            mapping.internal_port,
            mapping.external_port,
            lifetime,
            mapping.nonce.unwrap_or_else(random_nonce),
        )
        .await
    }

    /// Deletes `mapping` at the gateway (a request with lifetime 0).
    pub async fn delete(&self, mapping: &Mapping) -> Result<(), ClientError> {
        let operation = Operation::Map {
            protocol: mapping.protocol,
            internal_port: mapping.internal_port,
            suggested_external_port: 0,
            lifetime: 0,
            nonce: mapping.nonce.unwrap_or_else(random_nonce),
            third_party: None,
        };
        self.perform_in(operation, mapping.version)
            .await
            .map(|_| ())
    }

    /// Deletes this host's mapping of `internal_port`, wherever it came from (lifetime 0).
    ///
    /// PCP servers may insist on the nonce that created the mapping; when such a server
    /// refuses (NOT_AUTHORIZED), the client asks again with NAT-PMP, whose deletion is by
    /// port alone, if the configuration allows NAT-PMP.
    pub async fn unmap(&self, protocol: Protocol, internal_port: u16) -> Result<(), ClientError> {
        let operation = Operation::Map {
            protocol,
            internal_port,
            suggested_external_port: 0,
            lifetime: 0,
            nonce: random_nonce(),
            third_party: None,
        };
        self.perform_with_natpmp_fallback(operation).await
    }

    /// Deletes this host's mapping of `internal_port` made with `nonce` (see
    /// [`Client::map_with_nonce`]); NAT-PMP ignores the nonce.
    pub async fn unmap_with_nonce(
        &self,
        protocol: Protocol,
        internal_port: u16,
        nonce: Nonce,
    ) -> Result<(), ClientError> {
        let operation = Operation::Map {
            protocol,
            internal_port,
            suggested_external_port: 0,
            lifetime: 0,
            nonce,
            third_party: None,
        };
        self.perform(operation).await.map(|_| ())
    }

    /// Deletes all of this host's mappings of `protocol` (internal port 0, lifetime 0; RFC
    /// 6886 §3.4, RFC 6887 §11.1). Falls back to NAT-PMP like [`Client::unmap`].
    pub async fn unmap_all(&self, protocol: Protocol) -> Result<(), ClientError> {
        self.unmap(protocol, 0).await
    }

    /// Asks for a PCP mapping on behalf of another LAN host (the THIRD_PARTY option, RFC 6887
    /// §13.1). Servers commonly refuse it (UNSUPP_OPTION or NOT_AUTHORIZED) unless configured
    /// to allow it; the refusal comes back as [`ClientError::Refused`] with the result code.
    pub async fn map_third_party(
        &self,
        internal_address: IpAddr,
        protocol: Protocol,
        internal_port: u16,
        suggested_external_port: u16,
        lifetime: Duration,
    ) -> Result<Mapping, ClientError> {
        let lifetime = lifetime_secs(lifetime);
        let nonce = random_nonce();
        let operation = Operation::Map {
            protocol,
            internal_port,
            suggested_external_port,
            lifetime,
            nonce,
            third_party: Some(internal_address),
        };
        let (answer, epoch_reset) = self.perform_in_checked(operation, Version::Pcp).await?;
        let mapping = self.pcp_mapping(&operation, &answer, epoch_reset)?;
        self.check_granted(&operation, mapping, lifetime)
    }

    /// Asks for a PCP PEER mapping: the external port and address this host's flow from
    /// `internal_port` to `remote` uses (RFC 6887 §12), kept for `lifetime`.
    pub async fn peer(
        &self,
        protocol: Protocol,
        internal_port: u16,
        remote: SocketAddr,
        lifetime: Duration,
    ) -> Result<Mapping, ClientError> {
        let lifetime = lifetime_secs(lifetime);
        let data = PeerData {
            nonce: random_nonce(),
            protocol: protocol.into(),
            internal_port,
            external_port: 0,
            external_address: pcp::unspecified_like(self.client_address),
            remote_peer_port: remote.port(),
            remote_peer_address: remote.ip(),
        };
        let operation = Operation::Peer { data, lifetime };
        let (answer, epoch_reset) = self.perform_in_checked(operation, Version::Pcp).await?;
        self.pcp_mapping(&operation, &answer, epoch_reset)
    }

    /// The [`Mapping`] a PCP MAP or PEER answer grants.
    fn pcp_mapping(
        &self,
        operation: &Operation,
        answer: &Answer,
        epoch_reset: bool,
    ) -> Result<Mapping, ClientError> {
        let AnyResponse::Pcp(response) = &answer.response else {
            return Err(self.bad_answer(operation, "answered in NAT-PMP"));
        };
        let (protocol, internal_port, external_port, external_address, nonce) = match response.data
        {
            pcp::ResponseData::Map(granted) => (
                granted.protocol,
                granted.internal_port,
                granted.external_port,
                granted.external_address,
                granted.nonce,
            ),
            pcp::ResponseData::Peer(granted) => (
                granted.protocol,
                granted.internal_port,
                granted.external_port,
                granted.external_address,
                granted.nonce,
            ),
            _ => return Err(self.bad_answer(operation, "no MAP or PEER data")),
        };
        let protocol = match (protocol, operation) {
            (pcp::IpProtocol::Tcp, _) => Protocol::Tcp,
            (pcp::IpProtocol::Udp, _) => Protocol::Udp,
            (_, Operation::Map { protocol, .. }) => *protocol,
            _ => return Err(self.bad_answer(operation, "neither TCP nor UDP")),
        };
        Ok(Mapping {
            protocol,
            internal_port,
            external_port,
            external_address: pcp::canonical(external_address),
            lifetime: Duration::from_secs(response.lifetime.into()),
            epoch: response.epoch,
            version: Version::Pcp,
            nonce: Some(nonce),
            epoch_reset,
        })
    }

    /// Like [`Client::map`], with the PCP mapping nonce chosen by the caller (ignored by
    /// NAT-PMP). A PCP server lets only the same nonce refresh or delete a mapping, so a
    /// program that must delete its mapping from another process (like `natctl unmap`) can
    /// derive the nonce instead of storing it.
    pub async fn map_with_nonce(
        &self,
        protocol: Protocol,
        internal_port: u16,
        suggested_external_port: u16,
        lifetime: Duration,
        nonce: Nonce,
    ) -> Result<Mapping, ClientError> {
        let lifetime = lifetime_secs(lifetime);
        let operation = Operation::Map {
            protocol,
            internal_port,
            suggested_external_port,
            lifetime,
            nonce,
            third_party: None,
        };
        let mapping = self.map_once(operation, protocol, internal_port).await?;
        let mapping = match mapping {
            Ok(mapping) => mapping,
            Err(reset_between) => {
                // The gateway restarted between the mapping and the next answer of the
                // same operation: the mapping is gone. Map again, once.
                tracing::info!(gateway = %self.gateway, "the gateway restarted during the mapping; mapping again");
                let mut again = match self.map_once(operation, protocol, internal_port).await? {
                    Ok(mapping) | Err(mapping) => mapping,
                };
                again.epoch_reset |= reset_between.epoch_reset;
                again
            }
        };
        self.check_granted(&operation, mapping, lifetime)
    }

    /// One mapping exchange (two for NAT-PMP, which asks for the address after). `Err`
    /// holds a mapping that the epoch of the second answer showed lost.
    async fn map_once(
        &self,
        operation: Operation,
        protocol: Protocol,
        internal_port: u16,
    ) -> Result<Result<Mapping, Mapping>, ClientError> {
        // NAT-PMP's mapping answer has no address: when the gateway is known to speak
        // NAT-PMP, both requests go out at once (one round trip, not two).
        let speaks_natpmp =
            self.config.version == VersionChoice::NatPmp || self.version() == Some(Version::NatPmp);
        let (answer, epoch_reset, version, address) = if speaks_natpmp {
            let answers = match self
                .exchange_all(&[operation, Operation::ExternalAddress], Version::NatPmp)
                .await
            {
                Ok(answers) => answers,
                Err(Failure::Transaction(error)) => {
                    return Err(self.translate(error, &operation, Version::NatPmp));
                }
                Err(Failure::Client(error)) => return Err(error),
            };
            let mut answers = answers.into_iter();
            let (Some(answer), Some(address)) = (answers.next(), answers.next()) else {
                return Err(self.bad_answer(&operation, "no answer"));
            };
            self.set_version(Version::NatPmp);
            let reset = self.check_epoch(&answer);
            (answer, reset, Version::NatPmp, Some(address))
        } else {
            let (answer, reset, version) = self.perform(operation).await?;
            (answer, reset, version, None)
        };
        match &answer.response {
            AnyResponse::NatPmp(response) => {
                let natpmp::ResponseBody::Map(granted) = response.body else {
                    return Err(self.bad_answer(&operation, "no mapping in the answer"));
                };
                let (address_answer, reset_after) = match address {
                    Some(address) => {
                        let reset = self.check_epoch(&address);
                        (address, reset)
                    }
                    None => {
                        self.perform_in_checked(Operation::ExternalAddress, version)
                            .await?
                    }
                };
                let external_address = match address_answer.response {
                    AnyResponse::NatPmp(natpmp::Response {
                        body: natpmp::ResponseBody::ExternalAddress { external_address },
                        ..
                    }) => IpAddr::V4(external_address),
                    _ => return Err(self.bad_answer(&operation, "no external address")),
                };
                let mapping = Mapping {
                    protocol,
                    internal_port,
                    external_port: granted.external_port,
                    external_address,
                    lifetime: Duration::from_secs(granted.lifetime.into()),
                    epoch: response.epoch,
                    version: Version::NatPmp,
                    nonce: None,
                    epoch_reset: epoch_reset || reset_after,
                };
                Ok(if reset_after {
                    Err(mapping)
                } else {
                    Ok(mapping)
                })
            }
            AnyResponse::Pcp(_) => Ok(Ok(self.pcp_mapping(&operation, &answer, epoch_reset)?)),
        }
    }

    async fn perform_with_natpmp_fallback(&self, operation: Operation) -> Result<(), ClientError> {
        match self.perform(operation).await {
            Ok(_) => Ok(()),
            Err(ClientError::Refused {
                code: crate::AnyResultCode::Pcp(pcp::ResultCode::NotAuthorized),
                ..
            }) if self.config.version != VersionChoice::Pcp && self.natpmp_allowed() => {
                tracing::debug!(
                    "PCP refused the deletion without the mapping's nonce; trying NAT-PMP"
                );
                self.perform_in(operation, Version::NatPmp)
                    .await
                    .map(|_| ())
            }
            Err(other) => Err(other),
        }
    }

    /// Performs `operation` in the current version, negotiating when allowed.
    async fn perform(&self, operation: Operation) -> Result<(Answer, bool, Version), ClientError> {
        let known = self.version();
        let mut negotiator = match (self.config.version, known) {
            (_, Some(version)) => VersionNegotiator::starting_with(version),
            (_, None) => VersionNegotiator::new(),
        };
        loop {
            let version = negotiator.version();
            match self.exchange(operation, version).await {
                Ok(answer) => {
                    self.set_version(version);
                    let reset = self.check_epoch(&answer);
                    return Ok((answer, reset, version));
                }
                Err(Failure::Transaction(error)) => {
                    let decision = match error.answer() {
                        Some(answer) => negotiator.on_response(&answer.response),
                        None => Decision::GiveUp,
                    };
                    match decision {
                        Decision::Retry(next)
                            if self.config.version == VersionChoice::Auto
                                && (next == Version::Pcp || self.natpmp_allowed()) =>
                        {
                            tracing::debug!(from = %version, to = %next, "gateway asked for another version");
                        }
                        Decision::Retry(_) | Decision::GiveUp | Decision::Accept => {
                            return Err(self.translate(error, &operation, version));
                        }
                    }
                }
                Err(Failure::Client(error)) => return Err(error),
            }
        }
    }

    /// Performs `operation` in `version` only.
    async fn perform_in(
        &self,
        operation: Operation,
        version: Version,
    ) -> Result<Answer, ClientError> {
        self.perform_in_checked(operation, version)
            .await
            .map(|(answer, _)| answer)
    }

    async fn perform_in_checked(
        &self,
        operation: Operation,
        version: Version,
    ) -> Result<(Answer, bool), ClientError> {
        match self.exchange(operation, version).await {
            Ok(answer) => {
                let reset = self.check_epoch(&answer);
                Ok((answer, reset))
            }
            Err(Failure::Transaction(error)) => Err(self.translate(error, &operation, version)),
            Err(Failure::Client(error)) => Err(error),
        }
    }

    fn check_epoch(&self, answer: &Answer) -> bool {
        self.check_epoch_of(
            answer.response.version(),
            answer.received_at,
            answer.response.epoch(),
        )
    }

    /// Feeds an epoch the gateway sent at `received_at` to the version's tracker; true (and
    /// an [`Event::EpochReset`]) when it shows that the gateway lost its state.
    fn check_epoch_of(&self, version: Version, received_at: Instant, epoch: u32) -> bool {
        let check = match self.state.lock() {
            Ok(mut state) => {
                let tracker = match version {
                    Version::NatPmp => &mut state.natpmp_epoch,
                    Version::Pcp => &mut state.pcp_epoch,
                };
                tracker.check(received_at, epoch)
            }
            Err(_) => EpochCheck::First,
        };
        if let EpochCheck::Reset { previous, current } = check {
            tracing::info!(gateway = %self.gateway, %version, previous, current, "gateway lost its mapping state");
            let _ = self.events.send(Event::EpochReset {
                version,
                previous,
                current,
            });
            true
        } else {
            false
        }
    }

    fn request(&self, operation: Operation, version: Version) -> AnyRequest {
        match (operation, version) {
            (Operation::ExternalAddress, Version::NatPmp) => {
                natpmp::Request::ExternalAddress.into()
            }
            (
                Operation::Map {
                    protocol,
                    internal_port,
                    suggested_external_port,
                    lifetime,
                    ..
                },
                Version::NatPmp,
            ) => natpmp::Request::map(protocol, internal_port, suggested_external_port, lifetime)
                .into(),
            (Operation::ExternalAddress, Version::Pcp) => {
                // Map our own socket's port briefly; the answer carries the external address.
                let port = self.socket.local_addr().map(|a| a.port()).unwrap_or(0);
                let data = MapData::new(random_nonce(), Protocol::Udp, port, self.client_address);
                pcp::Request::map(self.client_address, data, 120).into()
            }
            (
                Operation::Map {
                    protocol,
                    internal_port,
                    suggested_external_port,
                    lifetime,
                    nonce,
                    third_party,
                },
                Version::Pcp,
            ) => {
                let mut data = MapData::new(nonce, protocol, internal_port, self.client_address);
                data.external_port = suggested_external_port;
                if internal_port == 0 {
                    // "All ports" is only meaningful with "all protocols" (RFC 6887 §11.1).
                    data.protocol = pcp::IpProtocol::All;
                }
                let request = pcp::Request::map(self.client_address, data, lifetime);
                match third_party {
                    Some(internal_address) => request
                        .with_option(pcp::PcpOption::ThirdParty { internal_address })
                        .into(),
                    None => request.into(),
                }
            }
            (Operation::Peer { data, lifetime }, _) => {
                pcp::Request::peer(self.client_address, data, lifetime).into()
            }
        }
    }

    /// One transaction: send, retransmit on schedule, validate answers.
    async fn exchange(&self, operation: Operation, version: Version) -> Result<Answer, Failure> {
        let mut answers = self.exchange_all(&[operation], version).await?;
        answers
            .pop()
            .ok_or_else(|| Failure::Client(self.bad_answer(&operation, "no answer")))
    }

    /// Several transactions at once on the socket (NAT-PMP's map and external address
    /// requests, which it answers with different opcodes): each is sent, retransmitted on its
    /// own schedule and validated; every answer is needed, so the first failure ends them
    /// all. A datagram answers at most one of them.
    async fn exchange_all(
        &self,
        operations: &[Operation],
        version: Version,
    ) -> Result<Vec<Answer>, Failure> {
        let _turn = self.exchange.lock().await;
        let started = Instant::now();
        let deadline = self.config.timeout.map(|t| started + t);
        let mut transactions = Vec::with_capacity(operations.len());
        for operation in operations {
            let schedule = match version {
                Version::NatPmp => self.config.natpmp_schedule.clone(),
                Version::Pcp => self
                    .config
                    .pcp_schedule
                    .clone()
                    .with_jitter(Schedule::PCP_RAND, u64::from_le_bytes(random_bytes::<8>())),
            };
            let transaction = Transaction::new(
                self.request(*operation, version),
                self.gateway,
                schedule,
                started,
            )
            .map_err(|e| Failure::Client(e.into()))?;
            transactions.push(transaction);
        }
        let mut answers: Vec<Option<Answer>> = operations.iter().map(|_| None).collect();
        let mut buffer = vec![0u8; 1500];
        // Datagrams from the gateway that could not be used: reported instead of a bare
        // "did not answer" if nothing usable ever comes.
        let mut unusable: Option<(u32, crate::IgnoreReason)> = None;
        let timed_out = |waited: Duration, attempts: u32, unusable| {
            Failure::Client(ClientError::TimedOut {
                gateway: self.gateway,
                waited,
                attempts,
                unusable,
            })
        };
        loop {
            let now = Instant::now();
            for (index, transaction) in transactions.iter_mut().enumerate() {
                if answers[index].is_some() {
                    continue;
                }
                while let Some(transmit) = transaction.poll_transmit(now) {
                    tracing::debug!(gateway = %self.gateway, attempt = transmit.attempt, %version, operation = %operations[index].describe(), "sending");
                    match self.socket.send(&transmit.contents).await {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                            transaction.handle_port_unreachable(Instant::now());
                        }
                        // The datagram is lost; the schedule sends it again.
                        Err(e) if is_transient(&e) => {
                            tracing::debug!(gateway = %self.gateway, error = %e, "send failed, will retry");
                        }
                        Err(e) => {
                            return Err(Failure::Client(io(format!(
                                "cannot send to gateway {}",
                                self.gateway
                            ))(e)));
                        }
                    }
                }
                match transaction.poll_outcome() {
                    None => {}
                    Some(Ok(answer)) => {
                        tracing::debug!(gateway = %self.gateway, %version, result = %answer.response.result(), epoch = answer.response.epoch(), "answer");
                        answers[index] = Some(answer);
                    }
                    Some(Err(TransactionError::TimedOut {
                        waited, attempts, ..
                    })) if unusable.is_some() => {
                        return Err(timed_out(waited, attempts, unusable));
                    }
                    Some(Err(error)) => return Err(Failure::Transaction(error)),
                }
            }
            if answers.iter().all(Option::is_some) {
                return Ok(answers.into_iter().flatten().collect());
            }
            let pending = || {
                transactions
                    .iter()
                    .zip(&answers)
                    .filter(|(_, answer)| answer.is_none())
                    .map(|(transaction, _)| transaction)
            };
            let next = pending().filter_map(Transaction::poll_timeout).min();
            let wake = match (next, deadline) {
                (Some(t), Some(d)) => t.min(d),
                (Some(t), None) => t,
                (None, Some(d)) => d,
                (None, None) => now + Duration::from_secs(1),
            };
            tokio::select! {
                received = self.socket.recv_from(&mut buffer) => match received {
                    Ok((length, source)) => {
                        let data = buffer.get(..length).unwrap_or(&[]);
                        let received_at = Instant::now();
                        let mut ignored = None;
                        for (transaction, _) in transactions
                            .iter_mut()
                            .zip(&answers)
                            .filter(|(_, answer)| answer.is_none())
                        {
                            match transaction.handle_datagram(received_at, source, data) {
                                crate::DatagramVerdict::Accepted => {
                                    ignored = None;
                                    break;
                                }
                                // Another transaction's answer is not unusable.
                                crate::DatagramVerdict::Ignored(
                                    crate::IgnoreReason::OpcodeMismatch,
                                ) if ignored.is_some() => {}
                                crate::DatagramVerdict::Ignored(reason) => ignored = Some(reason),
                            }
                        }
                        if ignored.is_some() && self.note_announce(data, received_at) {
                            ignored = None;
                        }
                        if let Some(reason) = ignored {
                            self.ignored.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%reason, %source, "ignored a datagram");
                            if !matches!(
                                reason,
                                crate::IgnoreReason::WrongSource | crate::IgnoreReason::AfterOutcome
                            ) {
                                let count = unusable.map_or(0, |(count, _)| count);
                                unusable = Some((count.saturating_add(1), reason));
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        for transaction in &mut transactions {
                            transaction.handle_port_unreachable(Instant::now());
                        }
                    }
                    Err(e) if is_transient(&e) => {
                        tracing::debug!(gateway = %self.gateway, error = %e, "receive failed, will retry");
                    }
                    Err(e) => {
                        return Err(Failure::Client(io(format!("cannot receive from gateway {}", self.gateway))(e)));
                    }
                },
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        let attempts = pending().map(Transaction::attempts).max().unwrap_or(0);
                        return Err(timed_out(
                            now.saturating_duration_since(started),
                            attempts,
                            unusable,
                        ));
                    }
                    for (transaction, _) in transactions
                        .iter_mut()
                        .zip(&answers)
                        .filter(|(_, answer)| answer.is_none())
                    {
                        transaction.handle_timeout(now);
                    }
                }
            }
        }
    }

    /// Checks the epoch of a PCP ANNOUNCE the gateway sent unsolicited to this socket (RFC
    /// 6887 §14.1.3: a server that restarted tells its clients); false for anything else.
    /// The socket is connected, so the datagram came from the gateway's port 5351.
    fn note_announce(&self, data: &[u8], received_at: Instant) -> bool {
        match crate::decode_any(data) {
            Ok(AnyResponse::Pcp(response))
                if matches!(response.data, pcp::ResponseData::Announce)
                    && response.result.is_success() =>
            {
                tracing::debug!(gateway = %self.gateway, epoch = response.epoch, "unsolicited ANNOUNCE");
                self.check_epoch_of(Version::Pcp, received_at, response.epoch);
                true
            }
            _ => false,
        }
    }

    fn translate(
        &self,
        error: TransactionError,
        operation: &Operation,
        version: Version,
    ) -> ClientError {
        match error {
            TransactionError::TimedOut {
                gateway,
                waited,
                attempts,
            } => ClientError::TimedOut {
                gateway,
                waited,
                attempts,
                unusable: None,
            },
            TransactionError::PortUnreachable { gateway, .. } => {
                ClientError::NotSupported { gateway }
            }
            TransactionError::Rejected {
                gateway, result, ..
            } => ClientError::Refused {
                gateway,
                operation: operation.describe(),
                code: result,
            },
            TransactionError::UnsupportedVersion { gateway, .. } => ClientError::VersionMismatch {
                gateway,
                requested: version,
            },
        }
    }

    fn bad_answer(&self, operation: &Operation, reason: &str) -> ClientError {
        ClientError::BadAnswer {
            gateway: self.gateway,
            operation: operation.describe(),
            reason: reason.into(),
        }
    }
}

enum Failure {
    Transaction(TransactionError),
    Client(ClientError),
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to time-derived bytes (nonces need uniqueness, not secrecy
        // against an on-path attacker, who sees them anyway).
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            .to_le_bytes();
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = seed[i % seed.len()] ^ (i as u8).wrapping_mul(0x9d);
        }
    }
    bytes
}

/// Errors a connected UDP socket reports for one lost exchange, not for a dead gateway: the
/// kernel could not resolve the gateway's link-layer address in time (ARP lost on a lossy
/// link), or a route flapped. Only "port unreachable" (connection refused) is final.
fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::WouldBlock
            | ErrorKind::Interrupted
    )
}

/// A requested lifetime in whole seconds for the wire: at least 1 (0 would delete).
fn lifetime_secs(lifetime: Duration) -> u32 {
    u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX).max(1)
}

fn is_link_local(address: Ipv6Addr) -> bool {
    (address.segments()[0] & 0xffc0) == 0xfe80
}

fn random_nonce() -> Nonce {
    Nonce::new(random_bytes::<12>())
}
