//! The source address the operating system would pick toward a given address, learnt from
//! a connected UDP socket. Connecting a UDP socket only consults the routing table: no
//! packet leaves the host. IPv6 goes through [`local_ipv6_address_toward`], which returns
//! the global address rather than the link-local one the kernel would use toward a
//! link-local router.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use crate::error::{Error, Result};
use crate::ipv6::{local_ipv6_address_toward, scope_id_toward};

/// The port the probe socket connects to. Any non-zero port does; this is the NAT-PMP and
/// PCP server port, the usual reason to ask.
const PROBE_PORT: u16 = 5351;

/// The local address the OS would use as source for packets to `gateway` and beyond it.
///
/// For IPv4 it is the source address the kernel picks toward `gateway`: on Linux and
/// Android the one its route lookup answers over netlink (`RTA_PREFSRC`); elsewhere, or
/// when netlink is refused, the local address of a UDP socket bound to `0.0.0.0` and
/// connected to `gateway` (which sends nothing).
///
/// For IPv6 it is the *global* address a socket uses through `gateway`: what a peer on the
/// internet sees and what a PCP pinhole is for (see [`local_ipv6_address_toward`] for the
/// choice, which avoids temporary and deprecated addresses where the system tells). A
/// link-local gateway (`fe80::/10`, the usual IPv6 router address) is reached through the
/// interface of the IPv6 default route whose next hop it is ([`scope_id_toward`]).
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// let local = netinfo::local_address_toward(IpAddr::V4(Ipv4Addr::LOCALHOST));
/// assert_eq!(local.ok(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
/// ```
///
/// # Errors
/// [`Error::LocalAddress`] when the socket cannot be bound or connected, typically because
/// there is no route to `gateway`; on Linux and Android also [`Error::Netlink`] and
/// [`Error::MalformedNetlink`] when the route lookup fails otherwise. For IPv6 also [`Error::NoInterfaceToward`] (a
/// link-local gateway that is not the default route's next hop, so its interface is
/// unknown; use [`local_ipv6_address_toward`] with the scope) and
/// [`Error::NoGlobalIpv6Address`] (only link-local addresses on that interface).
pub fn local_address_toward(gateway: IpAddr) -> Result<IpAddr> {
    let gateway_v4 = match gateway.to_canonical() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => {
            let scope_id = scope_id_toward(v6)?;
            return local_ipv6_address_toward(v6, scope_id).map(IpAddr::V6);
        }
    };
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(source) = crate::linux::source_address_toward(gateway_v4)? {
        return Ok(source);
    }
    let probe = || -> std::io::Result<IpAddr> {
        let socket = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))?;
        socket.connect(SocketAddr::from((gateway_v4, PROBE_PORT)))?;
        Ok(socket.local_addr()?.ip())
    };
    probe().map_err(|source| Error::LocalAddress { gateway, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    // Only loopback targets here: a test must never touch the real gateway.

    #[test]
    fn toward_ipv4_loopback_is_loopback() {
        assert_eq!(
            local_address_toward(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap(),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        assert!(local_address_toward(other).unwrap().is_loopback());
    }

    #[cfg(any(unix, windows))]
    #[test]
    fn toward_ipv6_loopback_is_loopback_when_the_host_has_ipv6() {
        let host_has_ipv6_loopback = crate::interface_addresses()
            .unwrap()
            .contains(&IpAddr::V6(Ipv6Addr::LOCALHOST));
        let found = local_address_toward(IpAddr::V6(Ipv6Addr::LOCALHOST));
        if host_has_ipv6_loopback {
            assert_eq!(found.unwrap(), IpAddr::V6(Ipv6Addr::LOCALHOST));
        } else {
            let err = found.unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("cannot find the local address toward ::1: "),
                "{err}"
            );
        }
    }
}
