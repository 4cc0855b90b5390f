//! [`Client`]: NAT-PMP and PCP requests over a tokio UDP socket, for one gateway.
//!
//! The client is a thin shell: [`socket`](super::socket) opens the connected socket,
//! [`exchange`](super::exchange) drives the sans-IO [`Demultiplexer`](crate::Demultiplexer)
//! and [`Transaction`](crate::Transaction)s with it, and
//! [`operations`](super::operations) turns the answers into [`Mapping`]s and addresses. This
//! file holds the client's state: the version in use, the epoch trackers (a restarted
//! gateway is reported as an [`Event`]), and the count of ignored datagrams.
//!
//! Over IPv6 only PCP is spoken (NAT-PMP is IPv4 only). The socket is bound to this host's
//! *global* address toward the gateway, not the kernel's link-local choice toward a
//! link-local router: a PCP MAP's internal address is the request's source, and a pinhole
//! for a link-local address would let nothing in. A link-local gateway is reached through
//! its interface (the scope id). A PCP server's unsolicited ANNOUNCE sent to the client's
//! own port (RFC 6887 §14.1.3) is read during the next exchange and its epoch checked.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::broadcast;

use super::config::{ClientConfig, VersionChoice};
use super::error::{ClientError, io};
use super::socket::ConnectedSocket;
use crate::pcp::PeerData;
use crate::{Answer, EpochCheck, EpochTracker, Nonce, Protocol, TransactionError, Version};

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
    pub(super) gateway: SocketAddr,
    pub(super) socket: UdpSocket,
    pub(super) client_address: IpAddr,
    pub(super) config: ClientConfig,
    state: Mutex<State>,
    pub(super) exchange: tokio::sync::Mutex<()>,
    pub(super) ignored: AtomicU64,
    pub(super) events: broadcast::Sender<Event>,
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
pub(super) enum Operation {
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
    pub(super) fn describe(&self) -> String {
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
        let ConnectedSocket {
            gateway: server,
            socket,
            client_address,
        } = ConnectedSocket::open(gateway, &config).await?;
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

    pub(super) fn set_version(&self, version: Version) {
        if let Ok(mut state) = self.state.lock() {
            state.version = Some(version);
        }
    }

    pub(super) fn check_epoch(&self, answer: &Answer) -> bool {
        self.check_epoch_of(
            answer.response.version(),
            answer.received_at,
            answer.response.epoch(),
        )
    }

    /// Feeds an epoch the gateway sent at `received_at` to the version's tracker; true (and
    /// an [`Event::EpochReset`]) when it shows that the gateway lost its state.
    pub(super) fn check_epoch_of(
        &self,
        version: Version,
        received_at: Instant,
        epoch: u32,
    ) -> bool {
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
}

/// Why an exchange failed: the transaction's own error (which the operation may still act
/// on, e.g. by negotiating another version) or a client error.
pub(super) enum Failure {
    /// The transaction ended without success.
    Transaction(TransactionError),
    /// The exchange failed around the transaction.
    Client(ClientError),
}

/// `N` random bytes from the OS, or time-derived bytes when it has none.
pub(super) fn random_bytes<const N: usize>() -> [u8; N] {
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

/// A requested lifetime in whole seconds for the wire: at least 1 (0 would delete).
pub(super) fn lifetime_secs(lifetime: Duration) -> u32 {
    u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX).max(1)
}

/// A fresh PCP mapping nonce.
pub(super) fn random_nonce() -> Nonce {
    Nonce::new(random_bytes::<12>())
}
