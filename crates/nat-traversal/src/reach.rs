//! [`Reachability`]: whether a gateway's external address can be reached from the internet
//! at all, or whether another NAT (double NAT, carrier-grade NAT) sits in front of it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// What a gateway's external address says about reaching a mapping from the internet.
///
/// A mapping is only as reachable as the gateway's external address: behind a second
/// router (double NAT) or a carrier-grade NAT, every technique can succeed while nothing
/// on the internet can connect. Every output that shows a public address should show this
/// too.
///
/// ```
/// use nat_traversal::Reachability;
///
/// assert_eq!(Reachability::of("44.0.0.1".parse()?), Reachability::Public);
/// assert_eq!(Reachability::of("10.0.0.2".parse()?), Reachability::DoubleNat);
/// assert_eq!(Reachability::of("100.64.3.4".parse()?), Reachability::CarrierGradeNat);
/// assert_eq!(Reachability::of("0.0.0.0".parse()?), Reachability::Unusable);
/// assert!(Reachability::of("10.0.0.2".parse()?).to_string().contains("double NAT"));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reachability {
    /// A public address: the internet can reach the mapping (firewalls aside).
    Public,
    /// A private address (RFC 1918, unique local): another router sits between this gateway
    /// and the internet, so the mapping ends there.
    DoubleNat,
    /// An address of the shared space `100.64.0.0/10` (RFC 6598): the provider's
    /// carrier-grade NAT sits in front, so the mapping ends there.
    CarrierGradeNat,
    /// Not an address anyone can connect to (unspecified, loopback, link-local, multicast):
    /// the gateway has no working WAN connection.
    Unusable,
}

impl Reachability {
    /// Classifies a gateway's external address.
    pub fn of(address: IpAddr) -> Reachability {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
            v4 => v4,
        };
        if netinfo::is_public(address) {
            return Reachability::Public;
        }
        match address {
            IpAddr::V4(v4) if is_shared(v4) => Reachability::CarrierGradeNat,
            IpAddr::V4(v4) if v4.is_private() => Reachability::DoubleNat,
            IpAddr::V6(v6) if (v6.segments()[0] & 0xfe00) == 0xfc00 => Reachability::DoubleNat,
            _ => Reachability::Unusable,
        }
    }

    /// Whether the internet can reach a mapping on this address.
    pub fn is_public(self) -> bool {
        self == Reachability::Public
    }

    /// A short lowercase name: `public`, `double-nat`, `cgnat`, `unusable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reachability::Public => "public",
            Reachability::DoubleNat => "double-nat",
            Reachability::CarrierGradeNat => "cgnat",
            Reachability::Unusable => "unusable",
        }
    }
}

fn is_shared(address: Ipv4Addr) -> bool {
    let [a, b, ..] = address.octets();
    a == 100 && (b & 0xc0) == 64
}

impl fmt::Display for Reachability {
    /// Why a mapping on such an address can or cannot be reached.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reachability::Public => "reachable from the internet",
            Reachability::DoubleNat => {
                "not reachable from the internet: double NAT (the gateway's external address \
                 is private, so another router sits in front of it)"
            }
            Reachability::CarrierGradeNat => {
                "not reachable from the internet: carrier-grade NAT (the gateway's external \
                 address is in 100.64.0.0/10, behind the provider's NAT)"
            }
            Reachability::Unusable => {
                "not reachable from the internet: the gateway's external address is not a \
                 usable one (it has no working WAN connection)"
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_kind_of_external_address() {
        let cases = [
            ("44.0.0.1", Reachability::Public),
            ("192.168.1.2", Reachability::DoubleNat),
            ("172.20.0.1", Reachability::DoubleNat),
            ("100.64.0.1", Reachability::CarrierGradeNat),
            ("100.127.255.254", Reachability::CarrierGradeNat),
            ("100.128.0.1", Reachability::Public),
            ("0.0.0.0", Reachability::Unusable),
            ("127.0.0.1", Reachability::Unusable),
            ("169.254.1.1", Reachability::Unusable),
            ("224.0.0.1", Reachability::Unusable),
            ("::ffff:10.0.0.2", Reachability::DoubleNat),
            ("fd00::1", Reachability::DoubleNat),
            ("fe80::1", Reachability::Unusable),
            ("2001:db8::1", Reachability::Public),
        ];
        for (address, expected) in cases {
            let address: IpAddr = address.parse().expect("a test address");
            assert_eq!(Reachability::of(address), expected, "{address}");
        }
    }
}
