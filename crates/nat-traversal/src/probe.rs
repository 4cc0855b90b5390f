//! Probing: every technique at once, each bounded by the probe timeout, the
//! [`ProbeReport`] of who answered, how fast, and with which external address, and the
//! [`Selection`] a probe makes.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::unordered::Unordered;

use crate::error::{Error, Human, Result};
use crate::network::{NetworkPath, PassedOver};
use crate::technique::{NatTechnique, Technique};

/// The technique in use, and the probe generation that chose it: a mapping that finds it
/// gone drops the choice only if no newer probe replaced it meanwhile.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    pub(crate) technique: Arc<dyn NatTechnique>,
    pub(crate) generation: u64,
}

/// What one technique did when probed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ProbeOutcome {
    /// It answered with the gateway's external address.
    Answered {
        /// The external address it reported.
        external_address: IpAddr,
        /// From the start of the probe to the answer.
        latency: Duration,
        /// Whether the device that answered is the default gateway (`false` only for a
        /// UPnP IGD on another LAN host, when allowed).
        on_default_gateway: bool,
    },
    /// It failed or did not answer within the probe timeout.
    Failed {
        /// Why.
        error: Error,
        /// From the start of the probe to the failure.
        latency: Duration,
    },
    /// The probe was stopped, or never started, because a more preferred technique had
    /// already answered.
    NotAwaited,
}

/// One technique's line in a [`ProbeReport`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProbeResult {
    /// The technique.
    pub technique: Technique,
    /// What it did.
    pub outcome: ProbeOutcome,
}

impl ProbeResult {
    /// The external address, if it answered.
    pub fn external_address(&self) -> Option<IpAddr> {
        match self.outcome {
            ProbeOutcome::Answered {
                external_address, ..
            } => Some(external_address),
            _ => None,
        }
    }

    /// How long it took to answer or to fail.
    pub fn latency(&self) -> Option<Duration> {
        match self.outcome {
            ProbeOutcome::Answered { latency, .. } | ProbeOutcome::Failed { latency, .. } => {
                Some(latency)
            }
            ProbeOutcome::NotAwaited => None,
        }
    }

    /// Why it failed, if it did.
    pub fn error(&self) -> Option<&Error> {
        match &self.outcome {
            ProbeOutcome::Failed { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Which techniques answered at a gateway.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProbeReport {
    gateway: IpAddr,
    results: Vec<ProbeResult>,
    selected: Option<Technique>,
    elapsed: Duration,
    path: Option<NetworkPath>,
    passed_over: Vec<PassedOver>,
}

impl ProbeReport {
    /// The network path probed (interface, local address, gateway), when the routing
    /// table was read (not for techniques given to [`Nat::with_techniques`](crate::Nat::with_techniques)).
    pub fn path(&self) -> Option<&NetworkPath> {
        self.path.as_ref()
    }

    /// The host's other paths (another default route, a VPN tunnel), each with why it
    /// was not taken.
    pub fn passed_over(&self) -> &[PassedOver] {
        &self.passed_over
    }

    /// This report with the path it was made on.
    pub(crate) fn on_path(
        mut self,
        path: Option<NetworkPath>,
        passed_over: Vec<PassedOver>,
    ) -> ProbeReport {
        self.path = path;
        self.passed_over = passed_over;
        self
    }

    /// The gateway probed.
    pub fn gateway(&self) -> IpAddr {
        self.gateway
    }

    /// One line per technique, in order of preference.
    pub fn results(&self) -> &[ProbeResult] {
        &self.results
    }

    /// The most preferred technique that answered.
    pub fn selected(&self) -> Option<Technique> {
        self.selected
    }

    /// How long the whole probe took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The line of `technique`, if it was probed.
    pub fn result(&self, technique: Technique) -> Option<&ProbeResult> {
        self.results.iter().find(|r| r.technique == technique)
    }

    /// The techniques that answered, in order of preference.
    pub fn answered(&self) -> impl Iterator<Item = &ProbeResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, ProbeOutcome::Answered { .. }))
    }

    /// The external address the selected technique reported.
    pub fn external_address(&self) -> Option<IpAddr> {
        self.selected
            .and_then(|t| self.result(t))
            .and_then(ProbeResult::external_address)
    }

    /// [`Error::NoTechniqueAvailable`] with every failure in this report, when nothing
    /// was selected.
    pub fn to_error(&self) -> Option<Error> {
        self.selected
            .is_none()
            .then(|| Error::NoTechniqueAvailable {
                gateway: self.gateway,
                tried: self
                    .results
                    .iter()
                    .filter_map(|r| match &r.outcome {
                        ProbeOutcome::Failed { error, .. } => Some((r.technique, error.clone())),
                        _ => None,
                    })
                    .collect(),
            })
    }
}

impl fmt::Display for ProbeReport {
    /// One line per technique: `PCP: 44.0.0.1 in 1.2ms (selected)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, result) in self.results.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            match &result.outcome {
                ProbeOutcome::Answered {
                    external_address,
                    latency,
                    on_default_gateway,
                } => {
                    write!(
                        f,
                        "{}: {external_address} in {}",
                        result.technique,
                        Human(*latency)
                    )?;
                    if !on_default_gateway {
                        write!(f, " (not on the default gateway)")?;
                    }
                    if self.selected == Some(result.technique) {
                        write!(f, " (selected)")?;
                    }
                }
                ProbeOutcome::Failed { error, latency } => {
                    write!(
                        f,
                        "{}: failed after {}: {error}",
                        result.technique,
                        Human(*latency)
                    )?;
                }
                ProbeOutcome::NotAwaited => write!(f, "{}: not awaited", result.technique)?,
            }
        }
        Ok(())
    }
}

/// How long to wait, and when to start each probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every probe at once, until each answered or timed out.
    Complete,
    /// Until the most preferred technique that can still answer has answered. Each probe
    /// starts `stagger` after the one before it, or at once when every probe started so far
    /// has failed; probes never needed are never started (a router answering PCP at once
    /// is not also searched for by SSDP and HTTP, which would slow its PCP answer).
    FirstUsable {
        /// The head start each technique gets over the next less preferred one.
        stagger: Duration,
    },
}

/// A probe of one technique: builds it if needed, asks for the external address.
pub(crate) type ProbeFuture =
    Pin<Box<dyn Future<Output = Result<(Arc<dyn NatTechnique>, IpAddr)>> + Send>>;

type Finished = (usize, Duration, Result<(Arc<dyn NatTechnique>, IpAddr)>);

/// Runs `probes` (in order of preference) as `mode` says, each bounded by `timeout` from
/// its own start. Returns the report and the selected technique.
#[cfg(test)]
pub(crate) async fn run(
    gateway: IpAddr,
    probes: Vec<(Technique, ProbeFuture)>,
    timeout: Duration,
    mode: Mode,
) -> (ProbeReport, Option<Arc<dyn NatTechnique>>) {
    run_with(gateway, probes, timeout, mode, &mut |_| {}).await
}

/// [`run`], calling `on_result` with each technique's line as soon as it is known.
pub(crate) async fn run_with(
    gateway: IpAddr,
    probes: Vec<(Technique, ProbeFuture)>,
    timeout: Duration,
    mode: Mode,
    on_result: &mut (dyn FnMut(&ProbeResult) + Send),
) -> (ProbeReport, Option<Arc<dyn NatTechnique>>) {
    let started = Instant::now();
    let stagger = match mode {
        Mode::Complete => Duration::ZERO,
        Mode::FirstUsable { stagger } => stagger,
    };
    let mut results: Vec<ProbeResult> = probes
        .iter()
        .map(|(technique, _)| ProbeResult {
            technique: *technique,
            outcome: ProbeOutcome::NotAwaited,
        })
        .collect();
    let mut done = vec![false; probes.len()];
    let mut answered: Vec<Option<Arc<dyn NatTechnique>>> = vec![None; probes.len()];
    let mut waiting: VecDeque<(usize, Technique, ProbeFuture)> = probes
        .into_iter()
        .enumerate()
        .map(|(index, (technique, probe))| (index, technique, probe))
        .collect();
    let mut pending: Unordered<'static, Finished> = Unordered::new();
    let mut next_start = started;
    let mut selected = None;
    loop {
        while !waiting.is_empty() && (pending.is_empty() || next_start <= Instant::now()) {
            let Some((index, technique, probe)) = waiting.pop_front() else {
                break;
            };
            pending.push(bounded(index, technique, probe, gateway, timeout));
            next_start = Instant::now() + stagger;
        }
        let finished = if waiting.is_empty() {
            match pending.next().await {
                Some(finished) => finished,
                None => break,
            }
        } else {
            tokio::select! {
                finished = pending.next() => match finished {
                    Some(finished) => finished,
                    None => continue,
                },
                () = tokio::time::sleep_until(next_start) => continue,
            }
        };
        let (index, latency, outcome) = finished;
        done[index] = true;
        let technique = results[index].technique;
        results[index].outcome = match outcome {
            Ok((found, external_address)) => {
                tracing::debug!(%technique, %gateway, %external_address, ?latency, "probe answered");
                let on_default_gateway = found.on_default_gateway();
                answered[index] = Some(found);
                ProbeOutcome::Answered {
                    external_address,
                    latency,
                    on_default_gateway,
                }
            }
            Err(error) => {
                tracing::debug!(%technique, %gateway, %error, ?latency, "probe failed");
                ProbeOutcome::Failed { error, latency }
            }
        };
        on_result(&results[index]);
        if let Mode::FirstUsable { .. } = mode {
            // The first line that is not a finished failure decides: an answer is taken at
            // once, a line still running (or not started) must be waited for.
            let decisive = (0..results.len()).find(|&i| !done[i] || answered[i].is_some());
            if let Some(i) = decisive.filter(|&i| done[i]) {
                selected = Some(i);
                break;
            }
        }
    }
    if mode == Mode::Complete {
        selected = answered.iter().position(Option::is_some);
    }
    let technique = selected.and_then(|i| answered[i].take());
    let report = ProbeReport {
        gateway,
        selected: selected.map(|i| results[i].technique),
        results,
        elapsed: started.elapsed(),
        path: None,
        passed_over: Vec::new(),
    };
    (report, technique)
}

/// One probe, bounded by `timeout` from its start; reports its index and latency.
async fn bounded(
    index: usize,
    technique: Technique,
    probe: ProbeFuture,
    gateway: IpAddr,
    timeout: Duration,
) -> Finished {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, probe).await {
        Ok(result) => result,
        Err(_) => Err(Error::ProbeTimedOut {
            technique,
            gateway,
            timeout,
        }),
    };
    (index, started.elapsed(), outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::technique::{MapRequest, Mapping};
    use async_trait::async_trait;

    #[derive(Debug)]
    struct Answers(Technique);

    #[async_trait]
    impl NatTechnique for Answers {
        fn kind(&self) -> Technique {
            self.0
        }
        fn gateway(&self) -> IpAddr {
            IpAddr::from([127, 0, 0, 1])
        }
        async fn external_address(&self) -> Result<IpAddr> {
            Ok(IpAddr::from([44, 0, 0, 1]))
        }
        async fn map(&self, _: &MapRequest) -> Result<Mapping> {
            Err(self.refused())
        }
        async fn refresh(&self, _: &Mapping, _: Duration) -> Result<Mapping> {
            Err(self.refused())
        }
        async fn unmap(&self, _: &Mapping) -> Result<()> {
            Ok(())
        }
    }

    impl Answers {
        fn refused(&self) -> Error {
            Error::Unsupported {
                technique: self.0,
                what: "map".into(),
            }
        }
    }

    fn after(delay_ms: u64, technique: Technique, ok: bool) -> (Technique, ProbeFuture) {
        let probe: ProbeFuture = Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            if ok {
                let found: Arc<dyn NatTechnique> = Arc::new(Answers(technique));
                Ok((found, IpAddr::from([44, 0, 0, 1])))
            } else {
                Err(Error::Unsupported {
                    technique,
                    what: "answer".into(),
                })
            }
        });
        (technique, probe)
    }

    const GATEWAY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test(start_paused = true)]
    async fn first_usable_waits_for_better_techniques_only() {
        // PCP answers late, NAT-PMP early: PCP is still awaited, UPnP is not.
        let probes = vec![
            after(300, Technique::Pcp, true),
            after(10, Technique::NatPmp, true),
            after(2000, Technique::Upnp, true),
        ];
        let (report, chosen) = run(
            GATEWAY,
            probes,
            Duration::from_secs(5),
            Mode::FirstUsable {
                stagger: Duration::ZERO,
            },
        )
        .await;
        assert_eq!(report.selected, Some(Technique::Pcp));
        assert_eq!(chosen.map(|t| t.kind()), Some(Technique::Pcp));
        assert!(matches!(
            report.results[2].outcome,
            ProbeOutcome::NotAwaited
        ));
        assert_eq!(report.elapsed, Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn first_usable_takes_a_worse_technique_once_the_better_ones_failed() {
        let probes = vec![
            after(5, Technique::Pcp, false),
            after(5, Technique::NatPmp, false),
            after(40, Technique::Upnp, true),
        ];
        let (report, _) = run(
            GATEWAY,
            probes,
            Duration::from_secs(5),
            Mode::FirstUsable {
                stagger: Duration::ZERO,
            },
        )
        .await;
        assert_eq!(report.selected, Some(Technique::Upnp));
        assert_eq!(report.elapsed, Duration::from_millis(40));
        assert!(report.results[0].error().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn staggered_probes_start_late_or_when_the_better_ones_failed() {
        let mode = Mode::FirstUsable {
            stagger: Duration::from_millis(100),
        };
        // PCP answers before NAT-PMP's turn: nothing else starts.
        let probes = vec![
            after(30, Technique::Pcp, true),
            after(1, Technique::NatPmp, true),
            after(1, Technique::Upnp, true),
        ];
        let (report, _) = run(GATEWAY, probes, Duration::from_secs(5), mode).await;
        assert_eq!(report.selected, Some(Technique::Pcp));
        assert_eq!(report.elapsed, Duration::from_millis(30));
        assert!(matches!(
            report.results[1].outcome,
            ProbeOutcome::NotAwaited
        ));
        // PCP is slow: NAT-PMP starts at 100 ms, UPnP at 200 ms; PCP still wins at 250 ms.
        let probes = vec![
            after(250, Technique::Pcp, true),
            after(10, Technique::NatPmp, true),
            after(10, Technique::Upnp, true),
        ];
        let (report, _) = run(GATEWAY, probes, Duration::from_secs(5), mode).await;
        assert_eq!(report.selected, Some(Technique::Pcp));
        assert_eq!(
            report.result(Technique::Upnp).unwrap().latency(),
            Some(Duration::from_millis(10))
        );
        // PCP and NAT-PMP fail at once: UPnP starts without waiting for its turn.
        let probes = vec![
            after(2, Technique::Pcp, false),
            after(3, Technique::NatPmp, false),
            after(40, Technique::Upnp, true),
        ];
        let (report, _) = run(GATEWAY, probes, Duration::from_secs(5), mode).await;
        assert_eq!(report.selected, Some(Technique::Upnp));
        assert_eq!(report.elapsed, Duration::from_millis(45));
    }

    #[tokio::test(start_paused = true)]
    async fn timeouts_are_failures_and_nothing_is_selected() {
        let probes = vec![
            after(5, Technique::Pcp, false),
            after(10_000, Technique::Upnp, true),
        ];
        let (report, chosen) = run(GATEWAY, probes, Duration::from_secs(1), Mode::Complete).await;
        assert!(chosen.is_none());
        assert_eq!(report.selected, None);
        assert_eq!(report.elapsed, Duration::from_secs(1));
        let message = report.to_error().expect("nothing selected").to_string();
        assert!(
            message.starts_with("no technique available at gateway 127.0.0.1"),
            "{message}"
        );
        assert!(message.contains("did not answer within 1.0 s"), "{message}");
    }

    #[tokio::test(start_paused = true)]
    async fn complete_waits_for_everyone() {
        let probes = vec![
            after(5, Technique::Pcp, true),
            after(50, Technique::Upnp, true),
        ];
        let (report, _) = run(GATEWAY, probes, Duration::from_secs(1), Mode::Complete).await;
        assert_eq!(report.selected, Some(Technique::Pcp));
        assert_eq!(report.answered().count(), 2);
        assert_eq!(report.elapsed, Duration::from_millis(50));
        assert!(report.to_string().contains("PCP: 44.0.0.1 in"), "{report}");
    }
}
