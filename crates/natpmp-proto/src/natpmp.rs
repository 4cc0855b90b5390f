//! NAT-PMP (RFC 6886) messages: the external address request, UDP and TCP mapping requests,
//! and their responses (opcode + 128).
//!
//! Both directions encode and decode, so a client and a fake server in a test use the same
//! types. Sizes are exact: 2 bytes for the external address request, 12 for a mapping
//! request, 12 and 16 for the matching responses. The RFC's leniencies are kept:
//!
//! - the Reserved field of a mapping request is ignored on reception (§3.3);
//! - result codes this crate does not know are kept as [`ResultCode::Unknown`] and count as
//!   failures (§3.5);
//! - an error reply may be just the 8-byte header (version, opcode, result code, epoch):
//!   that is the RFC's own "Unsupported Version" reply, which carries opcode 0 (§3.5), and
//!   what miniupnpd sends for an unsupported version or opcode, with opcode 128 + the request
//!   opcode. It decodes as [`ResponseBody::HeaderOnly`].

use std::fmt;
use std::net::Ipv4Addr;

use crate::Protocol;
use crate::error::DecodeError;
use crate::wire::Reader;

/// The NAT-PMP version number, the first byte of every message.
pub const VERSION: u8 = 0;
/// Opcode of the external address request.
pub const OPCODE_EXTERNAL_ADDRESS: u8 = 0;
/// Opcode of the UDP mapping request.
pub const OPCODE_MAP_UDP: u8 = 1;
/// Opcode of the TCP mapping request.
pub const OPCODE_MAP_TCP: u8 = 2;
/// Added to a request's opcode to form the response's opcode.
pub const RESPONSE_BIT: u8 = 128;
/// Size of the external address request.
pub const EXTERNAL_ADDRESS_REQUEST_LEN: usize = 2;
/// Size of a mapping request.
pub const MAP_REQUEST_LEN: usize = 12;
/// Size of the header-only error reply (version, opcode, result code, epoch).
pub const HEADER_ONLY_RESPONSE_LEN: usize = 8;
/// Size of the external address response.
pub const EXTERNAL_ADDRESS_RESPONSE_LEN: usize = 12;
/// Size of a mapping response.
pub const MAP_RESPONSE_LEN: usize = 16;
/// The mapping lifetime RFC 6886 §3.3 recommends, in seconds (two hours).
pub const RECOMMENDED_LIFETIME: u32 = 7200;

/// A NAT-PMP result code (RFC 6886 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultCode {
    /// 0: the request succeeded.
    Success,
    /// 1: the gateway does not speak the request's version.
    UnsupportedVersion,
    /// 2: not authorized or refused, e.g. the user turned port mapping off.
    NotAuthorized,
    /// 3: network failure, e.g. the gateway has no DHCP lease on its WAN side.
    NetworkFailure,
    /// 4: out of resources: the gateway cannot create any more mappings now.
    OutOfResources,
    /// 5: the gateway does not support the request's opcode.
    UnsupportedOpcode,
    /// A code RFC 6886 does not define; never holds 0 to 5. Treat it as a failure.
    Unknown(u16),
}

impl ResultCode {
    /// The code for a wire value; values without a name become [`ResultCode::Unknown`].
    pub const fn from_u16(code: u16) -> Self {
        match code {
            0 => Self::Success,
            1 => Self::UnsupportedVersion,
            2 => Self::NotAuthorized,
            3 => Self::NetworkFailure,
            4 => Self::OutOfResources,
            5 => Self::UnsupportedOpcode,
            other => Self::Unknown(other),
        }
    }

    /// The wire value.
    pub const fn to_u16(self) -> u16 {
        match self {
            Self::Success => 0,
            Self::UnsupportedVersion => 1,
            Self::NotAuthorized => 2,
            Self::NetworkFailure => 3,
            Self::OutOfResources => 4,
            Self::UnsupportedOpcode => 5,
            Self::Unknown(other) => other,
        }
    }

    /// Whether this is [`ResultCode::Success`].
    pub const fn is_success(self) -> bool {
        matches!(self, Self::Success)
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Success => "success",
            Self::UnsupportedVersion => "unsupported version",
            Self::NotAuthorized => "not authorized/refused",
            Self::NetworkFailure => "network failure",
            Self::OutOfResources => "out of resources",
            Self::UnsupportedOpcode => "unsupported opcode",
            Self::Unknown(_) => "unknown",
        };
        write!(f, "{name} ({})", self.to_u16())
    }
}

/// The body of a mapping request (opcodes 1 and 2, RFC 6886 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapRequest {
    /// UDP (opcode 1) or TCP (opcode 2).
    pub protocol: Protocol,
    /// The client's local port; 0 together with lifetime 0 deletes all the client's
    /// mappings of this protocol (§3.4).
    pub internal_port: u16,
    /// The external port the client would like; 0 lets the gateway choose. On renewal, the
    /// port the gateway assigned before.
    pub suggested_external_port: u16,
    /// Requested lifetime in seconds; 0 deletes the mapping.
    pub lifetime: u32,
}

/// A NAT-PMP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    /// Opcode 0: what is the gateway's external IPv4 address? (RFC 6886 §3.2)
    ExternalAddress,
    /// Opcode 1 or 2: create, renew or delete a mapping (RFC 6886 §3.3, §3.4).
    Map(MapRequest),
}

impl Request {
    /// The external address request.
    pub const fn external_address() -> Self {
        Self::ExternalAddress
    }

    /// A request to create or renew a mapping.
    pub const fn map(
        protocol: Protocol,
        internal_port: u16,
        suggested_external_port: u16,
        lifetime: u32,
    ) -> Self {
        Self::Map(MapRequest {
            protocol,
            internal_port,
            suggested_external_port,
            lifetime,
        })
    }

    /// A request to delete the mapping of `internal_port` (lifetime 0 and suggested external
    /// port 0, RFC 6886 §3.4).
    pub const fn unmap(protocol: Protocol, internal_port: u16) -> Self {
        Self::map(protocol, internal_port, 0, 0)
    }

    /// A request to delete all the client's mappings of `protocol` (internal port, external
    /// port and lifetime all 0, RFC 6886 §3.4).
    pub const fn unmap_all(protocol: Protocol) -> Self {
        Self::map(protocol, 0, 0, 0)
    }

    /// The request's opcode: 0, 1 (UDP) or 2 (TCP).
    pub const fn opcode(&self) -> u8 {
        match self {
            Self::ExternalAddress => OPCODE_EXTERNAL_ADDRESS,
            Self::Map(map) => map.protocol.natpmp_opcode(),
        }
    }

    /// The request's wire form.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::ExternalAddress => vec![VERSION, OPCODE_EXTERNAL_ADDRESS],
            Self::Map(map) => {
                let mut out = Vec::with_capacity(MAP_REQUEST_LEN);
                out.extend_from_slice(&[VERSION, map.protocol.natpmp_opcode(), 0, 0]);
                out.extend_from_slice(&map.internal_port.to_be_bytes());
                out.extend_from_slice(&map.suggested_external_port.to_be_bytes());
                out.extend_from_slice(&map.lifetime.to_be_bytes());
                out
            }
        }
    }

    /// Decodes a request, as a gateway (or a test's fake gateway) receives it.
    ///
    /// A version other than 0 gives [`DecodeError::UnsupportedVersion`], which a server
    /// answers with [`Response::unsupported_version`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("NAT-PMP request header")?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion {
                version,
                expected: VERSION,
            });
        }
        let opcode = r.u8("NAT-PMP request header")?;
        if opcode & RESPONSE_BIT != 0 {
            return Err(DecodeError::malformed(
                "opcode",
                1,
                "response opcode in a request",
            ));
        }
        let request = match opcode {
            OPCODE_EXTERNAL_ADDRESS => Self::ExternalAddress,
            OPCODE_MAP_UDP | OPCODE_MAP_TCP => {
                let what = "NAT-PMP mapping request";
                r.require(MAP_REQUEST_LEN - 2, what)?;
                r.skip(2, what)?; // Reserved: ignored on reception (§3.3).
                let internal_port = r.u16(what)?;
                let suggested_external_port = r.u16(what)?;
                let lifetime = r.u32(what)?;
                let protocol = if opcode == OPCODE_MAP_UDP {
                    Protocol::Udp
                } else {
                    Protocol::Tcp
                };
                Self::map(protocol, internal_port, suggested_external_port, lifetime)
            }
            opcode => return Err(DecodeError::UnknownOpcode { opcode }),
        };
        no_trailing_bytes(&r, "trailing bytes after the request")?;
        Ok(request)
    }
}

/// The body of a mapping response (opcodes 129 and 130, RFC 6886 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapResponse {
    /// UDP (opcode 129) or TCP (opcode 130).
    pub protocol: Protocol,
    /// The internal port from the request; it tells which request this answers.
    pub internal_port: u16,
    /// The external port the gateway mapped; 0 after a deletion or a failure.
    pub external_port: u16,
    /// The granted lifetime in seconds; 0 after a deletion or a failure.
    pub lifetime: u32,
}

/// What follows the common response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseBody {
    /// Opcode 128: the gateway's external IPv4 address (0.0.0.0 and to be ignored when the
    /// result code is not success).
    ExternalAddress {
        /// The gateway's external IPv4 address.
        external_address: Ipv4Addr,
    },
    /// Opcode 129 or 130: the mapping.
    Map(MapResponse),
    /// An 8-byte error reply without body. The result code is never success.
    HeaderOnly {
        /// The opcode byte as sent: 0 in the RFC's "Unsupported Version" reply, otherwise
        /// 128 + the request's opcode.
        opcode: u8,
    },
}

/// A NAT-PMP response, including the gateway's unsolicited address announcements
/// (RFC 6886 §3.2.1), which have the external address response's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Response {
    /// The result code.
    pub result: ResultCode,
    /// Seconds since the gateway's port mapping table was initialized ("seconds since start
    /// of epoch", §3.6).
    pub epoch: u32,
    /// The opcode-specific part.
    pub body: ResponseBody,
}

impl Response {
    /// A successful external address response.
    pub const fn new_external_address(epoch: u32, external_address: Ipv4Addr) -> Self {
        Self {
            result: ResultCode::Success,
            epoch,
            body: ResponseBody::ExternalAddress { external_address },
        }
    }

    /// A successful mapping response.
    pub const fn new_mapping(epoch: u32, mapping: MapResponse) -> Self {
        Self {
            result: ResultCode::Success,
            epoch,
            body: ResponseBody::Map(mapping),
        }
    }

    /// The full-size error response a gateway sends when `request` fails (RFC 6886 §3.5):
    /// external address 0.0.0.0, or the request's internal port with external port and
    /// lifetime 0.
    pub const fn error(request: &Request, result: ResultCode, epoch: u32) -> Self {
        let body = match request {
            Request::ExternalAddress => ResponseBody::ExternalAddress {
                external_address: Ipv4Addr::UNSPECIFIED,
            },
            Request::Map(map) => ResponseBody::Map(MapResponse {
                protocol: map.protocol,
                internal_port: map.internal_port,
                external_port: 0,
                lifetime: 0,
            }),
        };
        Self {
            result,
            epoch,
            body,
        }
    }

    /// The RFC's 8-byte "Unsupported Version" reply (opcode 0, result code 1, §3.5).
    pub const fn unsupported_version(epoch: u32) -> Self {
        Self {
            result: ResultCode::UnsupportedVersion,
            epoch,
            body: ResponseBody::HeaderOnly { opcode: 0 },
        }
    }

    /// The opcode byte on the wire (128 + the request opcode, or whatever a header-only reply
    /// carries).
    pub const fn opcode(&self) -> u8 {
        match &self.body {
            ResponseBody::ExternalAddress { .. } => RESPONSE_BIT + OPCODE_EXTERNAL_ADDRESS,
            ResponseBody::Map(map) => RESPONSE_BIT + map.protocol.natpmp_opcode(),
            ResponseBody::HeaderOnly { opcode } => *opcode,
        }
    }

    /// The external address, if this is an external address response.
    pub const fn external_address(&self) -> Option<Ipv4Addr> {
        match self.body {
            ResponseBody::ExternalAddress { external_address } => Some(external_address),
            _ => None,
        }
    }

    /// The mapping, if this is a mapping response.
    pub const fn mapping(&self) -> Option<&MapResponse> {
        match &self.body {
            ResponseBody::Map(map) => Some(map),
            _ => None,
        }
    }

    /// The response's wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAP_RESPONSE_LEN);
        out.extend_from_slice(&[VERSION, self.opcode()]);
        out.extend_from_slice(&self.result.to_u16().to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        match &self.body {
            ResponseBody::ExternalAddress { external_address } => {
                out.extend_from_slice(&external_address.octets());
            }
            ResponseBody::Map(map) => {
                out.extend_from_slice(&map.internal_port.to_be_bytes());
                out.extend_from_slice(&map.external_port.to_be_bytes());
                out.extend_from_slice(&map.lifetime.to_be_bytes());
            }
            ResponseBody::HeaderOnly { .. } => {}
        }
        out
    }

    /// Decodes a response, as a client receives it.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let header = "NAT-PMP response header";
        let mut r = Reader::new(bytes);
        let version = r.u8(header)?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion {
                version,
                expected: VERSION,
            });
        }
        let opcode = r.u8(header)?;
        // Opcode 0 with 8 bytes is the RFC's "Unsupported Version" reply; any other opcode
        // below 128 is a request.
        let rfc_unsupported_version = opcode == 0 && bytes.len() == HEADER_ONLY_RESPONSE_LEN;
        if opcode & RESPONSE_BIT == 0 && !rfc_unsupported_version {
            return Err(DecodeError::malformed(
                "opcode",
                1,
                "request opcode in a response",
            ));
        }
        let result = ResultCode::from_u16(r.u16(header)?);
        let epoch = r.u32(header)?;
        if bytes.len() == HEADER_ONLY_RESPONSE_LEN && !result.is_success() {
            return Ok(Self {
                result,
                epoch,
                body: ResponseBody::HeaderOnly { opcode },
            });
        }
        let body = match opcode.wrapping_sub(RESPONSE_BIT) {
            OPCODE_EXTERNAL_ADDRESS if opcode != 0 => {
                let octets = r.array::<4>("NAT-PMP external address response")?;
                ResponseBody::ExternalAddress {
                    external_address: Ipv4Addr::from(octets),
                }
            }
            request_opcode @ (OPCODE_MAP_UDP | OPCODE_MAP_TCP) => {
                let what = "NAT-PMP mapping response";
                r.require(MAP_RESPONSE_LEN - HEADER_ONLY_RESPONSE_LEN, what)?;
                let internal_port = r.u16(what)?;
                let external_port = r.u16(what)?;
                let lifetime = r.u32(what)?;
                let protocol = if request_opcode == OPCODE_MAP_UDP {
                    Protocol::Udp
                } else {
                    Protocol::Tcp
                };
                ResponseBody::Map(MapResponse {
                    protocol,
                    internal_port,
                    external_port,
                    lifetime,
                })
            }
            _ if opcode == 0 => {
                return Err(DecodeError::malformed(
                    "result code",
                    2,
                    "an 8-byte reply with opcode 0 must carry an error",
                ));
            }
            request_opcode => {
                return Err(DecodeError::UnknownOpcode {
                    opcode: request_opcode,
                });
            }
        };
        no_trailing_bytes(&r, "trailing bytes after the response")?;
        Ok(Self {
            result,
            epoch,
            body,
        })
    }
}

fn no_trailing_bytes(r: &Reader<'_>, reason: &'static str) -> Result<(), DecodeError> {
    if r.remaining() == 0 {
        Ok(())
    } else {
        Err(DecodeError::malformed("length", r.offset(), reason))
    }
}

#[cfg(test)]
mod tests;
