//! The RFC 5780 attributes the codec crate does not know: CHANGE-REQUEST (sent),
//! OTHER-ADDRESS and RESPONSE-ORIGIN (read). OTHER-ADDRESS and RESPONSE-ORIGIN share the
//! MAPPED-ADDRESS format (RFC 5780 §7.4, §7.3), so they are read and written through the
//! codec's MAPPED-ADDRESS value type.

use std::net::SocketAddr;

use stun_types::attribute::{
    Attribute, AttributeFromRaw, AttributeStaticType, AttributeType, AttributeWrite,
    AttributeWriteExt, MappedSocketAddr, RawAttribute,
};
use stun_types::message::{Message, StunParseError};

use crate::error::DecodeError;

/// CHANGE-REQUEST (RFC 5780 §7.2).
pub(crate) const CHANGE_REQUEST: AttributeType = AttributeType::new(0x0003);
/// RESPONSE-ORIGIN (RFC 5780 §7.3).
pub(crate) const RESPONSE_ORIGIN: AttributeType = AttributeType::new(0x802b);
/// MAPPED-ADDRESS (RFC 8489 §14.1), which RFC 3489 servers send instead of
/// XOR-MAPPED-ADDRESS.
pub(crate) const MAPPED_ADDRESS: AttributeType = AttributeType::new(0x0001);
/// OTHER-ADDRESS (RFC 5780 §7.4).
pub(crate) const OTHER_ADDRESS: AttributeType = AttributeType::new(0x802c);

/// What a Binding request asks the server to change when it answers (RFC 5780 §7.2): send
/// the response from its other IP address, its other port, or both. An answer from a
/// changed address is what tells the NAT's filtering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ChangeRequest {
    /// Answer from the other IP address.
    pub ip: bool,
    /// Answer from the other port.
    pub port: bool,
}

impl ChangeRequest {
    /// Change nothing (the attribute is not sent).
    pub const NONE: ChangeRequest = ChangeRequest {
        ip: false,
        port: false,
    };
    /// Change the IP address and the port (filtering test II).
    pub const IP_AND_PORT: ChangeRequest = ChangeRequest {
        ip: true,
        port: true,
    };
    /// Change the port only (filtering test III).
    pub const PORT: ChangeRequest = ChangeRequest {
        ip: false,
        port: true,
    };

    /// Whether anything is to change.
    pub fn is_none(self) -> bool {
        !self.ip && !self.port
    }

    fn flags(self) -> u32 {
        (u32::from(self.ip) << 2) | (u32::from(self.port) << 1)
    }
}

impl AttributeStaticType for ChangeRequest {
    const TYPE: AttributeType = CHANGE_REQUEST;
}

impl Attribute for ChangeRequest {
    fn get_type(&self) -> AttributeType {
        CHANGE_REQUEST
    }

    fn length(&self) -> u16 {
        4
    }
}

impl AttributeWrite for ChangeRequest {
    fn to_raw(&self) -> RawAttribute<'_> {
        RawAttribute::new(CHANGE_REQUEST, &self.flags().to_be_bytes()).into_owned()
    }

    fn write_into_unchecked(&self, dest: &mut [u8]) {
        let offset = self.write_header_unchecked(dest);
        dest[offset..offset + 4].copy_from_slice(&self.flags().to_be_bytes());
    }
}

impl AttributeFromRaw<'_> for ChangeRequest {
    fn from_raw_ref(raw: &RawAttribute) -> Result<Self, StunParseError> {
        raw.check_type_and_len(CHANGE_REQUEST, 4..=4)?;
        let flags = raw.value.get(3).copied().unwrap_or(0);
        Ok(ChangeRequest {
            ip: flags & 0x04 != 0,
            port: flags & 0x02 != 0,
        })
    }
}

/// Reads an attribute in the MAPPED-ADDRESS format: `Ok(None)` when the
/// message does not carry it.
pub(crate) fn address_attribute(
    message: &Message<'_>,
    attribute: AttributeType,
    name: &'static str,
) -> Result<Option<SocketAddr>, DecodeError> {
    let Some(raw) = message.raw_attribute(attribute) else {
        return Ok(None);
    };
    MappedSocketAddr::from_raw(&raw)
        .map(|a| Some(a.addr()))
        .map_err(|_| DecodeError::Attribute { attribute: name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_request_flags_are_the_rfc_bits() {
        let raw = RawAttribute::from(&ChangeRequest::IP_AND_PORT);
        assert_eq!(raw.to_bytes(), [0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0x06]);
        let raw = RawAttribute::from(&ChangeRequest::PORT);
        assert_eq!(raw.to_bytes(), [0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0x02]);
        let back = ChangeRequest::from_raw(RawAttribute::from(&ChangeRequest::PORT));
        assert_eq!(back.ok(), Some(ChangeRequest::PORT));
        assert_eq!(ChangeRequest::PORT.get_type(), CHANGE_REQUEST);
        assert!(ChangeRequest::NONE.is_none());
    }
}
