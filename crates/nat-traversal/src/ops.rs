//! Operations on the gateway rather than on a mapping this process holds: the external
//! address with the technique that gave it, one-shot maps, deleting this host's mapping of
//! a port or of every port (whichever technique made it), and listing.
//!
//! These are what a tool like `natctl` needs: `natctl map` and `natctl unmap` are separate
//! processes, so the second one cannot hand back a [`Mapping`]; it names a port.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::nat::Nat;
use crate::reach::Reachability;
use crate::technique::{
    ListedMapping, MapRequest, Mapping, NatTechnique, Protocol, Technique, Unmapped,
};
use crate::unordered::Unordered;

/// The gateway's external address, and who said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExternalAddress {
    /// The address.
    pub address: IpAddr,
    /// The technique that reported it.
    pub technique: Technique,
    /// The gateway asked (for an IGD elsewhere on the LAN, that host).
    pub gateway: IpAddr,
    /// Whether that is the default gateway; `false` only for a UPnP IGD on another LAN
    /// host, taken because [`NatOptions::allow_other_igd`](crate::NatOptions::allow_other_igd)
    /// allowed it.
    pub on_default_gateway: bool,
}

impl ExternalAddress {
    /// Whether the internet can reach mappings on this address (see [`Reachability`]).
    pub fn reachability(&self) -> Reachability {
        Reachability::of(self.address)
    }
}

/// One technique's part in an [`UnmapReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmapResult {
    /// The technique asked.
    pub technique: Technique,
    /// What it found, or why it could not be asked (not available at this gateway, ...).
    pub outcome: std::result::Result<Unmapped, String>,
}

/// What [`Nat::unmap_port`] and [`Nat::unmap_all`] did, technique by technique, in the
/// order they were asked.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The techniques allowed, most preferred first.
    fn allowed(&self) -> Vec<Technique> {
        self.inner.allowed()
    }

    /// The technique allowed, if only one is: then it is used without probing.
    fn sole(&self) -> Option<Technique> {
        match self.allowed().as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }

    /// Runs `operation` through the technique of `kind` (made first if needed, UPnP
    /// searching within the probe timeout), the operation bounded by the operation timeout;
    /// a UPnP IGD from the cache that does not answer is searched for again and asked once
    /// more. Returns the technique with the answer.
    async fn through_technique<T, F, Fut>(
        &self,
        kind: Technique,
        operation: F,
    ) -> Result<(Arc<dyn NatTechnique>, T)>
    where
        F: Fn(Arc<dyn NatTechnique>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let limit = self.options().operation_timeout;
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
        let whole = self.options().probe_timeout * 2 + limit * 2;
        let asked = async {
            if self.inner.is_builtin() {
                let gateway = self.inner.current_network()?.gateway;
                self.inner.ask_builtin(kind, gateway, bounded).await
            } else {
                let technique = self.technique_for(kind).await?;
                let answer = bounded(Arc::clone(&technique)).await?;
                Ok((technique, answer))
            }
        };
        match tokio::time::timeout(whole, asked).await {
            Ok(result) => result,
            Err(_) => Err(Error::ProbeTimedOut {
                technique: kind,
                gateway: self.gateway_or_unspecified(),
                timeout: whole,
            }),
        }
    }

    /// [`through_technique`](Self::through_technique), the answer alone.
    async fn through<T, F, Fut>(&self, kind: Technique, operation: F) -> Result<T>
    where
        F: Fn(Arc<dyn NatTechnique>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        Ok(self.through_technique(kind, operation).await?.1)
    }

    fn gateway_or_unspecified(&self) -> IpAddr {
        self.gateway()
            .or(self.options().gateway)
            .unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    /// A sole technique that is not there reads like a probe that found nothing.
    fn unavailable(&self, kind: Technique, error: Error) -> Error {
        if error.is_unreachable() && !matches!(error, Error::NoTechniqueAvailable { .. }) {
            Error::NoTechniqueAvailable {
                gateway: self.gateway_or_unspecified(),
                tried: vec![(kind, error.to_string())],
            }
        } else {
            error
        }
    }

    /// The gateway's external address with the technique that reported it. With one
    /// technique allowed, it is asked directly; otherwise the address comes from the probe
    /// that selects a technique (no second request) or from the technique in use.
    ///
    /// # Errors
    /// [`Error::NoTechniqueAvailable`] when no allowed technique answers;
    /// [`Error::Network`] when the default gateway cannot be found; the technique's errors.
    pub async fn external(&self) -> Result<ExternalAddress> {
        let (technique, address) = match self.sole() {
            Some(kind) => self
                .through_technique(kind, |t| async move { t.external_address().await })
                .await
                .map_err(|e| self.unavailable(kind, e))?,
            None => {
                let before = self.inner.probes_run();
                let technique = self.technique().await?;
                let probed = (self.inner.probes_run() != before)
                    .then(|| self.last_report())
                    .flatten()
                    .filter(|report| report.selected == Some(technique.kind()))
                    .and_then(|report| report.external_address());
                let address = match probed {
                    Some(address) => address,
                    None => technique.external_address().await?,
                };
                (technique, address)
            }
        };
        self.inner.observe_external_address(address);
        Ok(ExternalAddress {
            address,
            technique: technique.kind(),
            gateway: technique.gateway(),
            on_default_gateway: technique.on_default_gateway(),
        })
    }

    /// Maps a port once; nothing refreshes it (see [`persistent`](Self::persistent) for
    /// that). With one technique allowed it is asked directly, without a probe; otherwise
    /// through the technique in use, and when none is selected yet the map itself is the
    /// probe (techniques asked in order of preference, staggered), so the first mapping
    /// costs one exchange, not two.
    ///
    /// # Errors
    /// As [`technique`](Self::technique), and the technique's own errors.
    /// A request with [`MapRequest::ipv6`] set goes to [`ipv6`](Self::ipv6): a pinhole.
    pub async fn map(&self, request: &MapRequest) -> Result<Mapping> {
        if request.ipv6 && !self.is_ipv6() {
            return Box::pin(self.ipv6().map(request)).await;
        }
        let mapping = match self.sole() {
            Some(kind) => self
                .through(kind, |t| async move { t.map(request).await })
                .await
                .map_err(|e| self.unavailable(kind, e))?,
            None => match self.inner.select_mapping(request).await? {
                (_, Some(mapping)) => mapping,
                (selection, None) => selection.technique.map(request).await?,
            },
        };
        self.inner
            .remember_maker(mapping.protocol, mapping.internal_port, mapping.technique);
        self.inner.observe_external_address(mapping.external.ip());
        Ok(mapping)
    }

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
    pub async fn unmap_port(&self, protocol: Protocol, internal_port: u16) -> Result<UnmapReport> {
        let mut order = self.allowed();
        if let Some(maker) = self.inner.maker(protocol, internal_port) {
            if let Some(at) = order.iter().position(|&t| t == maker) {
                order.remove(at);
                order.insert(0, maker);
            }
        }
        let mut results: Vec<UnmapResult> = Vec::new();
        let ask = |kind: Technique| async move {
            let outcome = self
                .through(kind, |t| async move {
                    t.unmap_port(protocol, internal_port).await
                })
                .await;
            UnmapResult {
                technique: kind,
                outcome: outcome.map_err(|e| e.to_string()),
            }
        };
        let removed = |results: &[UnmapResult]| {
            results
                .iter()
                .any(|r| matches!(r.outcome, Ok(Unmapped::Removed { .. })))
        };
        // The known maker alone first.
        if let Some(&first) = order.first() {
            if self.inner.maker(protocol, internal_port) == Some(first) {
                results.push(ask(first).await);
                order.remove(0);
            }
        }
        let (can_tell, cannot_tell): (Vec<Technique>, Vec<Technique>) =
            order.into_iter().partition(|&t| t != Technique::NatPmp);
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
        self.inner.forget_maker(protocol, internal_port);
        self.conclude(protocol, Some(internal_port), results)
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
            .through(Technique::Pcp, |t| async move {
                t.unmap_port(protocol, internal_port).await
            })
            .await;
        if let Ok(Unmapped::NotThere) = again {
            for result in results.iter_mut() {
                if result.outcome == Ok(Unmapped::Unverifiable) {
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
    pub async fn unmap_all(&self, protocol: Protocol) -> Result<UnmapReport> {
        let mut order = self.allowed();
        order.sort_by_key(|&t| t != Technique::Upnp);
        let mut results = Vec::new();
        for kind in order {
            let outcome = self
                .through(kind, |t| async move { t.unmap_all(protocol).await })
                .await;
            results.push(UnmapResult {
                technique: kind,
                outcome: outcome.map_err(|e| e.to_string()),
            });
        }
        self.conclude(protocol, None, results)
    }

    fn conclude(
        &self,
        protocol: Protocol,
        internal_port: Option<u16>,
        results: Vec<UnmapResult>,
    ) -> Result<UnmapReport> {
        let report = UnmapReport {
            gateway: self.gateway_or_unspecified(),
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
                    .map(|r| (r.technique, r.outcome.clone().err().unwrap_or_default()))
                    .collect(),
            });
        }
        if let Some(blocker) = report.blocker() {
            return Err(Error::NotRemoved {
                what,
                why: format!("{}: {}", blocker.technique, display(&blocker.outcome)),
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

    /// The gateway's mappings (every host's), through the first allowed technique that can
    /// list: UPnP IGD (NAT-PMP and PCP have no request for it).
    ///
    /// # Errors
    /// [`Error::Unsupported`] when no allowed technique can list; the technique's errors.
    pub async fn list(&self) -> Result<Vec<ListedMapping>> {
        let allowed = self.allowed();
        let mut unsupported = Error::Unsupported {
            technique: allowed.first().copied().unwrap_or(Technique::Pcp),
            what: "list mappings: NAT-PMP and PCP have no such request (UPnP IGD has)".into(),
        };
        for kind in allowed {
            // The built-in NAT-PMP and PCP cannot list: no need to ask them.
            if self.inner.is_builtin() && kind != Technique::Upnp {
                continue;
            }
            match self.through(kind, |t| async move { t.list().await }).await {
                Err(error @ Error::Unsupported { .. }) => unsupported = error,
                other => return other.map_err(|e| self.unavailable(kind, e)),
            }
        }
        Err(unsupported)
    }
}

fn display(outcome: &std::result::Result<Unmapped, String>) -> String {
    match outcome {
        Ok(outcome) => outcome.to_string(),
        Err(error) => error.clone(),
    }
}
