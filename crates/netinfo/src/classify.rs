//! Address classification: wildcard, localhost, private and public, for IPv4 and IPv6.
//!
//! Exactly what counts:
//!
//! | test | IPv4 | IPv6 |
//! |---|---|---|
//! | wildcard | `0.0.0.0` | `::` |
//! | localhost | `127.0.0.0/8` | `::1` |
//! | private | `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918), `100.64.0.0/10` (RFC 6598 shared address space, carrier-grade NAT), `169.254.0.0/16` (link-local) | `fc00::/7` (unique local), `fe80::/10` (link-local), `::1`, `::` |
//! | public | none of the above, and not multicast (`224.0.0.0/4`) nor `255.255.255.255` | none of the above, and not multicast (`ff00::/8`) |
//!
//! The private sets are not symmetric: for IPv6 the loopback and unspecified addresses count
//! as private (as in the library this crate ports), for IPv4 they do not. Ask
//! [`is_public`] when the question is "can a peer on the internet reach this address".
//!
//! The [`IpAddr`] functions classify an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the
//! IPv4 address it carries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True for the unspecified ("bind to all") address of either family: `0.0.0.0` or `::`.
pub fn is_wildcard(addr: IpAddr) -> bool {
    match addr.to_canonical() {
        IpAddr::V4(v4) => is_wildcard_v4(v4),
        IpAddr::V6(v6) => is_wildcard_v6(v6),
    }
}

/// True for a loopback address: `127.0.0.0/8` or `::1`.
pub fn is_localhost(addr: IpAddr) -> bool {
    match addr.to_canonical() {
        IpAddr::V4(v4) => is_localhost_v4(v4),
        IpAddr::V6(v6) => is_localhost_v6(v6),
    }
}

/// True for an address that is not reachable from the internet at large; see the module
/// table for the exact ranges of each family.
pub fn is_private(addr: IpAddr) -> bool {
    match addr.to_canonical() {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

/// True for a unicast address that is neither wildcard, localhost nor private.
pub fn is_public(addr: IpAddr) -> bool {
    match addr.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// True for `0.0.0.0`.
pub fn is_wildcard_v4(addr: Ipv4Addr) -> bool {
    addr.is_unspecified()
}

/// True for `::`.
pub fn is_wildcard_v6(addr: Ipv6Addr) -> bool {
    addr.is_unspecified()
}

/// True for `127.0.0.0/8`.
pub fn is_localhost_v4(addr: Ipv4Addr) -> bool {
    addr.is_loopback()
}

/// True for `::1`.
pub fn is_localhost_v6(addr: Ipv6Addr) -> bool {
    addr.is_loopback()
}

/// True for `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, `100.64.0.0/10` and
/// `169.254.0.0/16`.
pub fn is_private_v4(addr: Ipv4Addr) -> bool {
    let [a, b, ..] = addr.octets();
    addr.is_private() || addr.is_link_local() || (a == 100 && (b & 0xc0) == 64)
}

/// True for `fc00::/7`, `fe80::/10`, `::1` and `::`.
pub fn is_private_v6(addr: Ipv6Addr) -> bool {
    let first = addr.segments()[0];
    (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || addr.is_loopback()
        || addr.is_unspecified()
}

/// True for an IPv4 unicast address outside the wildcard, localhost and private sets.
pub fn is_public_v4(addr: Ipv4Addr) -> bool {
    !(is_wildcard_v4(addr)
        || is_localhost_v4(addr)
        || is_private_v4(addr)
        || addr.is_multicast()
        || addr.is_broadcast())
}

/// True for an IPv6 unicast address outside the wildcard, localhost and private sets.
pub fn is_public_v6(addr: Ipv6Addr) -> bool {
    !(is_wildcard_v6(addr) || is_localhost_v6(addr) || is_private_v6(addr) || addr.is_multicast())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (address, wildcard, localhost, private, public)
    const TABLE: &[(&str, bool, bool, bool, bool)] = &[
        ("0.0.0.0", true, false, false, false),
        ("127.0.0.1", false, true, false, false),
        ("127.255.255.254", false, true, false, false),
        ("10.0.0.1", false, false, true, false),
        ("10.255.255.255", false, false, true, false),
        ("9.255.255.255", false, false, false, true),
        ("11.0.0.0", false, false, false, true),
        ("172.16.0.1", false, false, true, false),
        ("172.31.255.255", false, false, true, false),
        ("172.15.255.255", false, false, false, true),
        ("172.32.0.0", false, false, false, true),
        ("192.168.1.5", false, false, true, false),
        ("192.169.0.1", false, false, false, true),
        ("100.64.0.1", false, false, true, false),
        ("100.127.255.255", false, false, true, false),
        ("100.63.255.255", false, false, false, true),
        ("100.128.0.0", false, false, false, true),
        ("169.254.10.20", false, false, true, false),
        ("169.253.0.1", false, false, false, true),
        ("44.0.0.1", false, false, false, true),
        ("8.8.8.8", false, false, false, true),
        ("224.0.0.1", false, false, false, false),
        ("255.255.255.255", false, false, false, false),
        ("::", true, false, true, false),
        ("::1", false, true, true, false),
        ("fc00::1", false, false, true, false),
        ("fd12:3456::1", false, false, true, false),
        ("fe80::1", false, false, true, false),
        ("febf:ffff::1", false, false, true, false),
        ("fec0::1", false, false, false, true),
        ("fbff::1", false, false, false, true),
        ("2001:db8::1", false, false, false, true),
        ("2a00:1450::1", false, false, false, true),
        ("ff02::1", false, false, false, false),
        ("::ffff:127.0.0.1", false, true, false, false),
        ("::ffff:192.168.0.1", false, false, true, false),
        ("::ffff:8.8.8.8", false, false, false, true),
    ];

    #[test]
    fn classification_table() {
        for &(text, wildcard, localhost, private, public) in TABLE {
            let addr: IpAddr = text.parse().unwrap();
            assert_eq!(is_wildcard(addr), wildcard, "is_wildcard({text})");
            assert_eq!(is_localhost(addr), localhost, "is_localhost({text})");
            assert_eq!(is_private(addr), private, "is_private({text})");
            assert_eq!(is_public(addr), public, "is_public({text})");
        }
    }

    #[test]
    fn per_family_helpers_agree_with_ipaddr_functions() {
        for &(text, ..) in TABLE {
            match text.parse::<IpAddr>().unwrap() {
                IpAddr::V4(v4) => {
                    assert_eq!(is_private_v4(v4), is_private(v4.into()), "{text}");
                    assert_eq!(is_public_v4(v4), is_public(v4.into()), "{text}");
                }
                IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                    assert_eq!(is_private_v6(v6), is_private(v6.into()), "{text}");
                    assert_eq!(is_public_v6(v6), is_public(v6.into()), "{text}");
                }
                IpAddr::V6(_) => {}
            }
        }
    }
}
