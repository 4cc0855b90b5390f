//! Linux and Android: everything is asked over NETLINK_ROUTE. The path toward a
//! destination is the kernel's own route lookup (`RTM_GETROUTE` with `RTA_DST`, what `ip
//! route get` asks); the default routes come from a dump of the table; the interfaces, their
//! kinds and their addresses (with the IPv6 flags: temporary, deprecated, tentative) from
//! `RTM_GETLINK` and `RTM_GETADDR` dumps; changes from the notification groups
//! (`linux/monitor`).
//!
//! A route lookup sends nothing on the wire: the kernel only consults its tables, so the
//! destinations asked about are never contacted. The sockets live in the calling thread's
//! network namespace, so a thread that entered another one (`setns`) reads that
//! namespace's routes.
//!
//! No `/proc` file is read: Android denies its apps `/proc/net/route`, and a parse of the
//! table is not what the kernel would pick. Where netlink is refused the routes are an
//! [`Error::Netlink`]; only the interface listing falls back, to `getifaddrs(3)` (itself
//! netlink on glibc and bionic, but allowed where raw link dumps are not: Android 11 and
//! later refuse `RTM_GETLINK` to apps). A kernel that refuses the lookup of the default route
//! (`EOPNOTSUPP`, `EINVAL`) is asked for a dump of its routes instead, and the lowest-metric
//! default route of the main table is taken.

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use crate::error::{Error, Result};
use crate::interface::{Interface, InterfaceAddress};
use crate::netlink::{self, AF_INET, AF_INET6, Address, Body, Link, RTN_UNICAST, Route};
use crate::path::{LinkKind, Path};
use crate::route::{DefaultRoute, Family};

pub(crate) mod monitor;
mod route_socket;

use route_socket::{ExchangeError, RouteSocket};

/// `rtm_type` of a route to one of the host's own addresses.
const RTN_LOCAL: u8 = 2;
/// `IFF_*` flags of `ifi_flags`.
const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
const IFF_MULTICAST: u32 = 0x1000;

/// The kernel's default route of `family`: the route it picks toward a public address.
pub(crate) fn default_route(family: Family) -> Result<DefaultRoute> {
    let destination = probe_destination(family);
    let route = match lookup(destination, true) {
        Ok(route) => route,
        Err(ExchangeError::Kernel(errno)) if is_no_route(errno) => {
            return Err(Error::NoDefaultGateway { family });
        }
        Err(ExchangeError::Kernel(errno)) if errno == libc::EOPNOTSUPP || errno == libc::EINVAL => {
            return default_route_from_dump(family);
        }
        Err(error) => {
            return Err(into_error(
                error,
                format!("look up the route toward {destination}"),
            ));
        }
    };
    gateway_route(&route, family)
}

fn probe_destination(family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(crate::path::INTERNET_PROBE_V4),
        Family::V6 => IpAddr::V6(crate::path::INTERNET_PROBE_V6),
    }
}

/// The path the kernel picks toward `destination`: a plain lookup gives the next hop the
/// kernel would use (one of a multipath route's) and the source address; a second one with
/// `RTM_F_FIB_MATCH` the table entry, for its metric and prefix.
pub(crate) fn route_to(destination: IpAddr) -> Result<Path> {
    let request = || format!("look up the route toward {destination}");
    let route = match lookup(destination, false) {
        Ok(route) => route,
        Err(ExchangeError::Kernel(errno))
            if is_no_route(errno) || errno == libc::EINVAL || errno == libc::EACCES =>
        {
            return Err(Error::NoRoute { destination });
        }
        Err(error) => return Err(into_error(error, request())),
    };
    if route.route_type != RTN_UNICAST && route.route_type != RTN_LOCAL {
        return Err(Error::NoRoute { destination });
    }
    let (gateway, index) = match route.first_gateway() {
        Some((gateway, index)) => (Some(gateway), index.or(route.output_interface)),
        None => (None, route.output_interface),
    };
    let index = index.ok_or_else(|| Error::Netlink {
        request: request(),
        source: io::Error::new(io::ErrorKind::InvalidData, "the route names no interface"),
    })?;
    // The table entry: old kernels answer the cached route again, with no metric.
    let entry = lookup(destination, true).ok();
    let local_address = match route.preferred_source {
        Some(source) => source,
        None => source_by_socket(destination).map_err(|source| Error::LocalAddress {
            gateway: destination,
            source,
        })?,
    };
    let (interface, kind) = link_of(index)?;
    Ok(Path {
        family: if destination.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        },
        interface,
        index,
        kind,
        local_address,
        gateway: gateway.filter(|gateway| !gateway.is_unspecified()),
        metric: entry.as_ref().map(|entry| entry.metric),
        split_default: entry.is_some_and(|entry| entry.dst_len == 1),
    })
}

/// Every way out of `family`'s tables, best first (see [`netlink::default_hops`]).
pub(crate) fn default_paths(family: Family) -> Result<Vec<Path>> {
    let number = match family {
        Family::V4 => AF_INET,
        Family::V6 => AF_INET6,
    };
    let routes: Vec<Route> = dump(&netlink::encode_dump(family, 0), || {
        format!("dump the {family} routes")
    })?
    .into_iter()
    .filter_map(|body| match body {
        Body::Route(route) => Some(route),
        _ => None,
    })
    .collect();
    let hops = netlink::default_hops(&routes, number);
    if hops.is_empty() {
        return Ok(Vec::new());
    }
    let addresses = addresses()?;
    let links = links().ok();
    let mut paths = Vec::with_capacity(hops.len());
    for hop in hops {
        let Some(local_address) = hop
            .source
            .or_else(|| netlink::pick_source(&addresses, hop.interface, number, hop.gateway))
        else {
            continue;
        };
        let (interface, kind) = match links
            .as_ref()
            .and_then(|links| links.iter().find(|link| link.index == hop.interface))
        {
            Some(link) => (link.name.clone(), kind_of(link)),
            None => link_of(hop.interface)?,
        };
        paths.push(Path {
            family,
            interface,
            index: hop.interface,
            kind,
            local_address,
            gateway: hop.gateway,
            metric: Some(hop.metric),
            split_default: hop.split,
        });
    }
    Ok(paths)
}

/// The interfaces with their kinds and addresses, from link and address dumps; from
/// `getifaddrs(3)` where the link dump is refused.
pub(crate) fn interfaces() -> Result<Vec<Interface>> {
    let (links, addresses) = match links().and_then(|links| Ok((links, addresses()?))) {
        Ok(found) => found,
        Err(Error::Netlink { .. }) => return crate::ifaddrs::interfaces(),
        Err(other) => return Err(other),
    };
    Ok(links
        .into_iter()
        .map(|link| Interface {
            kind: kind_of(&link),
            addresses: addresses
                .iter()
                .filter(|address| address.index == link.index)
                .map(|address| InterfaceAddress {
                    address: address.address,
                    prefix_len: address.prefix_len,
                })
                .collect(),
            is_up: link.flags & IFF_UP != 0,
            is_loopback: link.flags & IFF_LOOPBACK != 0,
            is_multicast: link.flags & IFF_MULTICAST != 0,
            index: link.index,
            name: link.name,
        })
        .collect())
}

/// Every IPv6 address with its interface and `IFA_F_*` flags (the low byte: temporary,
/// deprecated, tentative, DAD failed), from an address dump; nothing when it fails.
pub(crate) fn ipv6_address_flags() -> Vec<(Ipv6Addr, u32, u8)> {
    addresses()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|address| match address.address {
            // The flags kept are all in the low byte.
            IpAddr::V6(v6) => Some((v6, address.index, (address.flags & 0xff) as u8)),
            IpAddr::V4(_) => None,
        })
        .collect()
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
        .find_map(|body| match body {
            Body::Route(route) => Some(route),
            _ => None,
        })
        .ok_or_else(|| {
            ExchangeError::Receive(io::Error::new(
                io::ErrorKind::InvalidData,
                "the kernel acknowledged the lookup without a route",
            ))
        })
}

/// Sends a dump `request` (built with sequence number 0, replaced here by a fresh one) and
/// returns the answers; `name` says what was asked, for the error.
fn dump(request: &[u8], name: impl Fn() -> String) -> Result<Vec<Body>> {
    let socket = RouteSocket::open().map_err(|source| Error::Netlink {
        request: name(),
        source,
    })?;
    let seq = RouteSocket::next_seq();
    let mut request = request.to_vec();
    if let Some(field) = request.get_mut(8..12) {
        field.copy_from_slice(&seq.to_ne_bytes());
    }
    socket
        .exchange(&request, seq, true)
        .map_err(|error| into_error(error, name()))
}

/// Every interface, from an `RTM_GETLINK` dump.
fn links() -> Result<Vec<Link>> {
    Ok(dump(&netlink::encode_link_request(None, 0), || {
        "dump the interfaces".to_owned()
    })?
    .into_iter()
    .filter_map(|body| match body {
        Body::Link(link) => Some(link),
        _ => None,
    })
    .collect())
}

/// Every address, from an `RTM_GETADDR` dump.
fn addresses() -> Result<Vec<Address>> {
    Ok(dump(&netlink::encode_address_dump(0), || {
        "dump the addresses".to_owned()
    })?
    .into_iter()
    .filter_map(|body| match body {
        Body::Address(address) => Some(address),
        _ => None,
    })
    .collect())
}

fn kind_of(link: &Link) -> LinkKind {
    LinkKind::from_linux(link.hardware_type, link.flags, link.kind.as_deref())
}

/// The name and kind of interface `index`: asked with `RTM_GETLINK`, or where that is
/// refused (Android) named by `if_indextoname` and told by the `getifaddrs` listing.
fn link_of(index: u32) -> Result<(String, LinkKind)> {
    let asked = (|| {
        let socket = RouteSocket::open().ok()?;
        let seq = RouteSocket::next_seq();
        let request = netlink::encode_link_request(Some(index), seq);
        socket
            .exchange(&request, seq, false)
            .ok()?
            .into_iter()
            .find_map(|body| match body {
                Body::Link(link) if link.index == index && !link.name.is_empty() => Some(link),
                _ => None,
            })
    })();
    if let Some(link) = asked {
        return Ok((link.name.clone(), kind_of(&link)));
    }
    let name = interface_name(index)?;
    let kind = crate::ifaddrs::interfaces()
        .ok()
        .and_then(|all| all.into_iter().find(|interface| interface.index == index))
        .map_or(LinkKind::Other, |interface| interface.kind);
    Ok((name, kind))
}

/// The source a UDP socket connected toward `destination` gets (nothing is sent).
fn source_by_socket(destination: IpAddr) -> io::Result<IpAddr> {
    let unspecified: IpAddr = match destination {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0))?;
    socket.connect(SocketAddr::new(destination, 9))?;
    Ok(socket.local_addr()?.ip())
}

/// The lowest-metric default route of a dump of `family`'s routes.
fn default_route_from_dump(family: Family) -> Result<DefaultRoute> {
    let routes: Vec<Route> = dump(&netlink::encode_dump(family, 0), || {
        format!("dump the {family} routes")
    })?
    .into_iter()
    .filter_map(|body| match body {
        Body::Route(route) => Some(route),
        _ => None,
    })
    .collect();
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
    fn the_path_to_loopback_is_the_loopback_interface() {
        let path = route_to(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))).unwrap();
        assert_eq!(path.kind, LinkKind::Loopback);
        assert_eq!((path.interface.as_str(), path.index), ("lo", 1));
        assert_eq!(path.gateway, None);
        assert!(path.local_address.is_loopback());
    }

    #[test]
    fn the_netlink_listing_has_loopback_with_its_kind_and_address() {
        let interfaces = interfaces().unwrap();
        let lo = interfaces.iter().find(|i| i.name == "lo").unwrap();
        assert_eq!((lo.index, lo.kind), (1, LinkKind::Loopback));
        assert!(lo.is_up && lo.is_loopback);
        assert!(lo.addresses.contains(&InterfaceAddress {
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            prefix_len: 8
        }));
    }

    #[test]
    fn the_loopback_interface_has_a_name() {
        assert_eq!(interface_name(1).unwrap(), "lo");
        assert_eq!(link_of(1).unwrap(), ("lo".to_owned(), LinkKind::Loopback));
        assert!(matches!(
            interface_name(u32::MAX),
            Err(Error::InterfaceName {
                index: u32::MAX,
                ..
            })
        ));
    }
}
