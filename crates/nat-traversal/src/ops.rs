//! Operations on the gateway rather than on a mapping this process keeps: the external
//! address with the technique that gave it, one-shot maps, deleting this host's mapping of
//! a port or of every port whichever technique made it (`ops/unmap.rs`), and listing
//! (`ops/list.rs`).
//!
//! These are what a tool like `natctl` needs: `natctl map` and `natctl unmap` are separate
//! processes, so the second one cannot hand back a [`Mapping`]; it names a port.

mod list;
mod unmap;

use std::future::Future;

use std::net::IpAddr;
use std::sync::Arc;
use sync_wrapper::SyncFuture;

pub use unmap::{UnmapReport, UnmapResult};

use crate::error::{Error, Result};
use crate::nat::Nat;
use crate::reach::Reachability;
use crate::technique::{MapRequest, Mapping, NatTechnique, Technique};

/// The gateway's external address, and who said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExternalAddress {
    /// The address.
    pub address: IpAddr,
    /// The technique that reported it.
    pub technique: Technique,
    /// The gateway asked (for an IGD elsewhere on the LAN, that host).
    pub gateway: IpAddr,
    /// Whether that is the default gateway; `false` only for a UPnP IGD on another LAN
    /// host, taken because [`NatOptions::with_allow_other_igd`](crate::NatOptions::with_allow_other_igd)
    /// allowed it.
    pub on_default_gateway: bool,
}

impl ExternalAddress {
    /// Whether the internet can reach mappings on this address (see [`Reachability`]).
    pub fn reachability(&self) -> Reachability {
        Reachability::of(self.address)
    }
}

impl Nat {
    /// With one technique allowed, a technique that is not there reads like a probe that
    /// found nothing.
    pub(crate) fn unavailable(&self, error: Error) -> Error {
        match self.core.sole() {
            Some(kind)
                if error.is_unreachable()
                    && !matches!(error, Error::NoTechniqueAvailable { .. }) =>
            {
                Error::NoTechniqueAvailable {
                    gateway: self.core.gateway_or_unspecified(),
                    tried: vec![(kind, error)],
                }
            }
            _ => error,
        }
    }

    /// The gateway's external address, with the technique that reported it, through the
    /// technique in use (choosing one first: the probe that chooses it answers the address,
    /// with no second request).
    ///
    /// # Errors
    /// [`Error::NoTechniqueAvailable`] when no allowed technique answers;
    /// [`Error::Network`] when the default gateway cannot be found; the technique's errors.
    pub fn external_address(&self) -> impl Future<Output = Result<ExternalAddress>> + Send + Sync {
        SyncFuture::new(async move {
            if let Some(kind) = self.core.sole() {
                // One technique allowed: asked at once, without a probe.
                let (technique, address) = self
                    .core
                    .operate(Some(kind), |t| async move { t.external_address().await })
                    .await
                    .map_err(|e| self.unavailable(e))?;
                return Ok(self.observed(&technique, address));
            }
            let before = self.core.probes_run();
            let selection = self.core.select().await.map_err(|e| self.unavailable(e))?;
            let probed = (self.core.probes_run() != before)
                .then(|| self.core.last_report())
                .flatten()
                .filter(|report| report.selected() == Some(selection.technique.kind()))
                .and_then(|report| report.external_address());
            let (technique, address) = match probed {
                Some(address) => (selection.technique, address),
                None => self
                    .core
                    .operate(None, |t| async move { t.external_address().await })
                    .await
                    .map_err(|e| self.unavailable(e))?,
            };
            Ok(self.observed(&technique, address))
        })
    }

    /// A refused mapping, with the likely reason when the same technique reports an
    /// external address nobody on the internet can reach (another NAT in front): one more
    /// exchange, only after a refusal.
    async fn explain_refusal(&self, kind: Option<Technique>, refusal: Error) -> Error {
        let asked = self
            .core
            .operate(kind, |t| async move { t.external_address().await })
            .await;
        match asked {
            Ok((_, external_address)) if !Reachability::of(external_address).is_public() => {
                Error::RefusedBehindNat {
                    external_address,
                    refusal: Box::new(refusal),
                }
            }
            _ => refusal,
        }
    }

    fn observed(&self, technique: &Arc<dyn NatTechnique>, address: IpAddr) -> ExternalAddress {
        self.core.observe_external_address(address);
        ExternalAddress {
            address,
            technique: technique.kind(),
            gateway: technique.gateway(),
            on_default_gateway: technique.on_default_gateway(),
        }
    }

    /// Maps a port once; nothing refreshes it (see [`persistent`](Self::persistent) for
    /// that). Through the technique in use; when none is chosen yet and several are allowed,
    /// the map itself is the probe (techniques asked in order of preference, staggered), so
    /// the first mapping costs one exchange, not two. A request with
    /// [`MapRequest::with_ipv6`] goes to [`ipv6`](Self::ipv6): a pinhole (recorded, when
    /// the options name a pinhole record).
    ///
    /// # Errors
    /// As [`selected_technique`](Self::selected_technique), and the technique's own errors;
    /// [`Error::Unsupported`] for an IPv6 pinhole with only NAT-PMP allowed.
    pub fn map<'a>(
        &'a self,
        request: &'a MapRequest,
    ) -> impl Future<Output = Result<Mapping>> + Send + Sync + 'a {
        SyncFuture::new(async move {
            if request.is_ipv6() && !self.is_ipv6() {
                self.ipv6().map_here(request).await
            } else {
                self.map_here(request).await
            }
        })
    }

    /// [`map`](Self::map) on this side.
    async fn map_here(&self, request: &MapRequest) -> Result<Mapping> {
        let sole = self.core.sole();
        let probed = match sole {
            // One technique allowed: asked at once, without a probe.
            Some(_) => None,
            None => {
                let (_, probed) = self
                    .core
                    .select_mapping_for(request)
                    .await
                    .map_err(|e| self.unavailable(e))?;
                probed
            }
        };
        let mapping = match probed {
            Some(mapping) => mapping,
            None => match self
                .core
                .operate(sole, |t| async move { t.map(request).await })
                .await
            {
                Ok((_, mapping)) => mapping,
                Err(error) if error.is_unreachable() => return Err(self.unavailable(error)),
                Err(refusal) => return Err(self.explain_refusal(sole, refusal).await),
            },
        };
        self.core
            .remember_maker(mapping.protocol, mapping.internal_port, mapping.technique);
        self.core.observe_external_address(mapping.external.ip());
        if self.is_ipv6() {
            self.core.record_pinhole(&mapping);
        }
        Ok(mapping)
    }
}
