//! The hop probe: which address answers for the hop after the router (a datagram toward
//! the STUN server with a TTL of 2, and the ICMP time-exceeded it draws, read from the
//! socket's error queue with `IP_RECVERR`). With no technique to report the router's
//! external address, a private or shared (RFC 6598) address there is the sign of a second
//! NAT: a carrier-grade NAT, or another router. Linux and Android only; elsewhere nothing
//! is sent.

use std::net::{IpAddr, SocketAddr};

/// The address of the hop after the router on the way to `server`, if it answers within
/// 300 ms (IPv4 only).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) async fn second_hop(server: SocketAddr) -> Option<IpAddr> {
    if !server.is_ipv4() {
        return None;
    }
    let probe = tokio::task::spawn_blocking(move || linux::second_hop(server));
    match probe.await {
        Ok(Ok(hop)) => hop,
        Ok(Err(e)) => {
            tracing::debug!(%server, error = %e, "hop probe failed");
            None
        }
        Err(_) => None,
    }
}

/// Not on this platform: nothing is sent.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) async fn second_hop(_server: SocketAddr) -> Option<IpAddr> {
    None
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use std::io;
    use std::io::IoSliceMut;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
    use std::os::fd::{AsFd, AsRawFd};

    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};

    /// How long to wait for the time-exceeded answer.
    const WAIT: std::time::Duration = std::time::Duration::from_millis(300);

    /// ICMP's "time exceeded" type; the origin of an error from an ICMP message.
    const ICMP_TIME_EXCEEDED: u8 = 11;
    const SO_EE_ORIGIN_ICMP: u8 = 2;

    pub(super) fn second_hop(server: SocketAddr) -> io::Result<Option<IpAddr>> {
        let socket = UdpSocket::bind(("0.0.0.0", 0))?;
        socket.connect(server)?;
        setsockopt(&socket, sockopt::Ipv4RecvErr, &true)?;
        socket.set_ttl(2)?;
        // Empty: if the datagram does reach the server (no hop in between), it is no
        // STUN request.
        socket.send(&[])?;
        let timeout = PollTimeout::try_from(WAIT).unwrap_or(PollTimeout::NONE);
        let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLERR)];
        if poll(&mut fds, timeout)? == 0 {
            return Ok(None);
        }
        let mut data = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut data)];
        let mut control = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in);
        let message = recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut control),
            MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
        )?;
        for cmsg in message.cmsgs()? {
            if let ControlMessageOwned::Ipv4RecvErr(error, Some(offender)) = cmsg {
                if error.ee_origin == SO_EE_ORIGIN_ICMP && error.ee_type == ICMP_TIME_EXCEEDED {
                    let address = Ipv4Addr::from(u32::from_be(offender.sin_addr.s_addr));
                    return Ok(Some(IpAddr::V4(address)));
                }
            }
        }
        Ok(None)
    }
}
