//! [`ResultCode`]: the result codes of PCP responses (RFC 6887 §7.4), with their wire
//! values, the names the RFC gives them, what each means in the RFC's words, and whether
//! the RFC calls it a long or a short lifetime error.

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

    /// What the code means, after RFC 6887 §7.4, in a few lowercase words.
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::Success => "the request succeeded",
            Self::UnsupportedVersion => {
                "the server does not recognise the version number of the request"
            }
            Self::NotAuthorized => {
                "the operation is disabled for this client or refused by the server's security policy"
            }
            Self::MalformedRequest => "the server could not parse the request",
            Self::UnsupportedOpcode => "the server does not support the opcode",
            Self::UnsupportedOption => {
                "the server does not support an option that is mandatory to process"
            }
            Self::MalformedOption => {
                "an option is malformed (it appears too many times or has an invalid length)"
            }
            Self::NetworkFailure => {
                "the server or the device it controls has a network failure (e.g. no external address yet)"
            }
            Self::NoResources => {
                "the server has insufficient resources to complete the operation at this time"
            }
            Self::UnsupportedProtocol => "the server does not support the transport protocol",
            Self::UserExceededQuota => "a new mapping would exceed this subscriber's port quota",
            Self::CannotProvideExternal => {
                "the suggested external port or address cannot be provided"
            }
            Self::AddressMismatch => {
                "the request's source address differs from its PCP client address (a NAT sits between client and server)"
            }
            Self::ExcessiveRemotePeers => "the server could not create the requested filters",
            Self::Unknown(_) => "a result code RFC 6887 does not define",
        }
    }

    /// Whether RFC 6887 §7.4 calls this a long lifetime error: the same request would get
    /// the same answer until something is reconfigured (UNSUPP_VERSION, NOT_AUTHORIZED,
    /// MALFORMED_REQUEST, UNSUPP_OPCODE, UNSUPP_OPTION, MALFORMED_OPTION, UNSUPP_PROTOCOL,
    /// ADDRESS_MISMATCH, EXCESSIVE_REMOTE_PEERS).
    pub const fn is_long_lifetime_error(self) -> bool {
        matches!(
            self,
            Self::UnsupportedVersion
                | Self::NotAuthorized
                | Self::MalformedRequest
                | Self::UnsupportedOpcode
                | Self::UnsupportedOption
                | Self::MalformedOption
                | Self::UnsupportedProtocol
                | Self::AddressMismatch
                | Self::ExcessiveRemotePeers
        )
    }

    /// Whether RFC 6887 §7.4 calls this a short lifetime error: the condition is
    /// temporary and the same request may succeed later (NETWORK_FAILURE, NO_RESOURCES,
    /// USER_EX_QUOTA, CANNOT_PROVIDE_EXTERNAL). An unknown code is neither.
    pub const fn is_short_lifetime_error(self) -> bool {
        matches!(
            self,
            Self::NetworkFailure
                | Self::NoResources
                | Self::UserExceededQuota
                | Self::CannotProvideExternal
        )
    }
}

impl fmt::Display for ResultCode {
    /// `NO_RESOURCES (8): the server has insufficient resources to ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.to_u8(), self.meaning())
    }
}
