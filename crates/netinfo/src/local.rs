//! The source address the operating system would pick toward a given address, learnt from
//! a connected UDP socket. Connecting a UDP socket only consults the routing table: no
//! packet leaves the host.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use crate::error::{Error, Result};

/// The port the probe socket connects to. Any non-zero port does; this is the NAT-PMP and
/// PCP server port, the usual reason to ask.
const PROBE_PORT: u16 = 5351;

/// The local address the OS would use as source for packets to `gateway`.
///
/// It binds a UDP socket to the unspecified address of `gateway`'s family, connects it to
/// `gateway` (which sends nothing) and reads back the local address the kernel chose.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// let local = netinfo::local_address_toward(IpAddr::V4(Ipv4Addr::LOCALHOST));
/// assert_eq!(local.ok(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
/// ```
///
/// # Errors
/// [`Error::LocalAddress`] when the socket cannot be bound or connected, typically because
/// there is no route to `gateway`. An IPv6 link-local gateway (`fe80::/10`) needs a scope
/// that an [`IpAddr`] does not carry, so it fails on most systems.
pub fn local_address_toward(gateway: IpAddr) -> Result<IpAddr> {
    let unspecified = match gateway {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let probe = || -> std::io::Result<IpAddr> {
        let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0))?;
        socket.connect(SocketAddr::new(gateway, PROBE_PORT))?;
        Ok(socket.local_addr()?.ip())
    };
    probe().map_err(|source| Error::LocalAddress { gateway, source })
}

#[cfg(test)]
mod tests {
    use super::*;

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
