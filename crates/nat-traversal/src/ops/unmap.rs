//! Deleting this host's mapping of a port, or of every port, whichever technique made it,
//! and the [`UnmapReport`] of what each technique's answer says.
//!
//! Each outcome says only what the gateway's answer says, for any server ([`Unmapped`]):
//! removed, nothing there, cannot tell (NAT-PMP's and PCP's answers are the same either way),
//! or refused with a result code. The report is a success when some technique removed
//! something or accepted the deletion; it is [`Error::NotRemoved`] when every technique that
//! answered refused, and [`Error::NoTechniqueAvailable`] only when none answered at all.

use std::fmt;
use std::net::IpAddr;

use sync_wrapper::SyncFuture;

use crate::error::{Error, Result};
use crate::nat::Nat;
use crate::technique::{Protocol, Technique, Unmapped};
use crate::unordered::Unordered;
use std::future::Future;

/// One technique's part in an [`UnmapReport`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UnmapResult {
    /// The technique asked.
    pub technique: Technique,
    /// What its answer says, or why it could not be asked (no answer, not available at this
    /// gateway, ...).
    pub outcome: std::result::Result<Unmapped, Error>,
}

impl UnmapResult {
    /// Whether the gateway answered this technique (an outcome, or an error that is the
    /// gateway's answer rather than its silence).
    pub fn answered(&self) -> bool {
        match &self.outcome {
            Ok(_) => true,
            Err(error) => !error.is_unreachable() && !matches!(error, Error::Unsupported { .. }),
        }
    }

    /// The gateway's refusal, when it refused (an outcome, or an error it answered with).
    pub fn refusal(&self) -> Option<&Error> {
        match &self.outcome {
            Ok(Unmapped::Refused { error }) => Some(error),
            Err(error) if self.answered() => Some(error),
            _ => None,
        }
    }
}

/// What [`Nat::unmap_port`] and [`Nat::unmap_all`] did, technique by technique, in the
/// order they were asked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UnmapReport {
    /// The gateway asked.
    pub gateway: IpAddr,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port on this host; `None` for every port.
    pub internal_port: Option<u16>,
    /// One line per technique asked.
    pub results: Vec<UnmapResult>,
}

impl UnmapReport {
    /// The techniques whose answer says they removed something.
    pub fn removed_by(&self) -> impl Iterator<Item = Technique> + '_ {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Ok(Unmapped::Removed { .. })))
            .map(|r| r.technique)
    }

    /// Whether some technique's answer says it removed something.
    pub fn removed(&self) -> bool {
        self.removed_by().next().is_some()
    }

    /// How many mappings the answers show removed (UPnP counts what it deleted; a removal
    /// by port is one; "nothing there" is none); `None` when no answer could count.
    pub fn removed_count(&self) -> Option<usize> {
        let mut total = None;
        for result in &self.results {
            let counted = match &result.outcome {
                Ok(Unmapped::Removed { count: Some(n) }) => Some(*n),
                Ok(Unmapped::Removed { count: None }) if self.internal_port.is_some() => Some(1),
                Ok(Unmapped::NotThere) => Some(0),
                _ => None,
            };
            if let Some(n) = counted {
                total = Some(total.unwrap_or(0) + n);
            }
        }
        total
    }

    /// Whether some technique's answer shows what was there (it removed something, or there
    /// was nothing); `false` when every answer was "done, cannot tell" or a refusal.
    pub fn verified(&self) -> bool {
        self.results
            .iter()
            .any(|r| matches!(&r.outcome, Ok(outcome) if outcome.is_verified()))
    }

    /// Whether some technique accepted the deletion without saying what was there.
    pub fn cannot_tell(&self) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r.outcome, Ok(Unmapped::CannotTell)))
    }

    /// The refusals, technique by technique.
    pub fn refusals(&self) -> impl Iterator<Item = (Technique, &Error)> + '_ {
        self.results
            .iter()
            .filter_map(|r| r.refusal().map(|e| (r.technique, e)))
    }
}

impl fmt::Display for UnmapReport {
    /// `UPnP IGD: removed 1 mapping; PCP: done, but its answer cannot tell ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, result) in self.results.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            match &result.outcome {
                Ok(outcome) => write!(f, "{}: {outcome}", result.technique)?,
                Err(error) => write!(f, "{}: {error}", result.technique)?,
            }
        }
        Ok(())
    }
}

impl Nat {
    /// Deletes this host's mapping of `internal_port`, whichever allowed technique made it:
    /// the one that made it first when this `Nat` knows (it made it); otherwise the
    /// techniques whose answer can tell whether there was one (UPnP IGD, which reads the
    /// gateway's table) at once, until one removes it; then, when nothing was removed, the
    /// techniques whose answer cannot tell (PCP, NAT-PMP), which may hold a mapping the
    /// table does not show.
    ///
    /// Deleting what is not there succeeds, and the report says what each answer shows
    /// ([`UnmapReport::removed`], [`UnmapReport::verified`]).
    ///
    /// # Errors
    /// [`Error::NoTechniqueAvailable`] when no technique answered;
    /// [`Error::NotRemoved`] when every technique that answered refused (each refusal with
    /// its result code).
    pub fn unmap_port(
        &self,
        protocol: Protocol,
        internal_port: u16,
    ) -> impl Future<Output = Result<UnmapReport>> + Send + Sync {
        SyncFuture::new(async move {
            let maker = self.core.maker(protocol, internal_port);
            let mut order = self.core.allowed();
            if let Some(at) = maker.and_then(|m| order.iter().position(|&t| t == m)) {
                let first = order.remove(at);
                order.insert(0, first);
            }
            let ask = |kind: Technique| async move {
                let outcome = self
                    .core
                    .operate(Some(kind), |t| async move {
                        t.unmap_port(protocol, internal_port).await
                    })
                    .await
                    .map(|(_, outcome)| outcome);
                UnmapResult {
                    technique: kind,
                    outcome,
                }
            };
            let removed = |results: &[UnmapResult]| {
                results
                    .iter()
                    .any(|r| matches!(r.outcome, Ok(Unmapped::Removed { .. })))
            };
            // The maker that made it here and accepted its deletion has done what can be
            // done: asking the others adds nothing.
            let maker_done = |results: &[UnmapResult]| {
                results.first().is_some_and(|r| {
                    matches!(
                        r.outcome,
                        Ok(Unmapped::Removed { .. } | Unmapped::CannotTell)
                    )
                })
            };
            let mut results: Vec<UnmapResult> = Vec::new();
            // The known maker alone first.
            if maker.is_some() && order.first().copied() == maker {
                results.push(ask(order.remove(0)).await);
                if maker_done(&results) {
                    order.clear();
                }
            }
            let (can_tell, cannot_tell): (Vec<Technique>, Vec<Technique>) =
                order.into_iter().partition(|&t| t.can_verify_deletion());
            if !removed(&results) && !can_tell.is_empty() {
                let mut asking = Unordered::new();
                for &kind in &can_tell {
                    asking.push(ask(kind));
                }
                while let Some(result) = asking.next().await {
                    let done = matches!(result.outcome, Ok(Unmapped::Removed { .. }));
                    results.push(result);
                    if done {
                        break;
                    }
                }
            }
            if !removed(&results) {
                for kind in cannot_tell {
                    results.push(ask(kind).await);
                }
            }
            self.core.forget_maker(protocol, internal_port);
            let report = self.conclude(protocol, Some(internal_port), results)?;
            self.core.forget_pinholes(protocol, Some(internal_port));
            Ok(report)
        })
    }

    /// Deletes every mapping of `protocol` to this host that the allowed techniques can
    /// reach, each its own way: UPnP IGD by reading the gateway's table (first, so the
    /// count covers mappings every technique made), then PCP's and NAT-PMP's delete-all
    /// where the gateway allows it.
    ///
    /// # Errors
    /// [`Error::NoTechniqueAvailable`] when no technique answered;
    /// [`Error::NotRemoved`] when every technique that answered refused.
    pub fn unmap_all(
        &self,
        protocol: Protocol,
    ) -> impl Future<Output = Result<UnmapReport>> + Send + Sync {
        SyncFuture::new(async move {
            let mut order = self.core.allowed();
            order.sort_by_key(|&t| t != Technique::Upnp);
            let mut results = Vec::new();
            for kind in order {
                let outcome = self
                    .core
                    .operate(Some(kind), |t| async move { t.unmap_all(protocol).await })
                    .await
                    .map(|(_, outcome)| outcome);
                results.push(UnmapResult {
                    technique: kind,
                    outcome,
                });
            }
            let report = self.conclude(protocol, None, results)?;
            self.core.forget_pinholes(protocol, None);
            Ok(report)
        })
    }

    fn conclude(
        &self,
        protocol: Protocol,
        internal_port: Option<u16>,
        results: Vec<UnmapResult>,
    ) -> Result<UnmapReport> {
        let report = UnmapReport {
            gateway: self.core.gateway_or_unspecified(),
            protocol,
            internal_port,
            results,
        };
        if !report.results.iter().any(UnmapResult::answered) {
            // Nothing answered: a technique that cannot do it is not a gateway's silence.
            if let Some(unsupported) = report.results.iter().find_map(|r| match &r.outcome {
                Err(error @ Error::Unsupported { .. }) if report.results.len() == 1 => {
                    Some(error.clone())
                }
                _ => None,
            }) {
                return Err(unsupported);
            }
            return Err(Error::NoTechniqueAvailable {
                gateway: report.gateway,
                tried: report
                    .results
                    .iter()
                    .filter_map(|r| r.outcome.clone().err().map(|e| (r.technique, e)))
                    .collect(),
            });
        }
        let accepted = report.results.iter().any(|r| {
            matches!(
                r.outcome,
                Ok(Unmapped::Removed { .. } | Unmapped::NotThere | Unmapped::CannotTell)
            )
        });
        if !accepted {
            return Err(Error::NotRemoved {
                what: match internal_port {
                    Some(port) => format!("the {protocol} mapping of port {port}"),
                    None => format!("the {protocol} mappings of this host"),
                },
                refusals: report
                    .refusals()
                    .map(|(technique, error)| (technique, error.clone()))
                    .collect(),
            });
        }
        Ok(report)
    }
}
