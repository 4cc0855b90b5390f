//! [`Nat`]: the techniques of one gateway, probed once and shared by every mapping, the
//! cached choice, and the [`GatewayEvent`]s persistent mappings react to.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::assignment::PortAssignments;
use crate::builtin;
use crate::error::Result;
use crate::options::NatOptions;
use crate::persistent::PersistentMappingBuilder;
use crate::probe::{self, Mode, ProbeFuture, ProbeReport, ProbeResult};
use crate::technique::{MapRequest, Mapping, NatTechnique, Protocol, Technique};

/// A mapping a probe made, with the technique that made it.
type Made = (Arc<dyn NatTechnique>, Mapping);

/// What a probe asks each technique; its answer is the external address.
type Ask = Arc<
    dyn Fn(Arc<dyn NatTechnique>) -> Pin<Box<dyn Future<Output = Result<IpAddr>> + Send>>
        + Send
        + Sync,
>;

/// Restart signals closer together than this are one restart (the announcement and the
/// first answer with a reset epoch usually both report it).
const RESTART_DEBOUNCE: Duration = Duration::from_secs(1);

/// Something that happened at the gateway or on this host's network. Persistent mappings
/// react to each; [`Nat::subscribe`] shows them to anyone else.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatewayEvent {
    /// The gateway restarted and lost its mappings (a PCP ANNOUNCE, or an answer whose epoch
    /// went back): every mapping is made again.
    Restarted,
    /// The gateway's external address changed (a NAT-PMP announcement or a mapping's
    /// answer said so).
    ExternalAddressChanged {
        /// The new address.
        address: IpAddr,
    },
    /// The default gateway or this host's address toward it changed: the techniques are
    /// probed again and every mapping is made again.
    NetworkChanged,
    /// This host's interface addresses changed: the local assignments are published again.
    LocalAddressesChanged,
}

/// Where the techniques were probed: the gateway and this host's address toward it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Network {
    pub(crate) gateway: IpAddr,
    pub(crate) local_address: IpAddr,
}

/// The technique in use, and the probe generation that chose it.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    pub(crate) technique: Arc<dyn NatTechnique>,
    pub(crate) generation: u64,
}

#[derive(Debug, Default)]
struct State {
    network: Option<Network>,
    clients: builtin::Clients,
    selection: Option<Selection>,
    report: Option<ProbeReport>,
    probes_run: u64,
    generation: u64,
    external_address: Option<IpAddr>,
    local_addresses: Option<Arc<Vec<IpAddr>>>,
    last_restart: Option<Instant>,
    /// When a probe last found nothing (cleared by a success or a restart).
    failed_probe_at: Option<Instant>,
    /// When the gateway and the local address toward it were last read.
    network_checked_at: Option<Instant>,
    /// Which technique made this `Nat`'s one-shot mappings, so deleting by port asks it
    /// first.
    makers: HashMap<(Protocol, u16), Technique>,
}

#[derive(Debug, Default)]
struct WatcherSlot {
    users: usize,
    task: Option<tokio::task::AbortHandle>,
}

/// Which side of a dual-stack network a `Nat` works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// IPv4: port mappings at a NAT.
    V4,
    /// IPv6: pinholes in the gateway's firewall (PCP and UPnP WANIPv6FirewallControl).
    V6,
}

#[derive(Debug)]
pub(crate) struct NatInner {
    pub(crate) options: NatOptions,
    pub(crate) family: Family,
    /// The IPv6 side of an IPv4 `Nat`, made by the first [`Nat::ipv6`].
    v6: std::sync::OnceLock<Arc<NatInner>>,
    custom: Option<Vec<Arc<dyn NatTechnique>>>,
    state: Mutex<State>,
    probe_turn: tokio::sync::Mutex<()>,
    events: broadcast::Sender<GatewayEvent>,
    generation: watch::Sender<u64>,
    watcher: Mutex<WatcherSlot>,
}

/// The NAT traversal techniques of one gateway, shared by every mapping made through it.
///
/// A `Nat` probes lazily: the first call that needs a technique probes them all at once and
/// keeps the most preferred one that answered; later calls reuse it until it fails, the
/// network changes, or [`forget`](Self::forget) is called. It holds one client per
/// technique (one UDP socket for PCP, one for NAT-PMP, an HTTP client for UPnP), however
/// many mappings use it. Cloning is cheap and clones share everything.
///
/// While persistent mappings exist, one background task listens for the gateway's
/// announcements and checks the network every
/// [`network_check_interval`](NatOptions::network_check_interval).
#[derive(Debug, Clone)]
pub struct Nat {
    pub(crate) inner: Arc<NatInner>,
}

impl Default for Nat {
    fn default() -> Nat {
        Nat::new(NatOptions::default())
    }
}

impl Nat {
    /// A `Nat` with the built-in techniques. Nothing is sent until a technique is needed.
    pub fn new(options: NatOptions) -> Nat {
        Nat::build(options, None)
    }

    /// A `Nat` over the given techniques instead of the built-in ones (fakes for tests,
    /// techniques of your own). They are probed and preferred like the built-in ones, by
    /// their [`kind`](NatTechnique::kind) and `options.preference` (kinds not listed come
    /// last, in the given order). [`NatOptions::gateway`] is ignored, and no background task
    /// listens for announcements or checks the network: the techniques report restarts
    /// through [`Mapping::epoch_reset`] and vanish through
    /// [`Error::is_unreachable`](crate::Error::is_unreachable) errors.
    pub fn with_techniques(options: NatOptions, techniques: Vec<Arc<dyn NatTechnique>>) -> Nat {
        Nat::build(options, Some(techniques))
    }

    fn build(options: NatOptions, custom: Option<Vec<Arc<dyn NatTechnique>>>) -> Nat {
        let family = match options.gateway {
            Some(IpAddr::V6(gateway)) if gateway.to_ipv4_mapped().is_none() => Family::V6,
            _ => Family::V4,
        };
        Nat {
            inner: NatInner::new(options, family, custom),
        }
    }

    /// The IPv6 side of this `Nat`: its techniques open pinholes for this host's global IPv6
    /// address in the firewall of the IPv6 gateway ([`NatOptions::gateway_v6`], else the
    /// IPv6 default route's next hop) through PCP or UPnP's `WANIPv6FirewallControl`
    /// (NAT-PMP is IPv4 only). Its mappings' external address is this host's own, and their
    /// external port the internal one. Made once and shared by clones; it has its own probe,
    /// clients and watcher. On a `Nat` that is already IPv6 (given an IPv6 gateway), itself.
    pub fn ipv6(&self) -> Nat {
        if self.inner.family == Family::V6 {
            return self.clone();
        }
        let inner = self.inner.v6.get_or_init(|| {
            let mut options = self.inner.options.clone();
            options.gateway = options.gateway_v6.map(IpAddr::V6);
            let custom = self.inner.custom.as_ref().map(|techniques| {
                techniques
                    .iter()
                    .filter(|t| t.gateway().is_ipv6())
                    .cloned()
                    .collect()
            });
            NatInner::new(options, Family::V6, custom)
        });
        Nat {
            inner: Arc::clone(inner),
        }
    }

    /// Whether this `Nat` opens IPv6 pinholes (see [`ipv6`](Self::ipv6)).
    pub fn is_ipv6(&self) -> bool {
        self.inner.family == Family::V6
    }
}

impl NatInner {
    fn new(
        options: NatOptions,
        family: Family,
        custom: Option<Vec<Arc<dyn NatTechnique>>>,
    ) -> Arc<NatInner> {
        Arc::new(NatInner {
            options,
            family,
            v6: std::sync::OnceLock::new(),
            custom,
            state: Mutex::new(State::default()),
            probe_turn: tokio::sync::Mutex::new(()),
            events: broadcast::channel(16).0,
            generation: watch::channel(0).0,
            watcher: Mutex::new(WatcherSlot::default()),
        })
    }
}

impl Nat {
    /// The process-wide `Nat` with default options, which [`crate::tcp_listen_public`] and
    /// [`crate::udp_bind_public`] use. It lives while something uses it and is made again
    /// afterwards. Programs that run several tokio runtimes, or threads in several network
    /// namespaces, should make their own `Nat` for each.
    pub fn shared() -> Nat {
        static SHARED: Mutex<Weak<NatInner>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(inner) = shared.upgrade() {
            return Nat { inner };
        }
        let nat = Nat::default();
        *shared = Arc::downgrade(&nat.inner);
        nat
    }

    /// The options this `Nat` was made with.
    pub fn options(&self) -> &NatOptions {
        &self.inner.options
    }

    /// Probes every allowed technique at once, waits for each to answer or time out, and
    /// keeps the most preferred one that answered for later mappings (none, if none did).
    /// The report lists failures too; it is not an error that nothing answered.
    ///
    /// # Errors
    /// [`Error::Network`](crate::Error::Network) when the default gateway cannot be found.
    pub async fn probe(&self) -> Result<ProbeReport> {
        self.probe_with(|_| {}).await
    }

    /// [`probe`](Self::probe), calling `on_result` with each technique's line the moment
    /// it answers or fails (a progress display shows each row as it comes in).
    ///
    /// # Errors
    /// As [`probe`](Self::probe).
    pub async fn probe_with(
        &self,
        mut on_result: impl FnMut(&ProbeResult) + Send,
    ) -> Result<ProbeReport> {
        let _turn = self.inner.probe_turn.lock().await;
        self.inner.run_probe(Mode::Complete, &mut on_result).await
    }

    /// The report of the last probe, if there was one.
    pub fn last_report(&self) -> Option<ProbeReport> {
        self.inner.state().report.clone()
    }

    /// The technique in use, probing first if none is: the probe returns as soon as the most
    /// preferred technique that can still answer has answered, without waiting for slower,
    /// less preferred ones.
    ///
    /// # Errors
    /// [`Error::NoTechniqueAvailable`](crate::Error::NoTechniqueAvailable) when none
    /// answered within the probe timeout; [`Error::Network`](crate::Error::Network) when the
    /// default gateway cannot be found.
    pub async fn technique(&self) -> Result<Arc<dyn NatTechnique>> {
        Ok(self.inner.select().await?.technique)
    }

    /// The technique of `kind`, without probing: a built-in one is made for the gateway (once,
    /// then shared), a given one is looked up. For callers that were told which technique to
    /// use (`natctl --via pcp`).
    ///
    /// # Errors
    /// [`Error::Network`](crate::Error::Network) when the default gateway cannot be found;
    /// [`Error::Unsupported`](crate::Error::Unsupported) when `kind` is not among the given
    /// techniques; the technique's own errors while it is made (UPnP discovery).
    pub async fn technique_for(&self, kind: Technique) -> Result<Arc<dyn NatTechnique>> {
        if let Some(custom) = &self.inner.custom {
            return custom
                .iter()
                .find(|t| t.kind() == kind)
                .cloned()
                .ok_or_else(|| crate::Error::Unsupported {
                    technique: kind,
                    what: "be used: it is not among the techniques given".into(),
                });
        }
        let network = self.inner.current_network()?;
        self.inner.builtin(kind, network.gateway).await
    }

    /// The gateway's external address, through the technique in use.
    ///
    /// # Errors
    /// As [`technique`](Self::technique), and the technique's own errors.
    pub async fn external_address(&self) -> Result<IpAddr> {
        let address = self.technique().await?.external_address().await?;
        self.inner.observe_external_address(address);
        Ok(address)
    }

    /// Forgets the technique in use, so the next call probes again.
    pub fn forget(&self) {
        let mut state = self.inner.state();
        state.selection = None;
        state.clients.forget(Technique::Upnp);
        state.failed_probe_at = None;
    }

    /// The gateway events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<GatewayEvent> {
        self.inner.events.subscribe()
    }

    /// A mapping kept alive in the background; see [`PersistentMappingBuilder`]. A request
    /// with [`MapRequest::ipv6`] set is kept by [`ipv6`](Self::ipv6): a pinhole.
    pub fn persistent(&self, request: MapRequest) -> PersistentMappingBuilder {
        let nat = if request.ipv6 {
            self.ipv6()
        } else {
            self.clone()
        };
        PersistentMappingBuilder::new(nat, request)
    }

    /// The gateway the techniques were last probed at.
    pub fn gateway(&self) -> Option<IpAddr> {
        self.inner.state().network.map(|n| n.gateway)
    }

    /// This host's address toward that gateway (the internal address of its mappings).
    pub fn local_address(&self) -> Option<IpAddr> {
        self.inner.state().network.map(|n| n.local_address)
    }

    /// The local assignments of a socket bound to `bound`: every interface address for a
    /// wildcard, else the address itself.
    pub fn local_assignments(&self, bound: SocketAddr) -> PortAssignments {
        PortAssignments::local(bound, &self.inner.local_addresses())
    }
}

impl NatInner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The techniques allowed, most preferred first: the preference list for the built-in
    /// ones; the given ones ordered by it (unlisted kinds last).
    pub(crate) fn allowed(&self) -> Vec<Technique> {
        match &self.custom {
            // NAT-PMP is IPv4 only.
            None if self.family == Family::V6 => self
                .options
                .preference
                .iter()
                .copied()
                .filter(|&t| t != Technique::NatPmp)
                .collect(),
            None => self.options.preference.clone(),
            Some(custom) => {
                let mut kinds: Vec<Technique> = custom.iter().map(|t| t.kind()).collect();
                kinds.sort_by_key(|&kind| self.rank(kind));
                kinds.dedup();
                kinds
            }
        }
    }

    /// Whether the techniques are the built-in ones.
    pub(crate) fn is_builtin(&self) -> bool {
        self.custom.is_none()
    }

    /// How many probes ran so far.
    pub(crate) fn probes_run(&self) -> u64 {
        self.state().probes_run
    }

    pub(crate) fn remember_maker(&self, protocol: Protocol, port: u16, technique: Technique) {
        let mut state = self.state();
        if state.makers.len() < 4096 {
            state.makers.insert((protocol, port), technique);
        }
    }

    pub(crate) fn maker(&self, protocol: Protocol, port: u16) -> Option<Technique> {
        self.state().makers.get(&(protocol, port)).copied()
    }

    pub(crate) fn forget_maker(&self, protocol: Protocol, port: u16) {
        self.state().makers.remove(&(protocol, port));
    }

    /// The technique in use, probing (once for all concurrent callers) if none is.
    pub(crate) async fn select(self: &Arc<Self>) -> Result<Selection> {
        let network_fresh = |state: &State| {
            self.custom.is_some()
                || state
                    .network_checked_at
                    .is_some_and(|at| at.elapsed() < self.options.network_check_interval)
        };
        {
            let state = self.state();
            if let (Some(selection), true) = (&state.selection, network_fresh(&state)) {
                return Ok(selection.clone());
            }
            if let Some(error) = self.recent_failure(&state) {
                return Err(error);
            }
        }
        if self.custom.is_none() {
            // Drops the choice when the gateway or our address toward it changed.
            self.current_network()?;
        }
        let seen = {
            let state = self.state();
            if let Some(selection) = &state.selection {
                return Ok(selection.clone());
            }
            state.probes_run
        };
        let _turn = self.probe_turn.lock().await;
        {
            let state = self.state();
            if let Some(selection) = &state.selection {
                return Ok(selection.clone());
            }
            // Someone probed while we waited and found nothing: share that answer rather
            // than probing again at once.
            if state.probes_run != seen {
                if let Some(report) = state.report.as_ref().filter(|r| r.selected.is_none()) {
                    return Err(report.no_technique_error());
                }
            }
        }
        let report = self
            .run_probe(
                Mode::FirstUsable {
                    stagger: self.options.probe_stagger,
                },
                &mut |_| {},
            )
            .await?;
        let state = self.state();
        match &state.selection {
            Some(selection) => Ok(selection.clone()),
            None => Err(report.no_technique_error()),
        }
    }

    /// A probe that found nothing less than `retry_initial` ago answers for a new one, so
    /// many mappings failing together do not probe one after the other.
    fn recent_failure(&self, state: &State) -> Option<crate::Error> {
        let at = state.failed_probe_at?;
        if at.elapsed() >= self.options.retry_initial {
            return None;
        }
        state
            .report
            .as_ref()
            .filter(|r| r.selected.is_none())
            .map(ProbeReport::no_technique_error)
    }

    /// Probes and records the outcome. The caller holds `probe_turn`.
    async fn run_probe(
        self: &Arc<Self>,
        mode: Mode,
        on_result: &mut (dyn FnMut(&ProbeResult) + Send),
    ) -> Result<ProbeReport> {
        let ask: Ask = Arc::new(|technique: Arc<dyn NatTechnique>| {
            Box::pin(async move { technique.external_address().await })
        });
        self.run_question(mode, on_result, ask).await
    }

    /// Probes by asking each technique `ask` (the external address, or a map); records the
    /// selection.
    async fn run_question(
        self: &Arc<Self>,
        mode: Mode,
        on_result: &mut (dyn FnMut(&ProbeResult) + Send),
        ask: Ask,
    ) -> Result<ProbeReport> {
        let (gateway, probes) = match &self.custom {
            Some(custom) => {
                let gateway = custom
                    .first()
                    .map(|t| t.gateway())
                    .unwrap_or(IpAddr::from([0, 0, 0, 0]));
                (gateway, self.custom_probes(custom, &ask))
            }
            None => {
                let network = self.current_network()?;
                (network.gateway, self.builtin_probes(network, &ask))
            }
        };
        let (report, technique) =
            probe::run_with(gateway, probes, self.options.probe_timeout, mode, on_result).await;
        let external_address = report.external_address();
        {
            let mut state = self.state();
            state.probes_run += 1;
            state.report = Some(report.clone());
            state.failed_probe_at = technique.is_none().then(Instant::now);
            if technique.is_none() {
                state.selection = None;
            }
            if let Some(technique) = technique {
                state.generation += 1;
                tracing::info!(technique = %technique.kind(), %gateway, elapsed = ?report.elapsed, "nat technique selected");
                state.selection = Some(Selection {
                    technique,
                    generation: state.generation,
                });
                self.generation.send_replace(state.generation);
            }
        }
        if let Some(address) = external_address {
            self.observe_external_address(address);
        }
        Ok(report)
    }

    /// The technique in use and, when none was selected yet, a mapping made by the very
    /// probe that selects it: the most preferred technique is asked for the mapping instead
    /// of the external address, so when it answers the first mapping costs one exchange, not
    /// a probe's and then a map's. The others are asked for the external address as usual
    /// (a probe that maps through several techniques at once could leave extra mappings
    /// behind, or take ports from each other). `None` for the mapping: the caller maps
    /// through the selection.
    pub(crate) async fn select_mapping(
        self: &Arc<Self>,
        request: &MapRequest,
    ) -> Result<(Selection, Option<Mapping>)> {
        {
            let state = self.state();
            let fresh = self.custom.is_some()
                || state
                    .network_checked_at
                    .is_some_and(|at| at.elapsed() < self.options.network_check_interval);
            if let (Some(selection), true) = (&state.selection, fresh) {
                return Ok((selection.clone(), None));
            }
            if let Some(error) = self.recent_failure(&state) {
                return Err(error);
            }
        }
        if self.custom.is_none() {
            self.current_network()?;
        }
        let _turn = self.probe_turn.lock().await;
        if let Some(selection) = self.state().selection.clone() {
            return Ok((selection, None));
        }
        let mapper = self.allowed().first().copied();
        let made: Arc<Mutex<Option<Made>>> = Arc::default();
        let ask: Ask = {
            let made = Arc::clone(&made);
            let request = request.clone();
            Arc::new(move |technique: Arc<dyn NatTechnique>| {
                let made = Arc::clone(&made);
                let request = request.clone();
                Box::pin(async move {
                    if Some(technique.kind()) != mapper {
                        return technique.external_address().await;
                    }
                    let mapping = technique.map(&request).await?;
                    let address = mapping.external.ip();
                    *made.lock().unwrap_or_else(|p| p.into_inner()) = Some((technique, mapping));
                    Ok(address)
                })
            })
        };
        let report = self
            .run_question(
                Mode::FirstUsable {
                    stagger: self.options.probe_stagger,
                },
                &mut |_| {},
                ask,
            )
            .await?;
        let Some(selection) = self.state().selection.clone() else {
            return Err(report.no_technique_error());
        };
        let mapping = made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .filter(|(t, _)| Arc::ptr_eq(t, &selection.technique))
            .map(|(_, m)| m);
        Ok((selection, mapping))
    }

    /// Reads the gateway and the local address toward it; a change from the last probe
    /// drops the clients made for the old gateway.
    pub(crate) fn current_network(&self) -> Result<Network> {
        let gateway = match self.options.gateway {
            Some(gateway) => gateway,
            None => self.default_gateway()?,
        };
        let local_address = netinfo::local_address_toward(gateway)?;
        let network = Network {
            gateway,
            local_address,
        };
        let mut state = self.state();
        state.network_checked_at = Some(Instant::now());
        if state.network != Some(network) {
            if state.network.is_some() {
                tracing::info!(%gateway, %local_address, "the network changed");
            }
            state.network = Some(network);
            state.clients.clear();
            state.selection = None;
            state.external_address = None;
        }
        Ok(network)
    }

    fn custom_probes(
        &self,
        custom: &[Arc<dyn NatTechnique>],
        ask: &Ask,
    ) -> Vec<(Technique, ProbeFuture)> {
        let mut ordered: Vec<&Arc<dyn NatTechnique>> = custom.iter().collect();
        ordered.sort_by_key(|t| self.rank(t.kind()));
        ordered
            .into_iter()
            .map(|technique| {
                let technique = Arc::clone(technique);
                let kind = technique.kind();
                let ask = Arc::clone(ask);
                let probe: ProbeFuture = Box::pin(async move {
                    let address = ask(Arc::clone(&technique)).await?;
                    Ok((technique, address))
                });
                (kind, probe)
            })
            .collect()
    }

    fn rank(&self, kind: Technique) -> usize {
        self.options
            .preference
            .iter()
            .position(|&t| t == kind)
            .unwrap_or(usize::MAX)
    }

    fn builtin_probes(
        self: &Arc<Self>,
        network: Network,
        ask: &Ask,
    ) -> Vec<(Technique, ProbeFuture)> {
        self.options
            .preference
            .iter()
            .map(|&kind| {
                let inner = Arc::clone(self);
                let ask = Arc::clone(ask);
                let probe: ProbeFuture =
                    Box::pin(
                        async move { inner.ask_builtin(kind, network.gateway, |t| ask(t)).await },
                    );
                (kind, probe)
            })
            .collect()
    }

    /// The built-in technique of `kind` for `gateway`, made once and kept.
    async fn builtin(&self, kind: Technique, gateway: IpAddr) -> Result<Arc<dyn NatTechnique>> {
        if let Some(existing) = self.state().clients.get(kind, gateway) {
            return Ok(existing);
        }
        self.make_builtin(kind, gateway, false).await
    }

    async fn make_builtin(
        &self,
        kind: Technique,
        gateway: IpAddr,
        fresh: bool,
    ) -> Result<Arc<dyn NatTechnique>> {
        builtin::make(kind, gateway, &self.options, fresh, |store| {
            let mut state = self.state();
            if state.network.is_some_and(|n| n.gateway == gateway) {
                store(&mut state.clients);
            }
        })
        .await
    }

    /// Asks `question` of the built-in technique of `kind`; when the technique came from the
    /// UPnP cache and does not answer, forgets the entry, discovers afresh and asks again.
    pub(crate) async fn ask_builtin<T, F, Fut>(
        &self,
        kind: Technique,
        gateway: IpAddr,
        question: F,
    ) -> Result<(Arc<dyn NatTechnique>, T)>
    where
        F: Fn(Arc<dyn NatTechnique>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let technique = self.builtin(kind, gateway).await?;
        match question(Arc::clone(&technique)).await {
            Ok(answer) => {
                self.state().clients.confirm(kind);
                Ok((technique, answer))
            }
            Err(error) if error.may_be_stale_igd() && self.state().clients.is_from_cache(kind) => {
                tracing::debug!(%error, "the cached or guessed upnp igd did not answer as one; searching again");
                self.forget_cached(kind, gateway);
                let technique = self.make_builtin(kind, gateway, true).await?;
                let answer = question(Arc::clone(&technique)).await?;
                Ok((technique, answer))
            }
            Err(error) => Err(error),
        }
    }

    fn forget_cached(&self, kind: Technique, gateway: IpAddr) {
        self.state().clients.forget(kind);
        #[cfg(feature = "upnp")]
        if let (Some(path), Ok(local)) = (
            &self.options.upnp_cache,
            netinfo::local_address_toward(gateway),
        ) {
            crate::cache::forget(path, gateway, local);
        }
        #[cfg(not(feature = "upnp"))]
        let _ = gateway;
    }

    /// A mapping found the technique of `generation` gone: the next selection probes again.
    pub(crate) fn invalidate(&self, generation: u64) {
        let mut state = self.state();
        if let Some(selection) = &state.selection {
            if selection.generation == generation {
                tracing::info!(technique = %selection.technique.kind(), "the nat technique stopped answering; probing again");
                let kind = selection.technique.kind();
                state.clients.forget(kind);
                state.selection = None;
            }
        }
    }

    /// Records the external address a technique reported; a change is broadcast.
    pub(crate) fn observe_external_address(&self, address: IpAddr) {
        let previous = self.state().external_address.replace(address);
        if previous.is_some_and(|p| p != address) {
            tracing::info!(%address, "the external address changed");
            let _ = self
                .events
                .send(GatewayEvent::ExternalAddressChanged { address });
        }
    }

    /// The gateway lost its state (announcement, epoch reset): everyone re-maps, once.
    pub(crate) fn gateway_restarted(&self) {
        {
            let mut state = self.state();
            let now = Instant::now();
            if state
                .last_restart
                .is_some_and(|at| now.duration_since(at) < RESTART_DEBOUNCE)
            {
                return;
            }
            state.last_restart = Some(now);
            state.failed_probe_at = None;
        }
        tracing::info!("the gateway restarted; mapping again");
        let _ = self.events.send(GatewayEvent::Restarted);
    }

    /// The gateway's UPnP IGD announced itself anew (restart, new location): its client is
    /// made again (a new HTTP port is found), and every mapping is made again.
    pub(crate) fn upnp_restarted(&self) {
        {
            let mut state = self.state();
            state.clients.forget(Technique::Upnp);
            if state
                .selection
                .as_ref()
                .is_some_and(|s| s.technique.kind() == Technique::Upnp)
            {
                state.selection = None;
            }
        }
        self.gateway_restarted();
    }

    /// The network changed under us: drop the clients and the choice, tell everyone.
    pub(crate) fn network_changed(&self) {
        {
            let mut state = self.state();
            state.network = None;
            state.clients.clear();
            state.selection = None;
            state.external_address = None;
            state.failed_probe_at = None;
            state.generation += 1;
            self.generation.send_replace(state.generation);
        }
        let _ = self.events.send(GatewayEvent::NetworkChanged);
    }

    /// This host's interface addresses, read once and then kept fresh by the watcher.
    pub(crate) fn local_addresses(&self) -> Arc<Vec<IpAddr>> {
        if let Some(addresses) = &self.state().local_addresses {
            return Arc::clone(addresses);
        }
        let addresses = Arc::new(read_local_addresses());
        self.state().local_addresses = Some(Arc::clone(&addresses));
        addresses
    }

    /// Stores freshly read interface addresses; a change is broadcast.
    pub(crate) fn update_local_addresses(&self, addresses: Vec<IpAddr>) {
        let changed = {
            let mut state = self.state();
            let changed = state
                .local_addresses
                .as_ref()
                .is_some_and(|old| **old != addresses);
            state.local_addresses = Some(Arc::new(addresses));
            changed
        };
        if changed {
            let _ = self.events.send(GatewayEvent::LocalAddressesChanged);
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<GatewayEvent> {
        self.events.subscribe()
    }

    pub(crate) fn generation(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// What the watcher should watch: the gateway, and the built-in NAT-PMP/PCP clients'
    /// epoch events.
    #[cfg(feature = "pcp")]
    pub(crate) fn watch_targets(&self) -> (Option<Network>, Vec<builtin::EpochEvents>) {
        let state = self.state();
        (state.network, state.clients.epoch_events())
    }

    /// What the watcher should watch: the gateway.
    #[cfg(not(feature = "pcp"))]
    pub(crate) fn watch_targets(
        &self,
    ) -> (
        Option<Network>,
        Vec<broadcast::Receiver<crate::watcher::Event>>,
    ) {
        (self.state().network, Vec::new())
    }

    /// The control URL of the UPnP client in use at `gateway`, if any (the GENA task follows
    /// its events).
    #[cfg(feature = "upnp")]
    pub(crate) fn upnp_control_url(&self, gateway: IpAddr) -> Option<upnp_soap::Url> {
        self.state().clients.upnp_control_url(gateway)
    }

    /// The default gateway of this `Nat`'s family, from the routing table.
    pub(crate) fn default_gateway(&self) -> std::result::Result<IpAddr, netinfo::Error> {
        match self.family {
            Family::V4 => netinfo::default_gateway().map(IpAddr::V4),
            Family::V6 => netinfo::default_gateway_v6().map(IpAddr::V6),
        }
    }

    /// Whether the gateway is followed (read from the routing table) rather than given.
    pub(crate) fn follows_default_gateway(&self) -> bool {
        self.options.gateway.is_none() && self.custom.is_none()
    }

    /// A persistent mapping starts: the watcher runs while at least one does.
    pub(crate) fn watch(self: &Arc<Self>) -> WatcherLease {
        let mut slot = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        slot.users += 1;
        if slot.task.is_none() && self.custom.is_none() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let task = runtime.spawn(crate::watcher::run(Arc::downgrade(self)));
                slot.task = Some(task.abort_handle());
            }
        }
        WatcherLease {
            inner: Arc::downgrade(self),
        }
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

impl Drop for NatInner {
    fn drop(&mut self) {
        if let Ok(slot) = self.watcher.get_mut() {
            if let Some(task) = slot.task.take() {
                task.abort();
            }
        }
    }
}

/// Held by each persistent mapping's task; the last one dropped stops the watcher.
#[derive(Debug)]
pub(crate) struct WatcherLease {
    inner: Weak<NatInner>,
}

impl Drop for WatcherLease {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.unwatch();
        }
    }
}

/// Every address of every interface that is up; empty when they cannot be listed.
pub(crate) fn read_local_addresses() -> Vec<IpAddr> {
    match netinfo::interface_addresses() {
        Ok(mut addresses) => {
            addresses.sort();
            addresses.dedup();
            addresses
        }
        Err(error) => {
            tracing::warn!(%error, "cannot list the interface addresses");
            Vec::new()
        }
    }
}
