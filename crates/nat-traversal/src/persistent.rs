//! [`PersistentMapping`]: one lightweight task per mapping (`persistent/task.rs`) that keeps
//! it alive, follows the gateway's restarts and address changes, falls back to another
//! technique, publishes the socket's [`PortAssignments`] and tells what happened
//! ([`MappingEvent`], `persistent/events.rs`). It sees its `Nat` only through [`Host`]
//! (`persistent/host.rs`).

mod events;
mod host;
mod task;

use std::future::Future;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use sync_wrapper::SyncFuture;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use events::{ChangeReason, LossReason, MappingEvent, MappingEvents};
pub(crate) use host::{Host, WatchLease};

use crate::assignment::PortAssignments;
use crate::error::{Error, Result};
use crate::technique::{MapRequest, Mapping, Technique};

/// Called with every new set of assignments. It runs on the mapping's task: keep it short
/// and do not block. A panic in it is caught and logged; the mapping carries on.
pub type AssignmentCallback = Box<dyn Fn(&PortAssignments) + Send + Sync + 'static>;

/// How many events wait for a slow reader before it skips some.
const EVENTS: usize = 32;

/// How a [`PersistentMapping`] starts; made by [`Nat::persistent`](crate::Nat::persistent).
pub struct PersistentMappingBuilder {
    host: Arc<dyn Host>,
    request: MapRequest,
    bound: Option<SocketAddr>,
    callback: Option<AssignmentCallback>,
}

impl std::fmt::Debug for PersistentMappingBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentMappingBuilder")
            .field("request", &self.request)
            .field("bound", &self.bound)
            .field("callback", &self.callback.is_some())
            .finish_non_exhaustive()
    }
}

impl PersistentMappingBuilder {
    pub(crate) fn new(host: Arc<dyn Host>, request: MapRequest) -> PersistentMappingBuilder {
        PersistentMappingBuilder {
            host,
            request,
            bound: None,
            callback: None,
        }
    }

    /// Also publishes the local addresses of a socket bound to `bound` (every interface
    /// address for a wildcard), as assignments without technique.
    pub fn local_address(mut self, bound: SocketAddr) -> PersistentMappingBuilder {
        self.bound = Some(bound);
        self
    }

    /// Calls `callback` with every new set of assignments (see [`AssignmentCallback`]).
    pub fn on_change(
        mut self,
        callback: impl Fn(&PortAssignments) + Send + Sync + 'static,
    ) -> PersistentMappingBuilder {
        self.callback = Some(Box::new(callback));
        self
    }

    /// Starts the mapping's task on the current tokio runtime and returns after the first
    /// attempt, so [`PersistentMapping::current`] already shows its outcome. A failed first
    /// attempt is not an error: the task keeps trying (see
    /// [`PersistentMapping::events`]).
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a tokio runtime.
    pub fn start(self) -> impl Future<Output = Result<PersistentMapping>> + Send + Sync {
        SyncFuture::new(async move {
            let what = self.request.describe();
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return Err(Error::NoRuntime {
                    what: format!("a persistent mapping of {what}"),
                });
            };
            let (sender, receiver) = watch::channel(PortAssignments::new());
            let (commands, command_receiver) = mpsc::unbounded_channel();
            let (first, first_done) = oneshot::channel();
            let status = Arc::new(Mutex::new(Status {
                mapping: None,
                last_error: None,
                events: None,
            }));
            let task = task::Task::new(
                self.host,
                self.request,
                self.bound,
                sender,
                self.callback,
                Arc::clone(&status),
            );
            runtime.spawn(task.run(command_receiver, first));
            let _ = first_done.await;
            Ok(PersistentMapping {
                commands,
                assignments: receiver,
                status,
                what,
            })
        })
    }
}

/// Where a kept mapping stands, shared by its task and its handle; the events are sent
/// while this is locked, so a reader that subscribes sees each change once.
#[derive(Debug)]
struct Status {
    mapping: Option<Mapping>,
    last_error: Option<Error>,
    /// Made by the first [`PersistentMapping::events`]: a channel preallocates its slots,
    /// and a program keeping a thousand mappings without reading their events should not
    /// pay for them.
    events: Option<broadcast::Sender<MappingEvent>>,
}

impl Status {
    /// Tells `event` to the readers of the events, if there are any.
    fn tell(&self, event: MappingEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }
}

#[derive(Debug)]
enum Command {
    RefreshNow,
    Stop(oneshot::Sender<Result<()>>),
}

/// A port mapping kept alive in the background.
///
/// Its task refreshes the mapping at half the granted lifetime (or every
/// [`NatOptions::with_refresh_interval`](crate::NatOptions::with_refresh_interval)), asking
/// for the same external port; retries with exponential backoff after a failure; maps again
/// at once when the gateway restarts, when its external address changes, or when the
/// network path changes; and probes again, possibly switching technique, when the technique
/// stops answering. Each new set of [`PortAssignments`] goes out on a `watch` channel and to
/// the optional callback, and each change is told as a [`MappingEvent`].
///
/// [`stop`](Self::stop) deletes the mapping at the gateway and publishes the empty set.
/// Dropping the handle does the same in the background, on the mapping's runtime.
#[derive(Debug)]
pub struct PersistentMapping {
    commands: mpsc::UnboundedSender<Command>,
    assignments: watch::Receiver<PortAssignments>,
    status: Arc<Mutex<Status>>,
    what: String,
}

fn lock(status: &Mutex<Status>) -> MutexGuard<'_, Status> {
    status.lock().unwrap_or_else(|p| p.into_inner())
}

impl PersistentMapping {
    /// The assignments, now and as they change.
    pub fn assignments(&self) -> watch::Receiver<PortAssignments> {
        self.assignments.clone()
    }

    /// The assignments now.
    pub fn current(&self) -> PortAssignments {
        self.assignments.borrow().clone()
    }

    /// The mapping held at the gateway now, if there is one.
    pub fn mapping(&self) -> Option<Mapping> {
        lock(&self.status).mapping.clone()
    }

    /// The technique that holds the mapping now.
    pub fn technique(&self) -> Option<Technique> {
        lock(&self.status).mapping.as_ref().map(|m| m.technique)
    }

    /// Why the last attempt failed, if it did (cleared by the next success).
    pub fn last_error(&self) -> Option<Error> {
        lock(&self.status).last_error.clone()
    }

    /// What happens to the mapping from now on, starting with where it stands: `Mapped`
    /// when a mapping is held, `NotMapped` (with why) when the last attempt failed.
    pub fn events(&self) -> MappingEvents {
        let mut status = lock(&self.status);
        let receiver = status
            .events
            .get_or_insert_with(|| broadcast::channel(EVENTS).0)
            .subscribe();
        let first = match (&status.mapping, &status.last_error) {
            (Some(mapping), None) => Some(MappingEvent::Mapped {
                mapping: mapping.clone(),
            }),
            (Some(mapping), Some(error)) => Some(MappingEvent::RenewalFailed {
                mapping: mapping.clone(),
                error: error.clone(),
            }),
            (None, Some(error)) => Some(MappingEvent::NotMapped {
                error: error.clone(),
            }),
            (None, None) => None,
        };
        MappingEvents { first, receiver }
    }

    /// Refreshes now rather than when due (or maps, if there is no mapping).
    ///
    /// # Errors
    /// [`Error::Stopped`] when the task is gone.
    pub fn refresh_now(&self) -> Result<()> {
        self.commands
            .send(Command::RefreshNow)
            .map_err(|_| self.stopped())
    }

    /// Deletes the mapping at the gateway, publishes the empty set and ends the task.
    ///
    /// # Errors
    /// The technique's error when the deletion failed (the set is published empty anyway);
    /// [`Error::Stopped`] when the task was already gone.
    pub fn stop(self) -> impl Future<Output = Result<()>> + Send + Sync {
        SyncFuture::new(async move {
            let (reply, done) = oneshot::channel();
            self.commands
                .send(Command::Stop(reply))
                .map_err(|_| self.stopped())?;
            done.await.map_err(|_| self.stopped())?
        })
    }

    fn stopped(&self) -> Error {
        Error::Stopped {
            what: self.what.clone(),
        }
    }
}
