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
//!   `WANIPv6FirewallControl` through [`PinholeTechnique`]); a [`MapRequest::with_ipv6`] request
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
//! Probing a given gateway, then keeping a mapping and following what happens to it:
//!
//! ```no_run
//! use std::time::Duration;
//! use nat_traversal::{MapRequest, MappingEvent, Nat, NatOptions, Protocol, Technique};
//!
//! # async fn run() -> Result<(), nat_traversal::Error> {
//! let nat = Nat::new(
//!     NatOptions::default()
//!         .with_gateway("192.168.1.1".parse().expect("an address"))
//!         .with_preference([Technique::NatPmp, Technique::Upnp]),
//! );
//! let report = nat.probe().await?;
//! println!("{report}"); // "NAT-PMP: 44.0.0.1 in 1.1ms (selected)" ...
//!
//! let request = MapRequest::new(Protocol::Udp, 9000).with_lifetime(Duration::from_secs(600));
//! let mapping = nat.persistent(request).start().await?;
//! let mut events = mapping.events();
//! while let Some(event) = events.next().await {
//!     match event {
//!         MappingEvent::Mapped { mapping } => println!("mapped at {}", mapping.external),
//!         MappingEvent::Changed { mapping, reason, .. } => {
//!             println!("now at {} ({reason})", mapping.external)
//!         }
//!         other => println!("{other:?}"),
//!     }
//! #   break;
//! }
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
//!     verified: false,
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
//! # Techniques of your own
//!
//! A [`NatTechnique`] of your own (a relay, a cloud firewall's API) is first-class: give it
//! to [`Nat::with_techniques`] with a [`Technique::Other`] kind, and it is probed, chosen,
//! kept and watched like the built-in ones; its [`NatTechnique::events`] tell restarts and
//! address changes, and persistent mappings are made again through it.
//!
//! # Feature flags
//!
//! - `pcp` (default): PCP and NAT-PMP, through natpmp-proto ([`PmpTechnique`]).
//! - `upnp` (default): UPnP IGD, through ssdp and upnp-soap ([`UpnpTechnique`],
//!   [`PinholeTechnique`]).
//! - `stun` (off): the reachability check (`Nat::check`, `check.rs`): what a STUN server
//!   sees, the NAT's behaviour (RFC 5780), hairpinning, double NAT, a verdict; through
//!   natkit-stun. Servers are named with `NatOptions::with_stun_server`; none is built in.
//!
//! A build without one leaves its crates out (PCP/NAT-PMP only: 21 crates in all) and its
//! technique out of the default [`NatOptions::preference`]; asking for it anyway is
//! [`Error::Unsupported`].
//!
//! # Layout
//!
//! Vocabulary, shared by every module: `technique` ([`NatTechnique`], [`Technique`],
//! [`Protocol`], [`MapRequest`], [`Mapping`], [`TableEntry`], [`Unmapped`], and in
//! `technique/events.rs` [`TechniqueEvent`], [`TechniqueEvents`]), `event` ([`NatEvent`]),
//! `error` ([`Error`]), `options` ([`NatOptions`]), `assignment` ([`PortAssignments`]),
//! `reach` ([`Reachability`]), `probe` ([`ProbeReport`] and the concurrent probe).
//!
//! The facade, top down:
//! - `nat`: [`Nat`], the handle; `ops` (and `ops/unmap.rs`, `ops/list.rs`): the external
//!   address, one-shot maps, deleting by port, listing; `dual`: [`DualStack`] answers;
//!   `public`: [`tcp_listen_public`], [`udp_bind_public`].
//! - `persistent`: [`PersistentMapping`], its builder, its [`MappingEvent`]s and its task;
//!   it sees the core only through a narrow `Host` interface.
//! - `core`: the shared state of a `Nat`: `core/path.rs` (gateway and local address),
//!   `core/registry.rs` (one client per technique), `core/selector.rs` (choosing by
//!   probe), `core/bus.rs` (events to mappings).
//! - `watcher`: merges the techniques' event streams and checks the network; it names no
//!   protocol.
//! - `builtin`: makes the built-in techniques. Protocol glue lives in one folder per
//!   technique: `pcp` ([`PmpTechnique`]: announcements, epochs, stable nonces) and `upnp`
//!   ([`UpnpTechnique`], [`PinholeTechnique`]: search, SSDP notifications, GENA events, the
//!   IGD cache).
//! - `store`: the bounded, atomic file store shared by the UPnP cache and the pinhole
//!   record (`pinholes`: [`RecordedPinhole`]).
//! - `check` (feature `stun`): the reachability check beside the techniques, with
//!   `check/verdict.rs` (the verdict and the double-NAT rules) and `check/hop.rs` (the
//!   hop probe); see docs/REACHABILITY.md.
//!
//! # Runtime
//!
//! Everything runs on tokio (I/O and time drivers). Sockets, and the background tasks, live
//! on the runtime that was current when they were made; starting a persistent mapping
//! outside one is [`Error::NoRuntime`].

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod assignment;
mod builtin;
#[cfg(feature = "stun")]
mod check;
mod core;
mod dual;
mod error;
mod event;
mod nat;
mod network;
mod ops;
mod options;
#[cfg(feature = "pcp")]
mod pcp;
mod persistent;
mod pinholes;
mod probe;
mod public;
mod reach;
mod store;
mod technique;
mod unordered;
#[cfg(feature = "upnp")]
mod upnp;
mod watcher;

pub use assignment::{PortAssignment, PortAssignments};
#[cfg(feature = "stun")]
#[cfg_attr(docsrs, doc(cfg(feature = "stun")))]
pub use check::{FilteringBehaviour, MappingBehaviour, ReachabilityReport, Verdict};
pub use dual::DualStack;
pub use error::{Error, Result};
pub use event::NatEvent;
pub use nat::Nat;
pub use network::{NetworkPath, PassedOver, WhyNot};
pub use ops::{ExternalAddress, UnmapReport, UnmapResult};
pub use options::NatOptions;
#[cfg(feature = "pcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "pcp")))]
pub use pcp::{PmpTechnique, stable_nonce};
pub use persistent::{
    AssignmentCallback, ChangeReason, LossReason, MappingEvent, MappingEvents, PersistentMapping,
    PersistentMappingBuilder,
};
pub use pinholes::RecordedPinhole;
pub use probe::{ProbeOutcome, ProbeReport, ProbeResult};
pub use public::{PublicTcpListener, PublicUdpSocket, tcp_listen_public, udp_bind_public};
pub use reach::Reachability;
pub use technique::{
    EventSender, MapRequest, Mapping, NatTechnique, Protocol, TableEntry, TableHost, Technique,
    TechniqueEvent, TechniqueEvents, UnknownTechnique, Unmapped,
};
#[cfg(feature = "upnp")]
#[cfg_attr(docsrs, doc(cfg(feature = "upnp")))]
pub use upnp::{PinholeTechnique, UpnpTechnique};

/// The async-trait attribute [`NatTechnique`] implementations need.
pub use async_trait::async_trait;
