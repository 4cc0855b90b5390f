//! [`PublicTcpListener`] and [`PublicUdpSocket`]: tokio sockets kept reachable from the
//! internet by a [`PersistentMapping`] of their port.

use std::future::Future;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use sync_wrapper::SyncFuture;

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
    /// The mapping of its port: the IPv4 port mapping, or the IPv6 pinhole of a listener
    /// bound to a specific IPv6 address.
    pub mapping: PersistentMapping,
    /// The IPv6 pinhole of a dual-stack listener (bound to `[::]`), beside the IPv4
    /// mapping.
    pub mapping_v6: Option<PersistentMapping>,
    combined: Option<watch::Receiver<PortAssignments>>,
}

impl PublicTcpListener {
    /// The addresses where the listener can be reached, now and as they change: both
    /// families' for a dual-stack listener.
    pub fn assignments(&self) -> watch::Receiver<PortAssignments> {
        match &self.combined {
            Some(combined) => combined.clone(),
            None => self.mapping.assignments(),
        }
    }

    /// The listener's local address (with the actual port when it was bound to port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(Error::io("cannot read the listener's address"))
    }

    /// Deletes the mapping (and pinhole) at the gateway, then closes the listener.
    ///
    /// # Errors
    /// As [`PersistentMapping::stop`].
    pub fn close(self) -> impl Future<Output = Result<()>> + Send + Sync {
        SyncFuture::new(async move {
            let result = stop_both(self.mapping, self.mapping_v6).await;
            drop(self.listener);
            result
        })
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
    /// The mapping of its port: the IPv4 port mapping, or the IPv6 pinhole of a socket
    /// bound to a specific IPv6 address.
    pub mapping: PersistentMapping,
    /// The IPv6 pinhole of a dual-stack socket (bound to `[::]`), beside the IPv4 mapping.
    pub mapping_v6: Option<PersistentMapping>,
    combined: Option<watch::Receiver<PortAssignments>>,
}

impl PublicUdpSocket {
    /// The addresses where the socket can be reached, now and as they change: both
    /// families' for a dual-stack socket.
    pub fn assignments(&self) -> watch::Receiver<PortAssignments> {
        match &self.combined {
            Some(combined) => combined.clone(),
            None => self.mapping.assignments(),
        }
    }

    /// The socket's local address (with the actual port when it was bound to port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket
            .local_addr()
            .map_err(Error::io("cannot read the socket's address"))
    }

    /// Deletes the mapping (and pinhole) at the gateway, then closes the socket.
    ///
    /// # Errors
    /// As [`PersistentMapping::stop`].
    pub fn close(self) -> impl Future<Output = Result<()>> + Send + Sync {
        SyncFuture::new(async move {
            let result = stop_both(self.mapping, self.mapping_v6).await;
            drop(self.socket);
            result
        })
    }
}

/// Stops both mappings together; the first error wins.
async fn stop_both(mapping: PersistentMapping, v6: Option<PersistentMapping>) -> Result<()> {
    match v6 {
        None => mapping.stop().await,
        Some(v6) => {
            let (first, second) = tokio::join!(mapping.stop(), v6.stop());
            first.and(second)
        }
    }
}

/// What keeps a socket public.
struct Kept {
    mapping: PersistentMapping,
    mapping_v6: Option<PersistentMapping>,
    combined: Option<watch::Receiver<PortAssignments>>,
}

impl Nat {
    /// Listens on `addr` (port 0 picks one) and keeps the listener's port mapped at the
    /// gateway, asking for the same external port, for
    /// [`NatOptions::lifetime`](crate::NatOptions::lifetime) at a time. Returns after the
    /// first mapping attempt; a failed one is retried in the background.
    ///
    /// The address's family decides what is kept: an IPv4 address, a port mapping; a
    /// specific IPv6 address, a pinhole for it ([`Nat::ipv6`]); `[::]` (a dual-stack
    /// socket), both, published together.
    ///
    /// # Errors
    /// [`Error::Io`] when the listener cannot be bound; [`Error::NoRuntime`] outside a tokio
    /// runtime.
    pub fn tcp_listen_public(
        &self,
        addr: impl ToSocketAddrs + Send,
    ) -> impl Future<Output = Result<PublicTcpListener>> + Send + Sync {
        SyncFuture::new(async move {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(Error::io("cannot open a tcp listener"))?;
            let bound = listener
                .local_addr()
                .map_err(Error::io("cannot read the listener's address"))?;
            let kept = self.keep_public(Protocol::Tcp, bound).await?;
            Ok(PublicTcpListener {
                listener,
                mapping: kept.mapping,
                mapping_v6: kept.mapping_v6,
                combined: kept.combined,
            })
        })
    }

    /// Binds a UDP socket to `addr` (port 0 picks one) and keeps its port mapped at the
    /// gateway, like [`tcp_listen_public`](Self::tcp_listen_public).
    ///
    /// # Errors
    /// [`Error::Io`] when the socket cannot be bound; [`Error::NoRuntime`] outside a tokio
    /// runtime.
    pub fn udp_bind_public(
        &self,
        addr: impl ToSocketAddrs + Send,
    ) -> impl Future<Output = Result<PublicUdpSocket>> + Send + Sync {
        SyncFuture::new(async move {
            let socket = UdpSocket::bind(addr)
                .await
                .map_err(Error::io("cannot bind a udp socket"))?;
            let bound = socket
                .local_addr()
                .map_err(Error::io("cannot read the socket's address"))?;
            let kept = self.keep_public(Protocol::Udp, bound).await?;
            Ok(PublicUdpSocket {
                socket,
                mapping: kept.mapping,
                mapping_v6: kept.mapping_v6,
                combined: kept.combined,
            })
        })
    }

    async fn keep_public(&self, protocol: Protocol, bound: SocketAddr) -> Result<Kept> {
        let request =
            MapRequest::new(protocol, bound.port()).with_lifetime(self.options().lifetime());
        let (v4, v6) = match bound.ip() {
            IpAddr::V6(ip) if ip.is_unspecified() => (true, true),
            IpAddr::V6(ip) if ip.to_ipv4_mapped().is_none() => (false, true),
            _ => (true, false),
        };
        if !(v4 && v6) {
            let request = request.with_ipv6(v6);
            return Ok(Kept {
                mapping: self
                    .persistent(request)
                    .local_address(bound)
                    .start()
                    .await?,
                mapping_v6: None,
                combined: None,
            });
        }
        // Both families, published as one set.
        let halves = Arc::new(Mutex::new((PortAssignments::new(), PortAssignments::new())));
        let (sender, combined) = watch::channel(PortAssignments::new());
        let sender = Arc::new(sender);
        let publish = |v6: bool| {
            let halves = Arc::clone(&halves);
            let sender = Arc::clone(&sender);
            move |assignments: &PortAssignments| {
                let mut halves = halves.lock().unwrap_or_else(|p| p.into_inner());
                if v6 {
                    halves.1 = assignments.clone();
                } else {
                    halves.0 = assignments.clone();
                }
                sender.send_replace(halves.0.union(&halves.1));
            }
        };
        let (mapping, mapping_v6) = tokio::join!(
            self.persistent(request.clone())
                .local_address(bound)
                .on_change(publish(false))
                .start(),
            self.persistent(request.with_ipv6(true))
                .local_address(bound)
                .on_change(publish(true))
                .start(),
        );
        let (mapping, mapping_v6) = (mapping?, mapping_v6?);
        sender.send_replace(mapping.current().union(&mapping_v6.current()));
        Ok(Kept {
            mapping,
            mapping_v6: Some(mapping_v6),
            combined: Some(combined),
        })
    }
}

/// [`Nat::tcp_listen_public`] on the process-wide [`Nat::shared`]: the default gateway, every
/// technique, PCP preferred.
///
/// # Errors
/// As [`Nat::tcp_listen_public`].
pub fn tcp_listen_public(
    addr: impl ToSocketAddrs + Send,
) -> impl Future<Output = Result<PublicTcpListener>> + Send + Sync {
    SyncFuture::new(async move { Nat::shared().tcp_listen_public(addr).await })
}

/// [`Nat::udp_bind_public`] on the process-wide [`Nat::shared`].
///
/// # Errors
/// As [`Nat::udp_bind_public`].
pub fn udp_bind_public(
    addr: impl ToSocketAddrs + Send,
) -> impl Future<Output = Result<PublicUdpSocket>> + Send + Sync {
    SyncFuture::new(async move { Nat::shared().udp_bind_public(addr).await })
}
