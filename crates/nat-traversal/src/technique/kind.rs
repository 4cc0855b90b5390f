//! [`Technique`], the kind of a technique (PCP, NAT-PMP, UPnP IGD, or one of your own), and
//! [`Protocol`].

use std::fmt;
use std::str::FromStr;

/// The kind of a way of asking a gateway for port mappings.
///
/// The order of the variants is the default preference: PCP, then NAT-PMP, then UPnP IGD,
/// then techniques of your own ([`Technique::Other`], named by their implementation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Technique {
    /// The Port Control Protocol (RFC 6887).
    Pcp,
    /// NAT Port Mapping Protocol (RFC 6886).
    NatPmp,
    /// UPnP Internet Gateway Device (WANIPConnection / WANPPPConnection, and
    /// WANIPv6FirewallControl for IPv6 pinholes).
    Upnp,
    /// A technique of your own, given to [`Nat::with_techniques`](crate::Nat::with_techniques);
    /// the name is what reports and messages show.
    Other(&'static str),
}

impl Technique {
    /// The built-in techniques, in the default order of preference.
    pub const ALL: [Technique; 3] = [Technique::Pcp, Technique::NatPmp, Technique::Upnp];

    /// The built-in techniques this build has (the `pcp` and `upnp` features), in the
    /// default order of preference.
    pub fn built_in() -> Vec<Technique> {
        Technique::ALL
            .into_iter()
            .filter(|kind| match kind {
                Technique::Pcp | Technique::NatPmp => cfg!(feature = "pcp"),
                Technique::Upnp => cfg!(feature = "upnp"),
                Technique::Other(_) => false,
            })
            .collect()
    }

    /// A short lowercase name: `pcp`, `nat-pmp`, `upnp`, or the name of your own.
    pub fn as_str(self) -> &'static str {
        match self {
            Technique::Pcp => "pcp",
            Technique::NatPmp => "nat-pmp",
            Technique::Upnp => "upnp",
            Technique::Other(name) => name,
        }
    }

    /// Whether it can tell, when asked to delete a mapping by port, whether there was one
    /// (NAT-PMP's answer cannot; techniques of your own are assumed to).
    pub fn can_verify_deletion(self) -> bool {
        self != Technique::NatPmp
    }

    /// Whether it speaks IPv6 (NAT-PMP is IPv4 only).
    pub fn speaks_ipv6(self) -> bool {
        self != Technique::NatPmp
    }
}

impl fmt::Display for Technique {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Technique::Pcp => "PCP",
            Technique::NatPmp => "NAT-PMP",
            Technique::Upnp => "UPnP IGD",
            Technique::Other(name) => name,
        })
    }
}

/// A name that is not a built-in technique.
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

impl Protocol {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
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
        assert_eq!(Technique::Other("relay").to_string(), "relay");
    }

    #[test]
    fn default_preference_is_the_variant_order() {
        let mut shuffled = [
            Technique::Other("mine"),
            Technique::Upnp,
            Technique::Pcp,
            Technique::NatPmp,
        ];
        shuffled.sort();
        assert_eq!(shuffled[..3], Technique::ALL);
        assert_eq!(shuffled[3], Technique::Other("mine"));
    }
}
