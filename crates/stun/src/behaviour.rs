//! NAT behaviour as RFC 5780 §4 names it: [`MappingBehaviour`] and
//! [`FilteringBehaviour`], and how the test results decide them.

use std::fmt;
use std::net::SocketAddr;

/// How a NAT chooses the external address and port of a mapping (RFC 4787 §4.1,
/// RFC 5780 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum MappingBehaviour {
    /// One mapping for an internal address and port, whatever the destination: peers can
    /// reach an address learnt through STUN, and hole punching works.
    EndpointIndependent,
    /// A new mapping for each destination IP address.
    AddressDependent,
    /// A new mapping for each destination IP address and port (a "symmetric" NAT):
    /// an address learnt through STUN is of no use to another peer.
    AddressAndPortDependent,
}

/// Which inbound packets a NAT lets through an existing mapping (RFC 4787 §5,
/// RFC 5780 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FilteringBehaviour {
    /// From anyone: the mapping is open to the whole internet while it lasts.
    EndpointIndependent,
    /// From an IP address the host has sent to.
    AddressDependent,
    /// From an IP address and port the host has sent to.
    AddressAndPortDependent,
}

impl MappingBehaviour {
    /// The RFC's term, lowercase: `endpoint-independent`, `address-dependent`,
    /// `address-and-port-dependent`.
    pub fn as_str(self) -> &'static str {
        match self {
            MappingBehaviour::EndpointIndependent => "endpoint-independent",
            MappingBehaviour::AddressDependent => "address-dependent",
            MappingBehaviour::AddressAndPortDependent => "address-and-port-dependent",
        }
    }

    /// Decides from the mapped addresses of RFC 5780's tests I (the server's primary
    /// address), II (its other IP, primary port) and III (other IP, other port).
    ///
    /// ```
    /// use stun::MappingBehaviour;
    ///
    /// let a = "44.0.0.1:4000".parse()?;
    /// let b = "44.0.0.1:4001".parse()?;
    /// let c = "44.0.0.1:4002".parse()?;
    /// assert_eq!(MappingBehaviour::decide(a, a, None), MappingBehaviour::EndpointIndependent);
    /// assert_eq!(MappingBehaviour::decide(a, b, Some(b)), MappingBehaviour::AddressDependent);
    /// assert_eq!(MappingBehaviour::decide(a, b, Some(c)), MappingBehaviour::AddressAndPortDependent);
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn decide(
        test1: SocketAddr,
        test2: SocketAddr,
        test3: Option<SocketAddr>,
    ) -> MappingBehaviour {
        if test1 == test2 {
            MappingBehaviour::EndpointIndependent
        } else if test3 == Some(test2) {
            MappingBehaviour::AddressDependent
        } else {
            MappingBehaviour::AddressAndPortDependent
        }
    }
}

impl FilteringBehaviour {
    /// The RFC's term, lowercase, as for [`MappingBehaviour::as_str`].
    pub fn as_str(self) -> &'static str {
        match self {
            FilteringBehaviour::EndpointIndependent => "endpoint-independent",
            FilteringBehaviour::AddressDependent => "address-dependent",
            FilteringBehaviour::AddressAndPortDependent => "address-and-port-dependent",
        }
    }

    /// Decides from whether the answers of RFC 5780's filtering tests II (from the
    /// server's other IP and port) and III (from its other port) arrived.
    pub fn decide(other_ip_and_port_arrived: bool, other_port_arrived: bool) -> Self {
        match (other_ip_and_port_arrived, other_port_arrived) {
            (true, _) => FilteringBehaviour::EndpointIndependent,
            (false, true) => FilteringBehaviour::AddressDependent,
            (false, false) => FilteringBehaviour::AddressAndPortDependent,
        }
    }
}

impl fmt::Display for MappingBehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for FilteringBehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtering_follows_the_rfc_table() {
        use FilteringBehaviour::*;
        assert_eq!(FilteringBehaviour::decide(true, false), EndpointIndependent);
        assert_eq!(FilteringBehaviour::decide(true, true), EndpointIndependent);
        assert_eq!(FilteringBehaviour::decide(false, true), AddressDependent);
        assert_eq!(
            FilteringBehaviour::decide(false, false),
            AddressAndPortDependent
        );
        assert_eq!(
            AddressAndPortDependent.to_string(),
            "address-and-port-dependent"
        );
    }
}
