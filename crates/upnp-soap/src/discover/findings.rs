//! What one discovery saw ([`Findings`]: who answered, which descriptions were tried and
//! why each was refused, what the caps dropped) and the one-line summary of its error.

use std::net::IpAddr;
use std::time::Duration;

use super::DiscoverError;

/// The most (host, LOCATION) pairs of other LAN hosts remembered.
const MAX_OTHER_LOCATIONS: usize = 32;
/// The longest reason quoted per description in the one-line summary.
const MAX_REASON: usize = 120;

/// What one discovery saw, for its error.
#[derive(Debug, Default)]
pub(super) struct Findings {
    pub(super) gateway: Option<IpAddr>,
    pub(super) gateway_answered: bool,
    pub(super) tried: Vec<(String, String)>,
    pub(super) others: Vec<(IpAddr, String)>,
    pub(super) other_answers: usize,
    pub(super) other_locations: Vec<(IpAddr, String)>,
    pub(super) dropped: ssdp::Dropped,
    pub(super) allowed: bool,
}

impl Findings {
    /// Counts an answer from a host that is not the gateway.
    pub(super) fn note_other(&mut self, responder: IpAddr, location: &str) {
        self.other_answers += 1;
        if !self.others.iter().any(|(ip, _)| *ip == responder) {
            tracing::debug!(%responder, %location, "an ssdp answer from a host that is not the gateway");
            self.others.push((responder, location.to_owned()));
        }
        let pair = (responder, location.to_owned());
        if self.other_locations.len() < MAX_OTHER_LOCATIONS && !self.other_locations.contains(&pair)
        {
            self.other_locations.push(pair);
        }
    }

    /// The other hosts that answered, in the order they first did.
    pub(super) fn other_hosts(&self) -> Vec<IpAddr> {
        self.others.iter().map(|(ip, _)| *ip).collect()
    }

    /// The LOCATIONs `responder` answered with.
    pub(super) fn locations_of(&self, responder: IpAddr) -> Vec<String> {
        self.other_locations
            .iter()
            .filter(|(ip, _)| *ip == responder)
            .map(|(_, location)| location.clone())
            .collect()
    }

    pub(super) fn into_error(self, scan_time: Duration) -> DiscoverError {
        let summary = self.summary();
        DiscoverError::NotFound {
            scan_time,
            gateway: self.gateway,
            tried: self.tried,
            other_responders: self.others.len(),
            dropped_answers: self.dropped.answers,
            summary,
        }
    }

    /// At most ~300 characters.
    fn summary(&self) -> String {
        let mut parts = Vec::new();
        match self.gateway {
            None if !self.gateway_answered => parts.push("no default gateway known".to_owned()),
            Some(gateway) if !self.gateway_answered => {
                parts.push(format!("the gateway {gateway} did not answer"));
            }
            Some(_) | None => {}
        }
        for (index, (location, reason)) in self.tried.iter().enumerate() {
            if index == 2 {
                parts.push(format!("{} more unusable", self.tried.len() - 2));
                break;
            }
            // Most fetch errors name the URL themselves.
            if reason.starts_with(location.as_str()) {
                parts.push(shorten(reason, MAX_REASON + 60));
            } else {
                parts.push(format!("{location}: {}", shorten(reason, MAX_REASON)));
            }
        }
        if !self.others.is_empty() && !self.allowed {
            let hosts = self.others.len();
            parts.push(format!(
                "{hosts} other LAN host{} answered, not used (not the gateway)",
                if hosts == 1 { "" } else { "s" }
            ));
        }
        if self.dropped.answers > 0 {
            let flooders: Vec<String> = self
                .dropped
                .responders
                .iter()
                .take(2)
                .map(ToString::to_string)
                .collect();
            parts.push(format!(
                "{} answers dropped from {}",
                self.dropped.answers,
                flooders.join(", ")
            ));
        }
        if parts.is_empty() {
            parts.push("nothing answered".to_owned());
        }
        shorten(&parts.join("; "), 280)
    }
}

pub(super) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max.saturating_sub(3)).collect();
    short.push_str("...");
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_one_short_line_naming_the_causes() {
        let findings = Findings {
            gateway: Some("192.168.1.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))),
            gateway_answered: true,
            tried: (0..50)
                .map(|i| (format!("http://192.168.1.1:{i}/desc"), "x".repeat(500)))
                .collect(),
            others: (0..40)
                .map(|i| (IpAddr::from([192, 168, 1, 100 + i]), String::new()))
                .collect(),
            other_answers: 5000,
            other_locations: Vec::new(),
            dropped: ssdp::Dropped {
                answers: 4968,
                responders: vec![IpAddr::from([192, 168, 1, 100])],
            },
            allowed: false,
        };
        let line = findings.into_error(Duration::from_secs(2)).to_string();
        assert!(line.chars().count() <= 320, "{} chars: {line}", line.len());
        assert!(!line.contains('\n'));
        assert!(line.contains("http://192.168.1.1:0/desc"), "{line}");
        assert!(
            line.contains("48 more unusable") || line.ends_with("..."),
            "{line}"
        );
        let quiet = Findings {
            gateway: Some(IpAddr::from([10, 0, 0, 1])),
            others: vec![(IpAddr::from([10, 0, 0, 9]), String::new())],
            ..Findings::default()
        };
        let line = quiet.into_error(Duration::from_secs(2)).to_string();
        assert_eq!(
            line,
            "no usable UPnP IGD within 2.0 s: the gateway 10.0.0.1 did not answer; 1 other LAN host answered, not used (not the gateway)"
        );
    }
}
