//! Deleting this host's mapping of a port, or of every port, whichever technique made it,
//! and the [`UnmapReport`] of what each technique did.

use std::future::Future;

use std::fmt;
use std::net::IpAddr;
use sync_wrapper::SyncFuture;

use crate::error::{Error, Result};
use crate::nat::Nat;
use crate::technique::{Protocol, Technique, Unmapped};
use crate::unordered::Unordered;

/// One technique's part in an [`UnmapReport`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UnmapResult {
    /// The technique asked.
    pub technique: Technique,
    /// What it found, or why it could not be asked (not available at this gateway, ...).
    pub outcome: std::result::Result<Unmapped, Error>,
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
    /// The techniques that removed something.
    pub fn removed_by(&self) -> impl Iterator<Item = Technique> + '_ {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Ok(Unmapped::Removed { .. })))
            .map(|r| r.technique)
    }

    /// Whether some technique removed something.
    pub fn removed(&self) -> bool {
        self.removed_by().next().is_some()
    }

    /// How many mappings were removed, as far as the techniques can count (UPnP counts what
    /// it deleted; PCP removes the one mapping of a port; NAT-PMP cannot tell): `None` when
    /// none that removed something could count.
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

    /// Whether a technique's answer shows what was there; `false` when every technique that
    /// answered only said "done" (NAT-PMP).
    pub fn verified(&self) -> bool {
        self.results.iter().any(|r| {
            matches!(
                r.outcome,
                Ok(Unmapped::Removed { .. } | Unmapped::NotThere | Unmapped::HeldElsewhere { .. })
            )
        })
    }

    /// The technique that saw a mapping it may not delete, when nothing was removed.
    fn blocker(&self) -> Option<&UnmapResult> {
        if self.removed() {
            return None;
        }
        self.results
            .iter()
            .find(|r| matches!(r.outcome, Ok(Unmapped::HeldElsewhere { .. })))
    }
}

impl fmt::Display for UnmapReport {
    /// `PCP: nothing to remove; UPnP IGD: removed 1 mapping`.
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
    /// the one that made it first when this `Nat` knows (it made it), otherwise every
    /// technique that can tell whether it holds one (PCP, UPnP IGD) at once, until one
    /// removes it; a technique whose answer cannot tell (NAT-PMP) is asked last, and only
    /// if nothing was removed.
    ///
    /// Deleting what is not there succeeds: the report says so
    /// ([`UnmapReport::removed`] is `false`).
    ///
    /// # Errors
    /// [`Error::NoTechniqueAvailable`] when no technique could be asked;
    /// [`Error::NotRemoved`] when a mapping of the port exists that no allowed technique may
    /// delete (a PCP mapping made by another program, with its own nonce).
    pub fn unmap_port(
        &self,
        protocol: Protocol,
        internal_port: u16,
    ) -> impl Future<Output = Result<UnmapReport>> + Send + Sync {
        SyncFuture::new(async move {
            let mut order = self.core.allowed();
            if let Some(maker) = self.core.maker(protocol, internal_port) {
                if let Some(at) = order.iter().position(|&t| t == maker) {
                    order.remove(at);
                    order.insert(0, maker);
                }
            }
            let mut results: Vec<UnmapResult> = Vec::new();
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
            // The known maker alone first.
            if let Some(&first) = order.first() {
                if self.core.maker(protocol, internal_port) == Some(first) {
                    results.push(ask(first).await);
                    order.remove(0);
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
                    let result = ask(kind).await;
                    let answered = result.outcome.is_ok();
                    results.push(result);
                    if answered {
                        self.confirm_with_pcp(protocol, internal_port, &mut results)
                            .await;
                    }
                }
            }
            self.core.forget_maker(protocol, internal_port);
            let report = self.conclude(protocol, Some(internal_port), results)?;
            self.core.forget_pinholes(protocol, Some(internal_port));
            Ok(report)
        })
    }

    /// NAT-PMP's "done" says nothing; when PCP saw a mapping it could not delete, PCP is
    /// asked again: if the mapping is gone now, NAT-PMP removed it.
    async fn confirm_with_pcp(
        &self,
        protocol: Protocol,
        internal_port: u16,
        results: &mut [UnmapResult],
    ) {
        let held_by_other = results.iter().any(|r| {
            r.technique == Technique::Pcp && matches!(r.outcome, Ok(Unmapped::HeldElsewhere { .. }))
        });
        if !held_by_other {
            return;
        }
        let again = self
            .core
            .operate(Some(Technique::Pcp), |t| async move {
                t.unmap_port(protocol, internal_port).await
            })
            .await
            .map(|(_, outcome)| outcome);
        if let Ok(Unmapped::NotThere) = again {
            for result in results.iter_mut() {
                if matches!(result.outcome, Ok(Unmapped::Unverifiable)) {
                    result.outcome = Ok(Unmapped::Removed { count: None });
                }
            }
            for result in results.iter_mut() {
                if result.technique == Technique::Pcp {
                    result.outcome = Ok(Unmapped::NotThere);
                }
            }
        }
    }

    /// Deletes every mapping of `protocol` to this host that the allowed techniques can
    /// reach, each its own way: UPnP IGD by reading the gateway's table (first, so the
    /// count covers mappings every technique made), then PCP's and NAT-PMP's delete-all
    /// where the gateway allows it.
    ///
    /// # Errors
    /// [`Error::NoTechniqueAvailable`] when no technique could be asked;
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
        let what = match internal_port {
            Some(port) => format!("the {protocol} mapping of port {port}"),
            None => format!("the {protocol} mappings of this host"),
        };
        if report.results.iter().all(|r| r.outcome.is_err()) {
            return Err(Error::NoTechniqueAvailable {
                gateway: report.gateway,
                tried: report
                    .results
                    .iter()
                    .filter_map(|r| r.outcome.clone().err().map(|e| (r.technique, e)))
                    .collect(),
            });
        }
        if let Some(blocker) = report.blocker() {
            return Err(Error::NotRemoved {
                what,
                why: format!("{}: {}", blocker.technique, Outcome(&blocker.outcome)),
            });
        }
        let everyone_refused = report
            .results
            .iter()
            .all(|r| matches!(r.outcome, Ok(Unmapped::Refused { .. }) | Err(_)));
        if everyone_refused {
            return Err(Error::NotRemoved {
                what,
                why: report.to_string(),
            });
        }
        Ok(report)
    }
}

/// A technique's outcome as a phrase.
struct Outcome<'a>(&'a std::result::Result<Unmapped, Error>);

impl fmt::Display for Outcome<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(outcome) => outcome.fmt(f),
            Err(error) => error.fmt(f),
        }
    }
}
