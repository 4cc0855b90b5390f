//! The vocabulary every technique speaks: the [`NatTechnique`] trait, its [`Technique`]
//! kind, [`Protocol`], [`MapRequest`], what a gateway grants ([`Mapping`]), lists
//! ([`TableEntry`]) or answers to a deletion ([`Unmapped`]), and the events a technique
//! reports ([`TechniqueEvent`], in `technique/events.rs`).

mod events;
mod kind;
mod request;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};

pub use events::{EventSender, TechniqueEvent, TechniqueEvents};
pub use kind::{Protocol, Technique, UnknownTechnique};
pub use request::MapRequest;

/// A mapping a gateway granted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mapping {
    /// The technique that made it.
    pub technique: Technique,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port on this host.
    pub internal_port: u16,
    /// The public side: the gateway's external address and the granted port.
    pub external: SocketAddr,
    /// How long the gateway keeps it unless refreshed; zero for a mapping without lease
    /// (a UPnP gateway that only grants permanent ones).
    pub lifetime: Duration,
    /// This answer showed that the gateway had lost its state (NAT-PMP/PCP epoch went
    /// back): every other mapping held there must be made again.
    pub epoch_reset: bool,
    /// Whether the device that granted it is the default gateway; `false` for an IGD on
    /// another LAN host, taken only when allowed
    /// ([`NatOptions::with_allow_other_igd`](crate::NatOptions::with_allow_other_igd)).
    pub on_default_gateway: bool,
    /// The PCP mapping nonce, which only the nonce's owner may refresh or delete with.
    #[cfg(feature = "pcp")]
    pub(crate) pcp_nonce: Option<natpmp_proto::Nonce>,
    /// The id a UPnP IPv6 pinhole is deleted by (`WANIPv6FirewallControl` deletes by id
    /// only), kept in the pinhole record for other processes.
    pub(crate) pinhole_id: Option<u16>,
}

impl Mapping {
    /// A mapping as a technique reports it: on the default gateway, no epoch reset.
    pub fn new(
        technique: Technique,
        protocol: Protocol,
        internal_port: u16,
        external: SocketAddr,
        lifetime: Duration,
    ) -> Mapping {
        Mapping {
            technique,
            protocol,
            internal_port,
            external,
            lifetime,
            epoch_reset: false,
            on_default_gateway: true,
            #[cfg(feature = "pcp")]
            pcp_nonce: None,
            pinhole_id: None,
        }
    }

    /// Marks the answer as showing a gateway restart (see [`epoch_reset`](Self::epoch_reset)).
    pub fn with_epoch_reset(mut self, reset: bool) -> Mapping {
        self.epoch_reset = reset;
        self
    }

    /// Marks the device that granted it as the default gateway or not.
    pub fn with_on_default_gateway(mut self, on_default_gateway: bool) -> Mapping {
        self.on_default_gateway = on_default_gateway;
        self
    }
}

/// What a technique found when asked to delete a mapping it was not holding (by port, or
/// every mapping of a protocol): see [`NatTechnique::unmap_port`]. Each says only what the
/// gateway's answer says, for any server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Unmapped {
    /// It deleted the mapping (or `count` mappings, when it can count them): the gateway's
    /// answer says there was something to delete.
    Removed {
        /// How many it deleted, when the technique can tell.
        count: Option<usize>,
    },
    /// There was nothing to delete, as the gateway's answer says (UPnP's 714, or a table
    /// without the mapping).
    NotThere,
    /// The gateway accepted the deletion, but its answer is the same whether or not there
    /// was a mapping (NAT-PMP's answer; PCP's SUCCESS, which RFC 6887 gives either way).
    CannotTell,
    /// The gateway refused the deletion; the error names the protocol's result code.
    Refused {
        /// What the gateway answered.
        error: Error,
    },
}

impl Unmapped {
    /// Whether the answer says what was there (removed it, or nothing to remove).
    pub fn is_verified(&self) -> bool {
        matches!(self, Unmapped::Removed { .. } | Unmapped::NotThere)
    }
}

impl fmt::Display for Unmapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unmapped::Removed { count: Some(1) } => f.write_str("removed 1 mapping"),
            Unmapped::Removed { count: Some(n) } => write!(f, "removed {n} mappings"),
            Unmapped::Removed { count: None } => f.write_str("removed"),
            Unmapped::NotThere => f.write_str("nothing to remove"),
            Unmapped::CannotTell => {
                f.write_str("done, but its answer cannot tell whether there was a mapping")
            }
            Unmapped::Refused { error } => write!(f, "refused: {error}"),
        }
    }
}

/// A host as a gateway's table names it: an address, or (rarely, on sloppy routers) a name
/// or other text that is not one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TableHost {
    /// An address.
    Address(IpAddr),
    /// Text that is not an address, as the gateway wrote it.
    Other(String),
}

impl TableHost {
    /// Reads what a gateway wrote: an address when it is one.
    pub fn parse(text: &str) -> TableHost {
        match text.trim().parse() {
            Ok(address) => TableHost::Address(address),
            Err(_) => TableHost::Other(text.to_owned()),
        }
    }

    /// The address, when it is one.
    pub fn address(&self) -> Option<IpAddr> {
        match self {
            TableHost::Address(address) => Some(*address),
            TableHost::Other(_) => None,
        }
    }
}

impl fmt::Display for TableHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableHost::Address(address) => address.fmt(f),
            TableHost::Other(text) => f.write_str(text),
        }
    }
}

/// One row of a gateway's mapping table (UPnP IGD's), whoever made it. A technique of your
/// own that can list builds these itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableEntry {
    /// The technique that listed it.
    pub technique: Technique,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The gateway's external address, when known.
    pub external_address: Option<IpAddr>,
    /// The external port.
    pub external_port: u16,
    /// The LAN host it forwards to.
    pub internal_client: TableHost,
    /// The port on that host.
    pub internal_port: u16,
    /// The description it was made with.
    pub description: String,
    /// The remaining lease; zero for a permanent mapping.
    pub lifetime: Duration,
    /// Whether the gateway has it enabled.
    pub enabled: bool,
    /// The only remote host allowed through it; `None` for any.
    pub remote_host: Option<TableHost>,
    /// Whether the device that listed it is the default gateway.
    pub on_default_gateway: bool,
}

impl TableEntry {
    /// The public side, when the external address is known.
    pub fn public_address(&self) -> Option<SocketAddr> {
        self.external_address
            .map(|ip| SocketAddr::new(ip, self.external_port))
    }

    /// The LAN side, when the internal client is an address.
    pub fn internal_address(&self) -> Option<SocketAddr> {
        self.internal_client
            .address()
            .map(|ip| SocketAddr::new(ip, self.internal_port))
    }
}

/// One way of mapping ports at one gateway: PCP, NAT-PMP, UPnP IGD, or one of your own.
///
/// [`PmpTechnique`](crate::PmpTechnique) and [`UpnpTechnique`](crate::UpnpTechnique) are the
/// built-in ones; [`Nat::with_techniques`](crate::Nat::with_techniques) takes any others (a
/// relay, a cloud firewall API, a fake for tests), probed, preferred, watched and used
/// exactly like the built-in ones. Implementations are shared by every mapping at their
/// gateway, so they must be cheap to call concurrently, and each operation must end
/// (answer or fail) in bounded time: persistent mappings add no timeout of their own, since
/// the operations of many mappings may queue on one client.
///
/// A failure that means the technique is gone should be one for which
/// [`Error::is_unreachable`] holds (e.g. [`Error::OperationTimedOut`]); other errors are
/// retried with backoff. What happens at the gateway between operations (a restart, a new
/// external address) is told through [`events`](Self::events).
#[async_trait]
pub trait NatTechnique: Send + Sync + fmt::Debug {
    /// Which technique this is (used for preference and in reports).
    fn kind(&self) -> Technique;

    /// The gateway this technique talks to.
    fn gateway(&self) -> IpAddr;

    /// Whether the device this technique talks to is the default gateway (the router);
    /// `false` only for a UPnP IGD on another LAN host, which is used only when allowed.
    fn on_default_gateway(&self) -> bool {
        true
    }

    /// What this technique notices at its gateway from now on: restarts, a new external
    /// address, its own end. Called while persistent mappings exist (by the one watcher of a
    /// [`Nat`](crate::Nat)), on its tokio runtime; dropping the stream must stop whatever it
    /// listens with. The default notices nothing: the technique's restarts are then seen
    /// only through [`Mapping::epoch_reset`] and failed refreshes.
    fn events(&self) -> TechniqueEvents {
        TechniqueEvents::none()
    }

    /// The gateway's external address. Probing calls this to see whether the technique
    /// answers.
    async fn external_address(&self) -> Result<IpAddr>;

    /// Asks for a mapping.
    async fn map(&self, request: &MapRequest) -> Result<Mapping>;

    /// Renews `mapping` for `lifetime`, asking for the same external port. The answer may
    /// carry another port or address (the gateway restarted, its address changed).
    async fn refresh(&self, mapping: &Mapping, lifetime: Duration) -> Result<Mapping>;

    /// Deletes `mapping` at the gateway.
    async fn unmap(&self, mapping: &Mapping) -> Result<()>;

    /// Deletes `mapping`, which was made for `former`, an address this host no longer has
    /// (it was renumbered), from the address it has now. Only a gateway that lets one LAN
    /// host delete another's mappings allows it (PCP's THIRD_PARTY option, a UPnP IGD
    /// outside its secure mode); others refuse, and the mapping stays until its lease ends.
    /// Nothing is deleted that the gateway does not show as `former`'s. The default says the
    /// technique cannot.
    async fn unmap_former(&self, mapping: &Mapping, former: IpAddr) -> Result<()> {
        let _ = (mapping, former);
        Err(Error::Unsupported {
            technique: self.kind(),
            what: "delete a mapping made for an address this host no longer has".into(),
        })
    }

    /// Deletes this host's mapping of `internal_port`, made by anyone, as far as this
    /// technique can: `natctl unmap` from another process than the one that mapped. The
    /// default says the technique cannot.
    async fn unmap_port(&self, protocol: Protocol, internal_port: u16) -> Result<Unmapped> {
        let _ = (protocol, internal_port);
        Err(Error::Unsupported {
            technique: self.kind(),
            what: "delete a mapping by port".into(),
        })
    }

    /// Deletes every mapping of `protocol` to this host that this technique can reach. The
    /// default says the technique cannot.
    async fn unmap_all(&self, protocol: Protocol) -> Result<Unmapped> {
        let _ = protocol;
        Err(Error::Unsupported {
            technique: self.kind(),
            what: "delete all of a host's mappings".into(),
        })
    }

    /// The gateway's mapping table, every host's. The default says the technique cannot
    /// list (NAT-PMP and PCP have no such request).
    async fn list(&self) -> Result<Vec<TableEntry>> {
        Err(Error::Unsupported {
            technique: self.kind(),
            what: "list mappings (the protocol has no such request)".into(),
        })
    }
}
