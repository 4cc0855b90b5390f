//! [`MappingEvent`]: what happened to a kept mapping, each with its reason, as
//! [`PersistentMapping::events`](crate::PersistentMapping::events) tells it.

use std::future::Future;

use std::fmt;
use sync_wrapper::SyncFuture;

use tokio::sync::broadcast;

use crate::error::Error;
use crate::network::NetworkPath;
use crate::technique::{Mapping, Technique};

/// What happened to a kept mapping.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MappingEvent {
    /// The gateway granted the mapping: the first time, or again after it was lost or not
    /// mapped.
    Mapped {
        /// What the gateway granted.
        mapping: Mapping,
    },
    /// Still mapped, but its public side or its technique changed.
    Changed {
        /// What the gateway granted now.
        mapping: Mapping,
        /// What it had granted before.
        previous: Mapping,
        /// Why it was made again.
        reason: ChangeReason,
    },
    /// The mapping held is gone.
    Lost {
        /// The mapping that was held.
        previous: Mapping,
        /// Why it is gone.
        reason: LossReason,
    },
    /// An attempt to map failed and nothing is held; the mapping keeps trying.
    NotMapped {
        /// Why the attempt failed.
        error: Error,
    },
    /// A renewal failed while the mapping is still within its lease (the gateway most
    /// likely still holds it); the mapping keeps trying.
    RenewalFailed {
        /// The mapping held.
        mapping: Mapping,
        /// Why the renewal failed.
        error: Error,
    },
}

/// Why a kept mapping was made again with another public side or technique.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeReason {
    /// The gateway restarted (the reason says what showed it).
    GatewayRestarted {
        /// What showed it.
        reason: String,
    },
    /// The gateway's external address changed.
    ExternalAddressChanged,
    /// The technique in use stopped working and another was chosen.
    TechniqueChanged {
        /// The technique used before.
        from: Technique,
    },
    /// A renewal's answer carried another address or port.
    Renewed,
}

/// Why a kept mapping was lost.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LossReason {
    /// Its lease ended while it could not be renewed.
    LeaseEnded {
        /// Why the last renewal failed.
        error: Error,
    },
    /// The network path changed (another gateway, another local address): it is deleted
    /// at the old gateway and made at the new one.
    PathChanged {
        /// The path it was made on, when one was read.
        previous: Option<NetworkPath>,
        /// The path now; `None` when there is none usable (the link went down, a
        /// full-tunnel VPN came up).
        current: Option<NetworkPath>,
    },
}

impl fmt::Display for ChangeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChangeReason::GatewayRestarted { reason } => {
                write!(f, "the gateway restarted ({reason})")
            }
            ChangeReason::ExternalAddressChanged => {
                f.write_str("the gateway's external address changed")
            }
            ChangeReason::TechniqueChanged { from } => write!(f, "{from} stopped answering"),
            ChangeReason::Renewed => f.write_str("the renewal was granted elsewhere"),
        }
    }
}

impl fmt::Display for LossReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LossReason::LeaseEnded { error } => {
                write!(f, "its lease ended while it could not be renewed: {error}")
            }
            LossReason::PathChanged { previous, current } => {
                f.write_str("the network path changed")?;
                match (previous, current) {
                    (Some(previous), Some(current)) => write!(f, " from {previous} to {current}"),
                    (Some(previous), None) => write!(f, ": {previous} is gone"),
                    (None, Some(current)) => write!(f, " to {current}"),
                    (None, None) => Ok(()),
                }
            }
        }
    }
}

/// The events of one kept mapping, starting with where it stands when asked: `Mapped` when
/// a mapping is held, `NotMapped` when the last attempt failed.
#[derive(Debug)]
pub struct MappingEvents {
    pub(super) first: Option<MappingEvent>,
    pub(super) receiver: broadcast::Receiver<MappingEvent>,
}

impl MappingEvents {
    /// The next event; `None` once the mapping stopped. Events a slow reader missed are
    /// skipped (the mapping's [`current`](crate::PersistentMapping::current) state says
    /// where it stands).
    // An async `next`, as tokio's receivers have: not `Iterator::next`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> impl Future<Output = Option<MappingEvent>> + Send + Sync {
        SyncFuture::new(async move {
            if let Some(first) = self.first.take() {
                return Some(first);
            }
            loop {
                match self.receiver.recv().await {
                    Ok(event) => return Some(event),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }
}
