//! [`SearchOptions`] and [`ListenOptions`]: what to search for, where, and for how long.

use std::net::SocketAddr;
use std::time::Duration;

use crate::ALL;
use crate::error::Error;

/// The longest MX the UPnP Device Architecture 1.1 allows (§1.3.2).
const MAX_MX: u8 = 5;

/// How a search runs. Start from [`SearchOptions::new`] or `Default` (which searches
/// `ssdp:all`) and change what you need:
///
/// ```
/// use std::time::Duration;
///
/// let options = ssdp::SearchOptions::new(ssdp::ROOT_DEVICE)
///     .target("urn:schemas-upnp-org:device:MediaServer:1")
///     .scan_time(Duration::from_secs(3))
///     .mx(2);
/// assert_eq!(options.targets.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchOptions {
    /// The search targets (`ST`), each sent in its own M-SEARCH. Default: `ssdp:all`.
    pub targets: Vec<String>,
    /// How long the search listens for answers, counted from its start. Default: 2 s.
    pub scan_time: Duration,
    /// `MX`: the longest a device may wait before answering, in seconds, 1 to 5. Keep it
    /// below `scan_time`. Default: 1.
    pub mx: u8,
    /// Also send each M-SEARCH by unicast to this address (for instance the default gateway
    /// on port 1900: some routers answer only that). Default: none.
    pub unicast: Option<SocketAddr>,
    /// Send to the multicast group on every suitable interface. Default: true. With `false`
    /// only the unicast address (which must then be set) is asked.
    pub multicast: bool,
    /// Also search on IPv6 (`ff02::c`) where an interface has a link-local address, best
    /// effort. Default: true.
    pub ipv6: bool,
    /// Only these interfaces (by name, e.g. `eth0`); `None` means every suitable one (up,
    /// multicast-capable, not loopback). Default: `None`.
    pub interfaces: Option<Vec<String>>,
    /// How many times each M-SEARCH is sent at most (UDP is lossy), at least 1; past the
    /// second, only while nothing has answered on that path. Default: 2.
    pub sends: u8,
    /// The pause between two sends of the same M-SEARCH. Default: 250 ms.
    pub send_interval: Duration,
}

impl Default for SearchOptions {
    fn default() -> SearchOptions {
        SearchOptions {
            targets: vec![ALL.to_owned()],
            scan_time: Duration::from_secs(2),
            mx: 1,
            unicast: None,
            multicast: true,
            ipv6: true,
            interfaces: None,
            sends: 2,
            send_interval: Duration::from_millis(250),
        }
    }
}

impl SearchOptions {
    /// Options searching for one target, everything else at its default.
    pub fn new(target: impl Into<String>) -> SearchOptions {
        SearchOptions {
            targets: vec![target.into()],
            ..SearchOptions::default()
        }
    }

    /// Adds a search target.
    #[must_use]
    pub fn target(mut self, target: impl Into<String>) -> SearchOptions {
        self.targets.push(target.into());
        self
    }

    /// Replaces the search targets.
    #[must_use]
    pub fn targets<I, T>(mut self, targets: I) -> SearchOptions
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.targets = targets.into_iter().map(Into::into).collect();
        self
    }

    /// Sets how long the search listens.
    #[must_use]
    pub fn scan_time(mut self, scan_time: Duration) -> SearchOptions {
        self.scan_time = scan_time;
        self
    }

    /// Sets `MX` (clamped to 1 to 5 when sent).
    #[must_use]
    pub fn mx(mut self, mx: u8) -> SearchOptions {
        self.mx = mx;
        self
    }

    /// Also asks `address` by unicast.
    #[must_use]
    pub fn unicast(mut self, address: SocketAddr) -> SearchOptions {
        self.unicast = Some(address);
        self
    }

    /// Turns the multicast search on or off.
    #[must_use]
    pub fn multicast(mut self, multicast: bool) -> SearchOptions {
        self.multicast = multicast;
        self
    }

    /// Turns the IPv6 search on or off.
    #[must_use]
    pub fn ipv6(mut self, ipv6: bool) -> SearchOptions {
        self.ipv6 = ipv6;
        self
    }

    /// Searches only on the named interfaces.
    #[must_use]
    pub fn interfaces<I, T>(mut self, names: I) -> SearchOptions
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.interfaces = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Sets how many times, and how far apart, each M-SEARCH is sent.
    #[must_use]
    pub fn sends(mut self, sends: u8, interval: Duration) -> SearchOptions {
        self.sends = sends;
        self.send_interval = interval;
        self
    }

    /// The `MX` value actually sent.
    pub(crate) fn mx_sent(&self) -> u8 {
        self.mx.clamp(1, MAX_MX)
    }

    /// Checks what cannot be sent as asked.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |reason| Err(Error::InvalidOptions { reason });
        if self.targets.is_empty() {
            return invalid("no search target");
        }
        if self.targets.iter().any(|t| t.trim().is_empty()) {
            return invalid("a search target is empty");
        }
        // A line break would let a target inject headers into the request.
        if self.targets.iter().any(|t| t.contains(['\r', '\n'])) {
            return invalid("a search target contains a line break");
        }
        if !self.multicast && self.unicast.is_none() {
            return invalid("neither multicast nor a unicast address");
        }
        if self.sends == 0 {
            return invalid("sends must be at least 1");
        }
        Ok(())
    }
}

/// How a NOTIFY listener runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenOptions {
    /// Also listen on IPv6 (`ff02::c`) where an interface has a link-local address, best
    /// effort. Default: true.
    pub ipv6: bool,
    /// Only these interfaces (by name); `None` means every suitable one. Default: `None`.
    pub interfaces: Option<Vec<String>>,
    /// Stop listening (and end the stream) after this long; `None` listens until the
    /// listener is dropped. Default: `None`.
    pub listen_time: Option<Duration>,
}

impl Default for ListenOptions {
    fn default() -> ListenOptions {
        ListenOptions {
            ipv6: true,
            interfaces: None,
            listen_time: None,
        }
    }
}

impl ListenOptions {
    /// Turns listening on IPv6 on or off.
    #[must_use]
    pub fn ipv6(mut self, ipv6: bool) -> ListenOptions {
        self.ipv6 = ipv6;
        self
    }

    /// Listens only on the named interfaces.
    #[must_use]
    pub fn interfaces<I, T>(mut self, names: I) -> ListenOptions
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.interfaces = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Ends the listener after `listen_time`.
    #[must_use]
    pub fn listen_time(mut self, listen_time: Duration) -> ListenOptions {
        self.listen_time = Some(listen_time);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_builder() {
        let options = SearchOptions::default();
        assert_eq!(options.targets, ["ssdp:all"]);
        assert_eq!(options.scan_time, Duration::from_secs(2));
        assert_eq!(options.mx, 1);
        assert!(options.validate().is_ok());

        let options = SearchOptions::new("a")
            .target("b")
            .mx(9)
            .unicast("127.0.0.1:1900".parse().expect("address"))
            .multicast(false)
            .interfaces(["eth0"]);
        assert_eq!(options.targets, ["a", "b"]);
        assert_eq!(options.mx_sent(), 5);
        assert_eq!(SearchOptions::default().mx(0).mx_sent(), 1);
        assert_eq!(options.interfaces, Some(vec!["eth0".to_owned()]));
        assert!(options.validate().is_ok());
    }

    #[test]
    fn refuses_what_cannot_be_sent() {
        let reason = |options: SearchOptions| match options.validate() {
            Err(Error::InvalidOptions { reason }) => reason,
            other => panic!("not refused: {other:?}"),
        };
        assert_eq!(
            reason(SearchOptions::default().targets(Vec::<String>::new())),
            "no search target"
        );
        assert_eq!(
            reason(SearchOptions::new("ssdp:all\r\nX-Evil: 1")),
            "a search target contains a line break"
        );
        assert_eq!(reason(SearchOptions::new(" ")), "a search target is empty");
        assert_eq!(
            reason(SearchOptions::default().multicast(false)),
            "neither multicast nor a unicast address"
        );
        assert_eq!(
            reason(SearchOptions::default().sends(0, Duration::ZERO)),
            "sends must be at least 1"
        );
    }
}
