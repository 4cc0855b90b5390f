//! The lenient, bounded parsers of SSDP datagrams: search responses ([`parse_response`]) and
//! NOTIFY messages ([`parse_notify`]), and the [`Response`] and [`Notify`] they produce.
//!
//! Real devices bend HTTP in every way: lowercase or mixed-case names, spaces around the
//! colon, LF instead of CRLF, no blank line at the end, folded lines, Latin-1 in `SERVER`.
//! All of that is accepted. What is refused is a datagram over
//! [`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE), one whose first line is not the expected
//! start line, and one that lacks a header the message cannot do without.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use crate::error::ParseError;
use crate::headers::Headers;
use crate::{MAX_HEADERS, MAX_MESSAGE_SIZE};

/// How much of an offending line or value an error quotes.
const QUOTE_CHARS: usize = 64;

/// The source given to a message parsed without one: `0.0.0.0:0`.
const NO_SOURCE: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));

/// A device's answer to an M-SEARCH.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// Who sent the answer (any source port is accepted). [`parse_response`] cannot know it
    /// and leaves `0.0.0.0:0`; a search fills it in.
    pub source: SocketAddr,
    /// `LOCATION`: the URL of the device's description.
    pub location: String,
    /// `ST`: the search target this answer is for.
    pub st: String,
    /// `USN`: the unique service name, e.g. `uuid:...::upnp:rootdevice` (absent on a few
    /// broken devices).
    pub usn: Option<String>,
    /// `SERVER`: the device's OS, UPnP version and product.
    pub server: Option<String>,
    /// The `max-age` directive of `CACHE-CONTROL`: how long the answer stays valid.
    pub max_age: Option<Duration>,
    /// Every header, the ones above included.
    pub headers: Headers,
}

/// The notification sub type of a NOTIFY message (its `NTS` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotificationSubType {
    /// `ssdp:alive`: the device is (still) there.
    Alive,
    /// `ssdp:byebye`: the device is leaving.
    ByeBye,
    /// `ssdp:update`: the device's boot id changes (UPnP 1.1).
    Update,
}

impl NotificationSubType {
    /// The header value, e.g. `ssdp:alive`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationSubType::Alive => "ssdp:alive",
            NotificationSubType::ByeBye => "ssdp:byebye",
            NotificationSubType::Update => "ssdp:update",
        }
    }
}

impl std::fmt::Display for NotificationSubType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A NOTIFY message: a device announcing itself, leaving, or changing its boot id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notify {
    /// Who sent it. [`parse_notify`] cannot know it and leaves `0.0.0.0:0`; a listener fills
    /// it in.
    pub source: SocketAddr,
    /// `NTS`: alive, byebye or update.
    pub nts: NotificationSubType,
    /// `NT`: the notification type (a device or service type, a uuid, `upnp:rootdevice`).
    pub nt: String,
    /// `USN`: the unique service name.
    pub usn: String,
    /// `LOCATION`: the description's URL (present on alive and update, absent on byebye).
    pub location: Option<String>,
    /// `SERVER`: the device's OS, UPnP version and product.
    pub server: Option<String>,
    /// The `max-age` directive of `CACHE-CONTROL`.
    pub max_age: Option<Duration>,
    /// Every header, the ones above included.
    pub headers: Headers,
}

/// Parses an answer to an M-SEARCH (`HTTP/1.1 200 OK` and headers).
///
/// `LOCATION` and `ST` must be present and not empty; everything else is optional. The
/// [`Response::source`] is left as `0.0.0.0:0`.
///
/// # Errors
/// [`ParseError::TooLarge`] over [`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE) bytes,
/// [`ParseError::Empty`], [`ParseError::UnexpectedStartLine`] when the first line is not an
/// HTTP status line, [`ParseError::Status`] for a status other than 200,
/// [`ParseError::TooManyHeaders`], [`ParseError::MissingHeader`].
pub fn parse_response(data: &[u8]) -> Result<Response, ParseError> {
    let (start_line, headers) = split_message(data)?;
    let mut tokens = start_line.split_ascii_whitespace();
    let version = tokens.next().unwrap_or_default();
    let code = tokens.next().and_then(|code| code.parse::<u16>().ok());
    let code = match code {
        Some(code) if starts_with_ignore_case(version, "HTTP/") => code,
        _ => {
            return Err(ParseError::UnexpectedStartLine {
                expected: "an http response",
                found: quote(&start_line),
            });
        }
    };
    if code != 200 {
        return Err(ParseError::Status { code });
    }
    Ok(Response {
        source: NO_SOURCE,
        location: required(&headers, "LOCATION")?,
        st: required(&headers, "ST")?,
        usn: optional(&headers, "USN"),
        server: optional(&headers, "SERVER"),
        max_age: headers.get("CACHE-CONTROL").and_then(parse_max_age),
        headers,
    })
}

/// Parses a NOTIFY message (`NOTIFY * HTTP/1.1` and headers).
///
/// `NT`, `NTS` and `USN` must be present and not empty; `LOCATION` is optional (a byebye has
/// none). The [`Notify::source`] is left as `0.0.0.0:0`.
///
/// # Errors
/// As [`parse_response`], with [`ParseError::UnexpectedStartLine`] when the first line is not
/// a NOTIFY request line, and [`ParseError::UnknownNotificationSubType`] for an `NTS` other
/// than `ssdp:alive`, `ssdp:byebye` or `ssdp:update`.
pub fn parse_notify(data: &[u8]) -> Result<Notify, ParseError> {
    let (start_line, headers) = split_message(data)?;
    let method = start_line
        .split_ascii_whitespace()
        .next()
        .unwrap_or_default();
    if !method.eq_ignore_ascii_case("NOTIFY") {
        return Err(ParseError::UnexpectedStartLine {
            expected: "a notify request",
            found: quote(&start_line),
        });
    }
    let nts_value = required(&headers, "NTS")?;
    let nts = match nts_value.to_ascii_lowercase().as_str() {
        "ssdp:alive" => NotificationSubType::Alive,
        "ssdp:byebye" => NotificationSubType::ByeBye,
        "ssdp:update" => NotificationSubType::Update,
        _ => {
            return Err(ParseError::UnknownNotificationSubType {
                nts: quote(&nts_value),
            });
        }
    };
    Ok(Notify {
        source: NO_SOURCE,
        nts,
        nt: required(&headers, "NT")?,
        usn: required(&headers, "USN")?,
        location: optional(&headers, "LOCATION"),
        server: optional(&headers, "SERVER"),
        max_age: headers.get("CACHE-CONTROL").and_then(parse_max_age),
        headers,
    })
}

/// Splits a datagram into its start line and headers; anything after the blank line that
/// ends the headers (a body) is ignored.
pub(crate) fn split_message(data: &[u8]) -> Result<(String, Headers), ParseError> {
    if data.len() > MAX_MESSAGE_SIZE {
        return Err(ParseError::TooLarge {
            len: data.len(),
            max: MAX_MESSAGE_SIZE,
        });
    }
    let mut lines = data.split(|&b| b == b'\n').map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        String::from_utf8_lossy(line)
    });
    // A sender may put blank lines before the start line (RFC 9112 §2.2 says to ignore them).
    let start_line = lines
        .by_ref()
        .map(|line| line.trim().to_owned())
        .find(|line| !line.is_empty())
        .ok_or(ParseError::Empty)?;
    let mut headers = Headers::new();
    for line in lines {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            headers.continue_last(line.trim());
            continue;
        }
        // Lines without a colon are skipped rather than refused: leniency toward devices.
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        if headers.len() == MAX_HEADERS {
            return Err(ParseError::TooManyHeaders { max: MAX_HEADERS });
        }
        headers.push(name, value.trim());
    }
    Ok((start_line, headers))
}

/// The `max-age` directive of a `CACHE-CONTROL` value, e.g. `max-age = 1800` or
/// `no-cache="Ext", max-age=120`.
pub(crate) fn parse_max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|directive| {
        let (name, seconds) = directive.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("max-age") {
            return None;
        }
        seconds
            .trim()
            .trim_matches('"')
            .parse::<u32>()
            .ok()
            .map(|s| Duration::from_secs(u64::from(s)))
    })
}

fn required(headers: &Headers, name: &'static str) -> Result<String, ParseError> {
    optional(headers, name).ok_or(ParseError::MissingHeader { name })
}

fn optional(headers: &Headers, name: &str) -> Option<String> {
    headers
        .get(name)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn quote(text: &str) -> String {
    text.chars().take(QUOTE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIUPNPD: &[u8] = include_bytes!("../testdata/miniupnpd_response.bin");
    const ALIVE: &[u8] = include_bytes!("../testdata/miniupnpd_notify_alive.bin");
    const BYEBYE: &[u8] = include_bytes!("../testdata/miniupnpd_notify_byebye.bin");

    #[test]
    fn parses_miniupnpd_response() {
        let response = parse_response(MINIUPNPD).expect("parses");
        assert_eq!(response.source, NO_SOURCE);
        assert_eq!(response.location, "http://192.168.77.1:5000/rootDesc.xml");
        assert_eq!(response.st, "upnp:rootdevice");
        assert_eq!(
            response.usn.as_deref(),
            Some("uuid:6e61746c-6162-4000-8000-da3af46412d2::upnp:rootdevice")
        );
        assert_eq!(
            response.server.as_deref(),
            Some("Debian/6.18.44-fc-v782 UPnP/1.1 MiniUPnPd/2.3.1")
        );
        assert_eq!(response.max_age, Some(Duration::from_secs(120)));
        assert_eq!(response.headers.len(), 10);
        assert_eq!(response.headers.get("ext"), Some(""));
        assert_eq!(response.headers.get("bootid.upnp.org"), Some("1795388031"));
        assert_eq!(
            response.headers.get("opt"),
            Some(r#""http://schemas.upnp.org/upnp/1/0/"; ns=01"#)
        );
    }

    #[test]
    fn accepts_an_st_answered_with_a_uuid_and_a_location_with_colons_and_no_xml() {
        // Routers answer a search for a type with their uuid as ST, and some serve their
        // description at paths like /upnp/IGD:1/desc.
        let text = "HTTP/1.1 200 OK\r\nLoCaTiOn: http://192.168.1.1:49152/upnp/IGD:1/desc?v=2\r\n\
                    St: uuid:12345678-1234-1234-1234-123456789abc\r\n\
                    USN: uuid:12345678-1234-1234-1234-123456789abc\r\n\r\n";
        let response = parse_response(text.as_bytes()).expect("parses");
        assert_eq!(
            response.location,
            "http://192.168.1.1:49152/upnp/IGD:1/desc?v=2"
        );
        assert_eq!(response.st, "uuid:12345678-1234-1234-1234-123456789abc");
    }

    #[test]
    fn accepts_lowercase_names_extra_spaces_lf_only_and_no_final_blank_line() {
        let text = "http/1.1   200   ok\n\
                    location  :   http://10.0.0.1:80/desc.xml  \n\
                    st:urn:schemas-upnp-org:device:InternetGatewayDevice:1\n\
                    usn :uuid:abc::urn:schemas-upnp-org:device:InternetGatewayDevice:1\n\
                    cache-control: no-cache=\"Ext\", max-age = 1800\n\
                    Server: Linux/2.6 UPnP/1.0 Router/1";
        let response = parse_response(text.as_bytes()).expect("parses");
        assert_eq!(response.location, "http://10.0.0.1:80/desc.xml");
        assert_eq!(
            response.st,
            "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
        );
        assert_eq!(
            response.usn.as_deref(),
            Some("uuid:abc::urn:schemas-upnp-org:device:InternetGatewayDevice:1")
        );
        assert_eq!(response.max_age, Some(Duration::from_secs(1800)));
        assert_eq!(
            response.server.as_deref(),
            Some("Linux/2.6 UPnP/1.0 Router/1")
        );
    }

    #[test]
    fn accepts_crlf_without_final_blank_line_leading_blank_lines_and_a_body() {
        let text =
            "\r\n\r\nHTTP/1.0 200 OK\r\nLOCATION: http://h/d\r\nST: upnp:rootdevice\r\n\r\nbody: x";
        let response = parse_response(text.as_bytes()).expect("parses");
        assert_eq!(response.location, "http://h/d");
        assert_eq!(response.usn, None);
        assert!(!response.headers.contains("body"));

        let text = "HTTP/1.1 200 OK\r\nLOCATION: http://h/d\r\nST: upnp:rootdevice";
        assert_eq!(
            parse_response(text.as_bytes()).expect("parses").st,
            "upnp:rootdevice"
        );
    }

    #[test]
    fn keeps_folded_lines_and_skips_lines_without_a_colon() {
        let text = "HTTP/1.1 200 OK\r\nSERVER: Linux\r\n  UPnP/1.1\r\ngarbage\r\n: no name\r\nLOCATION: http://h/d\r\nST: x\r\n";
        let response = parse_response(text.as_bytes()).expect("parses");
        assert_eq!(response.server.as_deref(), Some("Linux UPnP/1.1"));
        assert_eq!(response.headers.len(), 3);
    }

    #[test]
    fn decodes_non_utf8_values_lossily() {
        let mut data =
            b"HTTP/1.1 200 OK\r\nLOCATION: http://h/d\r\nST: x\r\nSERVER: Fran\xe7ais\r\n".to_vec();
        data.extend_from_slice(b"\r\n");
        let response = parse_response(&data).expect("parses");
        assert_eq!(response.server.as_deref(), Some("Fran\u{fffd}ais"));
    }

    #[test]
    fn refuses_a_response_without_location() {
        let text = "HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nUSN: uuid:x\r\n\r\n";
        assert_eq!(
            parse_response(text.as_bytes()),
            Err(ParseError::MissingHeader { name: "LOCATION" })
        );
        let text = "HTTP/1.1 200 OK\r\nLOCATION:   \r\nST: upnp:rootdevice\r\n\r\n";
        assert_eq!(
            parse_response(text.as_bytes()),
            Err(ParseError::MissingHeader { name: "LOCATION" })
        );
        let text = "HTTP/1.1 200 OK\r\nLOCATION: http://h/d\r\n\r\n";
        assert_eq!(
            parse_response(text.as_bytes()),
            Err(ParseError::MissingHeader { name: "ST" })
        );
    }

    #[test]
    fn refuses_a_datagram_over_8_kib() {
        let mut data = MINIUPNPD.to_vec();
        data.resize(9 * 1024, b' ');
        assert_eq!(
            parse_response(&data),
            Err(ParseError::TooLarge {
                len: 9 * 1024,
                max: MAX_MESSAGE_SIZE
            })
        );
        assert!(matches!(
            parse_notify(&data),
            Err(ParseError::TooLarge { .. })
        ));
        let mut data = MINIUPNPD.to_vec();
        data.resize(MAX_MESSAGE_SIZE, b' ');
        assert!(parse_response(&data).is_ok());
    }

    #[test]
    fn refuses_binary_junk_and_empty_datagrams() {
        let junk: Vec<u8> = (0..=255u8).cycle().take(600).collect();
        assert!(matches!(
            parse_response(&junk),
            Err(ParseError::UnexpectedStartLine { .. })
        ));
        assert!(matches!(
            parse_notify(&junk),
            Err(ParseError::UnexpectedStartLine { .. })
        ));
        assert_eq!(parse_response(b""), Err(ParseError::Empty));
        assert_eq!(parse_response(b"\r\n \n\t\r\n"), Err(ParseError::Empty));
        assert_eq!(parse_notify(b"\n"), Err(ParseError::Empty));
        assert!(matches!(
            parse_response(b"HTTP/1.1"),
            Err(ParseError::UnexpectedStartLine { .. })
        ));
        assert!(matches!(
            parse_response(b"\xff\xfe\x00\x01 200 OK\r\n"),
            Err(ParseError::UnexpectedStartLine { .. })
        ));
    }

    #[test]
    fn error_quotes_at_most_64_characters() {
        let line = "x".repeat(1000);
        let Err(ParseError::UnexpectedStartLine { found, expected }) =
            parse_response(line.as_bytes())
        else {
            panic!("not refused as a start line");
        };
        assert_eq!(found.len(), 64);
        assert_eq!(expected, "an http response");
    }

    #[test]
    fn refuses_a_non_200_status_and_requests() {
        assert_eq!(
            parse_response(b"HTTP/1.1 404 Not Found\r\nLOCATION: http://h/d\r\nST: x\r\n\r\n"),
            Err(ParseError::Status { code: 404 })
        );
        let m_search = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ssdp:all\r\n\r\n";
        assert!(matches!(
            parse_response(m_search),
            Err(ParseError::UnexpectedStartLine { .. })
        ));
        assert!(matches!(
            parse_notify(m_search),
            Err(ParseError::UnexpectedStartLine {
                expected: "a notify request",
                ..
            })
        ));
        assert!(matches!(
            parse_notify(MINIUPNPD),
            Err(ParseError::UnexpectedStartLine { .. })
        ));
    }

    #[test]
    fn refuses_too_many_headers() {
        let mut text = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..=MAX_HEADERS {
            text.push_str(&format!("X-{i}: {i}\r\n"));
        }
        assert_eq!(
            parse_response(text.as_bytes()),
            Err(ParseError::TooManyHeaders { max: MAX_HEADERS })
        );
    }

    #[test]
    fn parses_miniupnpd_alive() {
        let notify = parse_notify(ALIVE).expect("parses");
        assert_eq!(notify.nts, NotificationSubType::Alive);
        assert_eq!(
            notify.nt,
            "urn:schemas-upnp-org:device:InternetGatewayDevice:2"
        );
        assert_eq!(
            notify.usn,
            "uuid:6e61746c-6162-4000-8000-da3af46412d2::urn:schemas-upnp-org:device:InternetGatewayDevice:2"
        );
        assert_eq!(
            notify.location.as_deref(),
            Some("http://192.168.77.1:5000/rootDesc.xml")
        );
        assert_eq!(notify.max_age, Some(Duration::from_secs(60)));
        assert!(notify.server.is_some());
        assert_eq!(notify.headers.get("host"), Some("239.255.255.250:1900"));
    }

    #[test]
    fn parses_miniupnpd_byebye() {
        let notify = parse_notify(BYEBYE).expect("parses");
        assert_eq!(notify.nts, NotificationSubType::ByeBye);
        assert_eq!(notify.nt, "upnp:rootdevice");
        assert_eq!(notify.location, None);
        assert_eq!(notify.max_age, None);
    }

    #[test]
    fn parses_lowercase_update_and_refuses_unknown_or_missing_nts() {
        let text = "notify * http/1.1\nnt: upnp:rootdevice\nnts: SSDP:Update\nusn: uuid:x\nlocation: http://h/d\n";
        assert_eq!(
            parse_notify(text.as_bytes()).expect("parses").nts,
            NotificationSubType::Update
        );
        let text = "NOTIFY * HTTP/1.1\r\nNT: a\r\nNTS: ssdp:propchange\r\nUSN: b\r\n\r\n";
        assert_eq!(
            parse_notify(text.as_bytes()),
            Err(ParseError::UnknownNotificationSubType {
                nts: "ssdp:propchange".into()
            })
        );
        let text = "NOTIFY * HTTP/1.1\r\nNT: a\r\nUSN: b\r\n\r\n";
        assert_eq!(
            parse_notify(text.as_bytes()),
            Err(ParseError::MissingHeader { name: "NTS" })
        );
        let text = "NOTIFY * HTTP/1.1\r\nNT: a\r\nNTS: ssdp:alive\r\n\r\n";
        assert_eq!(
            parse_notify(text.as_bytes()),
            Err(ParseError::MissingHeader { name: "USN" })
        );
    }

    #[test]
    fn max_age_forms() {
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(parse_max_age("max-age=120"), secs(120));
        assert_eq!(parse_max_age("MAX-AGE = 5"), secs(5));
        assert_eq!(parse_max_age("no-cache, max-age=\"7\""), secs(7));
        assert_eq!(parse_max_age("no-cache"), None);
        assert_eq!(parse_max_age("max-age=-1"), None);
        assert_eq!(parse_max_age("max-age=99999999999"), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(proptest::num::u8::ANY, 0..9000)) {
            let _ = parse_response(&data);
            let _ = parse_notify(&data);
        }

        #[test]
        fn finds_headers_whatever_their_case_and_spacing(
            name_upper in proptest::bool::ANY,
            before in "[ \t]{0,3}",
            after in "[ \t]{0,3}",
            crlf in proptest::bool::ANY,
            location in "http://[a-z0-9.]{1,20}(:[0-9]{1,5})?/[a-zA-Z0-9/._-]{0,30}",
        ) {
            let name = if name_upper { "LOCATION" } else { "location" };
            let eol = if crlf { "\r\n" } else { "\n" };
            let text = format!("HTTP/1.1 200 OK{eol}{name}{before}:{after}{location}{after}{eol}ST: x{eol}");
            let response = parse_response(text.as_bytes()).expect("parses");
            proptest::prop_assert_eq!(response.location, location);
        }
    }

    #[test]
    fn never_panics_on_truncations_of_real_messages() {
        for message in [MINIUPNPD, ALIVE, BYEBYE] {
            for end in 0..message.len() {
                let _ = parse_response(&message[..end]);
                let _ = parse_notify(&message[..end]);
            }
        }
    }
}
