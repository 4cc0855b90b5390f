//! The tokio driver: [`discover`] runs a [`Discovery`] over a UDP socket, and
//! [`binding_tcp`] does one Binding request over TCP (RFC 8489 §6.2.2).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::discovery::{Discovery, DiscoveryConfig, DiscoveryError, DiscoveryReport};
use crate::error::DecodeError;
use crate::message::{
    BindingRequest, BindingResponse, BindingSuccess, MAX_MESSAGE_LEN, TransactionId, frame_length,
};
use crate::transaction::Socket;

/// Why the driver has no answer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The discovery ended without a mapped address.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// A socket operation failed.
    #[error("stun {operation} with {server} failed: {source}")]
    Io {
        /// What was being done (`send`, `receive`, `connect`, ...).
        operation: &'static str,
        /// The server.
        server: SocketAddr,
        /// The error.
        source: Arc<io::Error>,
    },
    /// No answer over TCP within the budget.
    #[error("stun server {server} did not answer over tcp within {budget:?}")]
    Timeout {
        /// The server.
        server: SocketAddr,
        /// The budget.
        budget: Duration,
    },
    /// The server sent something that is not an answer to the request.
    #[error("stun server {server} sent a bad answer: {source}")]
    Decode {
        /// The server.
        server: SocketAddr,
        /// Why it was refused.
        source: DecodeError,
    },
    /// The server refused the request.
    #[error("stun server {server} answered with error {code}")]
    ErrorResponse {
        /// The server.
        server: SocketAddr,
        /// Its error code.
        code: u16,
    },
}

impl Error {
    /// Whether the server was not heard from (no answer, or a timeout).
    pub fn is_no_answer(&self) -> bool {
        match self {
            Error::Discovery(d) => d.is_no_answer(),
            Error::Timeout { .. } => true,
            _ => false,
        }
    }

    fn io(operation: &'static str, server: SocketAddr, source: io::Error) -> Error {
        Error::Io {
            operation,
            server,
            source: Arc::new(source),
        }
    }
}

/// Runs a discovery from `socket` toward `server` and returns its report.
///
/// The socket should not be read by anyone else meanwhile: the discovery reads every
/// datagram that arrives, and drops those not meant for it. The filtering tests use a
/// second socket, bound to the same address on an ephemeral port, for the duration.
pub async fn discover(
    socket: &UdpSocket,
    server: SocketAddr,
    config: DiscoveryConfig,
) -> Result<DiscoveryReport, Error> {
    let mut discovery = Discovery::new(server, config, Instant::now());
    let filtering = if discovery.needs_filtering_socket() {
        let local = socket
            .local_addr()
            .map_err(|e| Error::io("local address", server, e))?;
        let bind = SocketAddr::new(local.ip(), 0);
        Some(
            UdpSocket::bind(bind)
                .await
                .map_err(|e| Error::io("bind", server, e))?,
        )
    } else {
        None
    };
    let mut buffer = vec![0; MAX_MESSAGE_LEN];
    let mut filtering_buffer = vec![0; MAX_MESSAGE_LEN];
    loop {
        let now = Instant::now();
        while let Some(transmit) = discovery.poll_transmit(now) {
            let from = match (transmit.socket, &filtering) {
                (Socket::Filtering, Some(f)) => f,
                _ => socket,
            };
            if let Err(e) = from.send_to(&transmit.payload, transmit.destination).await {
                // A failed hairpinning probe or a late test must not sink the others;
                // a request that never left ends like an unanswered one.
                tracing::debug!(to = %transmit.destination, error = %e, "stun send failed");
            }
        }
        let Some(next) = discovery.poll_timeout() else {
            break;
        };
        let sleep = tokio::time::sleep_until(next.into());
        let filtering_recv = async {
            match &filtering {
                Some(f) => f.recv_from(&mut filtering_buffer).await,
                None => std::future::pending().await,
            }
        };
        let (on, received, bytes) = tokio::select! {
            received = socket.recv_from(&mut buffer) => (Socket::Main, received, &buffer),
            received = filtering_recv => (Socket::Filtering, received, &filtering_buffer),
            () = sleep => {
                discovery.handle_timeout(Instant::now());
                continue;
            }
        };
        match received {
            Ok((len, source)) => {
                let bytes = bytes.get(..len).unwrap_or_default();
                if let Err(e) = discovery.handle_datagram(on, source, bytes, Instant::now()) {
                    tracing::debug!(from = %source, error = %e, "not a stun answer");
                }
            }
            // ICMP errors surface as failed receives on some systems: keep waiting, the
            // schedule bounds the wait.
            Err(e) => tracing::debug!(error = %e, "stun receive failed"),
        }
    }
    Ok(discovery.report()?)
}

/// One Binding request over TCP to `server`, from an ephemeral port (or `local` when
/// given), within `budget`: the address the server saw.
pub async fn binding_tcp(
    server: SocketAddr,
    local: Option<SocketAddr>,
    budget: Duration,
) -> Result<BindingSuccess, Error> {
    let exchange = async {
        let stream = match local {
            None => TcpStream::connect(server).await,
            Some(local) => {
                let socket = if local.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()
                } else {
                    tokio::net::TcpSocket::new_v6()
                }
                .map_err(|e| Error::io("socket", server, e))?;
                // A port checked twice in a row may still have a connection in TIME_WAIT.
                socket
                    .set_reuseaddr(true)
                    .map_err(|e| Error::io("socket", server, e))?;
                socket
                    .bind(local)
                    .map_err(|e| Error::io("bind", server, e))?;
                socket.connect(server).await
            }
        };
        let mut stream = stream.map_err(|e| Error::io("connect", server, e))?;
        let id = TransactionId::random();
        stream
            .write_all(&BindingRequest::new(id).encode())
            .await
            .map_err(|e| Error::io("send", server, e))?;
        let bytes = read_frame(&mut stream, server).await?;
        match BindingResponse::decode(&bytes) {
            Ok(BindingResponse::Success(s)) if s.transaction_id == id => Ok(s),
            Ok(BindingResponse::Error {
                transaction_id,
                code,
            }) if transaction_id == id => Err(Error::ErrorResponse { server, code }),
            Ok(_) => Err(Error::Decode {
                server,
                source: DecodeError::Malformed {
                    reason: "answer to another transaction".into(),
                },
            }),
            Err(source) => Err(Error::Decode { server, source }),
        }
    };
    tokio::time::timeout(budget, exchange)
        .await
        .unwrap_or(Err(Error::Timeout { server, budget }))
}

/// Reads one STUN message off a stream, never more than [`MAX_MESSAGE_LEN`] bytes.
async fn read_frame(stream: &mut TcpStream, server: SocketAddr) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::with_capacity(256);
    let mut chunk = [0; 512];
    loop {
        match frame_length(&bytes) {
            Err(source) => return Err(Error::Decode { server, source }),
            Ok(Some(len)) if bytes.len() >= len => {
                bytes.truncate(len);
                return Ok(bytes);
            }
            Ok(_) => {}
        }
        let want = chunk
            .len()
            .min(MAX_MESSAGE_LEN.saturating_sub(bytes.len()).max(1));
        let read = stream
            .read(&mut chunk[..want])
            .await
            .map_err(|e| Error::io("receive", server, e))?;
        if read == 0 {
            return Err(Error::Decode {
                server,
                source: DecodeError::TooShort {
                    len: bytes.len(),
                    needed: frame_length(&bytes).ok().flatten().unwrap_or(20),
                },
            });
        }
        bytes.extend_from_slice(&chunk[..read]);
    }
}
