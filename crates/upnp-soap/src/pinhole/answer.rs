//! The pure parsers of the service's answers: each out argument checked against its data
//! type, bounded in length, never guessed (a boolean that is not a boolean is an error, not
//! `false`).

use std::fmt;
use std::time::Duration;

use crate::soap::Arguments;

use super::request::FirewallStatus;

/// The longest value kept in an [`InvalidValue`] (the rest is cut), so a hostile answer
/// cannot make errors large.
pub const MAX_REPORTED_VALUE: usize = 64;

/// The longest value parsed at all: every out argument of the service is a number or a
/// boolean, which fit in far fewer bytes (whitespace around them included).
const MAX_VALUE_LEN: usize = 256;

/// An out argument that is missing or does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidValue {
    /// The argument, e.g. `UniqueID`.
    pub argument: &'static str,
    /// What the gateway sent (at most [`MAX_REPORTED_VALUE`] characters), `None` when it
    /// sent no such argument.
    pub value: Option<String>,
    /// What was expected: "a ui2", "a boolean", ...
    pub expected: &'static str,
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{value:?} is not {}", self.expected),
            None => write!(f, "it is missing ({} expected)", self.expected),
        }
    }
}

/// The value of `argument`, trimmed; an error when missing or absurdly long.
fn value<'a>(
    reply: &'a Arguments,
    argument: &'static str,
    expected: &'static str,
) -> Result<&'a str, InvalidValue> {
    let invalid = |value: Option<&str>| InvalidValue {
        argument,
        value: value.map(|v| v.chars().take(MAX_REPORTED_VALUE).collect()),
        expected,
    };
    let raw = reply.get(argument).ok_or_else(|| invalid(None))?;
    if raw.len() > MAX_VALUE_LEN {
        return Err(invalid(Some(raw)));
    }
    Ok(raw.trim())
}

fn unsigned<T: std::str::FromStr>(
    reply: &Arguments,
    argument: &'static str,
    expected: &'static str,
) -> Result<T, InvalidValue> {
    let text = value(reply, argument, expected)?;
    // `str::parse` takes a leading `+`, which no UPnP number carries.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidValue {
            argument,
            value: Some(text.chars().take(MAX_REPORTED_VALUE).collect()),
            expected,
        });
    }
    text.parse().map_err(|_| InvalidValue {
        argument,
        value: Some(text.chars().take(MAX_REPORTED_VALUE).collect()),
        expected,
    })
}

fn boolean(reply: &Arguments, argument: &'static str) -> Result<bool, InvalidValue> {
    const EXPECTED: &str = "a boolean (0, 1, true, false, yes or no)";
    let text = value(reply, argument, EXPECTED)?;
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(InvalidValue {
            argument,
            value: Some(text.chars().take(MAX_REPORTED_VALUE).collect()),
            expected: EXPECTED,
        }),
    }
}

/// The answer to `GetFirewallStatus`: `FirewallEnabled` and `InboundPinholeAllowed`.
///
/// # Errors
/// [`InvalidValue`] when either is missing or not a boolean.
pub fn parse_firewall_status(reply: &Arguments) -> Result<FirewallStatus, InvalidValue> {
    Ok(FirewallStatus {
        firewall_enabled: boolean(reply, "FirewallEnabled")?,
        inbound_pinhole_allowed: boolean(reply, "InboundPinholeAllowed")?,
    })
}

/// The `UniqueID` answering `AddPinhole` (a `ui2`).
///
/// # Errors
/// [`InvalidValue`] when it is missing or not a number from 0 to 65535.
pub fn parse_unique_id(reply: &Arguments) -> Result<u16, InvalidValue> {
    unsigned(reply, "UniqueID", "a ui2 (0 to 65535)")
}

/// The `OutboundPinholeTimeout` answering `GetOutboundPinholeTimeout` (a `ui4` of seconds).
///
/// # Errors
/// [`InvalidValue`] when it is missing or not a `ui4`.
pub fn parse_outbound_pinhole_timeout(reply: &Arguments) -> Result<Duration, InvalidValue> {
    unsigned::<u32>(
        reply,
        "OutboundPinholeTimeout",
        "a ui4 (seconds, 0 to 4294967295)",
    )
    .map(|seconds| Duration::from_secs(seconds.into()))
}

/// The `PinholePackets` answering `GetPinholePackets` (a `ui4`).
///
/// # Errors
/// [`InvalidValue`] when it is missing or not a `ui4`.
pub fn parse_pinhole_packets(reply: &Arguments) -> Result<u32, InvalidValue> {
    unsigned(reply, "PinholePackets", "a ui4 (0 to 4294967295)")
}

/// The `IsWorking` answering `CheckPinholeWorking`.
///
/// # Errors
/// [`InvalidValue`] when it is missing or not a boolean.
pub fn parse_is_working(reply: &Arguments) -> Result<bool, InvalidValue> {
    boolean(reply, "IsWorking")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::{Reply, parse_response};

    /// The out arguments of a response body, as a device sends it.
    fn reply(bytes: &[u8], action: &str) -> Arguments {
        match parse_response(bytes, action).unwrap() {
            Reply::Success(arguments) => arguments,
            Reply::Fault(fault) => panic!("{fault}"),
        }
    }

    fn args(pairs: &[(&str, &str)]) -> Arguments {
        Arguments::from(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn miniupnpd_answers_parse() {
        let status = reply(
            include_bytes!("../../testdata/pinhole/GetFirewallStatus.xml"),
            "GetFirewallStatus",
        );
        assert_eq!(
            parse_firewall_status(&status).unwrap(),
            FirewallStatus {
                firewall_enabled: true,
                inbound_pinhole_allowed: true,
            }
        );
        let added = reply(
            include_bytes!("../../testdata/pinhole/AddPinhole.xml"),
            "AddPinhole",
        );
        assert_eq!(parse_unique_id(&added).unwrap(), 1);
        let packets = reply(
            include_bytes!("../../testdata/pinhole/GetPinholePackets.xml"),
            "GetPinholePackets",
        );
        assert_eq!(parse_pinhole_packets(&packets).unwrap(), 0);
        for (bytes, action) in [
            (
                &include_bytes!("../../testdata/pinhole/UpdatePinhole.xml")[..],
                "UpdatePinhole",
            ),
            (
                &include_bytes!("../../testdata/pinhole/DeletePinhole.xml")[..],
                "DeletePinhole",
            ),
        ] {
            assert!(reply(bytes, action).is_empty(), "{action}");
        }
    }

    #[test]
    fn miniupnpd_faults_are_the_services_codes() {
        use super::super::Refusal;
        for (bytes, action, code) in [
            (
                &include_bytes!("../../testdata/pinhole/AddPinhole-606.xml")[..],
                "AddPinhole",
                606,
            ),
            (
                &include_bytes!("../../testdata/pinhole/CheckPinholeWorking-709.xml")[..],
                "CheckPinholeWorking",
                709,
            ),
            (
                &include_bytes!("../../testdata/pinhole/DeletePinhole-402.xml")[..],
                "DeletePinhole",
                402,
            ),
        ] {
            match parse_response(bytes, action).unwrap() {
                Reply::Fault(fault) => {
                    assert_eq!(fault.code, code);
                    assert_eq!(
                        Refusal::from_code(code).map(Refusal::code),
                        (code != 402).then_some(code)
                    );
                }
                other => panic!("{action}: {other:?}"),
            }
        }
    }

    #[test]
    fn booleans_in_every_spelling_and_nothing_else() {
        for (text, expected) in [
            ("1", true),
            ("0", false),
            (" true ", true),
            ("False", false),
            ("yes", true),
            ("NO", false),
        ] {
            assert_eq!(
                parse_is_working(&args(&[("IsWorking", text)])),
                Ok(expected),
                "{text:?}"
            );
        }
        for text in ["", "2", "on", "-1", "truthy"] {
            let e = parse_is_working(&args(&[("IsWorking", text)])).unwrap_err();
            assert_eq!(e.argument, "IsWorking");
            assert_eq!(e.value.as_deref(), Some(text.trim()));
        }
        let e = parse_firewall_status(&args(&[("FirewallEnabled", "1")])).unwrap_err();
        assert_eq!(e.argument, "InboundPinholeAllowed");
        assert_eq!(e.value, None);
        assert_eq!(
            e.to_string(),
            "it is missing (a boolean (0, 1, true, false, yes or no) expected)"
        );
    }

    #[test]
    fn numbers_are_bounded_by_their_type() {
        assert_eq!(
            parse_unique_id(&args(&[("UniqueID", " 65535 ")])),
            Ok(65_535)
        );
        assert_eq!(parse_unique_id(&args(&[("UniqueID", "0")])), Ok(0));
        for text in ["65536", "-1", "+5", "1e3", "0x10", "", "１"] {
            let e = parse_unique_id(&args(&[("UniqueID", text)])).unwrap_err();
            assert_eq!(e.argument, "UniqueID", "{text:?}");
        }
        assert_eq!(
            parse_pinhole_packets(&args(&[("PinholePackets", "4294967295")])),
            Ok(u32::MAX)
        );
        assert!(parse_pinhole_packets(&args(&[("PinholePackets", "4294967296")])).is_err());
        assert_eq!(
            parse_outbound_pinhole_timeout(&args(&[("OutboundPinholeTimeout", "120")])),
            Ok(Duration::from_secs(120))
        );
    }

    #[test]
    fn huge_values_are_refused_and_reported_cut() {
        let huge = "7".repeat(100_000);
        let e = parse_unique_id(&args(&[("UniqueID", &huge)])).unwrap_err();
        assert_eq!(e.value.as_deref().map(str::len), Some(MAX_REPORTED_VALUE));
        let padded = format!("{}1{}", " ".repeat(100), " ".repeat(100));
        assert_eq!(parse_unique_id(&args(&[("UniqueID", &padded)])), Ok(1));
    }
}
