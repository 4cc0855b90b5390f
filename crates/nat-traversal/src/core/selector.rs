//! Selection and probing: which technique a `Nat` uses, chosen by a probe of every allowed
//! technique (or, with one allowed, without asking anything), shared by every caller, and
//! dropped when it stops answering or the path changes.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::Instant;

use super::registry::Registry;
use crate::error::{Error, Result};
use crate::options::NatOptions;
use crate::probe::{self, Mode, ProbeFuture, ProbeReport, ProbeResult, Selection};
use crate::technique::{MapRequest, Mapping, NatTechnique, Technique};

/// What a probe asks each technique; its answer is the external address.
type Ask = Arc<
    dyn Fn(Arc<dyn NatTechnique>) -> Pin<Box<dyn Future<Output = Result<IpAddr>> + Send>>
        + Send
        + Sync,
>;

/// A mapping a probe made, with the technique that made it.
type Made = (Arc<dyn NatTechnique>, Mapping);

/// Where and what to probe.
pub(crate) struct Context {
    pub(crate) options: Arc<NatOptions>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) gateway: IpAddr,
    /// The techniques allowed, most preferred first.
    pub(crate) allowed: Vec<Technique>,
}

#[derive(Debug, Default)]
struct State {
    selection: Option<Selection>,
    report: Option<ProbeReport>,
    probes_run: u64,
    generation: u64,
    /// When a probe last found nothing (cleared by a success or a restart).
    failed_probe_at: Option<Instant>,
}

#[derive(Debug, Default)]
pub(crate) struct Selector {
    state: Mutex<State>,
    /// One probe at a time; callers that waited share its outcome.
    turn: tokio::sync::Mutex<()>,
}

impl Selector {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The technique in use, if one is.
    pub(crate) fn current(&self) -> Option<Selection> {
        self.state().selection.clone()
    }

    pub(crate) fn last_report(&self) -> Option<ProbeReport> {
        self.state().report.clone()
    }

    pub(crate) fn probes_run(&self) -> u64 {
        self.state().probes_run
    }

    /// A probe that found nothing less than `retry_initial` ago answers for a new one, so
    /// many mappings failing together do not probe one after the other.
    fn recent_failure(state: &State, options: &NatOptions) -> Option<Error> {
        let at = state.failed_probe_at?;
        if at.elapsed() >= options.retry_initial() {
            return None;
        }
        state.report.as_ref().and_then(ProbeReport::to_error)
    }

    /// The technique in use, choosing one if none is: a probe that returns as soon as the
    /// most preferred technique that can still answer has answered.
    pub(crate) async fn select(&self, context: &Context) -> Result<Selection> {
        Ok(self.select_inner(context, None).await?.0)
    }

    /// [`select`](Self::select), and when no technique was selected yet and several are
    /// allowed, a mapping made by the very probe that selects: the most preferred technique
    /// is asked for the mapping instead of the external address, so when it answers the
    /// first mapping costs one exchange, not a probe's and then a map's. The others are
    /// asked for the external address as usual (a probe that maps through several
    /// techniques at once could leave extra mappings behind, or take ports from each
    /// other). `None` for the mapping: the caller maps through the selection.
    pub(crate) async fn select_mapping(
        &self,
        context: &Context,
        request: &MapRequest,
    ) -> Result<(Selection, Option<Mapping>)> {
        self.select_inner(context, Some(request)).await
    }

    async fn select_inner(
        &self,
        context: &Context,
        request: Option<&MapRequest>,
    ) -> Result<(Selection, Option<Mapping>)> {
        let seen = {
            let state = self.state();
            if let Some(selection) = &state.selection {
                return Ok((selection.clone(), None));
            }
            if let Some(error) = Self::recent_failure(&state, &context.options) {
                return Err(error);
            }
            state.probes_run
        };
        let _turn = self.turn.lock().await;
        {
            let state = self.state();
            if let Some(selection) = &state.selection {
                return Ok((selection.clone(), None));
            }
            // Someone probed while we waited and found nothing: share that answer rather
            // than probing again at once.
            if state.probes_run != seen {
                if let Some(error) = state.report.as_ref().and_then(ProbeReport::to_error) {
                    return Err(error);
                }
            }
        }
        let made: Arc<Mutex<Option<Made>>> = Arc::default();
        let ask: Ask = match request {
            None => Arc::new(|technique: Arc<dyn NatTechnique>| {
                Box::pin(async move { technique.external_address().await })
            }),
            Some(request) => {
                let mapper = context.allowed.first().copied();
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
                        *made.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some((technique, mapping));
                        Ok(address)
                    })
                })
            }
        };
        let mode = Mode::FirstUsable {
            stagger: context.options.probe_stagger(),
        };
        let report = self.run(context, mode, &mut |_| {}, ask).await;
        let Some(selection) = self.current() else {
            return Err(report
                .to_error()
                .unwrap_or_else(|| no_technique(context.gateway)));
        };
        let mapping = made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .filter(|(t, _)| Arc::ptr_eq(t, &selection.technique))
            .map(|(_, m)| m);
        Ok((selection, mapping))
    }

    /// Probes every allowed technique at once and waits for each; keeps the most preferred
    /// one that answered.
    pub(crate) async fn probe(
        &self,
        context: &Context,
        on_result: &mut (dyn FnMut(&ProbeResult) + Send),
    ) -> ProbeReport {
        let _turn = self.turn.lock().await;
        let ask: Ask = Arc::new(|technique: Arc<dyn NatTechnique>| {
            Box::pin(async move { technique.external_address().await })
        });
        self.run(context, Mode::Complete, on_result, ask).await
    }

    /// Runs a probe (the caller holds the turn) and records its outcome.
    async fn run(
        &self,
        context: &Context,
        mode: Mode,
        on_result: &mut (dyn FnMut(&ProbeResult) + Send),
        ask: Ask,
    ) -> ProbeReport {
        let probes = match context.registry.given_in_order(&context.options) {
            Some(given) => given
                .into_iter()
                .map(|technique| {
                    let kind = technique.kind();
                    let ask = Arc::clone(&ask);
                    let probe: ProbeFuture = Box::pin(async move {
                        let address = ask(Arc::clone(&technique)).await?;
                        Ok((technique, address))
                    });
                    (kind, probe)
                })
                .collect(),
            None => self.builtin_probes(context, &ask),
        };
        let (report, technique) = probe::run_with(
            context.gateway,
            probes,
            context.options.probe_timeout(),
            mode,
            on_result,
        )
        .await;
        let mut state = self.state();
        state.probes_run += 1;
        state.report = Some(report.clone());
        state.failed_probe_at = technique.is_none().then(Instant::now);
        match technique {
            Some(technique) => {
                state.generation += 1;
                tracing::info!(technique = %technique.kind(), gateway = %context.gateway, elapsed = ?report.elapsed(), "nat technique selected");
                state.selection = Some(Selection {
                    technique,
                    generation: state.generation,
                });
            }
            None => state.selection = None,
        }
        report
    }

    /// One probe per built-in technique allowed, each made (once) through the registry.
    fn builtin_probes(&self, context: &Context, ask: &Ask) -> Vec<(Technique, ProbeFuture)> {
        context
            .allowed
            .iter()
            .map(|&kind| {
                let registry = Arc::clone(&context.registry);
                let options = Arc::clone(&context.options);
                let gateway = context.gateway;
                let ask = Arc::clone(ask);
                let probe: ProbeFuture = Box::pin(async move {
                    let (technique, address) =
                        registry.ask(kind, gateway, &options, |t| ask(t)).await?;
                    Ok((technique, address))
                });
                (kind, probe)
            })
            .collect()
    }

    /// A mapping found the technique of `generation` gone: the next selection probes
    /// again. Returns the technique dropped, if the selection was still that one.
    pub(crate) fn invalidate(&self, generation: u64) -> Option<Arc<dyn NatTechnique>> {
        let mut state = self.state();
        let selection = state
            .selection
            .take_if(|selection| selection.generation == generation)?;
        tracing::info!(technique = %selection.technique.kind(), "the nat technique stopped answering; probing again");
        Some(selection.technique)
    }

    /// Drops the selection if it is `technique` (it is gone).
    pub(crate) fn drop_technique(&self, technique: &Arc<dyn NatTechnique>) {
        let mut state = self.state();
        state
            .selection
            .take_if(|selection| Arc::ptr_eq(&selection.technique, technique));
        state.failed_probe_at = None;
    }

    /// Forgets the choice (the path changed, or the caller asked).
    pub(crate) fn clear(&self) {
        let mut state = self.state();
        state.selection = None;
        state.failed_probe_at = None;
        state.generation += 1;
    }
}

fn no_technique(gateway: IpAddr) -> Error {
    Error::NoTechniqueAvailable {
        gateway,
        tried: Vec::new(),
    }
}
