//! PCP carries every address in a 128-bit field; an IPv4 address travels as the IPv4-mapped
//! IPv6 address `::ffff:a.b.c.d` (RFC 6887 §5). These helpers convert between that field and
//! [`IpAddr`], which is what the rest of the API uses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The 128-bit wire form of `address`: IPv4 becomes IPv4-mapped IPv6.
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// let wire = natpmp_proto::pcp::address_to_wire(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
/// assert_eq!(wire, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
/// ```
pub fn address_to_wire(address: IpAddr) -> [u8; 16] {
    match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address a 128-bit wire field holds: IPv4-mapped IPv6 becomes [`IpAddr::V4`], anything
/// else stays IPv6. So `::ffff:0.0.0.0` is the IPv4 "no preference" address 0.0.0.0 and `::`
/// the IPv6 one (RFC 6887 §11.1).
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// let mut wire = [0u8; 16];
/// wire[10..].copy_from_slice(&[0xff, 0xff, 192, 0, 2, 1]);
/// assert_eq!(natpmp_proto::pcp::address_from_wire(wire), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
/// ```
pub fn address_from_wire(octets: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(octets);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// The address-family-appropriate "no preference" address for a suggested external address:
/// 0.0.0.0 (sent as `::ffff:0.0.0.0`) for IPv4, `::` for IPv6 (RFC 6887 §11.1).
pub const fn unspecified_like(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// `address` with an IPv4-mapped IPv6 address turned into IPv4, the form decoding yields.
pub fn canonical(address: IpAddr) -> IpAddr {
    address_from_wire(address_to_wire(address))
}
