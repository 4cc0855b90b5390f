//! Decode and encode errors shared by the NAT-PMP and PCP codecs.
//!
//! Decoding tells a datagram that ended early ([`DecodeError::TooShort`]) from one whose bytes
//! are there but wrong ([`DecodeError::Malformed`]), and names the field in both cases, so a
//! log line says what the gateway (or the fuzzer) got wrong.

/// Why a datagram could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The datagram ended before `what` was complete.
    #[error("{what} too short: needed {needed} bytes, got {got}")]
    TooShort {
        /// The message part being read, e.g. `"PCP MAP opcode data"`.
        what: &'static str,
        /// Bytes needed from the start of the datagram.
        needed: usize,
        /// Bytes the datagram has.
        got: usize,
    },
    /// A field holds a value the protocol does not allow here.
    #[error("malformed {field} at offset {offset}: {reason}")]
    Malformed {
        /// The field, e.g. `"option length"`.
        field: &'static str,
        /// Offset of the field from the start of the datagram.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The version byte names a protocol version this codec does not speak.
    #[error("unsupported version {version} (expected {expected})")]
    UnsupportedVersion {
        /// The version byte found (offset 0).
        version: u8,
        /// The version the decoder expected: 0 (NAT-PMP) or 2 (PCP).
        expected: u8,
    },
    /// The opcode is not one this codec knows.
    #[error("unknown opcode {opcode}")]
    UnknownOpcode {
        /// The opcode as found on the wire, with the response bit (128 or the PCP R bit)
        /// removed.
        opcode: u8,
    },
}

impl DecodeError {
    pub(crate) fn too_short(what: &'static str, needed: usize, got: usize) -> Self {
        Self::TooShort { what, needed, got }
    }

    pub(crate) fn malformed(field: &'static str, offset: usize, reason: &'static str) -> Self {
        Self::Malformed {
            field,
            offset,
            reason,
        }
    }
}

/// Why a message could not be encoded.
///
/// Only PCP messages can fail: their options are free-form and a message must fit the
/// protocol's 1100-byte limit (RFC 6887 §7), which also keeps every option within its 16-bit
/// length field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded message would exceed the 1100-byte PCP limit.
    #[error("PCP message too long: {length} bytes, the limit is {limit}")]
    MessageTooLong {
        /// Length the message would have.
        length: usize,
        /// The limit, 1100.
        limit: usize,
    },
}
