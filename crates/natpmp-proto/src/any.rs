//! Messages of either protocol, told apart by their first byte (0: NAT-PMP, 2: PCP).
//!
//! The two protocols share the server port 5351, and a server that does not speak the
//! client's version answers in its own (RFC 6887 §9), so a client must decode "whatever came
//! back": [`decode_any`].

use std::fmt;

use crate::error::{DecodeError, EncodeError};
use crate::{natpmp, pcp};

/// A protocol version: NAT-PMP (version 0) or PCP (version 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// NAT-PMP, RFC 6886, version byte 0.
    NatPmp,
    /// PCP, RFC 6887, version byte 2.
    Pcp,
}

impl Version {
    /// The version byte.
    pub const fn code(self) -> u8 {
        match self {
            Self::NatPmp => natpmp::VERSION,
            Self::Pcp => pcp::VERSION,
        }
    }

    /// The version for a version byte, if it is one this crate speaks.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            natpmp::VERSION => Some(Self::NatPmp),
            pcp::VERSION => Some(Self::Pcp),
            _ => None,
        }
    }

    /// The other version.
    pub const fn other(self) -> Self {
        match self {
            Self::NatPmp => Self::Pcp,
            Self::Pcp => Self::NatPmp,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NatPmp => "NAT-PMP",
            Self::Pcp => "PCP",
        })
    }
}

/// A request of either protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AnyRequest {
    /// A NAT-PMP request.
    NatPmp(natpmp::Request),
    /// A PCP request.
    Pcp(pcp::Request),
}

impl AnyRequest {
    /// The request's protocol version.
    pub const fn version(&self) -> Version {
        match self {
            Self::NatPmp(_) => Version::NatPmp,
            Self::Pcp(_) => Version::Pcp,
        }
    }

    /// The request's wire form. Only a PCP request can fail (see [`EncodeError`]).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        match self {
            Self::NatPmp(request) => Ok(request.encode()),
            Self::Pcp(request) => request.encode(),
        }
    }

    /// Decodes a request of either protocol, dispatching on the version byte.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        match version_byte(bytes)? {
            natpmp::VERSION => natpmp::Request::decode(bytes).map(Self::NatPmp),
            pcp::VERSION => pcp::Request::decode(bytes).map(Self::Pcp),
            version => Err(DecodeError::UnsupportedVersion {
                version,
                expected: pcp::VERSION,
            }),
        }
    }
}

impl From<natpmp::Request> for AnyRequest {
    fn from(request: natpmp::Request) -> Self {
        Self::NatPmp(request)
    }
}

impl From<pcp::Request> for AnyRequest {
    fn from(request: pcp::Request) -> Self {
        Self::Pcp(request)
    }
}

/// A response of either protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AnyResponse {
    /// A NAT-PMP response.
    NatPmp(natpmp::Response),
    /// A PCP response.
    Pcp(pcp::Response),
}

impl AnyResponse {
    /// The response's protocol version.
    pub const fn version(&self) -> Version {
        match self {
            Self::NatPmp(_) => Version::NatPmp,
            Self::Pcp(_) => Version::Pcp,
        }
    }

    /// The result code.
    pub const fn result(&self) -> AnyResultCode {
        match self {
            Self::NatPmp(response) => AnyResultCode::NatPmp(response.result),
            Self::Pcp(response) => AnyResultCode::Pcp(response.result),
        }
    }

    /// The server's epoch: NAT-PMP's seconds since start of epoch or PCP's epoch time.
    pub const fn epoch(&self) -> u32 {
        match self {
            Self::NatPmp(response) => response.epoch,
            Self::Pcp(response) => response.epoch,
        }
    }

    /// The NAT-PMP response, if this is one.
    pub const fn as_natpmp(&self) -> Option<&natpmp::Response> {
        match self {
            Self::NatPmp(response) => Some(response),
            Self::Pcp(_) => None,
        }
    }

    /// The PCP response, if this is one.
    pub const fn as_pcp(&self) -> Option<&pcp::Response> {
        match self {
            Self::Pcp(response) => Some(response),
            Self::NatPmp(_) => None,
        }
    }

    /// The response's wire form.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        match self {
            Self::NatPmp(response) => Ok(response.encode()),
            Self::Pcp(response) => response.encode(),
        }
    }
}

impl From<natpmp::Response> for AnyResponse {
    fn from(response: natpmp::Response) -> Self {
        Self::NatPmp(response)
    }
}

impl From<pcp::Response> for AnyResponse {
    fn from(response: pcp::Response) -> Self {
        Self::Pcp(response)
    }
}

/// Decodes a response of either protocol, dispatching on the version byte: 0 is NAT-PMP,
/// 2 is PCP, anything else [`DecodeError::UnsupportedVersion`].
///
/// ```
/// use natpmp_proto::{decode_any, AnyResponse, Version};
/// // A NAT-PMP-only gateway's answer to a PCP request: version 0, opcode 0,
/// // result 1 (Unsupported Version), epoch 7.
/// let reply = decode_any(&[0, 0, 0, 1, 0, 0, 0, 7]).unwrap();
/// assert_eq!(reply.version(), Version::NatPmp);
/// assert!(reply.result().is_unsupported_version());
/// ```
pub fn decode_any(bytes: &[u8]) -> Result<AnyResponse, DecodeError> {
    match version_byte(bytes)? {
        natpmp::VERSION => natpmp::Response::decode(bytes).map(AnyResponse::NatPmp),
        pcp::VERSION => pcp::Response::decode(bytes).map(AnyResponse::Pcp),
        version => Err(DecodeError::UnsupportedVersion {
            version,
            expected: pcp::VERSION,
        }),
    }
}

fn version_byte(bytes: &[u8]) -> Result<u8, DecodeError> {
    bytes
        .first()
        .copied()
        .ok_or(DecodeError::too_short("version", 1, 0))
}

/// A result code of either protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnyResultCode {
    /// A NAT-PMP result code.
    NatPmp(natpmp::ResultCode),
    /// A PCP result code.
    Pcp(pcp::ResultCode),
}

impl AnyResultCode {
    /// Whether the code means success.
    pub const fn is_success(self) -> bool {
        match self {
            Self::NatPmp(code) => code.is_success(),
            Self::Pcp(code) => code.is_success(),
        }
    }

    /// Whether the code says the server does not speak the request's version (NAT-PMP
    /// result 1, PCP UNSUPP_VERSION).
    pub const fn is_unsupported_version(self) -> bool {
        matches!(
            self,
            Self::NatPmp(natpmp::ResultCode::UnsupportedVersion)
                | Self::Pcp(pcp::ResultCode::UnsupportedVersion)
        )
    }
}

impl fmt::Display for AnyResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NatPmp(code) => write!(f, "NAT-PMP {code}"),
            Self::Pcp(code) => write!(f, "PCP {code}"),
        }
    }
}
