//! What a technique notices at its gateway between operations ([`TechniqueEvent`]), and the
//! stream it reports them on ([`TechniqueEvents`]).
//!
//! A technique owns everything about its protocol, its events included: the PCP/NAT-PMP
//! technique hears announcements and sees epochs go back, the UPnP technique hears SSDP
//! notifications and GENA events. The facade's watcher merges the streams of the techniques
//! in use and needs to know none of this.

use std::future::Future;

use std::net::IpAddr;
use sync_wrapper::SyncFuture;

use tokio::sync::{broadcast, mpsc};

/// How many events wait for the watcher before the oldest are dropped: events are rare,
/// and a restart or address change that comes twice in a row needs telling once.
const CAPACITY: usize = 16;

/// Something a technique noticed at its gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TechniqueEvent {
    /// The gateway restarted or otherwise lost its mappings (an announcement, an epoch that
    /// went back): every mapping made through this technique is made again.
    Restarted {
        /// What showed it, for logs and events ("PCP ANNOUNCE", "epoch 3 after 120").
        reason: String,
    },
    /// The gateway's external address is now `address`.
    ExternalAddressChanged {
        /// The new address.
        address: IpAddr,
    },
    /// This technique, as made, no longer works at the gateway (its service moved or went
    /// away): it is made again, the techniques are probed again, and every mapping made
    /// through it is made again.
    Gone {
        /// What showed it ("the IGD announced a new location").
        reason: String,
    },
}

/// Sends a technique's events to the watcher; see [`TechniqueEvents::spawn`].
#[derive(Debug, Clone)]
pub struct EventSender(mpsc::Sender<TechniqueEvent>);

impl EventSender {
    /// Sends `event`; `false` when nobody listens any more (stop listening then). When the
    /// watcher is behind, the event waits.
    pub fn send(&self, event: TechniqueEvent) -> impl Future<Output = bool> + Send + Sync {
        SyncFuture::new(async move { self.0.send(event).await.is_ok() })
    }
}

/// The events of one technique, as [`NatTechnique::events`](crate::NatTechnique::events)
/// returns them. Dropping it stops whatever produces them.
///
/// ```
/// use nat_traversal::{TechniqueEvent, TechniqueEvents};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A technique that learns of restarts elsewhere forwards them from a broadcast channel.
/// let (restarts, _) = tokio::sync::broadcast::channel(4);
/// let mut events = TechniqueEvents::from_broadcast(restarts.subscribe());
/// restarts.send(TechniqueEvent::Restarted { reason: "told so".into() }).unwrap();
/// assert!(matches!(events.next().await, Some(TechniqueEvent::Restarted { .. })));
/// # }
/// ```
#[derive(Debug)]
pub struct TechniqueEvents {
    receiver: Option<mpsc::Receiver<TechniqueEvent>>,
    task: Option<tokio::task::AbortHandle>,
}

impl TechniqueEvents {
    /// No events, ever (the default of [`NatTechnique::events`](crate::NatTechnique::events)).
    pub fn none() -> TechniqueEvents {
        TechniqueEvents {
            receiver: None,
            task: None,
        }
    }

    /// Runs `produce` on the current tokio runtime with a sender for the events; the task is
    /// aborted when the stream is dropped. Without a runtime, no events.
    pub fn spawn<F, Fut>(produce: F) -> TechniqueEvents
    where
        F: FnOnce(EventSender) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!("no tokio runtime: a technique's events are not followed");
            return TechniqueEvents::none();
        };
        let (sender, receiver) = mpsc::channel(CAPACITY);
        let task = runtime.spawn(produce(EventSender(sender)));
        TechniqueEvents {
            receiver: Some(receiver),
            task: Some(task.abort_handle()),
        }
    }

    /// Forwards the events sent on a broadcast channel (events the receiver missed because
    /// it lagged are stale anyway and skipped).
    pub fn from_broadcast(mut events: broadcast::Receiver<TechniqueEvent>) -> TechniqueEvents {
        TechniqueEvents::spawn(|sender| async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        if !sender.send(event).await {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }

    /// Whether this stream can ever yield an event.
    pub fn is_none(&self) -> bool {
        self.receiver.is_none()
    }

    /// The next event; `None` once the technique stopped reporting (its producer ended).
    /// A stream made by [`none`](Self::none) never yields and never ends.
    // An async `next`, as tokio's receivers have: not `Iterator::next`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> impl Future<Output = Option<TechniqueEvent>> + Send + Sync {
        SyncFuture::new(async move {
            match &mut self.receiver {
                Some(receiver) => receiver.recv().await,
                None => std::future::pending().await,
            }
        })
    }
}

impl Drop for TechniqueEvents {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_spawned_producer_is_stopped_with_its_stream() {
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let mut events = TechniqueEvents::spawn(|sender| async move {
            let _done = done;
            sender
                .send(TechniqueEvent::Gone {
                    reason: "test".into(),
                })
                .await;
            std::future::pending::<()>().await;
        });
        assert!(matches!(
            events.next().await,
            Some(TechniqueEvent::Gone { .. })
        ));
        drop(events);
        // The producer was aborted: its end of the oneshot is dropped.
        assert!(finished.await.is_err());
    }
}
