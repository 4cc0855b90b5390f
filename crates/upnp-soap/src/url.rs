//! [`Url`]: the small, strict URL type for the URLs a router hands out (LOCATION, URLBase,
//! SCPDURL, controlURL, eventSubURL) and their resolution against a base (RFC 3986 §5).
//!
//! Router URLs are ASCII `http://host[:port]/path[?query]`. A general URL library brings
//! internationalised domain names (IDNA, with Unicode tables) that such URLs never need, so
//! this parser accepts only that shape and refuses everything else with a [`UrlError`]:
//! non-ASCII text, control characters and spaces, backslashes, user names and passwords in
//! the authority (`http://192.168.1.1@evil.example/`), IPv6 zone identifiers, ports over
//! 65535. Host names are kept (lowercased) so the HTTP client can refuse them by name; IP
//! literals are parsed with the standard library. Fragments are dropped: they are never sent.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The longest URL accepted, in bytes. Router URLs are a few dozen bytes.
pub const MAX_URL_LEN: usize = 2048;

/// An absolute `scheme://host[:port]/path[?query]` URL.
///
/// Parsed by [`Url::parse`] or resolved against a base by [`Url::join`]. The scheme and a
/// host name are lowercased, a default port (80 for `http`, 443 for `https`) is removed, an
/// empty path becomes `/`, `.` and `..` segments are removed and the fragment is dropped, so
/// two URLs that name the same resource compare equal. [`Url::as_str`] is that normal form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Url {
    serialization: String,
    scheme_end: usize,
    host: Host,
    host_start: usize,
    host_end: usize,
    port: Option<u16>,
    path_start: usize,
    query_start: Option<usize>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Host {
    Ip(IpAddr),
    Name,
}

/// Why a text is not a URL this crate accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The text is empty (or only blanks).
    #[error("url is empty")]
    Empty,
    /// The text is longer than [`MAX_URL_LEN`] bytes.
    #[error("url of {len} bytes is longer than the {max} bytes allowed")]
    TooLong {
        /// The text's length in bytes.
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
    /// The host is empty, or neither an IP literal nor a host name.
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
}

impl Url {
    /// Parses an absolute URL.
    ///
    /// Leading and trailing ASCII blanks are ignored (routers put newlines around URLBase).
    ///
    /// # Errors
    /// A [`UrlError`] naming what is wrong; see the module documentation for what is refused.
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        let input = check_text(input)?;
        let Some(scheme_len) = scheme_len(input) else {
            return Err(UrlError::NoScheme);
        };
        let scheme = input[..scheme_len].to_ascii_lowercase();
        let rest = input[scheme_len + 1..]
            .strip_prefix("//")
            .ok_or(UrlError::NoAuthority)?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (host, port) = parse_authority(&scheme, &rest[..authority_end])?;
        let (path, query) = split_reference(&rest[authority_end..]);
        let path = if path.is_empty() {
            "/".to_owned()
        } else {
            remove_dot_segments(path)
        };
        Ok(Url::build(&scheme, &host, port, &path, query))
    }

    /// Resolves `reference` against this URL, as a browser resolves a link (RFC 3986 §5.2):
    /// an absolute URL stands alone, `//host/x` keeps the scheme, `/x` keeps scheme and
    /// authority, `x` replaces the last path segment, `?q` keeps the path, and `.`/`..`
    /// segments are removed.
    ///
    /// # Errors
    /// A [`UrlError`] when `reference` (or the result) is not acceptable.
    pub fn join(&self, reference: &str) -> Result<Url, UrlError> {
        let reference = check_text(reference)?;
        if scheme_len(reference).is_some() {
            return Url::parse(reference);
        }
        if reference.starts_with("//") {
            return Url::parse(&format!("{}:{reference}", self.scheme()));
        }
        let (path, query) = split_reference(reference);
        let (path, query) = if path.is_empty() {
            (self.path().to_owned(), query.or(self.query()))
        } else if path.starts_with('/') {
            (remove_dot_segments(path), query)
        } else {
            let base = self.path();
            let directory = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            (remove_dot_segments(&format!("{directory}{path}")), query)
        };
        let joined = Url::build(self.scheme(), self.host_str(), self.port, &path, query);
        // The result obeys the same bound as anything parsed.
        check_text(joined.as_str())?;
        Ok(joined)
    }

    /// The URL in its normal form.
    pub fn as_str(&self) -> &str {
        &self.serialization
    }

    /// The scheme, lowercase: `http`.
    pub fn scheme(&self) -> &str {
        &self.serialization[..self.scheme_end]
    }

    /// The host as written in the URL, lowercase: `192.168.1.1`, `[fe80::1]`, `router.lan`.
    pub fn host_str(&self) -> &str {
        &self.serialization[self.host_start..self.host_end]
    }

    /// The host when it is an IP literal; `None` for a host name.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.host {
            Host::Ip(ip) => Some(ip),
            Host::Name => None,
        }
    }

    /// The port when the URL names one other than its scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port, or the scheme's default (80 for `http`, 443 for `https`); `None` for a
    /// scheme without a known default and no port.
    pub fn port_or_known_default(&self) -> Option<u16> {
        self.port.or_else(|| default_port(self.scheme()))
    }

    /// The path, starting with `/`.
    pub fn path(&self) -> &str {
        let end = self.query_start.unwrap_or(self.serialization.len());
        &self.serialization[self.path_start..end]
    }

    /// The query, without its `?`.
    pub fn query(&self) -> Option<&str> {
        self.query_start
            .map(|start| &self.serialization[start + 1..])
    }

    /// The path and query: what an HTTP request line names.
    pub fn request_target(&self) -> &str {
        &self.serialization[self.path_start..]
    }

    fn build(scheme: &str, host: &str, port: Option<u16>, path: &str, query: Option<&str>) -> Url {
        let mut serialization = String::with_capacity(
            scheme.len() + host.len() + path.len() + query.map_or(0, str::len) + 12,
        );
        serialization.push_str(scheme);
        let scheme_end = serialization.len();
        serialization.push_str("://");
        let host_start = serialization.len();
        serialization.push_str(host);
        let host_end = serialization.len();
        let port = port.filter(|&p| Some(p) != default_port(scheme));
        if let Some(port) = port {
            serialization.push(':');
            serialization.push_str(&port.to_string());
        }
        let path_start = serialization.len();
        serialization.push_str(path);
        let query_start = query.map(|query| {
            let start = serialization.len();
            serialization.push('?');
            serialization.push_str(query);
            start
        });
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6
                .parse::<Ipv6Addr>()
                .map_or(Host::Name, |v6| Host::Ip(v6.into())),
            None => host
                .parse::<Ipv4Addr>()
                .map_or(Host::Name, |v4| Host::Ip(v4.into())),
        };
        Url {
            serialization,
            scheme_end,
            host,
            host_start,
            host_end,
            port,
            path_start,
            query_start,
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.serialization)
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Url({:?})", self.serialization)
    }
}

impl FromStr for Url {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Url, UrlError> {
        Url::parse(s)
    }
}

impl AsRef<str> for Url {
    fn as_ref(&self) -> &str {
        &self.serialization
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
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

/// Splits what follows the authority into path and query, dropping a fragment.
fn split_reference(rest: &str) -> (&str, Option<&str>) {
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    }
}

/// The host (normal form) and explicit port of an authority.
fn parse_authority(scheme: &str, authority: &str) -> Result<(String, Option<u16>), UrlError> {
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }
    let invalid_host = || UrlError::InvalidHost {
        host: authority.to_owned(),
    };
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (v6, after) = bracketed.split_once(']').ok_or_else(invalid_host)?;
        let v6: Ipv6Addr = v6.parse().map_err(|_| invalid_host())?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(invalid_host)?),
        };
        (format!("[{v6}]"), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let valid_name = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !valid_name {
            return Err(invalid_host());
        }
        let host = match host.parse::<Ipv4Addr>() {
            Ok(v4) => v4.to_string(),
            Err(_) => host.to_ascii_lowercase(),
        };
        (host, port)
    };
    let port = match port {
        // `http://host:/` is the default port, as in RFC 3986 §3.2.3.
        None | Some("") => None,
        Some(digits) => {
            let invalid_port = || UrlError::InvalidPort {
                port: digits.to_owned(),
            };
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid_port());
            }
            Some(digits.parse::<u16>().map_err(|_| invalid_port())?)
        }
    };
    let port = port.filter(|&p| Some(p) != default_port(scheme));
    Ok((host, port))
}

/// RFC 3986 §5.2.4 for a path that is absolute or made absolute; the result starts with `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut output: Vec<&str> = Vec::new();
    // One leading slash only: `//x` is a path with an empty first segment, and a normal
    // form must parse back to itself.
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/').peekable();
    while let Some(segment) = segments.next() {
        match segment {
            "." | ".." => {
                if segment == ".." {
                    output.pop();
                }
                // `a/..` and `a/.` at the end name a directory: keep the trailing slash.
                if segments.peek().is_none() {
                    output.push("");
                }
            }
            other => output.push(other),
        }
    }
    let mut result = String::with_capacity(path.len() + 1);
    for segment in &output {
        result.push('/');
        result.push_str(segment);
    }
    if result.is_empty() {
        result.push('/');
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn empty_segments_survive_a_round_trip() {
        // Found by the upnp_url fuzz target: `..//` left `//`, which parsed back as `/`.
        let base = url("http://192.168.1.1:5000/upnp/rootDesc.xml?x=1");
        let joined = base.join("..//").unwrap();
        assert_eq!(joined.as_str(), "http://192.168.1.1:5000//");
        assert_eq!(url(joined.as_str()), joined);
        assert_eq!(
            url("http://192.168.1.1//x").as_str(),
            "http://192.168.1.1//x"
        );
        // A reference within the bound may resolve past it: refused, not produced.
        let long = format!("x/{}", "y".repeat(MAX_URL_LEN - 10));
        assert!(matches!(base.join(&long), Err(UrlError::TooLong { .. })));
    }

    #[test]
    fn router_urls_parse_into_their_parts() {
        let location = url("http://192.168.77.1:5000/rootDesc.xml");
        assert_eq!(location.as_str(), "http://192.168.77.1:5000/rootDesc.xml");
        assert_eq!(location.scheme(), "http");
        assert_eq!(location.host_str(), "192.168.77.1");
        assert_eq!(location.ip(), Some(IpAddr::from([192, 168, 77, 1])));
        assert_eq!(location.port(), Some(5000));
        assert_eq!(location.port_or_known_default(), Some(5000));
        assert_eq!(location.path(), "/rootDesc.xml");
        assert_eq!(location.query(), None);
        assert_eq!(location.request_target(), "/rootDesc.xml");

        let with_query = url("http://10.0.0.1:49000/upnp/control?service=WANIPConn1#frag");
        assert_eq!(with_query.path(), "/upnp/control");
        assert_eq!(with_query.query(), Some("service=WANIPConn1"));
        assert_eq!(
            with_query.request_target(),
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
        assert_eq!(url("ftp://router.lan/").port_or_known_default(), None);
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
        assert_eq!(v6.host_str(), "[fe80::1]");
        assert_eq!(v6.ip(), Some("fe80::1".parse().unwrap()));
        assert_eq!(v6.as_str(), "http://[fe80::1]:5000/desc.xml");
        assert_eq!(url("http://router.lan/").ip(), None);
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
            assert_eq!(Url::parse(text).as_ref(), Err(expected), "{text:?}");
        }
        let long = format!("http://192.168.1.1/{}", "a".repeat(MAX_URL_LEN));
        assert!(matches!(
            Url::parse(&long),
            Err(UrlError::TooLong {
                max: MAX_URL_LEN,
                ..
            })
        ));
    }

    #[test]
    fn error_messages_are_lowercase_and_name_the_problem() {
        let message = Url::parse("http://192.168.1.1:99999/")
            .unwrap_err()
            .to_string();
        assert_eq!(message, "url has an invalid port \"99999\"");
        let message = Url::parse("/x").unwrap_err().to_string();
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
                base.join(reference).unwrap().as_str(),
                expected,
                "{reference:?}"
            );
        }
        let root = url("http://192.168.1.1:5000");
        assert_eq!(
            root.join("x.xml").unwrap().as_str(),
            "http://192.168.1.1:5000/x.xml"
        );
    }

    #[test]
    fn joined_references_are_checked_like_parsed_urls() {
        let base = url("http://192.168.1.1:5000/rootDesc.xml");
        assert_eq!(base.join("//evil@192.168.1.1/"), Err(UrlError::UserInfo));
        assert!(matches!(
            base.join("/ctl\u{0}"),
            Err(UrlError::InvalidCharacter {
                character: '\u{0}',
                ..
            })
        ));
        assert!(matches!(
            base.join("ctl/é"),
            Err(UrlError::InvalidCharacter {
                character: 'é', ..
            })
        ));
        // A host name survives joining (the HTTP client refuses it by name, not here).
        let named = base.join("http://router.lan:5000/x").unwrap();
        assert_eq!(named.ip(), None);
        assert_eq!(named.host_str(), "router.lan");
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
            assert_eq!(text.parse::<Url>().unwrap(), parsed);
        }
    }
}
