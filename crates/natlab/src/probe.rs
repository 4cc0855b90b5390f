//! Forwarding checks: does traffic from the WAN host reach a socket on a LAN host?
//!
//! A mapping counts only when this holds, so these helpers open a real listener on the LAN
//! host, send a token from the WAN host to the router's public address (IPv4) or to the LAN
//! host's own address (IPv6, where a pinhole replaces the mapping), and expect it echoed.

use std::io::{Read, Write};
use std::net::{
    Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener, TcpStream, UdpSocket,
};
use std::time::{Duration, Instant};

use crate::error::{LabError, Result, io_err};
use crate::{Host, Lab};

/// How long one forwarding check waits before saying "not reached".
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

impl Lab {
    /// Opens a TCP listener on `lan` at `internal_port`, connects from the WAN host to
    /// `external`, and reports whether the connection reached the listener (a token sent from
    /// the WAN host came back echoed).
    pub fn tcp_reaches(
        &self,
        lan: &Host,
        internal_port: u16,
        external: SocketAddrV4,
    ) -> Result<bool> {
        let bind = SocketAddr::from((Ipv4Addr::UNSPECIFIED, internal_port));
        self.tcp_reaches_at(lan, bind, SocketAddr::V4(external))
    }

    /// Binds a UDP socket on `lan` at `internal_port`, sends a datagram from the WAN host to
    /// `external`, and reports whether it reached the socket (and the echo came back).
    pub fn udp_reaches(
        &self,
        lan: &Host,
        internal_port: u16,
        external: SocketAddrV4,
    ) -> Result<bool> {
        let bind = SocketAddr::from((Ipv4Addr::UNSPECIFIED, internal_port));
        self.udp_reaches_at(lan, bind, SocketAddr::V4(external))
    }

    /// Opens a TCP listener on `lan` at `internal_port` (IPv6 only), connects from the WAN
    /// host to the LAN host's own IPv6 address ([`Host::address_v6`]) at that port, and
    /// reports whether the connection reached the listener. True only through a pinhole:
    /// IPv6 has no NAT in the lab, and the router's firewall drops new inbound connections.
    ///
    /// Fails with [`LabError::Invalid`] in a lab built without IPv6.
    pub fn tcp_reaches_v6(&self, lan: &Host, internal_port: u16) -> Result<bool> {
        let target = SocketAddrV6::new(v6_of(lan)?, internal_port, 0, 0);
        let bind = SocketAddr::from((Ipv6Addr::UNSPECIFIED, internal_port));
        self.tcp_reaches_at(lan, bind, SocketAddr::V6(target))
    }

    /// Binds a UDP socket on `lan` at `internal_port` (IPv6), sends a datagram from the WAN
    /// host to the LAN host's own IPv6 address at that port, and reports whether it reached
    /// the socket (and the echo came back). True only through a pinhole.
    ///
    /// Fails with [`LabError::Invalid`] in a lab built without IPv6.
    pub fn udp_reaches_v6(&self, lan: &Host, internal_port: u16) -> Result<bool> {
        let target = SocketAddrV6::new(v6_of(lan)?, internal_port, 0, 0);
        let bind = SocketAddr::from((Ipv6Addr::UNSPECIFIED, internal_port));
        self.udp_reaches_at(lan, bind, SocketAddr::V6(target))
    }

    /// A listener on `lan` at `bind`, a connection from the WAN host to `target`: whether the
    /// WAN host's token came back echoed.
    fn tcp_reaches_at(&self, lan: &Host, bind: SocketAddr, target: SocketAddr) -> Result<bool> {
        let listener = lan
            .run(move || TcpListener::bind(bind))?
            .map_err(io_err(format!(
                "cannot listen on TCP {bind} on {}",
                lan.netns
            )))?;
        listener
            .set_nonblocking(true)
            .map_err(io_err("cannot make the listener non-blocking"))?;
        let server = std::thread::spawn(move || serve_tcp_once(&listener));
        let token = token();
        let reply = self.wan().run(move || tcp_exchange(target, &token))?;
        let _ = server.join();
        Ok(reply.is_ok_and(|r| r == token_bytes()))
    }

    /// A socket on `lan` at `bind`, a datagram from the WAN host to `target`: whether the
    /// echo came back.
    fn udp_reaches_at(&self, lan: &Host, bind: SocketAddr, target: SocketAddr) -> Result<bool> {
        let socket = lan
            .run(move || UdpSocket::bind(bind))?
            .map_err(io_err(format!("cannot bind UDP {bind} on {}", lan.netns)))?;
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(io_err("cannot set a read timeout"))?;
        let server = std::thread::spawn(move || serve_udp(&socket, CHECK_TIMEOUT));
        let token = token();
        let reply = self.wan().run(move || udp_exchange(target, &token))?;
        let _ = server.join();
        Ok(reply.is_ok_and(|r| r == token_bytes()))
    }
}

fn v6_of(host: &Host) -> Result<Ipv6Addr> {
    host.address_v6.ok_or_else(|| {
        LabError::Invalid(format!(
            "{} has no IPv6 address (the lab was built without ipv6)",
            host.netns
        ))
    })
}

/// From the calling thread's namespace (use [`Host::run`] on the WAN host), connects to
/// `target`, sends `token`, and returns what comes back before the peer closes or 2 s pass.
pub fn wan_tcp_exchange(target: SocketAddrV4, token: &[u8]) -> std::io::Result<Vec<u8>> {
    tcp_exchange(SocketAddr::V4(target), token)
}

/// [`wan_tcp_exchange`] toward an IPv6 address (e.g. a LAN host's, through a pinhole).
pub fn wan_tcp_exchange_v6(target: SocketAddrV6, token: &[u8]) -> std::io::Result<Vec<u8>> {
    tcp_exchange(SocketAddr::V6(target), token)
}

/// [`wan_udp_exchange`] toward an IPv6 address (e.g. a LAN host's, through a pinhole).
pub fn wan_udp_exchange_v6(target: SocketAddrV6, token: &[u8]) -> std::io::Result<Vec<u8>> {
    udp_exchange(SocketAddr::V6(target), token)
}

fn tcp_exchange(target: SocketAddr, token: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&target, CHECK_TIMEOUT)?;
    stream.set_read_timeout(Some(CHECK_TIMEOUT))?;
    stream.write_all(token)?;
    let mut reply = vec![0u8; token.len()];
    stream.read_exact(&mut reply)?;
    Ok(reply)
}

/// From the calling thread's namespace, sends `token` to `target` (three tries, 500 ms apart)
/// and returns the first datagram that comes back.
pub fn wan_udp_exchange(target: SocketAddrV4, token: &[u8]) -> std::io::Result<Vec<u8>> {
    udp_exchange(SocketAddr::V4(target), token)
}

fn udp_exchange(target: SocketAddr, token: &[u8]) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    socket.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut buffer = [0u8; 1500];
    for _ in 0..3 {
        socket.send_to(token, target)?;
        match socket.recv_from(&mut buffer) {
            Ok((n, _)) => return Ok(buffer[..n].to_vec()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no UDP reply from {target}"),
    ))
}

fn serve_tcp_once(listener: &TcpListener) {
    let deadline = Instant::now() + CHECK_TIMEOUT;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(CHECK_TIMEOUT));
                let mut buffer = vec![0u8; token_bytes().len()];
                if stream.read_exact(&mut buffer).is_ok() {
                    let _ = stream.write_all(&buffer);
                }
                return;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn serve_udp(socket: &UdpSocket, window: Duration) {
    let deadline = Instant::now() + window;
    let mut buffer = [0u8; 1500];
    while Instant::now() < deadline {
        if let Ok((n, from)) = socket.recv_from(&mut buffer) {
            let _ = socket.send_to(&buffer[..n], from);
            return;
        }
    }
}

fn token() -> Vec<u8> {
    token_bytes().to_vec()
}

fn token_bytes() -> &'static [u8] {
    b"natlab forwarding check"
}
