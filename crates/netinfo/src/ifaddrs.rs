//! Unix: the interface list from `getifaddrs(3)` and `if_nametoindex(3)` through `nix`.
//!
//! `getifaddrs` yields one entry per (interface, address), plus one per interface for its
//! link-layer address; [`group`] folds them into one [`Interface`] each.

use std::io;
use std::net::IpAddr;

use nix::ifaddrs::getifaddrs;
use nix::net::if_::{InterfaceFlags, if_nametoindex};
use nix::sys::socket::SockaddrStorage;

use crate::error::{Error, Result};
use crate::interface::{Interface, InterfaceAddress};

/// Lists the interfaces of this host.
pub(crate) fn interfaces() -> Result<Vec<Interface>> {
    let entries = getifaddrs()
        .map_err(|errno| Error::ListInterfaces(io::Error::from(errno)))?
        .map(|ifaddr| Entry {
            is_up: ifaddr.flags.contains(InterfaceFlags::IFF_UP),
            is_loopback: ifaddr.flags.contains(InterfaceFlags::IFF_LOOPBACK),
            is_multicast: ifaddr.flags.contains(InterfaceFlags::IFF_MULTICAST),
            address: ifaddr
                .address
                .as_ref()
                .and_then(|address| ip_address(address, ifaddr.netmask.as_ref())),
            name: ifaddr.interface_name,
        });
    group(entries, |name| {
        if_nametoindex(name).map_err(|errno| Error::InterfaceIndex {
            name: name.to_owned(),
            source: io::Error::from(errno),
        })
    })
}

/// One `getifaddrs` entry, reduced to what [`Interface`] keeps.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    is_up: bool,
    is_loopback: bool,
    is_multicast: bool,
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
                });
                interfaces.len() - 1
            }
        };
        if let Some(address) = entry.address {
            interfaces[position].addresses.push(address);
        }
    }
    Ok(interfaces)
}

/// The IP address of an entry with its prefix length, or `None` for a non-IP entry.
///
/// A netmask of another family or none at all (some systems leave it out on
/// point-to-point links) counts as a host route: /32 or /128.
fn ip_address(
    address: &SockaddrStorage,
    netmask: Option<&SockaddrStorage>,
) -> Option<InterfaceAddress> {
    if let Some(v4) = address.as_sockaddr_in() {
        let prefix_len = netmask
            .and_then(|m| m.as_sockaddr_in())
            .map_or(32, |m| m.ip().to_bits().leading_ones());
        Some(InterfaceAddress {
            address: IpAddr::V4(v4.ip()),
            prefix_len: u8::try_from(prefix_len).unwrap_or(32),
        })
    } else if let Some(v6) = address.as_sockaddr_in6() {
        let prefix_len = netmask
            .and_then(|m| m.as_sockaddr_in6())
            .map_or(128, |m| m.ip().to_bits().leading_ones());
        Some(InterfaceAddress {
            // macOS and the BSDs may hand out a link-local address with its scope
            // embedded (KAME); elsewhere this changes nothing.
            address: crate::route_dump::without_embedded_scope(IpAddr::V6(v6.ip())),
            prefix_len: u8::try_from(prefix_len).unwrap_or(128),
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

    use super::*;

    fn entry(name: &str, up: bool, address: Option<(&str, u8)>) -> Entry {
        Entry {
            name: name.to_owned(),
            is_up: up,
            is_loopback: name == "lo",
            is_multicast: name != "lo",
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
        let v4 = |a: [u8; 4]| SockaddrStorage::from(SocketAddrV4::new(Ipv4Addr::from(a), 0));
        let v6 = |a: &str| {
            SockaddrStorage::from(SocketAddrV6::new(a.parse::<Ipv6Addr>().unwrap(), 0, 0, 0))
        };
        let address = v4([10, 1, 2, 3]);
        let cases = [
            (Some(v4([255, 255, 255, 0])), 24),
            (Some(v4([255, 192, 0, 0])), 10),
            (Some(v4([0, 0, 0, 0])), 0),
            (Some(v6("ffff:ffff::")), 32),
            (None, 32),
        ];
        for (netmask, expected) in cases {
            let found = ip_address(&address, netmask.as_ref()).unwrap();
            assert_eq!(found.address, IpAddr::from([10, 1, 2, 3]));
            assert_eq!(found.prefix_len, expected, "{netmask:?}");
        }
        let found = ip_address(&v6("fe80:4::2"), Some(&v6("ffff:ffff:ffff:ffff::"))).unwrap();
        assert_eq!(found.address, "fe80::2".parse::<IpAddr>().unwrap());
        assert_eq!(found.prefix_len, 64);
        let found = ip_address(&v6("fd00::2"), Some(&v6("ffff:ffff:ffff:ffff::"))).unwrap();
        assert_eq!(found.prefix_len, 64);
        assert_eq!(ip_address(&v6("fd00::2"), None).unwrap().prefix_len, 128);
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
