//! Unix: the interface list from `getifaddrs(3)` and `if_nametoindex(3)`.
//!
//! `getifaddrs` yields one entry per (interface, address), plus one per interface for its
//! link-layer address; [`group`] folds them into one [`Interface`] each. The link-layer
//! entry gives the interface's type (`sll_hatype` on Linux, `sdl_type` on macOS and
//! FreeBSD), from which its [`LinkKind`] comes. On Linux and Android this listing is only
//! the fallback for when netlink is refused (see `linux`).
//!
//! This is the crate's only `unsafe` code: two C calls and the reading of the list they
//! return, kept in [`read_entries`] and [`socket_ip`]. It was `nix`'s wrapper until the
//! dependency diet (docs/ARCHITECTURE.md): nix and its three dependencies for these two
//! calls weighed on every crate above netinfo.

use std::ffi::{CStr, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::interface::{Interface, InterfaceAddress};
use crate::path::LinkKind;

/// Lists the interfaces of this host.
pub(crate) fn interfaces() -> Result<Vec<Interface>> {
    let entries = read_entries().map_err(Error::ListInterfaces)?;
    group(entries, |name| {
        index_of(name).map_err(|source| Error::InterfaceIndex {
            name: name.to_owned(),
            source,
        })
    })
}

/// Frees the list `getifaddrs` allocated, also when reading it stops early.
struct IfAddrs(*mut libc::ifaddrs);

impl Drop for IfAddrs {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful getifaddrs and is freed once, here.
        unsafe { libc::freeifaddrs(self.0) }
    }
}

/// Every `getifaddrs` entry, reduced to what [`Interface`] keeps.
#[allow(unsafe_code)]
fn read_entries() -> io::Result<Vec<Entry>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head to the pointer it is given and returns 0, or
    // returns -1 with errno set and writes nothing.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let list = IfAddrs(head);
    let mut entries = Vec::new();
    let mut current = list.0.cast_const();
    while !current.is_null() {
        // SAFETY: `current` is a node of the list getifaddrs built, alive until `list` drops;
        // its name is a NUL-terminated string and its address and netmask are null or point
        // to a socket address whose `sa_family` says which kind.
        let ifaddr = unsafe { &*current };
        if !ifaddr.ifa_name.is_null() {
            let name = unsafe { CStr::from_ptr(ifaddr.ifa_name) };
            let flags = ifaddr.ifa_flags as libc::c_int;
            let address = unsafe { socket_ip(ifaddr.ifa_addr) };
            let netmask = unsafe { socket_ip(ifaddr.ifa_netmask) };
            let is_loopback = flags & libc::IFF_LOOPBACK != 0;
            let is_point_to_point = flags & libc::IFF_POINTOPOINT != 0;
            let link_kind = unsafe { link_kind(ifaddr.ifa_addr, flags) };
            entries.push(Entry {
                name: name.to_string_lossy().into_owned(),
                is_up: flags & libc::IFF_UP != 0,
                is_loopback,
                is_multicast: flags & libc::IFF_MULTICAST != 0,
                kind: link_kind.unwrap_or(LinkKind::from_flags(is_loopback, is_point_to_point)),
                is_link_layer: link_kind.is_some(),
                address: address.map(|address| ip_address(address, netmask)),
            });
        }
        current = ifaddr.ifa_next.cast_const();
    }
    Ok(entries)
}

/// The IP address in a socket address, `None` for a null pointer or another family.
///
/// # Safety
/// `address` is null or points to a socket address at least as large as its family's
/// structure (as getifaddrs provides).
#[allow(unsafe_code)]
unsafe fn socket_ip(address: *const libc::sockaddr) -> Option<IpAddr> {
    if address.is_null() {
        return None;
    }
    // SAFETY (all three reads): the caller's contract; `read_unaligned` because nothing
    // promises the structure's alignment.
    let family = unsafe { std::ptr::addr_of!((*address).sa_family).read_unaligned() };
    match libc::c_int::from(family) {
        libc::AF_INET => {
            let v4 = unsafe { address.cast::<libc::sockaddr_in>().read_unaligned() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            let v6 = unsafe { address.cast::<libc::sockaddr_in6>().read_unaligned() };
            Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// The interface's kind from a link-layer socket address (`AF_PACKET` on Linux and
/// Android, `AF_LINK` on macOS, iOS and FreeBSD); `None` for any other address.
///
/// # Safety
/// As for [`socket_ip`].
#[allow(unsafe_code)]
unsafe fn link_kind(address: *const libc::sockaddr, flags: libc::c_int) -> Option<LinkKind> {
    if address.is_null() {
        return None;
    }
    // SAFETY: the caller's contract, as in `socket_ip`.
    let family = unsafe { std::ptr::addr_of!((*address).sa_family).read_unaligned() };
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if libc::c_int::from(family) == libc::AF_PACKET {
        // SAFETY: an AF_PACKET entry of getifaddrs is a whole sockaddr_ll.
        let link = unsafe { address.cast::<libc::sockaddr_ll>().read_unaligned() };
        #[allow(clippy::cast_sign_loss)]
        return Some(LinkKind::from_linux(link.sll_hatype, flags as u32, None));
    }
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    if libc::c_int::from(family) == libc::AF_LINK {
        // SAFETY: an AF_LINK entry of getifaddrs is a whole sockaddr_dl.
        let link = unsafe { address.cast::<libc::sockaddr_dl>().read_unaligned() };
        return Some(LinkKind::from_bsd_if_type(
            link.sdl_type,
            flags & libc::IFF_LOOPBACK != 0,
            flags & libc::IFF_POINTOPOINT != 0,
        ));
    }
    let _ = (family, flags);
    None
}

/// The index of the interface called `name`.
#[allow(unsafe_code)]
fn index_of(name: &str) -> io::Result<u32> {
    let name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        index => Ok(index),
    }
}

/// One `getifaddrs` entry, reduced to what [`Interface`] keeps.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    is_up: bool,
    is_loopback: bool,
    is_multicast: bool,
    /// The kind its link-layer entry tells, or the flags' guess on other entries.
    kind: LinkKind,
    /// A link-layer entry, whose kind wins over the flags' guess.
    is_link_layer: bool,
    /// `None` for link-layer and other non-IP entries.
    address: Option<InterfaceAddress>,
}

/// Folds entries into one interface per name, in order of first appearance, looking up
/// each interface's index once.
fn group(
    entries: impl IntoIterator<Item = Entry>,
    mut index_of: impl FnMut(&str) -> Result<u32>,
) -> Result<Vec<Interface>> {
    let mut interfaces: Vec<Interface> = Vec::new();
    for entry in entries {
        let position = match interfaces.iter().position(|i| i.name == entry.name) {
            Some(position) => position,
            None => {
                interfaces.push(Interface {
                    index: index_of(&entry.name)?,
                    name: entry.name,
                    addresses: Vec::new(),
                    is_up: entry.is_up,
                    is_loopback: entry.is_loopback,
                    is_multicast: entry.is_multicast,
                    kind: entry.kind,
                });
                interfaces.len() - 1
            }
        };
        if entry.is_link_layer {
            interfaces[position].kind = entry.kind;
        }
        if let Some(address) = entry.address {
            interfaces[position].addresses.push(address);
        }
    }
    Ok(interfaces)
}

/// An address with the prefix length its netmask gives.
///
/// A netmask of another family or none at all (some systems leave it out on
/// point-to-point links) counts as a host route: /32 or /128.
fn ip_address(address: IpAddr, netmask: Option<IpAddr>) -> InterfaceAddress {
    let prefix_len = match (address, netmask) {
        (IpAddr::V4(_), Some(IpAddr::V4(mask))) => mask.to_bits().leading_ones(),
        (IpAddr::V6(_), Some(IpAddr::V6(mask))) => mask.to_bits().leading_ones(),
        (IpAddr::V4(_), _) => 32,
        (IpAddr::V6(_), _) => 128,
    };
    InterfaceAddress {
        // macOS and the BSDs may hand out a link-local address with its scope embedded
        // (KAME); elsewhere this changes nothing.
        address: match address {
            IpAddr::V6(_) => crate::route_dump::without_embedded_scope(address),
            v4 => v4,
        },
        // At most 128 ones: the conversion cannot fail.
        prefix_len: u8::try_from(prefix_len).unwrap_or(128),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, up: bool, address: Option<(&str, u8)>) -> Entry {
        Entry {
            name: name.to_owned(),
            is_up: up,
            is_loopback: name == "lo",
            is_multicast: name != "lo",
            kind: LinkKind::from_flags(name == "lo", false),
            is_link_layer: false,
            address: address.map(|(a, prefix_len)| InterfaceAddress {
                address: a.parse().unwrap(),
                prefix_len,
            }),
        }
    }

    #[test]
    fn groups_addresses_per_interface_in_first_seen_order() {
        let entries = [
            entry("lo", true, None),
            entry("eth0", true, None),
            entry("wlan0", false, None),
            entry("lo", true, Some(("127.0.0.1", 8))),
            entry("eth0", true, Some(("192.168.1.5", 24))),
            entry("lo", true, Some(("::1", 128))),
            entry("eth0", true, Some(("fe80::1", 64))),
        ];
        let mut lookups = Vec::new();
        let interfaces = group(entries, |name| {
            lookups.push(name.to_owned());
            Ok(lookups.len() as u32)
        })
        .unwrap();
        assert_eq!(lookups, ["lo", "eth0", "wlan0"]);
        let names: Vec<_> = interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["lo", "eth0", "wlan0"]);
        assert_eq!(interfaces[1].index, 2);
        assert!(interfaces[0].is_loopback && !interfaces[1].is_loopback);
        assert!(!interfaces[2].is_up && interfaces[2].addresses.is_empty());
        assert_eq!(
            interfaces[1].addresses,
            [
                InterfaceAddress {
                    address: "192.168.1.5".parse().unwrap(),
                    prefix_len: 24
                },
                InterfaceAddress {
                    address: "fe80::1".parse().unwrap(),
                    prefix_len: 64
                },
            ]
        );
    }

    #[test]
    fn index_failure_is_reported() {
        let err = group([entry("eth9", true, None)], |name| {
            Err(Error::InterfaceIndex {
                name: name.to_owned(),
                source: io::Error::from(io::ErrorKind::NotFound),
            })
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot get the index of interface eth9: ")
        );
    }

    #[test]
    fn prefix_length_from_netmask() {
        let v4 = |a: [u8; 4]| IpAddr::from(a);
        let v6 = |a: &str| IpAddr::V6(a.parse::<Ipv6Addr>().unwrap());
        let address = v4([10, 1, 2, 3]);
        let cases = [
            (Some(v4([255, 255, 255, 0])), 24),
            (Some(v4([255, 192, 0, 0])), 10),
            (Some(v4([0, 0, 0, 0])), 0),
            (Some(v6("ffff:ffff::")), 32),
            (None, 32),
        ];
        for (netmask, expected) in cases {
            let found = ip_address(address, netmask);
            assert_eq!(found.address, IpAddr::from([10, 1, 2, 3]));
            assert_eq!(found.prefix_len, expected, "{netmask:?}");
        }
        let found = ip_address(v6("fe80:4::2"), Some(v6("ffff:ffff:ffff:ffff::")));
        assert_eq!(found.address, "fe80::2".parse::<IpAddr>().unwrap());
        assert_eq!(found.prefix_len, 64);
        let found = ip_address(v6("fd00::2"), Some(v6("ffff:ffff:ffff:ffff::")));
        assert_eq!(found.prefix_len, 64);
        assert_eq!(ip_address(v6("fd00::2"), None).prefix_len, 128);
        assert_eq!(ip_address(v6("fd00::2"), Some(v6("::"))).prefix_len, 0);
    }

    #[test]
    fn socket_addresses_of_both_families_and_others() {
        let v4 = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(Ipv4Addr::new(192, 168, 1, 5)).to_be(),
            },
            ..unsafe_zeroed_v4()
        };
        let found = sockaddr_of(&v4);
        assert_eq!(found, Some(IpAddr::from([192, 168, 1, 5])));
        let mut v6 = unsafe_zeroed_v6();
        v6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        v6.sin6_addr.s6_addr = "fe80::1".parse::<Ipv6Addr>().unwrap().octets();
        assert_eq!(sockaddr_of(&v6), Some("fe80::1".parse().unwrap()));
        let mut other = unsafe_zeroed_v6();
        other.sin6_family = libc::AF_UNIX as libc::sa_family_t;
        assert_eq!(sockaddr_of(&other), None);
        // SAFETY: null is allowed.
        #[allow(unsafe_code)]
        let null = unsafe { socket_ip(std::ptr::null()) };
        assert_eq!(null, None);
    }

    #[allow(unsafe_code)]
    fn sockaddr_of<T>(address: &T) -> Option<IpAddr> {
        // SAFETY: `address` is a whole sockaddr_in or sockaddr_in6.
        unsafe { socket_ip(std::ptr::from_ref(address).cast()) }
    }

    #[allow(unsafe_code)]
    fn unsafe_zeroed_v4() -> libc::sockaddr_in {
        // SAFETY: all-zero bytes are a valid sockaddr_in (plain integers).
        unsafe { std::mem::zeroed() }
    }

    #[allow(unsafe_code)]
    fn unsafe_zeroed_v6() -> libc::sockaddr_in6 {
        // SAFETY: all-zero bytes are a valid sockaddr_in6 (plain integers).
        unsafe { std::mem::zeroed() }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn index_of_loopback_and_of_a_missing_interface() {
        assert!(index_of("lo").unwrap() > 0);
        assert!(index_of("natkit-none0").is_err());
        assert!(index_of("bad\0name").is_err());
    }

    #[test]
    fn this_host_has_a_loopback_interface() {
        let interfaces = interfaces().unwrap();
        let lo = interfaces
            .iter()
            .find(|i| i.is_loopback)
            .expect("a loopback interface");
        assert!(lo.index > 0);
        assert!(lo.is_up);
        assert!(lo.addresses.contains(&InterfaceAddress {
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            prefix_len: 8
        }));
        let mut names: Vec<_> = interfaces.iter().map(|i| &i.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), interfaces.len(), "one entry per interface");
    }
}
