//! [`Transaction`]: one Binding request over UDP, retransmitted on RFC 8489's schedule
//! ([`Schedule`]: RTO doubling, Rc transmissions, Rm × RTO for the last) and never waiting
//! past the caller's budget. Sans-IO: time comes in as `now`, bytes go out as
//! [`Transmit`]s.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::message::{BindingRequest, BindingResponse, TransactionId};

/// When a request is sent again and when the client gives up (RFC 8489 §6.2.1), bounded
/// by a budget of the caller's.
///
/// ```
/// use std::time::Duration;
/// use stun::Schedule;
///
/// // RFC 8489's defaults would wait 39.5 s; a caller with 1 s to spare says so.
/// let schedule = Schedule::rfc8489().with_budget(Duration::from_secs(1));
/// assert_eq!(schedule.give_up_after(), Duration::from_secs(1));
/// assert_eq!(Schedule::rfc8489().give_up_after(), Duration::from_millis(39_500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The first retransmission timeout; it doubles after each transmission.
    pub rto: Duration,
    /// Rc: how many times the request is sent at most.
    pub rc: u32,
    /// Rm: after the last transmission, how many RTOs (of the first) to wait.
    pub rm: u32,
    /// The most the transaction may take, whatever the three above say.
    pub budget: Duration,
}

impl Schedule {
    /// RFC 8489's defaults: RTO 500 ms, Rc 7, Rm 16 (39.5 s until the client gives up).
    pub fn rfc8489() -> Schedule {
        Schedule {
            rto: Duration::from_millis(500),
            rc: 7,
            rm: 16,
            budget: Duration::from_millis(39_500),
        }
    }

    /// A schedule fit for one interactive check: RTO 100 ms (a path with a known RTT may
    /// use a smaller one, RFC 8489 §6.2.1), Rc 7, Rm 16, within `budget`.
    pub fn interactive(budget: Duration) -> Schedule {
        Schedule {
            rto: Duration::from_millis(100),
            ..Schedule::rfc8489()
        }
        .with_budget(budget)
    }

    /// This schedule with another budget.
    pub fn with_budget(mut self, budget: Duration) -> Schedule {
        self.budget = budget;
        self
    }

    /// This schedule with another first RTO.
    pub fn with_rto(mut self, rto: Duration) -> Schedule {
        self.rto = rto;
        self
    }

    /// How long after the first transmission the transaction gives up: the RFC's
    /// schedule or the budget, whichever ends first.
    pub fn give_up_after(&self) -> Duration {
        let rc = self.rc.max(1);
        // Transmissions at 0, RTO, 3 RTO, 7 RTO, ...: the last at (2^(rc-1) - 1) RTO.
        let last = self
            .rto
            .saturating_mul(2u32.saturating_pow(rc - 1).saturating_sub(1));
        let schedule = last.saturating_add(self.rto.saturating_mul(self.rm));
        schedule.min(self.budget)
    }
}

/// Which of a discovery's sockets a datagram leaves from or arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Socket {
    /// The socket under test (the caller's).
    Main,
    /// A second, fresh socket of the same family for the filtering tests: the answers
    /// a NAT drops leave connection-tracking state behind (on Linux routers) that would
    /// change the main socket's later mappings.
    Filtering,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// From which socket ([`Socket::Main`] for a lone [`Transaction`]).
    pub socket: Socket,
    /// Where to.
    pub destination: SocketAddr,
    /// The bytes.
    pub payload: Vec<u8>,
    /// 1 for the first transmission, 2 for the first retransmission, ...
    pub attempt: u32,
}

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A response arrived.
    Answered {
        /// The response.
        response: BindingResponse,
        /// Where it came from (with CHANGE-REQUEST, not the address asked).
        source: SocketAddr,
        /// From the first transmission to the response.
        elapsed: Duration,
        /// How many times the request had been sent.
        attempts: u32,
    },
    /// No response within the schedule or the budget.
    TimedOut {
        /// How many times the request was sent.
        attempts: u32,
    },
}

/// One Binding request over UDP: retransmissions and the end, sans-IO.
///
/// ```
/// use std::time::{Duration, Instant};
/// use stun::{BindingRequest, Outcome, Schedule, Transaction, TransactionId};
///
/// let server = "44.0.0.2:3478".parse()?;
/// let t0 = Instant::now();
/// let request = BindingRequest::new(TransactionId([9; 12]));
/// let mut tx = Transaction::new(request, server, Schedule::interactive(Duration::from_millis(250)), t0);
/// assert_eq!(tx.poll_transmit(t0).map(|t| t.attempt), Some(1));
/// assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_millis(100)));
/// tx.handle_timeout(t0 + Duration::from_millis(100));
/// assert_eq!(tx.poll_transmit(t0 + Duration::from_millis(100)).map(|t| t.attempt), Some(2));
/// // The next would be due at 300 ms, past the 250 ms budget: the end comes first.
/// assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_millis(250)));
/// tx.handle_timeout(t0 + Duration::from_millis(250));
/// assert_eq!(tx.outcome(), Some(&Outcome::TimedOut { attempts: 2 }));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Transaction {
    request: BindingRequest,
    destination: SocketAddr,
    schedule: Schedule,
    started: Instant,
    deadline: Instant,
    next_transmit: Option<Instant>,
    interval: Duration,
    attempts: u32,
    outcome: Option<Outcome>,
}

impl Transaction {
    /// A transaction whose first transmission is due at `now`.
    pub fn new(
        request: BindingRequest,
        destination: SocketAddr,
        schedule: Schedule,
        now: Instant,
    ) -> Transaction {
        Transaction {
            request,
            destination,
            schedule,
            started: now,
            deadline: now + schedule.give_up_after(),
            next_transmit: Some(now),
            interval: schedule.rto,
            attempts: 0,
            outcome: None,
        }
    }

    /// The request's transaction ID.
    pub fn id(&self) -> TransactionId {
        self.request.transaction_id
    }

    /// The request.
    pub fn request(&self) -> &BindingRequest {
        &self.request
    }

    /// Where the request goes.
    pub fn destination(&self) -> SocketAddr {
        self.destination
    }

    /// The datagram due at `now`, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.outcome.is_some() || self.next_transmit.is_none_or(|due| due > now) {
            return None;
        }
        self.attempts += 1;
        self.next_transmit = if self.attempts < self.schedule.rc.max(1) {
            let due = now + self.interval;
            self.interval = self.interval.saturating_mul(2);
            (due < self.deadline).then_some(due)
        } else {
            None
        };
        Some(Transmit {
            socket: Socket::Main,
            destination: self.destination,
            payload: self.request.encode(),
            attempt: self.attempts,
        })
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next needed: the next transmission
    /// or the end. `None` once ended.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.outcome.is_some() {
            return None;
        }
        Some(
            self.next_transmit
                .unwrap_or(self.deadline)
                .min(self.deadline),
        )
    }

    /// Moves time on: at the end, the transaction times out.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.outcome.is_none() && now >= self.deadline {
            self.outcome = Some(Outcome::TimedOut {
                attempts: self.attempts,
            });
        }
    }

    /// Offers a decoded response; `true` when it answers this transaction (which then
    /// ends). A response to an ended transaction is not taken.
    pub fn handle_response(
        &mut self,
        source: SocketAddr,
        response: &BindingResponse,
        now: Instant,
    ) -> bool {
        if self.outcome.is_some() || response.transaction_id() != self.id() {
            return false;
        }
        self.outcome = Some(Outcome::Answered {
            response: response.clone(),
            source,
            elapsed: now.saturating_duration_since(self.started),
            attempts: self.attempts,
        });
        true
    }

    /// Moves the end earlier (never later): the transaction times out by `at`.
    pub fn end_by(&mut self, at: Instant) {
        self.deadline = self.deadline.min(at);
        if self.next_transmit.is_some_and(|due| due >= self.deadline) {
            self.next_transmit = None;
        }
    }

    /// How it ended; `None` while it runs.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Whether it ended.
    pub fn is_done(&self) -> bool {
        self.outcome.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_schedule_sends_seven_times_then_waits_rm_rto() {
        let t0 = Instant::now();
        let server: SocketAddr = "44.0.0.2:3478".parse().expect("address");
        let request = BindingRequest::new(TransactionId([1; 12]));
        let mut tx = Transaction::new(request, server, Schedule::rfc8489(), t0);
        let mut sent = Vec::new();
        let mut now = t0;
        while !tx.is_done() {
            if let Some(t) = tx.poll_transmit(now) {
                sent.push((now - t0, t.attempt));
            }
            let Some(next) = tx.poll_timeout() else { break };
            now = next;
            tx.handle_timeout(now);
        }
        let ms: Vec<u64> = sent.iter().map(|(d, _)| d.as_millis() as u64).collect();
        assert_eq!(ms, [0, 500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(now - t0, Duration::from_millis(39_500));
        assert_eq!(tx.outcome(), Some(&Outcome::TimedOut { attempts: 7 }));
    }

    #[test]
    fn answer_ends_it_and_others_are_ignored() {
        let t0 = Instant::now();
        let server: SocketAddr = "44.0.0.2:3478".parse().expect("address");
        let request = BindingRequest::new(TransactionId([1; 12]));
        let mut tx = Transaction::new(request, server, Schedule::rfc8489(), t0);
        assert!(tx.poll_transmit(t0).is_some());
        assert!(tx.poll_transmit(t0).is_none(), "nothing due twice");
        let other = BindingResponse::Error {
            transaction_id: TransactionId([2; 12]),
            code: 400,
        };
        assert!(!tx.handle_response(server, &other, t0));
        let ours = BindingResponse::Error {
            transaction_id: TransactionId([1; 12]),
            code: 420,
        };
        let later = t0 + Duration::from_millis(30);
        assert!(tx.handle_response(server, &ours, later));
        assert!(!tx.handle_response(server, &ours, later), "answered once");
        assert_eq!(tx.poll_timeout(), None);
        let Some(Outcome::Answered {
            elapsed, attempts, ..
        }) = tx.outcome()
        else {
            panic!("not answered")
        };
        assert_eq!((*elapsed, *attempts), (Duration::from_millis(30), 1));
    }
}
