//! Property tests of the pure parsers: arbitrary and mutated router documents and URLs never
//! panic, a URL's normal form parses back to itself, and values written into a SOAP
//! envelope come back unchanged.
#![allow(clippy::unwrap_used)]

use proptest::collection::vec;
use proptest::prelude::*;
use upnp_soap::soap::{self, Reply};
use upnp_soap::{Description, Scpd, Url, join_url, parse_url};

const ROOT_DESC: &[u8] = include_bytes!("../testdata/miniupnpd/rootDesc.xml");
const WANIPCN: &[u8] = include_bytes!("../testdata/miniupnpd/WANIPCn.xml");

fn location() -> Url {
    parse_url("http://192.168.77.1:5000/rootDesc.xml").unwrap()
}

/// `document` with up to a few bytes replaced, then cut at `cut`.
fn mutate(document: &[u8], edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let mut bytes = document.to_vec();
    for (index, byte) in edits {
        let index = index % bytes.len();
        bytes[index] = *byte;
    }
    bytes.truncate(cut % (bytes.len() + 1));
    bytes
}

proptest! {
    #[test]
    fn urls_never_panic_and_their_normal_form_is_stable(
        text in prop_oneof![
            any::<String>(),
            "[a-zA-Z]{1,5}://[0-9a-zA-Z.:\\[\\]@%_-]{0,30}[/?#]?[ -~]{0,40}",
            "[./a-z?#:@%\\\\]{0,30}",
            "(HTTP|http)://(192\\.168\\.1\\.[0-9]{1,2}|\\[fe80::[0-9a-f]{1,4}\\]|[a-z]{1,5}\\.lan)(:[0-9]{0,5})?(/[a-zA-Z0-9._~%-]{0,6}){0,4}(\\?[!-~]{0,10})?",
        ],
    ) {
        if let Ok(url) = parse_url(&text) {
            let again = parse_url(url.as_str()).unwrap();
            prop_assert_eq!(&again, &url);
            prop_assert!(url.path().starts_with('/'));
            prop_assert!(url.as_str().is_ascii());
        }
        let base = parse_url("http://192.168.1.1:5000/upnp/rootDesc.xml?x=1").unwrap();
        if let Ok(joined) = join_url(&base, &text) {
            let again = parse_url(joined.as_str()).unwrap();
            prop_assert_eq!(&again, &joined);
            prop_assert!(!joined.path().split('/').any(|s| s == ".." || s == "."));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..1024)) {
        let _ = Description::parse(&bytes, &location());
        let _ = Scpd::parse(&bytes);
        let _ = soap::parse_response(&bytes, "GetExternalIPAddress");
        let _ = upnp_soap::igd::parse_port_listing(&bytes);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        edits in vec((any::<usize>(), prop_oneof![Just(b'<'), Just(b'>'), Just(b'/'), Just(b'"'), Just(b'&'), Just(b'!'), any::<u8>()]), 0..6),
        cut in any::<usize>(),
    ) {
        let description = mutate(ROOT_DESC, &edits, cut);
        if let Ok(parsed) = Description::parse(&description, &location()) {
            prop_assert!(parsed.devices().count() >= 1);
        }
        let scpd = mutate(WANIPCN, &edits, cut);
        if let Ok(parsed) = Scpd::parse(&scpd) {
            for action in &parsed.actions {
                let arguments: Vec<(&str, &str)> =
                    action.inputs().map(|a| (a.name.as_str(), "1")).collect();
                let _ = parsed.check_arguments("urn:x", &action.name, &arguments);
            }
        }
    }

    #[test]
    fn values_survive_the_envelope(
        values in vec("[^\r\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]{0,40}", 1..5),
    ) {
        // Whitespace-only text is not character data to an XML parser.
        prop_assume!(values.iter().all(|v| v.is_empty() || !v.trim().is_empty()));
        let names: Vec<String> = (0..values.len()).map(|i| format!("NewValue{i}")).collect();
        let arguments: Vec<(&str, &str)> =
            names.iter().map(String::as_str).zip(values.iter().map(String::as_str)).collect();
        // An envelope "calling" GetXResponse reads back as the response to GetX.
        let body = soap::request_body("urn:x:service:y:1", "GetXResponse", &arguments).unwrap();
        let Reply::Success(reply) = soap::parse_response(body.as_bytes(), "GetX").unwrap() else {
            panic!("not a success");
        };
        for (name, value) in &arguments {
            prop_assert_eq!(reply.get(name), Some(*value));
        }
    }
}
