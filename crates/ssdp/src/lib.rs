//! `ssdp`: the Simple Service Discovery Protocol of UPnP, for any device type.
//!
//! - **Search**: M-SEARCH requests go to `239.255.255.250:1900` from every suitable IPv4
//!   interface (up, multicast-capable, not loopback; one socket per interface with its
//!   multicast interface set), to `[ff02::c]:1900` where an interface has an IPv6 link-local
//!   address (best effort), and optionally by unicast to one address (some routers answer
//!   only that). Each request is sent more than once, since UDP is lossy. Answers come out
//!   of a [`Search`] stream the moment they arrive, duplicates (same `LOCATION` and `USN`)
//!   removed; the stream ends when the scan time is over. [`search_first`] returns the
//!   first answer and stops.
//! - **Listen**: a [`NotifyListener`] joins the group on port 1900 (shared with other
//!   programs) and streams `ssdp:alive`, `ssdp:byebye` and `ssdp:update` messages.
//! - **Parse**: [`parse_response`] and [`parse_notify`] are pure, lenient (any case, extra
//!   spaces, LF-only lines, a missing final blank line) and bounded (datagrams over
//!   [`MAX_MESSAGE_SIZE`] bytes and over [`MAX_HEADERS`] headers are refused); they never
//!   panic. Datagrams that do not parse are dropped with a `tracing` event at trace level.
//!
//! The crate knows nothing of any device type: search targets such as
//! `urn:schemas-upnp-org:device:InternetGatewayDevice:1` belong to the caller. Only the two
//! generic ones are here, [`ALL`] and [`ROOT_DEVICE`].
//!
//! # Example
//!
//! Parsing an answer (the search below yields these):
//!
//! ```
//! use std::time::Duration;
//!
//! let datagram = b"HTTP/1.1 200 OK\r\n\
//!     cache-control: max-age=120\r\n\
//!     ST: upnp:rootdevice\r\n\
//!     USN: uuid:6e61746c::upnp:rootdevice\r\n\
//!     Location:  http://192.168.1.1:5000/rootDesc.xml\n\
//!     SERVER: Linux UPnP/1.1 MiniUPnPd/2.3.1\r\n";
//! let response = ssdp::parse_response(datagram)?;
//! assert_eq!(response.location, "http://192.168.1.1:5000/rootDesc.xml");
//! assert_eq!(response.st, ssdp::ROOT_DEVICE);
//! assert_eq!(response.max_age, Some(Duration::from_secs(120)));
//! assert_eq!(response.headers.get("server"), Some("Linux UPnP/1.1 MiniUPnPd/2.3.1"));
//! # Ok::<(), ssdp::ParseError>(())
//! ```
//!
//! Searching (this sends multicast on your network, so it is not run here):
//!
//! ```no_run
//! use std::time::Duration;
//!
//! async fn find_devices() -> Result<(), ssdp::Error> {
//!     // Every device, for two seconds.
//!     let mut search = ssdp::search(ssdp::ALL, Duration::from_secs(2)).await?;
//!     while let Some(response) = search.next_response().await {
//!         tracing::info!(from = %response.source, location = %response.location, st = %response.st);
//!     }
//!
//!     // Several targets, also asking the gateway directly; stop at the first answer.
//!     let options = ssdp::SearchOptions::new("urn:schemas-upnp-org:device:MediaServer:1")
//!         .target(ssdp::ROOT_DEVICE)
//!         .unicast("192.168.1.1:1900".parse().expect("an address"))
//!         .scan_time(Duration::from_secs(3));
//!     if let Some(first) = ssdp::search_first(&options).await? {
//!         tracing::info!(location = %first.location, "found");
//!     }
//!
//!     // Announcements, for a minute.
//!     let options = ssdp::ListenOptions::default().listen_time(Duration::from_secs(60));
//!     let mut notifications = ssdp::listen(&options).await?;
//!     while let Some(notify) = notifications.next_notify().await {
//!         tracing::info!(nts = %notify.nts, usn = %notify.usn);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! [`Search`] and [`NotifyListener`] are also [`futures_core::Stream`]s, for use with
//! `StreamExt` combinators.
//!
//! # Layout
//!
//! - `parse`: [`parse_response`], [`parse_notify`], [`Response`], [`Notify`],
//!   [`NotificationSubType`]: the pure parsers.
//! - `headers`: [`Headers`], case-insensitive header lookup.
//! - `options`: [`SearchOptions`], [`ListenOptions`].
//! - `search`: [`search`], [`search_with`], [`search_first`], [`Search`]: sending M-SEARCH
//!   and collecting answers.
//! - `notify`: [`listen`], [`NotifyListener`].
//! - `net`: choosing interfaces, opening the sockets.
//! - `feed`: the channel and task handles behind both streams.
//! - `error`: [`Error`], [`ParseError`].

#![forbid(unsafe_code)]

mod error;
mod feed;
mod headers;
mod net;
mod notify;
mod options;
mod parse;
mod search;

use std::net::{Ipv4Addr, Ipv6Addr};

pub use error::{Error, ParseError};
pub use headers::Headers;
pub use notify::{NotifyListener, listen};
pub use options::{ListenOptions, SearchOptions};
pub use parse::{NotificationSubType, Notify, Response, parse_notify, parse_response};
pub use search::{Dropped, MAX_RESPONSES_PER_RESPONDER, Search, search, search_first, search_with};

/// The IPv4 SSDP multicast group, `239.255.255.250`.
pub const MULTICAST_V4: Ipv4Addr = Ipv4Addr::new(239, 255, 255, 250);

/// The IPv6 link-local SSDP multicast group, `ff02::c`.
pub const MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xc);

/// The SSDP port, 1900.
pub const PORT: u16 = 1900;

/// The largest datagram accepted, 8 KiB; larger ones are dropped.
pub const MAX_MESSAGE_SIZE: usize = 8 * 1024;

/// The most header lines a message may have.
pub const MAX_HEADERS: usize = 100;

/// The search target that every device and service answers, `ssdp:all`.
pub const ALL: &str = "ssdp:all";

/// The search target that every root device answers, `upnp:rootdevice`.
pub const ROOT_DEVICE: &str = "upnp:rootdevice";
