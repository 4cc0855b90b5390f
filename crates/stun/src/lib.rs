//! A STUN client (RFC 8489 Binding requests) with NAT behaviour discovery (RFC 5780):
//! what address the internet sees for a socket, how the NAT maps and filters, and whether
//! it hairpins.
//!
//! The core is sans-IO like `natkit-natpmp-proto`: bytes come in as `&[u8]` and go out as
//! [`Transmit`]s, time comes in as `now: Instant`, and every wait is bounded by a budget
//! the caller sets. Message encoding and decoding are the `stun-types` crate's; this crate
//! adds RFC 5780's attributes, the transactions and the discovery logic.
//!
//! # Feature flags
//!
//! - `tokio` (off by default): `stun::tokio` drives a [`Discovery`] over a
//!   tokio UDP socket and does Binding requests over TCP.
//!
//! The package is published as `natkit-stun`; the library is `stun`.
//!
//! # Layout
//!
//! - [`BindingRequest`], [`BindingResponse`], [`BindingSuccess`], [`TransactionId`],
//!   [`ChangeRequest`]: the messages (module `message`, `attribute`).
//! - [`Transaction`], [`Schedule`], [`Transmit`], [`Socket`], [`Outcome`]: one request over UDP,
//!   retransmitted by RFC 8489 §6.2.1 within a budget (module `transaction`).
//! - [`Discovery`], [`DiscoveryConfig`], [`DiscoveryReport`], [`DiscoveryError`]: the
//!   outside view of one socket in at most two round trips (module `discovery`).
//! - [`MappingBehaviour`], [`FilteringBehaviour`]: RFC 4787's terms (module `behaviour`).
//! - [`DecodeError`]: why bytes were not a usable answer.

mod attribute;
mod behaviour;
mod discovery;
mod error;
mod message;
#[cfg(feature = "tokio")]
pub mod tokio;
mod transaction;

pub use attribute::ChangeRequest;
pub use behaviour::{FilteringBehaviour, MappingBehaviour};
pub use discovery::{Discovery, DiscoveryConfig, DiscoveryError, DiscoveryReport};
pub use error::DecodeError;
pub use message::{
    BindingRequest, BindingResponse, BindingSuccess, HEADER_LEN, MAGIC_COOKIE, MAX_MESSAGE_LEN,
    TransactionId, frame_length, incoming_request_id,
};
pub use transaction::{Outcome, Schedule, Socket, Transaction, Transmit};
