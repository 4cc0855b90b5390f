//! Binding requests and responses (RFC 8489 §5, RFC 5780 §7), over the `stun-types`
//! codec: [`BindingRequest`] encodes, [`BindingResponse::decode`] reads what a server sent
//! into the addresses a client needs, and [`incoming_request_id`] recognises a Binding
//! request (the hairpinning test sends one to itself).

use std::fmt;
use std::net::SocketAddr;

use stun_types::attribute::{ErrorCode, MappedSocketAddr, XorMappedAddress};
use stun_types::message::{
    BINDING, Message, MessageClass, MessageType, MessageWriteVec, StunParseError,
};
use stun_types::prelude::*;

use crate::attribute::{
    ChangeRequest, MAPPED_ADDRESS, OTHER_ADDRESS, RESPONSE_ORIGIN, address_attribute,
};
use crate::error::DecodeError;

/// The STUN header: type, length, magic cookie, transaction ID.
pub const HEADER_LEN: usize = 20;
/// The magic cookie every RFC 5389/8489 message carries at bytes 4..8.
pub const MAGIC_COOKIE: u32 = 0x2112_a442;
/// The largest message the client reads: a Binding response with every address attribute,
/// SOFTWARE and FINGERPRINT fits in a few hundred bytes; RFC 8489 §6.1 bounds UDP messages
/// by the path MTU.
pub const MAX_MESSAGE_LEN: usize = 1500;

/// The 96-bit transaction ID that ties a response to its request (RFC 8489 §5).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub [u8; 12]);

impl TransactionId {
    /// A fresh ID from the operating system's random source (RFC 8489 §6 wants them
    /// uniformly random).
    pub fn random() -> TransactionId {
        let id = u128::from(stun_types::message::TransactionId::generate());
        TransactionId::from_u128(id)
    }

    fn from_u128(id: u128) -> TransactionId {
        let bytes = id.to_be_bytes();
        let mut out = [0; 12];
        out.copy_from_slice(&bytes[4..]);
        TransactionId(out)
    }

    fn to_codec(self) -> stun_types::message::TransactionId {
        let mut bytes = [0; 16];
        bytes[4..].copy_from_slice(&self.0);
        u128::from_be_bytes(bytes).into()
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// A Binding request, with an optional CHANGE-REQUEST.
///
/// ```
/// use stun::{BindingRequest, ChangeRequest, TransactionId};
///
/// let request = BindingRequest::new(TransactionId([7; 12])).with_change(ChangeRequest::PORT);
/// let bytes = request.encode();
/// assert_eq!(bytes[..4], [0x00, 0x01, 0x00, 0x08]); // Binding request, 8 bytes of attributes
/// assert_eq!(bytes[20..], [0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0x02]); // CHANGE-REQUEST: port
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingRequest {
    /// The transaction ID.
    pub transaction_id: TransactionId,
    /// What the server should change when it answers.
    pub change: ChangeRequest,
}

impl BindingRequest {
    /// A plain Binding request.
    pub fn new(transaction_id: TransactionId) -> BindingRequest {
        BindingRequest {
            transaction_id,
            change: ChangeRequest::NONE,
        }
    }

    /// This request with a CHANGE-REQUEST attribute (left out when `change` is
    /// [`ChangeRequest::NONE`]).
    pub fn with_change(mut self, change: ChangeRequest) -> BindingRequest {
        self.change = change;
        self
    }

    /// The request's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mtype = MessageType::from_class_method(MessageClass::Request, BINDING);
        let mut message = Message::builder(
            mtype,
            self.transaction_id.to_codec(),
            MessageWriteVec::new(),
        );
        if !self.change.is_none() {
            // Cannot fail: the message is empty and has neither integrity nor fingerprint.
            let _ = message.add_attribute(&self.change);
        }
        message.finish()
    }
}

/// A server's answer to a Binding request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindingResponse {
    /// A success response.
    Success(BindingSuccess),
    /// An error response (RFC 8489 §14.8): for a Binding request usually 420 (a server
    /// without RFC 5780 refusing CHANGE-REQUEST) or 400.
    Error {
        /// The transaction it answers.
        transaction_id: TransactionId,
        /// The error code (300 to 699), 0 when the ERROR-CODE attribute is missing,
        /// malformed or out of that range.
        code: u16,
    },
}

/// What a Binding success response tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingSuccess {
    /// The transaction it answers.
    pub transaction_id: TransactionId,
    /// The client's address as the server saw it (XOR-MAPPED-ADDRESS, else the RFC 3489
    /// MAPPED-ADDRESS).
    pub mapped: SocketAddr,
    /// The server's other address (RFC 5780 OTHER-ADDRESS): present when the server can
    /// answer from a second IP address and port.
    pub other_address: Option<SocketAddr>,
    /// The address the server sent the response from, as it says (RFC 5780
    /// RESPONSE-ORIGIN).
    pub response_origin: Option<SocketAddr>,
}

impl BindingResponse {
    /// Reads a Binding response. Never panics; anything that is not a Binding success or
    /// error response is an error.
    pub fn decode(bytes: &[u8]) -> Result<BindingResponse, DecodeError> {
        check_header(bytes)?;
        let message = Message::from_bytes(bytes).map_err(from_codec)?;
        let transaction_id = TransactionId::from_u128(u128::from(message.transaction_id()));
        let message_type = u16::from_be_bytes([bytes[0], bytes[1]]);
        if !message.has_method(BINDING) {
            return Err(DecodeError::NotBindingResponse { message_type });
        }
        if message.has_class(MessageClass::Error) {
            // RFC 8489 §14.8: 300 to 699; anything else reads as "no usable code".
            let code = message
                .attribute::<ErrorCode>()
                .map(|e| e.code())
                .ok()
                .filter(|code| (300..=699).contains(code))
                .unwrap_or(0);
            return Ok(BindingResponse::Error {
                transaction_id,
                code,
            });
        }
        if !message.has_class(MessageClass::Success) {
            return Err(DecodeError::NotBindingResponse { message_type });
        }
        let mapped = match message.raw_attribute(XorMappedAddress::TYPE) {
            Some(_) => message
                .attribute::<XorMappedAddress>()
                .map(|a| a.addr(message.transaction_id()))
                .map_err(|_| DecodeError::Attribute {
                    attribute: "XOR-MAPPED-ADDRESS",
                })?,
            None => address_attribute(&message, MAPPED_ADDRESS, "MAPPED-ADDRESS")?
                .ok_or(DecodeError::NoMappedAddress)?,
        };
        Ok(BindingResponse::Success(BindingSuccess {
            transaction_id,
            mapped,
            other_address: address_attribute(&message, OTHER_ADDRESS, "OTHER-ADDRESS")?,
            response_origin: address_attribute(&message, RESPONSE_ORIGIN, "RESPONSE-ORIGIN")?,
        }))
    }

    /// The response's bytes, as a server would send them (for fakes and tests; the
    /// client never sends one). An error code outside 300..=699 is sent without an
    /// ERROR-CODE attribute.
    pub fn encode(&self) -> Vec<u8> {
        let class = match self {
            BindingResponse::Success(_) => MessageClass::Success,
            BindingResponse::Error { .. } => MessageClass::Error,
        };
        let transaction = self.transaction_id().to_codec();
        let mtype = MessageType::from_class_method(class, BINDING);
        let mut message = Message::builder(mtype, transaction, MessageWriteVec::new());
        // The adds below cannot fail: no integrity or fingerprint precedes them, and the
        // attributes are far below any size limit.
        match self {
            BindingResponse::Success(success) => {
                let _ = message.add_attribute(&XorMappedAddress::new(success.mapped, transaction));
                for (atype, address) in [
                    (OTHER_ADDRESS, success.other_address),
                    (RESPONSE_ORIGIN, success.response_origin),
                ] {
                    if let Some(address) = address {
                        let _ =
                            message.add_attribute(&MappedSocketAddr::new(address).to_raw(atype));
                    }
                }
            }
            // A code outside 300..=699 (0: none) is sent without ERROR-CODE, which decodes
            // back to 0.
            BindingResponse::Error { code, .. } if (300..=699).contains(code) => {
                if let Ok(error) = ErrorCode::builder(*code).build() {
                    let _ = message.add_attribute(&error);
                }
            }
            BindingResponse::Error { .. } => {}
        }
        message.finish()
    }

    /// The transaction this answers.
    pub fn transaction_id(&self) -> TransactionId {
        match self {
            BindingResponse::Success(s) => s.transaction_id,
            BindingResponse::Error { transaction_id, .. } => *transaction_id,
        }
    }
}

/// The transaction ID of a Binding request, if `bytes` is one (the hairpinning test
/// recognises its own request coming back through the NAT). Never panics.
pub fn incoming_request_id(bytes: &[u8]) -> Option<TransactionId> {
    check_header(bytes).ok()?;
    let message = Message::from_bytes(bytes).ok()?;
    (message.has_method(BINDING) && message.has_class(MessageClass::Request))
        .then(|| TransactionId::from_u128(u128::from(message.transaction_id())))
}

/// The whole length of the STUN message that starts `bytes` (header included), once its
/// header is there: how a TCP reader frames messages (RFC 8489 §6.2.2). `Ok(None)` when
/// fewer than 20 bytes are there.
pub fn frame_length(bytes: &[u8]) -> Result<Option<usize>, DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Ok(None);
    }
    check_header(bytes)?;
    let body = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    Ok(Some(HEADER_LEN + body))
}

/// The checks RFC 8489 §6.3 names for telling STUN from other traffic, before the codec
/// reads further: the top two bits clear, the magic cookie, a length that fits and is a
/// multiple of 4.
fn check_header(bytes: &[u8]) -> Result<(), DecodeError> {
    let Some(header) = bytes.get(..HEADER_LEN) else {
        return Err(DecodeError::TooShort {
            len: bytes.len(),
            needed: HEADER_LEN,
        });
    };
    let cookie = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let body = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if header[0] & 0xc0 != 0 || cookie != MAGIC_COOKIE || body % 4 != 0 {
        return Err(DecodeError::NotStun);
    }
    if HEADER_LEN + body > MAX_MESSAGE_LEN {
        return Err(DecodeError::Malformed {
            reason: format!("announced length {body} exceeds {MAX_MESSAGE_LEN} bytes"),
        });
    }
    Ok(())
}

fn from_codec(error: StunParseError) -> DecodeError {
    match error {
        StunParseError::Truncated { expected, actual } => DecodeError::TooShort {
            len: actual,
            needed: expected,
        },
        StunParseError::NotStun => DecodeError::NotStun,
        other => DecodeError::Malformed {
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
