//! [`Verdict`]: the one-line answer of a reachability check, and the rules that derive it
//! and the double-NAT flag from what the router said and what the STUN server saw.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use stun::MappingBehaviour;

use crate::reach::Reachability;
use crate::technique::{Protocol, Technique};

/// The answer of a reachability check, in one line (its `Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// A port mapping was made and is reachable at `address`.
    Reachable {
        /// The public address and port.
        address: SocketAddr,
        /// TCP or UDP.
        protocol: Protocol,
        /// The technique that made the mapping.
        technique: Technique,
        /// Whether the outside confirmed it: for UDP, a datagram from an address the
        /// socket never sent to arrived through it; for TCP, the STUN server saw the
        /// mapping's address.
        seen_from_outside: bool,
    },
    /// (No port asked.) The router maps ports, at an address the internet reaches.
    MappingPossible {
        /// The technique.
        technique: Technique,
        /// The router's external address.
        address: IpAddr,
        /// Whether the STUN server saw the same address.
        seen_from_outside: bool,
    },
    /// Another NAT sits beyond the router: mappings at the router cannot be reached.
    BehindSecondNat {
        /// The router's external address, when it said (or its refusal did).
        router_address: Option<IpAddr>,
        /// The address the internet sees, when a STUN server answered.
        seen: Option<IpAddr>,
    },
    /// No NAT at all: the host's own address is what the internet sees.
    NoNat {
        /// The address.
        address: IpAddr,
    },
    /// No port mapping; whether peers can still reach the host by hole punching, from the
    /// NAT's mapping behaviour.
    HolePunching {
        /// The NAT's mapping behaviour.
        mapping: MappingBehaviour,
    },
    /// Nothing can be said (no technique and no STUN answer, or no STUN server named).
    Unknown {
        /// Why, in a few words.
        reason: String,
    },
}

impl Verdict {
    /// Whether the check found the host (or the asked port) reachable from the internet
    /// without hole punching.
    pub fn is_reachable(&self) -> bool {
        matches!(
            self,
            Verdict::Reachable { .. } | Verdict::MappingPossible { .. } | Verdict::NoNat { .. }
        )
    }
}

impl fmt::Display for Verdict {
    /// The one-line verdict: `reachable at 44.0.0.1:8080 (TCP via PCP, seen from
    /// outside)`, `behind a second NAT at 100.64.1.2: mappings at your router cannot be
    /// reached`, `no mapping possible; UDP hole punching works: endpoint-independent
    /// mapping`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outside = |seen: bool| {
            if seen {
                "seen from outside"
            } else {
                "not confirmed from outside"
            }
        };
        match self {
            Verdict::Reachable {
                address,
                protocol,
                technique,
                seen_from_outside,
            } => write!(
                f,
                "reachable at {address} ({protocol} via {technique}, {})",
                outside(*seen_from_outside)
            ),
            Verdict::MappingPossible {
                technique,
                address,
                seen_from_outside,
            } => write!(
                f,
                "port mapping available at {address} via {technique} ({})",
                outside(*seen_from_outside)
            ),
            Verdict::BehindSecondNat {
                router_address: Some(router),
                ..
            } => write!(
                f,
                "behind a second NAT at {router}: mappings at your router cannot be reached"
            ),
            Verdict::BehindSecondNat {
                router_address: None,
                seen,
            } => {
                f.write_str("behind a second NAT")?;
                if let Some(seen) = seen {
                    write!(f, " (the internet sees {seen})")?;
                }
                f.write_str(": mappings at your router cannot be reached")
            }
            Verdict::NoNat { address } => {
                write!(
                    f,
                    "no NAT: the internet sees this host's own address {address}"
                )
            }
            Verdict::HolePunching {
                mapping: mapping @ MappingBehaviour::EndpointIndependent,
            } => write!(
                f,
                "no mapping possible; UDP hole punching works: {mapping} mapping"
            ),
            Verdict::HolePunching { mapping } => write!(
                f,
                "no mapping possible; UDP hole punching unlikely: {mapping} mapping"
            ),
            Verdict::Unknown { reason } => f.write_str(reason),
        }
    }
}

/// What a check learnt, before judging.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// The technique in use and the external address it reported.
    pub(crate) router: Option<(Technique, IpAddr)>,
    /// An external address a refusal carried (a gateway behind another NAT).
    pub(crate) refused_at: Option<IpAddr>,
    /// A technique answered but gave no usable address or refused to map (NAT-PMP's
    /// network failure, an empty UPnP address): what miniupnpd does behind another NAT.
    pub(crate) answered_without_address: bool,
    /// The port mapping made for the check.
    pub(crate) port_mapping: Option<(Protocol, Technique, SocketAddr)>,
    /// A port mapping was asked for and refused by a gateway that answered.
    pub(crate) port_refused: bool,
    /// What the STUN server saw.
    pub(crate) seen: Option<SocketAddr>,
    /// This host's address toward the gateway.
    pub(crate) local: Option<IpAddr>,
    /// Whether STUN was asked at all.
    pub(crate) stun_named: bool,
    pub(crate) mapping_behaviour: Option<MappingBehaviour>,
    pub(crate) unsolicited_arrived: Option<bool>,
    /// The address of the hop after the router, when probed.
    pub(crate) hop: Option<IpAddr>,
}

impl Facts {
    /// The router's external address as far as it told: its report, or its refusal's.
    pub(crate) fn router_address(&self) -> Option<IpAddr> {
        self.router.map(|(_, ip)| ip).or(self.refused_at)
    }

    /// Whether there is a NAT beyond the router: the router's address is not public, or
    /// is not what the internet sees, or the router spoke but would not give a public
    /// address while the internet sees one.
    pub(crate) fn double_nat(&self) -> bool {
        let seen = self.seen.map(|s| s.ip());
        let private_hop = self.hop.is_some_and(|h| !Reachability::of(h).is_public());
        if let Some(router) = self.router_address() {
            if !Reachability::of(router).is_public() {
                return true;
            }
            // A router that learnt its public address by STUN itself (miniupnpd's
            // ext_perform_stun) reports the outer NAT's address, and refuses to map.
            if self.port_refused && private_hop {
                return true;
            }
            if let Some(seen) = seen.filter(|s| s.is_ipv4() == router.is_ipv4()) {
                return seen != router;
            }
            return false;
        }
        let seen_public = seen.is_some_and(|s| Reachability::of(s).is_public());
        (self.answered_without_address || private_hop) && seen_public && seen != self.local
    }

    pub(crate) fn verdict(&self) -> Verdict {
        let seen = self.seen.map(|s| s.ip());
        if self.double_nat() {
            return Verdict::BehindSecondNat {
                router_address: self.router_address(),
                seen,
            };
        }
        if let Some((protocol, technique, address)) = self.port_mapping {
            let seen_from_outside = seen == Some(address.ip())
                && (protocol == Protocol::Tcp || self.unsolicited_arrived == Some(true));
            return Verdict::Reachable {
                address,
                protocol,
                technique,
                seen_from_outside,
            };
        }
        if let (Some((technique, address)), false) = (self.router, self.port_refused) {
            return Verdict::MappingPossible {
                technique,
                address,
                seen_from_outside: seen == Some(address),
            };
        }
        match (seen, self.mapping_behaviour) {
            (Some(seen), _) if Some(seen) == self.local => Verdict::NoNat { address: seen },
            (Some(_), Some(mapping)) => Verdict::HolePunching { mapping },
            (Some(seen), None) if self.port_refused => Verdict::Unknown {
                reason: format!(
                    "the router refused the mapping; the internet sees {seen} (NAT behaviour \
                     unknown)"
                ),
            },
            (Some(seen), None) => Verdict::Unknown {
                reason: format!(
                    "no mapping possible; the internet sees {seen} (NAT behaviour unknown: \
                     the STUN server does not do RFC 5780)"
                ),
            },
            (None, _) if self.stun_named => Verdict::Unknown {
                reason: "no mapping possible and no STUN server answered".into(),
            },
            (None, _) => Verdict::Unknown {
                reason: "no mapping possible; name a STUN server to see from outside".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }
    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn the_issues_three_lines() {
        let reachable = Facts {
            router: Some((Technique::Pcp, ip("44.0.0.1"))),
            port_mapping: Some((Protocol::Tcp, Technique::Pcp, sa("44.0.0.1:8080"))),
            seen: Some(sa("44.0.0.1:8080")),
            stun_named: true,
            ..Facts::default()
        };
        assert!(!reachable.double_nat());
        assert_eq!(
            reachable.verdict().to_string(),
            "reachable at 44.0.0.1:8080 (TCP via PCP, seen from outside)"
        );
        let behind = Facts {
            refused_at: Some(ip("100.64.1.2")),
            answered_without_address: true,
            seen: Some(sa("44.0.0.1:40000")),
            stun_named: true,
            ..Facts::default()
        };
        assert!(behind.double_nat());
        assert_eq!(
            behind.verdict().to_string(),
            "behind a second NAT at 100.64.1.2: mappings at your router cannot be reached"
        );
        let punching = Facts {
            seen: Some(sa("44.0.0.1:40000")),
            local: Some(ip("192.168.77.10")),
            mapping_behaviour: Some(MappingBehaviour::EndpointIndependent),
            stun_named: true,
            ..Facts::default()
        };
        assert!(!punching.double_nat());
        assert_eq!(
            punching.verdict().to_string(),
            "no mapping possible; UDP hole punching works: endpoint-independent mapping"
        );
    }

    #[test]
    fn double_nat_is_told_every_way() {
        // The router reports a public address the internet does not see.
        let other_public = Facts {
            router: Some((Technique::Upnp, ip("44.0.0.9"))),
            seen: Some(sa("44.0.0.1:1")),
            ..Facts::default()
        };
        assert!(other_public.double_nat());
        // The router reports a private address: no STUN needed.
        let private = Facts {
            router: Some((Technique::NatPmp, ip("10.0.0.2"))),
            ..Facts::default()
        };
        assert!(private.double_nat());
        assert_eq!(
            private.verdict(),
            Verdict::BehindSecondNat {
                router_address: Some(ip("10.0.0.2")),
                seen: None
            }
        );
        // A router that answers without an address, and a public address seen outside.
        let silent_router = Facts {
            answered_without_address: true,
            seen: Some(sa("44.0.0.1:1")),
            local: Some(ip("192.168.77.10")),
            ..Facts::default()
        };
        assert!(silent_router.double_nat());
        // No technique, but the hop after the router is a carrier-grade NAT's.
        let cgn_hop = Facts {
            hop: Some(ip("100.64.0.1")),
            seen: Some(sa("44.0.0.1:1")),
            local: Some(ip("192.168.77.10")),
            ..Facts::default()
        };
        assert!(cgn_hop.double_nat());
        // A public hop after the router: no claim.
        let public_hop = Facts {
            hop: Some(ip("44.0.0.2")),
            ..cgn_hop
        };
        assert!(!public_hop.double_nat());
        // A router that reports the public address (it asked STUN itself) but refuses to
        // map, with a carrier-grade NAT's hop after it.
        let stun_router = Facts {
            router: Some((Technique::Pcp, ip("44.0.0.1"))),
            port_refused: true,
            hop: Some(ip("100.64.0.1")),
            seen: Some(sa("44.0.0.1:1")),
            ..Facts::default()
        };
        assert!(stun_router.double_nat());
        // The same refusal with a public hop: a refusal, not a second NAT.
        let refusing = Facts {
            hop: Some(ip("44.0.0.2")),
            mapping_behaviour: Some(MappingBehaviour::EndpointIndependent),
            ..stun_router
        };
        assert!(!refusing.double_nat());
        assert!(matches!(refusing.verdict(), Verdict::HolePunching { .. }));
        // Nothing known: no claim.
        assert!(!Facts::default().double_nat());
    }

    #[test]
    fn udp_needs_the_unsolicited_datagram_to_count_as_seen() {
        let mut facts = Facts {
            router: Some((Technique::Pcp, ip("44.0.0.1"))),
            port_mapping: Some((Protocol::Udp, Technique::Pcp, sa("44.0.0.1:9000"))),
            seen: Some(sa("44.0.0.1:9000")),
            unsolicited_arrived: Some(false),
            ..Facts::default()
        };
        assert_eq!(
            facts.verdict().to_string(),
            "reachable at 44.0.0.1:9000 (UDP via PCP, not confirmed from outside)"
        );
        facts.unsolicited_arrived = Some(true);
        assert!(facts.verdict().to_string().ends_with("seen from outside)"));
        assert!(facts.verdict().is_reachable());
    }

    #[test]
    fn no_nat_and_unknowns() {
        let open = Facts {
            seen: Some(sa("44.0.0.5:1")),
            local: Some(ip("44.0.0.5")),
            ..Facts::default()
        };
        assert_eq!(
            open.verdict(),
            Verdict::NoNat {
                address: ip("44.0.0.5")
            }
        );
        let nothing = Facts::default();
        assert!(nothing.verdict().to_string().contains("name a STUN server"));
        let unanswered = Facts {
            stun_named: true,
            ..Facts::default()
        };
        assert!(
            unanswered
                .verdict()
                .to_string()
                .contains("no STUN server answered")
        );
    }
}
