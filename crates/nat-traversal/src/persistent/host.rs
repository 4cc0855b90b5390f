//! [`Host`]: the narrow interface a persistent mapping sees of the `Nat` it belongs to, so
//! that it depends on what it uses (choosing a technique, the events, the local addresses)
//! and not on the whole core.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::error::Result;
use crate::event::NatEvent;
use crate::options::NatOptions;
use crate::probe::Selection;
use crate::technique::{MapRequest, Mapping, Protocol, Technique};

/// Keeps the `Nat`'s watcher running while held.
pub(crate) type WatchLease = Box<dyn std::any::Any + Send + Sync>;

/// What a persistent mapping needs of its `Nat`.
#[async_trait]
pub(crate) trait Host: Send + Sync + std::fmt::Debug + 'static {
    /// The options of the `Nat`.
    fn options(&self) -> &NatOptions;

    /// The technique in use, choosing one if none is.
    async fn select(&self) -> Result<Selection>;

    /// [`select`](Self::select), the first mapping made by the probe itself when one runs.
    async fn select_mapping(&self, request: &MapRequest) -> Result<(Selection, Option<Mapping>)>;

    /// The technique chosen by `generation` looks gone: choose again next time.
    fn invalidate(&self, generation: u64);

    /// An answer of `technique` showed that the gateway lost its state.
    fn answer_showed_restart(&self, technique: Technique);

    /// A technique reported the gateway's external address.
    fn observe_external_address(&self, address: IpAddr);

    /// The events from now on.
    fn subscribe(&self) -> broadcast::Receiver<NatEvent>;

    /// This host's interface addresses.
    fn local_addresses(&self) -> Arc<Vec<IpAddr>>;

    /// Starts the watcher (techniques' events, network checks) for as long as the lease is
    /// held.
    fn watch(&self) -> WatchLease;

    /// A kept pinhole was granted (`Some`), or deleted (`None`, with its protocol and port):
    /// the pinhole record follows, when the `Nat` keeps one.
    fn pinhole_kept(&self, mapping: Option<&Mapping>, protocol: Protocol, port: u16);
}
