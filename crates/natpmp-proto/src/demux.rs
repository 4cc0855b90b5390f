//! [`Demultiplexer`]: the datagrams of one exchange with a gateway, sorted without sockets or
//! clocks.
//!
//! A driver may have several requests in flight on one socket (NAT-PMP answers a mapping
//! and an external address request with different opcodes, so both can go out at once).
//! Every datagram that arrives is offered to the waiting [`Transaction`]s in order; the
//! first that accepts it owns it. A datagram nobody accepts is either an unsolicited PCP
//! ANNOUNCE from the gateway (RFC 6887 §14.1.3: a restarted server tells its clients at
//! their own port), reported as [`Delivery::Announce`] so that the driver checks its
//! epoch, or it is dropped with the reason the transactions gave.
//!
//! A dropped datagram that came from the gateway and is neither late nor someone else's
//! answer counts as *unusable*: when the exchange times out, "the gateway answered, but
//! only with datagrams we could not use (nonce mismatch)" says more than "did not answer".
//!
//! The exchange ends with every answer, or with the first failure of any transaction, or
//! when the optional overall deadline passes, whichever comes first. Time comes in as
//! `now` arguments like everywhere in the core.

use std::net::SocketAddr;
use std::time::Instant;

use crate::transaction::{
    Answer, DatagramVerdict, IgnoreReason, IgnoredCounts, Transaction, TransactionError, Transmit,
};
use crate::{AnyResponse, decode_any, pcp};

/// What [`Demultiplexer::handle_datagram`] did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Delivery {
    /// The transaction at this index (in the order given to [`Demultiplexer::new`])
    /// accepted it as its answer; its outcome may still be an error (a refusal, an
    /// "unsupported version").
    Answered {
        /// The transaction's index.
        index: usize,
    },
    /// An unsolicited, successful PCP ANNOUNCE from the gateway: feed `epoch` to the PCP
    /// [`EpochTracker`](crate::EpochTracker) to learn whether the gateway restarted.
    Announce {
        /// The gateway's epoch in the announcement.
        epoch: u32,
    },
    /// Nobody accepted it.
    Dropped(IgnoreReason),
}

/// How many unusable datagrams the gateway sent, and why the last one was dropped.
pub type Unusable = (u32, IgnoreReason);

/// The transactions of one exchange on one socket, and the routing of incoming datagrams
/// to them.
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
/// use std::time::Instant;
/// use natpmp_proto::{natpmp, Delivery, Demultiplexer, Protocol, Schedule, Transaction};
///
/// let gateway = SocketAddr::from((Ipv4Addr::new(192, 168, 1, 1), natpmp_proto::SERVER_PORT));
/// let now = Instant::now();
/// let map = natpmp::Request::map(Protocol::Udp, 4000, 4000, 3600);
/// let address = natpmp::Request::external_address();
/// let transactions = [map, address]
///     .map(|request| Transaction::new(request, gateway, Schedule::natpmp_rfc(), now).unwrap());
/// let mut exchange = Demultiplexer::new(transactions.into(), now, None);
/// let mut sent = Vec::new();
/// while let Some((index, transmit)) = exchange.poll_transmit(now) {
///     sent.push((index, transmit.contents.len()));
/// }
/// assert_eq!(sent, [(0, 12), (1, 2)]);
///
/// // The address answer comes first; it belongs to the second transaction.
/// let reply = [0, 128, 0, 0, 0, 0, 0, 9, 203, 0, 113, 7];
/// assert_eq!(exchange.handle_datagram(now, gateway, &reply), Delivery::Answered { index: 1 });
/// assert!(exchange.poll_outcome().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct Demultiplexer {
    transactions: Vec<Transaction>,
    answers: Vec<Option<Answer>>,
    started: Instant,
    deadline: Option<Instant>,
    finished: bool,
    outcome: Option<Result<Vec<Answer>, TransactionError>>,
    unusable: Option<Unusable>,
    dropped: IgnoredCounts,
}

impl Demultiplexer {
    /// An exchange of `transactions`, started at `now`, that gives up at `deadline` at the
    /// latest (`None`: when the transactions' own schedules run out).
    ///
    /// With no transaction the exchange is over at once, with no answer.
    pub fn new(transactions: Vec<Transaction>, now: Instant, deadline: Option<Instant>) -> Self {
        let answers = transactions.iter().map(|_| None).collect();
        let mut demux = Self {
            transactions,
            answers,
            started: now,
            deadline,
            finished: false,
            outcome: None,
            unusable: None,
            dropped: IgnoredCounts::default(),
        };
        demux.collect();
        demux
    }

    /// The next datagram to send now and the index of the transaction it belongs to;
    /// call until `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(usize, Transmit)> {
        if self.finished {
            return None;
        }
        let found = self
            .pending_indices()
            .into_iter()
            .find_map(|index| Some((index, self.transactions[index].poll_transmit(now)?)));
        // A schedule without any attempt ends its transaction inside `poll_transmit`.
        self.collect();
        if self.finished { None } else { found }
    }

    /// When [`Demultiplexer::handle_timeout`] should next be called: the earliest
    /// retransmission or the deadline. `None` once the exchange is over.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let next = self.pending().filter_map(Transaction::poll_timeout).min();
        match (next, self.deadline) {
            (Some(next), Some(deadline)) => Some(next.min(deadline)),
            (next, deadline) => next.or(deadline),
        }
    }

    /// Advances the clock: past the deadline the exchange times out; otherwise each
    /// transaction schedules its next attempt or gives up.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        if self.deadline.is_some_and(|deadline| now >= deadline) {
            let attempts = self.pending().map(Transaction::attempts).max().unwrap_or(0);
            let gateway = self.pending().next().map(Transaction::gateway);
            if let Some(gateway) = gateway {
                self.finish(Err(TransactionError::TimedOut {
                    gateway,
                    waited: now.saturating_duration_since(self.started),
                    attempts,
                }));
                return;
            }
        }
        for index in self.pending_indices() {
            self.transactions[index].handle_timeout(now);
        }
        self.collect();
    }

    /// Tells every waiting transaction that the gateway's port is unreachable (the socket
    /// reported an ICMP port unreachable): the exchange fails with
    /// [`TransactionError::PortUnreachable`].
    pub fn handle_port_unreachable(&mut self, now: Instant) {
        for index in self.pending_indices() {
            self.transactions[index].handle_port_unreachable(now);
        }
        self.collect();
    }

    /// Routes a datagram received from `source` at `now`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        datagram: &[u8],
    ) -> Delivery {
        let mut dropped = None;
        let mut answered = None;
        if !self.finished {
            for index in self.pending_indices() {
                match self.transactions[index].handle_datagram(now, source, datagram) {
                    DatagramVerdict::Accepted => {
                        answered = Some(index);
                        break;
                    }
                    // Another transaction's answer is not a reason to drop the datagram
                    // when an earlier one already gave a better one.
                    DatagramVerdict::Ignored(IgnoreReason::OpcodeMismatch) if dropped.is_some() => {
                    }
                    DatagramVerdict::Ignored(reason) => dropped = Some(reason),
                }
            }
        }
        if let Some(index) = answered {
            self.collect();
            return Delivery::Answered { index };
        }
        let reason = dropped.unwrap_or(IgnoreReason::AfterOutcome);
        if let Some(epoch) = self.announce_epoch(source, datagram) {
            return Delivery::Announce { epoch };
        }
        self.dropped.record(reason);
        if !matches!(
            reason,
            IgnoreReason::WrongSource | IgnoreReason::AfterOutcome
        ) {
            let count = self.unusable.map_or(0, |(count, _)| count);
            self.unusable = Some((count.saturating_add(1), reason));
        }
        Delivery::Dropped(reason)
    }

    /// The outcome, once: every answer in the order of the transactions, or the first
    /// failure. `None` before the exchange ends and after the outcome was taken.
    pub fn poll_outcome(&mut self) -> Option<Result<Vec<Answer>, TransactionError>> {
        self.outcome.take()
    }

    /// Whether the exchange is over (its outcome may already have been taken).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The datagrams from the gateway that no transaction could use, if any: how many, and
    /// why the last one was dropped. Late answers and datagrams from other sources do not
    /// count.
    pub fn unusable(&self) -> Option<Unusable> {
        self.unusable
    }

    /// Every dropped datagram, by reason.
    pub fn dropped(&self) -> &IgnoredCounts {
        &self.dropped
    }

    /// The epoch of a successful PCP ANNOUNCE from the gateway itself.
    fn announce_epoch(&self, source: SocketAddr, datagram: &[u8]) -> Option<u32> {
        let from_gateway = self.transactions.iter().any(|transaction| {
            let gateway = transaction.gateway();
            gateway.ip().to_canonical() == source.ip().to_canonical()
                && gateway.port() == source.port()
        });
        if !from_gateway {
            return None;
        }
        match decode_any(datagram) {
            Ok(AnyResponse::Pcp(response))
                if matches!(response.data, pcp::ResponseData::Announce)
                    && response.result.is_success() =>
            {
                Some(response.epoch)
            }
            _ => None,
        }
    }

    fn pending(&self) -> impl Iterator<Item = &Transaction> {
        self.transactions
            .iter()
            .zip(&self.answers)
            .filter(|(_, answer)| answer.is_none())
            .map(|(transaction, _)| transaction)
    }

    /// The indices of the transactions still waiting for an answer.
    fn pending_indices(&self) -> Vec<usize> {
        (0..self.transactions.len())
            .filter(|&index| self.answers[index].is_none())
            .collect()
    }

    /// Takes the outcomes of the transactions that ended, and ends the exchange when one
    /// failed or all answered.
    fn collect(&mut self) {
        if self.finished {
            return;
        }
        for (transaction, answer) in self.transactions.iter_mut().zip(&mut self.answers) {
            if answer.is_some() {
                continue;
            }
            match transaction.poll_outcome() {
                None => {}
                Some(Ok(accepted)) => *answer = Some(accepted),
                Some(Err(error)) => {
                    self.finish(Err(error));
                    return;
                }
            }
        }
        if self.answers.iter().all(Option::is_some) {
            let answers = self.answers.iter_mut().filter_map(Option::take).collect();
            self.finish(Ok(answers));
        }
    }

    fn finish(&mut self, outcome: Result<Vec<Answer>, TransactionError>) {
        self.finished = true;
        self.outcome = Some(outcome);
    }
}

#[cfg(test)]
mod tests;
