//! Retransmission schedules: how long to wait after each attempt and when to give up.
//!
//! NAT-PMP (RFC 6886 §3.1) waits 250 ms after the first attempt and doubles the wait after
//! each retry, nine attempts in all, so the last wait is 64 s. PCP (RFC 6887 §8.1.1) borrows
//! DHCPv6's scheme: the first wait is `(1 + RAND) * IRT`, each next one
//! `(1 + RAND) * min(2 * previous, MRT)`, with IRT = 3 s, MRT = 1024 s, RAND uniform in
//! [-0.1, +0.1], and neither a retransmission count (MRC) nor a duration (MRD) limit.
//!
//! The core has no random number generator: RAND comes from a small deterministic generator
//! (SplitMix64) seeded by the caller with [`Schedule::with_jitter`]. A driver seeds it from
//! its own randomness; a test seeds it with a constant and gets the same waits every run.

use std::time::Duration;

/// A retransmission schedule.
///
/// ```
/// use std::time::Duration;
/// use natpmp_proto::Schedule;
///
/// let waits: Vec<Duration> = Schedule::natpmp_rfc().timeouts().collect();
/// assert_eq!(waits.len(), 9);
/// assert_eq!(waits[0], Duration::from_millis(250));
/// assert_eq!(waits[8], Duration::from_secs(64));
///
/// // PCP's first wait is 3 s plus or minus 10 %.
/// let first = Schedule::pcp_rfc().with_jitter(0.1, 42).timeouts().next().unwrap();
/// assert!(first >= Duration::from_millis(2700) && first <= Duration::from_millis(3300));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    initial: Duration,
    max_interval: Option<Duration>,
    max_attempts: Option<u32>,
    max_duration: Option<Duration>,
    jitter: f64,
    seed: u64,
}

impl Schedule {
    /// NAT-PMP's first wait (RFC 6886 §3.1).
    pub const NATPMP_INITIAL: Duration = Duration::from_millis(250);
    /// NAT-PMP's number of attempts (RFC 6886 §3.1).
    pub const NATPMP_ATTEMPTS: u32 = 9;
    /// PCP's initial retransmission time, IRT (RFC 6887 §8.1.1).
    pub const PCP_IRT: Duration = Duration::from_secs(3);
    /// PCP's maximum retransmission time, MRT (RFC 6887 §8.1.1).
    pub const PCP_MRT: Duration = Duration::from_secs(1024);
    /// PCP's RAND range, ±0.1 (RFC 6887 §8.1.1).
    pub const PCP_RAND: f64 = 0.1;

    /// RFC 6886 §3.1: 250 ms, doubling, 9 attempts, no jitter; gives up 127.75 s after the
    /// first attempt.
    pub const fn natpmp_rfc() -> Self {
        Self {
            initial: Self::NATPMP_INITIAL,
            max_interval: None,
            max_attempts: Some(Self::NATPMP_ATTEMPTS),
            max_duration: None,
            jitter: 0.0,
            seed: 0,
        }
    }

    /// RFC 6887 §8.1.1: IRT 3 s, MRT 1024 s, RAND ±0.1, MRC and MRD unlimited, so the
    /// transaction never times out by itself: add a limit with [`Schedule::with_max_attempts`]
    /// or [`Schedule::with_max_duration`] when a caller waits for the answer. The jitter seed
    /// is 0; a driver should replace it with [`Schedule::with_jitter`].
    pub const fn pcp_rfc() -> Self {
        Self {
            initial: Self::PCP_IRT,
            max_interval: Some(Self::PCP_MRT),
            max_attempts: None,
            max_duration: None,
            jitter: Self::PCP_RAND,
            seed: 0,
        }
    }

    /// The schedule of `version`'s RFC.
    pub const fn for_version(version: crate::Version) -> Self {
        match version {
            crate::Version::NatPmp => Self::natpmp_rfc(),
            crate::Version::Pcp => Self::pcp_rfc(),
        }
    }

    /// A custom schedule: first wait `initial`, doubling without a cap, no jitter, no limit.
    pub const fn custom(initial: Duration) -> Self {
        Self {
            initial,
            max_interval: None,
            max_attempts: None,
            max_duration: None,
            jitter: 0.0,
            seed: 0,
        }
    }

    /// Caps each wait before jitter (PCP's MRT); [`Duration::ZERO`] removes the cap.
    #[must_use]
    pub const fn with_max_interval(mut self, max_interval: Duration) -> Self {
        self.max_interval = if max_interval.is_zero() {
            None
        } else {
            Some(max_interval)
        };
        self
    }

    /// Gives up after this many attempts, the first included (PCP's MRC); 0 removes the
    /// limit.
    #[must_use]
    pub const fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = if max_attempts == 0 {
            None
        } else {
            Some(max_attempts)
        };
        self
    }

    /// Gives up this long after the first attempt (PCP's MRD); [`Duration::ZERO`] removes
    /// the limit.
    #[must_use]
    pub const fn with_max_duration(mut self, max_duration: Duration) -> Self {
        self.max_duration = if max_duration.is_zero() {
            None
        } else {
            Some(max_duration)
        };
        self
    }

    /// Multiplies each wait by `1 + RAND`, RAND uniform in `[-fraction, +fraction]` and drawn
    /// from a deterministic generator seeded with `seed`. `fraction` is clamped to
    /// `[0, 0.5]`; 0 turns jitter off.
    #[must_use]
    pub fn with_jitter(mut self, fraction: f64, seed: u64) -> Self {
        self.jitter = if fraction.is_finite() {
            fraction.clamp(0.0, 0.5)
        } else {
            0.0
        };
        self.seed = seed;
        self
    }

    /// The first wait.
    pub const fn initial(&self) -> Duration {
        self.initial
    }

    /// The cap on each wait before jitter, if any.
    pub const fn max_interval(&self) -> Option<Duration> {
        self.max_interval
    }

    /// The limit on attempts, if any.
    pub const fn max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    /// The limit on the time since the first attempt, if any.
    pub const fn max_duration(&self) -> Option<Duration> {
        self.max_duration
    }

    /// The jitter fraction (0 when off).
    pub const fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The waits after each attempt, in order; finite when the attempts are limited.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            schedule: self.clone(),
            previous: None,
            emitted: 0,
            rng: SplitMix64(self.seed),
        }
    }
}

/// The waits of a [`Schedule`], one per attempt.
#[derive(Debug, Clone)]
pub struct Timeouts {
    schedule: Schedule,
    previous: Option<Duration>,
    emitted: u32,
    rng: SplitMix64,
}

impl Iterator for Timeouts {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if let Some(max) = self.schedule.max_attempts {
            if self.emitted >= max {
                return None;
            }
        }
        let base = match self.previous {
            None => self.schedule.initial,
            Some(previous) => previous.saturating_mul(2),
        };
        let base = match self.schedule.max_interval {
            Some(max) => base.min(max),
            None => base,
        };
        let wait = if self.schedule.jitter > 0.0 {
            let rand = (self.rng.next_unit() * 2.0 - 1.0) * self.schedule.jitter;
            Duration::try_from_secs_f64(base.as_secs_f64() * (1.0 + rand)).unwrap_or(Duration::MAX)
        } else {
            base
        };
        self.previous = Some(wait);
        self.emitted = self.emitted.saturating_add(1);
        Some(wait)
    }
}

/// SplitMix64: tiny, seedable, and good enough to spread retransmissions.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
