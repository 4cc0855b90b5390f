//! Finding the Internet Gateway Device on the LAN: one SSDP search for every target in
//! [`GATEWAY_SEARCH_TARGETS`] (multicast on every interface, plus a unicast M-SEARCH to the
//! default gateway, which some routers answer only), then the descriptions of the responders
//! until one has a usable WAN connection service.
//!
//! Policy (any LAN host can answer SSDP and claim to be a gateway):
//! - Answers from the default gateway (or the address in [`DiscoverOptions::gateway`]) are
//!   fetched as they arrive. They are one device, however many descriptions it answers
//!   with (a pupnp stack registers an IGD:1 and an IGD:2 root and answers with both, in
//!   any order): a description offering the newest WAN connection service
//!   (WANIPConnection:2 or later) ends the search at once; any other usable one waits a
//!   little for the device's other answers, and the best is used.
//! - Refused answers end the search with their reasons: once the gateway's answer was
//!   refused (its LOCATION, its description, its control URL), the search listens only a
//!   little longer for a usable one, then fails naming every refused answer's reason.
//! - No deadline outlives the search: what it returns is handed back under the caller's
//!   [`Config`], so later operations get their own bounds.
//! - Over IPv6 ([`DiscoverOptions::ipv6`]), see `ipv6.rs` for which answers are the
//!   gateway's and where their descriptions are fetched.
//! - Answers from other hosts are only counted until the scan time is over. If the gateway
//!   gave nothing usable by then and [`DiscoverOptions::allow_other_igd`] is set, the other
//!   responders are tried, one description each; the result then says
//!   [`RootDevice::on_default_gateway`] is false, and callers label it. By default only the
//!   gateway is used.
//! - Every target is searched in the same round: a Broadcom stack answers only
//!   `upnp:rootdevice`, and asking for it later cost every command 500 ms.
//! - Bounds: ssdp caps the answers per responder (a flooding host cannot crowd the gateway
//!   out), at most [`DiscoverOptions::max_descriptions`] descriptions are fetched, and the
//!   whole discovery ends within [`DiscoverOptions::operation_timeout`] (default: the scan
//!   time plus the HTTP timeout), description fetches included.
//! - The error says in one short line who answered and why each was unusable.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::{Url, join_url, parse_url};

mod findings;
mod ipv6;

use findings::{Findings, shorten};
use ipv6::{in_on_link_prefix, ipv6_host, is_link_local};

use crate::control::RootDevice;
use crate::http::Config;
use crate::igd::{Gateway, connection_rank};

/// The SSDP search targets for a gateway: the device types, the connection services, and
/// the root devices (whose descriptions may hold an IGD deeper in the tree).
///
/// The newest connection service comes first: devices answer in the order asked, so a
/// stack recognised by [`discover_fast`] answers with the version to use before the rest.
pub const GATEWAY_SEARCH_TARGETS: [&str; 7] = [
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
    "urn:dslforum-org:device:InternetGatewayDevice:1",
    "upnp:rootdevice",
];

/// The target every IGD answers (version 2 devices answer version 1 searches). Kept for
/// callers of the two-stage search this crate used to do; discovery now searches every
/// target of [`GATEWAY_SEARCH_TARGETS`] at once.
pub const FIRST_SEARCH_TARGET: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";

/// Kept for compatibility: the first stage of the former two-stage search. Unused.
pub const FIRST_STAGE: Duration = Duration::from_millis(500);

/// IGD stacks whose URLs are fixed in their code, told by the product token of their search
/// answers' `SERVER` header: (token, description path, WANIPConnection control path).
/// miniupnpd has served `/rootDesc.xml` and `/ctl/IPConn` since its first versions.
const KNOWN_STACKS: [(&str, &str, &str); 1] = [("miniupnpd/", "/rootDesc.xml", "/ctl/IPConn")];

/// How long to wait, after the gateway's first answer, for its other answers (they come
/// together): a WANIPConnection:2 answer may follow a :1 one.
const ANSWER_BATCH: Duration = Duration::from_millis(10);

/// How long discovery listens on, after a usable description that does not offer the
/// newest WAN connection service, for the same device's other descriptions (a pupnp stack
/// registers an IGD:1 and an IGD:2 root and answers with both, in any order).
const SAME_DEVICE_WAIT: Duration = Duration::from_millis(60);

/// How long discovery listens on after the gateway's answer was refused, for a usable one
/// still to come (another description of the same device), before it ends with the reason.
const REFUSED_GRACE: Duration = Duration::from_millis(400);

/// How many descriptions discovery fetches by default.
pub const MAX_DESCRIPTIONS: usize = 8;

/// How to look for the gateway.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DiscoverOptions {
    /// How long to wait for answers before giving up (default 2 s).
    pub scan_time: Duration,
    /// The gateway: where the unicast M-SEARCH goes (port 1900) and whose answers are
    /// trusted. `None`: the default IPv4 gateway, when there is one.
    pub gateway: Option<IpAddr>,
    /// Timeouts and limits for fetching descriptions and calling actions.
    pub http: Config,
    /// The interface the multicast search goes out on (the gateway's, on a host with
    /// several); `None`: every suitable interface. Answers arriving from devices on other
    /// interfaces are only ever "other IGDs".
    pub interface: Option<String>,
    /// Use an IGD on another LAN host when the gateway offered none within the scan time
    /// (default false: only the gateway's IGD is used).
    pub allow_other_igd: bool,
    /// The most descriptions fetched in all (default [`MAX_DESCRIPTIONS`]).
    pub max_descriptions: usize,
    /// The bound of the whole discovery, description fetches (and, for [`discover`],
    /// choosing the WAN connection service) included. `None`: the scan time plus the HTTP
    /// exchange timeout.
    pub operation_timeout: Option<Duration>,
    /// Look for the IGD over IPv6 (default false). There is no single router address to
    /// trust on IPv6 (the route names a link-local address, the router answers from
    /// another): answers from the gateway, from a link-local address (a router on this
    /// link) or from an address in an on-link prefix of this host are the gateway's. Its
    /// LOCATION must be on the answering address, or, for a link-local answer, on a global
    /// or unique local address in an on-link prefix; every request then goes to that
    /// address, over IPv6.
    pub ipv6: bool,
}

impl Default for DiscoverOptions {
    fn default() -> DiscoverOptions {
        DiscoverOptions {
            scan_time: Duration::from_secs(2),
            gateway: None,
            http: Config::default(),
            interface: None,
            allow_other_igd: false,
            max_descriptions: MAX_DESCRIPTIONS,
            operation_timeout: None,
            ipv6: false,
        }
    }
}

impl DiscoverOptions {
    /// Sets the scan time.
    pub fn scan_time(mut self, scan_time: Duration) -> DiscoverOptions {
        self.scan_time = scan_time;
        self
    }

    /// Sets the gateway (the unicast M-SEARCH's address and the trusted responder).
    pub fn gateway(mut self, gateway: IpAddr) -> DiscoverOptions {
        self.gateway = Some(gateway);
        self
    }

    /// Takes answers only from the gateway (the default), or also from other hosts: the
    /// opposite of [`allow_other_igd`](Self::allow_other_igd), kept for older callers.
    pub fn only_gateway(mut self, only: bool) -> DiscoverOptions {
        self.allow_other_igd = !only;
        self
    }

    /// Searches over multicast on this interface only (see [`interface`](Self::interface)).
    pub fn interface(mut self, interface: impl Into<String>) -> DiscoverOptions {
        self.interface = Some(interface.into());
        self
    }

    /// Allows an IGD on another LAN host when the gateway offered none within the scan time.
    pub fn allow_other_igd(mut self, allow: bool) -> DiscoverOptions {
        self.allow_other_igd = allow;
        self
    }

    /// Sets the most descriptions fetched.
    pub fn max_descriptions(mut self, max: usize) -> DiscoverOptions {
        self.max_descriptions = max;
        self
    }

    /// Sets the bound of the whole discovery.
    pub fn operation_timeout(mut self, timeout: Duration) -> DiscoverOptions {
        self.operation_timeout = Some(timeout);
        self
    }

    /// Looks for the IGD over IPv6 (see [`ipv6`](Self::ipv6)).
    pub fn ipv6(mut self, ipv6: bool) -> DiscoverOptions {
        self.ipv6 = ipv6;
        self
    }

    /// Sets the HTTP timeouts and limits.
    pub fn http(mut self, http: Config) -> DiscoverOptions {
        self.http = http;
        self
    }

    fn bound(&self) -> Duration {
        self.operation_timeout
            .unwrap_or(self.scan_time + self.http.timeout)
    }
}

/// Why no gateway was found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// The SSDP search could not start.
    #[error("cannot search for a UPnP gateway: {0}")]
    Search(#[from] ssdp::Error),
    /// Nothing usable answered within the scan time.
    #[error("no usable UPnP IGD within {}: {}", crate::error::Seconds(*.scan_time), .summary)]
    NotFound {
        /// How long the search listened: the scan time, or less when the gateway's own
        /// answer was refused (discovery then ends with the reasons soon after).
        scan_time: Duration,
        /// The gateway whose answers were trusted, if one was known.
        gateway: Option<IpAddr>,
        /// The descriptions tried (LOCATION) and why each was not usable.
        tried: Vec<(String, String)>,
        /// How many other LAN hosts answered the search.
        other_responders: usize,
        /// How many answers the caps dropped (a flooding host).
        dropped_answers: usize,
        /// One short line saying who answered and why each was unusable.
        summary: String,
    },
    /// The whole discovery did not end within [`DiscoverOptions::operation_timeout`].
    #[error("discovering the UPnP IGD did not finish within {}", crate::error::Seconds(*.timeout))]
    Timeout {
        /// The bound that elapsed.
        timeout: Duration,
    },
}

/// Searches for the gateway and returns its first usable WAN connection service. The
/// result says whether it is on the default gateway ([`Gateway::on_default_gateway`]).
///
/// # Errors
/// As [`discover_root`]; [`DiscoverError::NotFound`] also when the IGD found has no usable
/// connection service.
pub async fn discover(options: &DiscoverOptions) -> Result<Gateway, DiscoverError> {
    let started = tokio::time::Instant::now();
    let bound = options.bound();
    let root = discover_root(options).await?;
    let rest = bound.saturating_sub(started.elapsed());
    match tokio::time::timeout(rest, Gateway::from_root(&root)).await {
        Ok(Ok(gateway)) => Ok(gateway),
        Ok(Err(error)) => Err(Findings {
            gateway: Some(root.http().responder()),
            gateway_answered: true,
            tried: vec![(root.description().location.to_string(), error.to_string())],
            allowed: options.allow_other_igd,
            ..Findings::default()
        }
        .into_error(options.scan_time)),
        Err(_) => Err(DiscoverError::Timeout { timeout: bound }),
    }
}

/// A gateway found by [`discover_fast`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Discovered {
    /// The WAN connection service.
    pub gateway: Gateway,
    /// Whether it was known from the search answer alone (a stack with fixed URLs, see
    /// [`discover_fast`]) rather than read from the description: such a gateway is a guess
    /// until its first answer, and a caller should search again, with
    /// [`discover`], if it does not answer.
    pub from_answer: bool,
}

/// [`discover`], one description fetch shorter where the gateway's search answer says
/// enough: an IGD stack whose URLs are fixed in its code (miniupnpd, told by its `SERVER`
/// header, answering from its usual description path and naming a WANIPConnection service
/// in `ST`) is used at once with its known control URL, every URL check applying as to one
/// read from a description. On a link with 100 ms each way that is two round trips less (the
/// description's connect and fetch). Any other answer is handled as [`discover`] does.
///
/// # Errors
/// As [`discover`].
pub async fn discover_fast(options: &DiscoverOptions) -> Result<Discovered, DiscoverError> {
    let started = tokio::time::Instant::now();
    let bound = options.bound();
    let deadline = std::time::Instant::now() + bound;
    let mut bounded = options.clone();
    bounded.http.deadline = Some(options.http.deadline.map_or(deadline, |d| d.min(deadline)));
    let root = match tokio::time::timeout(bound, search(&bounded, options.http, true)).await {
        Ok(Ok(Outcome::Known(gateway))) => {
            return Ok(Discovered {
                gateway,
                from_answer: true,
            });
        }
        Ok(Ok(Outcome::Root(root))) => root,
        Ok(Err(error)) => return Err(error),
        Err(_) => return Err(DiscoverError::Timeout { timeout: bound }),
    };
    let rest = bound.saturating_sub(started.elapsed());
    match tokio::time::timeout(rest, Gateway::from_root(&root)).await {
        Ok(Ok(gateway)) => Ok(Discovered {
            gateway,
            from_answer: false,
        }),
        Ok(Err(error)) => Err(Findings {
            gateway: Some(root.http().responder()),
            gateway_answered: true,
            tried: vec![(root.description().location.to_string(), error.to_string())],
            allowed: options.allow_other_igd,
            ..Findings::default()
        }
        .into_error(options.scan_time)),
        Err(_) => Err(DiscoverError::Timeout { timeout: bound }),
    }
}

/// The WAN connection service an answer from `responder` names, when it comes from a stack
/// in [`KNOWN_STACKS`]: its type (from `ST`) and control URL.
fn known_service(response: &ssdp::Response) -> Option<(String, Url)> {
    let server = response.server.as_deref()?.to_ascii_lowercase();
    let location = parse_url(&response.location).ok()?;
    connection_rank(&response.st)?;
    if !response.st.contains(":service:WANIPConnection:") {
        return None;
    }
    KNOWN_STACKS
        .iter()
        .find_map(|(token, description, control)| {
            (server.contains(token) && location.path() == *description)
                .then(|| join_url(&location, control).ok())
                .flatten()
                .map(|url| (response.st.clone(), url))
        })
}

/// Searches for the gateway and returns the first root device (with its description) that
/// holds a WAN connection service somewhere in its tree, following the policy in the module
/// documentation.
///
/// # Errors
/// [`DiscoverError::Search`] when the search cannot start, [`DiscoverError::NotFound`]
/// (with who answered and why each was unusable), [`DiscoverError::Timeout`].
pub async fn discover_root(options: &DiscoverOptions) -> Result<RootDevice, DiscoverError> {
    let bound = options.bound();
    let deadline = std::time::Instant::now() + bound;
    let handback = options.http;
    let mut options = options.clone();
    options.http.deadline = Some(options.http.deadline.map_or(deadline, |d| d.min(deadline)));
    match tokio::time::timeout(bound, search(&options, handback, false)).await {
        Ok(Ok(Outcome::Root(root))) => Ok(root),
        Ok(Ok(Outcome::Known(gateway))) => Err(Findings {
            gateway: Some(gateway.service_client().http().responder()),
            ..Findings::default()
        }
        .into_error(options.scan_time)),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(DiscoverError::Timeout { timeout: bound }),
    }
}

/// What a search ended with.
enum Outcome {
    /// A described root device with a WAN connection service.
    Root(RootDevice),
    /// A WAN connection service known from the gateway's answer alone.
    Known(Gateway),
}

async fn search(
    options: &DiscoverOptions,
    handback: Config,
    quick: bool,
) -> Result<Outcome, DiscoverError> {
    let started = tokio::time::Instant::now();
    let gateway = if options.ipv6 {
        options
            .gateway
            .or_else(|| netinfo::default_gateway_v6().ok().map(IpAddr::V6))
    } else {
        options
            .gateway
            .or_else(|| netinfo::default_gateway().ok().map(IpAddr::V4))
            .map(|g| g.to_canonical())
    };
    let mut findings = Findings {
        gateway,
        allowed: options.allow_other_igd,
        ..Findings::default()
    };
    // Sent again every 300 ms while nothing answers: on a lossy link a lost search or lost
    // answers otherwise cost the whole scan time.
    let sends = u8::try_from(options.scan_time.as_millis() / 300 + 1).unwrap_or(u8::MAX);
    let mut search_options = ssdp::SearchOptions::default()
        .targets(GATEWAY_SEARCH_TARGETS.iter().copied())
        .scan_time(options.scan_time)
        .sends(sends.clamp(2, 20), Duration::from_millis(300));
    // A link-local address needs its interface, which a bare address lacks: the multicast
    // search on every interface reaches it.
    let unicast = gateway.filter(|g| !is_link_local(*g));
    if let Some(gateway) = unicast {
        search_options = search_options.unicast(SocketAddr::new(gateway, ssdp::PORT));
    }
    if let Some(interface) = &options.interface {
        search_options = search_options.interfaces([interface.as_str()]);
    }
    search_options = search_options.ipv6(options.ipv6);
    let mut search = ssdp::search_with(&search_options).await?;
    let on_link = if options.ipv6 {
        netinfo::global_ipv6_addresses()
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a.address, a.prefix_len))
            .collect()
    } else {
        Vec::new()
    };
    let mut seen = HashSet::new();
    let mut fetched = 0usize;
    // The gateway's best description so far (lowest connection rank): one device may
    // offer several (an IGD:1 and an IGD:2 root), answering in any order.
    let mut best: Option<(usize, RootDevice)> = None;
    // When to stop listening before the scan time is over: shortly after a usable
    // description (for the same device's other descriptions), or after its answer was
    // refused (for a usable one still to come).
    let mut until: Option<tokio::time::Instant> = None;
    let mut ended_early = false;
    loop {
        let next = match until {
            Some(at) => match tokio::time::timeout_at(at, search.next_response()).await {
                Ok(next) => next,
                Err(_) => {
                    ended_early = true;
                    break;
                }
            },
            None => search.next_response().await,
        };
        let Some(response) = next else { break };
        let responder = response.source.ip().to_canonical();
        let from_gateway = Some(responder) == gateway
            || (options.ipv6 && is_link_local(responder))
            || (options.ipv6 && in_on_link_prefix(responder, &on_link));
        if !from_gateway {
            findings.note_other(responder, &response.location);
            continue;
        }
        findings.gateway_answered = true;
        if quick && best.is_none() {
            if let Some(known) = known_from_batch(&mut search, &response, responder).await {
                match Gateway::resume(responder, handback, &known.0, &known.1) {
                    Ok(gateway) => {
                        search.stop();
                        tracing::debug!(control_url = %known.1, service = %known.0, "the gateway's igd known from its search answer");
                        return Ok(Outcome::Known(gateway));
                    }
                    Err(error) => tracing::debug!(%error, "the search answer's igd is unusable"),
                }
            }
        }
        if fetched >= options.max_descriptions || !seen.insert(response.location.clone()) {
            continue;
        }
        fetched += 1;
        let now = tokio::time::Instant::now();
        let host = if options.ipv6 {
            match ipv6_host(&response.location, responder, &on_link) {
                Ok(host) => host,
                Err(reason) => {
                    findings
                        .tried
                        .push((shorten(&response.location, 80), reason));
                    if best.is_none() && until.is_none() {
                        until = Some(now + REFUSED_GRACE);
                    }
                    continue;
                }
            }
        } else {
            responder
        };
        match try_location(options, &response.location, host, &mut findings).await {
            Some((rank, root)) => {
                if best.as_ref().is_none_or(|(held, _)| rank < *held) {
                    best = Some((rank, root));
                }
                if rank == 0 {
                    break;
                }
                let settle = tokio::time::Instant::now() + SAME_DEVICE_WAIT;
                until = Some(until.map_or(settle, |at| at.min(settle)));
            }
            None if best.is_none() && until.is_none() => until = Some(now + REFUSED_GRACE),
            None => {}
        }
    }
    search.stop();
    if let Some((rank, mut root)) = best {
        tracing::debug!(location = %root.description().location, rank, "found the gateway");
        root.set_on_default_gateway(true);
        return Ok(Outcome::Root(root.with_config(handback)));
    }
    findings.dropped = search.dropped();
    if options.allow_other_igd {
        for responder in findings.other_hosts() {
            let mut best: Option<(usize, RootDevice)> = None;
            for location in findings.locations_of(responder) {
                if fetched >= options.max_descriptions {
                    break;
                }
                if !seen.insert(location.clone()) {
                    continue;
                }
                fetched += 1;
                if let Some((rank, root)) =
                    try_location(options, &location, responder, &mut findings).await
                {
                    if best.as_ref().is_none_or(|(held, _)| rank < *held) {
                        best = Some((rank, root));
                    }
                }
            }
            if let Some((_, mut root)) = best {
                let location = &root.description().location;
                tracing::info!(%responder, %location, "using an IGD that is not on the default gateway");
                root.set_on_default_gateway(false);
                return Ok(Outcome::Root(root.with_config(handback)));
            }
        }
    }
    let waited = if ended_early {
        started.elapsed()
    } else {
        options.scan_time
    };
    Err(findings.into_error(waited))
}

/// The known WAN connection service of the gateway's answers: `first` and whatever else it
/// sent in the same batch (the highest version wins), or `None` when the stack is not one of
/// [`KNOWN_STACKS`] or names no WAN connection service.
async fn known_from_batch(
    search: &mut ssdp::Search,
    first: &ssdp::Response,
    responder: IpAddr,
) -> Option<(String, Url)> {
    let mut best = known_service(first);
    let server = first
        .server
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !KNOWN_STACKS
        .iter()
        .any(|(token, _, _)| server.contains(token))
    {
        return None;
    }
    // The newest version searched for needs no wait for the rest of the batch.
    if best.as_ref().is_some_and(|(st, _)| version(st) >= 2) {
        return best;
    }
    let until = tokio::time::Instant::now() + ANSWER_BATCH;
    while let Ok(Some(next)) = tokio::time::timeout_at(until, search.next_response()).await {
        if next.source.ip().to_canonical() != responder {
            continue;
        }
        if let Some(known) = known_service(&next) {
            let newer = best
                .as_ref()
                .is_none_or(|(st, _)| version(&known.0) > version(st));
            if newer {
                best = Some(known);
            }
            if best.as_ref().is_some_and(|(st, _)| version(st) >= 2) {
                break;
            }
        }
    }
    best
}

fn version(service_type: &str) -> u32 {
    crate::description::split_type(service_type).map_or(0, |(_, v)| v)
}

/// Fetches one description; the root device and the rank of its best WAN connection
/// service (see [`connection_rank`]) whose control URL is on the responder, or `None`
/// with the reason noted in `findings`.
async fn try_location(
    options: &DiscoverOptions,
    location: &str,
    responder: IpAddr,
    findings: &mut Findings,
) -> Option<(usize, RootDevice)> {
    let url = match parse_url(location) {
        Ok(url) => url,
        Err(e) => {
            findings
                .tried
                .push((shorten(location, 80), format!("bad LOCATION: {e}")));
            return None;
        }
    };
    let root = match RootDevice::fetch(&url, responder, options.http).await {
        Ok(root) => root,
        Err(error) => {
            tracing::debug!(%url, %error, "not a usable gateway");
            findings
                .tried
                .push((shorten(location, 80), error.to_string()));
            return None;
        }
    };
    match best_connection(&root) {
        Ok(rank) => {
            tracing::debug!(%url, %responder, rank, "a usable igd description");
            Some((rank, root))
        }
        Err(reason) => {
            tracing::debug!(%url, %reason, "not a usable gateway");
            findings.tried.push((shorten(location, 80), reason));
            None
        }
    }
}

/// The rank of the best WAN connection service of `root` whose control URL may be asked,
/// or why there is none.
fn best_connection(root: &RootDevice) -> Result<usize, String> {
    let mut refused = None;
    let mut best = None;
    for service in root.description().services() {
        let Some(rank) = connection_rank(&service.service_type) else {
            continue;
        };
        match root.http().check_url(&service.control_url) {
            Ok(_) => best = Some(best.map_or(rank, |held: usize| held.min(rank))),
            Err(error) => refused = Some(error),
        }
    }
    let skipped = root
        .description()
        .skipped
        .iter()
        .find(|(service_type, _)| connection_rank(service_type).is_some());
    match (best, refused, skipped) {
        (Some(rank), _, _) => Ok(rank),
        (None, Some(error), _) => Err(format!("control url: {error}")),
        (None, None, Some((_, why))) => Err(format!("WAN connection service unusable: {why}")),
        (None, None, None) => Err("no WAN connection service in its description".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback "gateway" answering one `GetExternalIPAddress` per connection; the
    /// requests it saw come out of the channel.
    async fn loopback_igd() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback listener");
        let port = listener.local_addr().expect("its address").port();
        let (seen, requests) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                while !request.ends_with(b"Envelope>") && !request.ends_with(b"Envelope>\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = seen.send(String::from_utf8_lossy(&request).into_owned());
                let body = "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><u:GetExternalIPAddressResponse xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:2\"><NewExternalIPAddress>203.0.113.7</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>";
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        (port, requests)
    }

    #[tokio::test]
    async fn an_operation_after_the_searchs_deadline_passed_is_still_sent() {
        let (port, mut requests) = loopback_igd().await;
        let responder = IpAddr::from([127, 0, 0, 1]);
        let location =
            parse_url(&format!("http://127.0.0.1:{port}/rootDesc.xml")).expect("a location");
        let description = crate::Description::parse(
            include_bytes!("../testdata/miniupnpd/rootDesc.xml"),
            &location,
        )
        .expect("the miniupnpd description parses");
        let caller = Config::default().with_operation_timeout(Duration::from_secs(5));
        // What the search fetched under: its own deadline, passed by the time the first
        // operation runs (an outage, a refresh much later).
        let searched = caller.with_deadline(std::time::Instant::now());
        let found = RootDevice::new(description, responder, searched);

        let carried = Gateway::from_root(&found).await.expect("a gateway");
        let refused = carried.reported_external_address().await;
        assert!(
            refused.is_err_and(|e| e.to_string().contains("deadline")),
            "a client keeping the search's deadline sends nothing"
        );
        assert!(requests.try_recv().is_err(), "nothing was sent");

        // What discovery hands back: the caller's configuration, no deadline of its own.
        let handed_back = found.with_config(caller);
        let gateway = Gateway::from_root(&handed_back).await.expect("a gateway");
        let first = gateway.reported_external_address().await;
        assert_eq!(first.ok(), Some(IpAddr::from([203, 0, 113, 7])));
        let second = gateway.reported_external_address().await;
        assert_eq!(second.ok(), Some(IpAddr::from([203, 0, 113, 7])));
        for _ in 0..2 {
            let request = requests
                .recv()
                .await
                .expect("a request reached the gateway");
            assert!(request.contains("GetExternalIPAddress"), "{request}");
        }
    }
}
