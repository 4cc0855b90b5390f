//! [`ResultCode`]: the result codes of PCP responses (RFC 6887 §7.4), with their wire
//! values and the names the RFC gives them.

use std::fmt;

/// A PCP result code (RFC 6887 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultCode {
    /// 0: SUCCESS.
    Success,
    /// 1: UNSUPP_VERSION; the response's version field holds the server's highest version.
    UnsupportedVersion,
    /// 2: NOT_AUTHORIZED.
    NotAuthorized,
    /// 3: MALFORMED_REQUEST.
    MalformedRequest,
    /// 4: UNSUPP_OPCODE.
    UnsupportedOpcode,
    /// 5: UNSUPP_OPTION: a mandatory option the server does not understand.
    UnsupportedOption,
    /// 6: MALFORMED_OPTION.
    MalformedOption,
    /// 7: NETWORK_FAILURE.
    NetworkFailure,
    /// 8: NO_RESOURCES.
    NoResources,
    /// 9: UNSUPP_PROTOCOL.
    UnsupportedProtocol,
    /// 10: USER_EX_QUOTA: the client has used up its mappings.
    UserExceededQuota,
    /// 11: CANNOT_PROVIDE_EXTERNAL: the suggested external address or port is not available
    /// and PREFER_FAILURE was set (or the address is not available at all).
    CannotProvideExternal,
    /// 12: ADDRESS_MISMATCH: the request's source address differs from the PCP Client's IP
    /// Address field, a NAT sits between client and server.
    AddressMismatch,
    /// 13: EXCESSIVE_REMOTE_PEERS.
    ExcessiveRemotePeers,
    /// A code RFC 6887 does not define; never holds 0 to 13.
    Unknown(u8),
}

impl ResultCode {
    /// The code for a wire value; values without a name become [`ResultCode::Unknown`].
    pub const fn from_u8(code: u8) -> Self {
        match code {
            0 => Self::Success,
            1 => Self::UnsupportedVersion,
            2 => Self::NotAuthorized,
            3 => Self::MalformedRequest,
            4 => Self::UnsupportedOpcode,
            5 => Self::UnsupportedOption,
            6 => Self::MalformedOption,
            7 => Self::NetworkFailure,
            8 => Self::NoResources,
            9 => Self::UnsupportedProtocol,
            10 => Self::UserExceededQuota,
            11 => Self::CannotProvideExternal,
            12 => Self::AddressMismatch,
            13 => Self::ExcessiveRemotePeers,
            other => Self::Unknown(other),
        }
    }

    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::UnsupportedVersion => 1,
            Self::NotAuthorized => 2,
            Self::MalformedRequest => 3,
            Self::UnsupportedOpcode => 4,
            Self::UnsupportedOption => 5,
            Self::MalformedOption => 6,
            Self::NetworkFailure => 7,
            Self::NoResources => 8,
            Self::UnsupportedProtocol => 9,
            Self::UserExceededQuota => 10,
            Self::CannotProvideExternal => 11,
            Self::AddressMismatch => 12,
            Self::ExcessiveRemotePeers => 13,
            Self::Unknown(other) => other,
        }
    }

    /// Whether this is [`ResultCode::Success`].
    pub const fn is_success(self) -> bool {
        matches!(self, Self::Success)
    }

    /// The RFC's name for the code, e.g. `"UNSUPP_VERSION"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::UnsupportedVersion => "UNSUPP_VERSION",
            Self::NotAuthorized => "NOT_AUTHORIZED",
            Self::MalformedRequest => "MALFORMED_REQUEST",
            Self::UnsupportedOpcode => "UNSUPP_OPCODE",
            Self::UnsupportedOption => "UNSUPP_OPTION",
            Self::MalformedOption => "MALFORMED_OPTION",
            Self::NetworkFailure => "NETWORK_FAILURE",
            Self::NoResources => "NO_RESOURCES",
            Self::UnsupportedProtocol => "UNSUPP_PROTOCOL",
            Self::UserExceededQuota => "USER_EX_QUOTA",
            Self::CannotProvideExternal => "CANNOT_PROVIDE_EXTERNAL",
            Self::AddressMismatch => "ADDRESS_MISMATCH",
            Self::ExcessiveRemotePeers => "EXCESSIVE_REMOTE_PEERS",
            Self::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.to_u8())
    }
}
