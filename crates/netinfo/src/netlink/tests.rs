//! Tests of the netlink codec: captured kernel answers and hand-built malformed ones.
//!
//! The captures were taken on Linux 6.x x86_64 (little-endian) inside a throwaway network
//! namespace (`unshare -n`), with a veth `d0` (index 3) holding 192.168.77.10/24 and
//! 2001:db8:77:1::10/64, two IPv4 default routes (via 192.168.77.1 metric 200, via
//! 192.168.77.2 metric 100) and IPv6 default routes via fe80::1 (then fe80::1 and fe80::2
//! as one multipath route), all metric 1024: each is the datagram the kernel answered to an
//! `RTM_GETROUTE` sent with sequence number 7 from a socket whose port id it chose, read
//! with Python's `socket.AF_NETLINK` and printed as hex. The link and address captures come
//! from the same kind of namespace holding a bridge and a tun device (see each).

use super::*;

/// The bytes of a hex string (the captures below).
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|b| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        })
        .collect();
    digits
        .chunks(2)
        .map(|pair| (pair[0] << 4) | pair[1])
        .collect()
}

fn v4(text: &str) -> IpAddr {
    IpAddr::V4(text.parse().unwrap())
}

fn v6(text: &str) -> IpAddr {
    IpAddr::V6(text.parse().unwrap())
}

fn only_route(datagram: &[u8]) -> (Received, Route) {
    let mut messages = decode(datagram).unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = messages.remove(0);
    let Body::Route(route) = message.body.clone() else {
        panic!("not a route: {message:?}");
    };
    (message, route)
}

/// `RTM_GETROUTE` 1.1.1.1 with `RTM_F_FIB_MATCH`: the metric-100 default route.
#[cfg(target_endian = "little")]
const LOOKUP_V4_FIB_MATCH: &str = "\
3c0000001800000007000000b05e000002000000fe0300010000000008000f00fe000000080006006400000008000500\
c0a84d020800040003000000";

/// `RTM_GETROUTE` 192.168.77.1 without flags: the route a socket uses, with its source.
#[cfg(target_endian = "little")]
const LOOKUP_V4_TOWARD_GATEWAY: &str = "\
680000001800000007000000e05e000002200000fe0000010002000008000f00fe00000008000100c0a84d0108000400\
0300000008000700c0a84d0a080019000000000024000c00020000000000000000000000000000000000000000000000\
0000000000000000";

/// `RTM_GETROUTE` 2606:4700::1111 with `RTM_F_FIB_MATCH`: the default route via fe80::1.
#[cfg(target_endian = "little")]
const LOOKUP_V6_FIB_MATCH: &str = "\
740000001800000007000000165f00000a000000fe0300010000000008000f00fe000000080006000004000014000500\
fe800000000000000000000000000001080004000300000024000c000000000000000000000000000000000000000000\
0000000000000000000000000500140000000000";

/// An IPv4 dump: its two datagrams (the routes of the main and local tables, then `NLMSG_DONE`).
#[cfg(target_endian = "little")]
const DUMP_V4: [&str; 2] = [
    "\
3c0000001800020007000000445f000002000000fe0300010000000008000f00fe000000080006006400000008000500\
c0a84d0208000400030000003c0000001800020007000000445f000002000000fe0300010000000008000f00fe000000\
08000600c800000008000500c0a84d0108000400030000003c0000001800020007000000445f000002180000fe02fd01\
0000000008000f00fe00000008000100c0a84d0008000700c0a84d0a08000400030000003c0000001800020007000000\
445f000002080000ff02fe020000000008000f00ff000000080001007f000000080007007f0000010800040001000000\
3c0000001800020007000000445f000002200000ff02fe020000000008000f00ff000000080001007f00000108000700\
7f00000108000400010000003c0000001800020007000000445f000002200000ff02fd030000000008000f00ff000000\
080001007fffffff080007007f00000108000400010000003c0000001800020007000000445f000002200000ff02fe02\
0000000008000f00ff00000008000100c0a84d0a08000700c0a84d0a08000400030000003c0000001800020007000000\
445f000002200000ff02fd030000000008000f00ff00000008000100c0a84dff08000700c0a84d0a0800040003000000",
    "\
140000000300020007000000445f000000000000",
];

/// `RTM_GETROUTE` 1.1.1.1 without any default route: `NLMSG_ERROR` -ENETUNREACH (-101).
#[cfg(target_endian = "little")]
const LOOKUP_V4_UNREACHABLE: &str = "\
380000000200000007000000745f00009bffffff240000001a0001000700000000000000022000000000000000200000\
0800010001010101";

/// `RTM_GETROUTE` 2606:4700::1111 with `RTM_F_FIB_MATCH` once the default route has two next hops.
#[cfg(target_endian = "little")]
const LOOKUP_V6_MULTIPATH: &str = "\
9400000018000000070000009f5f00000a000000fe0300010000000008000f00fe00000008000600000400003c000900\
1c0000000300000014000500fe8000000000000000000000000000011c0000000300000014000500fe80000000000000\
000000000000000224000c00000000000000000000000000000000000000000000000000000000000000000005001400\
00000000";

/// `RTM_GETLINK` for a tun device `tun9` (index 3, down, no process attached) in a fresh
/// namespace: `ARPHRD_NONE`, `IFF_POINTOPOINT | IFF_NOARP | IFF_MULTICAST`, kind `tun`.
#[cfg(target_endian = "little")]
const LINK_TUN: &str = "\
e00500001000000007000000b67f00000000feff0300000090100000000000000900030074756e390000000008000d00\
f401000005001000020000000500110000000000050043000000000008000400dc050000080032004400000008003300\
ffff000008001b000000000008001e000000000008003d000000000008001f000100000008002800ffff000008002900\
0000010008003a000000010008003f0000000100080040000000010008003b000000010008003c00ffff000008004200\
0000000008002000010000000500210000000000080023000100000008002f0000000000080030000100000006004400\
0000000006004500000000000500270000000000cc001700000000000000000000000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000064000700000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
0000000000000000000000000000000000000000000000000000000000000000000000000c002b000500020000000000\
380012000800010074756e002c0002000500030001000000050004000000000005000500000000000500060001000000\
0500070000000000090006006e6f6f700000000030031a008c0002008800010000000000000000000000000001000000\
010000000100000001000000000000000100000000000000000000000000000000000000000000000000000000000000\
0000000000000000000000000000000000000000000000000000000000000000000000000000000010270000e8030000\
0000000000000000000000000000000001000000a0020a00080001000000000014000500ffff0000253311004ca10000\
e8030000f40002000000000040000000dc05000001000000010000000100000001000000ffffffffa00f0000e8030000\
ffffffff803a0900805101000300000058020000100000000000000001000000010000000100000060ea000000000000\
0000000000000000000000000000000000000000ffffffff000000000000000010270000e80300000100000000000000\
00000000010000000000000000000000010000000000000000000000000000000000000080ee36000000000000000000\
0100000000000000000000000000000000000000000000000004000000000000ffff0000ffffffff0100000000000000\
000000000000000034010300260000000000000000000000000000000000000000000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000003c00060007000000000000000000000000000000\
000000000000000000000000000000000000000000000000000000000000000000000000000000001400070000000000\
000000000000000000000000050008000000000024000e00000000000000000000000000000000000000000000000000\
000000000000000004003e8004004180";

/// An `RTM_GETADDR` dump of the same namespace: `lo` (127.0.0.1/8, ::1/128) and a bridge
/// `br9` (index 2: 172.17.0.1/16, 2001:db8::5/64 added `nodad`), then `NLMSG_DONE`.
#[cfg(target_endian = "little")]
const ADDRESS_DUMP: [&str; 2] = [
    "\
4c0000001400020007000000b67f0000020880fe01000000080001007f000001080002007f000001070003006c6f0000\
080008008000000014000600ffffffffffffffff22331100223311004c0000001400020007000000b67f000002108000\
0200000008000100ac11000108000200ac1100010800030062723900080008008000000014000600ffffffffffffffff\
2333110023331100500000001400020007000000b67f00000a8080fe0100000014000100000000000000000000000000\
0000000114000600ffffffffffffffff2233110022331100080008008000000005000b00010000004800000014000200\
07000000b67f00000a408200020000001400010020010db800000000000000000000000514000600ffffffffffffffff\
24331100243311000800080082000000",
    "140000000300020007000000b67f000000000000",
];

#[cfg(target_endian = "little")]
mod captured {
    use super::*;

    #[test]
    fn a_v4_lookup_answers_the_lowest_metric_default_route() {
        let (message, route) = only_route(&hex(LOOKUP_V4_FIB_MATCH));
        assert_eq!((message.seq, message.port_id), (7, 0x5eb0));
        assert_eq!(
            route,
            Route {
                family: AF_INET,
                dst_len: 0,
                table: RT_TABLE_MAIN,
                route_type: RTN_UNICAST,
                destination: None,
                gateway: Some(v4("192.168.77.2")),
                output_interface: Some(3),
                preferred_source: None,
                metric: 100,
                next_hops: vec![],
            }
        );
        assert_eq!(route.first_gateway(), Some((v4("192.168.77.2"), Some(3))));
    }

    #[test]
    fn a_v4_lookup_without_fib_match_names_the_source_and_skips_other_attributes() {
        let (_, route) = only_route(&hex(LOOKUP_V4_TOWARD_GATEWAY));
        assert_eq!(route.dst_len, 32);
        assert_eq!(route.destination, Some(v4("192.168.77.1")));
        assert_eq!(route.preferred_source, Some(v4("192.168.77.10")));
        assert_eq!(route.gateway, None);
        assert_eq!(route.output_interface, Some(3));
        assert_eq!(route.first_gateway(), None);
    }

    #[test]
    fn a_v6_lookup_answers_a_link_local_gateway() {
        let (_, route) = only_route(&hex(LOOKUP_V6_FIB_MATCH));
        assert_eq!(route.family, AF_INET6);
        assert_eq!(route.metric, 1024);
        assert_eq!(route.gateway, Some(v6("fe80::1")));
        assert_eq!(route.output_interface, Some(3));
        assert_eq!(route.table, RT_TABLE_MAIN);
    }

    #[test]
    fn a_v6_multipath_route_yields_its_first_next_hop() {
        let (_, route) = only_route(&hex(LOOKUP_V6_MULTIPATH));
        assert_eq!(route.gateway, None);
        assert_eq!(
            route.next_hops,
            vec![
                NextHop {
                    interface: 3,
                    gateway: Some(v6("fe80::1"))
                },
                NextHop {
                    interface: 3,
                    gateway: Some(v6("fe80::2"))
                },
            ]
        );
        assert_eq!(route.first_gateway(), Some((v6("fe80::1"), Some(3))));
    }

    #[test]
    fn an_unreachable_destination_is_an_errno() {
        let messages = decode(&hex(LOOKUP_V4_UNREACHABLE)).unwrap();
        assert_eq!(
            messages,
            vec![Received {
                seq: 7,
                port_id: 0x5f74,
                body: Body::Error(101),
            }]
        );
    }

    #[test]
    fn a_dump_lists_every_route_and_ends_with_done() {
        let routes: Vec<Route> = decode(&hex(DUMP_V4[0]))
            .unwrap()
            .into_iter()
            .map(|message| match message.body {
                Body::Route(route) => route,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(routes.len(), 8);
        let tables: Vec<u32> = routes.iter().map(|route| route.table).collect();
        assert_eq!(tables, [254, 254, 254, 255, 255, 255, 255, 255]);
        let best = best_default_route(&routes).unwrap();
        assert_eq!((best.gateway, best.metric), (Some(v4("192.168.77.2")), 100));

        let done = decode(&hex(DUMP_V4[1])).unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].body, Body::Done);
    }

    #[test]
    fn a_tun_link_is_a_point_to_point_device_of_kind_tun() {
        let messages = decode(&hex(LINK_TUN)).unwrap();
        assert_eq!(messages.len(), 1);
        let Body::Link(link) = &messages[0].body else {
            panic!("not a link: {messages:?}");
        };
        assert_eq!(
            *link,
            Link {
                index: 3,
                hardware_type: 0xfffe,
                flags: 0x1090,
                name: "tun9".to_owned(),
                kind: Some("tun".to_owned()),
            }
        );
        assert_eq!(
            crate::LinkKind::from_linux(link.hardware_type, link.flags, link.kind.as_deref()),
            crate::LinkKind::Tunnel
        );
        assert!(messages[0].body.is_change());
    }

    #[test]
    fn an_address_dump_gives_each_address_with_its_interface_and_flags() {
        let addresses: Vec<Address> = decode(&hex(ADDRESS_DUMP[0]))
            .unwrap()
            .into_iter()
            .map(|message| match message.body {
                Body::Address(address) => address,
                other => panic!("{other:?}"),
            })
            .collect();
        let summary: Vec<_> = addresses
            .iter()
            .map(|a| (a.index, a.address, a.prefix_len, a.flags))
            .collect();
        assert_eq!(
            summary,
            [
                (1, v4("127.0.0.1"), 8, 0x80),
                (2, v4("172.17.0.1"), 16, 0x80),
                (1, v6("::1"), 128, 0x80),
                (2, v6("2001:db8::5"), 64, 0x82),
            ]
        );
        assert_eq!(
            pick_source(&addresses, 2, AF_INET, Some(v4("172.17.0.9"))),
            Some(v4("172.17.0.1"))
        );
        assert_eq!(decode(&hex(ADDRESS_DUMP[1])).unwrap()[0].body, Body::Done);
    }

    #[test]
    fn every_cut_of_a_capture_is_an_error_or_fewer_messages_never_a_panic() {
        let captures = [
            LOOKUP_V4_FIB_MATCH,
            LOOKUP_V4_TOWARD_GATEWAY,
            LOOKUP_V6_FIB_MATCH,
            LOOKUP_V6_MULTIPATH,
            LOOKUP_V4_UNREACHABLE,
            DUMP_V4[0],
            LINK_TUN,
            ADDRESS_DUMP[0],
        ];
        for capture in captures {
            let bytes = hex(capture);
            for cut in 1..bytes.len() {
                let result = decode(&bytes[..cut]);
                // A cut inside the first message always leaves its length past the end.
                if cut < 60 {
                    assert!(
                        matches!(result, Err(Error::MalformedNetlink { offset: 0, .. })),
                        "cut {cut}: {result:?}"
                    );
                }
                fuzz_decode(&bytes[..cut]);
            }
        }
    }
}

/// A request or answer header in the machine's byte order.
fn header_bytes(len: u32, message_type: u16, flags: u16, seq: u32, port_id: u32) -> Vec<u8> {
    let mut bytes = len.to_ne_bytes().to_vec();
    bytes.extend_from_slice(&message_type.to_ne_bytes());
    bytes.extend_from_slice(&flags.to_ne_bytes());
    bytes.extend_from_slice(&seq.to_ne_bytes());
    bytes.extend_from_slice(&port_id.to_ne_bytes());
    bytes
}

fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut bytes = (4 + value.len() as u16).to_ne_bytes().to_vec();
    bytes.extend_from_slice(&kind.to_ne_bytes());
    bytes.extend_from_slice(value);
    bytes.resize(align(bytes.len()), 0);
    bytes
}

/// An `RTM_NEWROUTE` message of `family` with `attributes` after a unicast main-table rtmsg.
fn route_message(family: u8, attributes: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = attributes.concat();
    let len = (HEADER_LEN + RTMSG_LEN + body.len()) as u32;
    let mut bytes = header_bytes(len, RTM_NEWROUTE, 0, 9, 42);
    bytes.extend_from_slice(&[family, 0, 0, 0, 254, 3, 0, RTN_UNICAST]);
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes.extend_from_slice(&body);
    bytes
}

#[test]
fn link_and_address_requests_have_the_layout_of_rtnetlink_h() {
    let mut one = header_bytes(32, RTM_GETLINK, NLM_F_REQUEST, 4, 0);
    one.extend_from_slice(&[0, 0, 0, 0]);
    one.extend_from_slice(&7i32.to_ne_bytes());
    one.extend_from_slice(&[0; 8]);
    assert_eq!(encode_link_request(Some(7), 4), one);
    let all = encode_link_request(None, 4);
    assert_eq!(read_u16(&all, 6), Some(NLM_F_REQUEST | NLM_F_DUMP));
    assert_eq!(read_u32(&all, 20), Some(0));
    let mut addresses = header_bytes(24, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 5, 0);
    addresses.extend_from_slice(&[0; 8]);
    assert_eq!(encode_address_dump(5), addresses);
}

#[test]
fn removals_are_changes_and_answers_are_not() {
    assert!(Body::Other(RTM_DELROUTE).is_change());
    assert!(Body::Other(21).is_change()); // RTM_DELADDR
    assert!(!Body::Other(RTM_GETROUTE).is_change());
    assert!(!Body::Done.is_change() && !Body::Ack.is_change() && !Body::Error(1).is_change());
}

#[test]
fn a_point_to_point_address_is_its_local_one_and_other_families_are_skipped() {
    let mut body = vec![AF_INET, 32, 0, 0];
    body.extend_from_slice(&9u32.to_ne_bytes());
    body.extend(attribute(IFA_ADDRESS, &[10, 8, 0, 1]));
    body.extend(attribute(IFA_LOCAL, &[10, 8, 0, 2]));
    let mut message = header_bytes((HEADER_LEN + body.len()) as u32, RTM_NEWADDR, 0, 1, 0);
    message.extend_from_slice(&body);
    let decoded = decode(&message).unwrap();
    assert_eq!(
        decoded[0].body,
        Body::Address(Address {
            index: 9,
            prefix_len: 32,
            address: v4("10.8.0.2"),
            flags: 0,
        })
    );
    // AF_PACKET (17): no address of ours.
    message[HEADER_LEN] = 17;
    assert_eq!(decode(&message).unwrap()[0].body, Body::Other(RTM_NEWADDR));
    // A short ifaddrmsg or ifinfomsg is malformed.
    let short = header_bytes(20, RTM_NEWADDR, 0, 1, 0)
        .into_iter()
        .chain([0; 4])
        .collect::<Vec<_>>();
    assert!(matches!(
        decode(&short),
        Err(Error::MalformedNetlink { .. })
    ));
    let mut short_link = short.clone();
    short_link[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
    assert!(matches!(
        decode(&short_link),
        Err(Error::MalformedNetlink { .. })
    ));
}

#[test]
fn a_lookup_request_has_the_layout_of_rtnetlink_h() {
    let mut expected = header_bytes(36, RTM_GETROUTE, NLM_F_REQUEST, 5, 0);
    expected.extend_from_slice(&[AF_INET, 32, 0, 0, 0, 0, 0, 0]);
    expected.extend_from_slice(&RTM_F_FIB_MATCH.to_ne_bytes());
    expected.extend_from_slice(&attribute(RTA_DST, &[1, 1, 1, 1]));
    assert_eq!(encode_lookup(v4("1.1.1.1"), 5, true), expected);

    let request = encode_lookup(v6("2606:4700::1111"), 6, false);
    assert_eq!(request.len(), 16 + 12 + 4 + 16);
    assert_eq!(&request[16..20], &[AF_INET6, 128, 0, 0]);
    assert_eq!(&request[24..28], &0u32.to_ne_bytes());
    assert_eq!(&request[32..], &v6_octets("2606:4700::1111"));
}

fn v6_octets(text: &str) -> [u8; 16] {
    text.parse::<Ipv6Addr>().unwrap().octets()
}

#[test]
fn a_dump_request_asks_for_every_route_of_the_family() {
    let mut expected = header_bytes(28, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, 8, 0);
    expected.extend_from_slice(&[AF_INET6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(encode_dump(Family::V6, 8), expected);
}

#[test]
fn a_table_above_255_comes_from_rta_table() {
    let message = route_message(
        AF_INET,
        &[
            attribute(RTA_TABLE, &1000u32.to_ne_bytes()),
            attribute(RTA_GATEWAY, &[10, 0, 0, 1]),
        ],
    );
    let (received, route) = only_route(&message);
    assert_eq!((received.seq, received.port_id), (9, 42));
    assert_eq!(route.table, 1000);
    assert_eq!(route.gateway, Some(v4("10.0.0.1")));
    // Not the main table: a dump's pick ignores it.
    assert_eq!(best_default_route(&[route]), None);
}

#[test]
fn an_ack_and_an_unknown_type_are_told_apart() {
    let mut datagram = header_bytes(20, NLMSG_ERROR, 0, 1, 2);
    datagram.extend_from_slice(&0i32.to_ne_bytes());
    datagram.extend_from_slice(&header_bytes(16, 1, 0, 1, 2));
    let messages = decode(&datagram).unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].body, Body::Ack);
    assert_eq!(messages[1].body, Body::Other(1));
}

#[test]
fn the_lowest_metric_wins_a_dump_and_the_first_wins_a_tie() {
    let route = |gateway: &str, metric: u32| Route {
        family: AF_INET,
        table: RT_TABLE_MAIN,
        route_type: RTN_UNICAST,
        gateway: Some(v4(gateway)),
        metric,
        ..Route::default()
    };
    let routes = [
        route("10.0.0.1", 200),
        route("10.0.0.2", 100),
        route("10.0.0.3", 100),
        Route {
            dst_len: 8,
            ..route("10.0.0.4", 0)
        },
        Route {
            route_type: 2,
            ..route("10.0.0.5", 0)
        },
    ];
    assert_eq!(best_default_route(&routes), Some(&routes[1]));
    assert_eq!(best_default_route(&routes[3..]), None);
}

/// (what is wrong, datagram, the reason's start)
#[test]
fn malformed_answers_name_what_is_wrong() {
    let short_attribute = {
        let mut message = route_message(AF_INET, &[attribute(RTA_GATEWAY, &[10, 0, 0, 1])]);
        // The attribute claims 64 bytes; 8 are there.
        message[28..30].copy_from_slice(&64u16.to_ne_bytes());
        message
    };
    let wrong_address_len = route_message(AF_INET6, &[attribute(RTA_GATEWAY, &[10, 0, 0, 1])]);
    let bad_next_hop = route_message(AF_INET6, &[attribute(RTA_MULTIPATH, &[4, 0, 0, 0])]);
    let short_body = {
        let mut message = header_bytes(20, RTM_NEWROUTE, 0, 1, 1);
        message.extend_from_slice(&[2, 0, 0, 0]);
        message
    };
    let below_header = header_bytes(8, NLMSG_DONE, 0, 1, 1);
    let past_end = header_bytes(400, NLMSG_DONE, 0, 1, 1);
    let error_without_code = header_bytes(16, NLMSG_ERROR, 0, 1, 1);
    let cases: [(&[u8], &str); 8] = [
        (&[1, 2, 3], "3 bytes left, too short for a 16-byte header"),
        (
            &below_header,
            "message length 8 is below the 16-byte header",
        ),
        (
            &past_end,
            "message length 400 runs past the end (16 bytes left)",
        ),
        (
            &error_without_code,
            "error message of 16 bytes has no error code",
        ),
        (
            &short_body,
            "route body of 4 bytes is shorter than the 12-byte rtmsg",
        ),
        (
            &short_attribute,
            "attribute 5 at byte 12 has length 64 (8 bytes left)",
        ),
        (
            &wrong_address_len,
            "attribute 5 at byte 12: 4 bytes is no address of family 10",
        ),
        (
            &bad_next_hop,
            "next hop at byte 12 has length 4 (4 bytes left)",
        ),
    ];
    for (datagram, reason) in cases {
        match decode(datagram) {
            Err(Error::MalformedNetlink {
                offset: 0,
                reason: found,
            }) => {
                assert_eq!(found, reason);
            }
            other => panic!("{reason}: {other:?}"),
        }
    }
}

#[test]
fn a_second_malformed_message_reports_its_own_offset() {
    let mut datagram = header_bytes(16, NLMSG_DONE, 0, 1, 1);
    datagram.extend_from_slice(&header_bytes(2, NLMSG_DONE, 0, 1, 1));
    assert!(matches!(
        decode(&datagram),
        Err(Error::MalformedNetlink { offset: 16, .. })
    ));
}

#[test]
fn next_hops_beyond_the_bound_are_ignored() {
    let mut hops = Vec::new();
    for index in 0..(MAX_NEXT_HOPS as u32 + 5) {
        hops.extend_from_slice(&8u16.to_ne_bytes());
        hops.extend_from_slice(&[0, 0]);
        hops.extend_from_slice(&index.to_ne_bytes());
    }
    let (_, route) = only_route(&route_message(AF_INET, &[attribute(RTA_MULTIPATH, &hops)]));
    assert_eq!(route.next_hops.len(), MAX_NEXT_HOPS);
    assert_eq!(route.first_gateway(), None);
}
