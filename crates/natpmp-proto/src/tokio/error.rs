//! The client's error type.

use std::net::SocketAddr;
use std::time::Duration;

use crate::{AnyResultCode, EncodeError, Version};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No acceptable answer before the schedule or the configured timeout ran out.
    #[error("gateway {gateway} {} in {} ({attempts} attempts)", answered(.unusable), Seconds(*.waited))]
    TimedOut {
        /// The gateway asked.
        gateway: SocketAddr,
        /// How long the client waited.
        waited: Duration,
        /// Requests sent.
        attempts: u32,
        /// The gateway did answer, but only with datagrams the client could not use: how
        /// many, and why the last one was dropped ("undecodable", "nonce mismatch").
        unusable: Option<(u32, crate::IgnoreReason)>,
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
    /// NAT-PMP was asked for (`VersionChoice::NatPmp`) with an IPv6 gateway: NAT-PMP is
    /// IPv4 only (RFC 6886), and over IPv6 only PCP is spoken.
    #[error("gateway {gateway} is an ipv6 address and nat-pmp works over ipv4 only")]
    NatPmpOverIpv6 {
        /// The gateway asked.
        gateway: SocketAddr,
    },
    /// This host's address toward an IPv6 gateway could not be found: the interface of a
    /// link-local gateway is unknown (it is not the default route's next hop and no
    /// `ClientConfig::scope_id` was given), or that interface has no global address.
    #[error("cannot find this host's address toward gateway {gateway}: {source}")]
    LocalAddress {
        /// The gateway asked.
        gateway: std::net::IpAddr,
        /// What netinfo could not find.
        #[source]
        source: netinfo::Error,
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

/// "did not answer", or what it answered with instead.
fn answered(unusable: &Option<(u32, crate::IgnoreReason)>) -> String {
    match unusable {
        None => "did not answer".to_owned(),
        Some((1, reason)) => {
            format!("answered only with a datagram it could not use ({reason})")
        }
        Some((count, reason)) => {
            format!("answered only with {count} datagrams it could not use (the last: {reason})")
        }
    }
}

/// A duration in a message: `3.0 s`, `250 ms`.
struct Seconds(Duration);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 >= Duration::from_secs(1) {
            write!(f, "{:.1} s", self.0.as_secs_f64())
        } else {
            write!(f, "{} ms", self.0.as_millis())
        }
    }
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClientError {
    let what = what.into();
    move |source| ClientError::Io { what, source }
}
