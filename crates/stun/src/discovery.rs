//! [`Discovery`]: the outside view of one UDP socket in at most two round trips to a STUN
//! server: its mapped address, and with an RFC 5780 server the NAT's mapping and filtering
//! behaviour and hairpinning. Sans-IO; a driver moves its datagrams and timers.
//!
//! Round one sends, at once, test I (a plain Binding request) and the two filtering tests
//! (CHANGE-REQUEST for the other IP and port, and for the other port) to the server's
//! primary address. When test I answers, the hairpinning probe goes to the mapped address
//! and the filtering answers get a short settling time; then round two sends mapping tests
//! II and III to the server's other IP address (primary port and other port) at once.
//! The filtering verdict is taken before round two leaves: after the host has sent to the
//! server's other address, an answer from there no longer tells anything about filtering.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::attribute::ChangeRequest;
use crate::behaviour::{FilteringBehaviour, MappingBehaviour};
use crate::error::DecodeError;
use crate::message::{BindingRequest, BindingResponse, TransactionId, incoming_request_id};
use crate::transaction::{Outcome, Schedule, Transaction, Transmit};

/// What a [`Discovery`] does and how long it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryConfig {
    /// The retransmission schedule of every request; its budget bounds each request.
    pub schedule: Schedule,
    /// The most the whole discovery may take.
    pub budget: Duration,
    /// Whether to run RFC 5780's behaviour tests (and the hairpinning probe); without,
    /// one Binding request, one round trip.
    pub behaviour: bool,
    /// After test I answers, how long the filtering tests' answers may still take (at
    /// least; three times test I's round-trip time when that is longer).
    pub filtering_wait: Duration,
    /// How long the hairpinning probe waits for its own request to come back.
    pub hairpin_wait: Duration,
}

impl Default for DiscoveryConfig {
    /// Behaviour tests on, 1.5 s in all, 250 ms for the filtering answers, 400 ms for the
    /// hairpinning probe, RTO 100 ms.
    fn default() -> DiscoveryConfig {
        DiscoveryConfig {
            schedule: Schedule::interactive(Duration::from_millis(700)),
            budget: Duration::from_millis(1500),
            behaviour: true,
            filtering_wait: Duration::from_millis(250),
            hairpin_wait: Duration::from_millis(400),
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
    /// Whether a datagram from the server's other IP address and port, to which this
    /// socket had sent nothing, arrived (filtering test II): what proves that an
    /// unsolicited peer can reach the mapping. `None` when not tested.
    pub unsolicited_arrived: Option<bool>,
    /// Whether the socket's request to its own mapped address came back to it; `None` when
    /// not tested.
    pub hairpinning: Option<bool>,
    /// Round trips to the server that waited on each other (1 or 2).
    pub round_trips: u32,
    /// Requests sent to the server, retransmissions included (the hairpinning probe goes
    /// to the mapped address and is not counted).
    pub requests: u32,
    /// From the first request to the end.
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Test I (and the filtering tests) out.
    RoundOne,
    /// Test I answered: waiting for filtering answers and the hairpin.
    Settling {
        until: Instant,
    },
    /// Tests II and III out.
    RoundTwo,
    /// Only the hairpinning probe still runs.
    Closing,
    Done,
}

/// The outside view of one UDP socket, sans-IO: feed it every datagram the socket
/// receives ([`handle_datagram`](Self::handle_datagram)) and its timers, send what
/// [`poll_transmit`](Self::poll_transmit) gives, until [`is_done`](Self::is_done).
///
/// ```
/// use std::time::Instant;
/// use stun::{BindingResponse, BindingSuccess, Discovery, DiscoveryConfig};
///
/// let server = "44.0.0.2:3478".parse()?;
/// let now = Instant::now();
/// let mut discovery = Discovery::new(server, DiscoveryConfig::address_only(), now);
/// let request = discovery.poll_transmit(now).expect("test I");
/// assert_eq!(request.destination, server);
/// // The server's answer (by hand here).
/// let id = stun::TransactionId(request.payload[8..20].try_into().expect("12 bytes"));
/// let answer = BindingResponse::Success(BindingSuccess {
///     transaction_id: id,
///     mapped: "44.0.0.1:40000".parse()?,
///     other_address: None,
///     response_origin: None,
/// });
/// discovery.handle_datagram(server, &answer.encode(), now);
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
    test1: Transaction,
    filter_ip_port: Option<Transaction>,
    filter_port: Option<Transaction>,
    test2: Option<Transaction>,
    test3: Option<Transaction>,
    hairpin: Option<Transaction>,
    hairpin_seen: bool,
    mapped: Option<SocketAddr>,
    other_address: Option<SocketAddr>,
    filtering: Option<FilteringBehaviour>,
    unsolicited_arrived: Option<bool>,
    round_trips: u32,
    requests: u32,
    ended: Option<Instant>,
}

impl Discovery {
    /// A discovery toward `server`, starting at `now`.
    pub fn new(server: SocketAddr, config: DiscoveryConfig, now: Instant) -> Discovery {
        let schedule = config
            .schedule
            .with_budget(config.schedule.budget.min(config.budget));
        let request = |change| BindingRequest::new(TransactionId::random()).with_change(change);
        let test1 = Transaction::new(request(ChangeRequest::NONE), server, schedule, now);
        let filter = |change| {
            config
                .behaviour
                .then(|| Transaction::new(request(change), server, schedule, now))
        };
        Discovery {
            server,
            config,
            started: now,
            deadline: now + config.budget,
            phase: Phase::RoundOne,
            test1,
            filter_ip_port: filter(ChangeRequest::IP_AND_PORT),
            filter_port: filter(ChangeRequest::PORT),
            test2: None,
            test3: None,
            hairpin: None,
            hairpin_seen: false,
            mapped: None,
            other_address: None,
            filtering: None,
            unsolicited_arrived: None,
            round_trips: 1,
            requests: 0,
            ended: None,
        }
    }

    /// The server asked.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    fn transactions(&mut self) -> impl Iterator<Item = &mut Transaction> {
        std::iter::once(&mut self.test1)
            .chain(self.filter_ip_port.as_mut())
            .chain(self.filter_port.as_mut())
            .chain(self.test2.as_mut())
            .chain(self.test3.as_mut())
    }

    /// The next datagram due at `now`, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.phase == Phase::Done {
            return None;
        }
        let sent = self.transactions().find_map(|t| t.poll_transmit(now));
        if sent.is_some() {
            self.requests += 1;
            return sent;
        }
        let hairpin = self.hairpin.as_mut()?;
        if self.hairpin_seen {
            return None;
        }
        hairpin.poll_transmit(now)
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next needed; `None` once done.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if self.phase == Phase::Done {
            return None;
        }
        let hairpin_seen = self.hairpin_seen;
        let mut next = self.deadline;
        for t in self.transactions() {
            if let Some(at) = t.poll_timeout() {
                next = next.min(at);
            }
        }
        if let (Some(h), false) = (&self.hairpin, hairpin_seen) {
            if let Some(at) = h.poll_timeout() {
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
        for t in self.transactions() {
            t.handle_timeout(now);
        }
        if let Some(h) = self.hairpin.as_mut() {
            h.handle_timeout(now);
        }
        self.advance(now);
    }

    /// Offers a datagram the socket received from `source`. Datagrams that are not for
    /// this discovery are ignored; the error says why one was not a STUN answer (for
    /// logging; the discovery goes on).
    pub fn handle_datagram(
        &mut self,
        source: SocketAddr,
        bytes: &[u8],
        now: Instant,
    ) -> Result<(), DecodeError> {
        if let (Some(hairpin), Some(id)) = (&self.hairpin, incoming_request_id(bytes)) {
            if hairpin.id() == id {
                self.hairpin_seen = true;
                self.advance(now);
            }
            return Ok(());
        }
        let response = BindingResponse::decode(bytes)?;
        for t in self.transactions() {
            if t.handle_response(source, &response, now) {
                break;
            }
        }
        self.advance(now);
        Ok(())
    }

    fn advance(&mut self, now: Instant) {
        if now >= self.deadline && self.phase != Phase::Done {
            if matches!(self.phase, Phase::RoundOne | Phase::Settling { .. }) {
                self.decide_filtering();
            }
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
                    self.other_address = success
                        .other_address
                        .filter(|o| o.ip() != self.server.ip() && o.port() != self.server.port());
                    if !self.config.behaviour {
                        self.finish(now);
                        return;
                    }
                    self.hairpin = Some(Transaction::new(
                        BindingRequest::new(TransactionId::random()),
                        success.mapped,
                        self.config.schedule.with_budget(self.config.hairpin_wait),
                        now,
                    ));
                    let wait = self.config.filtering_wait.max(rtt.saturating_mul(3));
                    self.phase = Phase::Settling { until: now + wait };
                    self.advance(now);
                }
                Some(_) => self.finish(now),
            },
            Phase::Settling { until } => {
                let filtering_done = [&self.filter_ip_port, &self.filter_port]
                    .iter()
                    .all(|t| t.as_ref().is_none_or(|t| t.is_done()));
                let hairpin_done =
                    self.hairpin_seen || self.hairpin.as_ref().is_none_or(|h| h.is_done());
                if now < until && !(filtering_done && hairpin_done) {
                    return;
                }
                self.decide_filtering();
                let Some(other) = self.other_address else {
                    self.finish_after_hairpin(now);
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
                    .iter()
                    .all(|t| t.as_ref().is_none_or(|t| t.is_done()));
                if done {
                    self.finish_after_hairpin(now);
                }
            }
            Phase::Closing => self.finish_after_hairpin(now),
            Phase::Done => {}
        }
    }

    /// Ends the discovery, or waits for the hairpinning probe to end.
    fn finish_after_hairpin(&mut self, now: Instant) {
        let hairpin_done = self.hairpin_seen || self.hairpin.as_ref().is_none_or(|h| h.is_done());
        if hairpin_done {
            self.finish(now);
        } else {
            self.phase = Phase::Closing;
        }
    }

    fn finish(&mut self, now: Instant) {
        self.phase = Phase::Done;
        self.ended = Some(now);
    }

    /// Takes the filtering verdict from the answers that arrived so far, and stops the
    /// filtering tests: later answers could pass through permissions that round two opens.
    fn decide_filtering(&mut self) {
        let (Some(other), Some(f2), Some(f3)) = (
            self.other_address,
            self.filter_ip_port.take(),
            self.filter_port.take(),
        ) else {
            return;
        };
        let arrived = |t: &Transaction, from_other_ip: bool| -> Option<bool> {
            match t.outcome() {
                Some(Outcome::Answered {
                    response: BindingResponse::Success(_),
                    source,
                    ..
                }) => {
                    let expected_ip: IpAddr = if from_other_ip {
                        other.ip()
                    } else {
                        self.server.ip()
                    };
                    // A server that answered from the address asked did not honour the
                    // change: the test tells nothing.
                    (source.ip() == expected_ip && source.port() != self.server.port())
                        .then_some(true)
                }
                Some(Outcome::Answered { .. }) => None,
                _ => Some(false),
            }
        };
        let (Some(ip_port), Some(port)) = (arrived(&f2, true), arrived(&f3, false)) else {
            return;
        };
        self.unsolicited_arrived = Some(ip_port);
        self.filtering = Some(FilteringBehaviour::decide(ip_port, port));
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
                    attempts: self.requests,
                },
            });
        };
        let mapping = Self::mapped_of(&self.test2)
            .map(|test2| MappingBehaviour::decide(mapped, test2, Self::mapped_of(&self.test3)));
        let hairpinning = self.hairpin.as_ref().map(|_| self.hairpin_seen);
        let end = self.ended.unwrap_or(self.started);
        Ok(DiscoveryReport {
            server: self.server,
            mapped,
            other_address: self.other_address,
            mapping,
            filtering: self.filtering,
            unsolicited_arrived: self.unsolicited_arrived,
            hairpinning,
            round_trips: self.round_trips,
            requests: self.requests,
            elapsed: end.saturating_duration_since(self.started),
        })
    }
}

#[cfg(test)]
mod tests;
