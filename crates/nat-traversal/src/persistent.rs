//! [`PersistentMapping`]: one lightweight task per mapping that keeps it alive, follows the
//! gateway's restarts and address changes, falls back to another technique, and publishes
//! the socket's [`PortAssignments`].

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::assignment::{PortAssignment, PortAssignments};
use crate::error::{Error, Result};
use crate::nat::{GatewayEvent, Nat, Selection};
use crate::technique::{MapRequest, Mapping, NatTechnique, Technique};

/// Called with every new set of assignments. It runs on the mapping's task: keep it short
/// and do not block. A panic in it is caught and logged; the mapping carries on.
pub type AssignmentCallback = Box<dyn Fn(&PortAssignments) + Send + Sync + 'static>;

/// How a [`PersistentMapping`] starts; made by [`Nat::persistent`].
pub struct PersistentMappingBuilder {
    nat: Nat,
    request: MapRequest,
    bound: Option<SocketAddr>,
    callback: Option<AssignmentCallback>,
}

impl std::fmt::Debug for PersistentMappingBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentMappingBuilder")
            .field("request", &self.request)
            .field("bound", &self.bound)
            .field("callback", &self.callback.is_some())
            .finish_non_exhaustive()
    }
}

impl PersistentMappingBuilder {
    pub(crate) fn new(nat: Nat, request: MapRequest) -> PersistentMappingBuilder {
        PersistentMappingBuilder {
            nat,
            request,
            bound: None,
            callback: None,
        }
    }

    /// Also publishes the local addresses of a socket bound to `bound` (every interface
    /// address for a wildcard), as assignments without technique.
    pub fn local_address(mut self, bound: SocketAddr) -> PersistentMappingBuilder {
        self.bound = Some(bound);
        self
    }

    /// Calls `callback` with every new set of assignments (see [`AssignmentCallback`]).
    pub fn on_change(
        mut self,
        callback: impl Fn(&PortAssignments) + Send + Sync + 'static,
    ) -> PersistentMappingBuilder {
        self.callback = Some(Box::new(callback));
        self
    }

    /// Starts the mapping's task on the current tokio runtime and returns after the first
    /// attempt, so [`PersistentMapping::current`] already shows its outcome. A failed first
    /// attempt is not an error: the task keeps trying (see
    /// [`PersistentMapping::last_error`]).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub async fn start(self) -> PersistentMapping {
        let (sender, receiver) = watch::channel(PortAssignments::new());
        let (error_sender, errors) = watch::channel(None);
        let (commands, command_receiver) = mpsc::unbounded_channel();
        let (first, first_done) = oneshot::channel();
        let status = Arc::new(Mutex::new(Status::default()));
        let what = self.request.describe();
        let task = Task {
            events: Some(self.nat.inner.subscribe()),
            nat: self.nat,
            last: None,
            request: self.request,
            bound: self.bound,
            sender,
            callback: self.callback,
            status: Arc::clone(&status),
            errors: error_sender,
            held: None,
            failures: 0,
            reported_restart: None,
        };
        tokio::spawn(task.run(command_receiver, first));
        let _ = first_done.await;
        PersistentMapping {
            commands,
            assignments: receiver,
            errors,
            status,
            what,
        }
    }
}

#[derive(Debug, Default)]
struct Status {
    mapping: Option<Mapping>,
    last_error: Option<String>,
}

#[derive(Debug)]
enum Command {
    RefreshNow,
    Stop(oneshot::Sender<Result<()>>),
}

/// A port mapping kept alive in the background.
///
/// Its task refreshes the mapping at half the granted lifetime (or every
/// [`NatOptions::refresh_interval`](crate::NatOptions::refresh_interval)), asking for the same
/// external port; retries with exponential backoff after a failure; maps again at once when
/// the gateway restarts (an announcement or a reset epoch), when its external address
/// changes, or when the network changes; and probes again, possibly switching technique,
/// when the technique stops answering. Each new set of [`PortAssignments`] goes out on a
/// `watch` channel and to the optional callback.
///
/// [`stop`](Self::stop) deletes the mapping at the gateway and publishes the empty set.
/// Dropping the handle does the same in the background, on the mapping's runtime.
#[derive(Debug)]
pub struct PersistentMapping {
    commands: mpsc::UnboundedSender<Command>,
    assignments: watch::Receiver<PortAssignments>,
    errors: watch::Receiver<Option<String>>,
    status: Arc<Mutex<Status>>,
    what: String,
}

impl PersistentMapping {
    /// The assignments, now and as they change.
    pub fn assignments(&self) -> watch::Receiver<PortAssignments> {
        self.assignments.clone()
    }

    /// The assignments now.
    pub fn current(&self) -> PortAssignments {
        self.assignments.borrow().clone()
    }

    /// The mapping held at the gateway now, if there is one.
    pub fn mapping(&self) -> Option<Mapping> {
        lock(&self.status).mapping.clone()
    }

    /// The technique that holds the mapping now.
    pub fn technique(&self) -> Option<Technique> {
        lock(&self.status).mapping.as_ref().map(|m| m.technique)
    }

    /// Why the last attempt failed, if it did (cleared by the next success).
    pub fn last_error(&self) -> Option<String> {
        lock(&self.status).last_error.clone()
    }

    /// Why the last attempt failed, now and as it changes: `Some` after each failure (a
    /// repeated failure with the same message is not sent again), `None` after a success.
    /// With [`assignments`](Self::assignments) this tells a caller "not mapped: why; still
    /// trying" instead of silence.
    pub fn errors(&self) -> watch::Receiver<Option<String>> {
        self.errors.clone()
    }

    /// Refreshes now rather than when due (or maps, if there is no mapping).
    ///
    /// # Errors
    /// [`Error::Stopped`] when the task is gone.
    pub fn refresh_now(&self) -> Result<()> {
        self.commands
            .send(Command::RefreshNow)
            .map_err(|_| self.stopped())
    }

    /// Deletes the mapping at the gateway, publishes the empty set and ends the task.
    ///
    /// # Errors
    /// The technique's error when the deletion failed (the set is published empty anyway);
    /// [`Error::Stopped`] when the task was already gone.
    pub async fn stop(self) -> Result<()> {
        let (reply, done) = oneshot::channel();
        self.commands
            .send(Command::Stop(reply))
            .map_err(|_| self.stopped())?;
        done.await.map_err(|_| self.stopped())?
    }

    fn stopped(&self) -> Error {
        Error::Stopped {
            what: self.what.clone(),
        }
    }
}

async fn next_event(
    events: &mut Option<broadcast::Receiver<GatewayEvent>>,
) -> std::result::Result<GatewayEvent, broadcast::error::RecvError> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
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

fn lock(status: &Mutex<Status>) -> MutexGuard<'_, Status> {
    status.lock().unwrap_or_else(|p| p.into_inner())
}

/// The mapping held now.
struct Held {
    technique: Arc<dyn NatTechnique>,
    generation: u64,
    mapping: Mapping,
    expires: Option<Instant>,
    /// Its technique stopped answering: the mapping stays published until its lease ends
    /// (the gateway most likely still holds it), but the next attempt probes again.
    stale: bool,
}

/// What to do when the wait ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Map,
    Refresh,
}

struct Task {
    nat: Nat,
    request: MapRequest,
    bound: Option<SocketAddr>,
    sender: watch::Sender<PortAssignments>,
    callback: Option<AssignmentCallback>,
    status: Arc<Mutex<Status>>,
    errors: watch::Sender<Option<String>>,
    events: Option<broadcast::Receiver<GatewayEvent>>,
    held: Option<Held>,
    /// The last mapping made and its technique, kept after losing it so a new attempt
    /// through the same technique renews it (same PCP nonce) rather than making another.
    last: Option<(Arc<dyn NatTechnique>, Mapping)>,
    failures: u32,
    /// When this task itself reported a gateway restart (its answer had a reset epoch).
    reported_restart: Option<Instant>,
}

impl Task {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        first: oneshot::Sender<()>,
    ) {
        let _watching = self.nat.inner.watch();
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
            wait = match action {
                Action::Map => self.establish().await,
                Action::Refresh => self.refresh().await,
            };
        }
    }

    fn due(&self) -> Action {
        match &self.held {
            Some(held) if !held.stale => Action::Refresh,
            _ => Action::Map,
        }
    }

    fn on_event(
        &mut self,
        event: std::result::Result<GatewayEvent, broadcast::error::RecvError>,
    ) -> Option<Action> {
        match event {
            Ok(GatewayEvent::Restarted) => {
                let own = self
                    .reported_restart
                    .is_some_and(|at| at.elapsed() < Duration::from_secs(1));
                (!own).then(|| self.due())
            }
            Ok(GatewayEvent::ExternalAddressChanged { address }) => {
                let current = self.held.as_ref().map(|h| h.mapping.external.ip());
                (current != Some(address)).then(|| self.due())
            }
            Ok(GatewayEvent::NetworkChanged) => {
                // Delete it at the old gateway while that may still be reachable (the old
                // technique's client still talks to it), in the background.
                if let Some(held) = self.held.take() {
                    let limit = self.nat.options().operation_timeout;
                    tokio::spawn(async move {
                        let deleted =
                            tokio::time::timeout(limit, held.technique.unmap(&held.mapping)).await;
                        tracing::debug!(external = %held.mapping.external, deleted = matches!(deleted, Ok(Ok(()))), "mapping at the previous gateway");
                    });
                }
                self.last = None;
                self.publish();
                Some(Action::Map)
            }
            Ok(GatewayEvent::LocalAddressesChanged) => {
                self.publish();
                None
            }
            Err(broadcast::error::RecvError::Lagged(_)) => Some(self.due()),
            Err(broadcast::error::RecvError::Closed) => {
                // Cannot happen while we hold the Nat; never spin on it.
                self.events = None;
                None
            }
        }
    }

    /// Maps (probing first if no technique is chosen); returns how long to wait next.
    async fn establish(&mut self) -> Duration {
        // A first mapping with nothing selected yet: the map is the probe (one exchange, not
        // two). Mapping again after a loss renews through the technique found, instead.
        let chosen = match self.last {
            None => self.nat.inner.select_mapping(&self.request).await,
            Some(_) => self.nat.inner.select().await.map(|s| (s, None)),
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
                technique.refresh(mapping, self.request.lifetime).await
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
        let result = technique.refresh(&mapping, self.request.lifetime).await;
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
        let limit = self.nat.options().operation_timeout;
        tokio::spawn(async move {
            let _ = tokio::time::timeout(limit, previous.unmap(&old)).await;
        });
    }

    fn succeeded(&mut self, selection: Selection, mapping: Mapping) -> Duration {
        let inner = &self.nat.inner;
        if self.failures > 0 {
            tracing::info!(what = %self.request.describe(), external = %mapping.external, technique = %mapping.technique, "mapped again");
        }
        self.failures = 0;
        if mapping.epoch_reset {
            self.reported_restart = Some(Instant::now());
            inner.gateway_restarted();
        }
        inner.observe_external_address(mapping.external.ip());
        self.request.external_port = mapping.external.port();
        let wait = inner
            .options
            .refresh_after(mapping.lifetime, self.request.lifetime);
        let expires = (!mapping.lifetime.is_zero()).then(|| Instant::now() + mapping.lifetime);
        {
            let mut status = lock(&self.status);
            status.mapping = Some(mapping.clone());
            status.last_error = None;
        }
        self.errors.send_if_modified(|last| last.take().is_some());
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
        let message = error.to_string();
        lock(&self.status).last_error = Some(message.clone());
        self.errors.send_if_modified(|last| {
            let changed = last.as_deref() != Some(message.as_str());
            *last = Some(message);
            changed
        });
        let unreachable = error.is_unreachable();
        if let (true, Some(generation)) = (unreachable, generation) {
            self.nat.inner.invalidate(generation);
        }
        let expired = self
            .held
            .as_ref()
            .is_some_and(|h| h.expires.is_some_and(|at| at <= Instant::now()));
        // A mapping stays published until its lease really ends: a technique that stopped
        // answering (a lost answer, a busy router) has not deleted it.
        if expired && self.held.take().is_some() {
            lock(&self.status).mapping = None;
            self.publish();
        } else if let (true, Some(held)) = (unreachable, self.held.as_mut()) {
            held.stale = true;
        }
        if unreachable && generation.is_some() && self.failures == 1 {
            // The technique vanished: probe again at once, perhaps finding another.
            return Duration::ZERO;
        }
        let backoff = self.nat.options().backoff(self.failures);
        // Wake up when the mapping expires, to stop publishing it.
        match self.held.as_ref().and_then(|h| h.expires) {
            Some(expires) => backoff.min(expires.saturating_duration_since(Instant::now())),
            None => backoff,
        }
    }

    async fn teardown(&mut self) -> Result<()> {
        let result = match self.held.take() {
            Some(held) => {
                delete_patiently(
                    &held.technique,
                    &held.mapping,
                    self.nat.options().operation_timeout,
                )
                .await
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
            Some(bound) => PortAssignments::local(bound, &self.nat.inner.local_addresses()),
            None => PortAssignments::new(),
        };
        if let Some(held) = &self.held {
            set = set.with(PortAssignment {
                address: held.mapping.external,
                technique: Some(held.mapping.technique),
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
