//! The client's socket: bound to this host's address toward the gateway, connected to the
//! gateway's port 5351, and for a link-local IPv6 gateway scoped to its interface.
//!
//! Connecting makes the kernel report an ICMP port unreachable as "connection refused" and
//! drop datagrams from any other source before they reach the client.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;

use tokio::net::UdpSocket;

use super::config::{ClientConfig, VersionChoice};
use super::error::{ClientError, io, local_address};

/// A UDP socket connected to the gateway, and the addresses it settled on.
#[derive(Debug)]
pub(super) struct ConnectedSocket {
    /// The gateway's address and port, with the scope id of a link-local gateway.
    pub(super) gateway: SocketAddr,
    /// The socket, connected to `gateway`.
    pub(super) socket: UdpSocket,
    /// The socket's local address: what PCP requests carry as the client's address.
    pub(super) client_address: IpAddr,
}

impl ConnectedSocket {
    /// Binds and connects a socket toward `gateway` as `config` says (see
    /// [`Client::with_config`](super::Client::with_config) for the errors).
    pub(super) async fn open(
        gateway: IpAddr,
        config: &ClientConfig,
    ) -> Result<ConnectedSocket, ClientError> {
        // An IPv4-mapped gateway is an IPv4 gateway, NAT-PMP and all.
        let gateway = gateway.to_canonical();
        let (server, bind) = match gateway {
            IpAddr::V4(_) => (
                SocketAddr::new(gateway, config.server_port),
                SocketAddr::new(
                    config
                        .local_address
                        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    0,
                ),
            ),
            IpAddr::V6(gateway_v6) => {
                let scope_id = if is_link_local(gateway_v6) {
                    match config.scope_id {
                        Some(scope_id) => scope_id,
                        None => {
                            netinfo::scope_id_toward(gateway_v6).map_err(local_address(gateway))?
                        }
                    }
                } else {
                    0
                };
                let server = SocketAddrV6::new(gateway_v6, config.server_port, 0, scope_id);
                if config.version == VersionChoice::NatPmp {
                    return Err(ClientError::NatPmpOverIpv6 {
                        gateway: server.into(),
                    });
                }
                let local = match config.local_address {
                    Some(IpAddr::V6(local)) => local,
                    Some(IpAddr::V4(local)) => {
                        return Err(ClientError::Io {
                            what: format!("cannot reach IPv6 gateway {server} from {local}"),
                            source: Arc::new(std::io::Error::from(
                                std::io::ErrorKind::InvalidInput,
                            )),
                        });
                    }
                    None => netinfo::local_ipv6_address_toward(gateway_v6, scope_id)
                        .map_err(local_address(gateway))?,
                };
                // A link-local source (given by the caller) needs the same scope.
                let local_scope = if is_link_local(local) { scope_id } else { 0 };
                (
                    SocketAddr::V6(server),
                    SocketAddr::V6(SocketAddrV6::new(local, 0, 0, local_scope)),
                )
            }
        };
        let socket = UdpSocket::bind(bind).await.map_err(io(format!(
            "cannot bind a UDP socket for NAT-PMP/PCP on {bind}"
        )))?;
        socket
            .connect(server)
            .await
            .map_err(io(format!("cannot reach gateway {server}")))?;
        let client_address = socket
            .local_addr()
            .map_err(io("cannot read the socket's local address"))?
            .ip();
        Ok(ConnectedSocket {
            gateway: server,
            socket,
            client_address,
        })
    }
}

/// Errors a connected UDP socket reports for one lost exchange, not for a dead gateway: the
/// kernel could not resolve the gateway's link-layer address in time (ARP lost on a lossy
/// link), or a route flapped. Only "port unreachable" (connection refused) is final.
/// Whether a send or receive error on the connected UDP socket is the gateway's ICMP port
/// unreachable: `ConnectionRefused` everywhere, and `ConnectionReset` on Windows, where a UDP
/// socket reports the ICMP message as WSAECONNRESET.
pub(super) fn is_port_unreachable(error: &std::io::Error) -> bool {
    means_port_unreachable(error.kind(), cfg!(windows))
}

fn means_port_unreachable(kind: std::io::ErrorKind, windows: bool) -> bool {
    use std::io::ErrorKind;
    kind == ErrorKind::ConnectionRefused || (windows && kind == ErrorKind::ConnectionReset)
}

pub(super) fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::WouldBlock
            | ErrorKind::Interrupted
    )
}

fn is_link_local(address: Ipv6Addr) -> bool {
    (address.segments()[0] & 0xffc0) == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn windows_reports_port_unreachable_as_a_reset() {
        assert!(means_port_unreachable(ErrorKind::ConnectionRefused, false));
        assert!(means_port_unreachable(ErrorKind::ConnectionRefused, true));
        assert!(means_port_unreachable(ErrorKind::ConnectionReset, true));
        assert!(!means_port_unreachable(ErrorKind::ConnectionReset, false));
        assert!(!means_port_unreachable(ErrorKind::TimedOut, true));
    }
}
