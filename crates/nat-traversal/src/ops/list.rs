//! Listing the gateway's mapping table.

use std::future::Future;

use crate::error::{Error, Result};
use crate::nat::Nat;
use crate::technique::{TableEntry, Technique};
use sync_wrapper::SyncFuture;

impl Nat {
    /// The gateway's mapping table (every host's mappings), through the first allowed
    /// technique that can list: UPnP IGD (NAT-PMP and PCP have no request for it). On the
    /// IPv6 side, no protocol can list pinholes: see [`recorded_pinholes`](Self::recorded_pinholes).
    ///
    /// # Errors
    /// [`Error::Unsupported`] when no allowed technique can list; the technique's errors.
    pub fn list(&self) -> impl Future<Output = Result<Vec<TableEntry>>> + Send + Sync {
        SyncFuture::new(async move {
            let allowed = self.core.allowed();
            let mut unsupported = Error::Unsupported {
                technique: allowed.first().copied().unwrap_or(Technique::Pcp),
                what: "list mappings: NAT-PMP and PCP have no such request (UPnP IGD has)".into(),
            };
            for kind in allowed {
                match self
                    .core
                    .operate(Some(kind), |t| async move { t.list().await })
                    .await
                {
                    Err(error @ Error::Unsupported { .. }) => unsupported = error,
                    Err(error) => return Err(self.unavailable(error)),
                    Ok((_, entries)) => return Ok(entries),
                }
            }
            Err(unsupported)
        })
    }
}
