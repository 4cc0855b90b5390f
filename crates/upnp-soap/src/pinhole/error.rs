//! The errors of the IPv6 firewall control client: [`PinholeError`], and [`Refusal`], the error codes
//! of WANIPv6FirewallControl:1 a gateway answers with.

use std::fmt;
use std::net::Ipv6Addr;
use std::time::Duration;

use crate::Url;
use crate::error::Seconds;

use super::answer::InvalidValue;

/// Shorthand for results whose error is this module's [`PinholeError`].
pub type Result<T, E = PinholeError> = std::result::Result<T, E>;

/// A gateway's refusal of a firewall control action: the error codes WANIPv6FirewallControl:1
/// defines for its actions (and 606 of the Device Architecture, which the service lists
/// beside them). Other codes (401, 402, 501, ...) stay [`crate::Error::Fault`]s.
///
/// Its message reads as a sentence and ends with the code and the standard's name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// 606 `Action not authorized`: the gateway's policy refuses this control point the
    /// action. miniupnpd (in its default secure mode) answers it when the internal client
    /// is not the address the request came from, or the request came over IPv4.
    NotAuthorized,
    /// 701 `PinholeSpaceExhausted`: the gateway has no room for another pinhole.
    PinholeSpaceExhausted,
    /// 702 `FirewallDisabled`: the IPv6 firewall is off, so pinholes are neither needed nor
    /// managed.
    FirewallDisabled,
    /// 703 `InboundPinholeNotAllowed`: the firewall is on and its policy allows no inbound
    /// pinholes.
    InboundPinholeNotAllowed,
    /// 704 `NoSuchEntry`: no pinhole has that UniqueID (it expired or was deleted).
    NoSuchEntry,
    /// 705 `ProtocolNotSupported`: the gateway cannot filter that protocol.
    ProtocolNotSupported,
    /// 706 `InternalPortWildcardingNotAllowed`: the internal port must be given.
    InternalPortWildcardingNotAllowed,
    /// 707 `ProtocolWildcardingNotAllowed`: the protocol must be given (not 65535).
    ProtocolWildcardingNotAllowed,
    /// 708 `WildCardNotPermittedInSrcIP`: the remote host must be given (not empty).
    WildCardNotPermittedInSrcIp,
    /// 709 `NoPacketSent`: no packet has gone through the pinhole yet, so whether it works
    /// is unknown (miniupnpd's description says `NoTrafficReceived`).
    NoPacketSent,
}

impl Refusal {
    /// Every refusal, in code order.
    pub const ALL: [Refusal; 10] = [
        Refusal::NotAuthorized,
        Refusal::PinholeSpaceExhausted,
        Refusal::FirewallDisabled,
        Refusal::InboundPinholeNotAllowed,
        Refusal::NoSuchEntry,
        Refusal::ProtocolNotSupported,
        Refusal::InternalPortWildcardingNotAllowed,
        Refusal::ProtocolWildcardingNotAllowed,
        Refusal::WildCardNotPermittedInSrcIp,
        Refusal::NoPacketSent,
    ];

    /// The refusal a UPnP error code stands for, `None` for codes this service does not
    /// define.
    pub fn from_code(code: u16) -> Option<Refusal> {
        Refusal::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The UPnP error code, e.g. 704.
    pub fn code(self) -> u16 {
        match self {
            Refusal::NotAuthorized => 606,
            Refusal::PinholeSpaceExhausted => 701,
            Refusal::FirewallDisabled => 702,
            Refusal::InboundPinholeNotAllowed => 703,
            Refusal::NoSuchEntry => 704,
            Refusal::ProtocolNotSupported => 705,
            Refusal::InternalPortWildcardingNotAllowed => 706,
            Refusal::ProtocolWildcardingNotAllowed => 707,
            Refusal::WildCardNotPermittedInSrcIp => 708,
            Refusal::NoPacketSent => 709,
        }
    }

    /// The standard's name for the code, e.g. `NoSuchEntry`.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::NotAuthorized => "Action not authorized",
            Refusal::PinholeSpaceExhausted => "PinholeSpaceExhausted",
            Refusal::FirewallDisabled => "FirewallDisabled",
            Refusal::InboundPinholeNotAllowed => "InboundPinholeNotAllowed",
            Refusal::NoSuchEntry => "NoSuchEntry",
            Refusal::ProtocolNotSupported => "ProtocolNotSupported",
            Refusal::InternalPortWildcardingNotAllowed => "InternalPortWildcardingNotAllowed",
            Refusal::ProtocolWildcardingNotAllowed => "ProtocolWildcardingNotAllowed",
            Refusal::WildCardNotPermittedInSrcIp => "WildCardNotPermittedInSrcIP",
            Refusal::NoPacketSent => "NoPacketSent",
        }
    }

    fn sentence(self) -> &'static str {
        match self {
            Refusal::NotAuthorized => "the gateway does not authorize this control point",
            Refusal::PinholeSpaceExhausted => "the gateway has no room for another pinhole",
            Refusal::FirewallDisabled => "the gateway's ipv6 firewall is disabled",
            Refusal::InboundPinholeNotAllowed => {
                "the gateway's firewall policy allows no inbound pinholes"
            }
            Refusal::NoSuchEntry => "the gateway holds no pinhole with that id",
            Refusal::ProtocolNotSupported => "the gateway does not support that protocol",
            Refusal::InternalPortWildcardingNotAllowed => {
                "the gateway needs an internal port, not the wildcard"
            }
            Refusal::ProtocolWildcardingNotAllowed => {
                "the gateway needs a protocol, not the wildcard"
            }
            Refusal::WildCardNotPermittedInSrcIp => {
                "the gateway needs a remote host, not the wildcard"
            }
            Refusal::NoPacketSent => "no packet has gone through the pinhole yet",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (upnp error {} {})",
            self.sentence(),
            self.code(),
            self.name()
        )
    }
}

/// Everything that can go wrong controlling a gateway's IPv6 firewall.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PinholeError {
    /// Fetching, parsing or calling failed, or the gateway answered a fault this service
    /// does not define (401 when it lacks an optional action, 402, 501, ...).
    #[error(transparent)]
    Control(#[from] crate::Error),

    /// The description has no WANIPv6FirewallControl service.
    #[error("no WANIPv6FirewallControl service in the description at {location}")]
    NoFirewallControl {
        /// The LOCATION of the description.
        location: Box<Url>,
    },

    /// The gateway refused the action with one of the service's error codes.
    #[error("{action} at {url} was refused: {refusal}")]
    Refused {
        /// The refused action.
        action: &'static str,
        /// The control URL.
        url: Box<Url>,
        /// Why, as the code says.
        refusal: Refusal,
        /// The `errorDescription` the gateway sent (may be empty or nonstandard).
        description: String,
    },

    /// The gateway answered 402 (`Invalid Args`) to an action on a pinhole id whose only
    /// argument it can object to is that id, sent well-formed: miniupnpd 2.3.1 (nftables
    /// backend) answers so for an id it does not hold, where the standard says 704. See
    /// [`PinholeError::is_no_such_pinhole`].
    #[error(
        "{action} at {url}: the gateway holds no pinhole {id} (it answered upnp error 402 Invalid Args, as miniupnpd does for an unknown id)"
    )]
    UnknownId {
        /// The action.
        action: &'static str,
        /// The control URL.
        url: Box<Url>,
        /// The pinhole id sent.
        id: u16,
    },

    /// The gateway answered with an out argument that is missing or does not parse.
    #[error("{action} at {url} answered an invalid {}: {}", .problem.argument, .problem)]
    InvalidResponse {
        /// The action.
        action: &'static str,
        /// The control URL.
        url: Box<Url>,
        /// The argument and what was wrong with it.
        problem: InvalidValue,
    },

    /// The operation did not finish within its bound
    /// ([`Config::operation_bound`](crate::Config::operation_bound)).
    #[error("{action} at {url} did not finish within {}", Seconds(*.timeout))]
    OperationTimeout {
        /// The action.
        action: &'static str,
        /// The control URL.
        url: Box<Url>,
        /// The bound that elapsed.
        timeout: Duration,
    },

    /// A lease outside the service's 1 s to 86400 s (nothing was sent).
    #[error("a pinhole lease of {} is outside the 1 s to 86400 s the service allows", Seconds(*.lease))]
    LeaseOutOfRange {
        /// The refused lease.
        lease: Duration,
    },

    /// A pinhole to internal port 0 would open every port of the host (nothing was sent).
    #[error(
        "a pinhole to internal port 0 would open every port of {internal_client}; name one port"
    )]
    InternalPortWildcard {
        /// The internal client.
        internal_client: Ipv6Addr,
    },

    /// An internal client no pinhole can serve (nothing was sent).
    #[error("{address} cannot be a pinhole's internal client: it is {reason}")]
    InvalidInternalClient {
        /// The refused address.
        address: Ipv6Addr,
        /// What kind of address it is ("unspecified", "link-local", ...).
        reason: &'static str,
    },

    /// A remote host that is not a host (nothing was sent). The wildcard is `None`.
    #[error("{address} cannot be a pinhole's remote host: it is {reason} (use None for any host)")]
    InvalidRemoteHost {
        /// The refused address.
        address: Ipv6Addr,
        /// What kind of address it is.
        reason: &'static str,
    },

    /// The router's IPv6 address is link-local: reaching it needs a zone id (the interface),
    /// which [`Url`] and the HTTP client do not carry.
    #[error(
        "the router address {address} is link-local, and link-local urls (zone ids) are not supported; use its global or unique local address"
    )]
    LinkLocalRouter {
        /// The refused address.
        address: Ipv6Addr,
    },
}

impl PinholeError {
    /// The UPnP error code if the gateway refused, e.g. `Some(704)`.
    pub fn upnp_code(&self) -> Option<u16> {
        match self {
            PinholeError::Control(e) => e.upnp_code(),
            PinholeError::Refused { refusal, .. } => Some(refusal.code()),
            PinholeError::UnknownId { .. } => Some(crate::code::INVALID_ARGS),
            _ => None,
        }
    }

    /// Whether the gateway holds no such pinhole: 704 (`NoSuchEntry`), or the 402 miniupnpd
    /// answers instead ([`PinholeError::UnknownId`]). A pinhole that expired or was deleted (or a
    /// gateway that restarted) reads so: open it again rather than refresh it.
    pub fn is_no_such_pinhole(&self) -> bool {
        matches!(
            self,
            PinholeError::UnknownId { .. }
                | PinholeError::Refused {
                    refusal: Refusal::NoSuchEntry,
                    ..
                }
        )
    }

    /// The refusal, if the gateway refused with one of the service's codes.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            PinholeError::Refused { refusal, .. } => Some(*refusal),
            _ => None,
        }
    }

    /// Whether the gateway did not answer: the control layer's
    /// [`Error::is_unreachable`](crate::Error::is_unreachable), or the operation's bound
    /// elapsed ([`PinholeError::OperationTimeout`]).
    pub fn is_unreachable(&self) -> bool {
        match self {
            PinholeError::Control(e) => e.is_unreachable(),
            PinholeError::OperationTimeout { .. } => true,
            _ => false,
        }
    }

    /// Whether the device may not be the gateway a caller believes it is:
    /// [`is_unreachable`](Self::is_unreachable), or the control layer's
    /// [`Error::may_be_stale_igd`](crate::Error::may_be_stale_igd) (an HTTP error status, a
    /// redirect, an unreadable answer, 401 `Invalid Action`). The service's own refusals
    /// ([`PinholeError::Refused`], [`PinholeError::UnknownId`]) do not count.
    pub fn may_be_stale_igd(&self) -> bool {
        match self {
            PinholeError::Control(e) => e.may_be_stale_igd(),
            other => other.is_unreachable(),
        }
    }

    /// Whether this error was found before anything was sent: an input the service does
    /// not allow, or a URL refused.
    pub fn is_refused_before_sending(&self) -> bool {
        match self {
            PinholeError::Control(e) => e.is_refused_before_sending(),
            PinholeError::LeaseOutOfRange { .. }
            | PinholeError::InternalPortWildcard { .. }
            | PinholeError::InvalidInternalClient { .. }
            | PinholeError::InvalidRemoteHost { .. }
            | PinholeError::LinkLocalRouter { .. } => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_url;

    #[test]
    fn every_code_maps_back_and_reads_as_a_sentence() {
        for refusal in Refusal::ALL {
            assert_eq!(Refusal::from_code(refusal.code()), Some(refusal));
            let message = refusal.to_string();
            assert!(
                message.contains(&format!("upnp error {} {}", refusal.code(), refusal.name())),
                "{message}"
            );
            assert!(
                message.starts_with(|c: char| c.is_ascii_lowercase()),
                "{message}"
            );
        }
        assert_eq!(Refusal::from_code(714), None);
        assert_eq!(Refusal::from_code(402), None);
    }

    #[test]
    fn messages_name_action_url_and_code() {
        let url = parse_url("http://[fd77::1]:5000/ctl/IP6FCtl").unwrap();
        let e = PinholeError::Refused {
            action: "DeletePinhole",
            url: Box::new(url),
            refusal: Refusal::NoSuchEntry,
            description: "NoSuchEntry".to_owned(),
        };
        assert_eq!(
            e.to_string(),
            "DeletePinhole at http://[fd77::1]:5000/ctl/IP6FCtl was refused: the gateway holds no pinhole with that id (upnp error 704 NoSuchEntry)"
        );
        assert_eq!(e.upnp_code(), Some(704));
        assert_eq!(e.refusal(), Some(Refusal::NoSuchEntry));
        assert!(!e.is_refused_before_sending());
        let e = PinholeError::LeaseOutOfRange {
            lease: Duration::from_secs(90_000),
        };
        assert!(e.is_refused_before_sending());
        assert_eq!(
            e.to_string(),
            "a pinhole lease of 90000.0 s is outside the 1 s to 86400 s the service allows"
        );
    }

    #[test]
    fn predicates_delegate_to_the_control_error() {
        let url = || Box::new(parse_url("http://[fd77::1]:5000/ctl/IP6FCtl").unwrap());
        let timeout = Duration::from_secs(1);
        let control_fault = |code| {
            PinholeError::Control(crate::Error::Fault {
                action: "AddPinhole".to_owned(),
                url: url(),
                fault: crate::UpnpError {
                    code,
                    description: String::new(),
                },
            })
        };
        let table: Vec<(PinholeError, bool, bool)> = vec![
            (
                PinholeError::Control(crate::Error::ConnectTimeout {
                    url: url(),
                    timeout,
                }),
                true,
                true,
            ),
            (control_fault(401), false, true),
            (control_fault(501), false, false),
            (
                PinholeError::OperationTimeout {
                    action: "AddPinhole",
                    url: url(),
                    timeout,
                },
                true,
                true,
            ),
            (
                PinholeError::Refused {
                    action: "AddPinhole",
                    url: url(),
                    refusal: Refusal::FirewallDisabled,
                    description: String::new(),
                },
                false,
                false,
            ),
            (
                PinholeError::UnknownId {
                    action: "DeletePinhole",
                    url: url(),
                    id: 7,
                },
                false,
                false,
            ),
            (
                PinholeError::LeaseOutOfRange {
                    lease: Duration::ZERO,
                },
                false,
                false,
            ),
        ];
        for (error, unreachable, stale) in table {
            assert_eq!(error.is_unreachable(), unreachable, "{error:?}");
            assert_eq!(error.may_be_stale_igd(), stale, "{error:?}");
            assert_eq!(error.clone().to_string(), error.to_string());
        }
    }

    #[test]
    fn errors_stay_small() {
        assert!(
            std::mem::size_of::<PinholeError>() <= 128,
            "{}",
            std::mem::size_of::<PinholeError>()
        );
    }
}
