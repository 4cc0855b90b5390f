//! macOS, iOS, FreeBSD, NetBSD and OpenBSD: the default route from the kernel's routing
//! table dump, `sysctl(CTL_NET, PF_ROUTE, 0, family, NET_RT_FLAGS, RTF_GATEWAY)`, which
//! lists every route via a gateway as routing-socket messages. The bytes are parsed by
//! the pure [`route_dump`](crate::route_dump) module; this one only makes the call and
//! names the route's interface from the `getifaddrs` listing.
//!
//! The dump's routes carry no metric. The primary default route wins over those scoped
//! to one interface (macOS keeps one per interface); the reported metric is 0 for the
//! former and 1 for the latter.

// The sysctl call is the only unsafe code; each block says why it is sound.
#![allow(unsafe_code)]

use std::io;
use std::ptr;

use crate::error::{Error, Result};
use crate::route::{DefaultRoute, Family};
use crate::route_dump::{self, Layout};

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
