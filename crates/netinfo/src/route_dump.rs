//! The pure parser of a BSD routing-table dump: the bytes that
//! `sysctl(CTL_NET, PF_ROUTE, 0, family, NET_RT_FLAGS, RTF_GATEWAY)` returns on macOS, iOS,
//! FreeBSD, NetBSD and OpenBSD.
//!
//! A dump is a sequence of routing messages. Each starts with a `struct rt_msghdr` whose
//! first field, `rtm_msglen`, is the length of the whole message; the header is followed by
//! one socket address for each bit set in `rtm_addrs`, in bit order (`RTAX_DST` = bit 0,
//! `RTAX_GATEWAY` = 1, `RTAX_NETMASK` = 2, ...). Every socket address starts with its own
//! length `sa_len` and family `sa_family`, and occupies `sa_len` rounded up to the
//! system's alignment (4 bytes on Apple systems, `sizeof(long)` elsewhere), or one
//! alignment unit when `sa_len` is 0. The kernel truncates netmasks after their last
//! non-zero byte; the missing bytes are zero.
//!
//! The header's layout differs between systems (see [`Layout`]); every field is in the
//! machine's byte order. Nothing here does I/O, so captured or hand-built dumps are tested
//! on any machine, and nothing here panics on malformed bytes: a message whose length runs
//! past the dump, or a socket address past its message, is an
//! [`Error::MalformedRouteDump`].

// Each platform uses one of the layouts; the tests use them all.
#![cfg_attr(not(test), allow(dead_code))]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::route::Family;

/// `RTM_GET`, the message type of every entry of a table dump (the same on every BSD).
const RTM_GET: u8 = 0x4;
/// Route flags, the same on every BSD (`<net/route.h>`).
const RTF_UP: u32 = 0x1;
const RTF_GATEWAY: u32 = 0x2;
const RTF_HOST: u32 = 0x4;
const RTF_REJECT: u32 = 0x8;
const RTF_BLACKHOLE: u32 = 0x1000;
/// Indices of the socket addresses in a message (`RTAX_*`).
const RTAX_DST: u32 = 0;
const RTAX_GATEWAY: u32 = 1;
const RTAX_NETMASK: u32 = 2;
/// `AF_INET` is 2 on every BSD; `AF_INET6` differs and is in [`Layout`].
const AF_INET: u8 = 2;

/// Where one system keeps the fields this parser reads in its `struct rt_msghdr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// `RTM_VERSION`: messages of another version are skipped.
    pub(crate) version: u8,
    /// Where the socket addresses start: `sizeof(struct rt_msghdr)`.
    pub(crate) header_len: HeaderLen,
    /// Offset of `rtm_index` (`u_short`), the outgoing interface's index.
    pub(crate) index_offset: usize,
    /// Offset of `rtm_flags` (`int`).
    pub(crate) flags_offset: usize,
    /// Offset of `rtm_addrs` (`int`), the bit set of socket addresses present.
    pub(crate) addrs_offset: usize,
    /// The unit socket addresses are padded to.
    pub(crate) sockaddr_align: usize,
    /// The system's `AF_INET6`.
    pub(crate) af_inet6: u8,
    /// A flag marking a route that applies only to traffic bound to its interface
    /// (`RTF_IFSCOPE` on Apple systems), 0 where there is none. Such default routes exist
    /// beside the primary one, one per interface, and lose to it.
    pub(crate) scoped_flag: u32,
}

/// How to find the length of a message's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderLen {
    /// A fixed size, `sizeof(struct rt_msghdr)`.
    Fixed(usize),
    /// Read from a `u_short` at this offset of each message (OpenBSD's `rtm_hdrlen`).
    Field(usize),
}

impl Layout {
    /// macOS and iOS, `<net/route.h>` (xnu `bsd/net/route.h`), the same on x86_64 and
    /// arm64 since every field is 16 or 32 bits wide:
    ///
    /// ```text
    ///  0 u_short rtm_msglen    2 u_char rtm_version (5)   3 u_char rtm_type
    ///  4 u_short rtm_index     6 (padding)                8 int rtm_flags
    /// 12 int rtm_addrs        16 pid_t rtm_pid           20 int rtm_seq
    /// 24 int rtm_errno        28 int rtm_use             32 u_int32_t rtm_inits
    /// 36 struct rt_metrics rtm_rmx (14 x 32 bits = 56)   92 end
    /// ```
    ///
    /// Socket addresses are rounded to `sizeof(uint32_t)` (`ROUNDUP` in `route.c`).
    pub(crate) const APPLE: Layout = Layout {
        version: 5,
        header_len: HeaderLen::Fixed(92),
        index_offset: 4,
        flags_offset: 8,
        addrs_offset: 12,
        sockaddr_align: 4,
        af_inet6: 30,
        scoped_flag: 0x0100_0000,
    };

    /// FreeBSD on a 64-bit machine, `sys/net/route.h`:
    ///
    /// ```text
    ///  0 u_short rtm_msglen    2 u_char rtm_version (5)   3 u_char rtm_type
    ///  4 u_short rtm_index     6 u_short _rtm_spare1      8 int rtm_flags
    /// 12 int rtm_addrs        16 pid_t rtm_pid           20 int rtm_seq
    /// 24 int rtm_errno        28 int rtm_fmask           32 u_long rtm_inits
    /// 40 struct rt_metrics rtm_rmx (14 x u_long = 112)  152 end
    /// ```
    ///
    /// Socket addresses are rounded to `sizeof(long)` (`SA_SIZE` in `net/route.h`).
    pub(crate) const FREEBSD_64: Layout = Layout {
        version: 5,
        header_len: HeaderLen::Fixed(152),
        index_offset: 4,
        flags_offset: 8,
        addrs_offset: 12,
        sockaddr_align: 8,
        af_inet6: 28,
        scoped_flag: 0,
    };

    /// FreeBSD on a 32-bit machine: as [`FREEBSD_64`](Self::FREEBSD_64) with a 4-byte
    /// `u_long`, so `rtm_rmx` starts at 36 and the header ends at 36 + 14 x 4 = 92.
    pub(crate) const FREEBSD_32: Layout = Layout {
        header_len: HeaderLen::Fixed(92),
        sockaddr_align: 4,
        ..Layout::FREEBSD_64
    };

    /// NetBSD, `sys/net/route.h` (the same on every machine: `rtm_rmx` is 8-aligned and
    /// made of 64-bit fields):
    ///
    /// ```text
    ///  0 u_short rtm_msglen    2 u_char rtm_version (4)   3 u_char rtm_type
    ///  4 u_short rtm_index     6 (padding)                8 int rtm_flags
    /// 12 int rtm_addrs        16 pid_t rtm_pid           20 int rtm_seq
    /// 24 int rtm_errno        28 int rtm_use             32 int rtm_inits
    /// 36 (padding)            40 struct rt_metrics rtm_rmx (10 x 64 bits = 80)
    /// 120 end
    /// ```
    ///
    /// Socket addresses are rounded to `sizeof(uint64_t)` (`RT_ROUNDUP`).
    pub(crate) const NETBSD: Layout = Layout {
        version: 4,
        header_len: HeaderLen::Fixed(120),
        index_offset: 4,
        flags_offset: 8,
        addrs_offset: 12,
        sockaddr_align: 8,
        af_inet6: 24,
        scoped_flag: 0,
    };

    /// OpenBSD, `sys/net/route.h`; the header carries its own length:
    ///
    /// ```text
    ///  0 u_short rtm_msglen    2 u_char rtm_version (5)   3 u_char rtm_type
    ///  4 u_short rtm_hdrlen    6 u_short rtm_index        8 u_short rtm_tableid
    /// 10 u_char rtm_priority  11 u_char rtm_mpls         12 int rtm_addrs
    /// 16 int rtm_flags        20 int rtm_fmask           24 pid_t rtm_pid ...
    /// ```
    ///
    /// Socket addresses are rounded to `sizeof(long)`; OpenBSD runs only 64-bit machines
    /// among those Rust has a standard library for.
    pub(crate) const OPENBSD: Layout = Layout {
        version: 5,
        header_len: HeaderLen::Field(4),
        index_offset: 6,
        flags_offset: 16,
        addrs_offset: 12,
        sockaddr_align: 8,
        af_inet6: 24,
        scoped_flag: 0,
    };

    /// The space a socket address of length `sa_len` occupies.
    fn sockaddr_space(&self, sa_len: usize) -> usize {
        if sa_len == 0 {
            self.sockaddr_align
        } else {
            sa_len.div_ceil(self.sockaddr_align) * self.sockaddr_align
        }
    }
}

/// A default route found in a dump, before its interface index is given a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GatewayRoute {
    /// The next hop. An IPv6 link-local next hop has the scope the kernel embeds in its
    /// second 16-bit word removed.
    pub(crate) gateway: IpAddr,
    /// `rtm_index`: the outgoing interface.
    pub(crate) interface_index: u16,
    /// `rtm_flags`.
    pub(crate) flags: u32,
}

impl GatewayRoute {
    /// True when the route is up, via a gateway, and neither rejects nor drops.
    fn is_usable(&self) -> bool {
        self.flags & (RTF_UP | RTF_GATEWAY) == (RTF_UP | RTF_GATEWAY)
            && self.flags & (RTF_REJECT | RTF_BLACKHOLE | RTF_HOST) == 0
    }
}

/// The default routes (destination and netmask zero, a gateway of `family`) in `dump`, in
/// the dump's order. Messages of another version or type and routes of another family
/// are skipped.
///
/// # Errors
/// [`Error::MalformedRouteDump`] when a message's length is shorter than its header or
/// runs past the dump, or a socket address runs past its message.
pub(crate) fn default_routes(
    dump: &[u8],
    layout: &Layout,
    family: Family,
) -> Result<Vec<GatewayRoute>> {
    let mut routes = Vec::new();
    let mut offset = 0;
    while offset < dump.len() {
        let malformed = |reason: String| Error::MalformedRouteDump { offset, reason };
        let rest = &dump[offset..];
        let message_len = usize::from(read_u16(rest, 0).ok_or_else(|| {
            malformed(format!("{} bytes left, too short for a length", rest.len()))
        })?);
        if message_len < 4 {
            return Err(malformed(format!(
                "message length {message_len} is below 4"
            )));
        }
        let message = rest.get(..message_len).ok_or_else(|| {
            malformed(format!(
                "message length {message_len} runs past the end ({} bytes left)",
                rest.len()
            ))
        })?;
        if message[2] == layout.version && message[3] == RTM_GET {
            if let Some(route) = parse_message(message, layout, family).map_err(malformed)? {
                routes.push(route);
            }
        }
        offset += message_len;
    }
    Ok(routes)
}

/// The best default route: the first usable one, preferring routes not scoped to an
/// interface (see [`Layout::scoped_flag`]). The `u32` is its rank, 0 for an unscoped
/// route and 1 for a scoped one, reported as the route's metric.
pub(crate) fn best(routes: &[GatewayRoute], layout: &Layout) -> Option<(GatewayRoute, u32)> {
    routes
        .iter()
        .filter(|route| route.is_usable())
        .map(|route| {
            (
                route.clone(),
                u32::from(route.flags & layout.scoped_flag != 0),
            )
        })
        .min_by_key(|(_, rank)| *rank)
}

/// One `RTM_GET` message: `Ok(Some(_))` for a default route of `family`, `Ok(None)` for
/// any other route, `Err(reason)` when it is malformed.
fn parse_message(
    message: &[u8],
    layout: &Layout,
    family: Family,
) -> std::result::Result<Option<GatewayRoute>, String> {
    let header_len = match layout.header_len {
        HeaderLen::Fixed(len) => len,
        HeaderLen::Field(at) => usize::from(
            read_u16(message, at).ok_or_else(|| format!("no header length at byte {at}"))?,
        ),
    };
    let too_short = || {
        format!(
            "message length {} is shorter than its {header_len}-byte header",
            message.len()
        )
    };
    if message.len() < header_len {
        return Err(too_short());
    }
    let interface_index = read_u16(message, layout.index_offset).ok_or_else(too_short)?;
    let flags = read_u32(message, layout.flags_offset).ok_or_else(too_short)?;
    let addrs = read_u32(message, layout.addrs_offset).ok_or_else(too_short)?;

    let mut destination = None;
    let mut gateway = None;
    let mut netmask = None;
    let mut cursor = header_len;
    for bit in (0..32).filter(|bit| addrs & (1 << bit) != 0) {
        let rest = message.get(cursor..).unwrap_or_default();
        let sa_len = usize::from(*rest.first().ok_or_else(|| {
            format!("socket address {bit} is missing (the message ends at byte {cursor})")
        })?);
        let sockaddr = rest.get(..sa_len).ok_or_else(|| {
            format!(
                "socket address {bit} of {sa_len} bytes runs past the message's end ({} bytes left)",
                rest.len()
            )
        })?;
        match bit {
            RTAX_DST => destination = Some(sockaddr),
            RTAX_GATEWAY => gateway = Some(sockaddr),
            RTAX_NETMASK => netmask = Some(sockaddr),
            _ => {}
        }
        cursor = cursor.saturating_add(layout.sockaddr_space(sa_len));
    }

    let (Some(destination), Some(gateway)) = (destination, gateway) else {
        return Ok(None);
    };
    let Some(destination) = ip_of(destination, layout, family) else {
        return Ok(None);
    };
    // No netmask means a host route; a default route has an all-zero one, which the
    // kernel may truncate to nothing but its length byte.
    let is_default = destination.is_unspecified()
        && netmask.is_some_and(|mask| mask.iter().skip(2).all(|&b| b == 0));
    let Some(gateway) = ip_of(gateway, layout, family) else {
        return Ok(None);
    };
    if !is_default || gateway.is_unspecified() {
        return Ok(None);
    }
    Ok(Some(GatewayRoute {
        gateway: without_embedded_scope(gateway),
        interface_index,
        flags,
    }))
}

/// The address in a `sockaddr_in` or `sockaddr_in6` of `family`, reading bytes the kernel
/// left out as zero; `None` for another family (a link-layer gateway, for instance).
fn ip_of(sockaddr: &[u8], layout: &Layout, family: Family) -> Option<IpAddr> {
    let sa_family = *sockaddr.get(1)?;
    let byte = |at: usize| sockaddr.get(at).copied().unwrap_or(0);
    match family {
        // sockaddr_in: len, family, port (2), address (4) at 4.
        Family::V4 if sa_family == AF_INET => Some(IpAddr::V4(Ipv4Addr::from(
            std::array::from_fn::<u8, 4, _>(|i| byte(4 + i)),
        ))),
        // sockaddr_in6: len, family, port (2), flow info (4), address (16) at 8.
        Family::V6 if sa_family == layout.af_inet6 => Some(IpAddr::V6(Ipv6Addr::from(
            std::array::from_fn::<u8, 16, _>(|i| byte(8 + i)),
        ))),
        _ => None,
    }
}

/// BSD kernels keep a link-local address's interface index in its second 16-bit word
/// (the KAME convention) and some hand it out that way; the address itself has zeros
/// there. Other addresses are returned unchanged.
pub(crate) fn without_embedded_scope(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) if v6.segments()[0] == 0xfe80 => {
            let mut segments = v6.segments();
            segments[1] = 0;
            IpAddr::V6(Ipv6Addr::from(segments))
        }
        other => other,
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let field = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([field[0], field[1]]))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([field[0], field[1], field[2], field[3]]))
}

/// Parses `dump` with every layout and both families, for the `route_dump` fuzz target
/// (compiled only under `cargo fuzz`, which sets `--cfg fuzzing`).
#[cfg(any(fuzzing, test))]
#[allow(unreachable_pub)] // re-exported from the crate's root under `fuzzing` only
pub fn fuzz_all_layouts(dump: &[u8]) {
    for layout in [
        Layout::APPLE,
        Layout::FREEBSD_64,
        Layout::FREEBSD_32,
        Layout::NETBSD,
        Layout::OPENBSD,
    ] {
        for family in [Family::V4, Family::V6] {
            if let Ok(routes) = default_routes(dump, &layout, family) {
                let _ = best(&routes, &layout);
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
}
