//! The router-URL policy on top of [`url::Url`]: which URLs a router may hand out
//! (LOCATION, URLBase, SCPDURL, controlURL, eventSubURL), how they resolve against a base,
//! and which of them this crate talks to.
//!
//! Router URLs are ASCII `http://host[:port]/path[?query]`. [`Url::parse`] accepts what the
//! WHATWG URL standard lets a browser accept, which is far more: user names
//! (`http://192.168.1.1@evil.example/`), percent-encoded and numeric hosts (`0x7f000001`),
//! backslashes for slashes, Unicode host names. So [`parse_url`] and [`join_url`] first check
//! the text against the narrow shape and refuse the rest with a [`UrlError`] (non-ASCII text,
//! control characters and spaces, backslashes, user info, IPv6 zone identifiers, ports over
//! 65535, IPv4 addresses not written as four decimal numbers), then let `url` parse or
//! resolve, drop the fragment (it is never sent) and bound the length. [`check_router_url`]
//! is the rule for talking to a device: `http` only, and the host an IP literal equal to the
//! address that answered the search; the HTTP client applies it to every request and never
//! follows a redirect. [`router_url`] is both at once.
//!
//! `url::Url` has no "host as an IP" or "request target" accessor; [`host_ip`] and
//! [`request_target`] are those.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Position, Url};

/// The longest URL accepted, in bytes. Router URLs are a few dozen bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Why a text is not a URL this crate accepts, or a URL is not one it talks to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The text is empty (or only blanks).
    #[error("url is empty")]
    Empty,
    /// The text (or a resolved URL) is longer than [`MAX_URL_LEN`] bytes.
    #[error("url of {len} bytes is longer than the {max} bytes allowed")]
    TooLong {
        /// The length in bytes.
        len: usize,
        /// The longest length accepted.
        max: usize,
    },
    /// A character outside printable ASCII, a space, a backslash or a character URLs do not
    /// allow at this place.
    #[error("url has the character {character:?} at byte {offset}, which is not allowed there")]
    InvalidCharacter {
        /// The character refused.
        character: char,
        /// Its byte offset in the text.
        offset: usize,
    },
    /// A relative reference was given where an absolute URL is needed.
    #[error("url has no scheme (it is relative and there is no base to resolve it against)")]
    NoScheme,
    /// The scheme is not followed by `//` and an authority.
    #[error("url has no //host after its scheme")]
    NoAuthority,
    /// The authority holds a user name or password (`user@host`).
    #[error("url names a user or password before its host")]
    UserInfo,
    /// The host is empty, or neither an IP literal nor a host name, or an IPv4 address in
    /// another form than four decimal numbers.
    #[error("url has an invalid host {host:?}")]
    InvalidHost {
        /// The host as written.
        host: String,
    },
    /// The port is not a number from 0 to 65535.
    #[error("url has an invalid port {port:?}")]
    InvalidPort {
        /// The port as written.
        port: String,
    },
    /// The text passed this crate's checks but the `url` parser refused it.
    #[error("url cannot be parsed: {reason}")]
    Malformed {
        /// What the `url` parser said.
        reason: url::ParseError,
    },
    /// The URL is not `http://` (UPnP 1.x devices speak plain HTTP).
    #[error("url scheme {scheme:?} is not http")]
    NotHttp {
        /// The scheme.
        scheme: String,
    },
    /// The host is a name, or an address other than the one that answered the search.
    #[error("url host {host:?} is not {responder}, the address that answered the search")]
    OffHost {
        /// The host as the URL serialises it.
        host: String,
        /// The address that answered the search.
        responder: IpAddr,
    },
}

/// Parses an absolute URL under the router-URL policy (see the module documentation).
///
/// Leading and trailing ASCII blanks are ignored (routers put newlines around URLBase).
///
/// # Errors
/// A [`UrlError`] naming what is wrong.
pub fn parse_url(input: &str) -> Result<Url, UrlError> {
    let text = check_text(input)?;
    let scheme_len = scheme_len(text).ok_or(UrlError::NoScheme)?;
    let rest = text[scheme_len + 1..]
        .strip_prefix("//")
        .ok_or(UrlError::NoAuthority)?;
    check_authority(rest)?;
    finish(Url::parse(text))
}

/// Resolves `reference` against `base`, as a browser resolves a link (RFC 3986 §5.2), under
/// the router-URL policy: an absolute URL stands alone (and is checked as [`parse_url`]
/// checks it), `//host/x` keeps the scheme, `/x` keeps scheme and authority, `x` replaces
/// the last path segment, `?q` keeps the path, and `.`/`..` segments are removed.
///
/// # Errors
/// A [`UrlError`] when `reference` (or the result) is not acceptable.
pub fn join_url(base: &Url, reference: &str) -> Result<Url, UrlError> {
    let reference = check_text(reference)?;
    if scheme_len(reference).is_some() {
        return parse_url(reference);
    }
    if let Some(rest) = reference.strip_prefix("//") {
        check_authority(rest)?;
    }
    finish(base.join(reference))
}

/// Checks that the crate may talk to `url`, a URL a device handed out after the search
/// answered from `responder`, and returns the socket address to connect to.
///
/// # Errors
/// [`UrlError::NotHttp`] for any scheme but `http`; [`UrlError::OffHost`] when the host is
/// a name or an address other than `responder`.
pub fn check_router_url(url: &Url, responder: IpAddr) -> Result<SocketAddr, UrlError> {
    if url.scheme() != "http" {
        return Err(UrlError::NotHttp {
            scheme: url.scheme().to_owned(),
        });
    }
    match host_ip(url) {
        Some(ip) if ip.to_canonical() == responder.to_canonical() => Ok(SocketAddr::new(
            ip,
            url.port_or_known_default().unwrap_or(80),
        )),
        _ => Err(UrlError::OffHost {
            host: url.host_str().unwrap_or_default().to_owned(),
            responder,
        }),
    }
}

/// A URL from a device that answered the search from `responder`: `text` parsed (or, with a
/// `base`, resolved against it) as [`parse_url`] and [`join_url`] do, then held to
/// [`check_router_url`].
///
/// # Errors
/// The [`UrlError`] of whichever check refused it.
pub fn router_url(text: &str, base: Option<&Url>, responder: IpAddr) -> Result<Url, UrlError> {
    let url = match base {
        Some(base) => join_url(base, text)?,
        None => parse_url(text)?,
    };
    check_router_url(&url, responder)?;
    Ok(url)
}

/// The host when it is an IP literal; `None` for a host name or no host.
pub fn host_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(v4) => Some(v4.into()),
        Host::Ipv6(v6) => Some(v6.into()),
        // Schemes `url` does not know keep their host as text, IPv4 literals included.
        Host::Domain(name) => name.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

/// The path and query, without the fragment: what an HTTP request line names.
pub fn request_target(url: &Url) -> &str {
    &url[Position::BeforePath..Position::AfterQuery]
}

/// What every accepted URL goes through after `url` has parsed or resolved it.
fn finish(parsed: Result<Url, url::ParseError>) -> Result<Url, UrlError> {
    let mut url = parsed.map_err(|reason| UrlError::Malformed { reason })?;
    url.set_fragment(None);
    // `url` leaves the path of a scheme it does not know empty; a request needs `/`.
    if url.path().is_empty() {
        url.set_path("/");
    }
    // The text checks refuse `@` in an authority; this also covers a base built elsewhere
    // with user info, which a relative reference would inherit.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::UserInfo);
    }
    if !url.has_host() {
        return Err(UrlError::NoAuthority);
    }
    // A reference within the bound may resolve (or percent-encode) past it.
    let len = url.as_str().len();
    if len > MAX_URL_LEN {
        return Err(UrlError::TooLong {
            len,
            max: MAX_URL_LEN,
        });
    }
    Ok(url)
}

/// Trims blanks and refuses what no router URL contains.
fn check_text(input: &str) -> Result<&str, UrlError> {
    let trimmed = input.trim_matches(|c: char| c.is_ascii_whitespace());
    if trimmed.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong {
            len: trimmed.len(),
            max: MAX_URL_LEN,
        });
    }
    if trimmed.is_empty() {
        return Err(UrlError::Empty);
    }
    let lead = input.len()
        - input
            .trim_start_matches(|c: char| c.is_ascii_whitespace())
            .len();
    for (offset, character) in trimmed.char_indices() {
        let allowed = character.is_ascii_graphic()
            && !matches!(
                character,
                '\\' | '"' | '<' | '>' | '^' | '`' | '{' | '|' | '}'
            );
        if !allowed {
            return Err(UrlError::InvalidCharacter {
                character,
                offset: lead + offset,
            });
        }
    }
    Ok(trimmed)
}

/// The length of the scheme when `input` starts with `scheme:`.
fn scheme_len(input: &str) -> Option<usize> {
    let colon = input.find(':')?;
    let scheme = &input[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(colon)
}

/// Checks the authority at the start of `rest` (what follows `//`): no user info, a host
/// that is a bracketed IPv6 literal without zone, a dotted-quad IPv4 literal or a plain
/// ASCII host name, and a decimal port that fits in 16 bits.
fn check_authority(rest: &str) -> Result<(), UrlError> {
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }
    let invalid_host = || UrlError::InvalidHost {
        host: authority.to_owned(),
    };
    let port = if let Some(bracketed) = authority.strip_prefix('[') {
        let (v6, after) = bracketed.split_once(']').ok_or_else(invalid_host)?;
        v6.parse::<Ipv6Addr>().map_err(|_| invalid_host())?;
        match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(invalid_host)?),
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let valid_name = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        // `url` reads a host whose last label is a number as an IPv4 address in any of the
        // legacy forms (`127.1`, `0x7f000001`, octal): only the dotted quad is an address.
        if !valid_name || (host.parse::<Ipv4Addr>().is_err() && ends_in_a_number(host)) {
            return Err(invalid_host());
        }
        port
    };
    match port {
        // `http://host:/` is the default port, as in RFC 3986 §3.2.3.
        None | Some("") => Ok(()),
        Some(digits) => {
            if digits.bytes().all(|b| b.is_ascii_digit()) && digits.parse::<u16>().is_ok() {
                Ok(())
            } else {
                Err(UrlError::InvalidPort {
                    port: digits.to_owned(),
                })
            }
        }
    }
}

/// Whether the last label of `host` (a trailing dot aside) is a decimal or `0x` number.
fn ends_in_a_number(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let last = host.rsplit('.').next().unwrap_or(host);
    let hex = last.strip_prefix("0x").or_else(|| last.strip_prefix("0X"));
    match hex {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        parse_url(text).unwrap()
    }

    #[test]
    fn empty_segments_survive_a_round_trip() {
        // Found by the upnp_url fuzz target: `..//` left `//`, which parsed back as `/`.
        let base = url("http://192.168.1.1:5000/upnp/rootDesc.xml?x=1");
        let joined = join_url(&base, "..//").unwrap();
        assert_eq!(joined.as_str(), "http://192.168.1.1:5000//");
        assert_eq!(url(joined.as_str()), joined);
        assert_eq!(
            url("http://192.168.1.1//x").as_str(),
            "http://192.168.1.1//x"
        );
        // A reference within the bound may resolve past it: refused, not produced.
        let long = format!("x/{}", "y".repeat(MAX_URL_LEN - 10));
        assert!(matches!(
            join_url(&base, &long),
            Err(UrlError::TooLong { .. })
        ));
    }

    #[test]
    fn router_urls_parse_into_their_parts() {
        let location = url("http://192.168.77.1:5000/rootDesc.xml");
        assert_eq!(location.as_str(), "http://192.168.77.1:5000/rootDesc.xml");
        assert_eq!(location.scheme(), "http");
        assert_eq!(location.host_str(), Some("192.168.77.1"));
        assert_eq!(host_ip(&location), Some(IpAddr::from([192, 168, 77, 1])));
        assert_eq!(location.port(), Some(5000));
        assert_eq!(location.port_or_known_default(), Some(5000));
        assert_eq!(location.path(), "/rootDesc.xml");
        assert_eq!(location.query(), None);
        assert_eq!(request_target(&location), "/rootDesc.xml");

        let with_query = url("http://10.0.0.1:49000/upnp/control?service=WANIPConn1#frag");
        assert_eq!(with_query.path(), "/upnp/control");
        assert_eq!(with_query.query(), Some("service=WANIPConn1"));
        assert_eq!(
            request_target(&with_query),
            "/upnp/control?service=WANIPConn1"
        );
        assert_eq!(
            with_query.as_str(),
            "http://10.0.0.1:49000/upnp/control?service=WANIPConn1"
        );
    }

    #[test]
    fn normal_form_drops_default_port_and_fills_the_path() {
        let plain = url("HTTP://192.168.1.1:80");
        assert_eq!(plain.as_str(), "http://192.168.1.1/");
        assert_eq!(plain.port(), None);
        assert_eq!(plain.port_or_known_default(), Some(80));
        assert_eq!(
            url("http://192.168.1.1:/x").as_str(),
            "http://192.168.1.1/x"
        );
        assert_eq!(url("https://Router.LAN/").as_str(), "https://router.lan/");
        assert_eq!(
            url("https://router.lan/").port_or_known_default(),
            Some(443)
        );
        // `url` knows the default ports of the special schemes only.
        assert_eq!(url("ftp://router.lan/").port_or_known_default(), Some(21));
        assert_eq!(url("svc://router.lan/").port_or_known_default(), None);
        assert_eq!(
            url("  http://192.168.1.1/x\n").as_str(),
            "http://192.168.1.1/x"
        );
        assert_eq!(url("http://192.168.1.1/a/./b/../c").path(), "/a/c");
        assert_eq!(url("http://192.168.1.1/x"), url("http://192.168.1.1:80/x"));
    }

    #[test]
    fn ipv6_literals_are_bracketed_and_canonical() {
        let v6 = url("http://[FE80:0:0::1]:5000/desc.xml");
        assert_eq!(v6.host_str(), Some("[fe80::1]"));
        assert_eq!(host_ip(&v6), Some("fe80::1".parse().unwrap()));
        assert_eq!(v6.as_str(), "http://[fe80::1]:5000/desc.xml");
        assert_eq!(host_ip(&url("http://router.lan/")), None);
    }

    #[test]
    fn anything_but_an_ascii_router_url_is_refused() {
        let cases: &[(&str, UrlError)] = &[
            ("", UrlError::Empty),
            ("   ", UrlError::Empty),
            ("/rootDesc.xml", UrlError::NoScheme),
            ("192.168.1.1:5000/x", UrlError::NoScheme),
            ("mailto:root@router", UrlError::NoAuthority),
            ("http://192.168.1.1@evil.example/", UrlError::UserInfo),
            ("http://user:pw@192.168.1.1/", UrlError::UserInfo),
            (
                "http:///x",
                UrlError::InvalidHost {
                    host: String::new(),
                },
            ),
            (
                "http://[fe80::1%eth0]/",
                UrlError::InvalidHost {
                    host: "[fe80::1%eth0]".to_owned(),
                },
            ),
            (
                "http://[fe80::1/",
                UrlError::InvalidHost {
                    host: "[fe80::1".to_owned(),
                },
            ),
            (
                "http://192.168.1.1:65536/",
                UrlError::InvalidPort {
                    port: "65536".to_owned(),
                },
            ),
            (
                "http://192.168.1.1:+80/",
                UrlError::InvalidPort {
                    port: "+80".to_owned(),
                },
            ),
            (
                "http://bücher.example/",
                UrlError::InvalidCharacter {
                    character: 'ü',
                    offset: 8,
                },
            ),
            (
                "http://192.168.1.1/a b",
                UrlError::InvalidCharacter {
                    character: ' ',
                    offset: 20,
                },
            ),
            (
                "http://192.168.1.1\\@evil/",
                UrlError::InvalidCharacter {
                    character: '\\',
                    offset: 18,
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_url(text).as_ref(), Err(expected), "{text:?}");
        }
        let long = format!("http://192.168.1.1/{}", "a".repeat(MAX_URL_LEN));
        assert!(matches!(
            parse_url(&long),
            Err(UrlError::TooLong {
                max: MAX_URL_LEN,
                ..
            })
        ));
    }

    #[test]
    fn error_messages_are_lowercase_and_name_the_problem() {
        let message = parse_url("http://192.168.1.1:99999/")
            .unwrap_err()
            .to_string();
        assert_eq!(message, "url has an invalid port \"99999\"");
        let message = parse_url("/x").unwrap_err().to_string();
        assert!(message.starts_with("url has no scheme"), "{message}");
    }

    #[test]
    fn references_resolve_as_rfc_3986_says() {
        let base = url("http://192.168.1.1:5000/upnp/rootDesc.xml?x=1");
        let cases = [
            ("ctl/IPConn", "http://192.168.1.1:5000/upnp/ctl/IPConn"),
            ("/ctl/IPConn", "http://192.168.1.1:5000/ctl/IPConn"),
            ("./WANIPCn.xml", "http://192.168.1.1:5000/upnp/WANIPCn.xml"),
            ("../WANIPCn.xml", "http://192.168.1.1:5000/WANIPCn.xml"),
            ("../../../x", "http://192.168.1.1:5000/x"),
            ("..", "http://192.168.1.1:5000/"),
            ("sub/", "http://192.168.1.1:5000/upnp/sub/"),
            ("?y=2", "http://192.168.1.1:5000/upnp/rootDesc.xml?y=2"),
            ("#frag", "http://192.168.1.1:5000/upnp/rootDesc.xml?x=1"),
            ("ctl?a=b#c", "http://192.168.1.1:5000/upnp/ctl?a=b"),
            ("//10.0.0.1:81/d.xml", "http://10.0.0.1:81/d.xml"),
            ("http://10.0.0.1/d.xml", "http://10.0.0.1/d.xml"),
            ("https://10.0.0.1/d.xml", "https://10.0.0.1/d.xml"),
            ("  /spaced \n", "http://192.168.1.1:5000/spaced"),
        ];
        for (reference, expected) in cases {
            assert_eq!(
                join_url(&base, reference).unwrap().as_str(),
                expected,
                "{reference:?}"
            );
        }
        let root = url("http://192.168.1.1:5000");
        assert_eq!(
            join_url(&root, "x.xml").unwrap().as_str(),
            "http://192.168.1.1:5000/x.xml"
        );
    }

    #[test]
    fn joined_references_are_checked_like_parsed_urls() {
        let base = url("http://192.168.1.1:5000/rootDesc.xml");
        assert_eq!(
            join_url(&base, "//evil@192.168.1.1/"),
            Err(UrlError::UserInfo)
        );
        assert!(matches!(
            join_url(&base, "/ctl\u{0}"),
            Err(UrlError::InvalidCharacter {
                character: '\u{0}',
                ..
            })
        ));
        assert!(matches!(
            join_url(&base, "ctl/é"),
            Err(UrlError::InvalidCharacter {
                character: 'é', ..
            })
        ));
        // A host name survives joining (the HTTP client refuses it by name, not here).
        let named = join_url(&base, "http://router.lan:5000/x").unwrap();
        assert_eq!(host_ip(&named), None);
        assert_eq!(named.host_str(), Some("router.lan"));
    }

    #[test]
    fn parse_and_display_round_trip() {
        for text in [
            "http://192.168.1.1/",
            "http://[::1]:8080/a/b?c=d",
            "http://router.lan:5000/x.xml",
        ] {
            let parsed = url(text);
            assert_eq!(parsed.to_string(), text);
            assert_eq!(url(parsed.as_str()), parsed);
            assert_eq!(Url::parse(text).unwrap(), parsed);
        }
    }

    #[test]
    fn what_url_would_accept_but_a_router_url_never_holds_is_refused() {
        let invalid_host = |host: &str| UrlError::InvalidHost {
            host: host.to_owned(),
        };
        let cases: &[(&str, UrlError)] = &[
            // Legacy IPv4 forms, which `url` turns into addresses.
            ("http://0x7f000001/", invalid_host("0x7f000001")),
            ("http://127.1/", invalid_host("127.1")),
            ("http://0300.0250.0.1:80/", invalid_host("0300.0250.0.1:80")),
            ("http://192.168.1.1./", invalid_host("192.168.1.1.")),
            ("http://router.0x/", invalid_host("router.0x")),
            // Percent-encoding in a host, which `url` decodes.
            ("http://192.168.1.%31/", invalid_host("192.168.1.%31")),
            // An empty user name, which `url` drops without a trace.
            ("http://@192.168.1.1/", UrlError::UserInfo),
            ("http://:@192.168.1.1/", UrlError::UserInfo),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_url(text).as_ref(), Err(expected), "{text:?}");
        }
        let base = url("http://192.168.1.1:5000/rootDesc.xml");
        assert_eq!(join_url(&base, "//127.1/x"), Err(invalid_host("127.1")));
        assert_eq!(join_url(&base, "//@192.168.1.1/"), Err(UrlError::UserInfo));
        // A base made by the lax parser passes its user info on: refused all the same.
        let lax = Url::parse("http://user@192.168.1.1/d.xml").unwrap();
        assert_eq!(join_url(&lax, "ctl"), Err(UrlError::UserInfo));
        // Host names ending in a letter are names, as before.
        assert_eq!(url("http://router-1.lan/").host_str(), Some("router-1.lan"));
    }

    #[test]
    fn only_http_on_the_responder_is_a_router_url() {
        let responder = IpAddr::from([192, 168, 77, 1]);
        let base = url("http://192.168.77.1:5000/rootDesc.xml");
        assert_eq!(
            check_router_url(&base, responder),
            Ok("192.168.77.1:5000".parse().unwrap())
        );
        assert_eq!(
            check_router_url(&url("http://192.168.77.1/x"), responder),
            Ok("192.168.77.1:80".parse().unwrap())
        );
        // An IPv4-mapped responder is the same host.
        let mapped: IpAddr = "::ffff:192.168.77.1".parse().unwrap();
        assert!(check_router_url(&base, mapped).is_ok());
        assert_eq!(
            router_url("ctl/IPConn", Some(&base), responder)
                .unwrap()
                .as_str(),
            "http://192.168.77.1:5000/ctl/IPConn"
        );
        assert_eq!(
            router_url("http://192.168.77.1:5000/d.xml", None, responder)
                .unwrap()
                .as_str(),
            "http://192.168.77.1:5000/d.xml"
        );
        let refused: &[(&str, UrlError)] = &[
            (
                "https://192.168.77.1/x",
                UrlError::NotHttp {
                    scheme: "https".to_owned(),
                },
            ),
            (
                "ftp://192.168.77.1/x",
                UrlError::NotHttp {
                    scheme: "ftp".to_owned(),
                },
            ),
            (
                "http://192.168.77.2:5000/x",
                UrlError::OffHost {
                    host: "192.168.77.2".to_owned(),
                    responder,
                },
            ),
            (
                "http://router.local:5000/x",
                UrlError::OffHost {
                    host: "router.local".to_owned(),
                    responder,
                },
            ),
            (
                "//[::1]:5000/x",
                UrlError::OffHost {
                    host: "[::1]".to_owned(),
                    responder,
                },
            ),
            ("//evil@192.168.77.1/x", UrlError::UserInfo),
        ];
        for (text, expected) in refused {
            assert_eq!(
                router_url(text, Some(&base), responder).as_ref(),
                Err(expected),
                "{text:?}"
            );
        }
        let message = router_url("http://10.0.0.1/x", None, responder)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "url host \"10.0.0.1\" is not 192.168.77.1, the address that answered the search"
        );
    }

    #[test]
    fn the_request_target_never_holds_the_fragment() {
        let mut lax = Url::parse("http://192.168.1.1/a?b=c#d").unwrap();
        assert_eq!(request_target(&lax), "/a?b=c");
        lax.set_query(None);
        assert_eq!(request_target(&lax), "/a");
    }
}
