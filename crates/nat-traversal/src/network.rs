//! [`NetworkPath`]: the interface, local address and gateway a [`Nat`](crate::Nat) works
//! on, and [`PassedOver`]: the other paths of a host with several (two uplinks, a VPN), each
//! with why it was not taken.

use std::fmt;
use std::net::IpAddr;

/// The network path a [`Nat`](crate::Nat) works on: the path the kernel picks for internet
/// traffic (or the one asked for with
/// [`NatOptions::with_interface`](crate::NatOptions::with_interface) or
/// [`with_gateway`](crate::NatOptions::with_gateway)). Every request goes to its gateway,
/// and every mapping is made for its local address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct NetworkPath {
    /// The interface toward the gateway, when the system tells it.
    pub interface: Option<String>,
    /// This host's address on that interface: the internal address of every mapping.
    pub local_address: IpAddr,
    /// The gateway: the router asked for mappings.
    pub gateway: IpAddr,
}

impl fmt::Display for NetworkPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.interface {
            Some(interface) => write!(
                f,
                "{interface}: {} via gateway {}",
                self.local_address, self.gateway
            ),
            None => write!(f, "{} via gateway {}", self.local_address, self.gateway),
        }
    }
}

/// A path of this host that a [`Nat`](crate::Nat) did not take (another default route, a
/// VPN tunnel), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PassedOver {
    /// Its interface.
    pub interface: String,
    /// This host's address on it, when it has one of the family.
    pub local_address: Option<IpAddr>,
    /// Its gateway; `None` for a tunnel or an on-link route.
    pub gateway: Option<IpAddr>,
    /// Why it was not taken.
    pub why: WhyNot,
}

impl fmt::Display for PassedOver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.interface)?;
        if let Some(address) = self.local_address {
            write!(f, ": {address}")?;
        }
        if let Some(gateway) = self.gateway {
            write!(f, " via gateway {gateway}")?;
        }
        write!(f, " ({})", self.why)
    }
}

/// Why a path was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WhyNot {
    /// Its default route has a higher metric: the kernel sends internet traffic elsewhere.
    HigherMetric {
        /// Its route's metric.
        metric: Option<u32>,
        /// The metric of the route taken.
        taken: Option<u32>,
    },
    /// The kernel does not pick it for internet traffic (a route that only covers some
    /// prefixes, such as a split-tunnel VPN's).
    NotTheInternetRoute,
    /// Internet traffic leaves through this tunnel, where no router can be asked for a
    /// mapping (see [`Error::TrafficThroughTunnel`](crate::Error::TrafficThroughTunnel)).
    Tunnel,
    /// Internet traffic leaves through the tunnel named: a mapping at this path's router
    /// could not carry replies.
    TrafficLeavesThrough {
        /// The tunnel interface.
        tunnel: String,
    },
    /// Another interface was asked for.
    NotAsked {
        /// The interface asked for.
        asked: String,
    },
}

impl fmt::Display for WhyNot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WhyNot::HigherMetric {
                metric: Some(metric),
                taken: Some(taken),
            } => write!(
                f,
                "its default route's metric {metric} is higher than the {taken} of the path taken"
            ),
            WhyNot::HigherMetric { .. } => {
                f.write_str("its default route is not the one the kernel prefers")
            }
            WhyNot::NotTheInternetRoute => {
                f.write_str("the kernel does not send internet traffic through it")
            }
            WhyNot::Tunnel => f.write_str(
                "a VPN tunnel carrying the internet traffic: no router to ask through it",
            ),
            WhyNot::TrafficLeavesThrough { tunnel } => write!(
                f,
                "internet traffic leaves through {tunnel}: a mapping here could not carry replies"
            ),
            WhyNot::NotAsked { asked } => write!(f, "the interface {asked} was asked for"),
        }
    }
}
