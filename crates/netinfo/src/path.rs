//! The path the kernel picks toward a destination, and the other ways out it knows:
//! [`Path`], [`LinkKind`], [`route_to`], [`internet_path`], [`default_paths`], dispatching
//! to the platform module (Linux and Android; macOS, iOS and the BSDs; Windows; elsewhere
//! [`Error::Unsupported`](crate::Error::Unsupported)).
//!
//! None of these sends a packet: each is a question to the kernel's routing tables.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::Result;
use crate::platform;
use crate::route::Family;

/// What an interface is, as far as choosing a path for port mappings goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum LinkKind {
    /// A physical Ethernet or Wi-Fi link (or a VLAN or bond over one).
    Ethernet,
    /// The loopback interface.
    Loopback,
    /// A layer-3 tunnel, the interface of a VPN: WireGuard, tun (and tap), IP-in-IP, GRE,
    /// SIT, PPP, or any point-to-point link.
    Tunnel,
    /// A software bridge (`docker0`, `virbr0`, `br0`).
    Bridge,
    /// Another virtual device: veth (a container's own `eth0` is usually one end of a veth
    /// pair), dummy, macvlan, ipvlan, VXLAN, VRF.
    Virtual,
    /// Anything else, or unknown.
    Other,
}

impl LinkKind {
    /// The kind of a Linux link from its `RTM_NEWLINK`: the `ARPHRD_*` hardware type, the
    /// `IFF_*` flags and the `IFLA_INFO_KIND` driver name.
    #[cfg_attr(
        not(any(target_os = "linux", target_os = "android", test, fuzzing)),
        allow(dead_code)
    )]
    pub(crate) fn from_linux(hardware_type: u16, flags: u32, driver: Option<&str>) -> LinkKind {
        const IFF_LOOPBACK: u32 = 0x8;
        const IFF_POINTOPOINT: u32 = 0x10;
        if hardware_type == 772 || flags & IFF_LOOPBACK != 0 {
            return LinkKind::Loopback;
        }
        match driver {
            Some("bridge" | "openvswitch") => return LinkKind::Bridge,
            Some(
                "wireguard" | "tun" | "ipip" | "gre" | "gretap" | "ip6gre" | "ip6gretap" | "sit"
                | "ip6tnl" | "vti" | "vti6" | "xfrm" | "ppp" | "wwan",
            ) => return LinkKind::Tunnel,
            Some(
                "veth" | "dummy" | "macvlan" | "macvtap" | "ipvlan" | "ipvtap" | "vxlan" | "geneve"
                | "vrf" | "netkit" | "ifb" | "nlmon",
            ) => return LinkKind::Virtual,
            Some("vlan" | "bond" | "team") => return LinkKind::Ethernet,
            _ => {}
        }
        match hardware_type {
            // ARPHRD_PPP, TUNNEL, TUNNEL6, SIT, IPGRE, IP6GRE, RAWIP, NONE (tun, WireGuard).
            512 | 768 | 769 | 776 | 778 | 823 | 519 | 0xfffe => LinkKind::Tunnel,
            _ if flags & IFF_POINTOPOINT != 0 => LinkKind::Tunnel,
            // ARPHRD_ETHER, IEEE802, and the 802.11 types of monitor modes.
            1 | 6 | 801..=803 => LinkKind::Ethernet,
            _ => LinkKind::Other,
        }
    }

    /// The kind from the flags `getifaddrs(3)` gives, where nothing more is known.
    pub(crate) fn from_flags(is_loopback: bool, is_point_to_point: bool) -> LinkKind {
        if is_loopback {
            LinkKind::Loopback
        } else if is_point_to_point {
            LinkKind::Tunnel
        } else {
            LinkKind::Other
        }
    }

    /// The kind of a BSD or macOS interface from its `sockaddr_dl`'s `sdl_type` (the
    /// `IFT_*` of `<net/if_types.h>`, the same on every BSD) and its flags.
    #[cfg_attr(
        not(any(
            target_os = "macos",
            target_os = "ios",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "openbsd",
            target_os = "dragonfly",
            test
        )),
        allow(dead_code)
    )]
    pub(crate) fn from_bsd_if_type(if_type: u8, is_loopback: bool, is_p2p: bool) -> LinkKind {
        match if_type {
            24 => LinkKind::Loopback,
            // IFT_ETHER, IFT_IEEE80211, IFT_L2VLAN.
            6 | 71 | 135 => LinkKind::Ethernet,
            // IFT_PPP, IFT_GIF, IFT_STF, IFT_TUNNEL.
            23 | 0x37 | 0xd7 | 131 => LinkKind::Tunnel,
            // IFT_BRIDGE.
            0xd1 => LinkKind::Bridge,
            _ => LinkKind::from_flags(is_loopback, is_p2p),
        }
    }

    /// The kind of a Windows adapter from its `IfType` (`IF_TYPE_*` of `ipifcons.h`).
    #[cfg_attr(not(any(windows, test)), allow(dead_code))]
    pub(crate) fn from_windows_if_type(if_type: u32) -> LinkKind {
        match if_type {
            // IF_TYPE_ETHERNET_CSMACD, IF_TYPE_IEEE80211.
            6 | 71 => LinkKind::Ethernet,
            24 => LinkKind::Loopback,
            // IF_TYPE_PPP, IF_TYPE_TUNNEL (WireGuard's and OpenVPN's wintun show as
            // IF_TYPE_PROP_VIRTUAL, which other virtual adapters share).
            23 | 131 => LinkKind::Tunnel,
            // IF_TYPE_PROP_VIRTUAL.
            53 => LinkKind::Virtual,
            _ => LinkKind::Other,
        }
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkKind::Ethernet => "ethernet",
            LinkKind::Loopback => "loopback",
            LinkKind::Tunnel => "tunnel",
            LinkKind::Bridge => "bridge",
            LinkKind::Virtual => "virtual",
            LinkKind::Other => "other",
        })
    }
}

/// A way out of the host: the interface, the local address packets leave from, and the
/// next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Path {
    /// The address family.
    pub family: Family,
    /// The outgoing interface's name, e.g. `eth0`, `wg0`.
    pub interface: String,
    /// Its index (an IPv6 scope id).
    pub index: u32,
    /// What the interface is: a [`LinkKind::Tunnel`] here is a VPN carrying the traffic.
    pub kind: LinkKind,
    /// The source address the kernel uses on this path. For IPv6 this is the kernel's
    /// pick, which may be a temporary address; [`local_ipv6_address_toward`] picks the
    /// stable one for a pinhole.
    ///
    /// [`local_ipv6_address_toward`]: crate::local_ipv6_address_toward
    pub local_address: IpAddr,
    /// The next hop (the router), `None` when the destination is on the link or the
    /// interface is point-to-point (a tunnel without a next hop).
    pub gateway: Option<IpAddr>,
    /// The route's metric where the system tells it (Linux 4.13 and later in a lookup,
    /// every table entry listed by [`default_paths`]; Windows), lowest preferred.
    pub metric: Option<u32>,
    /// The route is one of the two halves (`0.0.0.0/1` + `128.0.0.0/1`, `::/1` +
    /// `8000::/1`) that a full-tunnel VPN (OpenVPN, `wg-quick` and others) installs to win
    /// over the default route without replacing it. Known on Linux and Android; `false`
    /// elsewhere.
    pub split_default: bool,
}

/// The public IPv4 address [`internet_path`] asks the route toward (Cloudflare's resolver,
/// `1.1.1.1`): any public address does, as only a route lookup sees it.
pub const INTERNET_PROBE_V4: Ipv4Addr = Ipv4Addr::new(1, 1, 1, 1);
/// The public IPv6 address [`internet_path`] asks the route toward (`2606:4700::1111`).
pub const INTERNET_PROBE_V6: Ipv6Addr = Ipv6Addr::new(0x2606, 0x4700, 0, 0, 0, 0, 0, 0x1111);

/// The path the kernel picks for packets to `destination`: the route that matched (policy
/// rules, more specific routes and metrics all counted), its interface, source address and
/// next hop. No packet is sent: the kernel only looks the route up (Linux and Android:
/// `RTM_GETROUTE` over netlink, in the calling thread's network namespace; macOS and the
/// BSDs: `RTM_GET` on a routing socket; Windows: `GetBestRoute2`).
///
/// # Errors
/// [`Error::NoRoute`](crate::Error::NoRoute) when the kernel has no route there (or only
/// a blackhole, unreachable or prohibit one); [`Error::Netlink`](crate::Error::Netlink),
/// [`Error::MalformedNetlink`](crate::Error::MalformedNetlink),
/// [`Error::RouteTableCall`](crate::Error::RouteTableCall) or
/// [`Error::MalformedRouteDump`](crate::Error::MalformedRouteDump) when asking fails;
/// [`Error::Unsupported`](crate::Error::Unsupported) on other systems.
pub fn route_to(destination: IpAddr) -> Result<Path> {
    platform::route_to(destination)
}

/// The path toward the internet: [`route_to`] a fixed public address,
/// [`INTERNET_PROBE_V4`] or [`INTERNET_PROBE_V6`].
///
/// Nothing is sent to that address, which is never contacted: the kernel answers from its
/// routing tables. Because the answer is the route that *matches* a public destination
/// rather than the table's `/0` entry, a full-tunnel VPN shows here: with `0.0.0.0/1` and
/// `128.0.0.0/1` through a tunnel (the default route left in place), the internet path's
/// [`kind`](Path::kind) is [`LinkKind::Tunnel`] and its interface the tunnel's, while a
/// split tunnel (only some prefixes) leaves it on the physical link.
///
/// # Errors
/// As for [`route_to`]; [`Error::NoRoute`](crate::Error::NoRoute) (see
/// [`Error::is_no_route`](crate::Error::is_no_route)) when the host has no way to the
/// internet in `family`.
pub fn internet_path(family: Family) -> Result<Path> {
    route_to(match family {
        Family::V4 => IpAddr::V4(INTERNET_PROBE_V4),
        Family::V6 => IpAddr::V6(INTERNET_PROBE_V6),
    })
}

/// Every way to the internet the tables of `family` hold, best first: the default routes
/// (through a gateway, or straight onto a point-to-point link) and, on Linux and Android,
/// each pair of VPN half routes as one entry with [`split_default`](Path::split_default)
/// set, which comes first (it is more specific than any default route). Then by metric;
/// each next hop of a multipath route is a path of its own. A route whose interface has no
/// address of the family is left out: nothing could be sent from it.
///
/// The first entry is usually [`internet_path`]'s; the others are the paths the kernel did
/// not choose (a second uplink, the LAN under a VPN). An empty list means no way out.
///
/// On macOS and the BSDs the metric is not known (the order is the table's, the primary
/// default route first); on Windows it is the route's plus the interface's metric.
///
/// # Errors
/// As for [`route_to`].
pub fn default_paths(family: Family) -> Result<Vec<Path>> {
    platform::default_paths(family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_links_are_told_apart_by_driver_type_and_flags() {
        const IFF_UP: u32 = 0x1;
        const IFF_POINTOPOINT: u32 = 0x10;
        let cases = [
            (772, 0x8 | IFF_UP, None, LinkKind::Loopback),
            (1, IFF_UP, None, LinkKind::Ethernet),
            (1, IFF_UP, Some("bridge"), LinkKind::Bridge),
            (1, IFF_UP, Some("veth"), LinkKind::Virtual),
            (1, IFF_UP, Some("vlan"), LinkKind::Ethernet),
            (
                0xfffe,
                IFF_UP | IFF_POINTOPOINT,
                Some("wireguard"),
                LinkKind::Tunnel,
            ),
            (
                0xfffe,
                IFF_UP | IFF_POINTOPOINT,
                Some("tun"),
                LinkKind::Tunnel,
            ),
            (0xfffe, IFF_POINTOPOINT, None, LinkKind::Tunnel),
            (512, IFF_POINTOPOINT, None, LinkKind::Tunnel),
            (768, 0, Some("ipip"), LinkKind::Tunnel),
            (776, 0, None, LinkKind::Tunnel),
            (1, 0, Some("dummy"), LinkKind::Virtual),
            (824, 0, None, LinkKind::Other),
            (824, IFF_POINTOPOINT, None, LinkKind::Tunnel),
        ];
        for (hardware_type, flags, driver, expected) in cases {
            assert_eq!(
                LinkKind::from_linux(hardware_type, flags, driver),
                expected,
                "{hardware_type} {flags:#x} {driver:?}"
            );
        }
    }

    #[test]
    fn bsd_and_windows_types() {
        assert_eq!(
            LinkKind::from_bsd_if_type(6, false, false),
            LinkKind::Ethernet
        );
        assert_eq!(
            LinkKind::from_bsd_if_type(24, true, false),
            LinkKind::Loopback
        );
        assert_eq!(
            LinkKind::from_bsd_if_type(0xd1, false, false),
            LinkKind::Bridge
        );
        // macOS's utun is IFT_OTHER and point-to-point.
        assert_eq!(LinkKind::from_bsd_if_type(1, false, true), LinkKind::Tunnel);
        assert_eq!(LinkKind::from_windows_if_type(71), LinkKind::Ethernet);
        assert_eq!(LinkKind::from_windows_if_type(131), LinkKind::Tunnel);
        assert_eq!(LinkKind::from_windows_if_type(1), LinkKind::Other);
    }

    #[test]
    fn kinds_print_lowercase() {
        assert_eq!(LinkKind::Tunnel.to_string(), "tunnel");
        assert_eq!(LinkKind::Bridge.to_string(), "bridge");
    }
}
