//! Dumps built by hand after the layouts in the headers (see [`Layout`]), in this
//! machine's byte order, as the kernel writes them in its own.

use super::*;

const RTF_STATIC: u32 = 0x800;
const AF_LINK: u8 = 18;
/// What an OpenBSD header is given in these tests (its `sizeof(struct rt_msghdr)`
/// does not matter to the parser, which reads `rtm_hdrlen`).
const OPENBSD_HEADER_LEN: usize = 96;

/// One routing message: its header fields and its socket addresses by `RTAX_*` index.
struct Message<'a> {
    version: u8,
    rtm_type: u8,
    index: u16,
    flags: u32,
    sockaddrs: &'a [(u32, Vec<u8>)],
}

impl Message<'_> {
    fn route(index: u16, flags: u32, sockaddrs: &[(u32, Vec<u8>)]) -> Message<'_> {
        Message {
            version: 0, // the layout's
            rtm_type: RTM_GET,
            index,
            flags,
            sockaddrs,
        }
    }

    fn bytes(&self, layout: &Layout) -> Vec<u8> {
        let header_len = match layout.header_len {
            HeaderLen::Fixed(len) => len,
            HeaderLen::Field(_) => OPENBSD_HEADER_LEN,
        };
        let mut bytes = vec![0u8; header_len];
        bytes[2] = if self.version == 0 {
            layout.version
        } else {
            self.version
        };
        bytes[3] = self.rtm_type;
        if let HeaderLen::Field(at) = layout.header_len {
            bytes[at..at + 2].copy_from_slice(&(header_len as u16).to_ne_bytes());
        }
        let addrs = self
            .sockaddrs
            .iter()
            .fold(0u32, |a, (bit, _)| a | (1 << bit));
        put(&mut bytes, layout.index_offset, &self.index.to_ne_bytes());
        put(&mut bytes, layout.flags_offset, &self.flags.to_ne_bytes());
        put(&mut bytes, layout.addrs_offset, &addrs.to_ne_bytes());
        for (_, sockaddr) in self.sockaddrs {
            let space = layout.sockaddr_space(usize::from(sockaddr[0]));
            bytes.extend_from_slice(sockaddr);
            bytes.resize(bytes.len() + space - sockaddr.len(), 0);
        }
        let len = bytes.len() as u16;
        bytes[..2].copy_from_slice(&len.to_ne_bytes());
        bytes
    }
}

fn put(bytes: &mut [u8], at: usize, field: &[u8]) {
    bytes[at..at + field.len()].copy_from_slice(field);
}

/// `struct sockaddr_in`: len 16, AF_INET, port, address, 8 bytes of zero.
fn sin(address: [u8; 4]) -> Vec<u8> {
    let mut sockaddr = vec![16, AF_INET, 0, 0];
    sockaddr.extend_from_slice(&address);
    sockaddr.resize(16, 0);
    sockaddr
}

/// `struct sockaddr_in6`: len 28, AF_INET6, port, flow info, address, scope id.
fn sin6(layout: &Layout, address: &str) -> Vec<u8> {
    let mut sockaddr = vec![28, layout.af_inet6, 0, 0, 0, 0, 0, 0];
    sockaddr.extend_from_slice(&address.parse::<Ipv6Addr>().unwrap().octets());
    sockaddr.resize(28, 0);
    sockaddr
}

/// A netmask as the kernel writes it: truncated after its last non-zero byte, its
/// family often left 0. `sa_len` 0 for the all-zero mask of a default route.
fn mask(bytes: &[u8]) -> Vec<u8> {
    if bytes.iter().all(|&b| b == 0) {
        return vec![0];
    }
    let mut sockaddr = vec![0, 0, 0, 0];
    sockaddr.extend_from_slice(bytes);
    while sockaddr.last() == Some(&0) {
        sockaddr.pop();
    }
    sockaddr[0] = sockaddr.len() as u8;
    sockaddr
}

/// `struct sockaddr_dl` naming interface `index`, the gateway of an interface route.
fn link(index: u16) -> Vec<u8> {
    let mut sockaddr = vec![20, AF_LINK];
    sockaddr.extend_from_slice(&index.to_ne_bytes());
    sockaddr.resize(20, 0);
    sockaddr
}

fn dump(layout: &Layout, messages: &[Message<'_>]) -> Vec<u8> {
    messages.iter().flat_map(|m| m.bytes(layout)).collect()
}

const UP_GATEWAY: u32 = RTF_UP | RTF_GATEWAY | RTF_STATIC;

/// A macOS IPv4 table: a gateway route to 10/8, a default route scoped to en1, the
/// primary default route on en0, and an interface route.
fn apple_v4_dump() -> Vec<u8> {
    let layout = Layout::APPLE;
    let to_10 = [
        (RTAX_DST, sin([10, 0, 0, 0])),
        (RTAX_GATEWAY, sin([192, 168, 1, 254])),
        (RTAX_NETMASK, mask(&[255])),
    ];
    let scoped = [
        (RTAX_DST, sin([0, 0, 0, 0])),
        (RTAX_GATEWAY, sin([172, 20, 10, 1])),
        (RTAX_NETMASK, mask(&[])),
    ];
    let primary = [
        (RTAX_DST, sin([0, 0, 0, 0])),
        (RTAX_GATEWAY, sin([192, 168, 1, 1])),
        (RTAX_NETMASK, mask(&[])),
        (4, link(4)), // RTAX_IFP: present in some dumps, skipped
    ];
    let interface_route = [
        (RTAX_DST, sin([192, 168, 1, 0])),
        (RTAX_GATEWAY, link(4)),
        (RTAX_NETMASK, mask(&[255, 255, 255])),
    ];
    dump(
        &layout,
        &[
            Message::route(4, UP_GATEWAY, &to_10),
            Message::route(6, UP_GATEWAY | layout.scoped_flag, &scoped),
            Message::route(4, UP_GATEWAY, &primary),
            Message::route(4, RTF_UP, &interface_route),
        ],
    )
}

#[test]
fn apple_primary_default_route_wins_over_scoped_one() {
    let layout = Layout::APPLE;
    let dump = apple_v4_dump();
    let routes = default_routes(&dump, &layout, Family::V4).unwrap();
    let gateways: Vec<_> = routes.iter().map(|r| r.gateway.to_string()).collect();
    assert_eq!(gateways, ["172.20.10.1", "192.168.1.1"]);
    let (primary, rank) = best(&routes, &layout).unwrap();
    assert_eq!(primary.gateway, IpAddr::from([192, 168, 1, 1]));
    assert_eq!(primary.interface_index, 4);
    assert_eq!(rank, 0);
    // Alone, the scoped route is taken, ranked behind.
    let (only_scoped, rank) = best(&routes[..1], &layout).unwrap();
    assert_eq!(only_scoped.interface_index, 6);
    assert_eq!(rank, 1);
    // The IPv4 dump has nothing for IPv6.
    assert!(
        default_routes(&dump, &layout, Family::V6)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn header_offsets_are_where_the_headers_put_them() {
    let dump = apple_v4_dump();
    // First message: 92-byte header, then three sockaddrs of 16, 16 and 8 bytes (the
    // /8 mask's 5 bytes rounded to 4).
    assert_eq!(u16::from_ne_bytes([dump[0], dump[1]]), 92 + 16 + 16 + 8);
    assert_eq!(dump[2], 5);
    assert_eq!(dump[92..94], [16, AF_INET]);
    assert_eq!(dump[124..126], [5, 0]);
    for (layout, flags_at, addrs_at) in [
        (Layout::APPLE, 8, 12),
        (Layout::FREEBSD_64, 8, 12),
        (Layout::NETBSD, 8, 12),
        (Layout::OPENBSD, 16, 12),
    ] {
        let sockaddrs = [(RTAX_DST, sin([0; 4])), (RTAX_GATEWAY, sin([1, 2, 3, 4]))];
        let bytes = Message::route(7, UP_GATEWAY, &sockaddrs).bytes(&layout);
        assert_eq!(read_u32(&bytes, flags_at), Some(UP_GATEWAY), "{layout:?}");
        assert_eq!(read_u32(&bytes, addrs_at), Some(0b11), "{layout:?}");
    }
}

#[test]
fn sockaddr_space_follows_each_systems_roundup() {
    let apple = Layout::APPLE;
    let freebsd = Layout::FREEBSD_64;
    for (sa_len, on_apple, on_freebsd) in [
        (0, 4, 8),
        (1, 4, 8),
        (4, 4, 8),
        (5, 8, 8),
        (8, 8, 8),
        (9, 12, 16),
        (16, 16, 16),
        (20, 20, 24),
        (28, 28, 32),
    ] {
        assert_eq!(apple.sockaddr_space(sa_len), on_apple, "apple, {sa_len}");
        assert_eq!(
            freebsd.sockaddr_space(sa_len),
            on_freebsd,
            "freebsd, {sa_len}"
        );
    }
    assert_eq!(Layout::FREEBSD_32.sockaddr_space(28), 28);
}

#[test]
fn freebsd_ipv6_default_route_via_link_local_loses_its_embedded_scope() {
    let layout = Layout::FREEBSD_64;
    let route_to_2001 = [
        (RTAX_DST, sin6(&layout, "2001:db8::")),
        (RTAX_GATEWAY, sin6(&layout, "fe80:2::9")),
        (RTAX_NETMASK, mask(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])),
    ];
    let default = [
        (RTAX_DST, sin6(&layout, "::")),
        (RTAX_GATEWAY, sin6(&layout, "fe80:2::1")),
        (RTAX_NETMASK, mask(&[])),
    ];
    let bytes = dump(
        &layout,
        &[
            Message::route(2, UP_GATEWAY, &route_to_2001),
            Message::route(2, UP_GATEWAY, &default),
        ],
    );
    // 152-byte header, sockaddr_in6 (28) rounded to 32 each, the empty mask 8.
    assert_eq!(
        usize::from(u16::from_ne_bytes([bytes[0], bytes[1]])),
        152 + 32 + 32 + 16
    );
    let routes = default_routes(&bytes, &layout, Family::V6).unwrap();
    assert_eq!(
        routes,
        [GatewayRoute {
            gateway: "fe80::1".parse().unwrap(),
            interface_index: 2,
            flags: UP_GATEWAY,
        }]
    );
    // The same bytes read with macOS's AF_INET6 (30) hold no IPv6 route.
    let apple_family = Layout {
        af_inet6: 30,
        ..layout
    };
    assert!(
        default_routes(&bytes, &apple_family, Family::V6)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn netbsd_and_openbsd_layouts() {
    for layout in [Layout::NETBSD, Layout::OPENBSD, Layout::FREEBSD_32] {
        let sockaddrs = [
            (RTAX_DST, sin([0; 4])),
            (RTAX_GATEWAY, sin([10, 0, 0, 1])),
            (RTAX_NETMASK, mask(&[])),
        ];
        let bytes = Message::route(3, UP_GATEWAY, &sockaddrs).bytes(&layout);
        let routes = default_routes(&bytes, &layout, Family::V4).unwrap();
        assert_eq!(routes.len(), 1, "{layout:?}");
        assert_eq!(routes[0].gateway, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(routes[0].interface_index, 3);
    }
}

#[test]
fn routes_that_are_not_usable_defaults_are_left_out() {
    let layout = Layout::APPLE;
    let default_via = |gateway: Vec<u8>| {
        vec![
            (RTAX_DST, sin([0; 4])),
            (RTAX_GATEWAY, gateway),
            (RTAX_NETMASK, mask(&[])),
        ]
    };
    let via_link = default_via(link(1));
    let via_nothing = default_via(sin([0; 4]));
    let host_route = [(RTAX_DST, sin([0; 4])), (RTAX_GATEWAY, sin([10, 0, 0, 1]))];
    let usable = default_via(sin([10, 0, 0, 1]));
    let other_version = Message {
        version: 4,
        ..Message::route(1, UP_GATEWAY, &usable)
    };
    let other_type = Message {
        rtm_type: 0x1, // RTM_ADD
        ..Message::route(1, UP_GATEWAY, &usable)
    };
    let bytes = dump(
        &layout,
        &[
            Message::route(1, UP_GATEWAY, &via_link),
            Message::route(1, UP_GATEWAY, &via_nothing),
            Message::route(1, UP_GATEWAY | RTF_HOST, &host_route),
            other_version,
            other_type,
        ],
    );
    assert!(
        default_routes(&bytes, &layout, Family::V4)
            .unwrap()
            .is_empty()
    );

    let unusable = dump(
        &layout,
        &[
            Message::route(1, RTF_GATEWAY, &usable),
            Message::route(1, UP_GATEWAY | RTF_REJECT, &usable),
            Message::route(1, UP_GATEWAY | RTF_BLACKHOLE, &usable),
        ],
    );
    let routes = default_routes(&unusable, &layout, Family::V4).unwrap();
    assert_eq!(routes.len(), 3);
    assert_eq!(best(&routes, &layout), None);
    assert!(default_routes(&[], &layout, Family::V4).unwrap().is_empty());
}

fn reason(result: Result<Vec<GatewayRoute>>) -> String {
    match result {
        Err(Error::MalformedRouteDump { offset, reason }) => format!("{offset}: {reason}"),
        other => panic!("expected a malformed dump, got {other:?}"),
    }
}

#[test]
fn malformed_dumps_are_errors_that_say_where() {
    let layout = Layout::APPLE;
    let good = apple_v4_dump();
    let first_len = usize::from(u16::from_ne_bytes([good[0], good[1]]));
    let v4 = Family::V4;

    // The second message cut short: its length runs past the end.
    let cut = &good[..first_len + 50];
    assert_eq!(
        reason(default_routes(cut, &layout, v4)),
        format!("{first_len}: message length 128 runs past the end (50 bytes left)")
    );
    // One stray byte after the last message.
    let mut stray = good.clone();
    stray.push(7);
    assert_eq!(
        reason(default_routes(&stray, &layout, v4)),
        format!("{}: 1 bytes left, too short for a length", good.len())
    );
    // A zero length would loop forever if it were accepted.
    let mut zero = good.clone();
    zero[..2].copy_from_slice(&0u16.to_ne_bytes());
    assert_eq!(
        reason(default_routes(&zero, &layout, v4)),
        "0: message length 0 is below 4"
    );
    // A message shorter than its header.
    let mut short = vec![0u8; 40];
    short[..2].copy_from_slice(&40u16.to_ne_bytes());
    short[2] = layout.version;
    short[3] = RTM_GET;
    assert_eq!(
        reason(default_routes(&short, &layout, v4)),
        "0: message length 40 is shorter than its 92-byte header"
    );
    // A socket address longer than what is left of its message.
    let mut long_sockaddr = good[..first_len].to_vec();
    long_sockaddr[92 + 32] = 200;
    assert!(
        reason(default_routes(&long_sockaddr, &layout, v4))
            .starts_with("0: socket address 2 of 200 bytes runs past the message's end")
    );
    // rtm_addrs names a socket address the message does not hold.
    let mut missing = good[..first_len].to_vec();
    missing[12..16].copy_from_slice(&0b1111u32.to_ne_bytes());
    assert_eq!(
        reason(default_routes(&missing, &layout, v4)),
        "0: socket address 3 is missing (the message ends at byte 132)"
    );
    // OpenBSD's header length field larger than the message.
    let openbsd = Layout::OPENBSD;
    let sockaddrs = [(RTAX_DST, sin([0; 4]))];
    let mut bytes = Message::route(1, UP_GATEWAY, &sockaddrs).bytes(&openbsd);
    bytes[4..6].copy_from_slice(&500u16.to_ne_bytes());
    assert!(reason(default_routes(&bytes, &openbsd, v4)).ends_with("its 500-byte header"),);
}

#[test]
fn no_prefix_or_corruption_of_a_dump_panics() {
    let mut dumps = vec![apple_v4_dump()];
    let layout = Layout::FREEBSD_64;
    let default = [
        (RTAX_DST, sin6(&layout, "::")),
        (RTAX_GATEWAY, sin6(&layout, "fe80:2::1")),
        (RTAX_NETMASK, mask(&[])),
    ];
    dumps.push(Message::route(2, UP_GATEWAY, &default).bytes(&layout));
    for dump in dumps {
        for end in 0..=dump.len() {
            fuzz_all_layouts(&dump[..end]);
        }
        for at in 0..dump.len() {
            for value in [0, 1, 0x7f, 0xff] {
                let mut corrupt = dump.clone();
                corrupt[at] = value;
                fuzz_all_layouts(&corrupt);
            }
        }
    }
}
