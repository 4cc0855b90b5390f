//! [`Error`]: everything the facade can fail at, with the lower layers' errors wrapped.

use std::net::IpAddr;
use std::time::Duration;

#[cfg(feature = "pcp")]
use natpmp_proto::tokio::ClientError;

use crate::technique::Technique;

/// Shorthand for results whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a probe, a mapping or a socket operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No technique answered the probe at this gateway: every one failed or timed out.
    #[error("no technique available at gateway {gateway} ({})", describe_tried(*.gateway, .tried))]
    NoTechniqueAvailable {
        /// The gateway probed.
        gateway: IpAddr,
        /// Each technique tried, with why it did not answer.
        tried: Vec<(Technique, String)>,
    },

    /// A probe did not answer within the probe timeout.
    #[error("{technique} at gateway {gateway} did not answer within {}", Human(*.timeout))]
    ProbeTimedOut {
        /// The technique probed.
        technique: Technique,
        /// The gateway probed.
        gateway: IpAddr,
        /// The probe timeout.
        timeout: Duration,
    },

    /// A mapping operation did not finish in time.
    #[error("{technique} did not finish the {operation} within {}", Human(*.timeout))]
    OperationTimedOut {
        /// The technique asked.
        technique: Technique,
        /// What was asked, e.g. "refresh of TCP port 8080".
        operation: String,
        /// How long it was given.
        timeout: Duration,
    },

    /// No usable UPnP Internet Gateway Device was found: none answered the SSDP search, or
    /// what answered could not be used (the reason says which, and why).
    #[error("no usable upnp internet gateway device at {gateway} ({}): {reason}", Human(*.waited))]
    NoInternetGatewayDevice {
        /// The gateway searched.
        gateway: IpAddr,
        /// How long the search took.
        waited: Duration,
        /// What was found and why it was unusable, or that nothing answered.
        reason: String,
    },

    /// A NAT-PMP or PCP operation failed (the message names the gateway and the operation).
    #[cfg(feature = "pcp")]
    #[error(transparent)]
    PortControl(#[from] ClientError),

    /// A UPnP IGD operation failed (the message names the control URL and the action).
    #[cfg(feature = "upnp")]
    #[error(transparent)]
    Upnp(Box<upnp_soap::igd::IgdError>),

    /// Fetching or parsing the UPnP description failed.
    #[cfg(feature = "upnp")]
    #[error(transparent)]
    UpnpControl(Box<upnp_soap::Error>),

    /// A UPnP IPv6 pinhole operation (`WANIPv6FirewallControl`) failed.
    #[cfg(feature = "upnp")]
    #[error(transparent)]
    Pinhole(Box<upnp_soap::pinhole::PinholeError>),

    /// The SSDP search could not run.
    #[cfg(feature = "upnp")]
    #[error("upnp discovery failed: {0}")]
    Ssdp(#[from] ssdp::Error),

    /// The network configuration (default gateway, local addresses) could not be read.
    #[error("cannot read the network configuration: {0}")]
    Network(#[from] netinfo::Error),

    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. "cannot listen on 0.0.0.0:8080".
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The technique cannot do what was asked (e.g. an IPv6 mapping over NAT-PMP).
    #[error("{technique} cannot {what}")]
    Unsupported {
        /// The technique asked.
        technique: Technique,
        /// What it cannot do.
        what: String,
    },

    /// A technique implemented outside this crate failed.
    #[error("{technique}: {source}")]
    Other {
        /// The technique that failed.
        technique: Technique,
        /// Its error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A mapping exists that no allowed technique may delete, or every technique refused
    /// the deletion.
    #[error("cannot remove {what}: {why}")]
    NotRemoved {
        /// What was to be removed, e.g. "the TCP mapping of port 8080".
        what: String,
        /// What the techniques said.
        why: String,
    },

    /// The persistent mapping's background task is gone (its runtime shut down).
    #[error("the persistent mapping of {what} has stopped")]
    Stopped {
        /// The mapping, e.g. "TCP port 8080".
        what: String,
    },
}

impl Error {
    /// Whether the technique looks gone rather than refusing: its port is closed, it does
    /// not answer, it speaks another version, or its HTTP server is unreachable. A
    /// persistent mapping that sees this probes again and may switch technique.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Error::NoTechniqueAvailable { .. }
            | Error::ProbeTimedOut { .. }
            | Error::OperationTimedOut { .. }
            | Error::NoInternetGatewayDevice { .. } => true,
            #[cfg(feature = "pcp")]
            Error::PortControl(error) => matches!(
                error,
                ClientError::TimedOut { .. }
                    | ClientError::NotSupported { .. }
                    | ClientError::VersionMismatch { .. }
                    | ClientError::Io { .. }
            ),
            #[cfg(feature = "upnp")]
            Error::Upnp(error) => match &**error {
                upnp_soap::igd::IgdError::Control(error) => upnp_unreachable(error),
                upnp_soap::igd::IgdError::NoExternalAddress { .. }
                | upnp_soap::igd::IgdError::OperationTimeout { .. } => true,
                _ => false,
            },
            #[cfg(feature = "upnp")]
            Error::UpnpControl(error) => upnp_unreachable(error),
            #[cfg(feature = "upnp")]
            Error::Pinhole(error) => match &**error {
                upnp_soap::pinhole::PinholeError::Control(error) => upnp_unreachable(error),
                upnp_soap::pinhole::PinholeError::OperationTimeout { .. } => true,
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether a UPnP client not yet confirmed by an answer (from the cache, or known from a
    /// search answer alone) may simply be wrong: besides no answer, an HTTP error status, a
    /// redirect, an unreadable answer, or 401 Invalid Action. Discovery then runs afresh.
    pub(crate) fn may_be_stale_igd(&self) -> bool {
        if self.is_unreachable() {
            return true;
        }
        #[cfg(feature = "upnp")]
        {
            let lower = match self {
                Error::Upnp(error) => match &**error {
                    upnp_soap::igd::IgdError::Control(error) => Some(error),
                    _ => None,
                },
                Error::UpnpControl(error) => Some(&**error),
                _ => None,
            };
            if let Some(error) = lower {
                return match error {
                    upnp_soap::Error::Fault { fault, .. } => {
                        fault.code == upnp_soap::code::INVALID_ACTION
                    }
                    other => matches!(
                        other,
                        upnp_soap::Error::Status { .. }
                            | upnp_soap::Error::ActionStatus { .. }
                            | upnp_soap::Error::Redirect { .. }
                            | upnp_soap::Error::Xml { .. }
                            | upnp_soap::Error::Soap { .. }
                            | upnp_soap::Error::MissingElement { .. }
                    ),
                };
            }
        }
        false
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

#[cfg(feature = "upnp")]
impl From<upnp_soap::igd::IgdError> for Error {
    fn from(error: upnp_soap::igd::IgdError) -> Error {
        Error::Upnp(Box::new(error))
    }
}

#[cfg(feature = "upnp")]
impl From<upnp_soap::pinhole::PinholeError> for Error {
    fn from(error: upnp_soap::pinhole::PinholeError) -> Error {
        Error::Pinhole(Box::new(error))
    }
}

#[cfg(feature = "upnp")]
impl From<upnp_soap::Error> for Error {
    fn from(error: upnp_soap::Error) -> Error {
        Error::UpnpControl(Box::new(error))
    }
}

impl From<Error> for std::io::Error {
    fn from(error: Error) -> std::io::Error {
        match error {
            Error::Io { source, .. } => source,
            other => std::io::Error::other(other),
        }
    }
}

#[cfg(feature = "upnp")]
fn upnp_unreachable(error: &upnp_soap::Error) -> bool {
    matches!(
        error,
        upnp_soap::Error::Connect { .. }
            | upnp_soap::Error::ConnectTimeout { .. }
            | upnp_soap::Error::Timeout { .. }
            | upnp_soap::Error::DeadlinePassed { .. }
            | upnp_soap::Error::Http { .. }
    )
}

/// Each technique's reason, without repeating the gateway the message already names.
fn describe_tried(gateway: IpAddr, tried: &[(Technique, String)]) -> String {
    if tried.is_empty() {
        return "no technique was allowed".to_owned();
    }
    let noise = [
        format!("gateway {gateway}:5351 "),
        format!(" at gateway {gateway}"),
        format!(" at {gateway}"),
    ];
    tried
        .iter()
        .map(|(technique, reason)| {
            let mut reason = reason.clone();
            for noise in &noise {
                reason = reason.replace(noise.as_str(), "");
            }
            let reason = reason
                .strip_prefix(&format!("{technique} "))
                .unwrap_or(&reason);
            format!("{technique}: {reason}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A duration as people read it in a message: `3.0 s`, `250 ms`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Human(pub(crate) Duration);

impl std::fmt::Display for Human {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 >= Duration::from_secs(1) {
            write!(f, "{:.1} s", self.0.as_secs_f64())
        } else {
            write!(f, "{} ms", self.0.as_millis())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_technique_names_the_gateway_and_each_failure() {
        let error = Error::NoTechniqueAvailable {
            gateway: "192.168.1.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            tried: vec![
                (Technique::Pcp, "port 5351 refused".into()),
                (Technique::Upnp, "no answer".into()),
            ],
        };
        assert_eq!(
            error.to_string(),
            "no technique available at gateway 192.168.1.1 (PCP: port 5351 refused; UPnP IGD: no answer)"
        );
        assert!(error.is_unreachable());
    }
}
