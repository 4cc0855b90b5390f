//! The event bus of a `Nat`: [`NatEvent`]s to persistent mappings and subscribers, with what
//! they are told against (the external address last seen, the last restart, this host's
//! interface addresses).

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::event::NatEvent;
use crate::network::NetworkPath;
use crate::technique::Technique;

/// Restart signals closer together than this are one restart (an announcement and the
/// first answer with a reset epoch usually both report it, and PCP and NAT-PMP both hear
/// the same announcement).
const RESTART_DEBOUNCE: Duration = Duration::from_secs(1);

/// How many events wait for a slow subscriber before it lags.
const CAPACITY: usize = 16;

#[derive(Debug, Default)]
struct Seen {
    external_address: Option<IpAddr>,
    last_restart: Option<Instant>,
    local_addresses: Option<Arc<Vec<IpAddr>>>,
}

#[derive(Debug)]
pub(crate) struct Bus {
    events: broadcast::Sender<NatEvent>,
    seen: Mutex<Seen>,
}

impl Bus {
    pub(crate) fn new() -> Bus {
        Bus {
            events: broadcast::channel(CAPACITY).0,
            seen: Mutex::new(Seen::default()),
        }
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<NatEvent> {
        self.events.subscribe()
    }

    fn send(&self, event: NatEvent) {
        // No subscriber is not an error: nothing is kept.
        let _ = self.events.send(event);
    }

    /// Records the external address a technique reported; a change is told.
    pub(crate) fn observe_external_address(&self, address: IpAddr) {
        let previous = self.seen().external_address.replace(address);
        if previous.is_some_and(|p| p != address) {
            tracing::info!(%address, "the external address changed");
            self.send(NatEvent::ExternalAddressChanged { address });
        }
    }

    /// The gateway lost its state: told once per [`RESTART_DEBOUNCE`]. Returns whether it
    /// was told.
    pub(crate) fn gateway_restarted(&self, technique: Technique, reason: String) -> bool {
        {
            let mut seen = self.seen();
            let now = Instant::now();
            if seen
                .last_restart
                .is_some_and(|at| now.duration_since(at) < RESTART_DEBOUNCE)
            {
                return false;
            }
            seen.last_restart = Some(now);
        }
        tracing::info!(%technique, %reason, "the gateway restarted; mapping again");
        self.send(NatEvent::GatewayRestarted { technique, reason });
        true
    }

    /// A technique no longer works as made.
    pub(crate) fn technique_gone(&self, technique: Technique, reason: String) {
        tracing::info!(%technique, %reason, "a technique is gone; probing again");
        self.seen().last_restart = Some(Instant::now());
        self.send(NatEvent::TechniqueGone { technique, reason });
    }

    /// The path changed: what was seen on the old one is forgotten.
    pub(crate) fn path_changed(&self, previous: Option<NetworkPath>, current: Option<NetworkPath>) {
        self.seen().external_address = None;
        self.send(NatEvent::PathChanged { previous, current });
    }

    /// This host's interface addresses, read once and then kept fresh by the watcher.
    pub(crate) fn local_addresses(&self) -> Arc<Vec<IpAddr>> {
        if let Some(addresses) = &self.seen().local_addresses {
            return Arc::clone(addresses);
        }
        let addresses = Arc::new(super::path::local_addresses());
        self.seen().local_addresses = Some(Arc::clone(&addresses));
        addresses
    }

    /// Stores freshly read interface addresses; a change is told.
    pub(crate) fn update_local_addresses(&self, addresses: Vec<IpAddr>) {
        let changed = {
            let mut seen = self.seen();
            let changed = seen
                .local_addresses
                .as_ref()
                .is_some_and(|old| **old != addresses);
            seen.local_addresses = Some(Arc::new(addresses));
            changed
        };
        if changed {
            self.send(NatEvent::LocalAddressesChanged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn restarts_are_told_once_a_second_and_addresses_only_when_changed() {
        let bus = Bus::new();
        let mut events = bus.subscribe();
        assert!(bus.gateway_restarted(Technique::Pcp, "announcement".into()));
        assert!(!bus.gateway_restarted(Technique::NatPmp, "announcement".into()));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(bus.gateway_restarted(Technique::Pcp, "epoch".into()));
        let address: IpAddr = [44, 0, 0, 1].into();
        bus.observe_external_address(address);
        bus.observe_external_address(address);
        bus.observe_external_address([44, 0, 0, 2].into());
        let mut told = Vec::new();
        while let Ok(event) = events.try_recv() {
            told.push(event);
        }
        assert_eq!(told.len(), 3, "{told:?}");
        assert!(matches!(
            told[2],
            NatEvent::ExternalAddressChanged { address } if address == IpAddr::from([44, 0, 0, 2])
        ));
    }
}
