//! [`PortAssignment`] and [`PortAssignments`]: the addresses where a socket can be reached,
//! public (through a technique) and local (its own interfaces).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;

use crate::technique::Technique;

/// One address where a socket can be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortAssignment {
    /// The address and port.
    pub address: SocketAddr,
    /// The technique that made it reachable there; `None` for a local address.
    pub technique: Option<Technique>,
    /// Whether a reachability check saw a datagram from the internet arrive through it
    /// (see `Nat::check_udp_socket`, feature `stun`);
    /// `false` until one did.
    pub verified: bool,
}

impl PortAssignment {
    /// Whether this is a public assignment (made through a technique).
    pub fn is_public(&self) -> bool {
        self.technique.is_some()
    }

    /// This assignment, marked as verified from outside (or not).
    pub fn with_verified(mut self, verified: bool) -> PortAssignment {
        self.verified = verified;
        self
    }

    /// For a public assignment, whether the internet can really reach it (a gateway behind
    /// double NAT or carrier-grade NAT maps ports nobody outside can use); `None` for a
    /// local one.
    pub fn reachability(&self) -> Option<crate::reach::Reachability> {
        self.technique
            .map(|_| crate::reach::Reachability::of(self.address.ip()))
    }
}

impl fmt::Display for PortAssignment {
    /// `44.0.0.1:8080 via PCP`, `44.0.0.1:8080 via PCP (verified from outside)` or
    /// `192.168.1.5:8080 (local)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.technique {
            Some(technique) => write!(f, "{} via {technique}", self.address)?,
            None => write!(f, "{} (local)", self.address)?,
        }
        if self.verified {
            f.write_str(" (verified from outside)")?;
        }
        Ok(())
    }
}

/// The set of addresses where a socket can be reached: public ones first, then local ones,
/// each group sorted, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PortAssignments(Vec<PortAssignment>);

impl PortAssignments {
    /// The empty set (what a stopped mapping publishes).
    pub fn new() -> PortAssignments {
        PortAssignments(Vec::new())
    }

    /// The local assignments of a socket bound to `bound`, given this host's interface
    /// addresses: every address of the same family for an IPv4 wildcard, every address for
    /// an IPv6 wildcard (dual-stack sockets accept both), else `bound` itself.
    pub fn local(bound: SocketAddr, interface_addresses: &[IpAddr]) -> PortAssignments {
        let port = bound.port();
        let addresses: Vec<IpAddr> = match bound.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => interface_addresses
                .iter()
                .copied()
                .filter(IpAddr::is_ipv4)
                .collect(),
            IpAddr::V6(ip) if ip.is_unspecified() => interface_addresses.to_vec(),
            ip => vec![ip],
        };
        addresses
            .into_iter()
            .map(|ip| PortAssignment {
                address: SocketAddr::new(ip, port),
                technique: None,
                verified: false,
            })
            .collect()
    }

    /// This set with `public` added.
    pub fn with(mut self, public: PortAssignment) -> PortAssignments {
        self.0.push(public);
        self.normalise();
        self
    }

    fn normalise(&mut self) {
        // Public first: `None` sorts before `Some`, so sort on "is local".
        self.0
            .sort_by_key(|a| (a.technique.is_none(), a.technique, a.address));
        self.0.dedup();
    }

    /// Both sets in one (a dual-stack socket's IPv4 mapping and IPv6 pinhole).
    pub fn union(&self, other: &PortAssignments) -> PortAssignments {
        let mut both = PortAssignments(self.0.iter().chain(other.0.iter()).cloned().collect());
        both.normalise();
        both
    }

    /// The public assignments.
    pub fn public(&self) -> impl Iterator<Item = &PortAssignment> {
        self.0.iter().filter(|a| a.is_public())
    }

    /// The local assignments.
    pub fn local_only(&self) -> impl Iterator<Item = &PortAssignment> {
        self.0.iter().filter(|a| !a.is_public())
    }

    /// The first public address, if there is one.
    pub fn public_address(&self) -> Option<SocketAddr> {
        self.public().next().map(|a| a.address)
    }

    /// The assignments as a vector.
    pub fn into_vec(self) -> Vec<PortAssignment> {
        self.0
    }
}

impl Deref for PortAssignments {
    type Target = [PortAssignment];

    fn deref(&self) -> &[PortAssignment] {
        &self.0
    }
}

impl FromIterator<PortAssignment> for PortAssignments {
    fn from_iter<I: IntoIterator<Item = PortAssignment>>(iter: I) -> PortAssignments {
        let mut set = PortAssignments(iter.into_iter().collect());
        set.normalise();
        set
    }
}

impl<'a> IntoIterator for &'a PortAssignments {
    type Item = &'a PortAssignment;
    type IntoIter = std::slice::Iter<'a, PortAssignment>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for PortAssignments {
    type Item = PortAssignment;
    type IntoIter = std::vec::IntoIter<PortAssignment>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for PortAssignments {
    /// The assignments separated by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, assignment) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{assignment}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn a_wildcard_expands_to_every_interface_address_of_its_family() {
        let interfaces = [ip("127.0.0.1"), ip("192.168.1.5"), ip("fe80::1")];
        let v4 = PortAssignments::local("0.0.0.0:8080".parse().unwrap(), &interfaces);
        assert_eq!(
            v4.to_string(),
            "127.0.0.1:8080 (local), 192.168.1.5:8080 (local)"
        );
        let v6 = PortAssignments::local("[::]:8080".parse().unwrap(), &interfaces);
        assert_eq!(v6.len(), 3);
        let one = PortAssignments::local("192.168.1.5:80".parse().unwrap(), &interfaces);
        assert_eq!(one.to_string(), "192.168.1.5:80 (local)");
    }

    #[test]
    fn public_assignments_come_first() {
        let set = PortAssignments::local("0.0.0.0:8080".parse().unwrap(), &[ip("10.0.0.2")]).with(
            PortAssignment {
                address: "44.0.0.1:8080".parse().unwrap(),
                technique: Some(Technique::NatPmp),
                verified: false,
            },
        );
        assert_eq!(
            set.to_string(),
            "44.0.0.1:8080 via NAT-PMP, 10.0.0.2:8080 (local)"
        );
        assert_eq!(set.public_address(), "44.0.0.1:8080".parse().ok());
        assert_eq!(set.local_only().count(), 1);
    }
}
