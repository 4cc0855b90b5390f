//! Following a UPnP IGD's `ExternalIPAddress` through GENA events, so that a UPnP-only
//! router's new external address is noticed at once, as NAT-PMP/PCP announcements are,
//! rather than at the next refresh.
//!
//! One task per watched gateway, while a UPnP client is in use there:
//! 1. a unicast SSDP search of the gateway gives its description's location, whose WAN
//!    connection service with our control URL gives the `eventSubURL`;
//! 2. an [`EventListener`](upnp_soap::gena::EventListener) on this host's address toward the
//!    gateway takes `NOTIFY`s from the gateway only, and a subscription points it there;
//! 3. each event's `ExternalIPAddress` goes to [`NatInner::observe_external_address`], which
//!    tells every persistent mapping; the subscription is renewed at half its lease.
//!
//! Any failure (no event URL, a refused subscription, the client replaced after a restart)
//! ends the round; the next one starts after a pause that grows up to five minutes.

use std::net::IpAddr;
use std::sync::Weak;
use std::time::Duration;

use upnp_soap::gena::{EventListener, Subscription};
use upnp_soap::{Config, RootDevice, Url};

use crate::nat::NatInner;

/// The lease asked for: short, so that a subscription left behind (the process killed)
/// expires soon at the router.
const LEASE: Duration = Duration::from_secs(300);

/// How often the task looks whether the UPnP client it follows is still the one in use.
const CHECK: Duration = Duration::from_millis(250);

/// The first pause after a failed round, doubled up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(2);
const MAX_PAUSE: Duration = Duration::from_secs(300);

/// Runs until the `Nat` is gone or the task is aborted (the gateway changed, the last
/// persistent mapping stopped).
pub(crate) async fn run(inner: Weak<NatInner>, gateway: IpAddr) {
    let mut pause = FIRST_PAUSE;
    loop {
        let Some(control_url) = current_control_url(&inner, gateway) else {
            if inner.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(CHECK).await;
            continue;
        };
        match follow(&inner, gateway, &control_url).await {
            Ok(()) => pause = FIRST_PAUSE,
            Err(reason) => {
                tracing::debug!(%gateway, %reason, pause_s = pause.as_secs(), "not following the igd's events for now");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

fn current_control_url(inner: &Weak<NatInner>, gateway: IpAddr) -> Option<Url> {
    inner.upgrade()?.upnp_control_url(gateway)
}

/// One round: find the event URL, subscribe, and follow events until the client changes
/// (`Ok`) or something fails (`Err`, with why).
async fn follow(inner: &Weak<NatInner>, gateway: IpAddr, control_url: &Url) -> Result<(), String> {
    let timeout = match inner.upgrade() {
        Some(strong) => strong.options.operation_timeout,
        None => return Ok(()),
    };
    let config = Config::default().with_operation_timeout(timeout);
    let event_url = event_url(gateway, control_url, config).await?;
    let local = netinfo::local_address_toward(gateway).map_err(|e| e.to_string())?;
    let mut listener = EventListener::bind(local, gateway)
        .await
        .map_err(|e| e.to_string())?;
    let http = upnp_soap::HttpClient::new(gateway, config);
    let mut subscription =
        Subscription::subscribe(&http, &event_url, listener.callback_url(), LEASE)
            .await
            .map_err(|e| e.to_string())?;
    tracing::debug!(%event_url, sid = %subscription.sid(), "following the igd's events");
    let mut renew = Box::pin(tokio::time::sleep(subscription.renew_after()));
    let mut check = tokio::time::interval(CHECK);
    loop {
        tokio::select! {
            event = listener.next() => {
                let Some(event) = event else {
                    return Err("the event listener stopped".to_owned());
                };
                if event.sid != subscription.sid() {
                    continue;
                }
                let Some(strong) = inner.upgrade() else {
                    return Ok(());
                };
                if let Some(address) = event.property("ExternalIPAddress").and_then(usable_address) {
                    tracing::debug!(%address, seq = event.seq, "the igd's external address, from an event");
                    strong.observe_external_address(address);
                }
            }
            () = &mut renew => {
                subscription.renew().await.map_err(|e| e.to_string())?;
                renew = Box::pin(tokio::time::sleep(subscription.renew_after()));
            }
            _ = check.tick() => {
                if current_control_url(inner, gateway).as_ref() != Some(control_url) {
                    // Replaced (restart, new port) or gone: best effort, the lease ends anyway.
                    let _ = tokio::time::timeout(timeout, subscription.unsubscribe()).await;
                    return Ok(());
                }
            }
        }
    }
}

/// The `eventSubURL` of the gateway's WAN connection service whose control URL is
/// `control_url`.
async fn event_url(gateway: IpAddr, control_url: &Url, config: Config) -> Result<Url, String> {
    let search = ssdp::SearchOptions::new("upnp:rootdevice")
        .multicast(false)
        .unicast(std::net::SocketAddr::new(gateway, ssdp::PORT))
        .scan_time(Duration::from_secs(2));
    let answer = ssdp::search_first(&search)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the gateway did not answer a unicast search".to_owned())?;
    let location = Url::parse(&answer.location).map_err(|e| e.to_string())?;
    let root = RootDevice::fetch(&location, gateway, config)
        .await
        .map_err(|e| e.to_string())?;
    let service = root
        .description()
        .services()
        .find(|s| &s.control_url == control_url)
        .ok_or_else(|| format!("no service at {control_url} in {location}"))?;
    service
        .event_sub_url
        .clone()
        .ok_or_else(|| format!("the service at {control_url} has no event url"))
}

/// An evented address worth telling: not empty, not unspecified (what an IGD reports while
/// its WAN link is down).
fn usable_address(text: &str) -> Option<IpAddr> {
    let address: IpAddr = text.trim().parse().ok()?;
    (!address.is_unspecified()).then_some(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_addresses_are_told() {
        assert_eq!(usable_address(" 44.0.0.9 "), "44.0.0.9".parse().ok());
        assert_eq!(usable_address("0.0.0.0"), None);
        assert_eq!(usable_address(""), None);
        assert_eq!(usable_address("not an address"), None);
    }
}
