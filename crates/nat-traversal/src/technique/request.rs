//! [`MapRequest`]: what to map, for how long, and on which family.

use std::time::Duration;

use super::Protocol;

/// What to map: a port on this host, the external port wanted, and for how long.
///
/// ```
/// use std::time::Duration;
/// use nat_traversal::{MapRequest, Protocol};
///
/// let request = MapRequest::new(Protocol::Udp, 9000).with_lifetime(Duration::from_secs(600));
/// assert_eq!(request.external_port(), 9000); // the same port unless told otherwise
/// assert_eq!(request.lifetime(), Duration::from_secs(600));
/// assert!(!request.is_ipv6());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MapRequest {
    protocol: Protocol,
    internal_port: u16,
    external_port: u16,
    lifetime: Duration,
    ipv6: bool,
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

    /// Opens an IPv6 pinhole for this host's global IPv6 address instead of mapping an IPv4
    /// port: the gateway lets connections from the internet through its firewall to
    /// `[global address]:internal_port` (there is no translation; the external port is the
    /// internal one). [`Nat::map`](crate::Nat::map) and
    /// [`Nat::persistent`](crate::Nat::persistent) hand such a request to
    /// [`Nat::ipv6`](crate::Nat::ipv6).
    pub fn with_ipv6(mut self, ipv6: bool) -> MapRequest {
        self.ipv6 = ipv6;
        self
    }

    /// Asks for `external_port` instead (0: any; a gateway may grant another).
    pub fn with_external_port(mut self, external_port: u16) -> MapRequest {
        self.external_port = external_port;
        self
    }

    /// Asks for `lifetime` instead: how long the gateway should keep the mapping unless
    /// refreshed.
    pub fn with_lifetime(mut self, lifetime: Duration) -> MapRequest {
        self.lifetime = lifetime;
        self
    }

    /// TCP or UDP.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The port on this host.
    pub fn internal_port(&self) -> u16 {
        self.internal_port
    }

    /// The external port asked for; 0 lets the gateway choose.
    pub fn external_port(&self) -> u16 {
        self.external_port
    }

    /// The lifetime asked for.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Whether this asks for an IPv6 pinhole (see [`with_ipv6`](Self::with_ipv6)).
    pub fn is_ipv6(&self) -> bool {
        self.ipv6
    }

    /// "TCP port 8080", for messages.
    pub(crate) fn describe(&self) -> String {
        format!("{} port {}", self.protocol, self.internal_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_request_asks_for_the_same_port_by_default() {
        let request = MapRequest::new(Protocol::Udp, 9000);
        assert_eq!(request.external_port(), 9000);
        assert_eq!(request.lifetime(), MapRequest::DEFAULT_LIFETIME);
        let request = request
            .with_external_port(0)
            .with_lifetime(Duration::from_secs(60));
        assert_eq!(
            (request.external_port(), request.lifetime()),
            (0, Duration::from_secs(60))
        );
    }
}
