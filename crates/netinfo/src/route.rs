//! The default route: its types and the public functions that read it, dispatching to the
//! platform module (Linux and Android, macOS/iOS and the BSDs but DragonFly, Windows; elsewhere they
//! return [`Error::Unsupported`](crate::Error::Unsupported)).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::Result;
use crate::platform;

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// The route a packet to an address with no more specific route takes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DefaultRoute {
    /// The next hop: the router to send through. For IPv6 this is often a link-local
    /// address (`fe80::/10`), only meaningful together with [`interface`](Self::interface).
    pub gateway: IpAddr,
    /// The name of the interface the route goes out of, e.g. `eth0`.
    pub interface: String,
    /// The route's metric; where there are several default routes the lowest wins.
    pub metric: u32,
}

/// The IPv4 default route: gateway, interface and metric.
///
/// On Linux and Android this is the route the kernel picks toward a public address (so a
/// more specific route or a policy rule that would carry internet traffic counts), read
/// over netlink in the calling thread's network namespace; elsewhere the usable default
/// route of the system's table with the lowest metric.
///
/// # Errors
/// [`Error::NoDefaultGateway`](crate::Error::NoDefaultGateway) when the table has no usable
/// default route (or, on Linux and Android, the route the kernel picks has no gateway);
/// [`Error::Netlink`](crate::Error::Netlink) or
/// [`Error::MalformedNetlink`](crate::Error::MalformedNetlink) when the kernel's
/// netlink answer fails or is malformed (Linux, Android);
/// [`Error::RouteTableCall`](crate::Error::RouteTableCall) or
/// [`Error::MalformedRouteDump`](crate::Error::MalformedRouteDump) when the system's table
/// cannot be read (macOS, the BSDs, Windows).
pub fn default_route() -> Result<DefaultRoute> {
    platform::default_route(Family::V4)
}

/// The IPv6 default route: gateway, interface and metric.
///
/// # Errors
/// As for [`default_route`], from the IPv6 table.
pub fn default_route_v6() -> Result<DefaultRoute> {
    platform::default_route(Family::V6)
}

/// The IPv4 address of the default gateway, the router that NAT-PMP, PCP and UPnP talk to.
///
/// # Errors
/// As for [`default_route`].
pub fn default_gateway() -> Result<Ipv4Addr> {
    match default_route()?.gateway {
        IpAddr::V4(gateway) => Ok(gateway),
        // The IPv4 table only yields IPv4 gateways.
        IpAddr::V6(_) => Err(crate::Error::NoDefaultGateway { family: Family::V4 }),
    }
}

/// The IPv6 address of the default gateway, often link-local (see [`DefaultRoute::gateway`]).
///
/// # Errors
/// As for [`default_route_v6`].
pub fn default_gateway_v6() -> Result<Ipv6Addr> {
    match default_route_v6()?.gateway {
        IpAddr::V6(gateway) => Ok(gateway),
        IpAddr::V4(_) => Err(crate::Error::NoDefaultGateway { family: Family::V6 }),
    }
}
