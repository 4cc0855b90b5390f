//! Version negotiation between PCP and NAT-PMP (RFC 6886 §1.1, RFC 6887 §9).
//!
//! A client tries PCP first, for every new request, retransmission and renewal. A
//! NAT-PMP-only gateway answers a PCP request with a NAT-PMP reply carrying result code 1
//! (Unsupported Version); the client then repeats the same request in NAT-PMP at once. The
//! reverse also happens: a PCP-only server answers a NAT-PMP request with a PCP UNSUPP_VERSION
//! response, version 2, and the client switches to PCP. The client must not remember that a
//! gateway speaks only NAT-PMP: firmware gets updated. So a [`VersionNegotiator`] lives for
//! one request, and each version is tried at most once, which rules out ping-pong.

use crate::Version;
use crate::any::AnyResponse;
use crate::transaction::{Answer, TransactionError};

/// What to do after a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The reply is in the version asked: it is the answer (success or error).
    Accept,
    /// Send the same request again, now in this version.
    Retry(Version),
    /// No version works with this gateway (or it did not answer at all).
    GiveUp,
}

/// Picks the protocol version for one request.
///
/// ```
/// use natpmp_proto::{decode_any, Decision, Version, VersionNegotiator};
///
/// let mut negotiator = VersionNegotiator::new();
/// assert_eq!(negotiator.version(), Version::Pcp);
/// // miniupnpd without PCP answers a PCP MAP request with an 8-byte NAT-PMP reply:
/// // version 0, opcode 128 + 1, result 1 (Unsupported Version), epoch 42.
/// let reply = decode_any(&[0, 129, 0, 1, 0, 0, 0, 42]).unwrap();
/// assert_eq!(negotiator.on_response(&reply), Decision::Retry(Version::NatPmp));
/// assert_eq!(negotiator.version(), Version::NatPmp);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionNegotiator {
    current: Version,
    tried_natpmp: bool,
    tried_pcp: bool,
}

impl Default for VersionNegotiator {
    fn default() -> Self {
        Self::new()
    }
}

impl VersionNegotiator {
    /// A negotiator that starts with PCP, as RFC 6886 §1.1 recommends.
    pub const fn new() -> Self {
        Self::starting_with(Version::Pcp)
    }

    /// A negotiator that starts with `version`.
    pub const fn starting_with(version: Version) -> Self {
        Self {
            current: version,
            tried_natpmp: matches!(version, Version::NatPmp),
            tried_pcp: matches!(version, Version::Pcp),
        }
    }

    /// The version to send the request in.
    pub const fn version(&self) -> Version {
        self.current
    }

    /// Judges a reply to a request sent in [`VersionNegotiator::version`].
    pub fn on_response(&mut self, response: &AnyResponse) -> Decision {
        let answered = response.version();
        let unsupported = response.result().is_unsupported_version();
        if answered == self.current {
            // "Unsupported version" in our own version is a contradiction we cannot resolve.
            return if unsupported {
                Decision::GiveUp
            } else {
                Decision::Accept
            };
        }
        if !unsupported {
            return Decision::GiveUp;
        }
        let tried = match answered {
            Version::NatPmp => &mut self.tried_natpmp,
            Version::Pcp => &mut self.tried_pcp,
        };
        if *tried {
            return Decision::GiveUp;
        }
        *tried = true;
        self.current = answered;
        Decision::Retry(answered)
    }

    /// Judges a [`crate::Transaction`]'s outcome: its answer if there is one, otherwise
    /// [`Decision::GiveUp`].
    pub fn on_outcome(&mut self, outcome: &Result<Answer, TransactionError>) -> Decision {
        let answer = match outcome {
            Ok(answer) => Some(answer),
            Err(error) => error.answer(),
        };
        match answer {
            Some(answer) => self.on_response(&answer.response),
            None => Decision::GiveUp,
        }
    }
}
