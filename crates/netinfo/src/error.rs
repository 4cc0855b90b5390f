//! The crate's error type: one variant per way of failing to learn something about the
//! local network.

use std::io;
use std::net::IpAddr;

use crate::route::Family;

/// Shorthand for results whose error is this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while reading the routing table or the interfaces.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call that reads the routing table failed (`sysctl` on macOS and the BSDs,
    /// `GetIpForwardTable2` on Windows).
    #[error("cannot read the routing table with {call}: {source}")]
    RouteTableCall {
        /// The call that failed, e.g. `sysctl NET_RT_FLAGS`.
        call: &'static str,
        /// The system's error.
        #[source]
        source: io::Error,
    },

    /// A message of the routing table dump of macOS or a BSD (`sysctl NET_RT_FLAGS`) did
    /// not have the layout the system's headers document.
    #[error("malformed routing message at byte {offset} of the route dump: {reason}")]
    MalformedRouteDump {
        /// Where the message starts in the dump.
        offset: usize,
        /// What was wrong with it.
        reason: String,
    },

    /// A NETLINK_ROUTE request of Linux or Android failed: the socket could not be opened,
    /// the kernel refused the request, or its answer did not come in time.
    #[error("cannot {request} through netlink: {source}")]
    Netlink {
        /// What was asked, e.g. `look up the route toward 1.1.1.1`.
        request: String,
        /// The system's error, or the kernel's answer as an errno.
        #[source]
        source: io::Error,
    },

    /// A message of the kernel's NETLINK_ROUTE answer did not have the layout of
    /// `<linux/netlink.h>` and `<linux/rtnetlink.h>`.
    #[error("malformed netlink message at byte {offset} of the answer: {reason}")]
    MalformedNetlink {
        /// Where the message starts in the datagram.
        offset: usize,
        /// What was wrong with it: too short, or which field or attribute is malformed.
        reason: String,
    },

    /// The name of an interface a route goes out of could not be looked up
    /// (`if_indextoname`), for instance because it vanished in the meantime.
    #[error("cannot get the name of interface {index}: {source}")]
    InterfaceName {
        /// The interface's index.
        index: u32,
        /// Why the lookup failed.
        #[source]
        source: io::Error,
    },

    /// The routing table has no usable default route (destination 0/0, up, via a gateway).
    #[error("no default gateway found for {family}")]
    NoDefaultGateway {
        /// The address family whose table was searched.
        family: Family,
    },

    /// The operating system refused to list the network interfaces (`getifaddrs`, or
    /// `GetAdaptersAddresses` on Windows).
    #[error("cannot list network interfaces: {0}")]
    ListInterfaces(#[source] io::Error),

    /// The index of a listed interface could not be looked up (`if_nametoindex`), for
    /// instance because it vanished in the meantime.
    #[error("cannot get the index of interface {name}: {source}")]
    InterfaceIndex {
        /// The interface's name.
        name: String,
        /// Why the lookup failed.
        #[source]
        source: io::Error,
    },

    /// No source address toward the gateway could be found: binding, connecting or reading
    /// back the address of the probing UDP socket failed (for instance no route to it, or an
    /// IPv6 link-local gateway given without the scope id of its interface).
    #[error("cannot find the local address toward {gateway}: {source}")]
    LocalAddress {
        /// The address the socket was connected toward.
        gateway: IpAddr,
        /// Why the socket operation failed.
        #[source]
        source: io::Error,
    },

    /// A link-local IPv6 gateway (`fe80::/10`) is meaningless without an interface, and it is
    /// not the next hop of the IPv6 default route, whose interface would be the one.
    #[error(
        "link-local gateway {gateway} is not the ipv6 default route's next hop: no interface to reach it by"
    )]
    NoInterfaceToward {
        /// The link-local address asked about.
        gateway: std::net::Ipv6Addr,
    },

    /// The interface toward an IPv6 gateway has no usable global address (public or unique
    /// local), only link-local ones: nothing a peer beyond the link could reach.
    #[error("interface {interface} toward {gateway} has no global ipv6 address")]
    NoGlobalIpv6Address {
        /// The gateway asked about.
        gateway: IpAddr,
        /// The interface's name (or `#index` if it vanished meanwhile).
        interface: String,
    },

    /// The kernel has no route toward the destination, or only one that drops its packets
    /// (blackhole, unreachable, prohibit).
    #[error("no route to {destination}")]
    NoRoute {
        /// The destination asked about.
        destination: IpAddr,
    },

    /// Watching for changes of the routes, addresses or links failed: the socket or the
    /// notification could not be set up, or reading it failed.
    #[error("cannot watch for network changes with {call}: {source}")]
    Monitor {
        /// The call that failed, e.g. `NotifyRouteChange2`.
        call: &'static str,
        /// The system's error.
        #[source]
        source: io::Error,
    },

    /// The operation has no implementation on this operating system.
    #[error("{operation} is not supported on this platform")]
    Unsupported {
        /// What was attempted, e.g. "reading the default gateway".
        operation: &'static str,
    },
}

impl Error {
    /// True when the host has no way to the destination or the internet:
    /// [`Error::NoRoute`] or [`Error::NoDefaultGateway`]. A machine offline is not a bug.
    pub fn is_no_route(&self) -> bool {
        matches!(self, Error::NoRoute { .. } | Error::NoDefaultGateway { .. })
    }
}
