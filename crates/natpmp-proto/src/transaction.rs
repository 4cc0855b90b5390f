//! One request/response exchange with a gateway, without sockets or clocks.
//!
//! A [`Transaction`] holds the encoded request, says when to (re)send it, and checks every
//! datagram that arrives. Time comes in as `now` arguments, bytes go out as [`Transmit`]s:
//!
//! 1. [`Transaction::new`] — the request is due at once;
//! 2. [`Transaction::poll_transmit`] — send what it returns to the gateway;
//! 3. wait for a datagram or until [`Transaction::poll_timeout`];
//! 4. [`Transaction::handle_datagram`] or [`Transaction::handle_timeout`], then back to 2
//!    until [`Transaction::poll_outcome`] returns the answer or the error.
//!
//! A datagram is accepted only if it comes from the gateway's address and port, decodes,
//! answers the request's opcode, and (PCP) echoes the nonce, protocol and internal port
//! (and for PEER the remote peer); NAT-PMP mapping responses must echo protocol and internal
//! port. Anything else is ignored and counted by [`IgnoreReason`], never accepted. A reply
//! with an error result code ends the transaction with [`TransactionError::Rejected`]; a
//! reply in the other protocol saying "unsupported version" ends it with
//! [`TransactionError::UnsupportedVersion`], which [`crate::VersionNegotiator`] turns into a
//! retry. An UNSUPP_VERSION reply in a PCP version this crate does not speak (a draft-era
//! version 1 server, RFC 6887 §9) ends it at once with [`TransactionError::ServerVersion`],
//! naming that version, rather than being dropped as undecodable until the timeout.

mod schedule;

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use self::schedule::{Schedule, Timeouts};
use crate::any::{AnyRequest, AnyResponse, AnyResultCode, Version, decode_any};
use crate::error::EncodeError;
use crate::{natpmp, pcp};

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it: the gateway.
    pub destination: SocketAddr,
    /// The encoded request.
    pub contents: Vec<u8>,
    /// Which attempt this is, starting at 1.
    pub attempt: u32,
}

/// The gateway's accepted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The decoded response.
    pub response: AnyResponse,
    /// When it arrived; feed it with `response.epoch()` to an [`crate::EpochTracker`].
    pub received_at: Instant,
    /// How many attempts had been sent.
    pub attempts: u32,
    /// When the first attempt was sent.
    pub first_sent: Instant,
}

impl Answer {
    /// Time from the first attempt to the answer.
    pub fn elapsed(&self) -> Duration {
        self.received_at.saturating_duration_since(self.first_sent)
    }
}

/// Why a transaction ended without a successful answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// The schedule ran out without an acceptable answer.
    #[error("no answer from gateway {gateway} after {attempts} attempts in {waited:?}")]
    TimedOut {
        /// The gateway asked.
        gateway: SocketAddr,
        /// Time from the first attempt to giving up.
        waited: Duration,
        /// Attempts sent.
        attempts: u32,
    },
    /// The gateway answered with an error result code.
    #[error("gateway {gateway} refused the request with result code {result}")]
    Rejected {
        /// The gateway asked.
        gateway: SocketAddr,
        /// The result code.
        result: AnyResultCode,
        /// The whole answer: epoch, and for PCP the lifetime of the error.
        answer: Box<Answer>,
    },
    /// The gateway does not speak the request's protocol version and said so in its own.
    #[error("gateway {gateway} does not speak {requested}, it answered in {answered}")]
    UnsupportedVersion {
        /// The gateway asked.
        gateway: SocketAddr,
        /// The request's version.
        requested: Version,
        /// The version the gateway answered in.
        answered: Version,
        /// The whole answer.
        answer: Box<Answer>,
    },
    /// The gateway answered UNSUPP_VERSION in a PCP version this crate does not speak
    /// (RFC 6887 §9): it speaks `server_version` and nothing this crate could retry in.
    #[error(
        "gateway {gateway} answered the {requested} request in PCP version {server_version}, which natkit does not speak"
    )]
    ServerVersion {
        /// The gateway asked.
        gateway: SocketAddr,
        /// The request's version.
        requested: Version,
        /// The version byte of the gateway's answer: the version it speaks.
        server_version: u8,
        /// The answer's lifetime, if non-zero: how long the server will answer the same way.
        retry_after: Option<Duration>,
        /// Attempts sent.
        attempts: u32,
    },
    /// The gateway's port is closed (ICMP port unreachable): it does not run the protocol
    /// (RFC 6886 §3.1 lets a client stop retrying at once).
    #[error("gateway {gateway} port is unreachable after {attempts} attempts")]
    PortUnreachable {
        /// The gateway asked.
        gateway: SocketAddr,
        /// Attempts sent.
        attempts: u32,
    },
}

impl TransactionError {
    /// The gateway's result code, if it answered.
    pub fn result_code(&self) -> Option<AnyResultCode> {
        self.answer().map(|answer| answer.response.result())
    }

    /// The gateway's answer, if it answered.
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            Self::Rejected { answer, .. } | Self::UnsupportedVersion { answer, .. } => Some(answer),
            Self::TimedOut { .. } | Self::PortUnreachable { .. } | Self::ServerVersion { .. } => {
                None
            }
        }
    }
}

/// Why a datagram was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// It did not come from the gateway's address and port.
    WrongSource,
    /// It did not decode as a response.
    Undecodable,
    /// It is in the other protocol and is not an "unsupported version" reply.
    WrongVersion,
    /// Its opcode does not answer the request's.
    OpcodeMismatch,
    /// PCP: its mapping nonce differs from the request's.
    NonceMismatch,
    /// Its protocol, internal port or remote peer differs from the request's.
    MappingMismatch,
    /// It arrived after the transaction ended.
    AfterOutcome,
}

impl IgnoreReason {
    /// Every reason, in a fixed order.
    pub const ALL: [Self; 7] = [
        Self::WrongSource,
        Self::Undecodable,
        Self::WrongVersion,
        Self::OpcodeMismatch,
        Self::NonceMismatch,
        Self::MappingMismatch,
        Self::AfterOutcome,
    ];

    const fn index(self) -> usize {
        match self {
            Self::WrongSource => 0,
            Self::Undecodable => 1,
            Self::WrongVersion => 2,
            Self::OpcodeMismatch => 3,
            Self::NonceMismatch => 4,
            Self::MappingMismatch => 5,
            Self::AfterOutcome => 6,
        }
    }
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WrongSource => "wrong source",
            Self::Undecodable => "undecodable",
            Self::WrongVersion => "wrong version",
            Self::OpcodeMismatch => "opcode mismatch",
            Self::NonceMismatch => "nonce mismatch",
            Self::MappingMismatch => "mapping mismatch",
            Self::AfterOutcome => "after outcome",
        })
    }
}

/// Counts of ignored datagrams, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoredCounts {
    counts: [u64; IgnoreReason::ALL.len()],
}

impl IgnoredCounts {
    /// Datagrams ignored for `reason`.
    pub const fn get(&self, reason: IgnoreReason) -> u64 {
        self.counts[reason.index()]
    }

    /// Datagrams ignored for any reason.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Each reason with a non-zero count.
    pub fn iter(&self) -> impl Iterator<Item = (IgnoreReason, u64)> + '_ {
        IgnoreReason::ALL
            .into_iter()
            .map(|reason| (reason, self.get(reason)))
            .filter(|&(_, count)| count > 0)
    }

    pub(crate) fn record(&mut self, reason: IgnoreReason) {
        let count = &mut self.counts[reason.index()];
        *count = count.saturating_add(1);
    }
}

/// What [`Transaction::handle_datagram`] did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatagramVerdict {
    /// It answered the request; the outcome is ready.
    Accepted,
    /// It was ignored.
    Ignored(IgnoreReason),
}

/// One request/response exchange with a gateway.
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
/// use std::time::{Duration, Instant};
/// use natpmp_proto::{natpmp, Schedule, Transaction, TransactionError};
///
/// let gateway = SocketAddr::from((Ipv4Addr::new(192, 168, 1, 1), natpmp_proto::SERVER_PORT));
/// let start = Instant::now();
/// let mut tx = Transaction::new(natpmp::Request::external_address(), gateway,
///                               Schedule::natpmp_rfc(), start).unwrap();
/// let mut now = start;
/// let mut sent = 0;
/// // Nobody answers: nine attempts, then a timeout.
/// loop {
///     while let Some(transmit) = tx.poll_transmit(now) {
///         assert_eq!(transmit.destination, gateway);
///         sent += 1;
///     }
///     if let Some(outcome) = tx.poll_outcome() {
///         assert!(matches!(outcome, Err(TransactionError::TimedOut { attempts: 9, .. })));
///         break;
///     }
///     now = tx.poll_timeout().unwrap();
///     tx.handle_timeout(now);
/// }
/// assert_eq!(sent, 9);
/// assert_eq!(now - start, Duration::from_millis(127_750));
/// ```
#[derive(Debug, Clone)]
pub struct Transaction {
    request: AnyRequest,
    contents: Vec<u8>,
    gateway: SocketAddr,
    schedule: Schedule,
    timeouts: Timeouts,
    created: Instant,
    first_sent: Option<Instant>,
    attempts: u32,
    transmit_due: bool,
    due: Instant,
    deadline: Option<Instant>,
    finished: bool,
    outcome: Option<Result<Answer, TransactionError>>,
    ignored: IgnoredCounts,
}

/// What a validated datagram means.
enum Acceptance {
    Success,
    Rejected,
    UnsupportedVersion,
}

/// A datagram that answers the request.
enum Validated {
    /// In NAT-PMP or PCP version 2.
    Response(Acceptance, AnyResponse),
    /// UNSUPP_VERSION in another PCP version.
    ForeignVersion(pcp::ForeignVersionAnswer),
}

impl Transaction {
    /// Starts an exchange of `request` with `gateway` (normally the gateway's address with
    /// [`crate::SERVER_PORT`]); answers are accepted only from exactly this address and
    /// port. The first attempt is due at `now`.
    ///
    /// Fails only if a PCP request does not encode (see [`EncodeError`]).
    pub fn new(
        request: impl Into<AnyRequest>,
        gateway: SocketAddr,
        schedule: Schedule,
        now: Instant,
    ) -> Result<Self, EncodeError> {
        let request = request.into();
        let contents = request.encode()?;
        Ok(Self {
            request,
            contents,
            gateway,
            timeouts: schedule.timeouts(),
            schedule,
            created: now,
            first_sent: None,
            attempts: 0,
            transmit_due: true,
            due: now,
            deadline: None,
            finished: false,
            outcome: None,
            ignored: IgnoredCounts::default(),
        })
    }

    /// The request.
    pub fn request(&self) -> &AnyRequest {
        &self.request
    }

    /// The gateway.
    pub fn gateway(&self) -> SocketAddr {
        self.gateway
    }

    /// The schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Attempts sent so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether the transaction has ended (its outcome may already have been taken).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Datagrams ignored so far, by reason.
    pub fn ignored(&self) -> &IgnoredCounts {
        &self.ignored
    }

    /// The datagram to send now, if an attempt is due. Sending it is the caller's job; the
    /// wait for an answer starts at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.finished || !self.transmit_due {
            return None;
        }
        let Some(wait) = self.timeouts.next() else {
            // Only reachable with a schedule that allows no attempt at all.
            self.time_out(now);
            return None;
        };
        self.transmit_due = false;
        self.attempts = self.attempts.saturating_add(1);
        let first_sent = *self.first_sent.get_or_insert(now);
        let mut deadline = now.checked_add(wait);
        if let Some(max) = self.schedule.max_duration() {
            let limit = first_sent.checked_add(max);
            deadline = match (deadline, limit) {
                (Some(d), Some(l)) => Some(d.min(l)),
                (d, l) => d.or(l),
            };
        }
        self.deadline = deadline;
        Some(Transmit {
            destination: self.gateway,
            contents: self.contents.clone(),
            attempt: self.attempts,
        })
    }

    /// When [`Transaction::handle_timeout`] should next be called; `None` once finished (or
    /// if the wait is too long to represent). While an attempt is due and not yet taken with
    /// [`Transaction::poll_transmit`], it is the time the attempt became due (already past).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            None
        } else if self.transmit_due {
            Some(self.due)
        } else {
            self.deadline
        }
    }

    /// Advances the clock: at the deadline, schedules the next attempt or gives up.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.finished || self.transmit_due {
            return;
        }
        let Some(deadline) = self.deadline else {
            return;
        };
        if now < deadline {
            return;
        }
        let out_of_attempts = self
            .schedule
            .max_attempts()
            .is_some_and(|max| self.attempts >= max);
        let out_of_time = match (self.schedule.max_duration(), self.first_sent) {
            (Some(max), Some(first)) => now.saturating_duration_since(first) >= max,
            _ => false,
        };
        if out_of_attempts || out_of_time {
            self.time_out(now);
        } else {
            self.transmit_due = true;
            self.due = deadline;
            self.deadline = None;
        }
    }

    /// Tells the transaction that the gateway's port is unreachable (an ICMP error surfaced
    /// by the socket): it ends with [`TransactionError::PortUnreachable`].
    pub fn handle_port_unreachable(&mut self, _now: Instant) {
        if self.finished {
            return;
        }
        self.finish(Err(TransactionError::PortUnreachable {
            gateway: self.gateway,
            attempts: self.attempts,
        }));
    }

    /// Checks a datagram received from `source` at `now`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        datagram: &[u8],
    ) -> DatagramVerdict {
        match self.validate(source, datagram) {
            Err(reason) => {
                self.ignored.record(reason);
                DatagramVerdict::Ignored(reason)
            }
            Ok(Validated::ForeignVersion(foreign)) => {
                self.finish(Err(TransactionError::ServerVersion {
                    gateway: self.gateway,
                    requested: self.request.version(),
                    server_version: foreign.version,
                    retry_after: foreign.retry_after(),
                    attempts: self.attempts,
                }));
                DatagramVerdict::Accepted
            }
            Ok(Validated::Response(acceptance, response)) => {
                let answer = Answer {
                    response,
                    received_at: now,
                    attempts: self.attempts,
                    first_sent: self.first_sent.unwrap_or(self.created),
                };
                let outcome = match acceptance {
                    Acceptance::Success => Ok(answer),
                    Acceptance::Rejected => Err(TransactionError::Rejected {
                        gateway: self.gateway,
                        result: answer.response.result(),
                        answer: Box::new(answer),
                    }),
                    Acceptance::UnsupportedVersion => Err(TransactionError::UnsupportedVersion {
                        gateway: self.gateway,
                        requested: self.request.version(),
                        answered: answer.response.version(),
                        answer: Box::new(answer),
                    }),
                };
                self.finish(outcome);
                DatagramVerdict::Accepted
            }
        }
    }

    /// The outcome, once: `Some` the first time it is called after the transaction ended,
    /// `None` before and after.
    pub fn poll_outcome(&mut self) -> Option<Result<Answer, TransactionError>> {
        self.outcome.take()
    }

    fn time_out(&mut self, now: Instant) {
        let waited = self
            .first_sent
            .map_or(Duration::ZERO, |first| now.saturating_duration_since(first));
        self.finish(Err(TransactionError::TimedOut {
            gateway: self.gateway,
            waited,
            attempts: self.attempts,
        }));
    }

    fn finish(&mut self, outcome: Result<Answer, TransactionError>) {
        self.finished = true;
        self.transmit_due = false;
        self.deadline = None;
        self.outcome = Some(outcome);
    }

    fn validate(&self, source: SocketAddr, datagram: &[u8]) -> Result<Validated, IgnoreReason> {
        if self.finished {
            return Err(IgnoreReason::AfterOutcome);
        }
        if !same_endpoint(source, self.gateway) {
            return Err(IgnoreReason::WrongSource);
        }
        if let Some(foreign) = pcp::ForeignVersionAnswer::decode(datagram) {
            let asked = match &self.request {
                AnyRequest::NatPmp(request) => request.opcode(),
                AnyRequest::Pcp(request) => request.opcode().code(),
            };
            if foreign.opcode != asked {
                return Err(IgnoreReason::OpcodeMismatch);
            }
            return Ok(Validated::ForeignVersion(foreign));
        }
        let response = decode_any(datagram).map_err(|_| IgnoreReason::Undecodable)?;
        let acceptance = match (&self.request, &response) {
            (AnyRequest::NatPmp(request), AnyResponse::NatPmp(response)) => {
                match_natpmp(request, response)?
            }
            (AnyRequest::Pcp(request), AnyResponse::Pcp(response)) => match_pcp(request, response)?,
            (AnyRequest::NatPmp(request), AnyResponse::Pcp(response)) => {
                // A PCP-only server's UNSUPP_VERSION reply echoes the opcode byte.
                if response.result == pcp::ResultCode::UnsupportedVersion {
                    if response.opcode().code() != request.opcode() {
                        return Err(IgnoreReason::OpcodeMismatch);
                    }
                    Acceptance::UnsupportedVersion
                } else {
                    return Err(IgnoreReason::WrongVersion);
                }
            }
            (AnyRequest::Pcp(request), AnyResponse::NatPmp(response)) => {
                // A NAT-PMP-only server: opcode 0 per RFC 6886 §3.5, or 128 + the request's
                // second byte as miniupnpd sends it.
                if response.result == natpmp::ResultCode::UnsupportedVersion {
                    let opcode = response.opcode();
                    if opcode != 0 && opcode != natpmp::RESPONSE_BIT + request.opcode().code() {
                        return Err(IgnoreReason::OpcodeMismatch);
                    }
                    Acceptance::UnsupportedVersion
                } else {
                    return Err(IgnoreReason::WrongVersion);
                }
            }
        };
        Ok(Validated::Response(acceptance, response))
    }
}

fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    // A dual-stack socket reports an IPv4 peer as IPv4-mapped IPv6.
    a.ip().to_canonical() == b.ip().to_canonical() && a.port() == b.port()
}

fn result_acceptance(success: bool) -> Acceptance {
    if success {
        Acceptance::Success
    } else {
        Acceptance::Rejected
    }
}

fn match_natpmp(
    request: &natpmp::Request,
    response: &natpmp::Response,
) -> Result<Acceptance, IgnoreReason> {
    match (&response.body, request) {
        (natpmp::ResponseBody::HeaderOnly { opcode }, _) => {
            if *opcode != 0 && *opcode != natpmp::RESPONSE_BIT + request.opcode() {
                return Err(IgnoreReason::OpcodeMismatch);
            }
        }
        (natpmp::ResponseBody::ExternalAddress { .. }, natpmp::Request::ExternalAddress) => {}
        (natpmp::ResponseBody::Map(mapping), natpmp::Request::Map(map)) => {
            if mapping.protocol != map.protocol {
                return Err(IgnoreReason::OpcodeMismatch);
            }
            if mapping.internal_port != map.internal_port {
                return Err(IgnoreReason::MappingMismatch);
            }
            // A deletion's success grants no lifetime. One that does answers the mapping
            // request of the same port sent just before (a late answer to a retransmission):
            // taken for the deletion's, it would end the deletion before the gateway saw it.
            if map.lifetime == 0 && response.result.is_success() && mapping.lifetime != 0 {
                return Err(IgnoreReason::MappingMismatch);
            }
        }
        _ => return Err(IgnoreReason::OpcodeMismatch),
    }
    Ok(result_acceptance(response.result.is_success()))
}

fn match_pcp(request: &pcp::Request, response: &pcp::Response) -> Result<Acceptance, IgnoreReason> {
    if response.opcode() != request.opcode() {
        return Err(IgnoreReason::OpcodeMismatch);
    }
    match (&request.data, &response.data) {
        (pcp::OpcodeData::Map(asked), pcp::ResponseData::Map(got)) => {
            check_mapping(
                (asked.nonce, asked.protocol, asked.internal_port),
                (got.nonce, got.protocol, got.internal_port),
            )?;
        }
        (pcp::OpcodeData::Peer(asked), pcp::ResponseData::Peer(got)) => {
            check_mapping(
                (asked.nonce, asked.protocol, asked.internal_port),
                (got.nonce, got.protocol, got.internal_port),
            )?;
            if pcp::canonical(asked.remote_peer_address) != got.remote_peer_address
                || asked.remote_peer_port != got.remote_peer_port
            {
                return Err(IgnoreReason::MappingMismatch);
            }
        }
        // Nothing to compare: only error responses can be header-only, and ANNOUNCE has no
        // data.
        _ => {}
    }
    Ok(result_acceptance(response.result.is_success()))
}

fn check_mapping(
    asked: (crate::Nonce, pcp::IpProtocol, u16),
    got: (crate::Nonce, pcp::IpProtocol, u16),
) -> Result<(), IgnoreReason> {
    if asked.0 != got.0 {
        return Err(IgnoreReason::NonceMismatch);
    }
    if asked.1 != got.1 || asked.2 != got.2 {
        return Err(IgnoreReason::MappingMismatch);
    }
    Ok(())
}
