//! Keep sockets reachable from the internet behind a NAT router, whatever the router
//! speaks: PCP, NAT-PMP or UPnP IGD.
//!
//! - Each protocol is a [`NatTechnique`] (external address, map, refresh, unmap) built on
//!   the lower crates: [`PmpTechnique`] over `natpmp-proto` for PCP and NAT-PMP,
//!   [`UpnpTechnique`] over `ssdp` and `upnp-soap` for UPnP IGD. This crate holds no wire
//!   details.
//! - A [`Nat`] probes every allowed technique at once, each bounded by the probe timeout,
//!   and keeps the most preferred one that answered (PCP, then NAT-PMP, then UPnP unless
//!   told otherwise); [`Nat::probe`] reports who answered, how fast and with which external
//!   address. The choice is probed again when the gateway or this host's address toward it
//!   changes, or when the technique stops answering. One client per technique serves every
//!   mapping.
//! - A [`PersistentMapping`] keeps a port mapped: it refreshes at half the granted lifetime,
//!   backs off on failure, maps again when the gateway restarts or changes address, falls
//!   back to another technique, and publishes the socket's [`PortAssignments`] (public and
//!   local addresses) on a `watch` channel and to an optional callback.
//! - [`tcp_listen_public`] and [`udp_bind_public`] give a tokio socket with its mapping.
//! - IPv6 has no NAT but a firewall: [`Nat::ipv6`] is the IPv6 side, whose "mappings" are
//!   pinholes for this host's global address (PCP over IPv6, or UPnP's
//!   `WANIPv6FirewallControl` through [`PinholeTechnique`]); a [`MapRequest::ipv6`] request
//!   goes there by itself, and a socket bound to `[::]` is kept public on both families.
//!
//! # Example
//!
//! A listener reachable from the internet (this talks to your router, so it is not run
//! here; the workspace's `examples/public_tcp_echo.rs` is a complete program):
//!
//! ```no_run
//! # async fn run() -> Result<(), nat_traversal::Error> {
//! let public = nat_traversal::tcp_listen_public("0.0.0.0:8080").await?;
//! let mut changes = public.assignments();
//! for assignment in changes.borrow_and_update().iter() {
//!     // "44.0.0.1:8080 via PCP", "192.168.1.5:8080 (local)"
//!     tracing::info!(%assignment, "reachable");
//! }
//! while changes.changed().await.is_ok() {
//!     tracing::info!(assignments = %*changes.borrow(), "now reachable at");
//! #   break;
//! }
//! public.close().await?; // deletes the mapping at the gateway
//!
//! // A dual-stack listener: an IPv4 mapping and an IPv6 pinhole, published together.
//! let public = nat_traversal::tcp_listen_public("[::]:8080").await?;
//! tracing::info!(assignments = %*public.assignments().borrow(), "reachable");
//! public.close().await?; // deletes both
//! # Ok(()) }
//! ```
//!
//! Probing a given gateway, then keeping a mapping with a callback:
//!
//! ```no_run
//! use std::time::Duration;
//! use nat_traversal::{MapRequest, Nat, NatOptions, Protocol, Technique};
//!
//! # async fn run() -> Result<(), nat_traversal::Error> {
//! let nat = Nat::new(
//!     NatOptions::default()
//!         .gateway("192.168.1.1".parse().expect("an address"))
//!         .preference([Technique::NatPmp, Technique::Upnp]),
//! );
//! let report = nat.probe().await?;
//! println!("{report}"); // "NAT-PMP: 44.0.0.1 in 1.1ms (selected)" ...
//!
//! let request = MapRequest::new(Protocol::Udp, 9000).lifetime(Duration::from_secs(600));
//! let mapping = nat
//!     .persistent(request)
//!     .on_change(|assignments| println!("now {assignments}"))
//!     .start()
//!     .await;
//! mapping.stop().await?;
//! # Ok(()) }
//! ```
//!
//! What the published sets look like (no network needed):
//!
//! ```
//! use nat_traversal::{PortAssignment, PortAssignments, Technique};
//!
//! let interfaces = ["127.0.0.1".parse()?, "192.168.1.5".parse()?];
//! let set = PortAssignments::local("0.0.0.0:8080".parse()?, &interfaces).with(PortAssignment {
//!     address: "44.0.0.1:8080".parse()?,
//!     technique: Some(Technique::Pcp),
//! });
//! assert_eq!(
//!     set.to_string(),
//!     "44.0.0.1:8080 via PCP, 127.0.0.1:8080 (local), 192.168.1.5:8080 (local)"
//! );
//! assert_eq!(set.public_address(), Some("44.0.0.1:8080".parse()?));
//! assert_eq!("nat-pmp".parse::<Technique>()?, Technique::NatPmp);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//!
//! - `pcp` (default): PCP and NAT-PMP, through natpmp-proto ([`PmpTechnique`]).
//! - `upnp` (default): UPnP IGD, through ssdp and upnp-soap ([`UpnpTechnique`]).
//!
//! A build without one leaves its crates out (PCP/NAT-PMP only: 21 crates in all) and
//! its technique out of [`NatOptions::preference`]; asking for it anyway is
//! [`Error::Unsupported`].
//!
//! # Layout
//!
//! - `technique`: [`NatTechnique`], [`Technique`], [`Protocol`], [`MapRequest`],
//!   [`Mapping`].
//! - `pmp`: [`PmpTechnique`], PCP or NAT-PMP through `natpmp_proto::tokio::Client`.
//! - `upnp`: [`UpnpTechnique`], SSDP discovery and the IGD client.
//! - `pinhole`: [`PinholeTechnique`], IPv6 pinholes through UPnP.
//! - `upnp_watch`, `upnp_events`: an IGD's restart (SSDP notifications) and its new external
//!   address (GENA events), noticed at once.
//! - `options`: [`NatOptions`].
//! - `probe`: [`ProbeReport`], [`ProbeResult`], [`ProbeOutcome`], and the concurrent probe
//!   with its early return.
//! - `nat`: [`Nat`] (the shared clients, the cached choice) and [`GatewayEvent`].
//! - `watcher`: the one background task per `Nat` that listens for announcements and
//!   checks the network while persistent mappings exist.
//! - `persistent`: [`PersistentMapping`], its builder and its task.
//! - `assignment`: [`PortAssignment`], [`PortAssignments`].
//! - `public`: [`tcp_listen_public`], [`udp_bind_public`], [`PublicTcpListener`],
//!   [`PublicUdpSocket`].
//! - `error`: [`Error`], [`Result`].
//!
//! # Runtime
//!
//! Everything runs on tokio (I/O and time drivers). Sockets, and the background tasks, live
//! on the runtime that was current when they were made.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod assignment;
mod builtin;
#[cfg(feature = "upnp")]
mod cache;
mod error;
mod nat;
mod ops;
mod options;
mod persistent;
#[cfg(feature = "upnp")]
mod pinhole;
#[cfg(feature = "pcp")]
mod pmp;
mod probe;
mod public;
mod reach;
mod technique;
mod unordered;
#[cfg(feature = "upnp")]
mod upnp;
#[cfg(feature = "upnp")]
mod upnp_events;
#[cfg(feature = "upnp")]
mod upnp_watch;
mod watcher;

pub use assignment::{PortAssignment, PortAssignments};
pub use error::{Error, Result};
pub use nat::{GatewayEvent, Nat};
pub use ops::{ExternalAddress, UnmapReport, UnmapResult};
pub use options::NatOptions;
pub use persistent::{AssignmentCallback, PersistentMapping, PersistentMappingBuilder};
#[cfg(feature = "upnp")]
#[cfg_attr(docsrs, doc(cfg(feature = "upnp")))]
pub use pinhole::PinholeTechnique;
#[cfg(feature = "pcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "pcp")))]
pub use pmp::{PmpTechnique, stable_nonce};
pub use probe::{ProbeOutcome, ProbeReport, ProbeResult};
pub use public::{PublicTcpListener, PublicUdpSocket, tcp_listen_public, udp_bind_public};
pub use reach::Reachability;
pub use technique::{
    ListedMapping, MapRequest, Mapping, NatTechnique, Protocol, Technique, UnknownTechnique,
    Unmapped,
};
#[cfg(feature = "upnp")]
#[cfg_attr(docsrs, doc(cfg(feature = "upnp")))]
pub use upnp::UpnpTechnique;

/// The async-trait attribute [`NatTechnique`] implementations need.
pub use async_trait::async_trait;
