//! Persistent mappings against in-process fake techniques: no network, simulated time.
//! Callback panics, refresh timing, backoff, falling back to another technique, restarts,
//! stop and drop.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nat_traversal::{
    Error, MapRequest, Mapping, Nat, NatEvent, NatOptions, NatTechnique, PortAssignments, Protocol,
    Result, Technique, async_trait,
};
use tokio::time::Instant;

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Answer,
    /// Like a gateway whose port is closed: the technique looks gone.
    Vanish,
    /// Like a gateway that refuses: the technique is there but says no.
    Refuse,
}

#[derive(Debug)]
struct Fake {
    kind: Technique,
    behaviour: Mutex<Behaviour>,
    address: Mutex<IpAddr>,
    lifetime: Duration,
    /// Set to make the next answer carry a reset epoch.
    reset_next: Mutex<bool>,
    held: Mutex<HashMap<(Protocol, u16), Mapping>>,
    maps: AtomicUsize,
    refreshes: AtomicUsize,
    unmaps: AtomicUsize,
    /// Unmap calls, answered or not.
    unmap_attempts: AtomicUsize,
    calls: Mutex<Vec<Instant>>,
}

impl Fake {
    fn new(kind: Technique, lifetime: Duration) -> Arc<Fake> {
        Arc::new(Fake {
            kind,
            behaviour: Mutex::new(Behaviour::Answer),
            address: Mutex::new("44.0.0.1".parse().unwrap()),
            lifetime,
            reset_next: Mutex::new(false),
            held: Mutex::new(HashMap::new()),
            maps: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
            unmaps: AtomicUsize::new(0),
            unmap_attempts: AtomicUsize::new(0),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    fn check(&self) -> Result<()> {
        self.calls.lock().unwrap().push(Instant::now());
        match *self.behaviour.lock().unwrap() {
            Behaviour::Answer => Ok(()),
            Behaviour::Vanish => Err(Error::OperationTimedOut {
                technique: self.kind,
                operation: "fake operation".into(),
                timeout: Duration::from_secs(1),
            }),
            Behaviour::Refuse => Err(Error::other(self.kind, "refused")),
        }
    }

    fn grant(&self, protocol: Protocol, internal_port: u16, external_port: u16) -> Mapping {
        let external = SocketAddr::new(*self.address.lock().unwrap(), external_port);
        let mut mapping = Mapping::new(self.kind, protocol, internal_port, external, self.lifetime);
        mapping.epoch_reset = std::mem::take(&mut *self.reset_next.lock().unwrap());
        self.held
            .lock()
            .unwrap()
            .insert((protocol, internal_port), mapping.clone());
        mapping
    }

    fn held(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

#[async_trait]
impl NatTechnique for Fake {
    fn kind(&self) -> Technique {
        self.kind
    }

    fn gateway(&self) -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    async fn external_address(&self) -> Result<IpAddr> {
        self.check()?;
        Ok(*self.address.lock().unwrap())
    }

    async fn map(&self, request: &MapRequest) -> Result<Mapping> {
        self.check()?;
        self.maps.fetch_add(1, Ordering::SeqCst);
        Ok(self.grant(
            request.protocol(),
            request.internal_port(),
            request.external_port(),
        ))
    }

    async fn refresh(&self, mapping: &Mapping, _lifetime: Duration) -> Result<Mapping> {
        self.check()?;
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(self.grant(
            mapping.protocol,
            mapping.internal_port,
            mapping.external.port(),
        ))
    }

    async fn unmap(&self, mapping: &Mapping) -> Result<()> {
        self.unmap_attempts.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.unmaps.fetch_add(1, Ordering::SeqCst);
        self.held
            .lock()
            .unwrap()
            .remove(&(mapping.protocol, mapping.internal_port));
        Ok(())
    }
}

fn nat(techniques: &[&Arc<Fake>]) -> Nat {
    // The fakes stand for every technique whatever features this build has.
    let options = NatOptions::default()
        .with_preference(Technique::ALL)
        .with_retry(Duration::from_secs(1), Duration::from_secs(8));
    Nat::with_techniques(
        options,
        techniques
            .iter()
            .map(|t| Arc::clone(*t) as Arc<dyn NatTechnique>)
            .collect(),
    )
}

fn public(set: &PortAssignments) -> Option<(SocketAddr, Technique)> {
    set.public()
        .next()
        .map(|a| (a.address, a.technique.unwrap()))
}

#[tokio::test(start_paused = true)]
async fn a_panicking_callback_does_not_kill_the_mapping() {
    let pcp = Fake::new(Technique::Pcp, Duration::from_secs(60));
    let nat = nat(&[&pcp]);
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let mapping = nat
        .persistent(MapRequest::new(Protocol::Tcp, 8080))
        .local_address("192.168.1.5:8080".parse().unwrap())
        .on_change(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
            panic!("the callback fails");
        })
        .start()
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        public(&mapping.current()),
        Some(("44.0.0.1:8080".parse().unwrap(), Technique::Pcp))
    );

    // The task lives on: it refreshes, and publishes a new address (calling the callback,
    // which panics again).
    *pcp.address.lock().unwrap() = "44.0.0.9".parse().unwrap();
    let mut changes = mapping.assignments();
    changes.borrow_and_update();
    mapping.refresh_now().unwrap();
    changes.changed().await.unwrap();
    assert_eq!(
        public(&changes.borrow()),
        Some(("44.0.0.9:8080".parse().unwrap(), Technique::Pcp))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_secs(95)).await;
    assert!(pcp.refreshes.load(Ordering::SeqCst) >= 4);
    mapping.stop().await.unwrap();
    assert_eq!(pcp.held(), 0);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the empty set was published too"
    );
}

#[tokio::test(start_paused = true)]
async fn refreshes_at_half_the_lifetime_and_asks_for_the_same_port() {
    let pcp = Fake::new(Technique::Pcp, Duration::from_secs(60));
    let nat = nat(&[&pcp]);
    let started = Instant::now();
    let mapping = nat
        .persistent(MapRequest::new(Protocol::Udp, 9000).with_external_port(0))
        .start()
        .await
        .unwrap();
    assert_eq!(pcp.maps.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_secs(100)).await;
    // Refreshes at 30, 60, 90 s.
    assert_eq!(pcp.refreshes.load(Ordering::SeqCst), 3);
    let calls = pcp.calls.lock().unwrap().clone();
    let offsets: Vec<u64> = calls.iter().map(|t| (*t - started).as_secs()).collect();
    assert_eq!(
        offsets,
        [0, 30, 60, 90],
        "the map is the probe, then refreshes"
    );
    assert_eq!(mapping.mapping().unwrap().external.port(), 0);
    mapping.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_exponentially_up_to_the_cap() {
    let pcp = Fake::new(Technique::Pcp, Duration::from_secs(60));
    let nat = nat(&[&pcp]);
    let mapping = nat
        .persistent(MapRequest::new(Protocol::Tcp, 8080))
        .start()
        .await
        .unwrap();
    pcp.set(Behaviour::Refuse);
    let refused_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(30)).await;
    pcp.calls.lock().unwrap().clear();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let calls = pcp.calls.lock().unwrap().clone();
    let offsets: Vec<u64> = calls
        .iter()
        .map(|t| (*t - refused_from).as_secs())
        .collect();
    // The refresh at 30 s fails, then 1, 2, 4, 8, 8, ... s apart, with one extra attempt
    // when the mapping expires (60 s after it was granted, taken a second early: gateways
    // count whole seconds).
    assert_eq!(
        offsets,
        [30, 31, 33, 37, 45, 53, 59, 67, 75, 83],
        "{offsets:?}"
    );
    assert!(
        mapping
            .last_error()
            .unwrap()
            .to_string()
            .contains("refused")
    );
    // Refused, not gone: the mapping is kept until it expires (60 s after the last grant).
    assert!(mapping.current().public_address().is_none());
    pcp.set(Behaviour::Answer);
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(mapping.current().public_address().is_some());
    assert!(mapping.last_error().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_vanished_technique_falls_back_to_the_next_one() {
    let pcp = Fake::new(Technique::Pcp, Duration::from_secs(60));
    let upnp = Fake::new(Technique::Upnp, Duration::from_secs(60));
    let nat = nat(&[&upnp, &pcp]);
    let mapping = nat
        .persistent(MapRequest::new(Protocol::Tcp, 8080))
        .start()
        .await
        .unwrap();
    assert_eq!(mapping.technique(), Some(Technique::Pcp));
    let report = nat.last_report().unwrap();
    assert_eq!(report.selected(), Some(Technique::Pcp));

    pcp.set(Behaviour::Vanish);
    let mut changes = mapping.assignments();
    mapping.refresh_now().unwrap();
    let started = Instant::now();
    loop {
        changes.changed().await.unwrap();
        if public(&changes.borrow()).is_some_and(|(_, t)| t == Technique::Upnp) {
            break;
        }
    }
    assert!(started.elapsed() < Duration::from_millis(10), "at once");
    assert_eq!(upnp.held(), 1);
    // PCP comes back: it is preferred, but nothing forces a switch while UPnP works.
    pcp.set(Behaviour::Answer);
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(mapping.technique(), Some(Technique::Upnp));
    // UPnP was granted the port PCP had, at the same gateway: that is one entry at the
    // router, and deleting the PCP mapping would delete it.
    assert_eq!(pcp.unmap_attempts.load(Ordering::SeqCst), 0);
    mapping.stop().await.unwrap();
    assert_eq!(upnp.held(), 0);
}

/// A re-probe makes the technique's handle anew (the facade drops a UPnP client that stopped
/// answering). The router's entry is the same one: it must be renewed through the new handle,
/// never deleted through the old one, which would remove the mapping just made.
#[tokio::test(start_paused = true)]
async fn a_technique_found_again_renews_its_mapping_and_never_deletes_it() {
    let first = Fake::new(Technique::Upnp, Duration::from_secs(60));
    let again = Fake::new(Technique::Upnp, Duration::from_secs(60));
    let nat = nat(&[&first, &again]);
    let mapping = nat
        .persistent(MapRequest::new(Protocol::Udp, 6220))
        .start()
        .await
        .unwrap();
    assert_eq!(first.held(), 1);

    first.set(Behaviour::Vanish);
    mapping.refresh_now().unwrap();
    // The mapping stays published throughout (the router still holds it), so there is no
    // change to wait for: poll.
    for _ in 0..100 {
        if again.held() > 0 {
            break;
        }
        assert!(
            mapping.current().public_address().is_some(),
            "withdrawn while the router still held it"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(again.refreshes.load(Ordering::SeqCst), 1, "renewed");
    assert_eq!(
        again.maps.load(Ordering::SeqCst),
        0,
        "not made as a new mapping"
    );
    assert_eq!(
        first.unmap_attempts.load(Ordering::SeqCst),
        0,
        "not deleted"
    );
    assert_eq!(
        public(&mapping.assignments().borrow()),
        Some(("44.0.0.1:6220".parse().unwrap(), Technique::Upnp))
    );
    mapping.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn no_technique_is_reported_and_retried() {
    let pcp = Fake::new(Technique::Pcp, Duration::from_secs(60));
    pcp.set(Behaviour::Vanish);
    let nat = nat(&[&pcp]);
    let error = nat.selected_technique().await.unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("no technique available at gateway 127.0.0.1"),
        "{error}"
    );
    let mapping = nat
        .persistent(MapRequest::new(Protocol::Tcp, 8080))
        .start()
        .await
        .unwrap();
    assert!(mapping.current().is_empty());
    assert!(
        mapping
            .last_error()
            .unwrap()
            .to_string()
            .contains("no technique available")
    );
    pcp.set(Behaviour::Answer);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mapping.technique(), Some(Technique::Pcp));
}

#[tokio::test(start_paused = true)]
async fn an_epoch_reset_seen_by_one_mapping_remaps_the_others() {
    let pcp = Fake::new(Technique::Pcp, Duration::from_secs(3600));
    let nat = nat(&[&pcp]);
    let mut events = nat.subscribe();
    let mut mappings = Vec::new();
    for port in 7000..7010 {
        mappings.push(
            nat.persistent(MapRequest::new(Protocol::Udp, port))
                .start()
                .await
                .unwrap(),
        );
    }
    assert_eq!(pcp.held(), 10);
    // The gateway "restarts": it forgets everything; the next answer shows the reset.
    pcp.held.lock().unwrap().clear();
    *pcp.reset_next.lock().unwrap() = true;
    mappings[3].refresh_now().unwrap();
    assert!(matches!(
        events.recv().await.unwrap(),
        NatEvent::GatewayRestarted { .. }
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pcp.held(), 10, "every mapping was made again");
    // One refresh each: the reporter does not refresh again for its own report.
    assert_eq!(pcp.refreshes.load(Ordering::SeqCst), 10);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_deletes_in_the_background() {
    let pcp = Fake::new(Technique::Pcp, Duration::from_secs(60));
    let nat = nat(&[&pcp]);
    let mapping = nat
        .persistent(MapRequest::new(Protocol::Tcp, 8080))
        .start()
        .await
        .unwrap();
    let changes = mapping.assignments();
    assert_eq!(pcp.held(), 1);
    drop(mapping);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(pcp.held(), 0);
    assert_eq!(pcp.unmaps.load(Ordering::SeqCst), 1);
    assert!(changes.borrow().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_thousand_mappings_share_one_probe() {
    let pcp = Fake::new(Technique::Pcp, Duration::from_secs(60));
    let nat = nat(&[&pcp]);
    let starts = (0..1000u16).map(|i| {
        nat.persistent(MapRequest::new(Protocol::Udp, 10_000 + i))
            .start()
    });
    let mappings = futures_util::future::join_all(starts).await;
    assert_eq!(pcp.held(), 1000);
    assert_eq!(
        pcp.calls.lock().unwrap().len(),
        1000,
        "the first map is the probe: 1000 maps, no extra exchange"
    );
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(pcp.refreshes.load(Ordering::SeqCst), 2000);
    drop(mappings);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(pcp.held(), 0);
}

/// A technique that stops answering has not deleted anything: the mapping stays published
/// until its lease ends, then is withdrawn.
#[tokio::test(start_paused = true)]
async fn a_silent_gateway_keeps_the_mapping_published_until_its_lease_ends() {
    let pcp = Fake::new(Technique::Pcp, Duration::from_secs(60));
    let nat = nat(&[&pcp]);
    let mapping = nat
        .persistent(MapRequest::new(Protocol::Udp, 6300))
        .start()
        .await
        .unwrap();
    pcp.set(Behaviour::Vanish);
    mapping.refresh_now().unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(mapping.last_error().is_some(), "it did fail");
    assert!(
        mapping.current().public_address().is_some(),
        "withdrawn 20 s into a 60 s lease"
    );
    tokio::time::sleep(Duration::from_secs(45)).await;
    assert!(
        mapping.current().public_address().is_none(),
        "still published after the lease ended"
    );
    pcp.set(Behaviour::Answer);
    mapping.stop().await.unwrap();
}

/// Stopping while the gateway is briefly too busy to answer still deletes the mapping.
#[tokio::test(start_paused = true)]
async fn stop_tries_again_while_the_gateway_does_not_answer() {
    let pcp = Fake::new(Technique::Pcp, Duration::from_secs(600));
    let nat = nat(&[&pcp]);
    let mapping = nat
        .persistent(MapRequest::new(Protocol::Tcp, 6310))
        .start()
        .await
        .unwrap();
    pcp.set(Behaviour::Vanish);
    let busy = Arc::clone(&pcp);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        busy.set(Behaviour::Answer);
    });
    mapping.stop().await.unwrap();
    assert_eq!(pcp.held(), 0);
    assert!(pcp.unmap_attempts.load(Ordering::SeqCst) >= 2);
}
