//! PCP (RFC 6887) messages: the common request and response headers, the ANNOUNCE, MAP and
//! PEER opcodes with their opcode-specific data, and options.
//!
//! Layout rules enforced on decode (RFC 6887 §7): a message is 24 to 1100 bytes long and a
//! multiple of 4; the R bit is clear in requests and set in responses; options are padded to
//! 4 bytes and must not run past the end. Reserved fields are ignored on reception.
//!
//! A server's error response is a copy of the request with the header changed (§7.2), so it
//! normally carries the MAP or PEER data too. A server that could not parse the request may
//! send the 24-byte header alone; such an error response decodes with
//! [`ResponseData::HeaderOnly`].

mod address;
mod foreign;
mod option;
mod result;

use std::fmt;
use std::net::IpAddr;

pub use self::address::{address_from_wire, address_to_wire, canonical, unspecified_like};
pub use self::foreign::ForeignVersionAnswer;
pub use self::option::{PcpOption, is_mandatory_code};
pub use self::result::ResultCode;
use crate::error::{DecodeError, EncodeError};
use crate::wire::Reader;
use crate::{Nonce, Protocol};

/// The PCP version number this codec speaks.
pub const VERSION: u8 = 2;
/// Largest PCP message, in bytes.
pub const MAX_MESSAGE_LEN: usize = 1100;
/// Size of the common request and response headers.
pub const HEADER_LEN: usize = 24;
/// Size of the MAP opcode data.
pub const MAP_DATA_LEN: usize = 36;
/// Size of the PEER opcode data.
pub const PEER_DATA_LEN: usize = 56;
/// The R bit: set in responses, clear in requests (top bit of the second byte).
pub const RESPONSE_BIT: u8 = 0x80;

/// A PCP opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// 0: ANNOUNCE, to learn the server's epoch and to announce a restart (§14).
    Announce,
    /// 1: MAP, an inbound mapping (§11).
    Map,
    /// 2: PEER, an outbound mapping to one remote peer (§12).
    Peer,
}

impl Opcode {
    /// The 7-bit wire value.
    pub const fn code(self) -> u8 {
        match self {
            Self::Announce => 0,
            Self::Map => 1,
            Self::Peer => 2,
        }
    }

    /// The opcode for a 7-bit wire value.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Announce),
            1 => Some(Self::Map),
            2 => Some(Self::Peer),
            _ => None,
        }
    }

    /// Length of this opcode's data in a message.
    pub const fn data_len(self) -> usize {
        match self {
            Self::Announce => 0,
            Self::Map => MAP_DATA_LEN,
            Self::Peer => PEER_DATA_LEN,
        }
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Announce => "ANNOUNCE",
            Self::Map => "MAP",
            Self::Peer => "PEER",
        })
    }
}

/// The Protocol field of MAP and PEER: an IANA protocol number, 0 meaning all protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// 0: all protocols (with internal port 0; used to delete all of a client's mappings).
    All,
    /// 6: TCP.
    Tcp,
    /// 17: UDP.
    Udp,
    /// Any other protocol number; never holds 0, 6 or 17.
    Other(u8),
}

impl IpProtocol {
    /// The protocol for a wire value.
    pub const fn from_u8(number: u8) -> Self {
        match number {
            0 => Self::All,
            6 => Self::Tcp,
            17 => Self::Udp,
            other => Self::Other(other),
        }
    }

    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::All => 0,
            Self::Tcp => 6,
            Self::Udp => 17,
            Self::Other(other) => other,
        }
    }

    /// The transport protocol, if this is TCP or UDP.
    pub const fn transport(self) -> Option<Protocol> {
        match self {
            Self::Tcp => Some(Protocol::Tcp),
            Self::Udp => Some(Protocol::Udp),
            _ => None,
        }
    }
}

impl From<Protocol> for IpProtocol {
    fn from(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Tcp => Self::Tcp,
            Protocol::Udp => Self::Udp,
        }
    }
}

/// MAP opcode data (RFC 6887 §11.1), in requests and responses alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapData {
    /// The mapping nonce; a response must echo it.
    pub nonce: Nonce,
    /// The mapped protocol.
    pub protocol: IpProtocol,
    /// The client's port; 0 with [`IpProtocol::All`] means all ports.
    pub internal_port: u16,
    /// Request: the suggested external port (0: no preference). Response: the assigned one.
    pub external_port: u16,
    /// Request: the suggested external address ([`unspecified_like`] the client's address
    /// for no preference). Response: the assigned one.
    pub external_address: IpAddr,
}

impl MapData {
    /// MAP data for `protocol`/`internal_port` with no external port or address preference
    /// (external address in the family of `client_address`).
    pub fn new(nonce: Nonce, protocol: Protocol, internal_port: u16, client: IpAddr) -> Self {
        Self {
            nonce,
            protocol: protocol.into(),
            internal_port,
            external_port: 0,
            external_address: unspecified_like(client),
        }
    }
}

/// PEER opcode data (RFC 6887 §12.1), in requests and responses alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerData {
    /// The mapping nonce; a response must echo it.
    pub nonce: Nonce,
    /// The protocol of the flow.
    pub protocol: IpProtocol,
    /// The client's port.
    pub internal_port: u16,
    /// Request: the suggested external port. Response: the assigned one.
    pub external_port: u16,
    /// Request: the suggested external address. Response: the assigned one.
    pub external_address: IpAddr,
    /// The remote peer's port.
    pub remote_peer_port: u16,
    /// The remote peer's address.
    pub remote_peer_address: IpAddr,
}

/// The opcode-specific data of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpcodeData {
    /// ANNOUNCE carries none.
    Announce,
    /// MAP data.
    Map(MapData),
    /// PEER data.
    Peer(PeerData),
}

impl OpcodeData {
    /// The opcode this data belongs to.
    pub const fn opcode(&self) -> Opcode {
        match self {
            Self::Announce => Opcode::Announce,
            Self::Map(_) => Opcode::Map,
            Self::Peer(_) => Opcode::Peer,
        }
    }
}

/// The opcode-specific data of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseData {
    /// ANNOUNCE carries none.
    Announce,
    /// MAP data.
    Map(MapData),
    /// PEER data.
    Peer(PeerData),
    /// An error response with the 24-byte header alone, for this opcode. Decoding yields it
    /// only for MAP and PEER with a result other than success (an ANNOUNCE response has no
    /// data anyway), and it is encoded without options, which could not follow.
    HeaderOnly(Opcode),
}

impl ResponseData {
    /// The opcode this data belongs to.
    pub const fn opcode(&self) -> Opcode {
        match self {
            Self::Announce => Opcode::Announce,
            Self::Map(_) => Opcode::Map,
            Self::Peer(_) => Opcode::Peer,
            Self::HeaderOnly(opcode) => *opcode,
        }
    }
}

impl From<OpcodeData> for ResponseData {
    fn from(data: OpcodeData) -> Self {
        match data {
            OpcodeData::Announce => Self::Announce,
            OpcodeData::Map(map) => Self::Map(map),
            OpcodeData::Peer(peer) => Self::Peer(peer),
        }
    }
}

/// A PCP request (RFC 6887 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    /// Requested lifetime in seconds; 0 deletes the mapping (and must be 0 for ANNOUNCE).
    pub lifetime: u32,
    /// The source address the client sends the request from; the server answers
    /// ADDRESS_MISMATCH if it sees another.
    pub client_address: IpAddr,
    /// The opcode and its data.
    pub data: OpcodeData,
    /// Options, in the order they are sent.
    pub options: Vec<PcpOption>,
}

impl Request {
    /// An ANNOUNCE request (lifetime 0).
    pub fn announce(client_address: IpAddr) -> Self {
        Self {
            lifetime: 0,
            client_address,
            data: OpcodeData::Announce,
            options: Vec::new(),
        }
    }

    /// A MAP request; lifetime 0 deletes the mapping.
    pub fn map(client_address: IpAddr, map: MapData, lifetime: u32) -> Self {
        Self {
            lifetime,
            client_address,
            data: OpcodeData::Map(map),
            options: Vec::new(),
        }
    }

    /// A PEER request.
    pub fn peer(client_address: IpAddr, peer: PeerData, lifetime: u32) -> Self {
        Self {
            lifetime,
            client_address,
            data: OpcodeData::Peer(peer),
            options: Vec::new(),
        }
    }

    /// The request with `option` appended.
    #[must_use]
    pub fn with_option(mut self, option: PcpOption) -> Self {
        self.options.push(option);
        self
    }

    /// The opcode.
    pub const fn opcode(&self) -> Opcode {
        self.data.opcode()
    }

    /// The mapping nonce, for MAP and PEER.
    pub const fn nonce(&self) -> Option<Nonce> {
        match &self.data {
            OpcodeData::Announce => None,
            OpcodeData::Map(map) => Some(map.nonce),
            OpcodeData::Peer(peer) => Some(peer.nonce),
        }
    }

    /// The code of the first option that this codec does not know and that is mandatory to
    /// process. A server answers such a request with UNSUPP_OPTION (§7.3).
    pub fn unknown_mandatory_option(&self) -> Option<u8> {
        first_unknown_mandatory(&self.options)
    }

    /// Whether the request carries an unknown option that is mandatory to process.
    pub fn has_unknown_mandatory_option(&self) -> bool {
        self.unknown_mandatory_option().is_some()
    }

    /// The request's wire form.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.opcode().data_len());
        out.extend_from_slice(&[VERSION, self.opcode().code(), 0, 0]);
        out.extend_from_slice(&self.lifetime.to_be_bytes());
        out.extend_from_slice(&address_to_wire(self.client_address));
        match &self.data {
            OpcodeData::Announce => {}
            OpcodeData::Map(map) => encode_map(map, &mut out),
            OpcodeData::Peer(peer) => encode_peer(peer, &mut out),
        }
        finish(out, &self.options)
    }

    /// Decodes a request, as a server receives it.
    ///
    /// The version byte is checked first, so a NAT-PMP request gives
    /// [`DecodeError::UnsupportedVersion`] rather than a length error.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let what = "PCP request header";
        check_layout(bytes, what)?;
        r.skip(1, what)?; // Version, checked above.
        let r_opcode = r.u8(what)?;
        if r_opcode & RESPONSE_BIT != 0 {
            return Err(DecodeError::malformed(
                "R bit",
                1,
                "response bit set in a request",
            ));
        }
        let opcode = opcode(r_opcode)?;
        r.skip(2, what)?; // Reserved.
        let lifetime = r.u32(what)?;
        let client_address = address_from_wire(r.array(what)?);
        let data = match opcode {
            Opcode::Announce => OpcodeData::Announce,
            Opcode::Map => OpcodeData::Map(decode_map(&mut r)?),
            Opcode::Peer => OpcodeData::Peer(decode_peer(&mut r)?),
        };
        let options = option::decode_options(&mut r)?;
        Ok(Self {
            lifetime,
            client_address,
            data,
            options,
        })
    }
}

/// A PCP response (RFC 6887 §7.2), including the server's unsolicited ANNOUNCE and MAP
/// responses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Response {
    /// The result code.
    pub result: ResultCode,
    /// On success, the mapping's lifetime in seconds; on error, how long the same request
    /// would get the same error (RFC 6887 §7.2): a retry hint, never a grant (see
    /// [`Response::retry_after`]).
    pub lifetime: u32,
    /// The server's epoch time, seconds since its mapping state began (§8.5).
    pub epoch: u32,
    /// The opcode and its data.
    pub data: ResponseData,
    /// Options, as the server sent them.
    pub options: Vec<PcpOption>,
}

impl Response {
    /// The response a server sends to `request`: a copy of its opcode data and options with
    /// the given header fields (§7.2, §8.3). On success the caller then fills in the assigned
    /// external port and address.
    pub fn answering(request: &Request, result: ResultCode, lifetime: u32, epoch: u32) -> Self {
        Self {
            result,
            lifetime,
            epoch,
            data: request.data.into(),
            options: request.options.clone(),
        }
    }

    /// The opcode.
    pub const fn opcode(&self) -> Opcode {
        self.data.opcode()
    }

    /// For an error answer, how long the same request would get the same error: when to
    /// ask again, if the server gave a non-zero lifetime. `None` for a success, whose
    /// lifetime is the mapping's.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        if self.result.is_success() {
            return None;
        }
        foreign::retry_hint(self.lifetime)
    }

    /// The MAP data of a successful answer: what the server assigned. An error answer
    /// grants nothing (RFC 6887 §7.2, §11.4), so its address and port fields, whatever
    /// they hold, are not returned here; [`Response::map`] gives them as they came.
    pub const fn granted_map(&self) -> Option<&MapData> {
        match &self.data {
            ResponseData::Map(map) if self.result.is_success() => Some(map),
            _ => None,
        }
    }

    /// The MAP data, if present, as the server sent it (for an error answer, fields that
    /// mean nothing).
    pub const fn map(&self) -> Option<&MapData> {
        match &self.data {
            ResponseData::Map(map) => Some(map),
            _ => None,
        }
    }

    /// The PEER data, if present.
    pub const fn peer(&self) -> Option<&PeerData> {
        match &self.data {
            ResponseData::Peer(peer) => Some(peer),
            _ => None,
        }
    }

    /// The mapping nonce, if MAP or PEER data is present.
    pub const fn nonce(&self) -> Option<Nonce> {
        match &self.data {
            ResponseData::Map(map) => Some(map.nonce),
            ResponseData::Peer(peer) => Some(peer.nonce),
            _ => None,
        }
    }

    /// The code of the first option that this codec does not know and that is mandatory to
    /// process.
    pub fn unknown_mandatory_option(&self) -> Option<u8> {
        first_unknown_mandatory(&self.options)
    }

    /// Whether the response carries an unknown option that is mandatory to process.
    pub fn has_unknown_mandatory_option(&self) -> bool {
        self.unknown_mandatory_option().is_some()
    }

    /// The response's wire form.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.opcode().data_len());
        out.extend_from_slice(&[
            VERSION,
            RESPONSE_BIT | self.opcode().code(),
            0,
            self.result.to_u8(),
        ]);
        out.extend_from_slice(&self.lifetime.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&[0; 12]);
        match &self.data {
            ResponseData::Announce | ResponseData::HeaderOnly(_) => {}
            ResponseData::Map(map) => encode_map(map, &mut out),
            ResponseData::Peer(peer) => encode_peer(peer, &mut out),
        }
        let options: &[PcpOption] = match self.data {
            // Options cannot follow absent opcode data: they would be read as that data.
            ResponseData::HeaderOnly(Opcode::Map | Opcode::Peer) => &[],
            _ => &self.options,
        };
        finish(out, options)
    }

    /// Decodes a response, as a client receives it.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let what = "PCP response header";
        check_layout(bytes, what)?;
        r.skip(1, what)?; // Version, checked above.
        let r_opcode = r.u8(what)?;
        if r_opcode & RESPONSE_BIT == 0 {
            return Err(DecodeError::malformed(
                "R bit",
                1,
                "response bit clear in a response",
            ));
        }
        let opcode = opcode(r_opcode)?;
        r.skip(1, what)?; // Reserved.
        let result = ResultCode::from_u8(r.u8(what)?);
        let lifetime = r.u32(what)?;
        let epoch = r.u32(what)?;
        r.skip(12, what)?; // Reserved.
        let header_only = r.remaining() == 0 && !result.is_success();
        let data = match opcode {
            Opcode::Announce => ResponseData::Announce,
            Opcode::Map | Opcode::Peer if header_only => ResponseData::HeaderOnly(opcode),
            Opcode::Map => ResponseData::Map(decode_map(&mut r)?),
            Opcode::Peer => ResponseData::Peer(decode_peer(&mut r)?),
        };
        let options = option::decode_options(&mut r)?;
        Ok(Self {
            result,
            lifetime,
            epoch,
            data,
            options,
        })
    }
}

fn first_unknown_mandatory(options: &[PcpOption]) -> Option<u8> {
    options
        .iter()
        .find(|option| option.is_unknown_mandatory())
        .map(PcpOption::code)
}

/// Version, length limit and 4-byte alignment (RFC 6887 §7, §8.3).
fn check_layout(bytes: &[u8], header: &'static str) -> Result<(), DecodeError> {
    let Some(&version) = bytes.first() else {
        return Err(DecodeError::too_short(header, HEADER_LEN, 0));
    };
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion {
            version,
            expected: VERSION,
        });
    }
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::too_short(header, HEADER_LEN, bytes.len()));
    }
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(DecodeError::malformed(
            "length",
            MAX_MESSAGE_LEN,
            "longer than 1100 bytes",
        ));
    }
    if bytes.len() % 4 != 0 {
        return Err(DecodeError::malformed(
            "length",
            bytes.len(),
            "not a multiple of 4 bytes",
        ));
    }
    Ok(())
}

fn opcode(r_opcode: u8) -> Result<Opcode, DecodeError> {
    let code = r_opcode & !RESPONSE_BIT;
    Opcode::from_code(code).ok_or(DecodeError::UnknownOpcode { opcode: code })
}

fn finish(mut out: Vec<u8>, options: &[PcpOption]) -> Result<Vec<u8>, EncodeError> {
    let length = out.len() + options.iter().map(PcpOption::encoded_len).sum::<usize>();
    if length > MAX_MESSAGE_LEN {
        return Err(EncodeError::MessageTooLong {
            length,
            limit: MAX_MESSAGE_LEN,
        });
    }
    for option in options {
        option.encode_into(&mut out);
    }
    Ok(out)
}

fn encode_mapping_part(
    nonce: &Nonce,
    protocol: IpProtocol,
    internal_port: u16,
    external_port: u16,
    external_address: IpAddr,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(nonce.as_bytes());
    out.extend_from_slice(&[protocol.to_u8(), 0, 0, 0]);
    out.extend_from_slice(&internal_port.to_be_bytes());
    out.extend_from_slice(&external_port.to_be_bytes());
    out.extend_from_slice(&address_to_wire(external_address));
}

fn encode_map(map: &MapData, out: &mut Vec<u8>) {
    encode_mapping_part(
        &map.nonce,
        map.protocol,
        map.internal_port,
        map.external_port,
        map.external_address,
        out,
    );
}

fn encode_peer(peer: &PeerData, out: &mut Vec<u8>) {
    encode_mapping_part(
        &peer.nonce,
        peer.protocol,
        peer.internal_port,
        peer.external_port,
        peer.external_address,
        out,
    );
    out.extend_from_slice(&peer.remote_peer_port.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&address_to_wire(peer.remote_peer_address));
}

fn decode_mapping_part(r: &mut Reader<'_>, what: &'static str) -> Result<MapData, DecodeError> {
    r.require(MAP_DATA_LEN, what)?;
    let nonce = Nonce(r.array(what)?);
    let protocol = IpProtocol::from_u8(r.u8(what)?);
    r.skip(3, what)?; // Reserved.
    let internal_port = r.u16(what)?;
    let external_port = r.u16(what)?;
    let external_address = address_from_wire(r.array(what)?);
    Ok(MapData {
        nonce,
        protocol,
        internal_port,
        external_port,
        external_address,
    })
}

fn decode_map(r: &mut Reader<'_>) -> Result<MapData, DecodeError> {
    decode_mapping_part(r, "PCP MAP opcode data")
}

fn decode_peer(r: &mut Reader<'_>) -> Result<PeerData, DecodeError> {
    let what = "PCP PEER opcode data";
    r.require(PEER_DATA_LEN, what)?;
    let map = decode_mapping_part(r, what)?;
    let remote_peer_port = r.u16(what)?;
    r.skip(2, what)?; // Reserved.
    let remote_peer_address = address_from_wire(r.array(what)?);
    Ok(PeerData {
        nonce: map.nonce,
        protocol: map.protocol,
        internal_port: map.internal_port,
        external_port: map.external_port,
        external_address: map.external_address,
        remote_peer_port,
        remote_peer_address,
    })
}

#[cfg(test)]
mod tests;
