//! The client's error type.

use std::net::SocketAddr;
use std::time::Duration;

use crate::{AnyResultCode, EncodeError, Version};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No acceptable answer before the schedule or the configured timeout ran out.
    #[error("gateway {gateway} did not answer in {waited:?} ({attempts} attempts)")]
    TimedOut {
        /// The gateway asked.
        gateway: SocketAddr,
        /// How long the client waited.
        waited: Duration,
        /// Requests sent.
        attempts: u32,
    },
    /// The gateway's port 5351 is closed (ICMP port unreachable): it does not speak
    /// NAT-PMP or PCP. Reported at once, not after the whole schedule.
    #[error("gateway {gateway} does not speak NAT-PMP or PCP (port {port} refused)", port = gateway.port())]
    NotSupported {
        /// The gateway asked.
        gateway: SocketAddr,
    },
    /// The gateway answered with an error result code.
    #[error("gateway {gateway} refused the {operation}: {code}")]
    Refused {
        /// The gateway asked.
        gateway: SocketAddr,
        /// What was asked ("external address request", "TCP mapping of port 8080", ...).
        operation: String,
        /// The protocol's result code.
        code: AnyResultCode,
    },
    /// The gateway speaks neither version this client was allowed to use.
    #[error("gateway {gateway} does not speak {requested} and no other version was allowed")]
    VersionMismatch {
        /// The gateway asked.
        gateway: SocketAddr,
        /// The version last tried.
        requested: Version,
    },
    /// The gateway's answer lacked what the operation needs (e.g. a MAP answer without data).
    #[error("gateway {gateway} gave an unusable answer to the {operation}: {reason}")]
    BadAnswer {
        /// The gateway asked.
        gateway: SocketAddr,
        /// What was asked.
        operation: String,
        /// What was wrong.
        reason: String,
    },
    /// The gateway reported `0.0.0.0` (or `::`) as its external address: it has no WAN
    /// connection, and nothing it maps is reachable.
    #[error(
        "gateway {gateway} reported no external address ({reported}) over {version}: it has no wan connection"
    )]
    NoExternalAddress {
        /// The gateway asked.
        gateway: SocketAddr,
        /// The version that answered.
        version: Version,
        /// The address it sent.
        reported: std::net::IpAddr,
    },
    /// The request could not be encoded (e.g. an invalid option).
    #[error("cannot encode the request: {0}")]
    Encode(#[from] EncodeError),
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the client was doing.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ClientError {
    /// The protocol result code, when the gateway refused.
    pub fn result_code(&self) -> Option<AnyResultCode> {
        match self {
            ClientError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClientError {
    let what = what.into();
    move |source| ClientError::Io { what, source }
}
