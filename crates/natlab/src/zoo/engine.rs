//! The state every fixture's servers share ([`Engine`]: the profile, where it runs, its
//! log and its mapping table) and the text helpers both the HTTP and the SSDP side use.
//! The servers themselves live beside it: `http` (serving), `igd` (SOAP control),
//! `documents` (descriptions and SCPDs), `nft` (rules) and `ssdp`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{Connection, HeaderCase, Placement, Profile, Unusable};

/// Where the hostile gateways' off-host URLs point: a LAN address no lab host uses.
pub(super) const ELSEWHERE: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 250);

/// A transport protocol of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub(super) fn parse(text: &str) -> Option<Proto> {
        match text.trim().to_ascii_uppercase().as_str() {
            "TCP" => Some(Proto::Tcp),
            "UDP" => Some(Proto::Udp),
            _ => None,
        }
    }

    pub(super) fn upper(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        }
    }

    pub(super) fn nft(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One mapping the fixture holds.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) internal_client: Ipv4Addr,
    pub(super) internal_port: u16,
    pub(super) description: String,
    pub(super) lease: u32,
    pub(super) added: Instant,
}

impl Entry {
    pub(super) fn remaining(&self, ignores_lease: bool) -> u32 {
        if ignores_lease || self.lease == 0 {
            return 0;
        }
        let elapsed = u32::try_from(self.added.elapsed().as_secs()).unwrap_or(u32::MAX);
        self.lease.saturating_sub(elapsed).max(1)
    }
}

pub(super) type Table = BTreeMap<(Proto, u16), Entry>;

/// The shared state of one running fixture.
#[derive(Debug)]
pub(super) struct Engine {
    pub(super) profile: Profile,
    pub(super) placement: Placement,
    pub(super) log: Arc<Mutex<Vec<String>>>,
    mappings: Mutex<Table>,
}

impl Engine {
    /// A fresh engine with an empty mapping table.
    pub(super) fn new(
        profile: Profile,
        placement: Placement,
        log: Arc<Mutex<Vec<String>>>,
    ) -> Engine {
        Engine {
            profile,
            placement,
            log,
            mappings: Mutex::new(BTreeMap::new()),
        }
    }

    pub(super) fn note(&self, line: String) {
        tracing::debug!(fixture = self.profile.name, "{line}");
        if let Ok(mut log) = self.log.lock() {
            if log.len() < 2000 {
                log.push(line);
            }
        }
    }

    /// The LOCATION of the description.
    pub(super) fn location(&self) -> String {
        self.location_of(self.profile.http.description_path)
    }

    /// The LOCATION of a description at `path`, as the profile writes it (on another host,
    /// or not `http://`, for the hostile gateways).
    pub(super) fn location_of(&self, path: &str) -> String {
        let (scheme, host) = match self.profile.unusable {
            Some(Unusable::LocationOffGateway) => ("http", ELSEWHERE),
            Some(Unusable::LocationNotHttp) => ("https", self.placement.address),
            _ => ("http", self.placement.address),
        };
        format!("{scheme}://{host}:{}{path}", self.profile.http.port)
    }

    /// Every WAN connection the fixture serves: the main root's, then the second root's.
    pub(super) fn connections(&self) -> impl Iterator<Item = &Connection> {
        self.profile
            .device
            .connections
            .iter()
            .chain(self.profile.second_root.iter().map(|root| &root.connection))
    }

    /// The mapping table, also after a panic while it was held.
    pub(super) fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.mappings.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// XML text with its five predefined entities replaced.
pub(super) fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Text made safe for XML content and attribute values.
pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes a header name (given in title case) in `case`.
pub(super) fn recase(case: HeaderCase, name: &str) -> String {
    match case {
        HeaderCase::Upper => name.to_ascii_uppercase(),
        HeaderCase::Title => name.to_owned(),
        HeaderCase::Mixed => name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
    }
}

/// One HTTP request, as far as a fixture cares.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) method: String,
    pub(super) target: String,
    /// Header names lowercased.
    pub(super) headers: Vec<(String, String)>,
    /// Header names as sent.
    pub(super) raw_names: Vec<String>,
    pub(super) body: String,
}

impl Request {
    /// The value of header `name` (lowercase), if present.
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_follow_the_profile_case() {
        assert_eq!(recase(HeaderCase::Upper, "Location"), "LOCATION");
        assert_eq!(recase(HeaderCase::Title, "Location"), "Location");
        assert_eq!(recase(HeaderCase::Mixed, "Location"), "LoCaTiOn");
        assert_eq!(recase(HeaderCase::Mixed, "Cache-Control"), "CaChE-CoNtRoL");
    }
}
