//! Epoch tracking: noticing that the gateway lost its mapping state (RFC 6886 §3.6,
//! RFC 6887 §8.5).
//!
//! Every response carries the server's epoch, the seconds since its mapping table began. A
//! server that reboots starts counting again from zero. The client compares how far the
//! epoch moved with how much time passed on its own clock; when the two disagree by more
//! than the RFC's tolerance, the gateway has lost its mappings and the client must recreate
//! them. The tracker only compares numbers: the caller passes `now` and the epoch.

use std::time::{Duration, Instant};

use crate::Version;

/// Which RFC's tolerance formula to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpochRule {
    /// RFC 6886 §3.6: the epoch must have grown by at least 7/8 of the client's elapsed
    /// time, minus 2 seconds.
    NatPmp,
    /// RFC 6887 §8.5: the epoch must not go back by more than 1 second, and the server's and
    /// the client's deltas must agree within 1/16 plus 2 seconds, either way.
    Pcp,
}

/// What one epoch observation says about the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpochCheck {
    /// The first epoch seen from this gateway; nothing to compare yet.
    First,
    /// The epoch moved as expected.
    Consistent,
    /// The gateway lost its state (rebooted, or reset its mappings): recreate the mappings.
    Reset {
        /// The epoch seen before.
        previous: u32,
        /// The epoch seen now.
        current: u32,
    },
}

impl EpochCheck {
    /// Whether the gateway lost its state.
    pub const fn is_reset(self) -> bool {
        matches!(self, Self::Reset { .. })
    }
}

/// Tracks one gateway's epoch across responses.
///
/// ```
/// use std::time::{Duration, Instant};
/// use natpmp_proto::{EpochCheck, EpochTracker};
///
/// let mut tracker = EpochTracker::natpmp();
/// let t0 = Instant::now();
/// assert_eq!(tracker.check(t0, 1000), EpochCheck::First);
/// assert_eq!(tracker.check(t0 + Duration::from_secs(60), 1060), EpochCheck::Consistent);
/// // The gateway rebooted: its epoch starts again near zero.
/// assert_eq!(
///     tracker.check(t0 + Duration::from_secs(120), 5),
///     EpochCheck::Reset { previous: 1060, current: 5 },
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochTracker {
    rule: EpochRule,
    last: Option<(Instant, u32)>,
}

impl EpochTracker {
    /// A tracker applying `rule`.
    pub const fn new(rule: EpochRule) -> Self {
        Self { rule, last: None }
    }

    /// A tracker with RFC 6886's rule.
    pub const fn natpmp() -> Self {
        Self::new(EpochRule::NatPmp)
    }

    /// A tracker with RFC 6887's rule.
    pub const fn pcp() -> Self {
        Self::new(EpochRule::Pcp)
    }

    /// A tracker with the rule of `version`.
    pub const fn for_version(version: Version) -> Self {
        match version {
            Version::NatPmp => Self::natpmp(),
            Version::Pcp => Self::pcp(),
        }
    }

    /// The rule applied.
    pub const fn rule(&self) -> EpochRule {
        self.rule
    }

    /// The last observation: when it was received and the epoch it carried.
    pub const fn last(&self) -> Option<(Instant, u32)> {
        self.last
    }

    /// Forgets the history, e.g. after a change of gateway.
    pub fn forget(&mut self) {
        self.last = None;
    }

    /// Records that a packet received at `now` carried `epoch`, and says whether the gateway
    /// kept its state since the previous one. Either way `epoch` becomes the new reference.
    ///
    /// An observation older than the previous one (a `now` before it) counts as no elapsed
    /// time.
    pub fn check(&mut self, now: Instant, epoch: u32) -> EpochCheck {
        let verdict = match self.last {
            None => EpochCheck::First,
            Some((then, previous)) => {
                let elapsed = now.saturating_duration_since(then);
                let lost = match self.rule {
                    EpochRule::NatPmp => natpmp_lost_state(previous, epoch, elapsed),
                    EpochRule::Pcp => pcp_lost_state(previous, epoch, elapsed),
                };
                if lost {
                    EpochCheck::Reset {
                        previous,
                        current: epoch,
                    }
                } else {
                    EpochCheck::Consistent
                }
            }
        };
        self.last = Some((now, epoch));
        verdict
    }
}

/// RFC 6886 §3.6, in milliseconds: lost if `current < previous + 7/8 * elapsed - 2 s`.
fn natpmp_lost_state(previous: u32, current: u32, elapsed: Duration) -> bool {
    let expected_ms = i128::from(previous) * 1000 + elapsed.as_millis() as i128 * 7 / 8;
    i128::from(current) * 1000 + 2000 < expected_ms
}

/// RFC 6887 §8.5, in milliseconds.
fn pcp_lost_state(previous: u32, current: u32, elapsed: Duration) -> bool {
    // "Curr_Server_Time less than Prev_Server_Time by more than one second".
    if u64::from(current) + 1 < u64::from(previous) {
        return true;
    }
    let client_delta = elapsed.as_millis() as i128;
    let server_delta = (i128::from(current) - i128::from(previous)) * 1000;
    client_delta + 2000 < server_delta - server_delta / 16
        || server_delta + 2000 < client_delta - client_delta / 16
}
