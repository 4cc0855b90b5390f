//! Linux, when netlink is refused: the default route read from `/proc/net/route` and
//! `/proc/net/ipv6_route` (see the parent module for when). Never used on Android.
//!
//! The parsers are pure functions over the files' text so that captured tables can be
//! tested on any machine. Both files are documented only by the kernel source
//! (`net/ipv4/fib_trie.c`, `fib_route_seq_show`, and `net/ipv6/route.c`,
//! `ipv6_route_native_seq_show`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::route::{DefaultRoute, Family};

const ROUTE_V4: &str = "/proc/net/route";
const ROUTE_V6: &str = "/proc/net/ipv6_route";
/// The calling thread's own view (Linux 3.17+). `/proc/net` follows the process's main
/// thread, so a thread that entered another network namespace (`setns`) would read the main
/// thread's routes there.
const THREAD_ROUTE_V4: &str = "/proc/thread-self/net/route";
const THREAD_ROUTE_V6: &str = "/proc/thread-self/net/ipv6_route";

/// Route flags from `<linux/route.h>`.
const RTF_UP: u32 = 0x0001;
const RTF_GATEWAY: u32 = 0x0002;
const RTF_REJECT: u32 = 0x0200;

/// Reads the routing table of `family` and returns its best default route.
pub(crate) fn default_route(family: Family) -> Result<DefaultRoute> {
    let (thread_path, path) = match family {
        Family::V4 => (THREAD_ROUTE_V4, ROUTE_V4),
        Family::V6 => (THREAD_ROUTE_V6, ROUTE_V6),
    };
    let text = match std::fs::read_to_string(thread_path) {
        Ok(text) => text,
        Err(_) => std::fs::read_to_string(path)
            .map_err(|source| Error::ReadRouteTable { path, source })?,
    };
    let found = match family {
        Family::V4 => parse_route_v4(&text, ByteOrder::NATIVE)?,
        Family::V6 => parse_route_v6(&text)?,
    };
    found.ok_or(Error::NoDefaultGateway { family })
}

/// How the kernel's hex words in `/proc/net/route` map to address bytes: it prints the
/// network-order address as a native integer, so the text depends on the machine.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    const NATIVE: ByteOrder = if cfg!(target_endian = "little") {
        ByteOrder::Little
    } else {
        ByteOrder::Big
    };

    fn ipv4(self, word: u32) -> Ipv4Addr {
        Ipv4Addr::from(match self {
            ByteOrder::Little => word.to_le_bytes(),
            ByteOrder::Big => word.to_be_bytes(),
        })
    }
}

/// True when a route with these flags is usable and goes through a gateway.
fn is_up_gateway(flags: u32) -> bool {
    flags & (RTF_UP | RTF_GATEWAY) == (RTF_UP | RTF_GATEWAY) && flags & RTF_REJECT == 0
}

/// Keeps the route with the lowest metric; the first one wins a tie, as the kernel's
/// listing order is its own preference among equals.
fn keep_lowest(best: &mut Option<DefaultRoute>, route: DefaultRoute) {
    if best.as_ref().is_none_or(|b| route.metric < b.metric) {
        *best = Some(route);
    }
}

/// Finds the best default route in the text of `/proc/net/route`.
///
/// Columns: `Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT`, the
/// addresses and flags in hex, the metric in signed decimal. A default route has
/// destination and mask 0, the flags `RTF_UP` and `RTF_GATEWAY` and not `RTF_REJECT`,
/// and a gateway other than `0.0.0.0`. Returns `Ok(None)` when there is none.
pub(crate) fn parse_route_v4(text: &str, order: ByteOrder) -> Result<Option<DefaultRoute>> {
    let mut best = None;
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || fields[0] == "Iface" {
            continue;
        }
        let malformed = |reason: String| Error::MalformedRouteTable {
            path: ROUTE_V4,
            line: index + 1,
            reason,
        };
        if fields.len() < 8 {
            return Err(malformed(format!(
                "expected at least 8 fields, found {}",
                fields.len()
            )));
        }
        let hex = |at: usize, name: &str| {
            u32::from_str_radix(fields[at], 16)
                .map_err(|e| malformed(format!("{name} {:?} is not hex: {e}", fields[at])))
        };
        let destination = hex(1, "destination")?;
        let gateway = order.ipv4(hex(2, "gateway")?);
        let flags = hex(3, "flags")?;
        let mask = hex(7, "mask")?;
        // Printed with %d: metrics above i32::MAX show up negative.
        let metric = fields[6]
            .parse::<u32>()
            .or_else(|_| fields[6].parse::<i32>().map(|m| m as u32))
            .map_err(|e| malformed(format!("metric {:?} is not a number: {e}", fields[6])))?;
        if destination != 0 || mask != 0 || !is_up_gateway(flags) || gateway.is_unspecified() {
            continue;
        }
        keep_lowest(
            &mut best,
            DefaultRoute {
                gateway: IpAddr::V4(gateway),
                interface: fields[0].to_owned(),
                metric,
            },
        );
    }
    Ok(best)
}

/// Finds the best default route in the text of `/proc/net/ipv6_route`.
///
/// Columns, without header: destination (32 hex digits), its prefix length (hex), source,
/// its prefix length, next hop, metric, reference count, use count and flags (all hex),
/// then the device. A default route has destination `::/0`, no source restriction, the
/// flags `RTF_UP` and `RTF_GATEWAY` and not `RTF_REJECT`, and a next hop other than `::`.
/// Returns `Ok(None)` when there is none.
pub(crate) fn parse_route_v6(text: &str) -> Result<Option<DefaultRoute>> {
    let mut best = None;
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let malformed = |reason: String| Error::MalformedRouteTable {
            path: ROUTE_V6,
            line: index + 1,
            reason,
        };
        if fields.len() < 10 {
            return Err(malformed(format!(
                "expected 10 fields, found {}",
                fields.len()
            )));
        }
        let address = |at: usize, name: &str| {
            let field = fields[at];
            if field.len() != 32 || !field.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(malformed(format!("{name} {field:?} is not 32 hex digits")));
            }
            u128::from_str_radix(field, 16)
                .map(Ipv6Addr::from)
                .map_err(|e| malformed(format!("{name} {field:?}: {e}")))
        };
        let hex = |at: usize, name: &str| {
            u32::from_str_radix(fields[at], 16)
                .map_err(|e| malformed(format!("{name} {:?} is not hex: {e}", fields[at])))
        };
        let destination = address(0, "destination")?;
        let destination_len = hex(1, "destination prefix length")?;
        address(2, "source")?;
        let source_len = hex(3, "source prefix length")?;
        let next_hop = address(4, "next hop")?;
        let metric = hex(5, "metric")?;
        let flags = hex(8, "flags")?;
        if !destination.is_unspecified()
            || destination_len != 0
            || source_len != 0
            || !is_up_gateway(flags)
            || next_hop.is_unspecified()
        {
            continue;
        }
        keep_lowest(
            &mut best,
            DefaultRoute {
                gateway: IpAddr::V6(next_hop),
                interface: fields[9].to_owned(),
                metric,
            },
        );
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A laptop on wired and wireless, with a down VPN default route of lower metric, a
    /// point-to-point default route without a gateway, and a blackhole default route.
    const ROUTE_V4_LAPTOP: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\tFE01A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
tun0\t00000000\t0100080A\t0002\t0\t0\t50\t00000000\t0\t0\t0
ppp0\t00000000\t00000000\t0001\t0\t0\t10\t00000000\t0\t0\t0
lo\t00000000\t01010101\t0203\t0\t0\t1\t00000000\t0\t0\t0
eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
wlan0\t0000FEA9\t00000000\t0001\t0\t0\t1000\t0000FFFF\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t00000008\tFE01A8C0\t0003\t0\t0\t0\t000000FF\t0\t0\t0
";

    /// Captured on a container: one default route and its on-link subnet.
    const ROUTE_V4_CONTAINER: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0                                                                               
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0                                                                               
";

    /// Captured on the same container (ULA prefix with a default route via fd00::1).
    const ROUTE_V6_CONTAINER: &str = "\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
fd000000000000000000000000000002 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001     eth0
fe8000000000000000fc00fffe000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001     eth0
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
";

    /// Two router advertisements (metrics 0x400 and 0xff), a source-specific default
    /// route of lower metric, a down one, and the kernel's reject route.
    const ROUTE_V6_TWO_ROUTERS: &str = "\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003    wlan0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe80000000000000022186fffe5c0a11 000000ff 00000001 00000000 00450003     eth0
00000000000000000000000000000000 00 20010db8000000000000000000000000 30 fe800000000000000000000000000009 00000001 00000001 00000000 00000003     eth1
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000002 00000002 00000001 00000000 00000002     eth2
20010db8000100000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
";

    fn route(gateway: &str, interface: &str, metric: u32) -> Option<DefaultRoute> {
        Some(DefaultRoute {
            gateway: gateway.parse().unwrap(),
            interface: interface.to_owned(),
            metric,
        })
    }

    #[test]
    fn v4_picks_lowest_metric_up_gateway_route() {
        assert_eq!(
            parse_route_v4(ROUTE_V4_LAPTOP, ByteOrder::Little).unwrap(),
            route("192.168.1.254", "eth0", 100)
        );
    }

    #[test]
    fn v4_container_capture() {
        assert_eq!(
            parse_route_v4(ROUTE_V4_CONTAINER, ByteOrder::Little).unwrap(),
            route("192.0.2.1", "eth0", 0)
        );
    }

    #[test]
    fn v4_big_endian_words() {
        let text = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                    eth0\t00000000\tC0A80101\t0003\t0\t0\t0\t00000000\n";
        assert_eq!(
            parse_route_v4(text, ByteOrder::Big).unwrap(),
            route("192.168.1.1", "eth0", 0)
        );
    }

    #[test]
    fn v4_tie_keeps_first_and_negative_metric_is_large() {
        let text = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                    eth1\t00000000\t0200000A\t0003\t0\t0\t-1\t00000000\n\
                    eth0\t00000000\t0100000A\t0003\t0\t0\t7\t00000000\n\
                    eth2\t00000000\t0300000A\t0003\t0\t0\t7\t00000000\n";
        assert_eq!(
            parse_route_v4(text, ByteOrder::Little).unwrap(),
            route("10.0.0.1", "eth0", 7)
        );
        let only_negative = "eth1\t00000000\t0200000A\t0003\t0\t0\t-1\t00000000\n";
        assert_eq!(
            parse_route_v4(only_negative, ByteOrder::Little).unwrap(),
            route("10.0.0.2", "eth1", u32::MAX)
        );
    }

    #[test]
    fn v4_without_default_route_is_none() {
        let text = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                    eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\n\
                    tun0\t00000000\t0100080A\t0002\t0\t0\t50\t00000000\n";
        assert_eq!(parse_route_v4(text, ByteOrder::Little).unwrap(), None);
        assert_eq!(
            parse_route_v4(
                "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n",
                ByteOrder::Little
            )
            .unwrap(),
            None
        );
        assert_eq!(parse_route_v4("", ByteOrder::Little).unwrap(), None);
    }

    #[test]
    fn v4_malformed_lines_name_the_line_and_field() {
        let short = "Iface\tDestination\n eth0\t00000000\t0101A8C0\n";
        let err = parse_route_v4(short, ByteOrder::Little).unwrap_err();
        assert!(
            matches!(err, Error::MalformedRouteTable { line: 2, .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "malformed line 2 of /proc/net/route: expected at least 8 fields, found 3"
        );

        let bad_hex = "eth0\t0000000G\t0101A8C0\t0003\t0\t0\t0\t00000000\n";
        let err = parse_route_v4(bad_hex, ByteOrder::Little).unwrap_err();
        assert!(
            err.to_string().contains("destination \"0000000G\""),
            "{err}"
        );

        let bad_metric = "eth0\t00000000\t0101A8C0\t0003\t0\t0\tlow\t00000000\n";
        let err = parse_route_v4(bad_metric, ByteOrder::Little).unwrap_err();
        assert!(err.to_string().contains("metric \"low\""), "{err}");
    }

    #[test]
    fn v6_container_capture() {
        assert_eq!(
            parse_route_v6(ROUTE_V6_CONTAINER).unwrap(),
            route("fd00::1", "eth0", 1024)
        );
    }

    #[test]
    fn v6_picks_lowest_hex_metric_skipping_source_specific_and_down() {
        assert_eq!(
            parse_route_v6(ROUTE_V6_TWO_ROUTERS).unwrap(),
            route("fe80::221:86ff:fe5c:a11", "eth0", 255)
        );
    }

    #[test]
    fn v6_without_default_route_is_none() {
        let text = "\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
";
        assert_eq!(parse_route_v6(text).unwrap(), None);
        assert_eq!(parse_route_v6("").unwrap(), None);
    }

    #[test]
    fn v6_malformed_lines() {
        let short_address = "0000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003 eth0\n";
        let err = parse_route_v6(short_address).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed line 1 of /proc/net/ipv6_route: destination \"0000\" is not 32 hex digits"
        );
        let few_fields = "00000000000000000000000000000000 00 eth0\n";
        assert!(matches!(
            parse_route_v6(few_fields).unwrap_err(),
            Error::MalformedRouteTable { line: 1, .. }
        ));
        let bad_metric = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 0000040x 00000002 00000000 00000003 eth0\n";
        assert!(
            parse_route_v6(bad_metric)
                .unwrap_err()
                .to_string()
                .contains("metric \"0000040x\"")
        );
    }

    #[test]
    fn reading_this_machines_table_is_a_route_or_no_default_gateway() {
        for family in [Family::V4, Family::V6] {
            match default_route(family) {
                Ok(route) => assert!(!route.gateway.is_unspecified()),
                Err(Error::NoDefaultGateway { family: f }) => assert_eq!(f, family),
                // Containers without IPv6 have no /proc/net/ipv6_route.
                Err(Error::ReadRouteTable { path, .. }) if path == ROUTE_V6 => {}
                Err(e) => panic!("{family}: {e}"),
            }
        }
    }
}
