//! Interfaces and sockets: which interfaces SSDP uses, and the UDP sockets for searching
//! (one per interface, its multicast interface set) and for listening (port 1900, shared,
//! the group joined on every interface).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::UdpSocket;

use crate::error::Error;
use crate::{MULTICAST_V4, MULTICAST_V6, PORT};

/// The IPv4 multicast TTL of an M-SEARCH: the UPnP Device Architecture's default of 2.
const MULTICAST_TTL: u32 = 2;

/// An interface to search or listen on over IPv4, by its first IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkV4 {
    pub(crate) name: String,
    pub(crate) address: Ipv4Addr,
}

/// An interface to search or listen on over IPv6, by its index and link-local address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkV6 {
    pub(crate) name: String,
    pub(crate) index: u32,
    pub(crate) address: Ipv6Addr,
}

/// The suitable interfaces of this host (see [`select_links`]).
pub(crate) fn suitable_links(
    filter: Option<&[String]>,
) -> Result<(Vec<LinkV4>, Vec<LinkV6>), Error> {
    Ok(select_links(&netinfo::interfaces()?, filter))
}

/// Picks the interfaces that are up, multicast-capable and not loopback (and named in
/// `filter`, if given): for IPv4 those with an IPv4 address, for IPv6 those with a
/// link-local address. One address per interface, so that no interface is asked twice.
pub(crate) fn select_links(
    interfaces: &[netinfo::Interface],
    filter: Option<&[String]>,
) -> (Vec<LinkV4>, Vec<LinkV6>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let suitable = interfaces.iter().filter(|interface| {
        interface.is_up
            && interface.is_multicast
            && !interface.is_loopback
            && filter.is_none_or(|names| names.contains(&interface.name))
    });
    for interface in suitable {
        let v4_address = interface.addresses.iter().find_map(|a| match a.address {
            IpAddr::V4(address) if !address.is_loopback() && !address.is_unspecified() => {
                Some(address)
            }
            _ => None,
        });
        if let Some(address) = v4_address {
            v4.push(LinkV4 {
                name: interface.name.clone(),
                address,
            });
        }
        let v6_address = interface.addresses.iter().find_map(|a| match a.address {
            IpAddr::V6(address) if address.is_unicast_link_local() => Some(address),
            _ => None,
        });
        if let Some(address) = v6_address {
            v6.push(LinkV6 {
                name: interface.name.clone(),
                index: interface.index,
                address,
            });
        }
    }
    (v4, v6)
}

/// A socket that sends M-SEARCHes out of the interface holding `address` and receives the
/// answers on it.
pub(crate) fn search_socket_v4(address: Ipv4Addr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.bind(&SockAddr::from(SocketAddrV4::new(address, 0)))?;
    socket.set_multicast_if_v4(&address)?;
    socket.set_multicast_ttl_v4(MULTICAST_TTL)?;
    into_tokio(socket)
}

/// A socket that sends M-SEARCHes to `ff02::c` out of one interface.
pub(crate) fn search_socket_v6(link: &LinkV6) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_only_v6(true)?;
    socket.bind(&SockAddr::from(SocketAddrV6::new(
        link.address,
        0,
        0,
        link.index,
    )))?;
    socket.set_multicast_if_v6(link.index)?;
    into_tokio(socket)
}

/// A socket for a unicast M-SEARCH toward `target`, bound to the wildcard address of its
/// family.
pub(crate) fn unicast_socket(target: SocketAddr) -> io::Result<UdpSocket> {
    let local = unicast_local_address(target);
    let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
    if local.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&SockAddr::from(local))?;
    into_tokio(socket)
}

/// The address a unicast search socket toward `target` binds to.
pub(crate) fn unicast_local_address(target: SocketAddr) -> SocketAddr {
    match target {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

/// The IPv4 NOTIFY socket: port 1900 shared with other SSDP programs, the group joined on
/// every link. Fails only when the socket cannot be bound or no link could join.
pub(crate) fn listen_socket_v4(links: &[LinkV4]) -> Result<UdpSocket, Error> {
    let group = SocketAddrV4::new(MULTICAST_V4, PORT);
    let wildcard = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT);
    let fail = |address: SocketAddrV4| {
        move |source| Error::Socket {
            address: address.into(),
            source,
        }
    };
    let socket = shared_socket(Domain::IPV4).map_err(fail(wildcard))?;
    // Only this group's traffic, not that of every group some other socket joined.
    #[cfg(target_os = "linux")]
    socket.set_multicast_all_v4(false).map_err(fail(wildcard))?;
    // Bound to the group, the socket sees no unicast sent to port 1900 (Linux and the BSDs
    // allow this); elsewhere it falls back to the wildcard address.
    if let Err(error) = socket.bind(&SockAddr::from(group)) {
        tracing::debug!(%error, "cannot bind the ssdp listener to {group}, using {wildcard}");
        socket
            .bind(&SockAddr::from(wildcard))
            .map_err(fail(wildcard))?;
    }
    let mut joined = 0;
    let mut first_error = None;
    for link in links {
        match socket.join_multicast_v4(&MULTICAST_V4, &link.address) {
            Ok(()) => joined += 1,
            Err(source) => {
                tracing::warn!(interface = %link.name, error = %source, "cannot join {MULTICAST_V4}");
                first_error.get_or_insert(Error::Join {
                    group: MULTICAST_V4.into(),
                    interface: link.name.clone(),
                    source,
                });
            }
        }
    }
    if let (0, Some(error)) = (joined, first_error) {
        return Err(error);
    }
    into_tokio(socket).map_err(fail(wildcard))
}

/// The IPv6 NOTIFY socket: `[::]:1900` shared, `ff02::c` joined on every link that allows
/// it. `None` when no link could join (IPv6 is best effort).
pub(crate) fn listen_socket_v6(links: &[LinkV6]) -> Option<UdpSocket> {
    let open = || -> io::Result<Socket> {
        let socket = shared_socket(Domain::IPV6)?;
        socket.set_only_v6(true)?;
        socket.bind(&SockAddr::from(SocketAddrV6::new(
            Ipv6Addr::UNSPECIFIED,
            PORT,
            0,
            0,
        )))?;
        Ok(socket)
    };
    let socket = match open() {
        Ok(socket) => socket,
        Err(error) => {
            tracing::debug!(%error, "cannot open the ipv6 ssdp listener");
            return None;
        }
    };
    let mut joined = 0;
    for link in links {
        match socket.join_multicast_v6(&MULTICAST_V6, link.index) {
            Ok(()) => joined += 1,
            Err(error) => {
                tracing::debug!(interface = %link.name, %error, "cannot join {MULTICAST_V6}");
            }
        }
    }
    if joined == 0 {
        return None;
    }
    into_tokio(socket)
        .inspect_err(|error| tracing::debug!(%error, "cannot register the ipv6 ssdp listener"))
        .ok()
}

/// A UDP socket that may share its port with other SSDP programs.
fn shared_socket(domain: Domain) -> io::Result<Socket> {
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(all(
        unix,
        not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
    ))]
    socket.set_reuse_port(true)?;
    Ok(socket)
}

fn into_tokio(socket: Socket) -> io::Result<UdpSocket> {
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// Whether a receive error on a search socket is an ICMP port unreachable for an M-SEARCH it
/// sent: `ConnectionRefused` where a system reports it, and `ConnectionReset` on Windows,
/// whose UDP sockets report the ICMP message as WSAECONNRESET on the next receive. It says
/// that one destination has no SSDP listener; the socket itself is fine.
pub(crate) fn is_port_unreachable(error: &io::Error) -> bool {
    means_port_unreachable(error.kind(), cfg!(windows))
}

fn means_port_unreachable(kind: io::ErrorKind, windows: bool) -> bool {
    kind == io::ErrorKind::ConnectionRefused || (windows && kind == io::ErrorKind::ConnectionReset)
}

#[cfg(test)]
mod tests {
    use netinfo::{Interface, InterfaceAddress};

    use super::*;

    fn interface(name: &str, index: u32, addresses: &[&str]) -> Interface {
        Interface {
            name: name.to_owned(),
            index,
            addresses: addresses
                .iter()
                .map(|a| InterfaceAddress {
                    address: a.parse().expect("address"),
                    prefix_len: 24,
                })
                .collect(),
            is_up: true,
            is_loopback: false,
            is_multicast: true,
            kind: netinfo::LinkKind::Ethernet,
        }
    }

    #[test]
    fn selects_up_multicast_non_loopback_interfaces() {
        let mut lo = interface("lo", 1, &["127.0.0.1", "::1"]);
        lo.is_loopback = true;
        let eth0 = interface(
            "eth0",
            2,
            &["fe80::1", "10.0.0.5", "10.0.0.6", "2001:db8::1"],
        );
        let mut down = interface("eth1", 3, &["10.1.0.5"]);
        down.is_up = false;
        let mut tun = interface("tun0", 4, &["10.8.0.2"]);
        tun.is_multicast = false;
        let v6_only = interface("eth2", 5, &["2001:db8::2", "fe80::2"]);
        let bare = interface("br0", 6, &[]);
        let interfaces = [lo, eth0, down, tun, v6_only, bare];

        let (v4, v6) = select_links(&interfaces, None);
        assert_eq!(
            v4,
            [LinkV4 {
                name: "eth0".into(),
                address: Ipv4Addr::new(10, 0, 0, 5)
            }]
        );
        assert_eq!(
            v6,
            [
                LinkV6 {
                    name: "eth0".into(),
                    index: 2,
                    address: "fe80::1".parse().expect("address")
                },
                LinkV6 {
                    name: "eth2".into(),
                    index: 5,
                    address: "fe80::2".parse().expect("address")
                }
            ]
        );

        let (v4, v6) = select_links(&interfaces, Some(&["eth2".to_owned()]));
        assert!(v4.is_empty());
        assert_eq!(v6.len(), 1);
    }

    #[test]
    fn unicast_sockets_bind_the_wildcard_of_the_target_family() {
        assert_eq!(
            unicast_local_address("192.168.1.1:1900".parse().expect("address")),
            "0.0.0.0:0".parse::<SocketAddr>().expect("address")
        );
        assert_eq!(
            unicast_local_address("[fe80::1]:1900".parse().expect("address")),
            "[::]:0".parse::<SocketAddr>().expect("address")
        );
    }

    #[test]
    fn windows_reports_port_unreachable_as_a_reset() {
        use io::ErrorKind;
        assert!(means_port_unreachable(ErrorKind::ConnectionRefused, false));
        assert!(means_port_unreachable(ErrorKind::ConnectionRefused, true));
        assert!(means_port_unreachable(ErrorKind::ConnectionReset, true));
        assert!(!means_port_unreachable(ErrorKind::ConnectionReset, false));
        assert!(!means_port_unreachable(ErrorKind::TimedOut, true));
    }

    #[test]
    fn a_reset_is_port_unreachable_only_on_windows() {
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(is_port_unreachable(&reset), cfg!(windows));
        assert!(is_port_unreachable(
            &io::ErrorKind::ConnectionRefused.into()
        ));
    }
}
