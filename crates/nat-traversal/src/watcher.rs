//! The one background task per [`Nat`](crate::Nat) that runs while persistent mappings
//! exist: it merges the event streams of the techniques in use
//! ([`NatTechnique::events`]) and checks the network when the system tells of a change
//! (routes, addresses, links: [`netinfo::Changes`]), or every `network_check_interval` where
//! it cannot tell. It names no protocol: what a technique notices, and how, is the
//! technique's own business.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::technique::{NatTechnique, TechniqueEvent, TechniqueEvents};
use crate::unordered::Unordered;

/// What the watcher watches: a `Nat`'s core, seen through what the watcher needs.
pub(crate) trait Watched: Send + Sync {
    /// Whether the techniques' events are followed at all.
    fn follows_events(&self) -> bool;
    /// The techniques in use now.
    fn techniques_in_use(&self) -> Vec<Arc<dyn NatTechnique>>;
    /// Told when the techniques in use change.
    fn technique_changes(&self) -> watch::Receiver<u64>;
    /// What a technique noticed.
    fn on_event(&self, technique: &Arc<dyn NatTechnique>, event: TechniqueEvent);
    /// Reads the network again (the path, the interface addresses) and tells what changed.
    fn check_network(&self);
    /// How often [`check_network`](Self::check_network) runs.
    fn check_interval(&self) -> Duration;
}

/// With change notifications from the system, the network is still read this often: a
/// safety net for a change no notification covers (a neighbour's MAC, say).
const NOTIFIED_CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// One technique followed, and its events.
struct Followed {
    technique: Arc<dyn NatTechnique>,
    events: TechniqueEvents,
}

/// Runs until the `Nat` is gone or the task is aborted (the last mapping stopped).
pub(crate) async fn run(watched: Weak<dyn Watched>) {
    let Some(strong) = watched.upgrade() else {
        return;
    };
    let mut changes = strong.technique_changes();
    let mut system = match netinfo::Changes::new() {
        Ok(system) => Some(system),
        Err(error) => {
            tracing::debug!(%error, "no change notifications from the system; polling");
            None
        }
    };
    let interval = match system {
        Some(_) => strong.check_interval().max(NOTIFIED_CHECK_INTERVAL),
        None => strong.check_interval(),
    };
    let mut tick = tokio::time::interval(interval);
    let follows_events = strong.follows_events();
    drop(strong);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;

    let mut followed: Vec<Followed> = Vec::new();
    let mut retarget = true;
    loop {
        if retarget {
            retarget = false;
            let Some(strong) = watched.upgrade() else {
                return;
            };
            if follows_events {
                followed = follow(followed, strong.techniques_in_use());
            }
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                retarget = true;
            }
            (index, event) = next_event(&mut followed) => {
                let Some(strong) = watched.upgrade() else {
                    return;
                };
                match event {
                    Some(event) => {
                        tracing::debug!(technique = %followed[index].technique.kind(), ?event, "technique event");
                        strong.on_event(&followed[index].technique, event);
                    }
                    // That technique stopped reporting: keep it, without events.
                    None => followed[index].events = TechniqueEvents::none(),
                }
            }
            _ = tick.tick() => {
                let Some(strong) = watched.upgrade() else {
                    return;
                };
                strong.check_network();
            }
            told = system_change(&mut system) => {
                if let Err(error) = told {
                    tracing::debug!(%error, "change notifications stopped; polling");
                    system = None;
                    tick = tokio::time::interval(
                        watched.upgrade().map_or(interval, |s| s.check_interval()),
                    );
                    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
                    continue;
                }
                let Some(strong) = watched.upgrade() else {
                    return;
                };
                tracing::debug!("the system told of a network change");
                strong.check_network();
                tick.reset();
            }
        }
    }
}

/// The next change the system tells of (a burst, such as a link going down with its
/// addresses and routes, is one change: [`netinfo::Changes`] waits for it to settle);
/// never, without notifications.
async fn system_change(system: &mut Option<netinfo::Changes>) -> netinfo::Result<()> {
    match system {
        Some(system) => system.changed().await,
        None => std::future::pending().await,
    }
}

/// The streams for `now`, keeping those already followed (a new stream would bind its
/// sockets again, and might miss an event in between).
fn follow(mut before: Vec<Followed>, now: Vec<Arc<dyn NatTechnique>>) -> Vec<Followed> {
    now.into_iter()
        .map(|technique| {
            match before
                .iter()
                .position(|f| Arc::ptr_eq(&f.technique, &technique))
            {
                Some(index) => before.swap_remove(index),
                None => Followed {
                    events: technique.events(),
                    technique,
                },
            }
        })
        .collect()
}

/// The next event of any technique, with its index; `None` for the event when that
/// technique's stream ended.
async fn next_event(followed: &mut [Followed]) -> (usize, Option<TechniqueEvent>) {
    let mut waits = Unordered::new();
    for (index, item) in followed.iter_mut().enumerate() {
        if item.events.is_none() {
            continue;
        }
        waits.push(async move { (index, item.events.next().await) });
    }
    match waits.next().await {
        Some(next) => next,
        None => std::future::pending().await,
    }
}
