//! The crate's two error types: [`ParseError`] for a datagram that is not a usable SSDP
//! message, and [`Error`] for a search or a listener that cannot start.

#[cfg(feature = "tokio")]
use std::io;
#[cfg(feature = "tokio")]
use std::net::{IpAddr, SocketAddr};

/// Why a datagram is not a usable SSDP search response or NOTIFY message.
///
/// [`ParseError::Empty`] is the "too short" case; every other variant names the part of the
/// message that was malformed or missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The datagram is larger than [`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE).
    #[error("ssdp datagram of {len} bytes is larger than the {max} bytes allowed")]
    TooLarge {
        /// The datagram's length in bytes.
        len: usize,
        /// The largest length accepted.
        max: usize,
    },

    /// The datagram holds nothing but blank lines (or nothing at all).
    #[error("ssdp datagram is empty")]
    Empty,

    /// The first line is not the start line this parser expects (an HTTP status line for a
    /// search response, `NOTIFY * HTTP/1.1` for a notification).
    #[error("ssdp datagram is not {expected}: its first line is {found:?}")]
    UnexpectedStartLine {
        /// What the first line should have been, e.g. "an http response".
        expected: &'static str,
        /// The first line as received (lossily decoded, cut to 64 characters).
        found: String,
    },

    /// The search response carries an HTTP status other than 200.
    #[error("ssdp search response has http status {code}, not 200")]
    Status {
        /// The status code the responder sent.
        code: u16,
    },

    /// A header the message cannot do without is absent or empty.
    #[error("ssdp message has no {name} header")]
    MissingHeader {
        /// The header's name, e.g. "LOCATION".
        name: &'static str,
    },

    /// The message has more header lines than [`MAX_HEADERS`](crate::MAX_HEADERS).
    #[error("ssdp message has more than {max} header lines")]
    TooManyHeaders {
        /// The largest number of header lines accepted.
        max: usize,
    },

    /// A NOTIFY's NTS header is not `ssdp:alive`, `ssdp:byebye` or `ssdp:update`.
    #[error("ssdp notify has unknown notification sub type {nts:?} in its NTS header")]
    UnknownNotificationSubType {
        /// The NTS header's value (cut to 64 characters).
        nts: String,
    },
}

/// Why a search or a NOTIFY listener could not start.
///
/// Once running, neither fails: a datagram that cannot be parsed is dropped (with a
/// `tracing` event at trace level), and a send that fails on one interface is logged and
/// leaves the others searching.
#[cfg(feature = "tokio")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The options cannot be used as given.
    #[error("invalid ssdp options: {reason}")]
    InvalidOptions {
        /// What is wrong with them.
        reason: &'static str,
    },

    /// The network interfaces could not be listed.
    #[error("cannot list the network interfaces for ssdp: {0}")]
    Interfaces(#[from] netinfo::Error),

    /// No interface is up, multicast-capable, non-loopback and holds an IPv4 address (within
    /// the interface filter, if one was given), and no unicast address was given.
    #[error("no up, multicast-capable ipv4 interface to use for ssdp")]
    NoInterface,

    /// A UDP socket could not be opened, configured or bound.
    #[error("cannot open an ssdp socket on {address}: {source}")]
    Socket {
        /// The local address the socket was to be bound to.
        address: SocketAddr,
        /// Why it failed.
        #[source]
        source: io::Error,
    },

    /// The multicast group could not be joined on any interface.
    #[error("cannot join the ssdp group {group} on interface {interface}: {source}")]
    Join {
        /// The multicast group, `239.255.255.250` or `ff02::c`.
        group: IpAddr,
        /// The interface's name.
        interface: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
}
