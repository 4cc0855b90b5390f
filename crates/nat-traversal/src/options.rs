//! [`NatOptions`]: the gateway, the techniques allowed and their order, and the timings of
//! probes, refreshes and retries.

use std::net::IpAddr;
use std::time::Duration;

use crate::technique::{MapRequest, Technique};

/// The `NewPortMappingDescription` UPnP mappings carry unless told otherwise.
pub(crate) const DEFAULT_DESCRIPTION: &str = "nat-traversal";

/// How a [`Nat`](crate::Nat) probes and keeps mappings. Start from `Default` and change
/// what you need:
///
/// ```
/// use std::time::Duration;
/// use nat_traversal::{NatOptions, Technique};
///
/// let options = NatOptions::default()
///     .gateway("192.168.1.1".parse().unwrap())
///     .preference([Technique::Upnp, Technique::Pcp])
///     .probe_timeout(Duration::from_millis(500));
/// assert_eq!(options.preference, [Technique::Upnp, Technique::Pcp]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatOptions {
    /// The gateway to ask; `None` reads the default gateway (netinfo) and follows it when it
    /// changes. Default: `None`.
    pub gateway: Option<IpAddr>,
    /// The IPv6 gateway of [`Nat::ipv6`](crate::Nat::ipv6) (a PCP server or IGD that opens
    /// pinholes); `None` (the default): the next hop of the IPv6 default route. A
    /// link-local address is reached on the interface of that route.
    pub gateway_v6: Option<std::net::Ipv6Addr>,
    /// The techniques allowed, most preferred first. Default: PCP, NAT-PMP, UPnP IGD.
    pub preference: Vec<Technique>,
    /// How long each technique may take to answer a probe. Default: 2 s.
    pub probe_timeout: Duration,
    /// When a mapping needs a technique, each technique is probed this long after the more
    /// preferred one before it, or as soon as all of those failed, so a router that answers
    /// PCP at once is not also loaded with NAT-PMP and UPnP requests that would slow that
    /// answer. [`Nat::probe`](crate::Nat::probe) starts every probe at once. Default: 100 ms.
    pub probe_stagger: Duration,
    /// How long one operation (map, refresh, delete) may take, retransmissions included.
    /// Default: 5 s.
    pub operation_timeout: Duration,
    /// The lifetime [`tcp_listen_public`](crate::Nat::tcp_listen_public) and
    /// [`udp_bind_public`](crate::Nat::udp_bind_public) ask for. Default: 2 hours.
    pub lifetime: Duration,
    /// Refresh every this long instead of at half the granted lifetime. Default: `None`.
    pub refresh_interval: Option<Duration>,
    /// The first pause after a failed map or refresh; it doubles with each further failure.
    /// Default: 1 s.
    pub retry_initial: Duration,
    /// The longest pause between retries. Default: 60 s.
    pub retry_max: Duration,
    /// How often the gateway, the local address toward it and the interface addresses are
    /// read again while persistent mappings exist. Default: 5 s.
    pub network_check_interval: Duration,
    /// Listen for the gateway's NAT-PMP/PCP announcements (restart, new external address)
    /// on 224.0.0.1:5350 while persistent mappings exist. Default: true.
    pub announcements: bool,
    /// The description UPnP mappings carry (shown in the router's table). Default:
    /// `nat-traversal`.
    pub description: String,
    /// Take a UPnP IGD on another LAN host when none answered on the gateway within the
    /// search. Any LAN host can claim to be an IGD; what it "maps" need not reach you, so
    /// mappings made there carry [`Mapping::on_default_gateway`](crate::Mapping::on_default_gateway)
    /// `false`. Default: false (only the gateway's IGD).
    pub allow_other_igd: bool,
    /// A file that keeps the UPnP IGD found at each gateway for the next process (see
    /// [`NatOptions::upnp_cache`]); `None`: no file. Default: `None`.
    pub upnp_cache: Option<std::path::PathBuf>,
}

impl Default for NatOptions {
    fn default() -> NatOptions {
        NatOptions {
            gateway: None,
            gateway_v6: None,
            preference: crate::builtin::available(),
            probe_timeout: Duration::from_secs(2),
            probe_stagger: Duration::from_millis(100),
            operation_timeout: Duration::from_secs(5),
            lifetime: MapRequest::DEFAULT_LIFETIME,
            refresh_interval: None,
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            network_check_interval: Duration::from_secs(5),
            announcements: true,
            description: DEFAULT_DESCRIPTION.to_owned(),
            allow_other_igd: false,
            upnp_cache: None,
        }
    }
}

impl NatOptions {
    /// Asks `gateway` instead of the default gateway.
    pub fn gateway(mut self, gateway: IpAddr) -> NatOptions {
        self.gateway = Some(gateway);
        self
    }

    /// Sets [`gateway_v6`](Self::gateway_v6).
    pub fn gateway_v6(mut self, gateway: std::net::Ipv6Addr) -> NatOptions {
        self.gateway_v6 = Some(gateway);
        self
    }

    /// Allows only these techniques, in this order of preference.
    pub fn preference(mut self, techniques: impl IntoIterator<Item = Technique>) -> NatOptions {
        self.preference = Vec::new();
        for technique in techniques {
            if !self.preference.contains(&technique) {
                self.preference.push(technique);
            }
        }
        self
    }

    /// Allows only `technique`.
    pub fn only(self, technique: Technique) -> NatOptions {
        self.preference([technique])
    }

    /// Sets the probe timeout.
    pub fn probe_timeout(mut self, timeout: Duration) -> NatOptions {
        self.probe_timeout = timeout;
        self
    }

    /// Sets the head start of each technique over the next one in the probe that selects.
    pub fn probe_stagger(mut self, stagger: Duration) -> NatOptions {
        self.probe_stagger = stagger;
        self
    }

    /// Sets the operation timeout.
    pub fn operation_timeout(mut self, timeout: Duration) -> NatOptions {
        self.operation_timeout = timeout;
        self
    }

    /// Sets the lifetime public sockets ask for.
    pub fn lifetime(mut self, lifetime: Duration) -> NatOptions {
        self.lifetime = lifetime;
        self
    }

    /// Refreshes every `interval` instead of at half the granted lifetime.
    pub fn refresh_interval(mut self, interval: Duration) -> NatOptions {
        self.refresh_interval = Some(interval);
        self
    }

    /// Sets the retry backoff: `initial`, doubling, at most `max`.
    pub fn retry(mut self, initial: Duration, max: Duration) -> NatOptions {
        self.retry_initial = initial;
        self.retry_max = max.max(initial);
        self
    }

    /// Sets how often the network is checked for changes.
    pub fn network_check_interval(mut self, interval: Duration) -> NatOptions {
        self.network_check_interval = interval;
        self
    }

    /// Turns listening for announcements on or off.
    pub fn announcements(mut self, listen: bool) -> NatOptions {
        self.announcements = listen;
        self
    }

    /// Allows a UPnP IGD on another LAN host (see [`allow_other_igd`](Self::allow_other_igd)).
    pub fn allow_other_igd(mut self, allow: bool) -> NatOptions {
        self.allow_other_igd = allow;
        self
    }

    /// Keeps the UPnP IGD found at each gateway in the file `path` (one small text file,
    /// written atomically), so the next process talks to it at once, without waiting for its
    /// SSDP answer. A cached IGD is checked like a fresh one (its control URL must be on the
    /// gateway) and replaced through SSDP discovery when it does not answer.
    /// [`NatOptions::default_upnp_cache`] is the platform's cache directory.
    pub fn upnp_cache(mut self, path: impl Into<std::path::PathBuf>) -> NatOptions {
        self.upnp_cache = Some(path.into());
        self
    }

    /// The platform's place for the UPnP cache (`$XDG_CACHE_HOME` or `~/.cache` on Linux and
    /// the BSDs, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows, then
    /// `natkit/upnp-igd`); `None` when there is no home to put it in.
    pub fn default_upnp_cache() -> Option<std::path::PathBuf> {
        #[cfg(feature = "upnp")]
        {
            crate::cache::default_path()
        }
        #[cfg(not(feature = "upnp"))]
        {
            None
        }
    }

    /// Sets the UPnP mapping description.
    pub fn description(mut self, description: impl Into<String>) -> NatOptions {
        self.description = description.into();
        self
    }

    /// The pause before retry number `failures` (1 for the first): `retry_initial`
    /// doubling, capped at `retry_max`.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        self.retry_initial
            .saturating_mul(1 << doublings)
            .min(self.retry_max)
    }

    /// When to refresh a mapping granted for `granted` (asked for `asked`).
    pub(crate) fn refresh_after(&self, granted: Duration, asked: Duration) -> Duration {
        if let Some(interval) = self.refresh_interval {
            return interval;
        }
        // A lease-less mapping still gets checked, so a rebooted gateway is noticed.
        let lifetime = if granted.is_zero() { asked } else { granted };
        (lifetime / 2).max(Duration::from_millis(500))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let options = NatOptions::default().retry(Duration::from_secs(1), Duration::from_secs(5));
        let pauses: Vec<u64> = (1..=5).map(|n| options.backoff(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 5, 5]);
        assert_eq!(options.backoff(1000), Duration::from_secs(5));
    }

    #[test]
    fn refresh_at_half_the_granted_lifetime_unless_told() {
        let options = NatOptions::default();
        let hour = Duration::from_secs(3600);
        assert_eq!(options.refresh_after(hour, 2 * hour), hour / 2);
        assert_eq!(options.refresh_after(Duration::ZERO, hour), hour / 2);
        let options = options.refresh_interval(Duration::from_secs(10));
        assert_eq!(options.refresh_after(hour, hour), Duration::from_secs(10));
    }

    #[test]
    fn preference_drops_duplicates() {
        let options =
            NatOptions::default().preference([Technique::Upnp, Technique::Upnp, Technique::Pcp]);
        assert_eq!(options.preference, [Technique::Upnp, Technique::Pcp]);
    }
}
