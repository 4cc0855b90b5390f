//! The IGD client's error: [`IgdError`], everything that can go wrong talking to an Internet
//! Gateway Device beyond the control layer's [`crate::Error`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::Url;
use crate::error::code;

/// Shorthand for results whose error is this module's [`IgdError`].
pub type Result<T, E = IgdError> = std::result::Result<T, E>;

/// Everything that can go wrong talking to an Internet Gateway Device.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum IgdError {
    /// Fetching, parsing, checking or calling failed, or the device answered a fault not
    /// handled here.
    #[error(transparent)]
    Control(#[from] crate::Error),

    /// The description has no WAN connection service.
    #[error("no WANIPConnection or WANPPPConnection service in the description at {location}")]
    NoConnectionService {
        /// The LOCATION of the description.
        location: Box<Url>,
    },

    /// The gateway refuses the action for this control point (error 606).
    #[error("{action} at {url} was refused: not authorized (upnp error 606)")]
    NotAuthorized {
        /// The refused action.
        action: &'static str,
        /// The control URL.
        url: Box<Url>,
    },

    /// The gateway reports no external address (empty or `0.0.0.0`): it has no WAN
    /// connection.
    #[error("the gateway at {url} has no external address (it reported {reported:?})")]
    NoExternalAddress {
        /// The control URL.
        url: Box<Url>,
        /// What `GetExternalIPAddress` returned.
        reported: String,
    },

    /// The gateway's external address is private: it sits behind another NAT (double NAT),
    /// so its mappings do not make anything reachable from the internet.
    #[error(
        "the gateway at {url} reports the private external address {address}: it is behind another nat"
    )]
    PrivateExternalAddress {
        /// The control URL.
        url: Box<Url>,
        /// The private address reported.
        address: IpAddr,
    },

    /// Every external port tried conflicts with another client's mapping (error 718).
    #[error(
        "AddPortMapping at {url}: every external port tried conflicts with another mapping (upnp error 718; tried {tried:?})"
    )]
    Conflict {
        /// The control URL.
        url: Box<Url>,
        /// The external ports tried, in order.
        tried: Vec<u16>,
    },

    /// The gateway answered an action with a value that does not parse.
    #[error("{action} at {url} returned an invalid {argument}: {value:?}")]
    InvalidResponse {
        /// The action.
        action: &'static str,
        /// The control URL.
        url: Box<Url>,
        /// The out argument.
        argument: &'static str,
        /// The value received.
        value: String,
    },

    /// The action needs `WANIPConnection:2` and the service is an older one.
    #[error("{action} needs WANIPConnection:2, but the gateway at {url} offers {service_type}")]
    NotSupported {
        /// The action.
        action: &'static str,
        /// The control URL.
        url: Box<Url>,
        /// The service type offered.
        service_type: String,
    },

    /// The operation did not finish within its bound ([`Config::operation_bound`](crate::Config::operation_bound)).
    #[error("{operation} at {url} did not finish within {}", crate::error::Seconds(*.timeout))]
    OperationTimeout {
        /// The operation (an action name, or "choosing the wan connection service").
        operation: &'static str,
        /// The control URL (or the description's LOCATION).
        url: Box<Url>,
        /// The bound that elapsed.
        timeout: Duration,
    },

    /// The local address toward the gateway (the internal client) could not be found.
    #[error("cannot find the local address toward {gateway}: {source}")]
    LocalAddress {
        /// The gateway's address.
        gateway: IpAddr,
        /// netinfo's error (shared, so that the error is `Clone`).
        #[source]
        source: Arc<netinfo::Error>,
    },
}

impl IgdError {
    /// The UPnP error code if the gateway refused with a fault, e.g. `Some(714)`.
    pub fn upnp_code(&self) -> Option<u16> {
        match self {
            IgdError::Control(e) => e.upnp_code(),
            IgdError::NotAuthorized { .. } => Some(code::ACTION_NOT_AUTHORIZED),
            IgdError::Conflict { .. } => Some(code::CONFLICT_IN_MAPPING_ENTRY),
            _ => None,
        }
    }

    /// Whether the gateway did not answer: the control layer's
    /// [`Error::is_unreachable`](crate::Error::is_unreachable), the operation's bound
    /// elapsed ([`IgdError::OperationTimeout`]), or the gateway reports no external address
    /// ([`IgdError::NoExternalAddress`]: it has no WAN connection, so its mappings reach
    /// nothing). Another technique, or a later try, may do better.
    pub fn is_unreachable(&self) -> bool {
        match self {
            IgdError::Control(e) => e.is_unreachable(),
            IgdError::NoExternalAddress { .. } | IgdError::OperationTimeout { .. } => true,
            _ => false,
        }
    }

    /// Whether the device may not be the gateway a caller believes it is (one from a cache,
    /// or known from a search answer alone): [`is_unreachable`](Self::is_unreachable), or
    /// the control layer's [`Error::may_be_stale_igd`](crate::Error::may_be_stale_igd) (an
    /// HTTP error status, a redirect, an unreadable answer, 401 `Invalid Action`). Discover
    /// the gateway afresh then. The IGD's own refusals (606, conflicts, ...) do not count.
    pub fn may_be_stale_igd(&self) -> bool {
        match self {
            IgdError::Control(e) => e.may_be_stale_igd(),
            other => other.is_unreachable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_url;

    /// A fault as an [`IgdError`], for tests of code that matches on it.
    fn fault(code: u16) -> IgdError {
        IgdError::Control(crate::Error::Fault {
            action: "AddPortMapping".to_owned(),
            url: Box::new(parse_url("http://127.0.0.1/ctl").unwrap()),
            fault: crate::UpnpError {
                code,
                description: String::new(),
            },
        })
    }

    #[test]
    fn predicates_delegate_to_the_control_error() {
        let url = || Box::new(parse_url("http://192.168.1.1:5000/ctl/IPConn").unwrap());
        let timeout = Duration::from_secs(1);
        let table: Vec<(IgdError, bool, bool)> = vec![
            (
                IgdError::Control(crate::Error::Timeout {
                    url: url(),
                    timeout,
                }),
                true,
                true,
            ),
            (fault(code::INVALID_ACTION), false, true),
            (fault(code::CONFLICT_IN_MAPPING_ENTRY), false, false),
            (
                IgdError::Control(crate::Error::Status {
                    url: url(),
                    status: http::StatusCode::NOT_FOUND,
                }),
                false,
                true,
            ),
            (
                IgdError::NoExternalAddress {
                    url: url(),
                    reported: String::new(),
                },
                true,
                true,
            ),
            (
                IgdError::OperationTimeout {
                    operation: "AddPortMapping",
                    url: url(),
                    timeout,
                },
                true,
                true,
            ),
            (
                IgdError::NotAuthorized {
                    action: "AddPortMapping",
                    url: url(),
                },
                false,
                false,
            ),
            (
                IgdError::Conflict {
                    url: url(),
                    tried: vec![80],
                },
                false,
                false,
            ),
            (
                IgdError::PrivateExternalAddress {
                    url: url(),
                    address: "10.0.0.2".parse().unwrap(),
                },
                false,
                false,
            ),
            (
                IgdError::NoConnectionService { location: url() },
                false,
                false,
            ),
        ];
        for (error, unreachable, stale) in table {
            assert_eq!(error.is_unreachable(), unreachable, "{error:?}");
            assert_eq!(error.may_be_stale_igd(), stale, "{error:?}");
            let copy = error.clone();
            assert_eq!(copy.to_string(), error.to_string());
        }
    }

    #[test]
    fn error_codes_and_messages() {
        assert_eq!(fault(718).upnp_code(), Some(718));
        let url = parse_url("http://192.168.1.1:5000/ctl/IPConn").unwrap();
        let e = IgdError::NotAuthorized {
            action: "AddPortMapping",
            url: Box::new(url.clone()),
        };
        assert_eq!(
            e.to_string(),
            "AddPortMapping at http://192.168.1.1:5000/ctl/IPConn was refused: not authorized (upnp error 606)"
        );
        assert_eq!(e.upnp_code(), Some(606));
        let e = IgdError::PrivateExternalAddress {
            url: Box::new(url),
            address: "10.0.0.2".parse().unwrap(),
        };
        assert!(e.to_string().contains("10.0.0.2") && e.to_string().contains("another nat"));
    }
}
