//! Choosing one local address out of many: the ranking behind
//! [`best_interface_address`](crate::best_interface_address), as a pure function.

use std::cmp::Reverse;
use std::net::{IpAddr, Ipv4Addr};

use crate::classify::{is_localhost, is_private, is_public};

/// Picks the address a service should advertise or bind to out of `candidates`.
///
/// Without a peer the ranking is: the first public address, else the first private
/// non-loopback address, else the first of any other kind, else `127.0.0.1` when
/// `candidates` is empty. "Public" and "private" are as in [`is_public`] and
/// [`is_private`].
///
/// With a peer, the candidates of the peer's family compete on the number of leading bits
/// they share with the peer, and the longest match wins; ties are broken by the ranking
/// above. Loopback candidates only take part when the peer itself is a loopback address,
/// so that `127.0.0.1` never wins by accident of its bit pattern. When no candidate of the
/// peer's family is left, the peer is ignored.
///
/// IPv4-mapped IPv6 addresses count as IPv4 for the family comparison; the address
/// returned is always one of `candidates` as given (or the `127.0.0.1` fallback).
///
/// ```
/// use std::net::IpAddr;
/// let local: Vec<IpAddr> = ["127.0.0.1", "192.168.1.5", "10.8.0.2"]
///     .iter()
///     .map(|a| a.parse().unwrap())
///     .collect();
/// assert_eq!(netinfo::pick_best_address(&local, None), local[1]);
/// let peer = "10.8.0.1".parse().ok();
/// assert_eq!(netinfo::pick_best_address(&local, peer), local[2]);
/// ```
pub fn pick_best_address(candidates: &[IpAddr], peer: Option<IpAddr>) -> IpAddr {
    if let Some(peer) = peer.map(|p| p.to_canonical()) {
        let closest = candidates
            .iter()
            .filter(|c| is_localhost(peer) || !is_localhost(**c))
            .filter_map(|&c| common_prefix_len(c.to_canonical(), peer).map(|len| (c, len)))
            .min_by_key(|&(c, len)| (Reverse(len), rank(c)));
        if let Some((addr, _)) = closest {
            return addr;
        }
    }
    candidates
        .iter()
        .copied()
        .min_by_key(|&c| rank(c))
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Lower is better: public, then private non-loopback, then everything else.
fn rank(addr: IpAddr) -> u8 {
    if is_public(addr) {
        0
    } else if is_private(addr) && !is_localhost(addr) {
        1
    } else {
        2
    }
}

/// The number of leading bits `a` and `b` share, or `None` when their families differ.
fn common_prefix_len(a: IpAddr, b: IpAddr) -> Option<u32> {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => Some((a.to_bits() ^ b.to_bits()).leading_zeros()),
        (IpAddr::V6(a), IpAddr::V6(b)) => Some((a.to_bits() ^ b.to_bits()).leading_zeros()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ranking_without_peer() {
        // (candidates, expected)
        let table: &[(&[&str], &str)] = &[
            (&[], "127.0.0.1"),
            (&["127.0.0.1"], "127.0.0.1"),
            (&["::1"], "::1"),
            (&["127.0.0.1", "192.168.1.5"], "192.168.1.5"),
            (&["127.0.0.1", "192.168.1.5", "44.0.0.1"], "44.0.0.1"),
            (&["44.0.0.1", "44.0.0.2"], "44.0.0.1"),
            (&["10.0.0.2", "192.168.1.5"], "10.0.0.2"),
            (&["::1", "fe80::1", "127.0.0.1"], "fe80::1"),
            (&["fd00::2", "2001:db8::5", "192.168.1.5"], "2001:db8::5"),
            (&["127.0.0.1", "100.64.3.4", "8.8.4.4"], "8.8.4.4"),
            (&["::1", "127.0.0.1"], "::1"),
        ];
        for &(candidates, expected) in table {
            assert_eq!(
                pick_best_address(&addrs(candidates), None),
                ip(expected),
                "candidates {candidates:?}"
            );
        }
    }

    #[test]
    fn ranking_with_peer() {
        // (candidates, peer, expected)
        let table: &[(&[&str], &str, &str)] = &[
            // longest prefix wins over a public address
            (
                &["44.0.0.1", "192.168.1.5", "10.8.0.2"],
                "10.8.0.1",
                "10.8.0.2",
            ),
            (
                &["44.0.0.1", "192.168.1.5", "10.8.0.2"],
                "192.168.1.1",
                "192.168.1.5",
            ),
            // same family preferred even when the ranking would pick the other one
            (&["44.0.0.1", "fd00::2"], "fd00::1", "fd00::2"),
            (
                &["2001:db8::1", "192.168.1.5"],
                "192.168.77.1",
                "192.168.1.5",
            ),
            // equal prefix length: ranking decides (public beats private), then order
            (&["192.168.1.5", "128.0.0.1"], "64.0.0.1", "128.0.0.1"),
            (&["128.0.0.2", "128.0.0.1"], "64.0.0.1", "128.0.0.2"),
            // loopback does not win by bit pattern for a non-loopback peer
            (&["127.0.0.1", "192.168.1.5"], "8.8.8.8", "192.168.1.5"),
            // but does for a loopback peer
            (&["192.168.1.5", "127.0.0.1"], "127.0.0.1", "127.0.0.1"),
            (&["fe80::1", "::1"], "::1", "::1"),
            // no candidate of the peer's family: peer ignored
            (&["127.0.0.1", "192.168.1.5"], "fe80::1", "192.168.1.5"),
            (&["::1", "127.0.0.1"], "8.8.8.8", "::1"),
            (&[], "192.168.1.1", "127.0.0.1"),
            // IPv4-mapped peer counts as IPv4
            (&["fd00::2", "10.0.0.7"], "::ffff:10.0.0.1", "10.0.0.7"),
        ];
        for &(candidates, peer, expected) in table {
            assert_eq!(
                pick_best_address(&addrs(candidates), Some(ip(peer))),
                ip(expected),
                "candidates {candidates:?}, peer {peer}"
            );
        }
    }

    #[test]
    fn prefix_length() {
        assert_eq!(
            common_prefix_len(ip("192.168.1.5"), ip("192.168.1.1")),
            Some(29)
        );
        assert_eq!(common_prefix_len(ip("10.0.0.1"), ip("10.0.0.1")), Some(32));
        assert_eq!(common_prefix_len(ip("fe80::1"), ip("fe80::1")), Some(128));
        assert_eq!(common_prefix_len(ip("fd00::1"), ip("fc00::1")), Some(7));
        assert_eq!(common_prefix_len(ip("10.0.0.1"), ip("::1")), None);
    }
}
