//! [`NatOptions`]: the gateway, the techniques allowed and their order, the timings of
//! probes, refreshes and retries, and the files a `Nat` keeps between processes.

use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
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
///     .with_gateway("192.168.1.1".parse()?)
///     .with_preference([Technique::Upnp, Technique::Pcp])
///     .with_probe_timeout(Duration::from_millis(500));
/// assert_eq!(options.preference(), [Technique::Upnp, Technique::Pcp]);
/// assert_eq!(options.gateway(), Some("192.168.1.1".parse()?));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatOptions {
    gateway: Option<IpAddr>,
    gateway_v6: Option<Ipv6Addr>,
    interface: Option<String>,
    preference: Vec<Technique>,
    probe_timeout: Duration,
    probe_stagger: Duration,
    operation_timeout: Duration,
    lifetime: Duration,
    refresh_interval: Option<Duration>,
    retry_initial: Duration,
    retry_max: Duration,
    network_check_interval: Duration,
    events: bool,
    description: String,
    allow_other_igd: bool,
    upnp_cache: Option<PathBuf>,
    pinhole_record: Option<PathBuf>,
    ipv6_grace: Duration,
    #[cfg(feature = "stun")]
    stun_servers: Vec<std::net::SocketAddr>,
}

impl Default for NatOptions {
    fn default() -> NatOptions {
        NatOptions {
            gateway: None,
            gateway_v6: None,
            interface: None,
            preference: Technique::built_in(),
            probe_timeout: Duration::from_secs(2),
            probe_stagger: Duration::from_millis(100),
            operation_timeout: Duration::from_secs(5),
            lifetime: MapRequest::DEFAULT_LIFETIME,
            refresh_interval: None,
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            network_check_interval: Duration::from_secs(5),
            events: true,
            description: DEFAULT_DESCRIPTION.to_owned(),
            allow_other_igd: false,
            upnp_cache: None,
            pinhole_record: None,
            ipv6_grace: Duration::from_secs(1),
            #[cfg(feature = "stun")]
            stun_servers: Vec::new(),
        }
    }
}

impl NatOptions {
    /// Asks `gateway` instead of the default gateway (which is otherwise read from the
    /// routing table and followed when it changes).
    pub fn with_gateway(mut self, gateway: IpAddr) -> NatOptions {
        self.gateway = Some(gateway);
        self
    }

    /// The IPv6 gateway of [`Nat::ipv6`](crate::Nat::ipv6) (a PCP server or IGD that opens
    /// pinholes), instead of the next hop of the IPv6 default route. A link-local address is
    /// reached on the interface of that route.
    pub fn with_gateway_v6(mut self, gateway: Ipv6Addr) -> NatOptions {
        self.gateway_v6 = Some(gateway);
        self
    }

    /// Works on the path of this interface (its default route's gateway, its address)
    /// instead of the path the kernel picks for internet traffic. For a host whose internet
    /// traffic leaves through a full-tunnel VPN, where a mapping at the LAN router is
    /// otherwise refused ([`Error::TrafficThroughTunnel`](crate::Error::TrafficThroughTunnel)):
    /// the program then takes care that the mapped traffic leaves through this interface
    /// (a socket bound to it, or a policy route).
    ///
    /// ```
    /// use nat_traversal::NatOptions;
    ///
    /// let options = NatOptions::default().with_interface("eth0");
    /// assert_eq!(options.interface(), Some("eth0"));
    /// ```
    pub fn with_interface(mut self, interface: impl Into<String>) -> NatOptions {
        self.interface = Some(interface.into());
        self
    }

    /// Allows only these techniques, in this order of preference (default: PCP, NAT-PMP,
    /// UPnP IGD). For a `Nat` over techniques of your own, this orders them by kind.
    pub fn with_preference(
        mut self,
        techniques: impl IntoIterator<Item = Technique>,
    ) -> NatOptions {
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
        self.with_preference([technique])
    }

    /// How long each technique may take to answer a probe (default: 2 s).
    pub fn with_probe_timeout(mut self, timeout: Duration) -> NatOptions {
        self.probe_timeout = timeout;
        self
    }

    /// When a mapping needs a technique, each technique is probed this long after the more
    /// preferred one before it, or as soon as all of those failed, so a router that answers
    /// PCP at once is not also loaded with NAT-PMP and UPnP requests that would slow that
    /// answer; [`Nat::probe`](crate::Nat::probe) starts every probe at once (default:
    /// 100 ms).
    pub fn with_probe_stagger(mut self, stagger: Duration) -> NatOptions {
        self.probe_stagger = stagger;
        self
    }

    /// How long one operation (map, refresh, delete) may take, retransmissions included
    /// (default: 5 s).
    pub fn with_operation_timeout(mut self, timeout: Duration) -> NatOptions {
        self.operation_timeout = timeout;
        self
    }

    /// The lifetime [`Nat::tcp_listen_public`](crate::Nat::tcp_listen_public) and
    /// [`Nat::udp_bind_public`](crate::Nat::udp_bind_public) ask for (default: 2 hours).
    pub fn with_lifetime(mut self, lifetime: Duration) -> NatOptions {
        self.lifetime = lifetime;
        self
    }

    /// Refreshes every `interval` instead of at half the granted lifetime.
    pub fn with_refresh_interval(mut self, interval: Duration) -> NatOptions {
        self.refresh_interval = Some(interval);
        self
    }

    /// The retry backoff after a failed map or refresh: `initial`, doubling, at most `max`
    /// (default: 1 s to 60 s).
    pub fn with_retry(mut self, initial: Duration, max: Duration) -> NatOptions {
        self.retry_initial = initial;
        self.retry_max = max.max(initial);
        self
    }

    /// How often the path (gateway, local address, interface) and the interface addresses
    /// are read again while persistent mappings exist, where the system cannot tell of
    /// changes (default: 5 s). Where it can (netlink on Linux and Android, the routing
    /// socket on macOS and the BSDs, IP Helper notifications on Windows), a change is read
    /// as soon as the notification's burst settles (~50 ms), and this interval only paces
    /// a safety-net read (at least every 30 s).
    pub fn with_network_check_interval(mut self, interval: Duration) -> NatOptions {
        self.network_check_interval = interval;
        self
    }

    /// Whether the techniques' events are followed while persistent mappings exist: the
    /// gateway's announcements of a restart or a new external address (PCP and NAT-PMP
    /// announcements, SSDP notifications, UPnP GENA events), noticed at once rather than at
    /// the next refresh (default: true).
    pub fn with_events(mut self, follow: bool) -> NatOptions {
        self.events = follow;
        self
    }

    /// The description UPnP mappings carry, shown in the router's table (default:
    /// `nat-traversal`).
    pub fn with_description(mut self, description: impl Into<String>) -> NatOptions {
        self.description = description.into();
        self
    }

    /// Takes a UPnP IGD on another LAN host when none answered on the gateway within the
    /// search. Any LAN host can claim to be an IGD; what it "maps" need not reach you, so
    /// mappings made there carry [`Mapping::on_default_gateway`](crate::Mapping::on_default_gateway)
    /// `false` (default: false, only the gateway's IGD).
    pub fn with_allow_other_igd(mut self, allow: bool) -> NatOptions {
        self.allow_other_igd = allow;
        self
    }

    /// Keeps the UPnP IGD found at each gateway in the file `path` (one small text file,
    /// written atomically), so the next process talks to it at once, without waiting for its
    /// SSDP answer. A cached IGD is checked like a fresh one (its control URL must be on the
    /// gateway) and replaced through SSDP discovery when it does not answer.
    /// [`NatOptions::default_upnp_cache`] is the platform's place for it.
    pub fn with_upnp_cache(mut self, path: impl Into<PathBuf>) -> NatOptions {
        self.upnp_cache = Some(path.into());
        self
    }

    /// Records the IPv6 pinholes this `Nat` opens in the file `path`, so that any program
    /// (this one later, `natctl`) can list and remove them: neither PCP nor UPnP can list
    /// pinholes. [`NatOptions::default_pinhole_record`] is the platform's place for it; see
    /// [`Nat::recorded_pinholes`](crate::Nat::recorded_pinholes).
    pub fn with_pinhole_record(mut self, path: impl Into<PathBuf>) -> NatOptions {
        self.pinhole_record = Some(path.into());
        self
    }

    /// How long a dual-stack answer ([`Nat::dual_stack`](crate::Nat::dual_stack)) waits for
    /// the IPv6 side once the IPv4 side answered (default: 1 s): a network whose gateway
    /// ignores IPv6 requests must not hold up the IPv4 answer.
    pub fn with_ipv6_grace(mut self, grace: Duration) -> NatOptions {
        self.ipv6_grace = grace;
        self
    }

    /// Adds a STUN server for the reachability check ([`Nat::check`](crate::Nat::check));
    /// repeat for more (asked in order until one answers). None is built in: without
    /// one, no STUN server is ever contacted and the check reports only what the router
    /// says.
    #[cfg(feature = "stun")]
    pub fn with_stun_server(mut self, server: std::net::SocketAddr) -> NatOptions {
        self.stun_servers.push(server);
        self
    }

    /// The STUN servers named, in order.
    #[cfg(feature = "stun")]
    pub fn stun_servers(&self) -> &[std::net::SocketAddr] {
        &self.stun_servers
    }

    /// The gateway given, if one was.
    pub fn gateway(&self) -> Option<IpAddr> {
        self.gateway
    }

    /// The IPv6 gateway given, if one was.
    pub fn gateway_v6(&self) -> Option<Ipv6Addr> {
        self.gateway_v6
    }

    /// The interface asked for, if one was (see [`with_interface`](Self::with_interface)).
    pub fn interface(&self) -> Option<&str> {
        self.interface.as_deref()
    }

    /// The techniques allowed, most preferred first.
    pub fn preference(&self) -> &[Technique] {
        &self.preference
    }

    /// How long each technique may take to answer a probe.
    pub fn probe_timeout(&self) -> Duration {
        self.probe_timeout
    }

    /// The head start of each technique over the next one in the probe that selects.
    pub fn probe_stagger(&self) -> Duration {
        self.probe_stagger
    }

    /// How long one operation may take.
    pub fn operation_timeout(&self) -> Duration {
        self.operation_timeout
    }

    /// The lifetime public sockets ask for.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The fixed refresh interval, if one was set.
    pub fn refresh_interval(&self) -> Option<Duration> {
        self.refresh_interval
    }

    /// The first pause after a failure.
    pub fn retry_initial(&self) -> Duration {
        self.retry_initial
    }

    /// The longest pause between retries.
    pub fn retry_max(&self) -> Duration {
        self.retry_max
    }

    /// How often the network is checked while persistent mappings exist.
    pub fn network_check_interval(&self) -> Duration {
        self.network_check_interval
    }

    /// Whether the techniques' events are followed.
    pub fn events(&self) -> bool {
        self.events
    }

    /// The description UPnP mappings carry.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether a UPnP IGD on another LAN host may be used.
    pub fn allow_other_igd(&self) -> bool {
        self.allow_other_igd
    }

    /// The UPnP cache file, if any.
    pub fn upnp_cache(&self) -> Option<&std::path::Path> {
        self.upnp_cache.as_deref()
    }

    /// The pinhole record file, if any.
    pub fn pinhole_record(&self) -> Option<&std::path::Path> {
        self.pinhole_record.as_deref()
    }

    /// How long a dual-stack answer waits for the IPv6 side after the IPv4 side.
    pub fn ipv6_grace(&self) -> Duration {
        self.ipv6_grace
    }

    /// The platform's place for the UPnP cache (`$XDG_CACHE_HOME` or `~/.cache` on Linux and
    /// the BSDs, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows, then
    /// `natkit/upnp-igd`); `None` when there is no home to put it in.
    pub fn default_upnp_cache() -> Option<PathBuf> {
        crate::store::default_dir().map(|dir| dir.join("upnp-igd"))
    }

    /// The platform's place for the pinhole record: `natkit/pinholes` in the same directory
    /// as [`default_upnp_cache`](Self::default_upnp_cache).
    pub fn default_pinhole_record() -> Option<PathBuf> {
        crate::store::default_dir().map(|dir| dir.join("pinholes"))
    }

    /// These options for the IPv6 side: the IPv6 gateway, and no NAT-PMP (IPv4 only).
    pub(crate) fn for_ipv6(&self) -> NatOptions {
        let mut options = self.clone();
        options.gateway = self.gateway_v6.map(IpAddr::V6);
        options.preference.retain(|t| t.speaks_ipv6());
        options
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

    /// The rank of `kind` in the preference (unlisted kinds last).
    pub(crate) fn rank(&self, kind: Technique) -> usize {
        self.preference
            .iter()
            .position(|&t| t == kind)
            .unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let options =
            NatOptions::default().with_retry(Duration::from_secs(1), Duration::from_secs(5));
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
        let options = options.with_refresh_interval(Duration::from_secs(10));
        assert_eq!(options.refresh_after(hour, hour), Duration::from_secs(10));
    }

    #[test]
    fn preference_drops_duplicates() {
        let options = NatOptions::default().with_preference([
            Technique::Upnp,
            Technique::Upnp,
            Technique::Pcp,
        ]);
        assert_eq!(options.preference(), [Technique::Upnp, Technique::Pcp]);
    }

    #[test]
    fn the_ipv6_side_has_no_nat_pmp_and_its_own_gateway() {
        let options = NatOptions::default()
            .with_gateway("192.168.1.1".parse().expect("an address"))
            .with_gateway_v6("fe80::1".parse().expect("an address"));
        let v6 = options.for_ipv6();
        assert!(!v6.preference().contains(&Technique::NatPmp));
        assert_eq!(v6.gateway(), Some("fe80::1".parse().expect("an address")));
    }
}
