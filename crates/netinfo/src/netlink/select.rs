//! Pure choices over decoded netlink answers: which routes of a dump are ways to the
//! internet (default routes, and the two halves a full-tunnel VPN installs over them), and
//! which address of an interface is the source on such a route when the route names none.

use std::net::IpAddr;

use super::{AF_INET, AF_INET6, Address, RTN_UNICAST, Route};

/// `RT_TABLE_LOCAL`: the host's own addresses, never a way out.
const RT_TABLE_LOCAL: u32 = 255;

/// `IFA_F_*` (`<linux/if_addr.h>`). `IFA_F_SECONDARY` and `IFA_F_TEMPORARY` are one bit:
/// secondary for IPv4, temporary (RFC 8981) for IPv6.
pub(crate) const IFA_F_SECONDARY: u32 = 0x01;
pub(crate) const IFA_F_TEMPORARY: u32 = 0x01;
pub(crate) const IFA_F_DADFAILED: u32 = 0x08;
pub(crate) const IFA_F_DEPRECATED: u32 = 0x20;
pub(crate) const IFA_F_TENTATIVE: u32 = 0x40;

/// One way out of a dump: a default route's next hop, or a VPN's pair of half routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DefaultHop {
    /// The outgoing interface's index.
    pub(crate) interface: u32,
    /// The next hop, `None` for a route straight onto the interface.
    pub(crate) gateway: Option<IpAddr>,
    /// The route's metric.
    pub(crate) metric: u32,
    /// The two halves (`0.0.0.0/1` + `128.0.0.0/1`, `::/1` + `8000::/1`) rather than `/0`.
    pub(crate) split: bool,
    /// The route's preferred source (`RTA_PREFSRC`), where it names one.
    pub(crate) source: Option<IpAddr>,
}

/// The ways out in `routes` (a dump) of `family` (`AF_INET`, `AF_INET6`), best first: the
/// VPN halves (more specific than any default route, so they win whatever the metric),
/// then by metric, ties in the kernel's order. Unicast routes of every table but the local
/// one; each next hop of a multipath route is a way of its own; a pair of halves counts
/// once, and only when both halves leave by the same interface and next hop.
pub(crate) fn default_hops(routes: &[Route], family: u8) -> Vec<DefaultHop> {
    let usable = |route: &&Route| {
        route.family == family && route.route_type == RTN_UNICAST && route.table != RT_TABLE_LOCAL
    };
    let hops_of = |route: &Route, split: bool| -> Vec<DefaultHop> {
        let hop = |interface: u32, gateway: Option<IpAddr>| DefaultHop {
            interface,
            gateway: gateway.filter(|gateway| !gateway.is_unspecified()),
            metric: route.metric,
            split,
            source: route.preferred_source,
        };
        if route.next_hops.is_empty() {
            route
                .output_interface
                .map(|interface| hop(interface, route.gateway))
                .into_iter()
                .collect()
        } else {
            route
                .next_hops
                .iter()
                .map(|next| hop(next.interface, next.gateway))
                .collect()
        }
    };
    let mut found: Vec<DefaultHop> = Vec::new();
    let halves: Vec<&Route> = routes
        .iter()
        .filter(usable)
        .filter(|r| r.dst_len == 1)
        .collect();
    for low in halves.iter().filter(|r| !is_upper_half(r.destination)) {
        for hop in hops_of(low, true) {
            let paired = halves
                .iter()
                .filter(|r| is_upper_half(r.destination))
                .flat_map(|high| hops_of(high, true))
                .any(|high| high.interface == hop.interface && high.gateway == hop.gateway);
            if paired && !found.contains(&hop) {
                found.push(hop);
            }
        }
    }
    for route in routes.iter().filter(usable).filter(|r| r.dst_len == 0) {
        for hop in hops_of(route, false) {
            if !found.contains(&hop) {
                found.push(hop);
            }
        }
    }
    // A stable sort keeps the kernel's order among equals.
    found.sort_by_key(|hop| (!hop.split, hop.metric));
    found
}

/// True for the upper half's destination (`128.0.0.0`, `8000::`); the lower half's is
/// `0.0.0.0` / `::` (or absent).
fn is_upper_half(destination: Option<IpAddr>) -> bool {
    match destination {
        Some(IpAddr::V4(v4)) => v4.octets()[0] & 0x80 != 0,
        Some(IpAddr::V6(v6)) => v6.octets()[0] & 0x80 != 0,
        None => false,
    }
}

/// The source address on interface `index` toward `gateway` of `family`, out of an
/// address dump, for a route that names none: never a tentative or failed address; for
/// IPv4 a primary address whose prefix holds the gateway before any other; for IPv6 a
/// global address (not temporary, not deprecated first) before a link-local one.
pub(crate) fn pick_source(
    addresses: &[Address],
    index: u32,
    family: u8,
    gateway: Option<IpAddr>,
) -> Option<IpAddr> {
    let candidates = addresses.iter().enumerate().filter(|(_, a)| {
        a.index == index
            && a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) == 0
            && match a.address {
                IpAddr::V4(_) => family == AF_INET,
                IpAddr::V6(_) => family == AF_INET6,
            }
    });
    candidates
        .min_by_key(|(position, a)| {
            let rank = match a.address {
                IpAddr::V4(_) => (
                    !gateway.is_some_and(|gateway| in_prefix(a.address, a.prefix_len, gateway)),
                    a.flags & IFA_F_SECONDARY != 0,
                    false,
                ),
                IpAddr::V6(v6) => (
                    !crate::ipv6::is_global_scope(v6),
                    a.flags & IFA_F_DEPRECATED != 0,
                    a.flags & IFA_F_TEMPORARY != 0,
                ),
            };
            (rank, *position)
        })
        .map(|(_, a)| a.address)
}

/// True when `other` lies in `address/prefix_len`.
fn in_prefix(address: IpAddr, prefix_len: u8, other: IpAddr) -> bool {
    let prefix = u32::from(prefix_len);
    match (address, other) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX
                .checked_shl(32u32.saturating_sub(prefix))
                .unwrap_or(0);
            a.to_bits() & mask == b.to_bits() & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX
                .checked_shl(128u32.saturating_sub(prefix))
                .unwrap_or(0);
            a.to_bits() & mask == b.to_bits() & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::NextHop;
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn route(
        dst: Option<&str>,
        dst_len: u8,
        gateway: Option<&str>,
        oif: u32,
        metric: u32,
    ) -> Route {
        let destination = dst.map(ip);
        Route {
            family: if destination.is_some_and(|d| d.is_ipv6())
                || gateway.is_some_and(|g| g.contains(':'))
            {
                AF_INET6
            } else {
                AF_INET
            },
            dst_len,
            table: 254,
            route_type: RTN_UNICAST,
            destination,
            gateway: gateway.map(ip),
            output_interface: Some(oif),
            metric,
            ..Route::default()
        }
    }

    #[test]
    fn default_routes_come_by_metric_and_vpn_halves_first() {
        let routes = [
            route(None, 0, Some("192.168.1.1"), 2, 600),
            route(None, 0, Some("10.0.0.1"), 3, 100),
            route(Some("192.168.1.0"), 24, None, 2, 600),
            route(Some("0.0.0.0"), 1, None, 9, 0),
            route(Some("128.0.0.0"), 1, None, 9, 0),
            // Another family's route is not asked about.
            route(None, 0, Some("fe80::1"), 2, 1024),
        ];
        let hops = default_hops(&routes, AF_INET);
        let summary: Vec<_> = hops
            .iter()
            .map(|h| (h.interface, h.gateway, h.metric, h.split))
            .collect();
        assert_eq!(
            summary,
            [
                (9, None, 0, true),
                (3, Some(ip("10.0.0.1")), 100, false),
                (2, Some(ip("192.168.1.1")), 600, false),
            ]
        );
    }

    #[test]
    fn a_lone_half_a_blackhole_and_the_local_table_are_no_way_out() {
        let mut blackhole = route(None, 0, None, 0, 0);
        blackhole.route_type = 6;
        let mut local = route(None, 0, Some("192.168.1.1"), 2, 0);
        local.table = RT_TABLE_LOCAL;
        let routes = [
            route(Some("0.0.0.0"), 1, None, 9, 0),
            route(Some("128.0.0.0"), 1, None, 8, 0),
            blackhole,
            local,
        ];
        assert_eq!(default_hops(&routes, AF_INET), []);
    }

    #[test]
    fn each_next_hop_of_a_multipath_default_is_a_way() {
        let mut multipath = route(None, 0, None, 0, 1024);
        multipath.family = AF_INET6;
        multipath.output_interface = None;
        multipath.next_hops = vec![
            NextHop {
                interface: 3,
                gateway: Some(ip("fe80::1")),
            },
            NextHop {
                interface: 4,
                gateway: Some(ip("fe80::2")),
            },
        ];
        let v6_halves = [
            route(Some("::"), 1, Some("fe80::9"), 7, 5),
            route(Some("8000::"), 1, Some("fe80::9"), 7, 5),
        ];
        let mut routes = vec![multipath];
        routes.extend(v6_halves);
        let hops = default_hops(&routes, AF_INET6);
        let summary: Vec<_> = hops.iter().map(|h| (h.interface, h.split)).collect();
        assert_eq!(summary, [(7, true), (3, false), (4, false)]);
    }

    fn address(text: &str, prefix_len: u8, index: u32, flags: u32) -> Address {
        Address {
            index,
            prefix_len,
            address: ip(text),
            flags,
        }
    }

    #[test]
    fn the_source_is_on_the_interface_and_in_the_gateways_prefix() {
        let addresses = [
            address("10.9.0.2", 24, 2, 0),
            address("192.168.1.20", 24, 2, IFA_F_SECONDARY),
            address("192.168.1.10", 24, 2, 0),
            address("192.168.1.30", 24, 3, 0),
            address("fe80::5", 64, 2, 0),
            address("2001:db8::5", 64, 2, IFA_F_TEMPORARY),
            address("2001:db8::6", 64, 2, 0),
            address("2001:db8::7", 64, 2, IFA_F_TENTATIVE),
        ];
        let pick =
            |family, gateway: Option<&str>| pick_source(&addresses, 2, family, gateway.map(ip));
        assert_eq!(pick(AF_INET, Some("192.168.1.1")), Some(ip("192.168.1.10")));
        assert_eq!(pick(AF_INET, Some("172.16.0.1")), Some(ip("10.9.0.2")));
        assert_eq!(pick(AF_INET, None), Some(ip("10.9.0.2")));
        assert_eq!(pick(AF_INET6, Some("fe80::1")), Some(ip("2001:db8::6")));
        assert_eq!(pick_source(&addresses, 5, AF_INET, None), None);
        assert!(in_prefix(ip("10.0.0.0"), 0, ip("192.0.2.1")));
        assert!(!in_prefix(ip("10.0.0.1"), 32, ip("10.0.0.2")));
    }
}
