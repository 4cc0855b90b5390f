//! The [`NatTechnique`] trait and the types it speaks: [`Technique`], [`Protocol`],
//! [`MapRequest`] and [`Mapping`].

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;

/// A way of asking a gateway for a port mapping.
///
/// The order of the variants is the default preference: PCP, then NAT-PMP, then UPnP IGD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Technique {
    /// The Port Control Protocol (RFC 6887).
    Pcp,
    /// NAT Port Mapping Protocol (RFC 6886).
    NatPmp,
    /// UPnP Internet Gateway Device (WANIPConnection / WANPPPConnection).
    Upnp,
}

impl Technique {
    /// Every technique, in the default order of preference.
    pub const ALL: [Technique; 3] = [Technique::Pcp, Technique::NatPmp, Technique::Upnp];

    /// A short lowercase name: `pcp`, `nat-pmp`, `upnp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Technique::Pcp => "pcp",
            Technique::NatPmp => "nat-pmp",
            Technique::Upnp => "upnp",
        }
    }
}

impl fmt::Display for Technique {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Technique::Pcp => "PCP",
            Technique::NatPmp => "NAT-PMP",
            Technique::Upnp => "UPnP IGD",
        })
    }
}

/// A name that is not a technique.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown technique {0:?} (expected pcp, nat-pmp or upnp)")]
pub struct UnknownTechnique(pub String);

impl FromStr for Technique {
    type Err = UnknownTechnique;

    /// Accepts `pcp`, `nat-pmp` (or `natpmp`, `pmp`) and `upnp` (or `igd`, `upnp-igd`), in any
    /// case.
    fn from_str(name: &str) -> Result<Technique, UnknownTechnique> {
        match name.to_ascii_lowercase().as_str() {
            "pcp" => Ok(Technique::Pcp),
            "nat-pmp" | "natpmp" | "pmp" => Ok(Technique::NatPmp),
            "upnp" | "igd" | "upnp-igd" => Ok(Technique::Upnp),
            _ => Err(UnknownTechnique(name.to_owned())),
        }
    }
}

/// A transport protocol to map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        })
    }
}

#[cfg(feature = "pcp")]
impl From<Protocol> for natpmp_proto::Protocol {
    fn from(protocol: Protocol) -> natpmp_proto::Protocol {
        match protocol {
            Protocol::Tcp => natpmp_proto::Protocol::Tcp,
            Protocol::Udp => natpmp_proto::Protocol::Udp,
        }
    }
}

#[cfg(feature = "upnp")]
impl From<Protocol> for upnp_soap::igd::Protocol {
    fn from(protocol: Protocol) -> upnp_soap::igd::Protocol {
        match protocol {
            Protocol::Tcp => upnp_soap::igd::Protocol::Tcp,
            Protocol::Udp => upnp_soap::igd::Protocol::Udp,
        }
    }
}

/// What to map: a port on this host, the external port wanted, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRequest {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port on this host.
    pub internal_port: u16,
    /// The external port wanted; 0 lets the gateway choose. A gateway may grant another.
    pub external_port: u16,
    /// How long the gateway should keep the mapping unless refreshed.
    pub lifetime: Duration,
    /// Open an IPv6 pinhole for this host's global IPv6 address instead of mapping an IPv4
    /// port: the gateway lets connections from the internet through its firewall to
    /// `[global address]:internal_port` (there is no translation; the external port is the
    /// internal one). [`Nat::map`](crate::Nat::map) and
    /// [`Nat::persistent`](crate::Nat::persistent) hand such a request to
    /// [`Nat::ipv6`](crate::Nat::ipv6). Default: false.
    pub ipv6: bool,
}

impl MapRequest {
    /// The lifetime asked for unless told otherwise: two hours, as RFC 6886 recommends.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(7200);

    /// Maps `internal_port`, asking for the same external port, for
    /// [`DEFAULT_LIFETIME`](Self::DEFAULT_LIFETIME).
    pub fn new(protocol: Protocol, internal_port: u16) -> MapRequest {
        MapRequest {
            protocol,
            internal_port,
            external_port: internal_port,
            lifetime: MapRequest::DEFAULT_LIFETIME,
            ipv6: false,
        }
    }

    /// Sets [`ipv6`](Self::ipv6): a pinhole for this host's global IPv6 address.
    pub fn ipv6(mut self, ipv6: bool) -> MapRequest {
        self.ipv6 = ipv6;
        self
    }

    /// Asks for `external_port` instead (0: any).
    pub fn external_port(mut self, external_port: u16) -> MapRequest {
        self.external_port = external_port;
        self
    }

    /// Asks for `lifetime` instead.
    pub fn lifetime(mut self, lifetime: Duration) -> MapRequest {
        self.lifetime = lifetime;
        self
    }

    /// "TCP port 8080", for messages.
    pub(crate) fn describe(&self) -> String {
        format!("{} port {}", self.protocol, self.internal_port)
    }
}

/// A mapping a gateway granted.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// another LAN host, taken only when allowed ([`NatOptions::allow_other_igd`](crate::NatOptions::allow_other_igd)).
    pub on_default_gateway: bool,
    /// The PCP mapping nonce, which only the nonce's owner may refresh or delete with.
    #[cfg(feature = "pcp")]
    pub(crate) pcp_nonce: Option<natpmp_proto::Nonce>,
}

impl Mapping {
    /// A mapping as a technique outside this crate reports it.
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
        }
    }
}

/// What a technique found when asked to delete a mapping it was not holding (by port, or
/// every mapping of a protocol): see [`NatTechnique::unmap_port`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unmapped {
    /// It deleted the mapping (or `count` mappings, when it can count them).
    Removed {
        /// How many it deleted, when the technique can tell.
        count: Option<usize>,
    },
    /// There was nothing to delete.
    NotThere,
    /// The gateway accepted the deletion but its answer does not say whether there was
    /// anything to delete (NAT-PMP).
    Unverifiable,
    /// A mapping exists that this technique may not delete: another technique or program
    /// made it (a PCP gateway lets only the nonce that made a mapping delete it).
    HeldElsewhere {
        /// What the gateway said.
        reason: String,
    },
    /// The gateway refuses this kind of deletion (e.g. PCP's delete-all on miniupnpd).
    Refused {
        /// What the gateway said.
        reason: String,
    },
}

impl fmt::Display for Unmapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unmapped::Removed { count: Some(1) } => f.write_str("removed 1 mapping"),
            Unmapped::Removed { count: Some(n) } => write!(f, "removed {n} mappings"),
            Unmapped::Removed { count: None } => f.write_str("removed"),
            Unmapped::NotThere => f.write_str("nothing to remove"),
            Unmapped::Unverifiable => f.write_str("done (it cannot say whether there was one)"),
            Unmapped::HeldElsewhere { reason } => {
                write!(f, "a mapping exists that it may not delete ({reason})")
            }
            Unmapped::Refused { reason } => write!(f, "refused ({reason})"),
        }
    }
}

/// A mapping as a gateway lists it (UPnP IGD's table), whoever made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedMapping {
    /// The technique that listed it.
    pub technique: Technique,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The public side: the gateway's external address (when known) and port.
    pub external_address: Option<IpAddr>,
    /// The external port.
    pub external_port: u16,
    /// The LAN host, as the gateway wrote it (an address, normally).
    pub internal_client: String,
    /// The port on that host.
    pub internal_port: u16,
    /// The description it was made with.
    pub description: String,
    /// The remaining lease; zero for a permanent mapping.
    pub lifetime: Duration,
    /// Whether the gateway has it enabled.
    pub enabled: bool,
    /// The only remote host allowed through it, empty for any.
    pub remote_host: String,
    /// Whether the device that listed it is the default gateway.
    pub on_default_gateway: bool,
}

/// One way of mapping ports at one gateway: PCP, NAT-PMP or UPnP IGD.
///
/// [`PmpTechnique`](crate::PmpTechnique) and [`UpnpTechnique`](crate::UpnpTechnique) are the
/// built-in ones; [`Nat::with_techniques`](crate::Nat::with_techniques) takes others (a
/// fake for tests, a technique of your own). Implementations are shared by every mapping at
/// their gateway, so they must be cheap to call concurrently, and each operation must end
/// (answer or fail) in bounded time: persistent mappings add no timeout of their own, since
/// the operations of many mappings may queue on one client. A failure that means the
/// technique is gone should be one for which [`Error::is_unreachable`](crate::Error::is_unreachable)
/// holds (e.g. [`Error::OperationTimedOut`](crate::Error::OperationTimedOut)); other errors
/// are retried with backoff.
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

    /// Deletes this host's mapping of `internal_port`, made by anyone, as far as this
    /// technique can: `natctl unmap` from another process than the one that mapped. The
    /// default says the technique cannot.
    async fn unmap_port(&self, protocol: Protocol, internal_port: u16) -> Result<Unmapped> {
        let _ = (protocol, internal_port);
        Err(crate::Error::Unsupported {
            technique: self.kind(),
            what: "delete a mapping by port".into(),
        })
    }

    /// Deletes every mapping of `protocol` to this host that this technique can reach. The
    /// default says the technique cannot.
    async fn unmap_all(&self, protocol: Protocol) -> Result<Unmapped> {
        let _ = protocol;
        Err(crate::Error::Unsupported {
            technique: self.kind(),
            what: "delete all of a host's mappings".into(),
        })
    }

    /// The gateway's mappings, every host's. The default says the technique cannot list
    /// (NAT-PMP and PCP have no such request).
    async fn list(&self) -> Result<Vec<ListedMapping>> {
        Err(crate::Error::Unsupported {
            technique: self.kind(),
            what: "list mappings (the protocol has no such request)".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn technique_names_round_trip() {
        for technique in Technique::ALL {
            assert_eq!(technique.as_str().parse::<Technique>(), Ok(technique));
        }
        assert_eq!("PMP".parse::<Technique>(), Ok(Technique::NatPmp));
        assert!("smtp".parse::<Technique>().is_err());
        assert_eq!(Technique::NatPmp.to_string(), "NAT-PMP");
    }

    #[test]
    fn default_preference_is_the_variant_order() {
        let mut shuffled = [Technique::Upnp, Technique::Pcp, Technique::NatPmp];
        shuffled.sort();
        assert_eq!(shuffled, Technique::ALL);
    }

    #[test]
    fn map_request_asks_for_the_same_port_by_default() {
        let request = MapRequest::new(Protocol::Udp, 9000);
        assert_eq!(request.external_port, 9000);
        assert_eq!(request.lifetime, MapRequest::DEFAULT_LIFETIME);
        let request = request.external_port(0).lifetime(Duration::from_secs(60));
        assert_eq!(
            (request.external_port, request.lifetime),
            (0, Duration::from_secs(60))
        );
    }
}
