//! [`DecodeError`]: why bytes from a STUN server are not a Binding answer we can use.

/// Why a datagram (or a TCP frame) is not a usable answer to a Binding request.
///
/// Decoding never panics, whatever the bytes; the variants tell "too short" from
/// "malformed" and name the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the 20-byte STUN header or than the length it announces.
    #[error("stun message too short: {len} bytes, at least {needed} needed")]
    TooShort {
        /// The bytes there were.
        len: usize,
        /// The bytes the header (or the announced length) needs.
        needed: usize,
    },
    /// Not a STUN message at all (no magic cookie, the top two bits set, a length that is
    /// not a multiple of 4).
    #[error("not a stun message")]
    NotStun,
    /// A STUN message, but not a Binding response (a request, an indication, another
    /// method).
    #[error("stun message is not a binding response (type {message_type:#06x})")]
    NotBindingResponse {
        /// The message type field.
        message_type: u16,
    },
    /// An attribute the client reads is malformed (bad family, wrong length).
    #[error("stun attribute {attribute} is malformed")]
    Attribute {
        /// The attribute's name (`XOR-MAPPED-ADDRESS`, `OTHER-ADDRESS`, ...).
        attribute: &'static str,
    },
    /// The message is malformed in a way the codec reports (an attribute running past the
    /// end, a FINGERPRINT that does not match).
    #[error("malformed stun message: {reason}")]
    Malformed {
        /// What the codec found.
        reason: String,
    },
    /// A success response without an address (neither XOR-MAPPED-ADDRESS nor
    /// MAPPED-ADDRESS).
    #[error("stun binding response carries no mapped address")]
    NoMappedAddress,
}
