//! A STUN client (RFC 8489 Binding requests) with NAT behaviour discovery (RFC 5780):
//! what address the internet sees for a socket, how the NAT maps and filters, and whether
//! it hairpins.
//!
//! The core is sans-IO like `natkit-natpmp-proto`: bytes come in as `&[u8]` and go out as
//! [`Transmit`]s, time comes in as `now: Instant`, and every wait is bounded by a budget
//! the caller sets. Message encoding and decoding are the `stun-types` crate's; this crate
//! adds RFC 5780's attributes, the transactions and the discovery logic.
//!
//! One Binding exchange, the server played by hand: the core says what to send, the
//! caller's socket sends it, and the answer goes back in.
//!
//! ```
//! use std::time::Instant;
//! use stun::{
//!     BindingResponse, BindingSuccess, Discovery, DiscoveryConfig, Socket, incoming_request_id,
//! };
//!
//! let server = "203.0.113.5:3478".parse()?;
//! let now = Instant::now();
//! let mut discovery = Discovery::new(server, DiscoveryConfig::address_only(), now);
//! let request = discovery.poll_transmit(now).expect("a Binding request to send");
//! assert_eq!(request.destination, server);
//!
//! // What a server answers: the address it saw the request come from.
//! let transaction_id = incoming_request_id(&request.payload).expect("a Binding request");
//! let answer = BindingResponse::Success(BindingSuccess {
//!     transaction_id,
//!     mapped: "198.51.100.7:40001".parse()?,
//!     other_address: None,
//!     response_origin: None,
//! });
//! discovery.handle_datagram(Socket::Main, server, &answer.encode(), now)?;
//! assert!(discovery.is_done());
//! let report = discovery.report()?;
//! assert_eq!(report.mapped, "198.51.100.7:40001".parse()?);
//! assert_eq!(report.round_trips, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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
