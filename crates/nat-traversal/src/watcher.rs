//! The one background task per [`Nat`](crate::Nat) that runs while persistent mappings
//! exist: it listens for the gateway's announcements (one socket, fanned out to every
//! mapping as [`GatewayEvent`](crate::GatewayEvent)s), follows the NAT-PMP/PCP clients'
//! epoch resets, and checks the network every `network_check_interval`.

use std::net::IpAddr;
use std::sync::Weak;

use tokio::sync::broadcast;

#[cfg(feature = "pcp")]
use natpmp_proto::tokio::{Announcement, AnnouncementListener, ClientError, Event};
#[cfg(not(feature = "pcp"))]
pub(crate) use quiet::Event;
#[cfg(not(feature = "pcp"))]
use quiet::{Announcement, AnnouncementListener, ClientError};
use tokio::time::MissedTickBehavior;

use crate::nat::{NatInner, Network, read_local_addresses};
use crate::technique::Technique;

/// Runs until the `Nat` is gone or the task is aborted (the last mapping stopped).
pub(crate) async fn run(inner: Weak<NatInner>) {
    let Some(strong) = inner.upgrade() else {
        return;
    };
    let options = strong.options.clone();
    let mut generation = strong.generation();
    drop(strong);

    let mut tick = tokio::time::interval(options.network_check_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;

    let mut listener: Option<(IpAddr, AnnouncementListener)> = None;
    let mut notifications = Notifications::default();
    let mut epochs: Vec<broadcast::Receiver<Event>> = Vec::new();
    let mut network: Option<Network> = None;
    let mut retarget = true;
    loop {
        if retarget {
            retarget = false;
            let Some(strong) = inner.upgrade() else {
                return;
            };
            let (current, receivers) = strong.watch_targets();
            network = current;
            epochs = receivers;
            let gateway = network.map(|n| n.gateway);
            if listener.as_ref().map(|(g, _)| *g) != gateway {
                listener = None;
            }
            notifications
                .retarget(
                    &inner,
                    gateway,
                    options.preference.contains(&Technique::Upnp),
                )
                .await;
            // (The notifications' retarget only binds a socket: it never waits for the
            // network, so the announcement listener below is never late.)
            if let (true, None, Some(gateway)) = (options.announcements, &listener, gateway) {
                match AnnouncementListener::bind(gateway).await {
                    Ok(bound) => listener = Some((gateway, bound)),
                    Err(error) => {
                        tracing::debug!(%gateway, %error, "not listening for announcements")
                    }
                }
            }
        }
        tokio::select! {
            changed = generation.changed() => {
                if changed.is_err() {
                    return;
                }
                retarget = true;
            }
            announcement = next_announcement(&mut listener) => {
                let Some(strong) = inner.upgrade() else {
                    return;
                };
                match announcement {
                    Ok(announcement) => {
                        tracing::debug!(?announcement, "gateway announcement");
                        if announcement.epoch_reset {
                            strong.gateway_restarted();
                        }
                        if let Some(address) = announcement.external_address {
                            strong.observe_external_address(IpAddr::V4(address));
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the announcement listener failed; binding again later");
                        listener = None;
                    }
                }
            }
            restarted = notifications.next_restart() => {
                let Some(strong) = inner.upgrade() else {
                    return;
                };
                if restarted {
                    strong.upnp_restarted();
                } else {
                    // The listener ended: bind again at the next look.
                    retarget = true;
                }
            }
            event = next_epoch_event(&mut epochs) => {
                let Some(strong) = inner.upgrade() else {
                    return;
                };
                match event {
                    Some(Event::EpochReset { version, previous, current }) => {
                        tracing::debug!(%version, previous, current, "epoch reset");
                        strong.gateway_restarted();
                    }
                    Some(_) => {}
                    // A client went away: look again at which ones exist.
                    None => retarget = true,
                }
            }
            _ = tick.tick() => {
                let Some(strong) = inner.upgrade() else {
                    return;
                };
                if let Some(known) = network {
                    let gateway = if strong.follows_default_gateway() {
                        strong.default_gateway().ok()
                    } else {
                        Some(known.gateway)
                    };
                    let local = gateway.and_then(|g| netinfo::local_address_toward(g).ok());
                    if gateway != Some(known.gateway) || local != Some(known.local_address) {
                        tracing::info!(?gateway, ?local, "the gateway or the local address changed");
                        strong.network_changed();
                        retarget = true;
                    }
                }
                strong.update_local_addresses(read_local_addresses());
                if listener.is_none() && options.announcements {
                    retarget = true;
                }
            }
        }
    }
}

async fn next_announcement(
    listener: &mut Option<(IpAddr, AnnouncementListener)>,
) -> Result<Announcement, ClientError> {
    match listener {
        Some((_, listener)) => listener.next().await,
        None => std::future::pending().await,
    }
}

/// The gateway's SSDP notifications, while UPnP is allowed: a restart of its IGD is
/// noticed when it announces itself again, not at the next refresh.
#[derive(Default)]
struct Notifications {
    #[cfg(feature = "upnp")]
    listening: Option<(IpAddr, ssdp::NotifyListener, crate::upnp_watch::BootTracker)>,
    /// What the gateway answers now (its boot id and location), being asked; the
    /// notifications that come meanwhile wait in the listener.
    #[cfg(feature = "upnp")]
    seeding: Option<std::pin::Pin<Box<dyn Future<Output = crate::upnp_watch::BootTracker> + Send>>>,
    /// The task following the IGD's GENA events (its external address).
    #[cfg(feature = "upnp")]
    events: Option<AbortOnDrop>,
}

/// Aborts a spawned task when dropped.
#[cfg(feature = "upnp")]
struct AbortOnDrop(tokio::task::AbortHandle);

#[cfg(feature = "upnp")]
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Notifications {
    /// Listens for `gateway`'s notifications (again), or stops. Only binds a socket.
    async fn retarget(
        &mut self,
        inner: &Weak<NatInner>,
        gateway: Option<IpAddr>,
        upnp_allowed: bool,
    ) {
        #[cfg(feature = "upnp")]
        {
            let current = self.listening.as_ref().map(|(g, _, _)| *g);
            if current == gateway && (self.listening.is_some() || !upnp_allowed) {
                return;
            }
            self.listening = None;
            self.seeding = None;
            self.events = None;
            if let (Some(gateway), true) = (gateway, upnp_allowed) {
                self.events = Some(AbortOnDrop(
                    tokio::spawn(crate::upnp_events::run(inner.clone(), gateway)).abort_handle(),
                ));
                let options = ssdp::ListenOptions::default().ipv6(gateway.is_ipv6());
                match ssdp::listen(&options).await {
                    Ok(listener) => {
                        self.listening = Some((gateway, listener, Default::default()));
                        // One unicast search, bounded, to tell the gateway's next start from
                        // a periodic announcement.
                        self.seeding = Some(Box::pin(async move {
                            let search = ssdp::SearchOptions::new("upnp:rootdevice")
                                .multicast(false)
                                .unicast(std::net::SocketAddr::new(gateway, ssdp::PORT))
                                .scan_time(std::time::Duration::from_secs(1));
                            match ssdp::search_first(&search).await {
                                Ok(Some(answer)) => crate::upnp_watch::BootTracker::seeded(&answer),
                                _ => Default::default(),
                            }
                        }));
                    }
                    Err(error) => {
                        tracing::debug!(%error, "not listening for ssdp notifications");
                    }
                }
            }
        }
        #[cfg(not(feature = "upnp"))]
        let _ = (inner, gateway, upnp_allowed);
    }

    /// `true` when the gateway's IGD restarted; `false` when the listener ended.
    async fn next_restart(&mut self) -> bool {
        #[cfg(feature = "upnp")]
        if self.listening.is_some() {
            if let Some(seeding) = self.seeding.as_mut() {
                let seeded = seeding.as_mut().await;
                self.seeding = None;
                if let Some((_, _, tracker)) = &mut self.listening {
                    *tracker = seeded;
                }
            }
            let Some((gateway, listener, tracker)) = &mut self.listening else {
                return false;
            };
            while let Some(notify) = listener.next_notify().await {
                if !crate::upnp_watch::from_gateway(&notify, *gateway) {
                    continue;
                }
                if tracker.observe(&notify) == crate::upnp_watch::Verdict::Restarted {
                    tracing::debug!(nts = %notify.nts.as_str(), location = ?notify.location, "the gateway's upnp igd restarted");
                    return true;
                }
            }
            self.listening = None;
            return false;
        }
        std::future::pending().await
    }
}

/// The next event of any client; `None` when one of them closed (or lagged: the events
/// it missed are stale anyway).
async fn next_epoch_event(receivers: &mut [broadcast::Receiver<Event>]) -> Option<Event> {
    if receivers.is_empty() {
        return std::future::pending().await;
    }
    loop {
        let mut waits = crate::unordered::Unordered::new();
        for receiver in receivers.iter_mut() {
            waits.push(receiver.recv());
        }
        match waits.next().await? {
            Ok(event) => return Some(event),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// Without NAT-PMP/PCP there are no announcements and no epochs to follow: these stand in
/// for natpmp-proto's types and never yield anything.
#[cfg(not(feature = "pcp"))]
mod quiet {
    use std::net::{IpAddr, Ipv4Addr};

    /// Never made.
    #[derive(Debug)]
    pub(crate) struct Announcement {
        pub(crate) epoch_reset: bool,
        pub(crate) external_address: Option<Ipv4Addr>,
    }

    /// Never bound.
    pub(crate) struct AnnouncementListener(std::convert::Infallible);

    impl AnnouncementListener {
        pub(crate) async fn bind(_gateway: IpAddr) -> Result<AnnouncementListener, ClientError> {
            Err(ClientError)
        }

        pub(crate) async fn next(&mut self) -> Result<Announcement, ClientError> {
            match self.0 {}
        }
    }

    /// Why there is no listener.
    #[derive(Debug)]
    pub(crate) struct ClientError;

    impl std::fmt::Display for ClientError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("built without NAT-PMP/PCP")
        }
    }

    /// Never sent.
    #[derive(Debug, Clone)]
    #[allow(dead_code)]
    pub(crate) enum Event {
        EpochReset {
            version: &'static str,
            previous: u32,
            current: u32,
        },
        Other,
    }
}
