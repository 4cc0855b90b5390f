//! Finding the Internet Gateway Device on the LAN: an SSDP search for the IGD and WAN
//! connection search targets (multicast on every interface, plus a unicast M-SEARCH to the
//! default gateway, which some routers answer only), then the description of each responder
//! in the order they answer, until one has a usable WAN connection service.
//!
//! The search ends on the first usable gateway, not after the scan time: that is what makes
//! `natctl --via upnp` fast next to tools that wait out the whole scan.
//!
//! It comes in two stages. First only `InternetGatewayDevice:1`, which every IGD answers
//! (version 2 devices answer version 1 searches); only if nothing usable answered within
//! [`FIRST_STAGE`] does it search for every target in [`GATEWAY_SEARCH_TARGETS`]. A router
//! answers each target of each M-SEARCH on each path after a random delay, and a
//! single-threaded one like miniupnpd serves HTTP from the same loop: in the lab (while its
//! miniupnpd still logged every line to a slow console), six targets at once slowed the
//! description fetch that followed from ~85 ms to seconds when searches came back to back,
//! and sometimes past the scan time. One target is one answer per path to wait for.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::Url;

use crate::control::RootDevice;
use crate::http::Config;
use crate::igd::{CONNECTION_SERVICE_TYPES, Gateway};

/// The SSDP search targets for a gateway: the device types, the connection services, and
/// the root devices (whose descriptions may hold an IGD deeper in the tree).
pub const GATEWAY_SEARCH_TARGETS: [&str; 6] = [
    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
    "upnp:rootdevice",
];

/// The target searched first: every IGD answers it.
pub const FIRST_SEARCH_TARGET: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";

/// How long the first stage waits for a usable gateway before searching for every target.
pub const FIRST_STAGE: Duration = Duration::from_millis(500);

/// How to look for the gateway.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DiscoverOptions {
    /// How long to wait for answers before giving up (default 2 s).
    pub scan_time: Duration,
    /// Where to send the unicast M-SEARCH (port 1900). `None`: the default IPv4 gateway, when
    /// there is one.
    pub gateway: Option<IpAddr>,
    /// Timeouts and limits for fetching descriptions and calling actions.
    pub http: Config,
    /// Take answers only from [`gateway`](Self::gateway) (a router's own IGD, not another
    /// device on the LAN that also claims to be one).
    pub only_gateway: bool,
}

impl Default for DiscoverOptions {
    fn default() -> DiscoverOptions {
        DiscoverOptions {
            scan_time: Duration::from_secs(2),
            gateway: None,
            http: Config::default(),
            only_gateway: false,
        }
    }
}

impl DiscoverOptions {
    /// Sets the scan time.
    pub fn scan_time(mut self, scan_time: Duration) -> DiscoverOptions {
        self.scan_time = scan_time;
        self
    }

    /// Sets the address for the unicast M-SEARCH.
    pub fn gateway(mut self, gateway: IpAddr) -> DiscoverOptions {
        self.gateway = Some(gateway);
        self
    }

    /// Takes answers only from the gateway (see [`only_gateway`](Self::only_gateway)).
    pub fn only_gateway(mut self, only: bool) -> DiscoverOptions {
        self.only_gateway = only;
        self
    }

    /// Sets the HTTP timeouts and limits.
    pub fn http(mut self, http: Config) -> DiscoverOptions {
        self.http = http;
        self
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
    #[error("no UPnP Internet Gateway Device found within {scan_time:?}{}", describe(.tried))]
    NotFound {
        /// The scan time waited.
        scan_time: Duration,
        /// The responders tried (LOCATION) and why each was not usable.
        tried: Vec<(String, String)>,
    },
}

fn describe(tried: &[(String, String)]) -> String {
    if tried.is_empty() {
        return String::new();
    }
    let reasons: Vec<String> = tried
        .iter()
        .map(|(location, reason)| format!("{location}: {reason}"))
        .collect();
    format!(" (tried {})", reasons.join("; "))
}

/// Searches for the gateway and returns its first usable WAN connection service.
pub async fn discover(options: &DiscoverOptions) -> Result<Gateway, DiscoverError> {
    let root = discover_root(options).await?;
    Gateway::from_root(&root)
        .await
        .map_err(|error| DiscoverError::NotFound {
            scan_time: options.scan_time,
            tried: vec![(root.description().location.to_string(), error.to_string())],
        })
}

/// Searches for the gateway and returns the first root device (with its description) that
/// holds a WAN connection service somewhere in its tree.
pub async fn discover_root(options: &DiscoverOptions) -> Result<RootDevice, DiscoverError> {
    let started = tokio::time::Instant::now();
    let mut seen = std::collections::HashSet::new();
    let mut tried = Vec::new();
    let first_stage = FIRST_STAGE.min(options.scan_time);
    if let Some(root) = search_stage(
        options,
        &[FIRST_SEARCH_TARGET],
        first_stage,
        &mut seen,
        &mut tried,
    )
    .await?
    {
        return Ok(root);
    }
    let rest = options.scan_time.saturating_sub(started.elapsed());
    if !rest.is_zero() {
        if let Some(root) = search_stage(
            options,
            &GATEWAY_SEARCH_TARGETS,
            rest,
            &mut seen,
            &mut tried,
        )
        .await?
        {
            return Ok(root);
        }
    }
    Err(DiscoverError::NotFound {
        scan_time: options.scan_time,
        tried,
    })
}

/// One search for `targets` lasting at most `scan_time`; the first usable root device wins.
async fn search_stage(
    options: &DiscoverOptions,
    targets: &[&str],
    scan_time: Duration,
    seen: &mut std::collections::HashSet<String>,
    tried: &mut Vec<(String, String)>,
) -> Result<Option<RootDevice>, DiscoverError> {
    let unicast = options
        .gateway
        .or_else(|| netinfo::default_gateway().ok().map(IpAddr::V4))
        .map(|gateway| SocketAddr::new(gateway, ssdp::PORT));
    let mut search_options = ssdp::SearchOptions::default()
        .targets(targets.iter().copied())
        .scan_time(scan_time);
    if let Some(unicast) = unicast {
        search_options = search_options.unicast(unicast);
    }
    let mut search = ssdp::search_with(&search_options).await?;
    let gateway = unicast.map(|u| u.ip());
    while let Some(response) = search.next_response().await {
        if options.only_gateway && gateway != Some(response.source.ip()) {
            tracing::debug!(from = %response.source, "ignoring an answer that is not the gateway's");
            continue;
        }
        if !seen.insert(response.location.clone()) {
            continue;
        }
        let location = match Url::parse(&response.location) {
            Ok(location) => location,
            Err(e) => {
                tried.push((response.location.clone(), format!("bad LOCATION: {e}")));
                continue;
            }
        };
        match RootDevice::fetch(&location, response.source.ip(), options.http).await {
            Ok(root) => {
                let has_connection = CONNECTION_SERVICE_TYPES
                    .iter()
                    .any(|t| root.description().find_service(t).is_some());
                if has_connection {
                    tracing::debug!(%location, responder = %response.source, "found the gateway");
                    search.stop();
                    return Ok(Some(root));
                }
                tried.push((
                    response.location.clone(),
                    "no WAN connection service in its description".to_owned(),
                ));
            }
            Err(error) => {
                tracing::debug!(%location, %error, "not a usable gateway");
                tried.push((response.location.clone(), error.to_string()));
            }
        }
    }
    Ok(None)
}
