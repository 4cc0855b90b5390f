//! Windows, the pure part: what `GetAdaptersAddresses` and `GetIpForwardTable2` report,
//! reduced to plain values, and the choice of the default route among them. The calls
//! themselves are in the `windows` module; this one has no `unsafe` and is tested on
//! every system.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::interface::{Interface, InterfaceAddress};
use crate::path::LinkKind;
use crate::route::{DefaultRoute, Family};

/// `AF_INET` and `AF_INET6` in Windows' `ADDRESS_FAMILY`.
const AF_INET: u16 = 2;
const AF_INET6: u16 = 23;

/// One adapter from `GetAdaptersAddresses` (`IP_ADAPTER_ADDRESSES_LH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Adapter {
    /// `FriendlyName`, e.g. `Ethernet` or `Wi-Fi`: what the user sees, and what
    /// `netsh` and PowerShell call the interface's alias.
    pub(crate) name: String,
    /// `IfIndex`, 0 when IPv4 is off on the adapter.
    pub(crate) if_index: u32,
    /// `Ipv6IfIndex`, 0 when IPv6 is off on the adapter.
    pub(crate) ipv6_if_index: u32,
    /// `Ipv4Metric` and `Ipv6Metric`: added to a route's own metric to rank it.
    pub(crate) ipv4_metric: u32,
    pub(crate) ipv6_metric: u32,
    /// `OperStatus == IfOperStatusUp`.
    pub(crate) is_up: bool,
    /// `IfType == IF_TYPE_SOFTWARE_LOOPBACK`.
    pub(crate) is_loopback: bool,
    /// `IP_ADAPTER_NO_MULTICAST` not set in `Flags`.
    pub(crate) is_multicast: bool,
    /// From `IfType`.
    pub(crate) kind: LinkKind,
    /// The unicast addresses with their `OnLinkPrefixLength`.
    pub(crate) addresses: Vec<InterfaceAddress>,
}

impl Adapter {
    /// The index the adapter is known by: the IPv4 one, or the IPv6 one where IPv4 is off.
    fn index(&self) -> u32 {
        if self.if_index != 0 {
            self.if_index
        } else {
            self.ipv6_if_index
        }
    }

    fn has_index(&self, index: u32) -> bool {
        index != 0 && (self.if_index == index || self.ipv6_if_index == index)
    }

    /// The crate's [`Interface`] for this adapter.
    pub(crate) fn to_interface(&self) -> Interface {
        Interface {
            name: self.name.clone(),
            index: self.index(),
            addresses: self.addresses.clone(),
            is_up: self.is_up,
            is_loopback: self.is_loopback,
            is_multicast: self.is_multicast,
            kind: self.kind,
        }
    }
}

/// One route from `GetIpForwardTable2` (`MIB_IPFORWARD_ROW2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ForwardRow {
    /// `DestinationPrefix.Prefix`, `None` when of no IP family.
    pub(crate) destination: Option<IpAddr>,
    /// `DestinationPrefix.PrefixLength`.
    pub(crate) prefix_len: u8,
    /// `NextHop`: unspecified for an on-link route.
    pub(crate) next_hop: Option<IpAddr>,
    /// `InterfaceIndex`.
    pub(crate) interface_index: u32,
    /// `Metric`, the route's own part of the metric.
    pub(crate) metric: u32,
}

/// The IP address in a Windows `SOCKADDR_IN` or `SOCKADDR_IN6` given as its bytes: the
/// family (little-endian `u16`) at 0, an IPv4 address at 4..8, an IPv6 one at 8..24.
/// `None` for another family or too few bytes.
pub(crate) fn sockaddr_ip(bytes: &[u8]) -> Option<IpAddr> {
    let family = u16::from_le_bytes([*bytes.first()?, *bytes.get(1)?]);
    match family {
        AF_INET => {
            let octets: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        AF_INET6 => {
            let octets: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

/// One way out of the table: a default route through a gateway, or the pair of half
/// routes (`0.0.0.0/1` + `128.0.0.0/1`) of a full-tunnel VPN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WayOut {
    /// The outgoing interface's index.
    pub(crate) interface_index: u32,
    /// The next hop, `None` on-link.
    pub(crate) gateway: Option<IpAddr>,
    /// The route's plus the interface's metric.
    pub(crate) metric: u32,
    /// The two halves rather than `/0`.
    pub(crate) split: bool,
}

/// Every way out of `rows` of `family` on an adapter that is up, best first: the VPN
/// halves (more specific, so they win), then by route plus interface metric.
pub(crate) fn ways_out(rows: &[ForwardRow], adapters: &[Adapter], family: Family) -> Vec<WayOut> {
    let of_family = |address: &IpAddr| match family {
        Family::V4 => address.is_ipv4(),
        Family::V6 => address.is_ipv6(),
    };
    let upper = |address: &IpAddr| match address {
        IpAddr::V4(v4) => v4.octets()[0] & 0x80 != 0,
        IpAddr::V6(v6) => v6.octets()[0] & 0x80 != 0,
    };
    let mut ways: Vec<WayOut> = Vec::new();
    for row in rows {
        let Some(destination) = row.destination.filter(of_family) else {
            continue;
        };
        let adapter = adapters.iter().find(|a| a.has_index(row.interface_index));
        if adapter.is_some_and(|a| !a.is_up) {
            continue;
        }
        let gateway = row
            .next_hop
            .filter(|hop| of_family(hop) && !hop.is_unspecified());
        let split = match row.prefix_len {
            0 if destination.is_unspecified() && gateway.is_some() => false,
            1 if !upper(&destination) => {
                // Counted once, when its upper half leaves the same way.
                let paired = rows.iter().any(|other| {
                    other.prefix_len == 1
                        && other
                            .destination
                            .is_some_and(|d| of_family(&d) && upper(&d))
                        && other.interface_index == row.interface_index
                        && other.next_hop == row.next_hop
                });
                if !paired {
                    continue;
                }
                true
            }
            _ => continue,
        };
        let interface_metric = adapter.map_or(0, |a| match family {
            Family::V4 => a.ipv4_metric,
            Family::V6 => a.ipv6_metric,
        });
        ways.push(WayOut {
            interface_index: row.interface_index,
            gateway,
            metric: row.metric.saturating_add(interface_metric),
            split,
        });
    }
    ways.sort_by_key(|way| (!way.split, way.metric));
    ways
}

/// The adapter of interface `index`.
pub(crate) fn adapter_of(adapters: &[Adapter], index: u32) -> Option<&Adapter> {
    adapters.iter().find(|a| a.has_index(index))
}

/// The address of `family` an adapter sends from, for a route that names none: its first
/// of the family, for IPv6 a global one before a link-local one.
pub(crate) fn adapter_source(adapter: &Adapter, family: Family) -> Option<IpAddr> {
    adapter
        .addresses
        .iter()
        .map(|a| a.address)
        .filter(|address| match family {
            Family::V4 => address.is_ipv4(),
            Family::V6 => address.is_ipv6(),
        })
        .min_by_key(|address| match address {
            IpAddr::V6(v6) => !crate::ipv6::is_global_scope(*v6),
            IpAddr::V4(_) => false,
        })
}

/// The default route Windows would take: among the routes to `0.0.0.0/0` or `::/0` via
/// a gateway of `family`, the one with the lowest route metric plus interface metric (as
/// Windows ranks them), the first one on a tie. Routes on an adapter that is down are
/// skipped; a route whose adapter is not listed counts its own metric only and is named
/// by its index.
pub(crate) fn best_default_route(
    rows: &[ForwardRow],
    adapters: &[Adapter],
    family: Family,
) -> Option<DefaultRoute> {
    let of_family = |address: &IpAddr| match family {
        Family::V4 => address.is_ipv4(),
        Family::V6 => address.is_ipv6(),
    };
    let mut best: Option<DefaultRoute> = None;
    for row in rows {
        let is_default = row.prefix_len == 0
            && row
                .destination
                .is_some_and(|d| of_family(&d) && d.is_unspecified());
        let Some(gateway) = row
            .next_hop
            .filter(|hop| of_family(hop) && !hop.is_unspecified())
        else {
            continue;
        };
        if !is_default {
            continue;
        }
        let adapter = adapters.iter().find(|a| a.has_index(row.interface_index));
        if adapter.is_some_and(|a| !a.is_up) {
            continue;
        }
        let interface_metric = adapter.map_or(0, |a| match family {
            Family::V4 => a.ipv4_metric,
            Family::V6 => a.ipv6_metric,
        });
        let route = DefaultRoute {
            gateway,
            interface: adapter.map_or_else(|| row.interface_index.to_string(), |a| a.name.clone()),
            metric: row.metric.saturating_add(interface_metric),
        };
        if best.as_ref().is_none_or(|b| route.metric < b.metric) {
            best = Some(route);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `SOCKADDR_IN` or `SOCKADDR_IN6` as Windows lays it out (little-endian family,
    /// big-endian port), padded to `SOCKADDR_INET`'s 28 bytes.
    fn sockaddr(address: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        match address.parse::<IpAddr>().unwrap() {
            IpAddr::V4(v4) => {
                bytes.extend_from_slice(&AF_INET.to_le_bytes());
                bytes.extend_from_slice(&5351u16.to_be_bytes());
                bytes.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                bytes.extend_from_slice(&AF_INET6.to_le_bytes());
                bytes.extend_from_slice(&5351u16.to_be_bytes());
                bytes.extend_from_slice(&[0; 4]); // flow info
                bytes.extend_from_slice(&v6.octets());
                bytes.extend_from_slice(&7u32.to_le_bytes()); // scope id
            }
        }
        bytes.resize(28, 0);
        bytes
    }

    #[test]
    fn sockaddr_bytes_give_the_address() {
        for address in ["192.168.1.5", "0.0.0.0", "fe80::1", "2001:db8::2", "::"] {
            assert_eq!(
                sockaddr_ip(&sockaddr(address)),
                Some(address.parse().unwrap())
            );
        }
        let v6 = sockaddr("2001:db8::2");
        assert_eq!(sockaddr_ip(&v6[..23]), None, "cut inside the address");
        assert_eq!(sockaddr_ip(&v6[..24]), Some("2001:db8::2".parse().unwrap()));
        assert_eq!(sockaddr_ip(&[]), None);
        assert_eq!(sockaddr_ip(&[2]), None);
        let mut unknown = sockaddr("10.0.0.1");
        unknown[0] = 0; // AF_UNSPEC
        assert_eq!(sockaddr_ip(&unknown), None);
    }

    fn adapter(name: &str, index: u32, metric: u32, up: bool) -> Adapter {
        Adapter {
            name: name.to_owned(),
            if_index: index,
            ipv6_if_index: index,
            ipv4_metric: metric,
            ipv6_metric: metric + 1,
            is_up: up,
            is_loopback: false,
            is_multicast: true,
            kind: LinkKind::Ethernet,
            addresses: Vec::new(),
        }
    }

    fn row(
        destination: &str,
        prefix_len: u8,
        next_hop: &str,
        index: u32,
        metric: u32,
    ) -> ForwardRow {
        ForwardRow {
            destination: sockaddr_ip(&sockaddr(destination)),
            prefix_len,
            next_hop: sockaddr_ip(&sockaddr(next_hop)),
            interface_index: index,
            metric,
        }
    }

    #[test]
    fn ways_out_put_a_vpn_pair_first_then_the_metric() {
        let mut vpn = adapter("vpn", 9, 5, true);
        vpn.addresses.push(InterfaceAddress {
            address: "10.8.0.2".parse().unwrap(),
            prefix_len: 24,
        });
        let adapters = [
            adapter("Ethernet", 3, 25, true),
            adapter("Wi-Fi", 4, 50, true),
            vpn,
        ];
        let rows = [
            row("0.0.0.0", 0, "192.168.1.1", 4, 0),
            row("0.0.0.0", 0, "10.0.0.1", 3, 0),
            row("0.0.0.0", 1, "0.0.0.0", 9, 0),
            row("128.0.0.0", 1, "0.0.0.0", 9, 0),
            row("192.168.1.0", 24, "0.0.0.0", 4, 0),
        ];
        let ways = ways_out(&rows, &adapters, Family::V4);
        let summary: Vec<_> = ways
            .iter()
            .map(|w| (w.interface_index, w.gateway, w.metric, w.split))
            .collect();
        assert_eq!(
            summary,
            [
                (9, None, 5, true),
                (3, Some("10.0.0.1".parse().unwrap()), 25, false),
                (4, Some("192.168.1.1".parse().unwrap()), 50, false),
            ]
        );
        let vpn = adapter_of(&adapters, 9).unwrap();
        assert_eq!(
            adapter_source(vpn, Family::V4),
            Some("10.8.0.2".parse().unwrap())
        );
        assert_eq!(adapter_source(vpn, Family::V6), None);
    }

    #[test]
    fn lowest_route_plus_interface_metric_wins() {
        let adapters = [
            adapter("Ethernet", 4, 25, true),
            adapter("Wi-Fi", 9, 50, true),
            adapter("VPN", 12, 1, false),
        ];
        let rows = [
            row("10.0.0.0", 8, "192.168.1.254", 4, 0), // not a default route
            row("0.0.0.0", 0, "172.20.10.1", 9, 0),    // 0 + 50
            row("0.0.0.0", 0, "192.168.1.1", 4, 0),    // 0 + 25: wins
            row("0.0.0.0", 0, "10.8.0.1", 12, 0),      // adapter down
            row("0.0.0.0", 0, "0.0.0.0", 4, 0),        // on-link, no gateway
            row("::", 0, "fe80::1", 4, 0),             // another family
        ];
        assert_eq!(
            best_default_route(&rows, &adapters, Family::V4),
            Some(DefaultRoute {
                gateway: "192.168.1.1".parse().unwrap(),
                interface: "Ethernet".to_owned(),
                metric: 25,
            })
        );
        assert_eq!(
            best_default_route(&rows, &adapters, Family::V6),
            Some(DefaultRoute {
                gateway: "fe80::1".parse().unwrap(),
                interface: "Ethernet".to_owned(),
                metric: 26,
            })
        );
        assert_eq!(best_default_route(&rows[..1], &adapters, Family::V4), None);
        assert_eq!(best_default_route(&[], &adapters, Family::V6), None);
    }

    #[test]
    fn a_route_on_an_unlisted_adapter_is_named_by_its_index() {
        let rows = [
            row("0.0.0.0", 0, "192.168.1.1", 7, 10),
            row("0.0.0.0", 0, "192.168.2.1", 8, 10), // a tie: the first one stays
        ];
        let route = best_default_route(&rows, &[], Family::V4).unwrap();
        assert_eq!(route.interface, "7");
        assert_eq!(route.metric, 10);
    }

    #[test]
    fn adapter_index_falls_back_to_ipv6() {
        let mut ipv6_only = adapter("Teredo", 0, 0, true);
        ipv6_only.ipv6_if_index = 14;
        assert_eq!(ipv6_only.to_interface().index, 14);
        assert!(ipv6_only.has_index(14) && !ipv6_only.has_index(0));
        assert_eq!(adapter("Ethernet", 4, 0, true).to_interface().index, 4);
    }
}
