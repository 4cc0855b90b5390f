//! Linux and Android: the default route is the route the kernel picks toward a public
//! destination, asked over NETLINK_ROUTE (`RTM_GETROUTE`, what `ip route get 1.1.1.1`
//! asks), and the source address toward a gateway is the one the kernel picks for it.
//!
//! A route lookup sends nothing on the wire: the kernel only consults its tables, so the
//! destinations below are never contacted. The socket lives in the calling thread's
//! network namespace, so a thread that entered another one (`setns`) reads that
//! namespace's routes.
//!
//! When netlink is refused (the socket cannot be opened or the request not sent: a seccomp
//! filter or a sandbox without netlink), Linux falls back to parsing `/proc/net/route` and
//! `/proc/net/ipv6_route` (`proc_route`). Android never does: its apps may not read those
//! files, and there a refusal is an [`Error::Netlink`]. A kernel that refuses lookups but
//! answers dumps (`EOPNOTSUPP`, `EINVAL`) is asked for a dump of its routes instead, and the
//! lowest-metric default route of the main table is taken.

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::netlink::{self, RTN_UNICAST, Route};
use crate::route::{DefaultRoute, Family};

#[cfg(target_os = "linux")]
mod proc_route;
mod route_socket;

use route_socket::{ExchangeError, RouteSocket};

/// Public destinations whose route is the default route. Only looked up, never contacted.
const PUBLIC_V4: Ipv4Addr = Ipv4Addr::new(1, 1, 1, 1);
const PUBLIC_V6: Ipv6Addr = Ipv6Addr::new(0x2606, 0x4700, 0, 0, 0, 0, 0, 0x1111);

/// The kernel's default route of `family`: the route it picks toward a public address.
pub(crate) fn default_route(family: Family) -> Result<DefaultRoute> {
    let destination = match family {
        Family::V4 => IpAddr::V4(PUBLIC_V4),
        Family::V6 => IpAddr::V6(PUBLIC_V6),
    };
    let route = match lookup(destination, true) {
        Ok(route) => route,
        Err(ExchangeError::Kernel(errno)) if is_no_route(errno) => {
            return Err(Error::NoDefaultGateway { family });
        }
        Err(ExchangeError::Kernel(errno)) if errno == libc::EOPNOTSUPP || errno == libc::EINVAL => {
            return default_route_from_dump(family);
        }
        Err(ExchangeError::Refused(source)) => return refused(family, source),
        Err(error) => {
            return Err(into_error(
                error,
                format!("look up the route toward {destination}"),
            ));
        }
    };
    gateway_route(&route, family)
}

/// The source address the kernel picks toward `gateway` (`RTA_PREFSRC` of the route
/// lookup), or `None` when netlink is refused or the answer names none, for the caller to
/// ask a connected UDP socket instead.
///
/// # Errors
/// [`Error::LocalAddress`] when the kernel has no route to `gateway`.
pub(crate) fn source_address_toward(gateway: Ipv4Addr) -> Result<Option<IpAddr>> {
    let destination = IpAddr::V4(gateway);
    match lookup(destination, false) {
        Ok(route) => Ok(route.preferred_source),
        Err(ExchangeError::Refused(_)) => Ok(None),
        Err(ExchangeError::Kernel(errno)) => Err(Error::LocalAddress {
            gateway: destination,
            source: io::Error::from_raw_os_error(errno),
        }),
        Err(error) => Err(into_error(
            error,
            format!("look up the route toward {destination}"),
        )),
    }
}

/// Asks the kernel for its route toward `destination`: the table entry that matched when
/// `fib_match`, else the route as a socket would use it (with the source address).
fn lookup(destination: IpAddr, fib_match: bool) -> std::result::Result<Route, ExchangeError> {
    let socket = RouteSocket::open().map_err(ExchangeError::Refused)?;
    let seq = RouteSocket::next_seq();
    let request = netlink::encode_lookup(destination, seq, fib_match);
    socket
        .exchange(&request, seq, false)?
        .into_iter()
        .next()
        .ok_or_else(|| {
            ExchangeError::Receive(io::Error::new(
                io::ErrorKind::InvalidData,
                "the kernel acknowledged the lookup without a route",
            ))
        })
}

/// The lowest-metric default route of a dump of `family`'s routes.
fn default_route_from_dump(family: Family) -> Result<DefaultRoute> {
    let request_name = || format!("dump the {family} routes");
    let socket = RouteSocket::open().map_err(|source| Error::Netlink {
        request: request_name(),
        source,
    })?;
    let seq = RouteSocket::next_seq();
    let routes = socket
        .exchange(&netlink::encode_dump(family, seq), seq, true)
        .map_err(|error| into_error(error, request_name()))?;
    let route = netlink::best_default_route(&routes).ok_or(Error::NoDefaultGateway { family })?;
    gateway_route(route, family)
}

/// The default route a looked-up route gives: its gateway and interface, or
/// [`Error::NoDefaultGateway`] when it leads to no gateway (straight onto a link, or
/// unreachable).
fn gateway_route(route: &Route, family: Family) -> Result<DefaultRoute> {
    let none = Error::NoDefaultGateway { family };
    if route.route_type != RTN_UNICAST {
        return Err(none);
    }
    let Some((gateway, interface)) = route.first_gateway() else {
        return Err(none);
    };
    let family_matches = match family {
        Family::V4 => gateway.is_ipv4(),
        Family::V6 => gateway.is_ipv6(),
    };
    if !family_matches || gateway.is_unspecified() {
        return Err(none);
    }
    Ok(DefaultRoute {
        gateway,
        interface: interface_name(interface.unwrap_or(0))?,
        metric: route.metric,
    })
}

/// Errnos by which the kernel says it has no route (or no such family at all).
fn is_no_route(errno: i32) -> bool {
    [
        libc::ENETUNREACH,
        libc::EHOSTUNREACH,
        libc::ENETDOWN,
        libc::ESRCH,
        libc::EAFNOSUPPORT,
    ]
    .contains(&errno)
}

/// Netlink is refused: the `/proc` files on Linux.
#[cfg(target_os = "linux")]
fn refused(family: Family, _source: io::Error) -> Result<DefaultRoute> {
    proc_route::default_route(family)
}

/// Netlink is refused: on Android nothing else may be read.
#[cfg(not(target_os = "linux"))]
fn refused(family: Family, source: io::Error) -> Result<DefaultRoute> {
    Err(Error::Netlink {
        request: format!("open a socket to read the {family} default route"),
        source,
    })
}

fn into_error(error: ExchangeError, request: String) -> Error {
    match error {
        ExchangeError::Refused(source) | ExchangeError::Receive(source) => {
            Error::Netlink { request, source }
        }
        ExchangeError::Kernel(errno) => Error::Netlink {
            request,
            source: io::Error::from_raw_os_error(errno),
        },
        ExchangeError::Malformed(error) => error,
    }
}

/// The name of interface `index` in the calling thread's namespace (`if_indextoname`).
#[allow(unsafe_code)]
fn interface_name(index: u32) -> Result<String> {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer is IF_NAMESIZE bytes, as if_indextoname requires; on success it
    // holds a NUL-terminated name.
    let found = unsafe { libc::if_indextoname(index, name.as_mut_ptr()) };
    if found.is_null() {
        return Err(Error::InterfaceName {
            index,
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: if_indextoname succeeded, so `name` is NUL-terminated within its bounds.
    let name = unsafe { CStr::from_ptr(name.as_ptr()) };
    Ok(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Only route lookups here, which send nothing; the lab tests check the answers.

    #[test]
    fn this_machines_default_route_is_a_route_or_no_default_gateway() {
        for family in [Family::V4, Family::V6] {
            match default_route(family) {
                Ok(route) => {
                    assert!(!route.gateway.is_unspecified());
                    assert!(!route.interface.is_empty());
                }
                Err(Error::NoDefaultGateway { family: found }) => assert_eq!(found, family),
                Err(e) => panic!("{family}: {e}"),
            }
        }
    }

    #[test]
    fn the_source_toward_loopback_is_loopback() {
        let source = source_address_toward(Ipv4Addr::new(127, 0, 0, 2)).unwrap();
        assert_eq!(source, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[test]
    fn the_loopback_interface_has_a_name() {
        assert_eq!(interface_name(1).unwrap(), "lo");
        assert!(matches!(
            interface_name(u32::MAX),
            Err(Error::InterfaceName {
                index: u32::MAX,
                ..
            })
        ));
    }
}
