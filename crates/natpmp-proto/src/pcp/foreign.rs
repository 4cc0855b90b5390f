//! [`ForeignVersionAnswer`]: an UNSUPP_VERSION answer in a PCP version this crate does not
//! speak (RFC 6887 §9), read from the few header fields every PCP version shares.
//!
//! A server that does not speak the request's version answers UNSUPP_VERSION and puts the
//! version it does speak in the Version field. Servers built on the PCP drafts speak
//! version 1 (version 2 is RFC 6887's); their answers cannot be decoded as version 2, but
//! the first bytes are laid out alike: version, R bit and opcode, reserved, result code,
//! lifetime, epoch. Reading those is enough to tell the caller which version the server
//! speaks instead of dropping its answer as undecodable until the timeout.

use std::time::Duration;

use super::{RESPONSE_BIT, ResultCode, VERSION};

/// An UNSUPP_VERSION answer from a server that speaks a PCP version other than 2 (and is
/// not a NAT-PMP server, version 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ForeignVersionAnswer {
    /// The version the server speaks, from the answer's version byte.
    pub version: u8,
    /// The opcode the answer echoes, without the R bit.
    pub opcode: u8,
    /// The answer's lifetime field, if the datagram holds it: how long the server will keep
    /// giving this answer (RFC 6887 §7.2).
    pub lifetime: Option<u32>,
    /// The answer's epoch field, if the datagram holds it.
    pub epoch: Option<u32>,
}

impl ForeignVersionAnswer {
    /// Reads `datagram` as an UNSUPP_VERSION answer in another PCP version: `None` unless
    /// its version byte is neither 0 (NAT-PMP) nor 2, its R bit is set and its result code
    /// (byte 3) is UNSUPP_VERSION. Never panics, whatever the length.
    pub fn decode(datagram: &[u8]) -> Option<Self> {
        let [version, r_opcode, _, result, rest @ ..] = datagram else {
            return None;
        };
        if *version == crate::natpmp::VERSION || *version == VERSION {
            return None;
        }
        if r_opcode & RESPONSE_BIT == 0
            || ResultCode::from_u8(*result) != ResultCode::UnsupportedVersion
        {
            return None;
        }
        let word = |at: usize| -> Option<u32> {
            let bytes: [u8; 4] = rest.get(at..at + 4)?.try_into().ok()?;
            Some(u32::from_be_bytes(bytes))
        };
        Some(Self {
            version: *version,
            opcode: r_opcode & !RESPONSE_BIT,
            lifetime: word(0),
            epoch: word(4),
        })
    }

    /// The lifetime as a retry hint: how long to wait before asking this server again, if
    /// it gave a non-zero one.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_hint(self.lifetime.unwrap_or(0))
    }
}

/// A non-zero error lifetime as a duration; 0 gives no hint.
pub(crate) fn retry_hint(lifetime: u32) -> Option<Duration> {
    (lifetime > 0).then(|| Duration::from_secs(lifetime.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_server_names_its_version() {
        // A draft-era server's answer to a MAP request: version 1, R + MAP, result 1,
        // lifetime 1800 s, epoch 42, then the 12 reserved bytes.
        let mut answer = vec![1, 0x81, 0, 1, 0, 0, 0x07, 0x08, 0, 0, 0, 42];
        answer.extend_from_slice(&[0; 12]);
        let foreign = ForeignVersionAnswer::decode(&answer).expect("an UNSUPP_VERSION answer");
        assert_eq!(
            foreign,
            ForeignVersionAnswer {
                version: 1,
                opcode: 1,
                lifetime: Some(1800),
                epoch: Some(42),
            }
        );
        assert_eq!(foreign.retry_after(), Some(Duration::from_secs(1800)));
    }

    #[test]
    fn only_unsupp_version_answers_in_another_version_qualify() {
        // (datagram, the version and lifetime read from it)
        type Case<'a> = (&'a [u8], Option<(u8, Option<u32>)>);
        let cases: [Case<'_>; 8] = [
            (&[1, 0x81, 0, 1], Some((1, None))),
            (&[3, 0x81, 0, 1, 0, 0, 0, 0], Some((3, Some(0)))),
            // Too short to hold the result code.
            (&[1, 0x81, 0], None),
            (&[], None),
            // A request (R bit clear), another result code.
            (&[1, 0x01, 0, 1], None),
            (&[1, 0x81, 0, 2], None),
            // NAT-PMP and PCP version 2 are decoded by their own codecs.
            (&[0, 0x81, 0, 1], None),
            (&[2, 0x81, 0, 1], None),
        ];
        for (datagram, expected) in cases {
            let got = ForeignVersionAnswer::decode(datagram).map(|a| (a.version, a.lifetime));
            assert_eq!(got, expected, "{datagram:?}");
        }
        let no_hint = ForeignVersionAnswer::decode(&[3, 0x81, 0, 1, 0, 0, 0, 0]);
        assert_eq!(no_hint.and_then(|a| a.retry_after()), None);
    }
}
