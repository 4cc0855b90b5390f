//! PCP options (RFC 6887 §7.3, §13): THIRD_PARTY, PREFER_FAILURE, FILTER, and any other
//! option kept as raw bytes.
//!
//! An option is a 4-byte header (code, reserved, length) and `length` bytes of data, padded
//! with zero bytes to a multiple of 4. The length field does not count the padding. Codes
//! 0–127 are mandatory to process, 128–255 optional: a server must reject a request with an
//! unknown mandatory option (UNSUPP_OPTION) and may skip an unknown optional one. The codec
//! keeps unknown options as [`PcpOption::Unknown`] and the messages report whether one of
//! them is mandatory, so the caller can apply that rule.

use std::net::IpAddr;

use super::address::{address_from_wire, address_to_wire};
use crate::error::DecodeError;
use crate::wire::Reader;

/// One PCP option.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PcpOption {
    /// THIRD_PARTY (code 1, MAP and PEER): the mapping is for `internal_address`, not for the
    /// sender of the request (§13.1).
    ThirdParty {
        /// The internal address the mapping is for.
        internal_address: IpAddr,
    },
    /// PREFER_FAILURE (code 2, MAP only): fail rather than assign an external address or port
    /// other than the suggested one (§13.2).
    PreferFailure,
    /// FILTER (code 3, MAP only): only let in traffic from this remote peer prefix (§13.3).
    Filter {
        /// How many leading bits of `remote_peer_address` the filter compares; 0 removes all
        /// filters. Carried as on the wire; the server checks its range.
        prefix_length: u8,
        /// The remote peer's port; 0 means all ports.
        remote_peer_port: u16,
        /// The remote peer's address (prefix).
        remote_peer_address: IpAddr,
    },
    /// An option this codec does not know, kept as received. `code` is never 1, 2 or 3.
    Unknown {
        /// The option code; below 128 means mandatory to process.
        code: u8,
        /// The option data, without padding.
        data: Vec<u8>,
    },
}

impl PcpOption {
    /// Option code of THIRD_PARTY.
    pub const THIRD_PARTY: u8 = 1;
    /// Option code of PREFER_FAILURE.
    pub const PREFER_FAILURE: u8 = 2;
    /// Option code of FILTER.
    pub const FILTER: u8 = 3;
    /// Data length of THIRD_PARTY.
    pub const THIRD_PARTY_LEN: usize = 16;
    /// Data length of FILTER.
    pub const FILTER_LEN: usize = 20;

    /// The option code.
    pub fn code(&self) -> u8 {
        match self {
            Self::ThirdParty { .. } => Self::THIRD_PARTY,
            Self::PreferFailure => Self::PREFER_FAILURE,
            Self::Filter { .. } => Self::FILTER,
            Self::Unknown { code, .. } => *code,
        }
    }

    /// Whether a server must understand this option to process the request (code below 128).
    pub fn is_mandatory(&self) -> bool {
        is_mandatory_code(self.code())
    }

    /// Whether this is an option the codec does not know and that is mandatory to process.
    pub fn is_unknown_mandatory(&self) -> bool {
        matches!(self, Self::Unknown { code, .. } if is_mandatory_code(*code))
    }

    /// Length of the option data, without header and padding.
    pub fn data_len(&self) -> usize {
        match self {
            Self::ThirdParty { .. } => Self::THIRD_PARTY_LEN,
            Self::PreferFailure => 0,
            Self::Filter { .. } => Self::FILTER_LEN,
            Self::Unknown { data, .. } => data.len(),
        }
    }

    /// Bytes the option takes in a message: header, data and padding.
    pub fn encoded_len(&self) -> usize {
        4 + padded(self.data_len())
    }

    /// Appends the option. The caller has checked that the message stays within 1100
    /// bytes, so the length fits its 16-bit field.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        let length = u16::try_from(self.data_len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&[self.code(), 0]);
        out.extend_from_slice(&length.to_be_bytes());
        match self {
            Self::ThirdParty { internal_address } => {
                out.extend_from_slice(&address_to_wire(*internal_address));
            }
            Self::PreferFailure => {}
            Self::Filter {
                prefix_length,
                remote_peer_port,
                remote_peer_address,
            } => {
                out.extend_from_slice(&[0, *prefix_length]);
                out.extend_from_slice(&remote_peer_port.to_be_bytes());
                out.extend_from_slice(&address_to_wire(*remote_peer_address));
            }
            Self::Unknown { data, .. } => out.extend_from_slice(data),
        }
        out.resize(out.len() + padded(self.data_len()) - self.data_len(), 0);
    }

    /// Reads one option; `r` is positioned at its header.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let code = r.u8("PCP option header")?;
        r.skip(1, "PCP option header")?; // Reserved: ignored on reception.
        let length = usize::from(r.u16("PCP option header")?);
        if padded(length) > r.remaining() {
            return Err(DecodeError::malformed(
                "option length",
                start + 2,
                "option data runs past the end of the message",
            ));
        }
        let what = "PCP option data";
        let option = match code {
            Self::THIRD_PARTY => {
                expect_len(length, Self::THIRD_PARTY_LEN, start, "THIRD_PARTY length")?;
                Self::ThirdParty {
                    internal_address: address_from_wire(r.array(what)?),
                }
            }
            Self::PREFER_FAILURE => {
                expect_len(length, 0, start, "PREFER_FAILURE length")?;
                Self::PreferFailure
            }
            Self::FILTER => {
                expect_len(length, Self::FILTER_LEN, start, "FILTER length")?;
                r.skip(1, what)?; // Reserved.
                let prefix_length = r.u8(what)?;
                let remote_peer_port = r.u16(what)?;
                let remote_peer_address = address_from_wire(r.array(what)?);
                Self::Filter {
                    prefix_length,
                    remote_peer_port,
                    remote_peer_address,
                }
            }
            code => Self::Unknown {
                code,
                data: r.take(length, what)?.to_vec(),
            },
        };
        // Padding: its content is not checked, only that it is there.
        r.skip(padded(length) - length, "PCP option padding")?;
        Ok(option)
    }
}

/// Whether an option code is mandatory to process (0–127).
pub const fn is_mandatory_code(code: u8) -> bool {
    code < 128
}

/// Reads options until the end of the message.
pub(crate) fn decode_options(r: &mut Reader<'_>) -> Result<Vec<PcpOption>, DecodeError> {
    let mut options = Vec::new();
    while r.remaining() > 0 {
        options.push(PcpOption::decode(r)?);
    }
    Ok(options)
}

const fn padded(length: usize) -> usize {
    length.div_ceil(4) * 4
}

fn expect_len(
    length: usize,
    expected: usize,
    option_start: usize,
    field: &'static str,
) -> Result<(), DecodeError> {
    if length == expected {
        Ok(())
    } else {
        let reason = match expected {
            0 => "must be 0",
            16 => "must be 16",
            _ => "must be 20",
        };
        Err(DecodeError::malformed(field, option_start + 2, reason))
    }
}
