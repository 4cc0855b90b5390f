//! What is published never outlives what the gateway granted: when a mapping's lease ends
//! while its renewal is still waiting for a slow gateway (a re-discovery after an outage),
//! its public address is withdrawn at the end of the lease, not when the attempt gives up.
//! In-process, no network, on tokio's paused clock.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nat_traversal::{
    LossReason, MapRequest, Mapping, MappingEvent, Nat, NatOptions, NatTechnique, Protocol, Result,
    Technique, async_trait,
};
use tokio::time::Instant;

/// Grants 10 s leases; once `slow` is set, every answer takes a minute.
#[derive(Debug, Default)]
struct Slow {
    slow: AtomicBool,
}

impl Slow {
    async fn answer(&self) {
        if self.slow.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    }

    fn grant(port: u16) -> Mapping {
        Mapping::new(
            Technique::Pcp,
            Protocol::Tcp,
            port,
            SocketAddr::new([44, 0, 0, 1].into(), port),
            Duration::from_secs(10),
        )
    }
}

#[async_trait]
impl NatTechnique for Slow {
    fn kind(&self) -> Technique {
        Technique::Pcp
    }

    fn gateway(&self) -> IpAddr {
        [127, 0, 0, 1].into()
    }

    async fn external_address(&self) -> Result<IpAddr> {
        self.answer().await;
        Ok([44, 0, 0, 1].into())
    }

    async fn map(&self, request: &MapRequest) -> Result<Mapping> {
        self.answer().await;
        Ok(Slow::grant(request.internal_port()))
    }

    async fn refresh(&self, mapping: &Mapping, _lifetime: Duration) -> Result<Mapping> {
        self.answer().await;
        Ok(Slow::grant(mapping.internal_port))
    }

    async fn unmap(&self, _mapping: &Mapping) -> Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_public_address_is_withdrawn_when_the_lease_ends_during_a_slow_renewal() {
    let slow = Arc::new(Slow::default());
    let nat = Nat::with_techniques(
        NatOptions::default(),
        vec![Arc::clone(&slow) as Arc<dyn NatTechnique>],
    );
    let granted = Instant::now();
    let mapping = nat
        .persistent(MapRequest::new(Protocol::Tcp, 8080).with_lifetime(Duration::from_secs(10)))
        .start()
        .await
        .unwrap();
    let mut events = mapping.events();
    assert!(matches!(
        events.next().await,
        Some(MappingEvent::Mapped { .. })
    ));
    // The renewal at half the lease (5 s) meets a gateway that takes a minute to answer.
    slow.slow.store(true, Ordering::SeqCst);
    let mut assignments = mapping.assignments();
    while assignments.borrow_and_update().public_address().is_some() {
        assignments.changed().await.unwrap();
    }
    // At the end of the lease, taken a second early (gateways count whole seconds), not
    // when the slow renewal gives up a minute later.
    let withdrawn = granted.elapsed();
    assert!(
        withdrawn >= Duration::from_secs(9) && withdrawn <= Duration::from_secs(10),
        "withdrawn {withdrawn:?} after the grant of a 10 s lease"
    );
    assert!(matches!(
        events.next().await,
        Some(MappingEvent::Lost {
            reason: LossReason::LeaseEnded { .. },
            ..
        })
    ));
    drop(mapping);
}
