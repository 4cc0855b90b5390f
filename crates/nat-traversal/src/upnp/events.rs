//! What the UPnP technique notices between operations: the IGD's SSDP notifications (a new
//! boot id or location, a goodbye: it restarted, and may now answer at another URL) and,
//! for a WAN connection service, its GENA events (a new external address).

use std::net::IpAddr;
use std::time::Duration;

use upnp_soap::Url;

use super::notify::{BootTracker, Verdict, from_gateway};
use crate::technique::{EventSender, TechniqueEvent, TechniqueEvents};

/// How long the unicast search that seeds the boot tracker may take.
const SEED_SEARCH: Duration = Duration::from_secs(1);

/// The events of the IGD at `gateway`; with `control_url`, its WAN connection service's
/// GENA events too.
pub(super) fn follow(
    gateway: IpAddr,
    control_url: Option<Url>,
    timeout: Duration,
) -> TechniqueEvents {
    TechniqueEvents::spawn(move |sender| async move {
        let notifications = notifications(gateway, sender.clone());
        match control_url {
            Some(control_url) => {
                tokio::join!(
                    notifications,
                    super::gena::run(gateway, control_url, timeout, sender)
                );
            }
            None => notifications.await,
        }
    })
}

/// Listens for the gateway's notifications; a restart ends the technique as made
/// ([`TechniqueEvent::Gone`]): its description may now be at another location.
async fn notifications(gateway: IpAddr, sender: EventSender) {
    let options = ssdp::ListenOptions::default().ipv6(gateway.is_ipv6());
    let mut listener = match ssdp::listen(&options).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::debug!(%error, "not listening for ssdp notifications");
            return;
        }
    };
    // What the gateway answers now (its boot id and location), so that the first
    // announcement after a restart without goodbye (a power cut) is told from a periodic
    // one; notifications that come meanwhile wait in the listener.
    let search = ssdp::SearchOptions::new("upnp:rootdevice")
        .multicast(false)
        .unicast(std::net::SocketAddr::new(gateway, ssdp::PORT))
        .scan_time(SEED_SEARCH);
    let mut tracker = match ssdp::search_first(&search).await {
        Ok(Some(answer)) => BootTracker::seeded(&answer),
        _ => BootTracker::default(),
    };
    while let Some(notify) = listener.next_notify().await {
        if !from_gateway(&notify, gateway) {
            continue;
        }
        if tracker.observe(&notify) == Verdict::Restarted {
            tracing::debug!(nts = %notify.nts.as_str(), location = ?notify.location, "the gateway's upnp igd restarted");
            let reason = format!(
                "the IGD announced itself anew ({})",
                notify.location.as_deref().unwrap_or("no location")
            );
            sender.send(TechniqueEvent::Gone { reason }).await;
            return;
        }
    }
}
