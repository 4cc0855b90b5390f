//! The client's error type.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::{AnyResultCode, EncodeError, Version};

/// Why a client operation failed.
///
/// `Clone`, so that it can be stored and published (the lower errors it wraps are shared).
#[derive(Debug, Clone, thiserror::Error)]
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
    /// The gateway answered with an error result code. An error answer grants nothing:
    /// whatever address, port or lifetime it carries is not used, except the PCP lifetime
    /// as [`ClientError::retry_after`].
    #[error("gateway {gateway} refused the {operation}: {code}")]
    Refused {
        /// The gateway asked.
        gateway: SocketAddr,
        /// What was asked ("external address request", "TCP mapping of port 8080", ...).
        operation: String,
        /// The protocol's result code.
        code: AnyResultCode,
        /// PCP: the error answer's lifetime, how long the same request would get the same
        /// error (RFC 6887 §7.2), when non-zero. NAT-PMP gives none.
        retry_after: Option<Duration>,
    },
    /// The gateway answered UNSUPP_VERSION in a PCP version natkit does not speak (RFC 6887
    /// §9): a server built on the PCP drafts (version 1). Nothing natkit sends can be
    /// answered, so the exchange ends at the first answer.
    #[error("gateway {gateway} speaks PCP version {server_version} only; natkit speaks version 2")]
    ServerVersion {
        /// The gateway asked.
        gateway: SocketAddr,
        /// The version the gateway named in its answer.
        server_version: u8,
        /// The answer's lifetime, when non-zero: how long the server will answer the same.
        retry_after: Option<Duration>,
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
        reported: IpAddr,
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
        gateway: IpAddr,
        /// What netinfo could not find.
        #[source]
        source: Arc<netinfo::Error>,
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
        source: Arc<std::io::Error>,
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

    /// How long to wait before asking the gateway the same again, when its error answer
    /// said (the lifetime of a PCP error answer, RFC 6887 §7.2; PCP version negotiation's
    /// UNSUPP_VERSION, §9). `None` when the answer gave no hint or nothing answered: the
    /// caller keeps its own schedule.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Refused { retry_after, .. }
            | ClientError::ServerVersion { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the gateway is out of reach for NAT-PMP and PCP: it did not answer in time,
    /// its port 5351 is closed, it speaks no version the client may use (including a PCP
    /// version other than 2, [`ClientError::ServerVersion`]), or the socket failed. A caller may try another technique; a refusal, an unusable answer or a
    /// missing external address come from a gateway that does speak the protocol.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::TimedOut { .. }
                | ClientError::NotSupported { .. }
                | ClientError::VersionMismatch { .. }
                | ClientError::ServerVersion { .. }
                | ClientError::Io { .. }
        )
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
    move |source| ClientError::Io {
        what,
        source: Arc::new(source),
    }
}

pub(crate) fn local_address(gateway: IpAddr) -> impl FnOnce(netinfo::Error) -> ClientError {
    move |source| ClientError::LocalAddress {
        gateway,
        source: Arc::new(source),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::{IgnoreReason, natpmp, pcp};

    const GATEWAY: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)), 5351);

    #[test]
    fn unreachable_means_no_usable_protocol_at_the_gateway() {
        let cases = [
            (
                ClientError::TimedOut {
                    gateway: GATEWAY,
                    waited: Duration::from_secs(3),
                    attempts: 4,
                    unusable: Some((1, IgnoreReason::NonceMismatch)),
                },
                true,
            ),
            (ClientError::NotSupported { gateway: GATEWAY }, true),
            (
                ClientError::VersionMismatch {
                    gateway: GATEWAY,
                    requested: Version::Pcp,
                },
                true,
            ),
            (
                ClientError::Io {
                    what: "cannot send to gateway 192.168.1.1:5351".into(),
                    source: Arc::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
                },
                true,
            ),
            (
                ClientError::Refused {
                    gateway: GATEWAY,
                    operation: "TCP mapping of port 8080".into(),
                    code: AnyResultCode::Pcp(pcp::ResultCode::NotAuthorized),
                    retry_after: Some(Duration::from_secs(1800)),
                },
                false,
            ),
            (
                ClientError::BadAnswer {
                    gateway: GATEWAY,
                    operation: "external address request".into(),
                    reason: "no MAP data".into(),
                },
                false,
            ),
            (
                ClientError::NoExternalAddress {
                    gateway: GATEWAY,
                    version: Version::NatPmp,
                    reported: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                },
                false,
            ),
            (ClientError::NatPmpOverIpv6 { gateway: GATEWAY }, false),
            (
                ClientError::LocalAddress {
                    gateway: GATEWAY.ip(),
                    source: Arc::new(netinfo::Error::Unsupported {
                        operation: "reading the default gateway",
                    }),
                },
                false,
            ),
            (
                ClientError::Refused {
                    gateway: GATEWAY,
                    operation: "external address request".into(),
                    code: AnyResultCode::NatPmp(natpmp::ResultCode::NetworkFailure),
                    retry_after: None,
                },
                false,
            ),
            (
                ClientError::ServerVersion {
                    gateway: GATEWAY,
                    server_version: 1,
                    retry_after: None,
                },
                true,
            ),
        ];
        for (error, unreachable) in cases {
            assert_eq!(error.is_unreachable(), unreachable, "{error}");
            // A clone is the same error, predicates and message alike.
            let copy = error.clone();
            assert_eq!(copy.is_unreachable(), unreachable);
            assert_eq!(copy.to_string(), error.to_string());
        }
    }

    #[test]
    fn retry_hints_come_from_error_answers_only() {
        let refused = ClientError::Refused {
            gateway: GATEWAY,
            operation: "UDP mapping of port 5000".into(),
            code: AnyResultCode::Pcp(pcp::ResultCode::NetworkFailure),
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(refused.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(
            refused.to_string(),
            "gateway 192.168.1.1:5351 refused the UDP mapping of port 5000: PCP NETWORK_FAILURE \
             (7): the server or the device it controls has a network failure (e.g. no external \
             address yet)"
        );
        let version = ClientError::ServerVersion {
            gateway: GATEWAY,
            server_version: 1,
            retry_after: Some(Duration::from_secs(1800)),
        };
        assert_eq!(version.retry_after(), Some(Duration::from_secs(1800)));
        assert_eq!(
            version.to_string(),
            "gateway 192.168.1.1:5351 speaks PCP version 1 only; natkit speaks version 2"
        );
        let silent = ClientError::NotSupported { gateway: GATEWAY };
        assert_eq!(silent.retry_after(), None);
    }
}
