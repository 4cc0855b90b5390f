//! The async NAT-PMP/PCP client (feature `tokio`): a thin shell that drives the sans-IO
//! [`Transaction`](crate::Transaction) with a tokio UDP socket and timers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), natpmp_proto::tokio::ClientError> {
//! use std::time::Duration;
//! use natpmp_proto::Protocol;
//! use natpmp_proto::tokio::Client;
//!
//! let client = Client::new("192.168.77.1".parse().unwrap()).await?;
//! let address = client.external_address().await?;
//! let mapping = client.map(Protocol::Tcp, 8080, 8080, Duration::from_secs(3600)).await?;
//! println!("{address}: {}:{} for {:?}", mapping.external_address, mapping.external_port, mapping.lifetime);
//! client.delete(&mapping).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`Client`], [`Mapping`], [`Event`] (`client`): the client and its state; its
//!   operations (`operations`: external address, map, refresh, delete, PEER) and exchanges
//!   (`exchange`: bytes and timers through the sans-IO [`Demultiplexer`](crate::Demultiplexer))
//!   are further `impl Client` blocks; `socket` binds and connects its socket.
//! - [`ClientConfig`], [`VersionChoice`] (`config`): how it behaves.
//! - [`ClientError`]: why an operation failed, and [`ClientError::is_unreachable`].
//! - [`AnnouncementListener`]: the gateway's unsolicited announcements (224.0.0.1:5350,
//!   `[ff02::1]:5350`).
//!
//! # IPv6
//!
//! Toward an IPv6 gateway (its link-local address, as the IPv6 default route names it, or a
//! global one) the client speaks PCP only: a MAP opens a pinhole for this host's global
//! address, and the answer's external address is that same address (no NAT).
//!
//! ```no_run
//! # async fn demo() -> Result<(), natpmp_proto::tokio::ClientError> {
//! use std::net::IpAddr;
//! use std::time::Duration;
//! use natpmp_proto::Protocol;
//! use natpmp_proto::tokio::Client;
//!
//! // The interface comes from the default route through fe80::1, the source address is
//! // the host's global address on it.
//! let client = Client::new("fe80::1".parse().unwrap()).await?;
//! let pinhole = client.map(Protocol::Tcp, 8080, 8080, Duration::from_secs(3600)).await?;
//! assert_eq!(pinhole.external_address, client.client_address());
//! # Ok(()) }
//! ```

mod announce;
mod client;
mod config;
mod error;
mod exchange;
mod operations;
mod socket;

pub use announce::{Announcement, AnnouncementListener};
pub use client::{Client, Event, Mapping};
pub use config::{ClientConfig, VersionChoice};
pub use error::ClientError;
