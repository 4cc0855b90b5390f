//! A technique of your own is first-class: given to `Nat::with_techniques` with a
//! `Technique::Other` kind, it is probed, kept and watched like the built-in ones, and the
//! restart it reports through its own events is followed by mapping again, with no protocol
//! code involved. In-process, no network, on tokio's paused clock.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nat_traversal::{
    MapRequest, Mapping, MappingEvent, Nat, NatEvent, NatOptions, NatTechnique, Protocol, Result,
    Technique, TechniqueEvent, TechniqueEvents, async_trait,
};
use tokio::sync::broadcast;
use tokio::time::Instant;

const RELAY: Technique = Technique::Other("test-relay");

/// A "relay" that forgets its mappings when told it restarted, and says so on its events.
#[derive(Debug)]
struct Relay {
    events: broadcast::Sender<TechniqueEvent>,
    held: Mutex<HashMap<(Protocol, u16), Mapping>>,
    grants: AtomicUsize,
}

impl Relay {
    fn new() -> Arc<Relay> {
        Arc::new(Relay {
            events: broadcast::channel(4).0,
            held: Mutex::new(HashMap::new()),
            grants: AtomicUsize::new(0),
        })
    }

    /// The relay restarts: its table is gone, and it tells its listeners.
    fn restart(&self) {
        self.held.lock().unwrap().clear();
        self.events
            .send(TechniqueEvent::Restarted {
                reason: "the relay said so".into(),
            })
            .unwrap();
    }

    fn grant(&self, protocol: Protocol, port: u16, lifetime: Duration) -> Mapping {
        self.grants.fetch_add(1, Ordering::SeqCst);
        let mapping = Mapping::new(
            RELAY,
            protocol,
            port,
            SocketAddr::new([203, 0, 113, 7].into(), port),
            lifetime,
        );
        self.held
            .lock()
            .unwrap()
            .insert((protocol, port), mapping.clone());
        mapping
    }
}

#[async_trait]
impl NatTechnique for Relay {
    fn kind(&self) -> Technique {
        RELAY
    }

    fn gateway(&self) -> IpAddr {
        [127, 0, 0, 1].into()
    }

    fn events(&self) -> TechniqueEvents {
        TechniqueEvents::from_broadcast(self.events.subscribe())
    }

    async fn external_address(&self) -> Result<IpAddr> {
        Ok([203, 0, 113, 7].into())
    }

    async fn map(&self, request: &MapRequest) -> Result<Mapping> {
        Ok(self.grant(
            request.protocol(),
            request.internal_port(),
            request.lifetime(),
        ))
    }

    async fn refresh(&self, mapping: &Mapping, lifetime: Duration) -> Result<Mapping> {
        Ok(self.grant(mapping.protocol, mapping.internal_port, lifetime))
    }

    async fn unmap(&self, mapping: &Mapping) -> Result<()> {
        self.held
            .lock()
            .unwrap()
            .remove(&(mapping.protocol, mapping.internal_port));
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_restart_told_by_a_technique_of_your_own_is_mapped_again_within_two_seconds() {
    let relay = Relay::new();
    let nat = Nat::with_techniques(
        NatOptions::default(),
        vec![Arc::clone(&relay) as Arc<dyn NatTechnique>],
    );
    // A long lease: nothing but the event can explain a new grant within 2 s.
    let request = MapRequest::new(Protocol::Udp, 9000).with_lifetime(Duration::from_secs(3600));
    let mapping = nat.persistent(request).start().await.unwrap();
    let mut events = mapping.events();
    assert!(matches!(
        events.next().await,
        Some(MappingEvent::Mapped { mapping }) if mapping.technique == RELAY
    ));
    assert_eq!(relay.grants.load(Ordering::SeqCst), 1);
    // Let the watcher subscribe to the relay's events (it starts with the mapping).
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(10)).await;

    let restarted = Instant::now();
    relay.restart();
    while relay.held.lock().unwrap().is_empty() {
        assert!(
            restarted.elapsed() < Duration::from_secs(2),
            "not mapped again within 2 s of the restart"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(relay.grants.load(Ordering::SeqCst), 2);
    assert_eq!(
        mapping.current().public_address(),
        Some("203.0.113.7:9000".parse().unwrap())
    );
    // Mapped again at the same place: no change to report, and no event that the gateway's
    // state does not back.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), events.next())
            .await
            .is_err()
    );
    mapping.stop().await.unwrap();
    assert!(relay.held.lock().unwrap().is_empty(), "deleted on stop");
}

#[tokio::test(start_paused = true)]
async fn the_nat_tells_a_restart_reported_by_a_technique_of_your_own() {
    let relay = Relay::new();
    let nat = Nat::with_techniques(
        NatOptions::default(),
        vec![Arc::clone(&relay) as Arc<dyn NatTechnique>],
    );
    let mut told = nat.subscribe();
    let mapping = nat
        .persistent(MapRequest::new(Protocol::Tcp, 8080).with_lifetime(Duration::from_secs(3600)))
        .start()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    relay.restart();
    let event = tokio::time::timeout(Duration::from_secs(2), told.recv())
        .await
        .expect("told within 2 s")
        .unwrap();
    assert_eq!(
        event,
        NatEvent::GatewayRestarted {
            technique: RELAY,
            reason: "the relay said so".into()
        }
    );
    mapping.stop().await.unwrap();
}
