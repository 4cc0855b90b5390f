//! The errors of the description, SCPD and SOAP layer: [`Error`] for everything that can go
//! wrong fetching, parsing or calling, and [`UpnpError`], the `<UPnPError>` a device answers
//! in a SOAP fault.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::Url;
use http::StatusCode;

/// Shorthand for results whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A device's refusal of an action: the `<UPnPError>` inside a SOAP fault.
///
/// [`code`] names the well-known codes (718 `ConflictInMappingEntry`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("upnp error {code} ({description})")]
pub struct UpnpError {
    /// The `errorCode`, e.g. 718.
    pub code: u16,
    /// The `errorDescription` the device sent (may be empty), e.g. `ConflictInMappingEntry`.
    pub description: String,
}

impl UpnpError {
    /// The standard name of this error's code, if it is one of the well-known codes.
    pub fn standard_name(&self) -> Option<&'static str> {
        code::name(self.code)
    }
}

/// The well-known UPnP error codes (UPnP Device Architecture and WANIPConnection:2).
pub mod code {
    /// No action by that name at this service.
    pub const INVALID_ACTION: u16 = 401;
    /// Not enough arguments, arguments in the wrong order, or of the wrong type.
    pub const INVALID_ARGS: u16 = 402;
    /// The action failed (generic).
    pub const ACTION_FAILED: u16 = 501;
    /// The argument value is invalid.
    pub const ARGUMENT_VALUE_INVALID: u16 = 600;
    /// The argument value is out of range.
    pub const ARGUMENT_VALUE_OUT_OF_RANGE: u16 = 601;
    /// The action is not authorized (the device refuses it for this control point).
    pub const ACTION_NOT_AUTHORIZED: u16 = 606;
    /// The array index is out of bounds (end of `GetGenericPortMappingEntry`).
    pub const SPECIFIED_ARRAY_INDEX_INVALID: u16 = 713;
    /// No such port mapping.
    pub const NO_SUCH_ENTRY_IN_ARRAY: u16 = 714;
    /// The source IP address cannot be wild-carded.
    pub const WILDCARD_NOT_PERMITTED_IN_SRC_IP: u16 = 715;
    /// The external port cannot be wild-carded.
    pub const WILDCARD_NOT_PERMITTED_IN_EXT_PORT: u16 = 716;
    /// The mapping conflicts with one held by another client.
    pub const CONFLICT_IN_MAPPING_ENTRY: u16 = 718;
    /// Internal and external port must be the same.
    pub const SAME_PORT_VALUES_REQUIRED: u16 = 724;
    /// Only permanent leases (lease duration 0) are supported.
    pub const ONLY_PERMANENT_LEASES_SUPPORTED: u16 = 725;
    /// The remote host must be the wildcard (empty).
    pub const REMOTE_HOST_ONLY_SUPPORTS_WILDCARD: u16 = 726;
    /// The external port must be the wildcard (0).
    pub const EXTERNAL_PORT_ONLY_SUPPORTS_WILDCARD: u16 = 727;
    /// No free port is left for `AddAnyPortMapping`.
    pub const NO_PORT_MAPS_AVAILABLE: u16 = 728;
    /// The mapping conflicts with one made by another mechanism (NAT-PMP, static rules).
    pub const CONFLICT_WITH_OTHER_MECHANISMS: u16 = 729;
    /// No mapping in the range asked of `GetListOfPortMappings` / `DeletePortMappingRange`.
    pub const PORT_MAPPING_NOT_FOUND: u16 = 730;
    /// The mapping is read-only.
    pub const READ_ONLY: u16 = 731;
    /// The internal port cannot be wild-carded.
    pub const WILDCARD_NOT_PERMITTED_IN_INT_PORT: u16 = 732;
    /// The arguments contradict each other (e.g. start port above end port).
    pub const INCONSISTENT_PARAMETERS: u16 = 733;

    /// The standard name of a well-known code (`718` → `ConflictInMappingEntry`).
    pub fn name(code: u16) -> Option<&'static str> {
        Some(match code {
            INVALID_ACTION => "InvalidAction",
            INVALID_ARGS => "InvalidArgs",
            ACTION_FAILED => "ActionFailed",
            ARGUMENT_VALUE_INVALID => "ArgumentValueInvalid",
            ARGUMENT_VALUE_OUT_OF_RANGE => "ArgumentValueOutOfRange",
            ACTION_NOT_AUTHORIZED => "ActionNotAuthorized",
            SPECIFIED_ARRAY_INDEX_INVALID => "SpecifiedArrayIndexInvalid",
            NO_SUCH_ENTRY_IN_ARRAY => "NoSuchEntryInArray",
            WILDCARD_NOT_PERMITTED_IN_SRC_IP => "WildCardNotPermittedInSrcIP",
            WILDCARD_NOT_PERMITTED_IN_EXT_PORT => "WildCardNotPermittedInExtPort",
            CONFLICT_IN_MAPPING_ENTRY => "ConflictInMappingEntry",
            SAME_PORT_VALUES_REQUIRED => "SamePortValuesRequired",
            ONLY_PERMANENT_LEASES_SUPPORTED => "OnlyPermanentLeasesSupported",
            REMOTE_HOST_ONLY_SUPPORTS_WILDCARD => "RemoteHostOnlySupportsWildcard",
            EXTERNAL_PORT_ONLY_SUPPORTS_WILDCARD => "ExternalPortOnlySupportsWildcard",
            NO_PORT_MAPS_AVAILABLE => "NoPortMapsAvailable",
            CONFLICT_WITH_OTHER_MECHANISMS => "ConflictWithOtherMechanisms",
            PORT_MAPPING_NOT_FOUND => "PortMappingNotFound",
            READ_ONLY => "ReadOnly",
            WILDCARD_NOT_PERMITTED_IN_INT_PORT => "WildCardNotPermittedInIntPort",
            INCONSISTENT_PARAMETERS => "InconsistentParameters",
            _ => return None,
        })
    }
}

/// Everything that can go wrong fetching or parsing a description or SCPD, checking the
/// arguments of an action, or calling it.
///
/// It is `Clone` (the socket and hyper errors are shared behind an [`Arc`]) so that callers
/// can store it and hand it on.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A URL in a description (or the LOCATION) could not be parsed or resolved.
    #[error("invalid url {url:?}: {reason}")]
    InvalidUrl {
        /// The text that is not a URL.
        url: String,
        /// What the URL parser said.
        reason: String,
    },

    /// Only `http://` URLs are fetched (UPnP 1.x devices speak plain HTTP).
    #[error("{url} is not an http:// url")]
    UnsupportedScheme {
        /// The refused URL.
        url: Box<Url>,
    },

    /// The URL points somewhere other than the address that answered the search. A device
    /// may only send us to itself; anything else could make us fetch from, or post to, a
    /// third party.
    #[error("{url} is not on {responder}, the address that answered the search")]
    OffHost {
        /// The refused URL.
        url: Box<Url>,
        /// The address that answered the SSDP search.
        responder: IpAddr,
    },

    /// The TCP connection could not be made.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL being fetched.
        url: Box<Url>,
        /// The socket error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// The TCP connection was not made within the connect timeout.
    #[error("connecting to {url} timed out after {}", Seconds(*.timeout))]
    ConnectTimeout {
        /// The URL being fetched.
        url: Box<Url>,
        /// The connect timeout that elapsed.
        timeout: Duration,
    },

    /// The whole exchange (request, response head and body) did not finish in time.
    #[error("{url} did not answer within {}", Seconds(*.timeout))]
    Timeout {
        /// The URL being fetched.
        url: Box<Url>,
        /// The exchange timeout that elapsed.
        timeout: Duration,
    },

    /// The caller's deadline ([`Config::deadline`](crate::Config::deadline)) passed before
    /// the exchange could start.
    #[error("the deadline passed before {url} was asked")]
    DeadlinePassed {
        /// The URL that was not fetched.
        url: Box<Url>,
    },

    /// HTTP failed below the status line: malformed response, connection closed early, ...
    #[error("http exchange with {url} failed: {source}")]
    Http {
        /// The URL being fetched.
        url: Box<Url>,
        /// hyper's error.
        #[source]
        source: Arc<hyper::Error>,
    },

    /// The response body could not be read.
    #[error("cannot read the response body from {url}: {reason}")]
    Body {
        /// The URL being fetched.
        url: Box<Url>,
        /// What went wrong.
        reason: String,
    },

    /// The response body was larger than the configured cap; reading stopped there.
    #[error("the response from {url} exceeds {limit} bytes")]
    BodyTooLarge {
        /// The URL being fetched.
        url: Box<Url>,
        /// The cap ([`Config::max_body_size`](crate::Config::max_body_size)).
        limit: usize,
    },

    /// The device answered with a redirect, which is never followed.
    #[error("{url} answered {status} (redirect to {location:?}); redirects are not followed")]
    Redirect {
        /// The URL being fetched.
        url: Box<Url>,
        /// The 3xx status.
        status: StatusCode,
        /// The `Location` header, if any.
        location: Option<String>,
    },

    /// A fetch answered with a status other than 2xx (and not a redirect).
    #[error("{url} answered {status}")]
    Status {
        /// The URL being fetched.
        url: Box<Url>,
        /// The status.
        status: StatusCode,
    },

    /// A control request answered with a status other than 2xx, without a readable fault.
    #[error("{action} at {url} answered {status}")]
    ActionStatus {
        /// The action that was called.
        action: String,
        /// The control URL.
        url: Box<Url>,
        /// The status.
        status: StatusCode,
    },

    /// The device refused the action with a SOAP fault carrying a UPnP error.
    #[error("{action} at {url} failed with upnp error {} ({})", .fault.code, .fault.description)]
    Fault {
        /// The action that was called.
        action: String,
        /// The control URL.
        url: Box<Url>,
        /// The error code and description.
        #[source]
        fault: UpnpError,
    },

    /// A document is not well-formed XML, or is refused before parsing (too large, too
    /// deep, or carrying a document type declaration, which could define entities).
    #[error("malformed xml in {document}: {reason}")]
    Xml {
        /// Which document: "device description from http://...", "scpd", "soap response",
        /// ...
        document: String,
        /// What was wrong.
        reason: String,
    },

    /// A well-formed document lacks a required element.
    #[error("{document} lacks <{element}>")]
    MissingElement {
        /// Which document.
        document: String,
        /// The missing element's name.
        element: &'static str,
    },

    /// A SOAP response is well-formed XML but not the expected answer to the action.
    #[error("invalid soap response to {action}: {reason}")]
    Soap {
        /// The action that was called.
        action: String,
        /// What was wrong.
        reason: String,
    },

    /// The service's SCPD has no action by that name (nothing was sent).
    #[error("{service_type} has no action {action:?}")]
    UnknownAction {
        /// The service type.
        service_type: String,
        /// The unknown action name.
        action: String,
    },

    /// An input argument of the action was not given (nothing was sent).
    #[error("{action} needs the argument {argument}")]
    MissingArgument {
        /// The action.
        action: String,
        /// The missing argument.
        argument: String,
    },

    /// An argument was given that the action does not take as input (nothing was sent).
    #[error("{action} has no input argument {argument:?}")]
    UnknownArgument {
        /// The action.
        action: String,
        /// The unknown argument.
        argument: String,
    },

    /// An argument was given twice (nothing was sent).
    #[error("{action}: argument {argument} given twice")]
    DuplicateArgument {
        /// The action.
        action: String,
        /// The repeated argument.
        argument: String,
    },

    /// A value is not in the state variable's `allowedValueList` (nothing was sent).
    #[error("{action}: {value:?} is not an allowed value of {argument} (allowed: {})", .allowed.join(", "))]
    ValueNotAllowed {
        /// The action.
        action: String,
        /// The argument.
        argument: String,
        /// The refused value.
        value: String,
        /// The allowed values.
        allowed: Vec<String>,
    },

    /// A value of a numeric argument is not a number of its data type (nothing was sent).
    #[error("{action}: {value:?} is not a valid {data_type} for {argument}")]
    NotANumber {
        /// The action.
        action: String,
        /// The argument.
        argument: String,
        /// The refused value.
        value: String,
        /// The UPnP data type (`ui2`, `ui4`, `i4`, ...).
        data_type: String,
    },

    /// A numeric value is outside the state variable's `allowedValueRange` (nothing was sent).
    #[error("{action}: {value} is outside the range {minimum}..={maximum} of {argument}")]
    OutOfRange {
        /// The action.
        action: String,
        /// The argument.
        argument: String,
        /// The refused value.
        value: String,
        /// The range's minimum (empty when unbounded).
        minimum: String,
        /// The range's maximum (empty when unbounded).
        maximum: String,
    },

    /// A value of a boolean argument is not `0`, `1`, `true`, `false`, `yes` or `no`
    /// (nothing was sent).
    #[error("{action}: {value:?} is not a boolean for {argument} (use 0 or 1)")]
    NotABoolean {
        /// The action.
        action: String,
        /// The argument.
        argument: String,
        /// The refused value.
        value: String,
    },

    /// A value contains characters XML cannot carry (control characters other than tab,
    /// line feed and carriage return); nothing was sent.
    #[error("{action}: the value of {argument} contains characters xml cannot carry")]
    NotXmlText {
        /// The action.
        action: String,
        /// The argument.
        argument: String,
    },

    /// An action or argument name is not a plain XML name, so it cannot be sent safely.
    #[error("{name:?} is not a valid action or argument name")]
    InvalidName {
        /// The refused name.
        name: String,
    },
}

impl Error {
    /// The UPnP error code if this is a SOAP fault, e.g. `Some(718)`.
    pub fn upnp_code(&self) -> Option<u16> {
        match self {
            Error::Fault { fault, .. } => Some(fault.code),
            _ => None,
        }
    }

    /// Whether this error was found before anything was sent: a URL refused, or an
    /// argument check against the SCPD that failed.
    pub fn is_refused_before_sending(&self) -> bool {
        matches!(
            self,
            Error::InvalidUrl { .. }
                | Error::UnsupportedScheme { .. }
                | Error::OffHost { .. }
                | Error::UnknownAction { .. }
                | Error::MissingArgument { .. }
                | Error::UnknownArgument { .. }
                | Error::DuplicateArgument { .. }
                | Error::ValueNotAllowed { .. }
                | Error::NotANumber { .. }
                | Error::OutOfRange { .. }
                | Error::NotABoolean { .. }
                | Error::NotXmlText { .. }
                | Error::InvalidName { .. }
        )
    }

    /// Whether the device did not answer at all: the TCP connection was refused or not
    /// made in time, the exchange did not finish in time, the caller's deadline passed
    /// before asking, or HTTP failed below the status line (a dropped connection, a response
    /// that is not HTTP). Nothing at the URL is speaking to us: the device may be gone, or
    /// be somewhere else now.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. }
                | Error::ConnectTimeout { .. }
                | Error::Timeout { .. }
                | Error::DeadlinePassed { .. }
                | Error::Http { .. }
        )
    }

    /// Whether the device at this URL may not be the Internet Gateway Device a caller
    /// believes it is (one remembered in a cache, or known from a search answer alone): it
    /// is unreachable ([`is_unreachable`](Self::is_unreachable)), or something answers but
    /// not as that device would: an HTTP error status, a redirect, XML or SOAP that does not
    /// read, a missing element, or UPnP error 401 `Invalid Action` (no such action at this
    /// control URL). A caller that sees this should discover the gateway afresh rather
    /// than report a refusal. Other faults (718, 606, ...) are real answers of the right
    /// device and do not count.
    pub fn may_be_stale_igd(&self) -> bool {
        match self {
            Error::Fault { fault, .. } => fault.code == code::INVALID_ACTION,
            other => {
                other.is_unreachable()
                    || matches!(
                        other,
                        Error::Status { .. }
                            | Error::ActionStatus { .. }
                            | Error::Redirect { .. }
                            | Error::Xml { .. }
                            | Error::Soap { .. }
                            | Error::MissingElement { .. }
                    )
            }
        }
    }

    /// Adds where a document came from to a parse error ("scpd" → "scpd from http://...").
    pub(crate) fn with_source(self, url: &Url) -> Error {
        match self {
            Error::Xml { document, reason } => Error::Xml {
                document: format!("{document} from {url}"),
                reason,
            },
            Error::MissingElement { document, element } => Error::MissingElement {
                document: format!("{document} from {url}"),
                element,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_url;

    #[test]
    fn errors_stay_small() {
        assert!(
            std::mem::size_of::<Error>() <= 128,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    fn url() -> Box<Url> {
        Box::new(parse_url("http://192.168.1.1:5000/ctl/IPConn").unwrap())
    }

    fn fault(code: u16) -> Error {
        Error::Fault {
            action: "AddPortMapping".to_owned(),
            url: url(),
            fault: UpnpError {
                code,
                description: String::new(),
            },
        }
    }

    /// Every kind of control error with (is_unreachable, may_be_stale_igd). The one not
    /// here, `Http`, needs a hyper error that only a socket makes: tests/faults.rs checks it.
    fn predicate_table() -> Vec<(Error, bool, bool)> {
        let text = |s: &str| s.to_owned();
        let timeout = Duration::from_secs(2);
        vec![
            (
                Error::Connect {
                    url: url(),
                    source: Arc::new(std::io::ErrorKind::ConnectionRefused.into()),
                },
                true,
                true,
            ),
            (
                Error::ConnectTimeout {
                    url: url(),
                    timeout,
                },
                true,
                true,
            ),
            (
                Error::Timeout {
                    url: url(),
                    timeout,
                },
                true,
                true,
            ),
            (Error::DeadlinePassed { url: url() }, true, true),
            (
                Error::Status {
                    url: url(),
                    status: StatusCode::NOT_FOUND,
                },
                false,
                true,
            ),
            (
                Error::ActionStatus {
                    action: text("GetExternalIPAddress"),
                    url: url(),
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                },
                false,
                true,
            ),
            (
                Error::Redirect {
                    url: url(),
                    status: StatusCode::FOUND,
                    location: None,
                },
                false,
                true,
            ),
            (
                Error::Xml {
                    document: text("soap response"),
                    reason: text("eof"),
                },
                false,
                true,
            ),
            (
                Error::MissingElement {
                    document: text("device description"),
                    element: "device",
                },
                false,
                true,
            ),
            (
                Error::Soap {
                    action: text("GetStatusInfo"),
                    reason: text("no response element"),
                },
                false,
                true,
            ),
            (fault(code::INVALID_ACTION), false, true),
            (fault(code::INVALID_ARGS), false, false),
            (fault(code::ACTION_NOT_AUTHORIZED), false, false),
            (fault(code::CONFLICT_IN_MAPPING_ENTRY), false, false),
            (fault(code::ACTION_FAILED), false, false),
            (
                Error::Body {
                    url: url(),
                    reason: text("reset"),
                },
                false,
                false,
            ),
            (
                Error::BodyTooLarge {
                    url: url(),
                    limit: 1,
                },
                false,
                false,
            ),
            (
                Error::OffHost {
                    url: url(),
                    responder: "10.0.0.1".parse().unwrap(),
                },
                false,
                false,
            ),
            (Error::UnsupportedScheme { url: url() }, false, false),
            (
                Error::InvalidUrl {
                    url: text("x"),
                    reason: text("no scheme"),
                },
                false,
                false,
            ),
            (
                Error::UnknownAction {
                    service_type: text("urn:x"),
                    action: text("Nope"),
                },
                false,
                false,
            ),
            (Error::InvalidName { name: text("a b") }, false, false),
        ]
    }

    #[test]
    fn unreachable_and_stale_igd_predicates() {
        for (error, unreachable, stale) in predicate_table() {
            assert_eq!(
                error.is_unreachable(),
                unreachable,
                "is_unreachable: {error:?}"
            );
            assert_eq!(
                error.may_be_stale_igd(),
                stale,
                "may_be_stale_igd: {error:?}"
            );
            // Unreachable always implies possibly stale.
            assert!(!error.is_unreachable() || error.may_be_stale_igd());
        }
    }

    #[test]
    fn errors_are_clone() {
        for (error, _, _) in predicate_table() {
            assert_eq!(error.clone().to_string(), error.to_string());
        }
    }

    #[test]
    fn messages_name_action_url_and_code() {
        let error = Error::Fault {
            action: "AddPortMapping".to_owned(),
            url: Box::new(parse_url("http://192.168.1.1:5000/ctl/IPConn").unwrap()),
            fault: UpnpError {
                code: 718,
                description: "ConflictInMappingEntry".to_owned(),
            },
        };
        assert_eq!(
            error.to_string(),
            "AddPortMapping at http://192.168.1.1:5000/ctl/IPConn failed with upnp error 718 (ConflictInMappingEntry)"
        );
        assert_eq!(error.upnp_code(), Some(718));
        assert!(!error.is_refused_before_sending());
        assert_eq!(code::name(725), Some("OnlyPermanentLeasesSupported"));
        assert_eq!(code::name(999), None);
        let fault = UpnpError {
            code: 606,
            description: String::new(),
        };
        assert_eq!(fault.standard_name(), Some("ActionNotAuthorized"));
    }
}

/// A duration in a message: `3.0 s`, `250 ms` (not `Duration`'s `3.001826206s`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seconds(pub(crate) std::time::Duration);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 >= std::time::Duration::from_secs(1) {
            write!(f, "{:.1} s", self.0.as_secs_f64())
        } else {
            write!(f, "{} ms", self.0.as_millis())
        }
    }
}
