//! The pure `RTM_GET` exchange of a BSD routing socket (macOS, iOS, FreeBSD): the request
//! for the route toward one destination (what `route -n get` sends) and the kernel's
//! answer, with its next hop, interface and source address.
//!
//! The request is a `struct rt_msghdr` of the system's [`Layout`] with `RTA_DST` (the
//! destination) and `RTA_IFP` (an empty link-layer address, asking the kernel to name the
//! interface); the answer is the same header with `RTA_DST`, `RTA_GATEWAY`, `RTA_NETMASK`,
//! `RTA_IFP` and `RTA_IFA` (the interface's address toward the destination) filled in.

use std::net::IpAddr;

use super::{
    AF_INET, HeaderLen, Layout, RTAX_DST, RTAX_GATEWAY, RTAX_NETMASK, RTF_GATEWAY, RTF_HOST,
    RTF_UP, RTM_GET, ip_of, read_u16, read_u32, without_embedded_scope,
};
use crate::route::Family;

/// `RTF_STATIC`, which `route get` sets too.
const RTF_STATIC: u32 = 0x800;
/// `RTAX_IFP` and `RTAX_IFA`.
const RTAX_IFP: u32 = 4;
const RTAX_IFA: u32 = 5;
/// `AF_LINK`, the same on every BSD.
const AF_LINK: u8 = 18;
/// Offsets of `rtm_seq` and `rtm_errno` on macOS and FreeBSD.
const SEQ_OFFSET: usize = 20;
const ERRNO_OFFSET: usize = 24;

/// The answer to an `RTM_GET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteReply {
    /// `rtm_index`: the outgoing interface.
    pub(crate) interface_index: u16,
    /// The next hop, where the route goes through one (`RTF_GATEWAY`).
    pub(crate) gateway: Option<IpAddr>,
    /// `RTA_IFA`: the source address on that interface.
    pub(crate) source: Option<IpAddr>,
    /// The name in `RTA_IFP`'s link-layer address, where given.
    pub(crate) interface_name: Option<String>,
    /// `rtm_flags`.
    pub(crate) flags: u32,
    /// `rtm_errno`, 0 on success.
    pub(crate) errno: i32,
}

/// An `RTM_GET` request for `destination` with sequence number `seq`; `link_len` is
/// `sizeof(struct sockaddr_dl)` of the system. `None` for a layout whose header length is
/// not fixed (OpenBSD), which this exchange does not serve.
pub(crate) fn encode_get(
    layout: &Layout,
    destination: IpAddr,
    seq: i32,
    link_len: u8,
) -> Option<Vec<u8>> {
    let HeaderLen::Fixed(header_len) = layout.header_len else {
        return None;
    };
    let mut message = vec![0u8; header_len];
    message[2] = layout.version;
    message[3] = RTM_GET;
    let flags = RTF_UP | RTF_GATEWAY | RTF_HOST | RTF_STATIC;
    message[layout.flags_offset..layout.flags_offset + 4].copy_from_slice(&flags.to_ne_bytes());
    let addrs: u32 = (1 << RTAX_DST) | (1 << RTAX_IFP);
    message[layout.addrs_offset..layout.addrs_offset + 4].copy_from_slice(&addrs.to_ne_bytes());
    message[SEQ_OFFSET..SEQ_OFFSET + 4].copy_from_slice(&seq.to_ne_bytes());
    let mut sockaddr = match destination {
        IpAddr::V4(v4) => {
            let mut sin = vec![16, AF_INET, 0, 0];
            sin.extend_from_slice(&v4.octets());
            sin.resize(16, 0);
            sin
        }
        IpAddr::V6(v6) => {
            let mut sin6 = vec![28, layout.af_inet6, 0, 0, 0, 0, 0, 0];
            sin6.extend_from_slice(&v6.octets());
            sin6.resize(28, 0);
            sin6
        }
    };
    sockaddr.resize(layout.sockaddr_space(sockaddr.len()), 0);
    message.extend_from_slice(&sockaddr);
    let mut link = vec![0u8; usize::from(link_len)];
    if let Some(first) = link.get_mut(..2) {
        first.copy_from_slice(&[link_len, AF_LINK]);
    }
    link.resize(layout.sockaddr_space(link.len()), 0);
    message.extend_from_slice(&link);
    let len = u16::try_from(message.len()).ok()?;
    message[..2].copy_from_slice(&len.to_ne_bytes());
    Some(message)
}

/// The sequence number and type of a message read from a routing socket, to find the
/// answer among the other processes' messages.
pub(crate) fn seq_and_type(message: &[u8]) -> Option<(i32, u8)> {
    let seq = read_u32(message, SEQ_OFFSET)?;
    Some((i32::from_ne_bytes(seq.to_ne_bytes()), *message.get(3)?))
}

/// Decodes the answer to an `RTM_GET` of `family`.
///
/// # Errors
/// `Err(reason)` when the message is shorter than its header or a socket address runs past
/// its end.
pub(crate) fn decode_get(
    message: &[u8],
    layout: &Layout,
    family: Family,
) -> Result<RouteReply, String> {
    let HeaderLen::Fixed(header_len) = layout.header_len else {
        return Err("this system's header length is not fixed".to_owned());
    };
    let too_short = || {
        format!(
            "message of {} bytes is shorter than its {header_len}-byte header",
            message.len()
        )
    };
    if message.len() < header_len {
        return Err(too_short());
    }
    let interface_index = read_u16(message, layout.index_offset).ok_or_else(too_short)?;
    let flags = read_u32(message, layout.flags_offset).ok_or_else(too_short)?;
    let addrs = read_u32(message, layout.addrs_offset).ok_or_else(too_short)?;
    let errno = read_u32(message, ERRNO_OFFSET).ok_or_else(too_short)?;
    let mut reply = RouteReply {
        interface_index,
        gateway: None,
        source: None,
        interface_name: None,
        flags,
        errno: i32::from_ne_bytes(errno.to_ne_bytes()),
    };
    let mut cursor = header_len;
    for bit in (0..32).filter(|bit| addrs & (1 << bit) != 0) {
        let rest = message.get(cursor..).unwrap_or_default();
        let Some(&sa_len) = rest.first() else {
            break;
        };
        let sockaddr = rest.get(..usize::from(sa_len)).ok_or_else(|| {
            format!(
                "socket address {bit} of {sa_len} bytes runs past the message's end ({} bytes left)",
                rest.len()
            )
        })?;
        match bit {
            RTAX_GATEWAY if flags & RTF_GATEWAY != 0 => {
                reply.gateway = ip_of(sockaddr, layout, family).map(without_embedded_scope);
            }
            RTAX_IFA => {
                reply.source = ip_of(sockaddr, layout, family).map(without_embedded_scope);
            }
            RTAX_IFP => reply.interface_name = link_name(sockaddr),
            RTAX_DST | RTAX_NETMASK => {}
            _ => {}
        }
        cursor = cursor.saturating_add(layout.sockaddr_space(usize::from(sa_len)));
    }
    Ok(reply)
}

/// The interface name of a `struct sockaddr_dl`: `sdl_nlen` (byte 5) bytes at `sdl_data`
/// (byte 8), the same on every BSD.
fn link_name(sockaddr: &[u8]) -> Option<String> {
    if *sockaddr.get(1)? != AF_LINK {
        return None;
    }
    let len = usize::from(*sockaddr.get(5)?);
    let name = sockaddr.get(8..8usize.checked_add(len)?)?;
    (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sockaddr_in(address: [u8; 4]) -> Vec<u8> {
        let mut bytes = vec![16, AF_INET, 0, 0];
        bytes.extend_from_slice(&address);
        bytes.resize(16, 0);
        bytes
    }

    /// A macOS answer: via 192.168.1.1 out of en0 (index 4) from 192.168.1.20.
    fn apple_answer() -> Vec<u8> {
        let layout = Layout::APPLE;
        let mut message = vec![0u8; 92];
        message[2] = layout.version;
        message[3] = RTM_GET;
        message[4..6].copy_from_slice(&4u16.to_ne_bytes());
        message[8..12].copy_from_slice(&(RTF_UP | RTF_GATEWAY).to_ne_bytes());
        let addrs: u32 = 0b11_0111;
        message[12..16].copy_from_slice(&addrs.to_ne_bytes());
        message[20..24].copy_from_slice(&77i32.to_ne_bytes());
        message.extend(sockaddr_in([0, 0, 0, 0]));
        message.extend(sockaddr_in([192, 168, 1, 1]));
        // A netmask cut to its length byte and family, padded to 4.
        message.extend([0, 0, 0, 0]);
        // sockaddr_dl of 20 bytes: len, AF_LINK, index 4, type 6, nlen 3, alen 0, slen 0,
        // "en0".
        let mut link = vec![20, AF_LINK, 4, 0, 6, 3, 0, 0];
        link.extend_from_slice(b"en0");
        link.resize(20, 0);
        message.extend(link);
        message.extend(sockaddr_in([192, 168, 1, 20]));
        let len = message.len() as u16;
        message[..2].copy_from_slice(&len.to_ne_bytes());
        message
    }

    #[test]
    fn an_answer_names_the_next_hop_the_interface_and_the_source() {
        let answer = apple_answer();
        assert_eq!(seq_and_type(&answer), Some((77, RTM_GET)));
        let reply = decode_get(&answer, &Layout::APPLE, Family::V4).unwrap();
        assert_eq!(
            reply,
            RouteReply {
                interface_index: 4,
                gateway: Some("192.168.1.1".parse().unwrap()),
                source: Some("192.168.1.20".parse().unwrap()),
                interface_name: Some("en0".to_owned()),
                flags: RTF_UP | RTF_GATEWAY,
                errno: 0,
            }
        );
        for cut in 0..answer.len() {
            let _ = decode_get(&answer[..cut], &Layout::APPLE, Family::V4);
        }
        assert!(decode_get(&answer[..50], &Layout::APPLE, Family::V4).is_err());
    }

    #[test]
    fn a_request_has_the_destination_and_an_empty_link_address() {
        let request = encode_get(
            &Layout::FREEBSD_64,
            "2606:4700::1111".parse().unwrap(),
            9,
            54,
        )
        .unwrap();
        // 152-byte header, sockaddr_in6 of 28 bytes padded to 32, sockaddr_dl 54 to 56.
        assert_eq!(request.len(), 152 + 32 + 56);
        assert_eq!(u16::from_ne_bytes([request[0], request[1]]), 240);
        assert_eq!((request[2], request[3]), (5, RTM_GET));
        assert_eq!(read_u32(&request, 12), Some(0b1_0001));
        assert_eq!(seq_and_type(&request), Some((9, RTM_GET)));
        assert_eq!(&request[152..154], &[28, 28]);
        assert_eq!(&request[184..186], &[54, AF_LINK]);
        assert_eq!(
            encode_get(&Layout::OPENBSD, "1.1.1.1".parse().unwrap(), 1, 20),
            None
        );
    }
}
