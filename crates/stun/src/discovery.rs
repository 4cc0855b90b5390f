//! [`Discovery`]: the outside view of one UDP socket in at most two round trips to a STUN
//! server: its mapped address, and with an RFC 5780 server the NAT's mapping and filtering
//! behaviour and hairpinning. Sans-IO; a driver moves its datagrams and timers.
//!
//! Round one sends, at once, test I (a plain Binding request) from the socket under test
//! and the two filtering tests (CHANGE-REQUEST for the other IP and port, and for the other
//! port) from a second, fresh socket, all to the server's primary address. When test I
//! answers, round two sends mapping tests II and III to the server's other IP address
//! (primary port, and other port) at once, and the hairpinning probe goes to the mapped
//! address. The filtering tests use their own socket because an answer the NAT drops
//! leaves connection-tracking state at a Linux router, and a later request of the socket
//! under test to that same server address would then get another external port (a false
//! "address-and-port-dependent").
//!
//! For a socket with a port mapping, the unsolicited-datagram test sends one more
//! CHANGE-REQUEST (other IP and port) from the socket under test in round one; round two
//! then waits until it is answered or a short settling time passed, because once the
//! socket has sent to the server's other address, an answer from there proves nothing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::attribute::ChangeRequest;
use crate::behaviour::{FilteringBehaviour, MappingBehaviour};
use crate::error::DecodeError;
use crate::message::{BindingRequest, BindingResponse, TransactionId, incoming_request_id};
use crate::transaction::{Outcome, Schedule, Socket, Transaction, Transmit};

/// What a [`Discovery`] does and how long it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryConfig {
    /// The retransmission schedule of every request; its budget bounds each request.
    pub schedule: Schedule,
    /// The most the whole discovery may take.
    pub budget: Duration,
    /// Whether to run RFC 5780's behaviour tests (and the hairpinning probe); without,
    /// one Binding request, one round trip, and no second socket.
    pub behaviour: bool,
    /// Whether to test that an unsolicited datagram (from the server's other IP address
    /// and port) reaches the socket under test: for a socket with a port mapping.
    pub unsolicited: bool,
    /// After test I answers, how long the CHANGE-REQUEST answers may still take (at least;
    /// three times test I's round-trip time when that is longer).
    pub filtering_wait: Duration,
    /// How long the hairpinning probe waits for its own request to come back.
    pub hairpin_wait: Duration,
}

impl Default for DiscoveryConfig {
    /// Behaviour tests on, no unsolicited-datagram test, 1.5 s in all, 250 ms for the
    /// CHANGE-REQUEST answers, 300 ms for the hairpinning probe, RTO 100 ms.
    fn default() -> DiscoveryConfig {
        DiscoveryConfig {
            schedule: Schedule::interactive(Duration::from_millis(700)),
            budget: Duration::from_millis(1500),
            behaviour: true,
            unsolicited: false,
            filtering_wait: Duration::from_millis(250),
            hairpin_wait: Duration::from_millis(300),
        }
    }
}

impl DiscoveryConfig {
    /// One Binding request only: the mapped address, no behaviour tests.
    pub fn address_only() -> DiscoveryConfig {
        DiscoveryConfig {
            behaviour: false,
            ..DiscoveryConfig::default()
        }
    }

    /// This configuration with another total budget (each request's budget is capped by
    /// it too).
    pub fn with_budget(mut self, budget: Duration) -> DiscoveryConfig {
        self.budget = budget;
        self.schedule.budget = self.schedule.budget.min(budget);
        self
    }

    /// This configuration with the behaviour tests on or off.
    pub fn with_behaviour(mut self, behaviour: bool) -> DiscoveryConfig {
        self.behaviour = behaviour;
        self
    }

    /// This configuration with the unsolicited-datagram test on or off.
    pub fn with_unsolicited(mut self, unsolicited: bool) -> DiscoveryConfig {
        self.unsolicited = unsolicited;
        self
    }
}

/// Why a discovery has no mapped address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The server did not answer test I.
    #[error("stun server {server} did not answer ({attempts} requests)")]
    NoAnswer {
        /// The server.
        server: SocketAddr,
        /// How many requests were sent.
        attempts: u32,
    },
    /// The server refused test I.
    #[error("stun server {server} answered with error {code}")]
    ErrorResponse {
        /// The server.
        server: SocketAddr,
        /// Its error code.
        code: u16,
    },
}

impl DiscoveryError {
    /// Whether the server was not heard from at all (unreachable, filtered, or not a
    /// STUN server).
    pub fn is_no_answer(&self) -> bool {
        matches!(self, DiscoveryError::NoAnswer { .. })
    }
}

/// What a discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryReport {
    /// The server asked.
    pub server: SocketAddr,
    /// The socket's address as the server saw it (test I).
    pub mapped: SocketAddr,
    /// The server's other address (OTHER-ADDRESS), when it does RFC 5780.
    pub other_address: Option<SocketAddr>,
    /// The mapping behaviour; `None` when it could not be told (no RFC 5780 server,
    /// tests II/III unanswered, or behaviour tests not asked for).
    pub mapping: Option<MappingBehaviour>,
    /// The filtering behaviour; `None` when it could not be told (no RFC 5780 server, a
    /// server that did not honour CHANGE-REQUEST, or not asked for).
    pub filtering: Option<FilteringBehaviour>,
    /// Whether a datagram from the server's other IP address and port, to which the
    /// socket under test had sent nothing, reached it: what proves that an unsolicited
    /// peer can reach its mapping. `None` when not tested.
    pub unsolicited_arrived: Option<bool>,
    /// Whether the socket's request to its own mapped address came back to it; `None` when
    /// not tested.
    pub hairpinning: Option<bool>,
    /// Round trips to the server that waited on each other (1 or 2).
    pub round_trips: u32,
    /// Requests sent to the server, each counted once (the hairpinning probe goes to the
    /// mapped address and is not counted).
    pub requests: u32,
    /// Datagrams sent to the server: the requests and their retransmissions.
    pub transmissions: u32,
    /// From the first request to the end.
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Test I (and the CHANGE-REQUESTs) out.
    RoundOne,
    /// Test I answered; the unsolicited-datagram test's answer may still come.
    Settling {
        until: Instant,
    },
    /// Tests II and III out.
    RoundTwo,
    /// Only the CHANGE-REQUESTs and the hairpinning probe may still run.
    Closing,
    Done,
}

/// The outside view of one UDP socket, sans-IO: feed it every datagram its two sockets
/// receive ([`handle_datagram`](Self::handle_datagram)) and its timers, send what
/// [`poll_transmit`](Self::poll_transmit) gives from the socket it names, until
/// [`is_done`](Self::is_done).
///
/// ```
/// use std::time::Instant;
/// use stun::{BindingResponse, BindingSuccess, Discovery, DiscoveryConfig, Socket};
///
/// let server = "44.0.0.2:3478".parse()?;
/// let now = Instant::now();
/// let mut discovery = Discovery::new(server, DiscoveryConfig::address_only(), now);
/// let request = discovery.poll_transmit(now).expect("test I");
/// assert_eq!((request.socket, request.destination), (Socket::Main, server));
/// // The server's answer (by hand here).
/// let id = stun::TransactionId(request.payload[8..20].try_into().expect("12 bytes"));
/// let answer = BindingResponse::Success(BindingSuccess {
///     transaction_id: id,
///     mapped: "44.0.0.1:40000".parse()?,
///     other_address: None,
///     response_origin: None,
/// });
/// discovery.handle_datagram(Socket::Main, server, &answer.encode(), now);
/// assert!(discovery.is_done());
/// let report = discovery.report().expect("answered");
/// assert_eq!(report.mapped, "44.0.0.1:40000".parse()?);
/// assert_eq!((report.round_trips, report.requests), (1, 1));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Discovery {
    server: SocketAddr,
    config: DiscoveryConfig,
    started: Instant,
    deadline: Instant,
    phase: Phase,
    /// Test I, from the socket under test.
    test1: Transaction,
    /// The unsolicited-datagram test, from the socket under test.
    unsolicited: Option<Transaction>,
    /// Filtering tests II and III, from the filtering socket.
    filter_ip_port: Option<Transaction>,
    filter_port: Option<Transaction>,
    /// Mapping tests II and III, from the socket under test.
    test2: Option<Transaction>,
    test3: Option<Transaction>,
    hairpin: Option<Transaction>,
    hairpin_seen: bool,
    mapped: Option<SocketAddr>,
    other_address: Option<SocketAddr>,
    unsolicited_arrived: Option<bool>,
    round_trips: u32,
    requests: u32,
    transmissions: u32,
    ended: Option<Instant>,
}

impl Discovery {
    /// A discovery toward `server`, starting at `now`.
    pub fn new(server: SocketAddr, config: DiscoveryConfig, now: Instant) -> Discovery {
        let schedule = config
            .schedule
            .with_budget(config.schedule.budget.min(config.budget));
        let request = |change| BindingRequest::new(TransactionId::random()).with_change(change);
        let change = |on: bool, change| {
            (config.behaviour && on)
                .then(|| Transaction::new(request(change), server, schedule, now))
        };
        Discovery {
            server,
            config,
            started: now,
            deadline: now + config.budget,
            phase: Phase::RoundOne,
            test1: Transaction::new(request(ChangeRequest::NONE), server, schedule, now),
            unsolicited: change(config.unsolicited, ChangeRequest::IP_AND_PORT),
            filter_ip_port: change(true, ChangeRequest::IP_AND_PORT),
            filter_port: change(true, ChangeRequest::PORT),
            test2: None,
            test3: None,
            hairpin: None,
            hairpin_seen: false,
            mapped: None,
            other_address: None,
            unsolicited_arrived: None,
            round_trips: 1,
            requests: 0,
            transmissions: 0,
            ended: None,
        }
    }

    /// The server asked.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Whether the discovery uses the second socket ([`Socket::Filtering`]): a driver
    /// opens it only then.
    pub fn needs_filtering_socket(&self) -> bool {
        self.config.behaviour
    }

    /// The requests to the server, each with the socket it leaves from.
    fn server_requests(&mut self) -> impl Iterator<Item = (Socket, &mut Transaction)> {
        let main = std::iter::once(&mut self.test1)
            .chain(self.unsolicited.as_mut())
            .chain(self.test2.as_mut())
            .chain(self.test3.as_mut())
            .map(|t| (Socket::Main, t));
        let filtering = self
            .filter_ip_port
            .as_mut()
            .into_iter()
            .chain(self.filter_port.as_mut())
            .map(|t| (Socket::Filtering, t));
        main.chain(filtering)
    }

    fn hairpin_done(&self) -> bool {
        self.hairpin_seen || self.hairpin.as_ref().is_none_or(Transaction::is_done)
    }

    /// The next datagram due at `now`, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.phase == Phase::Done {
            return None;
        }
        let sent = self.server_requests().find_map(|(socket, t)| {
            t.poll_transmit(now)
                .map(|transmit| Transmit { socket, ..transmit })
        });
        if let Some(transmit) = &sent {
            self.transmissions += 1;
            if transmit.attempt == 1 {
                self.requests += 1;
            }
            return sent;
        }
        if self.hairpin_seen {
            return None;
        }
        self.hairpin.as_mut()?.poll_transmit(now)
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next needed; `None` once done.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if self.phase == Phase::Done {
            return None;
        }
        let mut next = self.deadline;
        for (_, t) in self.server_requests() {
            if let Some(at) = t.poll_timeout() {
                next = next.min(at);
            }
        }
        if !self.hairpin_seen {
            if let Some(at) = self.hairpin.as_ref().and_then(Transaction::poll_timeout) {
                next = next.min(at);
            }
        }
        if let Phase::Settling { until } = self.phase {
            next = next.min(until);
        }
        Some(next)
    }

    /// Moves time on.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (_, t) in self.server_requests() {
            t.handle_timeout(now);
        }
        if let Some(h) = self.hairpin.as_mut() {
            h.handle_timeout(now);
        }
        self.advance(now);
    }

    /// Offers a datagram that `socket` received from `source`. Datagrams that are not for
    /// this discovery are ignored; the error says why one was not a STUN answer (for
    /// logging; the discovery goes on).
    pub fn handle_datagram(
        &mut self,
        socket: Socket,
        source: SocketAddr,
        bytes: &[u8],
        now: Instant,
    ) -> Result<(), DecodeError> {
        if let Some(id) = incoming_request_id(bytes) {
            let ours = self.hairpin.as_ref().map(Transaction::id) == Some(id);
            if ours && socket == Socket::Main {
                self.hairpin_seen = true;
                self.advance(now);
            }
            return Ok(());
        }
        let response = BindingResponse::decode(bytes)?;
        for (on, t) in self.server_requests() {
            if on == socket && t.handle_response(source, &response, now) {
                break;
            }
        }
        self.advance(now);
        Ok(())
    }

    fn advance(&mut self, now: Instant) {
        if self.phase == Phase::Done {
            return;
        }
        if now >= self.deadline {
            self.judge_unsolicited();
            self.finish(now);
            return;
        }
        match self.phase {
            Phase::RoundOne => match self.test1.outcome() {
                None => {}
                Some(Outcome::Answered {
                    response: BindingResponse::Success(success),
                    elapsed,
                    ..
                }) => {
                    let (success, rtt) = (*success, *elapsed);
                    self.mapped = Some(success.mapped);
                    // An OTHER-ADDRESS that shares the primary's IP or port cannot tell
                    // the behaviours apart.
                    self.other_address = success
                        .other_address
                        .filter(|o| o.ip() != self.server.ip() && o.port() != self.server.port());
                    if !self.config.behaviour {
                        self.finish(now);
                        return;
                    }
                    let wait = self.config.filtering_wait.max(rtt.saturating_mul(3));
                    for t in [
                        &mut self.unsolicited,
                        &mut self.filter_ip_port,
                        &mut self.filter_port,
                    ]
                    .into_iter()
                    .flatten()
                    {
                        t.end_by(now + wait);
                    }
                    self.hairpin = Some(Transaction::new(
                        BindingRequest::new(TransactionId::random()),
                        success.mapped,
                        self.config.schedule.with_budget(self.config.hairpin_wait),
                        now,
                    ));
                    self.phase = Phase::Settling { until: now + wait };
                    self.advance(now);
                }
                Some(_) => self.finish(now),
            },
            Phase::Settling { until } => {
                let settled = self.unsolicited.as_ref().is_none_or(Transaction::is_done);
                if now < until && !settled {
                    return;
                }
                self.judge_unsolicited();
                let Some(other) = self.other_address else {
                    self.phase = Phase::Closing;
                    self.advance(now);
                    return;
                };
                let schedule = self
                    .config
                    .schedule
                    .with_budget(self.deadline.saturating_duration_since(now));
                let test = |to| {
                    Transaction::new(
                        BindingRequest::new(TransactionId::random()),
                        to,
                        schedule,
                        now,
                    )
                };
                self.test2 = Some(test(SocketAddr::new(other.ip(), self.server.port())));
                self.test3 = Some(test(other));
                self.round_trips = 2;
                self.phase = Phase::RoundTwo;
            }
            Phase::RoundTwo => {
                let done = [&self.test2, &self.test3]
                    .into_iter()
                    .all(|t| t.as_ref().is_none_or(Transaction::is_done));
                if done {
                    self.phase = Phase::Closing;
                    self.advance(now);
                }
            }
            Phase::Closing => {
                let filtering_done = [&self.filter_ip_port, &self.filter_port]
                    .into_iter()
                    .all(|t| t.as_ref().is_none_or(Transaction::is_done));
                if filtering_done && self.hairpin_done() {
                    self.finish(now);
                }
            }
            Phase::Done => {}
        }
    }

    fn finish(&mut self, now: Instant) {
        self.phase = Phase::Done;
        self.ended = Some(now);
    }

    /// Takes the unsolicited-datagram verdict from what arrived so far and stops that
    /// test: later answers could pass through permissions that round two opens.
    fn judge_unsolicited(&mut self) {
        if let Some(t) = self.unsolicited.take() {
            self.unsolicited_arrived = self.changed_answer(&t, true);
        }
    }

    /// Whether a CHANGE-REQUEST's answer came from where it should: `Some(true)` from the
    /// changed address, `Some(false)` when none came, `None` when the test tells nothing
    /// (an error answer, or one from an address the server should not have used).
    fn changed_answer(&self, t: &Transaction, other_ip: bool) -> Option<bool> {
        let other = self.other_address?;
        match t.outcome() {
            Some(Outcome::Answered {
                response: BindingResponse::Success(_),
                source,
                ..
            }) => {
                let ip = if other_ip {
                    other.ip()
                } else {
                    self.server.ip()
                };
                (source.ip() == ip && source.port() == other.port()).then_some(true)
            }
            Some(Outcome::Answered { .. }) => None,
            _ => Some(false),
        }
    }

    /// Whether the discovery has ended.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    fn mapped_of(t: &Option<Transaction>) -> Option<SocketAddr> {
        match t.as_ref()?.outcome()? {
            Outcome::Answered {
                response: BindingResponse::Success(s),
                ..
            } => Some(s.mapped),
            _ => None,
        }
    }

    /// What it found; an error when test I got no usable answer. Before the end, what is
    /// known so far.
    pub fn report(&self) -> Result<DiscoveryReport, DiscoveryError> {
        let Some(mapped) = self.mapped else {
            return Err(match self.test1.outcome() {
                Some(Outcome::Answered {
                    response: BindingResponse::Error { code, .. },
                    ..
                }) => DiscoveryError::ErrorResponse {
                    server: self.server,
                    code: *code,
                },
                Some(Outcome::TimedOut { attempts }) => DiscoveryError::NoAnswer {
                    server: self.server,
                    attempts: *attempts,
                },
                _ => DiscoveryError::NoAnswer {
                    server: self.server,
                    attempts: self.transmissions,
                },
            });
        };
        let mapping = Self::mapped_of(&self.test2)
            .map(|test2| MappingBehaviour::decide(mapped, test2, Self::mapped_of(&self.test3)));
        let filtering = match (&self.filter_ip_port, &self.filter_port) {
            (Some(f2), Some(f3)) if f2.is_done() && f3.is_done() => {
                match (
                    self.changed_answer(f2, true),
                    self.changed_answer(f3, false),
                ) {
                    (Some(f2), Some(f3)) => Some(FilteringBehaviour::decide(f2, f3)),
                    _ => None,
                }
            }
            _ => None,
        };
        let end = self.ended.unwrap_or(self.started);
        Ok(DiscoveryReport {
            server: self.server,
            mapped,
            other_address: self.other_address,
            mapping,
            filtering,
            unsolicited_arrived: self.unsolicited_arrived,
            hairpinning: self.hairpin.as_ref().map(|_| self.hairpin_seen),
            round_trips: self.round_trips,
            requests: self.requests,
            transmissions: self.transmissions,
            elapsed: end.saturating_duration_since(self.started),
        })
    }
}

#[cfg(test)]
mod tests;
