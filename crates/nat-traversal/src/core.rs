//! [`Core`]: the shared state behind a [`Nat`](crate::Nat) handle, made of small pieces with
//! one job each: the network path (`core/path.rs`), the client registry
//! (`core/registry.rs`), selection and probing (`core/selector.rs`), and the event bus
//! (`core/bus.rs`). The core ties them together, runs operations through the technique in
//! use, and serves persistent mappings ([`Host`]) and the watcher ([`Watched`]) through
//! narrow interfaces.

mod bus;
pub(crate) mod path;
mod registry;
mod selector;

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use self::bus::Bus;
use self::path::Family;
use self::registry::Registry;
use self::selector::{Context, Selector};
use crate::error::{Error, Result};
use crate::event::NatEvent;
use crate::network::{NetworkPath, PassedOver};
use crate::options::NatOptions;
use crate::persistent::{Host, WatchLease};
use crate::pinholes::{PinholeRecord, RecordedPinhole};
use crate::probe::{ProbeReport, ProbeResult, Selection};
use crate::technique::{MapRequest, Mapping, NatTechnique, Protocol, Technique, TechniqueEvent};
use crate::watcher::Watched;

/// The most one-shot mappings whose maker a `Nat` remembers.
const MAX_MAKERS: usize = 4096;

#[derive(Debug, Default)]
struct PathState {
    path: Option<NetworkPath>,
    /// The host's other paths, as last read.
    passed_over: Vec<PassedOver>,
    checked_at: Option<Instant>,
    /// A path was read before, and then could not be (the link went down, a full-tunnel
    /// VPN came up): the next path read is a change from this one.
    lost: Option<NetworkPath>,
}

#[derive(Debug, Default)]
struct WatcherSlot {
    users: usize,
    task: Option<tokio::task::AbortHandle>,
}

/// The shared state of a `Nat` and its clones.
#[derive(Debug)]
pub(crate) struct Core {
    options: Arc<NatOptions>,
    family: Family,
    registry: Arc<Registry>,
    selector: Selector,
    bus: Bus,
    path: Mutex<PathState>,
    /// Which technique made this `Nat`'s one-shot mappings, so deleting by port asks it
    /// first.
    makers: Mutex<HashMap<(Protocol, u16), Technique>>,
    watcher: Mutex<WatcherSlot>,
    /// The IPv6 side of an IPv4 core, made by the first [`ipv6`](Self::ipv6).
    v6: OnceLock<Arc<Core>>,
    pinholes: Option<PinholeRecord>,
    this: Weak<Core>,
}

impl Core {
    pub(crate) fn new(
        options: NatOptions,
        family: Family,
        given: Option<Vec<Arc<dyn NatTechnique>>>,
    ) -> Arc<Core> {
        let pinholes = (family == Family::V6)
            .then(|| options.pinhole_record().map(PinholeRecord::new))
            .flatten();
        Arc::new_cyclic(|this| Core {
            options: Arc::new(options),
            family,
            registry: Arc::new(Registry::new(given)),
            selector: Selector::default(),
            bus: Bus::new(),
            path: Mutex::new(PathState::default()),
            makers: Mutex::new(HashMap::new()),
            watcher: Mutex::new(WatcherSlot::default()),
            v6: OnceLock::new(),
            pinholes,
            this: this.clone(),
        })
    }

    pub(crate) fn options(&self) -> &NatOptions {
        &self.options
    }

    pub(crate) fn is_ipv6(&self) -> bool {
        self.family == Family::V6
    }

    /// The IPv6 side of this core (itself when it is IPv6), made once.
    pub(crate) fn ipv6(self: &Arc<Self>) -> Arc<Core> {
        if self.family == Family::V6 {
            return Arc::clone(self);
        }
        Arc::clone(self.v6.get_or_init(|| {
            let given = self.registry.is_given().then(|| {
                self.registry
                    .in_use()
                    .into_iter()
                    .filter(|t| t.gateway().is_ipv6())
                    .collect()
            });
            Core::new(self.options.for_ipv6(), Family::V6, given)
        }))
    }

    /// The techniques allowed, most preferred first: the preference list for the built-in
    /// ones; the given ones ordered by it (unlisted kinds last, in the given order).
    pub(crate) fn allowed(&self) -> Vec<Technique> {
        match self.registry.given_kinds() {
            None => self.options.preference().to_vec(),
            Some(mut kinds) => {
                kinds.sort_by_key(|&kind| self.options.rank(kind));
                kinds.dedup();
                kinds
            }
        }
    }

    /// The technique allowed, if only one is.
    pub(crate) fn sole(&self) -> Option<Technique> {
        match self.allowed().as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }

    fn path_state(&self) -> MutexGuard<'_, PathState> {
        self.path.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The gateway this `Nat` asks (the one given, or its family's default gateway), read
    /// now, without probing.
    pub(crate) fn gateway_to_ask(&self) -> Result<IpAddr> {
        if let Some(gateway) = self.registry.given_gateway() {
            return Ok(gateway);
        }
        match self.options.gateway() {
            Some(gateway) => Ok(gateway),
            None => path::default_gateway(&self.options, self.family),
        }
    }

    /// The path last read.
    pub(crate) fn path(&self) -> Option<NetworkPath> {
        self.path_state().path.clone()
    }

    /// The host's other paths, as last read.
    pub(crate) fn passed_over(&self) -> Vec<PassedOver> {
        self.path_state().passed_over.clone()
    }

    /// The gateway to use now: the path is read again when older than the network check
    /// interval, and a change drops everything made for the old path.
    fn current_gateway(&self) -> Result<IpAddr> {
        if self.registry.is_given() {
            return Ok(self
                .registry
                .given_gateway()
                .unwrap_or(IpAddr::from([0, 0, 0, 0])));
        }
        {
            let state = self.path_state();
            if let (Some(path), Some(at)) = (&state.path, state.checked_at) {
                if at.elapsed() < self.options.network_check_interval() {
                    return Ok(path.gateway);
                }
            }
        }
        Ok(self.read_path()?.gateway)
    }

    /// Reads the path; a change from the last one drops the techniques and the choice.
    fn read_path(&self) -> Result<NetworkPath> {
        let survey = path::survey(&self.options, self.family);
        self.path_state().passed_over = survey.passed_over;
        let read = survey.taken?;
        let previous = {
            let mut state = self.path_state();
            state.checked_at = Some(Instant::now());
            let lost = state.lost.take();
            match state.path.replace(read.clone()) {
                Some(old) => (old != read).then_some(old),
                None => lost,
            }
        };
        if let Some(previous) = previous {
            tracing::info!(%previous, current = %read, "the network path changed");
            self.path_changed(Some(previous), Some(read.clone()));
        }
        Ok(read)
    }

    fn path_changed(&self, previous: Option<NetworkPath>, current: Option<NetworkPath>) {
        self.registry.clear();
        self.selector.clear();
        self.bus.path_changed(previous, current);
    }

    fn context(&self) -> Result<Context> {
        let allowed = self.allowed();
        if allowed.is_empty() {
            return Err(self.nothing_allowed());
        }
        Ok(Context {
            options: Arc::clone(&self.options),
            registry: Arc::clone(&self.registry),
            gateway: self.current_gateway()?,
            allowed,
        })
    }

    /// Why nothing can be asked: on the IPv6 side, that NAT-PMP (the only technique allowed)
    /// is IPv4 only; else that no technique is allowed.
    fn nothing_allowed(&self) -> Error {
        if self.family == Family::V6 {
            Error::Unsupported {
                technique: Technique::NatPmp,
                what: "open ipv6 pinholes: NAT-PMP is IPv4 only".into(),
            }
        } else {
            Error::NoTechniqueAvailable {
                gateway: self.gateway_or_unspecified(),
                tried: Vec::new(),
            }
        }
    }

    /// Probes every allowed technique at once; see [`Nat::probe_with`](crate::Nat::probe_with).
    pub(crate) async fn probe(
        &self,
        on_result: &mut (dyn FnMut(&ProbeResult) + Send),
    ) -> Result<ProbeReport> {
        let context = self.context()?;
        let report = self
            .selector
            .probe(&context, on_result)
            .await
            .on_path(self.path(), self.passed_over());
        if let Some(address) = report.external_address() {
            self.bus.observe_external_address(address);
        }
        Ok(report)
    }

    pub(crate) fn last_report(&self) -> Option<ProbeReport> {
        self.selector
            .last_report()
            .map(|report| report.on_path(self.path(), self.passed_over()))
    }

    /// The path read now (see [`Nat::network_path`](crate::Nat::network_path)).
    pub(crate) fn network_path(&self) -> Result<NetworkPath> {
        if let Some(gateway) = self.registry.given_gateway() {
            return Ok(NetworkPath {
                interface: None,
                local_address: netinfo::local_address_toward(gateway)?,
                gateway,
            });
        }
        self.read_path()
    }

    pub(crate) fn probes_run(&self) -> u64 {
        self.selector.probes_run()
    }

    /// The technique in use, choosing one if none is.
    pub(crate) async fn select(&self) -> Result<Selection> {
        let context = self.context()?;
        let before = self.selector.probes_run();
        let selection = self.selector.select(&context).await?;
        self.after_probe(before);
        Ok(selection)
    }

    /// [`select`](Self::select), the first mapping made by the probe itself when one runs.
    pub(crate) async fn select_mapping_for(
        &self,
        request: &MapRequest,
    ) -> Result<(Selection, Option<Mapping>)> {
        let context = self.context()?;
        let before = self.selector.probes_run();
        let chosen = self.selector.select_mapping(&context, request).await?;
        self.after_probe(before);
        Ok(chosen)
    }

    /// A probe that ran tells the external address it found.
    fn after_probe(&self, before: u64) {
        if self.selector.probes_run() != before {
            if let Some(address) = self.last_report().and_then(|r| r.external_address()) {
                self.bus.observe_external_address(address);
            }
        }
    }

    /// Runs `operation` through the technique of `kind`, or through the technique in use
    /// (choosing one) when `kind` is `None`; bounded by the operation timeout. A technique
    /// made from a guess that does not answer is made afresh and asked once more; a
    /// technique in use that looks gone is dropped, so the next call chooses again.
    pub(crate) async fn operate<T, F, Fut>(
        &self,
        kind: Option<Technique>,
        operation: F,
    ) -> Result<(Arc<dyn NatTechnique>, T)>
    where
        F: Fn(Arc<dyn NatTechnique>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        if self.allowed().is_empty() {
            return Err(self.nothing_allowed());
        }
        let options = Arc::clone(&self.options);
        let limit = options.operation_timeout();
        let whole = options.probe_timeout() * 2 + limit * 2;
        let asked = async {
            let (kind, generation) = match kind {
                Some(kind) => (kind, None),
                None => {
                    let selection = self.select().await?;
                    (selection.technique.kind(), Some(selection.generation))
                }
            };
            let gateway = self.current_gateway()?;
            let bounded = |technique: Arc<dyn NatTechnique>| {
                let answer = operation(technique);
                async move {
                    match tokio::time::timeout(limit, answer).await {
                        Ok(result) => result,
                        Err(_) => Err(Error::OperationTimedOut {
                            technique: kind,
                            operation: "request".into(),
                            timeout: limit,
                        }),
                    }
                }
            };
            let result = self.registry.ask(kind, gateway, &options, bounded).await;
            if let (Err(error), Some(generation)) = (&result, generation) {
                if error.is_unreachable() {
                    self.invalidate_generation(generation);
                }
            }
            result
        };
        match tokio::time::timeout(whole, asked).await {
            Ok(result) => result,
            Err(_) => Err(Error::ProbeTimedOut {
                technique: kind
                    .or_else(|| self.selector.current().map(|s| s.technique.kind()))
                    .or_else(|| self.allowed().first().copied())
                    .unwrap_or(Technique::Pcp),
                gateway: self.gateway_or_unspecified(),
                timeout: whole,
            }),
        }
    }

    /// The gateway last used, or the one that would be asked, or `0.0.0.0`.
    pub(crate) fn gateway_or_unspecified(&self) -> IpAddr {
        self.path()
            .map(|p| p.gateway)
            .or_else(|| self.gateway_to_ask().ok())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn invalidate_generation(&self, generation: u64) {
        if let Some(technique) = self.selector.invalidate(generation) {
            self.registry.forget(&technique);
        }
    }

    /// Forgets the technique in use, so the next call chooses again.
    pub(crate) fn forget_selection(&self) {
        if let Some(selection) = self.selector.current() {
            self.registry.forget(&selection.technique);
        }
        self.selector.clear();
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<NatEvent> {
        self.bus.subscribe()
    }

    pub(crate) fn observe_external_address(&self, address: IpAddr) {
        self.bus.observe_external_address(address);
    }

    pub(crate) fn local_addresses(&self) -> Arc<Vec<IpAddr>> {
        self.bus.local_addresses()
    }

    fn makers(&self) -> MutexGuard<'_, HashMap<(Protocol, u16), Technique>> {
        self.makers.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn remember_maker(&self, protocol: Protocol, port: u16, technique: Technique) {
        let mut makers = self.makers();
        if makers.len() < MAX_MAKERS {
            makers.insert((protocol, port), technique);
        }
    }

    pub(crate) fn maker(&self, protocol: Protocol, port: u16) -> Option<Technique> {
        self.makers().get(&(protocol, port)).copied()
    }

    pub(crate) fn forget_maker(&self, protocol: Protocol, port: u16) {
        self.makers().remove(&(protocol, port));
    }

    /// Records a pinhole granted by a one-shot map.
    pub(crate) fn record_pinhole(&self, mapping: &Mapping) {
        if let Some(record) = &self.pinholes {
            record.add(mapping, false);
        }
    }

    /// Forgets the recorded pinholes of `protocol` (and `port`).
    pub(crate) fn forget_pinholes(&self, protocol: Protocol, port: Option<u16>) {
        if let Some(record) = &self.pinholes {
            record.remove(protocol, port);
        }
    }

    /// The pinholes recorded (none without a record, or on the IPv4 side).
    pub(crate) fn recorded_pinholes(&self) -> Vec<RecordedPinhole> {
        self.pinholes
            .as_ref()
            .map(PinholeRecord::read)
            .unwrap_or_default()
    }

    /// Whether the gateway is followed (read from the routing table) rather than given.
    fn follows_default_gateway(&self) -> bool {
        self.options.gateway().is_none() && !self.registry.is_given()
    }

    fn unwatch(&self) {
        let mut slot = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        slot.users = slot.users.saturating_sub(1);
        if slot.users == 0 {
            if let Some(task) = slot.task.take() {
                task.abort();
            }
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        if let Ok(slot) = self.watcher.get_mut() {
            if let Some(task) = slot.task.take() {
                task.abort();
            }
        }
    }
}

/// Held by each persistent mapping; the last one dropped stops the watcher.
#[derive(Debug)]
struct Lease(Weak<Core>);

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(core) = self.0.upgrade() {
            core.unwatch();
        }
    }
}

#[async_trait]
impl Host for Core {
    fn options(&self) -> &NatOptions {
        &self.options
    }

    async fn select(&self) -> Result<Selection> {
        Core::select(self).await
    }

    async fn select_mapping(&self, request: &MapRequest) -> Result<(Selection, Option<Mapping>)> {
        self.select_mapping_for(request).await
    }

    fn invalidate(&self, generation: u64) {
        self.invalidate_generation(generation);
    }

    fn answer_showed_restart(&self, technique: Technique) {
        self.bus
            .gateway_restarted(technique, "an answer's epoch went back".to_owned());
    }

    fn observe_external_address(&self, address: IpAddr) {
        self.bus.observe_external_address(address);
    }

    fn subscribe(&self) -> broadcast::Receiver<NatEvent> {
        self.bus.subscribe()
    }

    fn local_addresses(&self) -> Arc<Vec<IpAddr>> {
        self.bus.local_addresses()
    }

    fn watch(&self) -> WatchLease {
        let mut slot = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        slot.users += 1;
        if slot.task.is_none() {
            if let (Ok(runtime), Some(strong)) =
                (tokio::runtime::Handle::try_current(), self.this.upgrade())
            {
                let watched: Arc<dyn Watched> = strong;
                let task = runtime.spawn(crate::watcher::run(Arc::downgrade(&watched)));
                slot.task = Some(task.abort_handle());
            }
        }
        Box::new(Lease(self.this.clone()))
    }

    fn pinhole_kept(&self, mapping: Option<&Mapping>, protocol: Protocol, port: u16) {
        let Some(record) = &self.pinholes else {
            return;
        };
        match mapping {
            Some(mapping) => record.add(mapping, true),
            None => record.remove(protocol, Some(port)),
        }
    }
}

impl Watched for Core {
    fn follows_events(&self) -> bool {
        self.options.events()
    }

    fn techniques_in_use(&self) -> Vec<Arc<dyn NatTechnique>> {
        self.registry.in_use()
    }

    fn technique_changes(&self) -> watch::Receiver<u64> {
        self.registry.changes()
    }

    fn on_event(&self, technique: &Arc<dyn NatTechnique>, event: TechniqueEvent) {
        match event {
            TechniqueEvent::Restarted { reason } => {
                self.bus.gateway_restarted(technique.kind(), reason);
            }
            TechniqueEvent::ExternalAddressChanged { address } => {
                self.bus.observe_external_address(address);
            }
            TechniqueEvent::Gone { reason } => {
                self.selector.drop_technique(technique);
                self.registry.forget(technique);
                self.bus.technique_gone(technique.kind(), reason);
            }
        }
    }

    fn check_network(&self) {
        let read_before = {
            let state = self.path_state();
            state.path.is_some() || state.lost.is_some()
        };
        if self.follows_default_gateway() && read_before {
            if let Err(error) = self.read_path() {
                tracing::info!(%error, "no usable network path");
                let lost = {
                    let mut state = self.path_state();
                    let lost = state.path.take();
                    if lost.is_some() {
                        state.lost.clone_from(&lost);
                    }
                    lost
                };
                if let Some(lost) = lost {
                    self.path_changed(Some(lost), None);
                }
            }
        }
        self.bus.update_local_addresses(path::local_addresses());
    }

    fn check_interval(&self) -> Duration {
        self.options.network_check_interval()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ipv6_side_is_made_once_and_is_its_own() {
        let core = Core::new(NatOptions::default(), Family::V4, None);
        let v6 = core.ipv6();
        assert!(v6.is_ipv6());
        assert!(Arc::ptr_eq(&v6, &core.ipv6()));
        assert!(Arc::ptr_eq(&v6, &v6.ipv6()));
        assert!(!v6.allowed().contains(&Technique::NatPmp));
    }
}
