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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The length of a `MIB_IPFORWARD_ROW2` (netioapi.h) on 64-bit Windows: its first member,
/// a `NET_LUID`, aligns the whole row to 8 bytes.
pub(crate) const FORWARD_ROW_LEN: usize = 104;
/// Where a `MIB_IPFORWARD_ROW2`'s fields start: `InterfaceLuid` (8 bytes), `InterfaceIndex`,
/// `DestinationPrefix` (a `SOCKADDR_INET` and its `PrefixLength`, padded to 4 bytes),
/// `NextHop`, `SitePrefixLength`, the two lifetimes, then `Metric`.
const ROW_INTERFACE_INDEX: usize = 8;
const ROW_DESTINATION: usize = 12;
const ROW_PREFIX_LEN: usize = 40;
const ROW_NEXT_HOP: usize = 44;
const ROW_METRIC: usize = 84;
/// The length of a `SOCKADDR_INET` (the larger of its two members, `SOCKADDR_IN6`).
const SOCKADDR_INET_LEN: usize = 28;

/// A route from the bytes of one `MIB_IPFORWARD_ROW2` as `GetIpForwardTable2` fills it;
/// `None` when fewer than [`FORWARD_ROW_LEN`] bytes are given.
pub(crate) fn forward_row(bytes: &[u8]) -> Option<ForwardRow> {
    if bytes.len() < FORWARD_ROW_LEN {
        return None;
    }
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    Some(ForwardRow {
        destination: sockaddr_ip(bytes.get(ROW_DESTINATION..ROW_DESTINATION + SOCKADDR_INET_LEN)?),
        prefix_len: *bytes.get(ROW_PREFIX_LEN)?,
        next_hop: sockaddr_ip(bytes.get(ROW_NEXT_HOP..ROW_NEXT_HOP + SOCKADDR_INET_LEN)?),
        interface_index: u32_at(ROW_INTERFACE_INDEX)?,
        metric: u32_at(ROW_METRIC)?,
    })
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

/// The route Windows would take toward `destination`, read from its table as
/// `GetBestRoute2` would (for a system that lacks that call, such as Wine): the longest
/// prefix that covers it, then the lowest route plus interface metric; routes on an adapter
/// that is down are skipped. Returns the row and its whole metric.
pub(crate) fn best_route_to(
    rows: &[ForwardRow],
    adapters: &[Adapter],
    destination: IpAddr,
) -> Option<(ForwardRow, u32)> {
    let covers = |prefix: IpAddr, len: u8| -> bool {
        match (prefix, destination) {
            (IpAddr::V4(prefix), IpAddr::V4(destination)) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                u32::from(prefix) & mask == u32::from(destination) & mask
            }
            (IpAddr::V6(prefix), IpAddr::V6(destination)) if len <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                u128::from(prefix) & mask == u128::from(destination) & mask
            }
            _ => false,
        }
    };
    rows.iter()
        .filter(|row| row.destination.is_some_and(|d| covers(d, row.prefix_len)))
        .filter_map(|row| {
            let adapter = adapter_of(adapters, row.interface_index);
            if adapter.is_some_and(|a| !a.is_up) {
                return None;
            }
            let interface_metric = adapter.map_or(0, |a| {
                if destination.is_ipv4() {
                    a.ipv4_metric
                } else {
                    a.ipv6_metric
                }
            });
            Some((*row, row.metric.saturating_add(interface_metric)))
        })
        .min_by_key(|(row, metric)| (std::cmp::Reverse(row.prefix_len), *metric))
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
    fn the_route_to_a_destination_is_the_longest_prefix_then_the_lowest_metric() {
        let adapters = [
            adapter("Ethernet", 3, 25, true),
            adapter("Wi-Fi", 4, 50, true),
            adapter("vpn", 9, 5, true),
            adapter("down", 7, 1, false),
        ];
        let rows = [
            row("0.0.0.0", 0, "192.168.1.1", 4, 0),
            row("0.0.0.0", 0, "10.0.0.1", 3, 0),
            row("10.8.0.0", 16, "0.0.0.0", 9, 0),
            row("10.8.1.0", 24, "0.0.0.0", 7, 0),
            row("192.168.1.0", 24, "0.0.0.0", 4, 0),
        ];
        let route = |to: &str| best_route_to(&rows, &adapters, to.parse().unwrap());
        // The default route of the lower whole metric (Ethernet: 0 + 25).
        let (row, metric) = route("44.0.0.2").unwrap();
        assert_eq!((row.interface_index, metric), (3, 25));
        assert_eq!(row.next_hop, Some("10.0.0.1".parse().unwrap()));
        // A longer prefix wins whatever the metric; a route on an adapter that is down
        // does not count.
        assert_eq!(route("10.8.1.5").unwrap().0.interface_index, 9);
        assert_eq!(route("192.168.1.20").unwrap().0.interface_index, 4);
        // No IPv6 route at all (Wine's table): none.
        assert!(route("2001:db8::1").is_none());
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

    /// The 104 bytes of a `MIB_IPFORWARD_ROW2` laid out as netioapi.h lays it out on 64-bit
    /// Windows, the fields the ranking does not read filled with values Windows writes there
    /// (an interface LUID, infinite lifetimes, `MIB_IPPROTO_NT_STATIC`, an age, an origin).
    fn row_record(
        destination: &str,
        prefix_len: u8,
        next_hop: &str,
        index: u32,
        metric: u32,
    ) -> Vec<u8> {
        let mut bytes = vec![0u8; FORWARD_ROW_LEN];
        bytes[0..8].copy_from_slice(&0x0006_0000_0100_0000u64.to_le_bytes());
        bytes[ROW_INTERFACE_INDEX..ROW_INTERFACE_INDEX + 4].copy_from_slice(&index.to_le_bytes());
        bytes[ROW_DESTINATION..ROW_DESTINATION + SOCKADDR_INET_LEN]
            .copy_from_slice(&sockaddr(destination));
        bytes[ROW_PREFIX_LEN] = prefix_len;
        bytes[ROW_NEXT_HOP..ROW_NEXT_HOP + SOCKADDR_INET_LEN].copy_from_slice(&sockaddr(next_hop));
        bytes[72] = 0; // SitePrefixLength
        bytes[76..80].copy_from_slice(&u32::MAX.to_le_bytes()); // ValidLifetime
        bytes[80..84].copy_from_slice(&u32::MAX.to_le_bytes()); // PreferredLifetime
        bytes[ROW_METRIC..ROW_METRIC + 4].copy_from_slice(&metric.to_le_bytes());
        bytes[88..92].copy_from_slice(&10_002u32.to_le_bytes()); // MIB_IPPROTO_NT_STATIC
        bytes[92] = u8::from(destination == "::1"); // Loopback
        bytes[93] = 1; // AutoconfigureAddress
        bytes[96..100].copy_from_slice(&3_600u32.to_le_bytes()); // Age
        bytes[100..104].copy_from_slice(&2u32.to_le_bytes()); // NlroRouterAdvertisement
        bytes
    }

    /// An IPv6 table of a Windows host on Ethernet with Teredo beside it (`route print -6`
    /// shape): loopback, on-link prefixes, multicast, and two default routes.
    fn ipv6_table() -> Vec<Vec<u8>> {
        vec![
            row_record("::", 0, "fe80::1", 12, 256),
            row_record("::", 0, "fe80::8000:f227:bec4:8ae4", 14, 256),
            row_record("::1", 128, "::", 1, 256),
            row_record("2001:db8:77:1::", 64, "::", 12, 256),
            row_record("2001:db8:77:1::10", 128, "::", 12, 256),
            row_record("fe80::", 64, "::", 12, 256),
            row_record("ff00::", 8, "::", 1, 256),
            row_record("ff00::", 8, "::", 12, 256),
        ]
    }

    #[test]
    fn forward_row_records_decode() {
        let rows: Vec<ForwardRow> = ipv6_table().iter().filter_map(|r| forward_row(r)).collect();
        assert_eq!(rows.len(), 8);
        assert_eq!(rows[0], row("::", 0, "fe80::1", 12, 256));
        assert_eq!(rows[3], row("2001:db8:77:1::", 64, "::", 12, 256));
        assert_eq!(rows[6].prefix_len, 8);
        let v4 = row_record("0.0.0.0", 0, "192.168.77.1", 4, 35);
        assert_eq!(
            forward_row(&v4),
            Some(row("0.0.0.0", 0, "192.168.77.1", 4, 35))
        );
        assert_eq!(
            forward_row(&v4[..FORWARD_ROW_LEN - 1]),
            None,
            "a row cut short"
        );
        assert_eq!(forward_row(&[]), None);
        let mut no_family = v4;
        no_family[ROW_NEXT_HOP] = 0;
        assert_eq!(forward_row(&no_family).and_then(|r| r.next_hop), None);
    }

    #[test]
    fn the_ipv6_default_route_is_the_ethernet_one_not_teredo() {
        let mut ethernet = adapter("Ethernet", 12, 25, true);
        ethernet.ipv6_metric = 25;
        // Teredo: IPv6 only (no IPv4 index), a high interface metric.
        let mut teredo = adapter("Teredo Tunneling Pseudo-Interface", 0, 0, true);
        teredo.ipv6_if_index = 14;
        teredo.ipv6_metric = 75;
        let mut loopback = adapter("Loopback Pseudo-Interface 1", 1, 75, true);
        loopback.is_loopback = true;
        let adapters = [loopback, ethernet, teredo];
        let rows: Vec<ForwardRow> = ipv6_table().iter().filter_map(|r| forward_row(r)).collect();
        assert_eq!(
            best_default_route(&rows, &adapters, Family::V6),
            Some(DefaultRoute {
                gateway: "fe80::1".parse().unwrap(),
                interface: "Ethernet".to_owned(),
                metric: 256 + 25,
            })
        );
        assert_eq!(
            best_default_route(&rows, &adapters, Family::V4),
            None,
            "no IPv4 rows"
        );

        // Ethernet unplugged: Teredo's route, found by its IPv6 index alone.
        let mut unplugged = adapters.clone();
        unplugged[1].is_up = false;
        let route = best_default_route(&rows, &unplugged, Family::V6).unwrap();
        assert_eq!(route.interface, "Teredo Tunneling Pseudo-Interface");
        assert_eq!(
            route.gateway,
            "fe80::8000:f227:bec4:8ae4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(route.metric, 256 + 75);
    }

    /// What Wine 8.0 reports for IPv6: no rows at all. No route, not a panic.
    #[test]
    fn an_empty_ipv6_table_has_no_default_route() {
        let adapters = [adapter("eth0", 2, 0, true)];
        assert_eq!(best_default_route(&[], &adapters, Family::V6), None);
        let on_link_only: Vec<ForwardRow> = ipv6_table()[2..]
            .iter()
            .filter_map(|r| forward_row(r))
            .collect();
        assert_eq!(
            best_default_route(&on_link_only, &adapters, Family::V6),
            None
        );
    }

    #[test]
    fn adapter_addresses_keep_their_prefix_and_ipv6_scope_is_dropped() {
        // A SOCKADDR_IN6 of a link-local address with scope id 12, as in an adapter's
        // unicast list: the address alone is kept.
        let bytes = sockaddr("fe80::7cef:bff:fed4:d20c");
        assert_eq!(
            sockaddr_ip(&bytes),
            Some("fe80::7cef:bff:fed4:d20c".parse().unwrap())
        );
        let mut ethernet = adapter("Ethernet", 12, 25, true);
        ethernet.addresses = vec![
            InterfaceAddress {
                address: sockaddr_ip(&bytes).unwrap(),
                prefix_len: 64,
            },
            InterfaceAddress {
                address: sockaddr_ip(&sockaddr("2001:db8:77:1::10")).unwrap(),
                prefix_len: 64,
            },
            InterfaceAddress {
                address: sockaddr_ip(&sockaddr("192.168.77.10")).unwrap(),
                prefix_len: 24,
            },
        ];
        let interface = ethernet.to_interface();
        assert_eq!(interface.index, 12);
        assert_eq!(interface.addresses, ethernet.addresses);
        assert!(interface.is_up && interface.is_multicast && !interface.is_loopback);
    }
}
