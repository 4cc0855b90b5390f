//! Sans-IO NAT-PMP (RFC 6886) and PCP (RFC 6887): message codecs, the retransmission
//! schedule and response checks of one request ([`Transaction`]), epoch tracking to notice a
//! gateway that lost its mappings ([`EpochTracker`]), and PCP-first version negotiation
//! ([`VersionNegotiator`]).
//!
//! With default features the crate opens no socket, reads no clock and draws no random
//! number: bytes come in as `&[u8]` and go out as `Vec<u8>`, time comes in as
//! `now: Instant` arguments, and randomness (PCP nonces, retransmission jitter) comes from the
//! caller. A driver such as the `tokio` feature's client owns the socket and the timers.
//!
//! # Feature flags
//!
//! - `tokio` (off by default): `natpmp_proto::tokio::Client`, an async client that drives
//!   transactions over a tokio UDP socket connected to the gateway, with epoch-reset events
//!   (PCP only toward an IPv6 gateway, sent from the host's global address), and the
//!   `AnnouncementListener` for the gateway's announcements on 224.0.0.1:5350 or
//!   `[ff02::1]:5350`. It brings tokio, socket2, getrandom (PCP nonces), tracing and
//!   natkit-netinfo (the global IPv6 address, a link-local gateway's interface). Without
//!   it the crate depends on thiserror alone.
//!
//! The package is published as `natkit-natpmp-proto`; the library is `natpmp_proto`.
//!
//! # Layout
//!
//! - [`natpmp`]: NAT-PMP requests and responses (external address, map UDP, map TCP) and
//!   [`natpmp::ResultCode`].
//! - [`pcp`]: PCP headers, the ANNOUNCE, MAP and PEER opcodes, options
//!   ([`pcp::PcpOption`]), [`pcp::ResultCode`], and the IPv4-mapped address helpers.
//! - [`decode_any`], [`AnyRequest`], [`AnyResponse`], [`Version`]: either protocol, told apart
//!   by the version byte.
//! - [`transaction`]: [`Transaction`], [`Schedule`], the outcome types.
//! - [`demux`]: [`Demultiplexer`], several transactions on one socket: which one a
//!   datagram answers, which datagrams are dropped and why, unsolicited ANNOUNCEs.
//! - [`epoch`]: [`EpochTracker`] and [`EpochCheck`].
//! - [`negotiate`]: [`VersionNegotiator`] and [`Decision`].
//! - [`DecodeError`], [`EncodeError`]: codec errors.
//!
//! # Example
//!
//! Encode a NAT-PMP mapping request, decode a hand-made answer, and drive a transaction
//! through a lost first attempt with simulated time.
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddr};
//! use std::time::{Duration, Instant};
//! use natpmp_proto::{
//!     natpmp, DatagramVerdict, EpochCheck, EpochTracker, IgnoreReason, Protocol, Schedule,
//!     Transaction, SERVER_PORT,
//! };
//!
//! // Map TCP port 8080, asking for the same external port, for two hours.
//! let request = natpmp::Request::map(Protocol::Tcp, 8080, 8080, 7200);
//! assert_eq!(request.encode(), [0, 2, 0, 0, 0x1f, 0x90, 0x1f, 0x90, 0, 0, 0x1c, 0x20]);
//!
//! // The gateway's answer, by hand.
//! let reply = [
//!     0, 130,           // version 0, opcode 128 + 2 (TCP)
//!     0, 0,             // result code 0, success
//!     0, 0, 0x0e, 0x10, // seconds since start of epoch: 3600
//!     0x1f, 0x90,       // internal port 8080
//!     0x1f, 0x91,       // mapped external port 8081
//!     0, 0, 0x1c, 0x20, // lifetime 7200 s
//! ];
//! let response = natpmp::Response::decode(&reply)?;
//! assert_eq!(response.mapping().map(|m| m.external_port), Some(8081));
//!
//! // The exchange. Nothing here sends a packet: the caller would send each `Transmit`.
//! let gateway = SocketAddr::from((Ipv4Addr::new(192, 168, 1, 1), SERVER_PORT));
//! let t0 = Instant::now();
//! let mut tx = Transaction::new(request, gateway, Schedule::natpmp_rfc(), t0)?;
//! let first = tx.poll_transmit(t0).expect("first attempt is due at once");
//! assert_eq!((first.destination, first.attempt), (gateway, 1));
//! assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_millis(250)));
//!
//! // No answer within 250 ms: the second attempt is due.
//! let t1 = t0 + Duration::from_millis(250);
//! tx.handle_timeout(t1);
//! assert_eq!(tx.poll_transmit(t1).map(|t| t.attempt), Some(2));
//! assert_eq!(tx.poll_timeout(), Some(t1 + Duration::from_millis(500)));
//!
//! // A datagram from another host is ignored and counted; the gateway's is accepted.
//! let stranger = SocketAddr::from((Ipv4Addr::new(192, 168, 1, 66), SERVER_PORT));
//! let t2 = t1 + Duration::from_millis(3);
//! assert_eq!(
//!     tx.handle_datagram(t2, stranger, &reply),
//!     DatagramVerdict::Ignored(IgnoreReason::WrongSource),
//! );
//! assert_eq!(tx.handle_datagram(t2, gateway, &reply), DatagramVerdict::Accepted);
//! assert_eq!(tx.ignored().get(IgnoreReason::WrongSource), 1);
//!
//! let answer = tx.poll_outcome().expect("finished")?;
//! assert_eq!(answer.attempts, 2);
//! assert_eq!(answer.elapsed(), Duration::from_millis(253));
//!
//! // Keep one tracker per gateway and feed it every answer's epoch.
//! let mut epochs = EpochTracker::natpmp();
//! assert_eq!(epochs.check(answer.received_at, answer.response.epoch()), EpochCheck::First);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod any;
pub mod demux;
pub mod epoch;
mod error;
pub mod natpmp;
pub mod negotiate;
pub mod pcp;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;
pub mod transaction;
mod wire;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

pub use crate::any::{AnyRequest, AnyResponse, AnyResultCode, Version, decode_any};
pub use crate::demux::{Delivery, Demultiplexer};
pub use crate::epoch::{EpochCheck, EpochRule, EpochTracker};
pub use crate::error::{DecodeError, EncodeError};
pub use crate::negotiate::{Decision, VersionNegotiator};
pub use crate::transaction::{
    Answer, DatagramVerdict, IgnoreReason, IgnoredCounts, Schedule, Transaction, TransactionError,
    Transmit,
};

/// The server port of both protocols: requests go to the gateway's port 5351 and answers
/// come from it.
pub const SERVER_PORT: u16 = 5351;
/// The port clients listen on for the gateway's announcements (NAT-PMP address changes,
/// PCP ANNOUNCE).
pub const ANNOUNCE_PORT: u16 = 5350;
/// The IPv4 group announcements are sent to (all hosts).
pub const ANNOUNCE_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// The IPv6 group PCP announcements are sent to (all nodes, link-local).
pub const ANNOUNCE_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A transport protocol to map: TCP or UDP.
///
/// NAT-PMP encodes it in the opcode (1 UDP, 2 TCP), PCP in the Protocol field with the IANA
/// numbers (6 TCP, 17 UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// The IANA protocol number PCP uses: 6 or 17.
    pub const fn iana_number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
        }
    }

    /// The protocol for an IANA protocol number, if it is TCP or UDP.
    pub const fn from_iana_number(number: u8) -> Option<Self> {
        match number {
            6 => Some(Self::Tcp),
            17 => Some(Self::Udp),
            _ => None,
        }
    }

    /// The NAT-PMP mapping opcode: 1 for UDP, 2 for TCP.
    pub const fn natpmp_opcode(self) -> u8 {
        match self {
            Self::Udp => natpmp::OPCODE_MAP_UDP,
            Self::Tcp => natpmp::OPCODE_MAP_TCP,
        }
    }

    /// The protocol for a NAT-PMP mapping opcode (1 or 2).
    pub const fn from_natpmp_opcode(opcode: u8) -> Option<Self> {
        match opcode {
            natpmp::OPCODE_MAP_UDP => Some(Self::Udp),
            natpmp::OPCODE_MAP_TCP => Some(Self::Tcp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
        })
    }
}

/// PCP's 96-bit mapping nonce (RFC 6887 §11.1): chosen at random by the client, echoed by
/// the server, and the proof that a response answers this client's request.
///
/// The core draws no random numbers; the driver fills the 12 bytes from its own source.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Nonce(pub [u8; 12]);

impl Nonce {
    /// A nonce from its 12 bytes.
    pub const fn new(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }

    /// The 12 bytes.
    pub const fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }
}

impl From<[u8; 12]> for Nonce {
    fn from(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({self})")
    }
}
