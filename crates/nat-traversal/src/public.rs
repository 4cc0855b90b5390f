//! [`PublicTcpListener`] and [`PublicUdpSocket`]: tokio sockets kept reachable from the
//! internet by a [`PersistentMapping`] of their port.

use std::net::SocketAddr;

use tokio::net::{TcpListener, ToSocketAddrs, UdpSocket};
use tokio::sync::watch;

use crate::assignment::PortAssignments;
use crate::error::{Error, Result};
use crate::nat::Nat;
use crate::persistent::PersistentMapping;
use crate::technique::{MapRequest, Protocol};

/// A TCP listener and the mapping that makes it public.
///
/// Dropping it closes the listener and deletes the mapping in the background;
/// [`close`](Self::close) waits for the deletion.
#[derive(Debug)]
pub struct PublicTcpListener {
    /// The listener; accept connections on it as usual.
    pub listener: TcpListener,
    /// The mapping of its port.
    pub mapping: PersistentMapping,
}

impl PublicTcpListener {
    /// The addresses where the listener can be reached, now and as they change.
    pub fn assignments(&self) -> watch::Receiver<PortAssignments> {
        self.mapping.assignments()
    }

    /// The listener's local address (with the actual port when it was bound to port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(Error::io("cannot read the listener's address"))
    }

    /// Deletes the mapping at the gateway, then closes the listener.
    ///
    /// # Errors
    /// As [`PersistentMapping::stop`].
    pub async fn close(self) -> Result<()> {
        let result = self.mapping.stop().await;
        drop(self.listener);
        result
    }
}

/// A UDP socket and the mapping that makes it public.
///
/// Dropping it closes the socket and deletes the mapping in the background;
/// [`close`](Self::close) waits for the deletion.
#[derive(Debug)]
pub struct PublicUdpSocket {
    /// The socket; send and receive on it as usual.
    pub socket: UdpSocket,
    /// The mapping of its port.
    pub mapping: PersistentMapping,
}

impl PublicUdpSocket {
    /// The addresses where the socket can be reached, now and as they change.
    pub fn assignments(&self) -> watch::Receiver<PortAssignments> {
        self.mapping.assignments()
    }

    /// The socket's local address (with the actual port when it was bound to port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket
            .local_addr()
            .map_err(Error::io("cannot read the socket's address"))
    }

    /// Deletes the mapping at the gateway, then closes the socket.
    ///
    /// # Errors
    /// As [`PersistentMapping::stop`].
    pub async fn close(self) -> Result<()> {
        let result = self.mapping.stop().await;
        drop(self.socket);
        result
    }
}

impl Nat {
    /// Listens on `addr` (port 0 picks one) and keeps the listener's port mapped at the
    /// gateway, asking for the same external port, for
    /// [`NatOptions::lifetime`](crate::NatOptions::lifetime) at a time. Returns after the
    /// first mapping attempt; a failed one is retried in the background.
    ///
    /// # Errors
    /// [`Error::Io`] when the listener cannot be bound.
    pub async fn tcp_listen_public(&self, addr: impl ToSocketAddrs) -> Result<PublicTcpListener> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(Error::io("cannot open a tcp listener"))?;
        let bound = listener
            .local_addr()
            .map_err(Error::io("cannot read the listener's address"))?;
        let mapping = self.keep_public(Protocol::Tcp, bound).await;
        Ok(PublicTcpListener { listener, mapping })
    }

    /// Binds a UDP socket to `addr` (port 0 picks one) and keeps its port mapped at the
    /// gateway, like [`tcp_listen_public`](Self::tcp_listen_public).
    ///
    /// # Errors
    /// [`Error::Io`] when the socket cannot be bound.
    pub async fn udp_bind_public(&self, addr: impl ToSocketAddrs) -> Result<PublicUdpSocket> {
        let socket = UdpSocket::bind(addr)
            .await
            .map_err(Error::io("cannot bind a udp socket"))?;
        let bound = socket
            .local_addr()
            .map_err(Error::io("cannot read the socket's address"))?;
        let mapping = self.keep_public(Protocol::Udp, bound).await;
        Ok(PublicUdpSocket { socket, mapping })
    }

    async fn keep_public(&self, protocol: Protocol, bound: SocketAddr) -> PersistentMapping {
        let request = MapRequest::new(protocol, bound.port()).lifetime(self.options().lifetime);
        self.persistent(request).local_address(bound).start().await
    }
}

/// [`Nat::tcp_listen_public`] on the process-wide [`Nat::shared`]: the default gateway, every
/// technique, PCP preferred.
///
/// # Errors
/// As [`Nat::tcp_listen_public`].
pub async fn tcp_listen_public(addr: impl ToSocketAddrs) -> Result<PublicTcpListener> {
    Nat::shared().tcp_listen_public(addr).await
}

/// [`Nat::udp_bind_public`] on the process-wide [`Nat::shared`].
///
/// # Errors
/// As [`Nat::udp_bind_public`].
pub async fn udp_bind_public(addr: impl ToSocketAddrs) -> Result<PublicUdpSocket> {
    Nat::shared().udp_bind_public(addr).await
}
