//! What a NAT traversal client needs to know about the local network: the default gateway
//! (the router to ask for port mappings), the interfaces and their addresses, which of
//! those addresses to advertise, and how to classify an address as wildcard, localhost,
//! private or public.
//!
//! Reading the system never spawns `ip`, `netstat` or `route`, and nothing here sends a
//! packet.
//!
//! # Platforms
//!
//! - Linux and Android: the default route is the route the kernel picks toward a public
//!   address, asked over NETLINK_ROUTE (`RTM_GETROUTE`, as `ip route get 1.1.1.1` does;
//!   a lookup sends nothing on the wire), in the calling thread's network namespace; the
//!   IPv4 source address toward a gateway is the kernel's pick from the same lookup. Only
//!   when netlink is refused (no socket, or the request cannot be sent: a seccomp filter,
//!   a sandbox) does Linux parse `/proc/net/route` and `/proc/net/ipv6_route` instead;
//!   Android never does, and reports [`Error::Netlink`]. The interfaces come from
//!   `getifaddrs(3)`. Tested on Linux, also inside network namespaces; Android is
//!   compile-checked (`cargo xtask cross`).
//! - macOS, iOS, FreeBSD, NetBSD and OpenBSD: the default route from the kernel's routing
//!   table dump (`sysctl` `NET_RT_FLAGS`), parsed by a pure parser unit-tested on dumps
//!   built after each system's `<net/route.h>`; the interfaces from `getifaddrs(3)`.
//!   Compile-checked for macOS and FreeBSD in CI, not run there.
//! - Windows: the default route from `GetIpForwardTable2` (lowest route plus interface
//!   metric), the interfaces from `GetAdaptersAddresses`. Compile-checked, not run.
//! - Other Unix systems (DragonFly, illumos, ...): interfaces from `getifaddrs`, and
//!   [`Error::Unsupported`] for the default route; elsewhere both are unsupported.
//!
//! The address classification, [`pick_best_address`] and [`local_address_toward`] work
//! everywhere.
//!
//! # Example
//!
//! ```
//! use std::net::IpAddr;
//!
//! let address: IpAddr = "192.168.1.5".parse().unwrap();
//! assert!(netinfo::is_private(address));
//! assert!(!netinfo::is_public(address));
//!
//! // A machine without a default route (a container, a laptop offline) is not a bug.
//! match netinfo::default_gateway() {
//!     Ok(gateway) => assert!(!gateway.is_unspecified()),
//!     Err(netinfo::Error::NoDefaultGateway { .. }) => {}
//!     Err(other) => eprintln!("cannot ask for the gateway: {other}"),
//! }
//! ```
//!
//! # Feature flags
//!
//! - `serde` (off by default): `serde::Serialize` for [`Interface`], [`InterfaceAddress`],
//!   [`GlobalIpv6Address`], [`DefaultRoute`] and [`Family`], for programs that print them
//!   as JSON.
//!
//! The package is published as `natkit-netinfo`; the library is `netinfo`.
//!
//! # Layout
//!
//! - `route`: [`DefaultRoute`], [`default_gateway`], [`default_gateway_v6`],
//!   [`default_route`], [`default_route_v6`], dispatching to the platform module.
//! - `netlink`: the pure NETLINK_ROUTE codec (`RTM_GETROUTE` requests, `RTM_NEWROUTE`,
//!   `NLMSG_ERROR` and `NLMSG_DONE` answers), tested everywhere.
//! - `linux` (Linux and Android): the default route and source address from netlink;
//!   `linux/route_socket`: the netlink socket; `linux/proc_route` (Linux only): the
//!   fallback parsers of `/proc/net/route` and `/proc/net/ipv6_route`.
//! - `route_dump`: the pure parser of the BSD routing-socket dump (every system's
//!   `rt_msghdr` layout, tested everywhere); `bsd` (macOS, iOS and the BSDs): the `sysctl`
//!   call that reads it.
//! - `windows_table`: the pure ranking of Windows' routes and adapters; `windows`
//!   (Windows only): the IP Helper calls.
//! - `interface`: [`Interface`], [`InterfaceAddress`], [`interfaces`],
//!   [`interface_addresses`], [`best_interface_address`].
//! - `ifaddrs` (Unix only): the `getifaddrs` listing, grouped per interface.
//! - `rank`: [`pick_best_address`], the pure ranking of candidate addresses.
//! - `classify`: [`is_wildcard`], [`is_localhost`], [`is_private`], [`is_public`] and their
//!   per-family forms, with the table of exactly which ranges count.
//! - `ipv6`: [`GlobalIpv6Address`], [`global_ipv6_addresses`], [`scope_id_toward`] (the
//!   interface a link-local gateway is reached by) and [`local_ipv6_address_toward`] (the
//!   global address a socket uses through an IPv6 gateway).
//! - `local`: [`local_address_toward`], the source address toward a gateway.
//! - `error`: [`Error`] and [`Result`].

// Denied, not forbidden: `ifaddrs` (getifaddrs(3), if_nametoindex(3)) and the `bsd` and
// `windows` modules allow it for their system calls.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
))]
mod bsd;
mod changes;
mod classify;
mod error;
#[cfg(unix)]
mod ifaddrs;
mod interface;
mod ipv6;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux;
mod local;
mod netlink;
mod path;
mod rank;
mod route;
mod route_dump;
#[cfg(windows)]
mod windows;
#[cfg(any(windows, test))]
mod windows_table;

pub use changes::{Changes, MAX_BURST, QUIET};
pub use classify::{
    is_localhost, is_localhost_v4, is_localhost_v6, is_private, is_private_v4, is_private_v6,
    is_public, is_public_v4, is_public_v6, is_wildcard, is_wildcard_v4, is_wildcard_v6,
};
pub use error::{Error, Result};
pub use interface::{
    Interface, InterfaceAddress, best_interface_address, interface_addresses, interfaces,
};
pub use ipv6::{
    GlobalIpv6Address, global_ipv6_addresses, local_ipv6_address_toward, scope_id_toward,
};
pub use local::local_address_toward;
/// For the `netlink_decode` fuzz target only (`cargo fuzz` sets `--cfg fuzzing`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub use netlink::fuzz_decode as fuzz_netlink_decode;
pub use path::{
    INTERNET_PROBE_V4, INTERNET_PROBE_V6, LinkKind, Path, default_paths, internet_path, route_to,
};
pub use rank::pick_best_address;
pub use route::{
    DefaultRoute, Family, default_gateway, default_gateway_v6, default_route, default_route_v6,
};
/// For the `route_dump` fuzz target only (`cargo fuzz` sets `--cfg fuzzing`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub use route_dump::fuzz_all_layouts as fuzz_route_dump;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_default_gateway_message_has_the_exact_words() {
        for family in [Family::V4, Family::V6] {
            let message = Error::NoDefaultGateway { family }.to_string();
            assert!(message.starts_with("no default gateway found"), "{message}");
        }
        assert_eq!(
            Error::NoDefaultGateway { family: Family::V6 }.to_string(),
            "no default gateway found for IPv6"
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn types_serialize_as_json() {
        let interface = Interface {
            name: "eth0".to_owned(),
            index: 2,
            addresses: vec![InterfaceAddress {
                address: "192.168.1.5".parse().unwrap(),
                prefix_len: 24,
            }],
            is_up: true,
            is_loopback: false,
            is_multicast: true,
            kind: LinkKind::Ethernet,
        };
        assert_eq!(
            serde_json::to_string(&interface).unwrap(),
            r#"{"name":"eth0","index":2,"addresses":[{"address":"192.168.1.5","prefix_len":24}],"is_up":true,"is_loopback":false,"is_multicast":true,"kind":"ethernet"}"#
        );
        let path = Path {
            family: Family::V4,
            interface: "wg0".to_owned(),
            index: 5,
            kind: LinkKind::Tunnel,
            local_address: "10.8.0.2".parse().unwrap(),
            gateway: None,
            metric: Some(0),
            split_default: true,
        };
        assert_eq!(
            serde_json::to_string(&path).unwrap(),
            r#"{"family":"V4","interface":"wg0","index":5,"kind":"tunnel","local_address":"10.8.0.2","gateway":null,"metric":0,"split_default":true}"#
        );
        let route = DefaultRoute {
            gateway: "192.168.1.1".parse().unwrap(),
            interface: "eth0".to_owned(),
            metric: 100,
        };
        assert_eq!(
            serde_json::to_string(&route).unwrap(),
            r#"{"gateway":"192.168.1.1","interface":"eth0","metric":100}"#
        );
    }

    #[cfg(any(
        target_os = "linux",
        target_os = "macos",
        target_os = "freebsd",
        windows
    ))]
    #[test]
    fn gateway_functions_return_a_gateway_or_a_typed_error() {
        match default_gateway() {
            Ok(gateway) => assert!(!gateway.is_unspecified()),
            Err(Error::NoDefaultGateway { family }) => assert_eq!(family, Family::V4),
            Err(e) => panic!("{e}"),
        }
        match default_gateway_v6() {
            Ok(gateway) => assert!(!gateway.is_unspecified()),
            Err(Error::NoDefaultGateway { family }) => assert_eq!(family, Family::V6),
            Err(e) => panic!("{e}"),
        }
    }

    #[cfg(any(unix, windows))]
    #[test]
    fn best_address_is_one_of_the_interface_addresses() {
        let addresses = interface_addresses().unwrap();
        let best = best_interface_address(None).unwrap();
        assert!(addresses.contains(&best) || best == std::net::Ipv4Addr::LOCALHOST);
        let toward_loopback = best_interface_address(Some("127.0.0.1".parse().unwrap())).unwrap();
        assert!(toward_loopback.is_loopback());
    }
}
