//! Following a UPnP IGD's `ExternalIPAddress` through GENA events, so that a UPnP-only
//! router's new external address is noticed at once, as NAT-PMP/PCP announcements are,
//! rather than at the next refresh.
//!
//! Part of the UPnP technique's events, while they are followed:
//! 1. a unicast SSDP search of the gateway gives its description's location, whose WAN
//!    connection service with the technique's control URL gives the `eventSubURL`;
//! 2. an [`EventListener`](upnp_soap::gena::EventListener) on this host's address toward the
//!    gateway takes `NOTIFY`s from the gateway only, and a subscription points it there;
//! 3. each event's `ExternalIPAddress` is sent as
//!    [`TechniqueEvent::ExternalAddressChanged`]; the subscription is renewed at half its
//!    lease.
//!
//! Any failure (no event URL, a refused subscription) ends the round; the next one starts
//! after a pause that grows up to five minutes. When the events stop being followed, the
//! subscription is cancelled in the background (best effort: its short lease ends anyway).

use std::net::IpAddr;
use std::time::Duration;

use upnp_soap::gena::{EventListener, Subscription};
use upnp_soap::{Config, RootDevice, Url};

use crate::technique::{EventSender, TechniqueEvent};

/// The lease asked for: short, so that a subscription left behind (the process killed)
/// expires soon at the router.
const LEASE: Duration = Duration::from_secs(300);

/// The first pause after a failed round, doubled up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(2);
const MAX_PAUSE: Duration = Duration::from_secs(300);

/// Follows the events of the service at `control_url` until nobody listens to `sender`.
pub(super) async fn run(gateway: IpAddr, control_url: Url, timeout: Duration, sender: EventSender) {
    let mut pause = FIRST_PAUSE;
    loop {
        match follow(gateway, &control_url, timeout, &sender).await {
            Ok(()) => return,
            Err(reason) => {
                tracing::debug!(%gateway, %reason, pause_s = pause.as_secs(), "not following the igd's events for now");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

/// Cancels a subscription when dropped (the technique's events are no longer followed).
struct Subscribed {
    subscription: Option<Subscription>,
    timeout: Duration,
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        let (Some(subscription), Ok(runtime)) = (
            self.subscription.take(),
            tokio::runtime::Handle::try_current(),
        ) else {
            return;
        };
        let timeout = self.timeout;
        runtime.spawn(async move {
            let _ = tokio::time::timeout(timeout, subscription.unsubscribe()).await;
        });
    }
}

/// One round: find the event URL, subscribe, and follow events until nobody listens
/// (`Ok`) or something fails (`Err`, with why).
async fn follow(
    gateway: IpAddr,
    control_url: &Url,
    timeout: Duration,
    sender: &EventSender,
) -> Result<(), String> {
    let config = Config::default().with_operation_timeout(timeout);
    let event_url = event_url(gateway, control_url, config).await?;
    let local = netinfo::local_address_toward(gateway).map_err(|e| e.to_string())?;
    let mut listener = EventListener::bind(local, gateway)
        .await
        .map_err(|e| e.to_string())?;
    let http = upnp_soap::HttpClient::new(gateway, config);
    let subscription = Subscription::subscribe(&http, &event_url, listener.callback_url(), LEASE)
        .await
        .map_err(|e| e.to_string())?;
    tracing::debug!(%event_url, sid = %subscription.sid(), "following the igd's events");
    let mut renew = Box::pin(tokio::time::sleep(subscription.renew_after()));
    let mut held = Subscribed {
        subscription: Some(subscription),
        timeout,
    };
    loop {
        let Some(subscription) = held.subscription.as_mut() else {
            return Err("the subscription is gone".to_owned());
        };
        tokio::select! {
            event = listener.next() => {
                let Some(event) = event else {
                    return Err("the event listener stopped".to_owned());
                };
                if event.sid != subscription.sid() {
                    continue;
                }
                if let Some(address) = event.property("ExternalIPAddress").and_then(usable_address) {
                    tracing::debug!(%address, seq = event.seq, "the igd's external address, from an event");
                    if !sender.send(TechniqueEvent::ExternalAddressChanged { address }).await {
                        return Ok(());
                    }
                }
            }
            () = &mut renew => {
                subscription.renew().await.map_err(|e| e.to_string())?;
                renew = Box::pin(tokio::time::sleep(subscription.renew_after()));
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
    let location = upnp_soap::parse_url(&answer.location).map_err(|e| e.to_string())?;
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
