//! macOS, iOS, FreeBSD, NetBSD and OpenBSD: the default route from the kernel's routing
//! table dump, `sysctl(CTL_NET, PF_ROUTE, 0, family, NET_RT_FLAGS, RTF_GATEWAY)`, which
//! lists every route via a gateway as routing-socket messages. The bytes are parsed by
//! the pure [`route_dump`](crate::route_dump) module; this one only makes the call and
//! names the route's interface from the `getifaddrs` listing.
//!
//! The path toward one destination is the kernel's answer to an `RTM_GET` on a routing
//! socket (macOS, iOS and FreeBSD; `route_dump/get`), and the change monitor is a routing
//! socket too (`bsd/monitor`).
//!
//! The dump's routes carry no metric. The primary default route wins over those scoped
//! to one interface (macOS keeps one per interface); the reported metric is 0 for the
//! former and 1 for the latter.

// The sysctl call is the only unsafe code; each block says why it is sound.
#![allow(unsafe_code)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::ptr;

use crate::error::{Error, Result};
use crate::interface::Interface;
use crate::path::{LinkKind, Path};
use crate::route::{DefaultRoute, Family};
use crate::route_dump::{self, Layout};

pub(crate) mod monitor;

#[cfg(any(target_os = "macos", target_os = "ios"))]
const LAYOUT: Layout = Layout::APPLE;
#[cfg(all(target_os = "freebsd", target_pointer_width = "64"))]
const LAYOUT: Layout = Layout::FREEBSD_64;
#[cfg(all(target_os = "freebsd", target_pointer_width = "32"))]
const LAYOUT: Layout = Layout::FREEBSD_32;
#[cfg(target_os = "netbsd")]
const LAYOUT: Layout = Layout::NETBSD;
#[cfg(target_os = "openbsd")]
const LAYOUT: Layout = Layout::OPENBSD;

// The layouts are written down from the headers; check them against libc's own copy of
// the constants, and of the structure where libc has it.
const _: () = assert!(libc::AF_INET6 as u8 == LAYOUT.af_inet6);
#[cfg(not(target_os = "ios"))]
const _: () = assert!(libc::RTM_VERSION as u8 == LAYOUT.version);
#[cfg(target_os = "macos")]
const _: () = {
    assert!(size_of::<libc::rt_msghdr>() == 92);
    assert!(std::mem::offset_of!(libc::rt_msghdr, rtm_index) == LAYOUT.index_offset);
    assert!(std::mem::offset_of!(libc::rt_msghdr, rtm_flags) == LAYOUT.flags_offset);
    assert!(std::mem::offset_of!(libc::rt_msghdr, rtm_addrs) == LAYOUT.addrs_offset);
    assert!(libc::RTF_IFSCOPE as u32 == LAYOUT.scoped_flag);
};

/// The largest dump read: a desktop's table is a few kilobytes, a router with a full
/// Internet table is not what this crate serves.
const MAX_DUMP_LEN: usize = 64 << 20;
/// How many times the size is asked again when the table grew between the two calls.
const ATTEMPTS: usize = 4;
const CALL: &str = "sysctl NET_RT_FLAGS";

/// Reads the routing table of `family` and returns its best default route.
pub(crate) fn default_route(family: Family) -> Result<DefaultRoute> {
    let af = match family {
        Family::V4 => libc::AF_INET,
        Family::V6 => libc::AF_INET6,
    };
    let dump = read_dump(af)?;
    let routes = route_dump::default_routes(&dump, &LAYOUT, family)?;
    let (route, metric) =
        route_dump::best(&routes, &LAYOUT).ok_or(Error::NoDefaultGateway { family })?;
    let index = u32::from(route.interface_index);
    let interface = crate::ifaddrs::interfaces()?
        .into_iter()
        .find(|interface| interface.index == index)
        .map_or_else(|| index.to_string(), |interface| interface.name);
    Ok(DefaultRoute {
        gateway: route.gateway,
        interface,
        metric,
    })
}

/// The dump of every route via a gateway in the table of address family `af`.
fn read_dump(af: libc::c_int) -> Result<Vec<u8>> {
    let mut mib = [
        libc::CTL_NET,
        libc::PF_ROUTE,
        0,
        af,
        libc::NET_RT_FLAGS,
        libc::RTF_GATEWAY,
    ];
    let call_error = |source: io::Error| Error::RouteTableCall { call: CALL, source };
    for _ in 0..ATTEMPTS {
        let mut needed: libc::size_t = 0;
        // SAFETY: `mib` holds `mib.len()` integers; a null old-value pointer asks only for
        // the size, written to `needed`, a valid `size_t`; there is no new value.
        let status = unsafe {
            libc::sysctl(
                mib.as_mut_ptr(),
                mib.len() as libc::c_uint,
                ptr::null_mut(),
                &mut needed,
                ptr::null_mut(),
                0,
            )
        };
        if status != 0 {
            return Err(call_error(io::Error::last_os_error()));
        }
        if needed > MAX_DUMP_LEN {
            return Err(call_error(io::Error::other(format!(
                "the table needs {needed} bytes, more than the {MAX_DUMP_LEN} read"
            ))));
        }
        // Room for routes added between the two calls.
        let mut buffer = vec![0u8; needed + needed / 4 + 512];
        let mut len = buffer.len();
        // SAFETY: `buffer` is valid for writes of `len` bytes; the kernel writes at most
        // `len` bytes and stores the number written in `len`.
        let status = unsafe {
            libc::sysctl(
                mib.as_mut_ptr(),
                mib.len() as libc::c_uint,
                buffer.as_mut_ptr().cast(),
                &mut len,
                ptr::null_mut(),
                0,
            )
        };
        if status == 0 {
            buffer.truncate(len);
            return Ok(buffer);
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::ENOMEM) {
            return Err(call_error(error));
        }
    }
    Err(call_error(io::Error::other(
        "the table kept growing between asking its size and reading it",
    )))
}

/// Every usable default route of `family`, best first (the primary one before those scoped
/// to one interface), each with the source address the kernel picks toward its gateway.
pub(crate) fn default_paths(family: Family) -> Result<Vec<Path>> {
    let af = match family {
        Family::V4 => libc::AF_INET,
        Family::V6 => libc::AF_INET6,
    };
    let dump = read_dump(af)?;
    let mut routes: Vec<(route_dump::GatewayRoute, u32)> =
        route_dump::default_routes(&dump, &LAYOUT, family)?
            .into_iter()
            .filter_map(|route| {
                let single = [route];
                route_dump::best(&single, &LAYOUT)
            })
            .collect();
    routes.sort_by_key(|(_, rank)| *rank);
    let interfaces = crate::ifaddrs::interfaces()?;
    let mut paths = Vec::new();
    for (route, _) in routes {
        let index = u32::from(route.interface_index);
        let Ok(local_address) = source_toward(route.gateway, index) else {
            continue;
        };
        let (interface, kind) = name_and_kind(&interfaces, index);
        paths.push(Path {
            family,
            interface,
            index,
            kind,
            local_address,
            gateway: Some(route.gateway),
            metric: None,
            split_default: false,
        });
    }
    Ok(paths)
}

/// The path toward `destination`: the kernel's answer to an `RTM_GET`.
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
pub(crate) fn route_to(destination: IpAddr) -> Result<Path> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicI32, Ordering};

    use route_dump::get;

    static NEXT_SEQ: AtomicI32 = AtomicI32::new(1);
    const CALL: &str = "RTM_GET on a routing socket";
    const MAX_READS: usize = 256;
    let call_error = |source: io::Error| Error::RouteTableCall { call: CALL, source };
    let family = if destination.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    };
    let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
    let link_len = u8::try_from(size_of::<libc::sockaddr_dl>()).unwrap_or(u8::MAX);
    let request = get::encode_get(&LAYOUT, destination, seq, link_len)
        .ok_or_else(|| call_error(io::Error::from(io::ErrorKind::Unsupported)))?;
    // SAFETY: socket(2) takes no pointers; a non-negative result is a new descriptor.
    let fd = unsafe { libc::socket(libc::PF_ROUTE, libc::SOCK_RAW, libc::AF_UNSPEC) };
    if fd < 0 {
        return Err(call_error(io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let timeout = libc::timeval {
        tv_sec: 2,
        tv_usec: 0,
    };
    // SAFETY: the option value points to a live `timeval` of the length given.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            ptr::from_ref(&timeout).cast(),
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    // SAFETY: the request is live for the call, with its length.
    let written = unsafe { libc::write(fd.as_raw_fd(), request.as_ptr().cast(), request.len()) };
    if written < 0 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::ESRCH) {
            return Err(Error::NoRoute { destination });
        }
        return Err(call_error(error));
    }
    let mut buffer = [0u8; 2048];
    for _ in 0..MAX_READS {
        // SAFETY: the buffer is live and writable for its length.
        let read = unsafe { libc::read(fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
        let Ok(len) = usize::try_from(read) else {
            return Err(call_error(io::Error::last_os_error()));
        };
        let message = &buffer[..len.min(buffer.len())];
        if get::seq_and_type(message) != Some((seq, route_dump::RTM_GET)) {
            continue;
        }
        let reply = get::decode_get(message, &LAYOUT, family)
            .map_err(|reason| Error::MalformedRouteDump { offset: 0, reason })?;
        if reply.errno != 0 || reply.flags & libc::RTF_REJECT as u32 != 0 {
            return Err(Error::NoRoute { destination });
        }
        if reply.flags & libc::RTF_BLACKHOLE as u32 != 0 {
            return Err(Error::NoRoute { destination });
        }
        let index = u32::from(reply.interface_index);
        let local_address = match reply.source {
            Some(source) => source,
            None => source_toward(destination, 0)?,
        };
        let interfaces = crate::ifaddrs::interfaces().unwrap_or_default();
        let (name, kind) = name_and_kind(&interfaces, index);
        return Ok(Path {
            family,
            interface: reply.interface_name.unwrap_or(name),
            index,
            kind,
            local_address,
            gateway: reply.gateway.filter(|gateway| !gateway.is_unspecified()),
            metric: None,
            split_default: false,
        });
    }
    Err(call_error(io::Error::new(
        io::ErrorKind::TimedOut,
        "no answer to the route request",
    )))
}

/// NetBSD and OpenBSD: not asked yet (their `rt_msghdr` requests are not written down here).
#[cfg(not(any(target_os = "macos", target_os = "ios", target_os = "freebsd")))]
pub(crate) fn route_to(_destination: IpAddr) -> Result<Path> {
    Err(Error::Unsupported {
        operation: "looking up a route on this system",
    })
}

/// The name and kind of interface `index` in `interfaces`.
fn name_and_kind(interfaces: &[Interface], index: u32) -> (String, LinkKind) {
    interfaces
        .iter()
        .find(|interface| interface.index == index)
        .map_or_else(
            || (index.to_string(), LinkKind::Other),
            |interface| (interface.name.clone(), interface.kind),
        )
}

/// The source address of a UDP socket connected toward `target` (through interface
/// `scope` for an IPv6 link-local one); nothing is sent.
fn source_toward(target: IpAddr, scope: u32) -> Result<IpAddr> {
    let probe = || -> io::Result<IpAddr> {
        let (unspecified, remote): (IpAddr, SocketAddr) = match target {
            IpAddr::V4(v4) => (Ipv4Addr::UNSPECIFIED.into(), SocketAddr::from((v4, 9))),
            IpAddr::V6(v6) => (
                Ipv6Addr::UNSPECIFIED.into(),
                SocketAddr::V6(std::net::SocketAddrV6::new(v6, 9, 0, scope)),
            ),
        };
        let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0))?;
        socket.connect(remote)?;
        Ok(socket.local_addr()?.ip())
    };
    probe().map_err(|source| Error::LocalAddress {
        gateway: target,
        source,
    })
}
