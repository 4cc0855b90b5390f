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
//!
//! `route_dump/get`: the same messages one at a time, as an `RTM_GET` request and its
//! answer on a routing socket (the route toward one destination).

// Each platform uses one of the layouts; the tests use them all.
#![cfg_attr(not(test), allow(dead_code))]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::route::Family;

/// `RTM_GET`, the message type of every entry of a table dump (the same on every BSD).
pub(crate) const RTM_GET: u8 = 0x4;
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

/// Parses `dump` with every layout and both families, as a dump and as an `RTM_GET`
/// answer, for the `route_dump` fuzz target
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
            let _ = get::decode_get(dump, &layout, family);
        }
    }
}

#[cfg(test)]
mod tests;

pub(crate) mod get;
