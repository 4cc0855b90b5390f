//! The pure NETLINK_ROUTE codec: `RTM_GETROUTE` requests (a lookup of the route the kernel
//! would pick toward one destination, what `ip route get` asks, and a dump of a family's
//! routes), `RTM_GETLINK` (one interface, or all) and `RTM_GETADDR` (every address), and
//! the kernel's answers and notifications (`RTM_NEWROUTE`, `RTM_NEWLINK` with its
//! `IFLA_LINKINFO` kind, `RTM_NEWADDR` with its flags, the `RTM_DEL*` messages,
//! `NLMSG_ERROR`, `NLMSG_DONE`).
//!
//! Layouts from the kernel's UAPI headers: `<linux/netlink.h>` (`struct nlmsghdr`, 16 bytes:
//! `u32 len, u16 type, u16 flags, u32 seq, u32 pid`; `struct nlmsgerr`: `int error` then the
//! request's header) and `<linux/rtnetlink.h>` (`struct rtmsg`, 12 bytes: `family, dst_len,
//! src_len, tos, table, protocol, scope, type` as `u8`, then `u32 flags`; `struct rtattr`:
//! `u16 len, u16 type`, payload; `struct rtnexthop`, 8 bytes: `u16 len, u8 flags, u8 hops,
//! int ifindex`, then attributes; `struct ifinfomsg`, 16 bytes: `u8 family, u8 pad, u16
//! type, int index, u32 flags, u32 change`), and `<linux/if_addr.h>` (`struct ifaddrmsg`, 8
//! bytes: `u8 family, prefixlen, flags, scope, u32 index`). Every field is in the machine's byte order, and messages
//! and attributes are padded to 4 bytes.
//!
//! Nothing here does I/O, so captured and hand-built answers are tested on any machine, and
//! nothing here panics on malformed bytes: a length that runs past its buffer is an
//! [`Error::MalformedNetlink`], and the attributes and next hops kept are bounded.

// Only Linux and Android send these requests; the tests and the fuzz target use it all.
#![cfg_attr(
    not(any(target_os = "linux", target_os = "android", test)),
    allow(dead_code)
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::route::Family;

mod select;

#[cfg_attr(
    not(any(target_os = "linux", target_os = "android", test)),
    allow(unused_imports)
)]
pub(crate) use select::{default_hops, pick_source};

/// `sizeof(struct nlmsghdr)`.
const HEADER_LEN: usize = 16;
/// `sizeof(struct rtmsg)`.
const RTMSG_LEN: usize = 12;
/// `sizeof(struct rtnexthop)`.
const RTNEXTHOP_LEN: usize = 8;
/// `sizeof(struct ifinfomsg)`.
const IFINFOMSG_LEN: usize = 16;
/// `sizeof(struct ifaddrmsg)`.
const IFADDRMSG_LEN: usize = 8;

/// Message types (`<linux/netlink.h>`, `<linux/rtnetlink.h>`).
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_GETADDR: u16 = 22;
pub(crate) const RTM_NEWROUTE: u16 = 24;
pub(crate) const RTM_DELROUTE: u16 = 25;
pub(crate) const RTM_GETROUTE: u16 = 26;

/// The notification groups a change monitor joins (`enum rtnetlink_groups`, numbers for
/// `NETLINK_ADD_MEMBERSHIP`, not the `RTMGRP_*` bit masks): links, IPv4 and IPv6
/// addresses, IPv4 and IPv6 routes. Only Linux and Android open such a monitor (the codec
/// itself builds everywhere, for its tests and the fuzz target).
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
pub(crate) const CHANGE_GROUPS: [u32; 5] = [1, 5, 7, 9, 11];

/// Header flags.
const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_ROOT | NLM_F_MATCH`.
const NLM_F_DUMP: u16 = 0x300;

/// `rtm_flags`: answer with the table entry that matched (its metric and table) rather than
/// the cached route built from it. Linux 4.13+; older kernels ignore it and answer the
/// cached route, which has the same gateway and interface but no metric.
const RTM_F_FIB_MATCH: u32 = 0x2000;

/// Route attributes (`enum rtattr_type_t`).
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;

/// Link attributes (`<linux/if_link.h>`).
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
/// Inside `IFLA_LINKINFO`: the driver's kind, e.g. `bridge`, `veth`, `wireguard`.
const IFLA_INFO_KIND: u16 = 1;

/// Address attributes (`<linux/if_addr.h>`).
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;

/// `AF_UNSPEC`: every family.
const AF_UNSPEC: u8 = 0;

/// Linux's address families (the same on every Linux machine, Android included).
pub(crate) const AF_INET: u8 = 2;
pub(crate) const AF_INET6: u8 = 10;

/// `rtm_type` of an ordinary forwarding route; others (`RTN_UNREACHABLE`, `RTN_BLACKHOLE`,
/// `RTN_LOCAL`, ...) do not lead to a gateway.
pub(crate) const RTN_UNICAST: u8 = 1;

/// `RT_TABLE_MAIN`, the table ordinary routes live in.
pub(crate) const RT_TABLE_MAIN: u32 = 254;

/// The most next hops of a multipath route kept; the rest are ignored.
const MAX_NEXT_HOPS: usize = 32;

/// The kernel's family number of `family`.
fn family_number(family: Family) -> u8 {
    match family {
        Family::V4 => AF_INET,
        Family::V6 => AF_INET6,
    }
}

/// An `RTM_GETROUTE` request for the route the kernel would pick toward `destination`
/// (`ip route get`), asking for the table entry that matched so its metric comes back.
/// The kernel only looks the route up: nothing is sent toward `destination`.
pub(crate) fn encode_lookup(destination: IpAddr, seq: u32, fib_match: bool) -> Vec<u8> {
    let (family, dst_len, address): (u8, u8, Vec<u8>) = match destination {
        IpAddr::V4(v4) => (AF_INET, 32, v4.octets().to_vec()),
        IpAddr::V6(v6) => (AF_INET6, 128, v6.octets().to_vec()),
    };
    let flags = if fib_match { RTM_F_FIB_MATCH } else { 0 };
    let mut message = header(RTM_GETROUTE, NLM_F_REQUEST, seq);
    message.extend_from_slice(&rtmsg(family, dst_len, flags));
    message.extend_from_slice(&(4 + address.len() as u16).to_ne_bytes());
    message.extend_from_slice(&RTA_DST.to_ne_bytes());
    message.extend_from_slice(&address);
    finish(message)
}

/// An `RTM_GETROUTE` dump request: every route of `family`, in every table.
pub(crate) fn encode_dump(family: Family, seq: u32) -> Vec<u8> {
    let mut message = header(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
    message.extend_from_slice(&rtmsg(family_number(family), 0, 0));
    finish(message)
}

/// An `RTM_GETLINK` request: for interface `index`, or a dump of every interface.
pub(crate) fn encode_link_request(index: Option<u32>, seq: u32) -> Vec<u8> {
    let flags = match index {
        Some(_) => NLM_F_REQUEST,
        None => NLM_F_REQUEST | NLM_F_DUMP,
    };
    let mut message = header(RTM_GETLINK, flags, seq);
    let mut ifinfomsg = [0u8; IFINFOMSG_LEN];
    ifinfomsg[0] = AF_UNSPEC;
    let index = i32::try_from(index.unwrap_or(0)).unwrap_or(0);
    ifinfomsg[4..8].copy_from_slice(&index.to_ne_bytes());
    message.extend_from_slice(&ifinfomsg);
    finish(message)
}

/// An `RTM_GETADDR` dump request: every address of every family.
pub(crate) fn encode_address_dump(seq: u32) -> Vec<u8> {
    let mut message = header(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
    message.extend_from_slice(&[AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0]);
    finish(message)
}

/// A header whose length [`finish`] fills in; the port id is 0, which the kernel reads as
/// "the sending socket".
fn header(message_type: u16, flags: u16, seq: u32) -> Vec<u8> {
    let mut message = Vec::with_capacity(64);
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(&message_type.to_ne_bytes());
    message.extend_from_slice(&flags.to_ne_bytes());
    message.extend_from_slice(&seq.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message
}

fn rtmsg(family: u8, dst_len: u8, flags: u32) -> [u8; RTMSG_LEN] {
    let mut rtmsg = [0; RTMSG_LEN];
    rtmsg[0] = family;
    rtmsg[1] = dst_len;
    rtmsg[8..].copy_from_slice(&flags.to_ne_bytes());
    rtmsg
}

fn finish(mut message: Vec<u8>) -> Vec<u8> {
    // Requests are a few dozen bytes: the length always fits.
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    message[..4].copy_from_slice(&len.to_ne_bytes());
    message
}

/// One message of an answer, with the header fields the socket shell checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    /// `nlmsg_seq`: the request this answers.
    pub(crate) seq: u32,
    /// `nlmsg_pid`: the port id of the socket the answer is for.
    pub(crate) port_id: u32,
    /// What the message says.
    pub(crate) body: Body,
}

/// The body of an answer's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    /// `RTM_NEWROUTE`: one route.
    Route(Route),
    /// `RTM_NEWLINK`: one interface.
    Link(Link),
    /// `RTM_NEWADDR`: one address.
    Address(Address),
    /// `NLMSG_ERROR` with a non-zero code: the request failed with this errno (positive).
    Error(i32),
    /// `NLMSG_ERROR` with code 0: an acknowledgement.
    Ack,
    /// `NLMSG_DONE`: the end of a dump.
    Done,
    /// Any other type (`NLMSG_NOOP`, the `RTM_DEL*` notifications, other `RTM_*`),
    /// skipped by requests; the change monitor reads the type.
    Other(u16),
}

impl Body {
    /// True for a message that tells of a change of the links, addresses or routes (what
    /// the monitor's groups carry): `RTM_NEWLINK` through `RTM_DELROUTE`.
    pub(crate) fn is_change(&self) -> bool {
        match self {
            Body::Route(_) | Body::Link(_) | Body::Address(_) => true,
            Body::Other(kind) => (RTM_NEWLINK..=RTM_DELROUTE).contains(kind),
            Body::Error(_) | Body::Ack | Body::Done => false,
        }
    }
}

/// An interface as `RTM_NEWLINK` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Link {
    /// `ifi_index`.
    pub(crate) index: u32,
    /// `ifi_type`: the `ARPHRD_*` hardware type.
    pub(crate) hardware_type: u16,
    /// `ifi_flags`: `IFF_UP`, `IFF_LOOPBACK`, `IFF_POINTOPOINT`, ...
    pub(crate) flags: u32,
    /// `IFLA_IFNAME`, empty when absent.
    pub(crate) name: String,
    /// `IFLA_INFO_KIND` inside `IFLA_LINKINFO`: the driver of a virtual device (`bridge`,
    /// `veth`, `wireguard`, `tun`, ...); absent for hardware.
    pub(crate) kind: Option<String>,
}

/// An address as `RTM_NEWADDR` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    /// `ifa_index`: the interface that holds it.
    pub(crate) index: u32,
    /// `ifa_prefixlen`.
    pub(crate) prefix_len: u8,
    /// The local address: `IFA_LOCAL` where present (on a point-to-point link
    /// `IFA_ADDRESS` is the peer's), else `IFA_ADDRESS`.
    pub(crate) address: IpAddr,
    /// `IFA_FLAGS` where present (it has the bits above the eighth), else `ifa_flags`:
    /// `IFA_F_SECONDARY`/`IFA_F_TEMPORARY`, `IFA_F_DEPRECATED`, `IFA_F_TENTATIVE`, ...
    pub(crate) flags: u32,
}

/// A route as `RTM_NEWROUTE` describes it, with the attributes this crate reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Route {
    /// `rtm_family`: [`AF_INET`] or [`AF_INET6`] (others are kept but never used).
    pub(crate) family: u8,
    /// `rtm_dst_len`: the destination's prefix length, 0 for a default route.
    pub(crate) dst_len: u8,
    /// The routing table: `RTA_TABLE` where present (tables above 255), else `rtm_table`.
    pub(crate) table: u32,
    /// `rtm_type`, e.g. [`RTN_UNICAST`].
    pub(crate) route_type: u8,
    /// `RTA_DST`, absent for a default route.
    pub(crate) destination: Option<IpAddr>,
    /// `RTA_GATEWAY`: the next hop, absent for a route straight onto a link.
    pub(crate) gateway: Option<IpAddr>,
    /// `RTA_OIF`: the outgoing interface's index.
    pub(crate) output_interface: Option<u32>,
    /// `RTA_PREFSRC`: the source address the kernel picks (in a lookup's answer) or the
    /// route's preferred one (in a table entry).
    pub(crate) preferred_source: Option<IpAddr>,
    /// `RTA_PRIORITY`: the metric, 0 when absent.
    pub(crate) metric: u32,
    /// `RTA_MULTIPATH`: the next hops of a multipath route, in the kernel's order.
    pub(crate) next_hops: Vec<NextHop>,
}

/// One next hop of a multipath route (`struct rtnexthop` and its attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NextHop {
    /// `rtnh_ifindex`.
    pub(crate) interface: u32,
    /// Its `RTA_GATEWAY`.
    pub(crate) gateway: Option<IpAddr>,
}

impl Route {
    /// The first next hop with a gateway: the route's own, or its first multipath hop's
    /// (with that hop's interface).
    pub(crate) fn first_gateway(&self) -> Option<(IpAddr, Option<u32>)> {
        if let Some(gateway) = self.gateway {
            return Some((gateway, self.output_interface));
        }
        self.next_hops
            .iter()
            .find_map(|hop| hop.gateway.map(|gateway| (gateway, Some(hop.interface))))
    }
}

/// The default route of a dump the kernel would use without policy rules: in the main
/// table, unicast, via a gateway, with the lowest metric (the first among equals, as the
/// kernel lists routes in its order of preference).
pub(crate) fn best_default_route(routes: &[Route]) -> Option<&Route> {
    routes
        .iter()
        .filter(|route| {
            route.dst_len == 0
                && route.table == RT_TABLE_MAIN
                && route.route_type == RTN_UNICAST
                && route.first_gateway().is_some()
        })
        .fold(None, |best: Option<&Route>, route| match best {
            Some(best) if best.metric <= route.metric => Some(best),
            _ => Some(route),
        })
}

/// Decodes one datagram from the kernel: one or more netlink messages.
///
/// # Errors
/// [`Error::MalformedNetlink`] when a message's length is below its header or runs past the
/// datagram, or a route's body or attribute is cut short.
pub(crate) fn decode(datagram: &[u8]) -> Result<Vec<Received>> {
    let mut messages = Vec::new();
    let mut offset = 0;
    while offset < datagram.len() {
        let malformed = |reason: String| Error::MalformedNetlink { offset, reason };
        let rest = &datagram[offset..];
        let too_short = || {
            malformed(format!(
                "{} bytes left, too short for a {HEADER_LEN}-byte header",
                rest.len()
            ))
        };
        let len = read_u32(rest, 0).ok_or_else(too_short)? as usize;
        let message_type = read_u16(rest, 4).ok_or_else(too_short)?;
        let seq = read_u32(rest, 8).ok_or_else(too_short)?;
        let port_id = read_u32(rest, 12).ok_or_else(too_short)?;
        if len < HEADER_LEN {
            return Err(malformed(format!(
                "message length {len} is below the {HEADER_LEN}-byte header"
            )));
        }
        let message = rest.get(..len).ok_or_else(|| {
            malformed(format!(
                "message length {len} runs past the end ({} bytes left)",
                rest.len()
            ))
        })?;
        let payload = &message[HEADER_LEN..];
        let body = match message_type {
            NLMSG_ERROR => {
                let code = read_i32(payload, 0).ok_or_else(|| {
                    malformed(format!("error message of {len} bytes has no error code"))
                })?;
                match code {
                    0 => Body::Ack,
                    // The kernel sends -errno; saturate the one value that has no opposite.
                    code => Body::Error(code.checked_neg().unwrap_or(i32::MAX)),
                }
            }
            NLMSG_DONE => Body::Done,
            RTM_NEWROUTE => Body::Route(decode_route(payload).map_err(malformed)?),
            RTM_NEWLINK => Body::Link(decode_link(payload).map_err(malformed)?),
            // An address of a family without addresses here (AF_PACKET, ...) is skipped.
            RTM_NEWADDR => match decode_address(payload).map_err(malformed)? {
                Some(address) => Body::Address(address),
                None => Body::Other(RTM_NEWADDR),
            },
            other => Body::Other(other),
        };
        messages.push(Received { seq, port_id, body });
        offset = offset.saturating_add(align(len));
    }
    Ok(messages)
}

/// The body of an `RTM_NEWROUTE` message (after its netlink header); `Err(reason)` when
/// malformed, the reason giving the offset within the body.
fn decode_route(body: &[u8]) -> std::result::Result<Route, String> {
    if body.len() < RTMSG_LEN {
        return Err(format!(
            "route body of {} bytes is shorter than the {RTMSG_LEN}-byte rtmsg",
            body.len()
        ));
    }
    let family = body[0];
    let mut route = Route {
        family,
        dst_len: body[1],
        table: u32::from(body[4]),
        route_type: body[7],
        ..Route::default()
    };
    for attribute in Attributes::new(&body[RTMSG_LEN..], RTMSG_LEN) {
        let (kind, value, at) = attribute?;
        let address = || {
            ip_of(family, value).ok_or_else(|| {
                format!(
                    "attribute {kind} at byte {at}: {} bytes is no address of family {family}",
                    value.len()
                )
            })
        };
        let number = || {
            read_u32(value, 0).ok_or_else(|| {
                format!(
                    "attribute {kind} at byte {at}: {} bytes is no u32",
                    value.len()
                )
            })
        };
        match kind {
            RTA_DST => route.destination = Some(address()?),
            RTA_GATEWAY => route.gateway = Some(address()?),
            RTA_PREFSRC => route.preferred_source = Some(address()?),
            RTA_OIF => route.output_interface = Some(number()?),
            RTA_PRIORITY => route.metric = number()?,
            RTA_TABLE => route.table = number()?,
            RTA_MULTIPATH => route.next_hops = decode_next_hops(family, value, at)?,
            _ => {}
        }
    }
    Ok(route)
}

/// The body of an `RTM_NEWLINK` message; `Err(reason)` when malformed.
fn decode_link(body: &[u8]) -> std::result::Result<Link, String> {
    let fixed = body.get(..IFINFOMSG_LEN).ok_or_else(|| {
        format!(
            "link body of {} bytes is shorter than the {IFINFOMSG_LEN}-byte ifinfomsg",
            body.len()
        )
    })?;
    let mut link = Link {
        hardware_type: read_u16(fixed, 2).unwrap_or(0),
        index: read_u32(fixed, 4).unwrap_or(0),
        flags: read_u32(fixed, 8).unwrap_or(0),
        ..Link::default()
    };
    for attribute in Attributes::new(&body[IFINFOMSG_LEN..], IFINFOMSG_LEN) {
        let (kind, value, at) = attribute?;
        match kind {
            IFLA_IFNAME => link.name = text_of(value),
            IFLA_LINKINFO => {
                for inner in Attributes::new(value, at.saturating_add(4)) {
                    let (inner_kind, inner_value, _) = inner?;
                    if inner_kind == IFLA_INFO_KIND {
                        link.kind = Some(text_of(inner_value));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(link)
}

/// The body of an `RTM_NEWADDR` message: `Ok(None)` for a family other than IPv4 and
/// IPv6 or without any address attribute; `Err(reason)` when malformed.
fn decode_address(body: &[u8]) -> std::result::Result<Option<Address>, String> {
    let fixed = body.get(..IFADDRMSG_LEN).ok_or_else(|| {
        format!(
            "address body of {} bytes is shorter than the {IFADDRMSG_LEN}-byte ifaddrmsg",
            body.len()
        )
    })?;
    let family = fixed[0];
    let mut flags = u32::from(fixed[2]);
    let (mut local, mut address) = (None, None);
    for attribute in Attributes::new(&body[IFADDRMSG_LEN..], IFADDRMSG_LEN) {
        let (kind, value, at) = attribute?;
        let ip = || {
            ip_of(family, value).ok_or_else(|| {
                format!(
                    "attribute {kind} at byte {at}: {} bytes is no address of family {family}",
                    value.len()
                )
            })
        };
        match kind {
            IFA_LOCAL if family == AF_INET || family == AF_INET6 => local = Some(ip()?),
            IFA_ADDRESS if family == AF_INET || family == AF_INET6 => address = Some(ip()?),
            IFA_FLAGS => {
                flags = read_u32(value, 0).ok_or_else(|| {
                    format!(
                        "attribute {kind} at byte {at}: {} bytes is no u32",
                        value.len()
                    )
                })?;
            }
            _ => {}
        }
    }
    Ok(local.or(address).map(|address| Address {
        index: read_u32(fixed, 4).unwrap_or(0),
        prefix_len: fixed[1],
        address,
        flags,
    }))
}

/// A NUL-terminated string attribute, cut at its first NUL.
fn text_of(value: &[u8]) -> String {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end]).into_owned()
}

/// The `struct rtnexthop` entries of an `RTA_MULTIPATH` value found at `base`.
fn decode_next_hops(
    family: u8,
    value: &[u8],
    base: usize,
) -> std::result::Result<Vec<NextHop>, String> {
    let mut hops = Vec::new();
    let mut offset = 0;
    while offset < value.len() && hops.len() < MAX_NEXT_HOPS {
        let at = base.saturating_add(offset);
        let rest = &value[offset..];
        let len = usize::from(
            read_u16(rest, 0).ok_or_else(|| format!("next hop at byte {at} is cut short"))?,
        );
        if len < RTNEXTHOP_LEN || len > rest.len() {
            return Err(format!(
                "next hop at byte {at} has length {len} ({} bytes left)",
                rest.len()
            ));
        }
        let interface = read_u32(rest, 4).unwrap_or(0);
        let mut hop = NextHop {
            interface,
            gateway: None,
        };
        let inner = RTNEXTHOP_LEN.saturating_add(at);
        for attribute in Attributes::new(&rest[RTNEXTHOP_LEN..len], inner) {
            let (kind, value, at) = attribute?;
            if kind == RTA_GATEWAY {
                hop.gateway = Some(ip_of(family, value).ok_or_else(|| {
                    format!(
                        "next hop gateway at byte {at}: {} bytes is no address",
                        value.len()
                    )
                })?);
            }
        }
        hops.push(hop);
        offset = offset.saturating_add(align(len));
    }
    Ok(hops)
}

/// An iterator over `struct rtattr`s: `(type, value, offset)` with the offset counted from
/// `base`; an attribute whose length runs past the buffer ends it with an error.
struct Attributes<'a> {
    bytes: &'a [u8],
    offset: usize,
    base: usize,
    failed: bool,
}

impl<'a> Attributes<'a> {
    fn new(bytes: &'a [u8], base: usize) -> Self {
        Attributes {
            bytes,
            offset: 0,
            base,
            failed: false,
        }
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = std::result::Result<(u16, &'a [u8], usize), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.bytes.len() {
            return None;
        }
        let at = self.base.saturating_add(self.offset);
        let rest = &self.bytes[self.offset..];
        let parsed = (|| {
            let len = usize::from(
                read_u16(rest, 0).ok_or_else(|| format!("attribute at byte {at} is cut short"))?,
            );
            // The top two bits of the type are the nested and byte-order flags.
            let kind = read_u16(rest, 2)
                .ok_or_else(|| format!("attribute at byte {at} is cut short"))?
                & 0x3fff;
            if len < 4 || len > rest.len() {
                return Err(format!(
                    "attribute {kind} at byte {at} has length {len} ({} bytes left)",
                    rest.len()
                ));
            }
            self.offset = self.offset.saturating_add(align(len));
            Ok((kind, &rest[4..len], at))
        })();
        self.failed = parsed.is_err();
        Some(parsed)
    }
}

/// The address in an attribute's value of `family`.
fn ip_of(family: u8, value: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(value).ok()?))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(value).ok()?,
        ))),
        _ => None,
    }
}

/// Netlink's 4-byte alignment (`NLMSG_ALIGN`, `RTA_ALIGN`).
fn align(len: usize) -> usize {
    len.saturating_add(3) & !3
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let field = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([field[0], field[1]]))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([field[0], field[1], field[2], field[3]]))
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    read_u32(bytes, at).map(|word| i32::from_ne_bytes(word.to_ne_bytes()))
}

/// Decodes `datagram` and walks what it holds as the crate does (next hops, the ways out
/// of its routes, the source among its addresses, link kinds), for the `netlink_decode`
/// fuzz target (compiled only under `cargo fuzz`, which sets `--cfg fuzzing`).
#[cfg(any(fuzzing, test))]
#[allow(unreachable_pub)] // re-exported from the crate's root under `fuzzing` only
pub fn fuzz_decode(datagram: &[u8]) {
    let Ok(messages) = decode(datagram) else {
        return;
    };
    let mut routes = Vec::new();
    let mut addresses = Vec::new();
    for message in messages {
        let _ = message.body.is_change();
        match message.body {
            Body::Route(route) => {
                let _ = route.first_gateway();
                routes.push(route);
            }
            Body::Link(link) => {
                let _ = crate::path::LinkKind::from_linux(
                    link.hardware_type,
                    link.flags,
                    link.kind.as_deref(),
                );
            }
            Body::Address(address) => addresses.push(address),
            _ => {}
        }
    }
    for family in [AF_INET, AF_INET6] {
        for hop in default_hops(&routes, family) {
            let _ = pick_source(&addresses, hop.interface, family, hop.gateway);
        }
    }
}

#[cfg(test)]
mod tests;
