//! [`Error`]: everything the facade can fail at, with the lower layers' errors wrapped.
//!
//! Errors are `Clone` (the lower layers' errors are shared behind an `Arc`), so probe
//! reports, unmap reports and kept mappings' events hold the error values themselves. What
//! an error means (is the technique gone? may a cached IGD be stale?) is asked of the crate
//! that owns it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "pcp")]
use natpmp_proto::tokio::ClientError;

use crate::technique::Technique;

/// Shorthand for results whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a probe, a mapping or a socket operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No technique answered at this gateway: every one failed or timed out.
    #[error("no technique available at gateway {gateway} ({})", Tried(.tried))]
    NoTechniqueAvailable {
        /// The gateway asked.
        gateway: IpAddr,
        /// Each technique tried, with why it did not answer.
        tried: Vec<(Technique, Error)>,
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
        /// The descriptions the search was offered (their LOCATION) and why each was
        /// refused: empty when nothing answered.
        refused: Vec<(String, String)>,
    },

    /// A NAT-PMP or PCP operation failed (the message names the gateway and the operation).
    #[cfg(feature = "pcp")]
    #[error(transparent)]
    PortControl(Arc<ClientError>),

    /// A UPnP IGD operation failed (the message names the control URL and the action).
    #[cfg(feature = "upnp")]
    #[error(transparent)]
    Upnp(Arc<upnp_soap::IgdError>),

    /// Fetching or parsing the UPnP description failed.
    #[cfg(feature = "upnp")]
    #[error(transparent)]
    UpnpControl(Arc<upnp_soap::Error>),

    /// A UPnP IPv6 pinhole operation (`WANIPv6FirewallControl`) failed.
    #[cfg(feature = "upnp")]
    #[error(transparent)]
    Pinhole(Arc<upnp_soap::PinholeError>),

    /// The SSDP search could not run.
    #[cfg(feature = "upnp")]
    #[error("upnp discovery failed: {0}")]
    Ssdp(Arc<ssdp::Error>),

    /// The network configuration (default gateway, local addresses) could not be read.
    #[error("cannot read the network configuration: {0}")]
    Network(Arc<netinfo::Error>),

    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. "cannot listen on 0.0.0.0:8080".
        what: String,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
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
        source: Arc<dyn std::error::Error + Send + Sync>,
    },

    /// The gateway refused a mapping, and its external address says why it most likely did:
    /// another NAT sits in front of it (double NAT, carrier-grade NAT), where a mapping at
    /// this gateway could not be reached anyway.
    #[error("{refusal}; the gateway's external address is {external_address}: {}", crate::reach::Reachability::of(*.external_address))]
    RefusedBehindNat {
        /// The gateway's external address, as the same technique reports it.
        external_address: IpAddr,
        /// The gateway's refusal.
        refusal: Box<Error>,
    },

    /// Every technique that answered refused the deletion.
    #[error("cannot remove {what}: the gateway refused ({})", Tried(.refusals))]
    NotRemoved {
        /// What was to be removed, e.g. "the TCP mapping of port 8080".
        what: String,
        /// Each technique that refused, with the gateway's answer (its result code).
        refusals: Vec<(Technique, Error)>,
    },

    /// The persistent mapping's background task is gone (its runtime shut down).
    #[error("the persistent mapping of {what} has stopped")]
    Stopped {
        /// The mapping, e.g. "TCP port 8080".
        what: String,
    },

    /// This host's internet traffic leaves through a VPN tunnel (a full tunnel: its routes
    /// cover the whole internet), so a mapping at the LAN router could not carry anything:
    /// replies to a connection it let in would leave through the tunnel, not the router.
    #[error(
        "this host's internet traffic leaves through {interface} (a VPN tunnel), so a mapping at {} could not be reached: {}",
        match (.router, .router_interface) {
            (Some(router), Some(on)) => format!("the router {router} on {on}"),
            (Some(router), None) => format!("the router {router}"),
            _ => "a router of this network".to_owned(),
        },
        match .router_interface {
            Some(on) => format!("ask the VPN provider for a forwarded port, or map at the router on purpose (choose the interface {on}: natctl --interface {on}, NatOptions::with_interface) and route the mapped traffic outside the tunnel"),
            None => "ask the VPN provider for a forwarded port".to_owned(),
        }
    )]
    TrafficThroughTunnel {
        /// The tunnel interface the kernel sends internet traffic through.
        interface: String,
        /// The router a mapping would otherwise have been made at (the gateway of the other
        /// default route), if there is one.
        router: Option<IpAddr>,
        /// The interface that router is reached through.
        router_interface: Option<String>,
    },

    /// The interface asked for ([`NatOptions::with_interface`](crate::NatOptions::with_interface))
    /// has no default route with a gateway of the family asked.
    #[error("the interface {interface} has no default route through a gateway (IPv{family})")]
    NoGatewayOnInterface {
        /// The interface asked for.
        interface: String,
        /// 4 or 6.
        family: u8,
    },

    /// Background work was asked for outside a tokio runtime.
    #[error("{what} needs a tokio runtime, and none is running on this thread")]
    NoRuntime {
        /// What was asked, e.g. "a persistent mapping of TCP port 8080".
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
            Error::PortControl(error) => error.is_unreachable(),
            #[cfg(feature = "upnp")]
            Error::Upnp(error) => error.is_unreachable(),
            #[cfg(feature = "upnp")]
            Error::UpnpControl(error) => error.is_unreachable(),
            #[cfg(feature = "upnp")]
            Error::Pinhole(error) => error.is_unreachable(),
            _ => false,
        }
    }

    /// Whether nothing answered at all: no technique available, and every technique tried
    /// was silent or gone (rather than answering with a refusal, which a caller reports as
    /// the gateway's answer).
    pub fn nothing_answered(&self) -> bool {
        match self {
            Error::NoTechniqueAvailable { tried, .. } => {
                tried.iter().all(|(_, error)| error.nothing_answered())
            }
            Error::NoInternetGatewayDevice { refused, .. } => refused.is_empty(),
            other => other.is_unreachable(),
        }
    }

    /// Whether a technique made from a guess (a cached or search-only UPnP IGD, not yet
    /// confirmed by an answer) may simply be wrong, so that it should be found afresh
    /// rather than reported gone or refusing.
    pub fn may_be_stale(&self) -> bool {
        match self {
            #[cfg(feature = "upnp")]
            Error::Upnp(error) => error.may_be_stale_igd(),
            #[cfg(feature = "upnp")]
            Error::UpnpControl(error) => error.may_be_stale_igd(),
            #[cfg(feature = "upnp")]
            Error::Pinhole(error) => error.may_be_stale_igd(),
            other => other.is_unreachable(),
        }
    }

    /// How long the gateway asked to wait before trying again, when its answer said (the
    /// lifetime of a PCP error answer, RFC 6887 §7.2); a kept mapping waits at least this
    /// long before its next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            #[cfg(feature = "pcp")]
            Error::PortControl(error) => error.retry_after(),
            Error::RefusedBehindNat { refusal, .. } => refusal.retry_after(),
            // Every technique asked to wait: the soonest of them.
            Error::NoTechniqueAvailable { tried, .. } if !tried.is_empty() => tried
                .iter()
                .map(|(_, error)| error.retry_after())
                .collect::<Option<Vec<Duration>>>()
                .and_then(|hints| hints.into_iter().min()),
            _ => None,
        }
    }

    /// The technique an error is about, when it names one.
    pub fn technique(&self) -> Option<Technique> {
        match self {
            Error::RefusedBehindNat { refusal, .. } => refusal.technique(),
            Error::ProbeTimedOut { technique, .. }
            | Error::OperationTimedOut { technique, .. }
            | Error::Unsupported { technique, .. }
            | Error::Other { technique, .. } => Some(*technique),
            Error::NoInternetGatewayDevice { .. } => Some(Technique::Upnp),
            #[cfg(feature = "upnp")]
            Error::Upnp(_) | Error::UpnpControl(_) | Error::Pinhole(_) | Error::Ssdp(_) => {
                Some(Technique::Upnp)
            }
            _ => None,
        }
    }

    /// A technique of your own failed with `source`.
    pub fn other(
        technique: Technique,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::Other {
            technique,
            source: Arc::from(source.into()),
        }
    }

    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io {
            what,
            source: Arc::new(source),
        }
    }
}

#[cfg(feature = "pcp")]
impl From<ClientError> for Error {
    fn from(error: ClientError) -> Error {
        Error::PortControl(Arc::new(error))
    }
}

#[cfg(feature = "upnp")]
impl From<upnp_soap::IgdError> for Error {
    fn from(error: upnp_soap::IgdError) -> Error {
        Error::Upnp(Arc::new(error))
    }
}

#[cfg(feature = "upnp")]
impl From<upnp_soap::PinholeError> for Error {
    fn from(error: upnp_soap::PinholeError) -> Error {
        Error::Pinhole(Arc::new(error))
    }
}

#[cfg(feature = "upnp")]
impl From<upnp_soap::Error> for Error {
    fn from(error: upnp_soap::Error) -> Error {
        Error::UpnpControl(Arc::new(error))
    }
}

#[cfg(feature = "upnp")]
impl From<ssdp::Error> for Error {
    fn from(error: ssdp::Error) -> Error {
        Error::Ssdp(Arc::new(error))
    }
}

impl From<netinfo::Error> for Error {
    fn from(error: netinfo::Error) -> Error {
        Error::Network(Arc::new(error))
    }
}

impl From<Error> for std::io::Error {
    fn from(error: Error) -> std::io::Error {
        match error {
            Error::Io { source, .. } => match Arc::try_unwrap(source) {
                Ok(source) => source,
                Err(shared) => std::io::Error::new(shared.kind(), Error::io_message(&shared)),
            },
            other => std::io::Error::other(other),
        }
    }
}

impl Error {
    fn io_message(error: &std::io::Error) -> String {
        error.to_string()
    }
}

/// Each technique tried, with its error: `PCP: ...; UPnP IGD: ...`.
struct Tried<'a>(&'a [(Technique, Error)]);

impl std::fmt::Display for Tried<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no technique was allowed");
        }
        for (index, (technique, error)) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{technique}: {error}")?;
        }
        Ok(())
    }
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
        let gateway: IpAddr = [192, 168, 1, 1].into();
        let error = Error::NoTechniqueAvailable {
            gateway,
            tried: vec![
                (
                    Technique::Pcp,
                    Error::Unsupported {
                        technique: Technique::Pcp,
                        what: "answer".into(),
                    },
                ),
                (
                    Technique::Upnp,
                    Error::ProbeTimedOut {
                        technique: Technique::Upnp,
                        gateway,
                        timeout: Duration::from_secs(2),
                    },
                ),
            ],
        };
        assert_eq!(
            error.to_string(),
            "no technique available at gateway 192.168.1.1 (PCP: PCP cannot answer; UPnP IGD: UPnP IGD at gateway 192.168.1.1 did not answer within 2.0 s)"
        );
        assert!(error.is_unreachable());
        let copy = error.clone();
        assert_eq!(copy.to_string(), error.to_string());
    }

    #[test]
    fn errors_are_clone_send_and_sync() {
        fn check<T: Clone + Send + Sync + 'static>() {}
        check::<Error>();
    }
}
