//! The task behind a [`PersistentMapping`](super::PersistentMapping): map, refresh at half
//! the lease, react to the `Nat`'s events, back off on failure, delete on stop; publish the
//! assignments and tell each change.

use std::net::{IpAddr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::events::{ChangeReason, LossReason, MappingEvent};
use super::host::Host;
use super::{AssignmentCallback, Command, Status, lock};
use crate::assignment::{PortAssignment, PortAssignments};
use crate::error::{Error, Result};
use crate::event::NatEvent;
use crate::probe::Selection;
use crate::technique::{MapRequest, Mapping, NatTechnique};

/// How long after this task reported a restart (its answer had a reset epoch) the same
/// restart told back by the `Nat` is ignored.
const OWN_RESTART: Duration = Duration::from_secs(1);

/// How much earlier than its granted lifetime a lease is taken to end (at most a quarter of
/// it): gateways count whole seconds.
const LEASE_MARGIN: Duration = Duration::from_secs(1);

/// The mapping held now.
struct Held {
    technique: Arc<dyn NatTechnique>,
    generation: u64,
    mapping: Mapping,
    expires: Option<Instant>,
    /// Its technique stopped answering: the mapping stays published until its lease ends
    /// (the gateway most likely still holds it), but the next attempt chooses again.
    stale: bool,
}

/// What to do when the wait ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Map,
    Refresh,
}

pub(super) struct Task {
    host: Arc<dyn Host>,
    request: MapRequest,
    bound: Option<SocketAddr>,
    sender: watch::Sender<PortAssignments>,
    callback: Option<AssignmentCallback>,
    status: Arc<Mutex<Status>>,
    events: Option<broadcast::Receiver<NatEvent>>,
    held: Option<Held>,
    /// The last mapping made and its technique, kept after losing it so a new attempt
    /// through the same technique renews it (same PCP nonce) rather than making another.
    last: Option<(Arc<dyn NatTechnique>, Mapping)>,
    failures: u32,
    /// The last error told, so a failure repeated is not told again.
    told_error: Option<String>,
    /// When this task itself reported a gateway restart.
    reported_restart: Option<Instant>,
    /// Why the next attempt runs, when an event caused it.
    trigger: Option<ChangeReason>,
}

impl Task {
    pub(super) fn new(
        host: Arc<dyn Host>,
        request: MapRequest,
        bound: Option<SocketAddr>,
        sender: watch::Sender<PortAssignments>,
        callback: Option<AssignmentCallback>,
        status: Arc<Mutex<Status>>,
    ) -> Task {
        Task {
            events: Some(host.subscribe()),
            host,
            request,
            bound,
            sender,
            callback,
            status,
            held: None,
            last: None,
            failures: 0,
            told_error: None,
            reported_restart: None,
            trigger: None,
        }
    }

    pub(super) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        first: oneshot::Sender<()>,
    ) {
        let _watching = self.host.watch();
        let mut wait = self.establish().await;
        let _ = first.send(());
        loop {
            let deadline = Instant::now() + wait;
            let action = loop {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => break self.due(),
                    command = commands.recv() => match command {
                        Some(Command::RefreshNow) => break self.due(),
                        Some(Command::Stop(reply)) => {
                            let _ = reply.send(self.teardown().await);
                            return;
                        }
                        None => {
                            if let Err(error) = self.teardown().await {
                                tracing::debug!(%error, "could not delete a dropped mapping");
                            }
                            return;
                        }
                    },
                    event = next_event(&mut self.events) => match self.on_event(event) {
                        Some(action) => break action,
                        None => continue,
                    },
                }
            };
            wait = self.attempt(action).await;
            self.trigger = None;
        }
    }

    /// Runs `action`, but withdraws the public address the moment the held mapping's lease
    /// ends, even while the attempt is still waiting for the gateway (a slow re-discovery):
    /// what is published never outlives what the gateway grants. The attempt is then made
    /// again at once, as a new mapping.
    async fn attempt(&mut self, action: Action) -> Duration {
        let expires = self.held.as_ref().and_then(|h| h.expires);
        let Some(expires) = expires else {
            return self.run_action(action).await;
        };
        let ended = tokio::select! {
            biased;
            wait = self.run_action(action) => return wait,
            () = tokio::time::sleep_until(expires) => true,
        };
        if ended {
            self.lease_ended();
        }
        Duration::ZERO
    }

    async fn run_action(&mut self, action: Action) -> Duration {
        match action {
            Action::Map => self.establish().await,
            Action::Refresh => self.refresh().await,
        }
    }

    /// The held mapping's lease ended before a renewal was granted: it is gone.
    fn lease_ended(&mut self) {
        let Some(held) = self.held.take() else {
            return;
        };
        let error =
            lock(&self.status)
                .last_error
                .clone()
                .unwrap_or_else(|| Error::OperationTimedOut {
                    technique: held.mapping.technique,
                    operation: format!("renewal of {}", self.request.describe()),
                    timeout: Duration::ZERO,
                });
        tracing::info!(what = %self.request.describe(), "the lease ended before a renewal was granted");
        self.set_mapping(
            None,
            Some(MappingEvent::Lost {
                previous: held.mapping,
                reason: LossReason::LeaseEnded { error },
            }),
        );
        self.publish();
    }

    fn due(&self) -> Action {
        match &self.held {
            Some(held) if !held.stale => Action::Refresh,
            _ => Action::Map,
        }
    }

    fn on_event(
        &mut self,
        event: std::result::Result<NatEvent, broadcast::error::RecvError>,
    ) -> Option<Action> {
        match event {
            Ok(NatEvent::GatewayRestarted { reason, .. }) => {
                let own = self
                    .reported_restart
                    .is_some_and(|at| at.elapsed() < OWN_RESTART);
                if own {
                    return None;
                }
                self.trigger = Some(ChangeReason::GatewayRestarted { reason });
                Some(self.due())
            }
            Ok(NatEvent::TechniqueGone { technique, reason }) => {
                match self.held.as_mut() {
                    Some(held) if held.technique.kind() == technique => held.stale = true,
                    Some(_) => return None,
                    None => {}
                }
                self.trigger = Some(ChangeReason::GatewayRestarted { reason });
                Some(Action::Map)
            }
            Ok(NatEvent::ExternalAddressChanged { address }) => {
                let current = self.held.as_ref().map(|h| h.mapping.external.ip());
                if current == Some(address) {
                    return None;
                }
                self.trigger = Some(ChangeReason::ExternalAddressChanged);
                Some(self.due())
            }
            Ok(NatEvent::PathChanged {
                previous: from,
                current: to,
            }) => {
                // Delete it at the old gateway while that may still be reachable (the old
                // technique's client still talks to it), in the background.
                if let Some(held) = self.held.take() {
                    let limit = self.host.options().operation_timeout();
                    let previous = held.mapping.clone();
                    let former = from.as_ref().map(|path| path.local_address);
                    tokio::spawn(delete_at_previous_path(held, former, limit));
                    self.set_mapping(
                        None,
                        Some(MappingEvent::Lost {
                            previous,
                            reason: LossReason::PathChanged {
                                previous: from,
                                current: to,
                            },
                        }),
                    );
                }
                self.last = None;
                self.publish();
                Some(Action::Map)
            }
            Ok(NatEvent::LocalAddressesChanged) => {
                self.publish();
                None
            }
            Err(broadcast::error::RecvError::Lagged(_)) => Some(self.due()),
            Err(broadcast::error::RecvError::Closed) => {
                // Cannot happen while we hold the host; never spin on it.
                self.events = None;
                None
            }
        }
    }

    /// Maps (choosing a technique first if none is chosen); returns how long to wait next.
    async fn establish(&mut self) -> Duration {
        // A first mapping with nothing selected yet: the map is the probe (one exchange, not
        // two). Mapping again after a loss renews through the technique found, instead.
        let chosen = match self.last {
            None => self.host.select_mapping(&self.request).await,
            Some(_) => self.host.select().await.map(|s| (s, None)),
        };
        let (selection, probed) = match chosen {
            Ok(chosen) => chosen,
            Err(error) => return self.failed(error, None),
        };
        let technique = Arc::clone(&selection.technique);
        let result = match (probed, &self.last) {
            (Some(mapping), _) => Ok(mapping),
            // Renew through the same technique: same nonce, same port.
            (None, Some((previous, mapping))) if same_technique(previous, &technique) => {
                technique.refresh(mapping, self.request.lifetime()).await
            }
            (None, _) => technique.map(&self.request).await,
        };
        match result {
            Ok(mapping) => {
                self.forget_other_technique(&technique, &mapping);
                self.succeeded(selection, mapping)
            }
            Err(error) => self.failed(error, Some(selection.generation)),
        }
    }

    async fn refresh(&mut self) -> Duration {
        let Some(held) = &self.held else {
            return self.establish().await;
        };
        let technique = Arc::clone(&held.technique);
        let generation = held.generation;
        let mapping = held.mapping.clone();
        let result = technique.refresh(&mapping, self.request.lifetime()).await;
        match result {
            Ok(mapping) => self.succeeded(
                Selection {
                    technique,
                    generation,
                },
                mapping,
            ),
            Err(error) => self.failed(error, Some(generation)),
        }
    }

    /// A mapping made through another technique than `technique` is deleted in the
    /// background, best effort (it may still exist if that technique only timed out).
    ///
    /// Nothing is deleted when the router most likely holds one entry for both: the same
    /// technique made again after a re-probe, or another protocol at the same gateway that
    /// was granted the same external port (miniupnpd shares one table among NAT-PMP, PCP
    /// and UPnP, and deleting the old entry would delete the new one).
    fn forget_other_technique(&mut self, technique: &Arc<dyn NatTechnique>, new: &Mapping) {
        let Some((previous, old)) = self.last.take() else {
            return;
        };
        if same_technique(&previous, technique) {
            return;
        }
        if previous.gateway() == technique.gateway()
            && old.protocol == new.protocol
            && old.external.port() == new.external.port()
        {
            tracing::debug!(old = %old.technique, new = %new.technique, port = new.external.port(), "the new mapping took over the old one's entry; not deleting it");
            return;
        }
        let limit = self.host.options().operation_timeout();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(limit, previous.unmap(&old)).await;
        });
    }

    /// Records where the mapping stands and tells `event`, together (see [`Status`]).
    fn set_mapping(&mut self, mapping: Option<Mapping>, event: Option<MappingEvent>) {
        let mut status = lock(&self.status);
        status.mapping = mapping;
        if let Some(event) = event {
            status.tell(event);
        }
    }

    fn succeeded(&mut self, selection: Selection, mapping: Mapping) -> Duration {
        if self.failures > 0 {
            tracing::info!(what = %self.request.describe(), external = %mapping.external, technique = %mapping.technique, "mapped again");
        }
        self.failures = 0;
        self.told_error = None;
        if mapping.epoch_reset {
            self.reported_restart = Some(Instant::now());
            self.host.answer_showed_restart(mapping.technique);
        }
        self.host.observe_external_address(mapping.external.ip());
        self.request = self
            .request
            .clone()
            .with_external_port(mapping.external.port());
        let wait = self
            .host
            .options()
            .refresh_after(mapping.lifetime, self.request.lifetime());
        // Gateways count leases in whole seconds from when they handled the request, which
        // came before this answer: the lease is taken to end up to a second early, so what
        // is published never outlives what the gateway holds.
        let margin = (mapping.lifetime / 4).min(LEASE_MARGIN);
        let expires = (!mapping.lifetime.is_zero())
            .then(|| Instant::now() + mapping.lifetime.saturating_sub(margin));
        let event = match self.held.as_ref().map(|h| &h.mapping) {
            None => Some(MappingEvent::Mapped {
                mapping: mapping.clone(),
            }),
            Some(previous)
                if previous.external != mapping.external
                    || previous.technique != mapping.technique =>
            {
                let reason = if previous.technique != mapping.technique {
                    ChangeReason::TechniqueChanged {
                        from: previous.technique,
                    }
                } else {
                    self.trigger.clone().unwrap_or(ChangeReason::Renewed)
                };
                Some(MappingEvent::Changed {
                    mapping: mapping.clone(),
                    previous: previous.clone(),
                    reason,
                })
            }
            Some(_) => None,
        };
        {
            let mut status = lock(&self.status);
            status.last_error = None;
        }
        self.set_mapping(Some(mapping.clone()), event);
        self.host
            .pinhole_kept(Some(&mapping), mapping.protocol, mapping.internal_port);
        self.last = Some((Arc::clone(&selection.technique), mapping.clone()));
        self.held = Some(Held {
            technique: selection.technique,
            generation: selection.generation,
            mapping,
            expires,
            stale: false,
        });
        self.publish();
        wait
    }

    fn failed(&mut self, error: Error, generation: Option<u64>) -> Duration {
        self.failures += 1;
        let what = self.request.describe();
        if self.failures == 1 {
            tracing::warn!(%what, %error, "mapping failed; retrying");
        } else {
            tracing::debug!(%what, %error, failures = self.failures, "mapping failed again");
        }
        let unreachable = error.is_unreachable();
        let retry_after = error.retry_after();
        if let (true, Some(generation)) = (unreachable, generation) {
            self.host.invalidate(generation);
        }
        let expired = self
            .held
            .as_ref()
            .is_some_and(|h| h.expires.is_some_and(|at| at <= Instant::now()));
        // A mapping stays published until its lease really ends: a technique that stopped
        // answering (a lost answer, a busy router) has not deleted it.
        let message = error.to_string();
        let repeated = self.told_error.as_deref() == Some(message.as_str());
        let event = if expired {
            self.held.take().map(|held| MappingEvent::Lost {
                previous: held.mapping,
                reason: LossReason::LeaseEnded {
                    error: error.clone(),
                },
            })
        } else if repeated {
            None
        } else {
            Some(match &self.held {
                Some(held) => MappingEvent::RenewalFailed {
                    mapping: held.mapping.clone(),
                    error: error.clone(),
                },
                None => MappingEvent::NotMapped {
                    error: error.clone(),
                },
            })
        };
        if event.is_some() {
            self.told_error = Some(message);
        }
        if let (true, Some(held)) = (unreachable, self.held.as_mut()) {
            held.stale = true;
        }
        lock(&self.status).last_error = Some(error);
        let held = self.held.as_ref().map(|h| h.mapping.clone());
        self.set_mapping(held, event);
        if expired {
            self.publish();
        }
        if unreachable && generation.is_some() && self.failures == 1 {
            // The technique vanished: choose again at once, perhaps finding another.
            return Duration::ZERO;
        }
        // The gateway's own retry hint (a PCP error answer's lifetime) is a floor, bounded
        // by the longest pause the options allow.
        let backoff = self.host.options().backoff(self.failures);
        let backoff = match retry_after {
            Some(hint) => backoff.max(hint.min(self.host.options().retry_max())),
            None => backoff,
        };
        // Wake up when the mapping expires, to stop publishing it.
        match self.held.as_ref().and_then(|h| h.expires) {
            Some(expires) => backoff.min(expires.saturating_duration_since(Instant::now())),
            None => backoff,
        }
    }

    async fn teardown(&mut self) -> Result<()> {
        let result = match self.held.take() {
            Some(held) => {
                let result = delete_patiently(
                    &held.technique,
                    &held.mapping,
                    self.host.options().operation_timeout(),
                )
                .await;
                if result.is_ok() {
                    self.host
                        .pinhole_kept(None, held.mapping.protocol, held.mapping.internal_port);
                }
                result
            }
            None => Ok(()),
        };
        self.last = None;
        lock(&self.status).mapping = None;
        self.deliver(PortAssignments::new());
        result
    }

    /// Publishes the current set: the local addresses and the public one, if held.
    fn publish(&self) {
        let mut set = match self.bound {
            Some(bound) => PortAssignments::local(bound, &self.host.local_addresses()),
            None => PortAssignments::new(),
        };
        if let Some(held) = &self.held {
            set = set.with(PortAssignment {
                address: held.mapping.external,
                technique: Some(held.mapping.technique),
                verified: false,
            });
        }
        self.deliver(set);
    }

    fn deliver(&self, set: PortAssignments) {
        let changed = self.sender.send_if_modified(|current| {
            if *current == set {
                false
            } else {
                *current = set.clone();
                true
            }
        });
        if !changed {
            return;
        }
        tracing::debug!(what = %self.request.describe(), assignments = %set, "assignments changed");
        if let Some(callback) = &self.callback {
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| callback(&set))) {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string payload".to_owned());
                tracing::error!(what = %self.request.describe(), %message, "the assignment callback panicked; the mapping carries on");
            }
        }
    }
}

async fn next_event(
    events: &mut Option<broadcast::Receiver<NatEvent>>,
) -> std::result::Result<NatEvent, broadcast::error::RecvError> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

/// Deletes a kept mapping at the gateway of the path it was made on, after the path changed
/// (in the background, bounded by `limit`).
///
/// While this host still has the address the mapping was made for, its own technique deletes
/// it. When that address is gone (the host was renumbered), no request can come from it any
/// more, and the mapping is deleted from the address the host has now, as a third party
/// ([`NatTechnique::unmap_former`]): gateways that allow it lose the stale rule at once,
/// others refuse, and it stays until its lease ends (said at `info`).
async fn delete_at_previous_path(held: Held, former: Option<IpAddr>, limit: Duration) {
    let gone = former.filter(|address| {
        netinfo::interface_addresses().is_ok_and(|addresses| !addresses.contains(address))
    });
    let external = held.mapping.external;
    let deleted = match gone {
        None => tokio::time::timeout(limit, held.technique.unmap(&held.mapping)).await,
        Some(former) => {
            tokio::time::timeout(limit, held.technique.unmap_former(&held.mapping, former)).await
        }
    };
    match (deleted, gone) {
        (Ok(Ok(())), _) => {
            tracing::debug!(%external, "the previous path's gateway holds the mapping no more")
        }
        (Ok(Err(error)), Some(former)) => tracing::info!(
            %external, %former, %error,
            "the mapping made for this host's former address stays at the gateway until its lease ends"
        ),
        (Ok(Err(error)), None) => {
            tracing::debug!(%external, %error, "mapping at the previous path not deleted")
        }
        (Err(_), _) => {
            tracing::debug!(%external, "the previous path's gateway did not answer the deletion")
        }
    }
}

/// Whether two handles speak the same protocol to the same gateway. A handle made again
/// after a re-probe is a new value, but its mappings are the router's same entries: they
/// are renewed through it, never deleted.
fn same_technique(a: &Arc<dyn NatTechnique>, b: &Arc<dyn NatTechnique>) -> bool {
    Arc::ptr_eq(a, b) || (a.kind() == b.kind() && a.gateway() == b.gateway())
}

/// Deletes `mapping`, trying again while the technique does not answer (a busy router, a
/// lost datagram), with growing, spread-out pauses, for at most twice `limit`: many
/// programs stopping at once must not leave mappings behind.
async fn delete_patiently(
    technique: &Arc<dyn NatTechnique>,
    mapping: &Mapping,
    limit: Duration,
) -> Result<()> {
    let deadline = Instant::now() + limit * 2;
    let mut pause = Duration::from_millis(100);
    // Spread the retries of many mappings apart without a random number generator: the
    // port is as good a seed as any.
    let spread = Duration::from_millis(u64::from(mapping.internal_port % 97) * 3);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let attempt = tokio::time::timeout(remaining.min(limit), technique.unmap(mapping)).await;
        let error = match attempt {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(error)) if !error.is_unreachable() => return Err(error),
            Ok(Err(error)) => error,
            Err(_) => Error::OperationTimedOut {
                technique: mapping.technique,
                operation: format!(
                    "deletion of {} port {}",
                    mapping.protocol, mapping.internal_port
                ),
                timeout: limit,
            },
        };
        if Instant::now() + pause + spread >= deadline {
            return Err(error);
        }
        tracing::debug!(%error, "deletion failed; trying again");
        tokio::time::sleep(pause + spread).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}
