//! What a NAT traversal client needs to know about the local network: the default gateway
//! (the router to ask for port mappings), the interfaces and their addresses, which of
//! those addresses to advertise, and how to classify an address as wildcard, localhost,
//! private or public.
//!
//! Reading the system never spawns `ip`, `netstat` or `route`, and nothing here sends a
//! packet.
//!
//! It also tells the path the kernel picks toward a destination ([`route_to`]) or the
//! internet ([`internet_path`]): interface, its [`LinkKind`], local address and next hop, so
//! a full-tunnel VPN shows as a [`LinkKind::Tunnel`] path; every other way out
//! ([`default_paths`]: a second uplink, the LAN under a VPN); and when routes, addresses or
//! links change ([`Changes`], from the operating system's notifications).
//!
//! # Platforms
//!
//! - Linux and Android: everything over NETLINK_ROUTE, in the calling thread's network
//!   namespace: the path is the kernel's own route lookup (`RTM_GETROUTE` with `RTA_DST`,
//!   as `ip route get 1.1.1.1` asks; a lookup sends nothing on the wire), the default routes
//!   a dump of the table, the interfaces, their kinds and addresses (with the IPv6 flags)
//!   `RTM_GETLINK` and `RTM_GETADDR` dumps, the changes the notification groups. No `/proc`
//!   file is read: Android denies `/proc/net/route` to apps, and a parse is not what the
//!   kernel would pick. Where netlink is refused the routes are an [`Error::Netlink`] and the
//!   interfaces come from `getifaddrs(3)`. Tested on Linux, also inside network namespaces;
//!   Android is compile-checked (`cargo xtask cross`).
//! - macOS, iOS, FreeBSD, NetBSD and OpenBSD: the default routes from the kernel's routing
//!   table dump (`sysctl` `NET_RT_FLAGS`), parsed by a pure parser unit-tested on dumps
//!   built after each system's `<net/route.h>`; the path toward a destination from `RTM_GET`
//!   on a routing socket (macOS, iOS and FreeBSD); changes from a `PF_ROUTE` socket; the
//!   interfaces from `getifaddrs(3)`. Compile-checked for macOS and FreeBSD, not run there.
//! - Windows: the default routes from `GetIpForwardTable2` (route plus interface metric),
//!   the path from `GetBestRoute2`, the interfaces from `GetAdaptersAddresses`, changes from
//!   `NotifyRouteChange2`, `NotifyIpInterfaceChange` and `NotifyUnicastIpAddressChange`.
//!   Compile-checked, not run.
//! - Other Unix systems (DragonFly, illumos, ...): interfaces from `getifaddrs`, and
//!   [`Error::Unsupported`] for routes and changes; elsewhere all are unsupported.
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
//!   [`GlobalIpv6Address`], [`DefaultRoute`], [`Path`], [`LinkKind`] and [`Family`], for
//!   programs that print them as JSON.
//! - `tokio` (off by default): [`Changes::changed`], an async wait for network changes
//!   (tokio's `AsyncFd` on Unix, a `Notify` fed by the system's callbacks on Windows).
//!
//! The package is published as `natkit-netinfo`; the library is `netinfo`.
//!
//! # Layout
//!
//! - `route`: [`DefaultRoute`], [`default_gateway`], [`default_gateway_v6`],
//!   [`default_route`], [`default_route_v6`], dispatching to the platform module.
//! - `path`: [`Path`], [`LinkKind`] (and how each system's link types map to it),
//!   [`route_to`], [`internet_path`], [`default_paths`].
//! - `changes`: [`Changes`], the wait for the system's change notifications and the
//!   coalescing of their bursts.
//! - `netlink`: the pure NETLINK_ROUTE codec (`RTM_GETROUTE`, `RTM_GETLINK` and
//!   `RTM_GETADDR` requests, `RTM_NEWROUTE`, `RTM_NEWLINK`, `RTM_NEWADDR`, `RTM_DEL*`,
//!   `NLMSG_ERROR` and `NLMSG_DONE` messages), tested everywhere; `netlink/select`: the ways
//!   out of a route dump and the source address among an interface's addresses.
//! - `linux` (Linux and Android): paths, routes, interfaces and addresses from netlink;
//!   `linux/route_socket`: the request socket; `linux/monitor`: the notification socket.
//! - `route_dump`: the pure parser of the BSD routing-socket dump (every system's
//!   `rt_msghdr` layout, tested everywhere); `route_dump/get`: the `RTM_GET` request and
//!   answer; `bsd` (macOS, iOS and the BSDs): the `sysctl` call and the routing socket;
//!   `bsd/monitor`: the `PF_ROUTE` change socket.
//! - `windows_table`: the pure ranking of Windows' routes and adapters; `windows`
//!   (Windows only): the IP Helper calls; `windows/notify`: the change notifications.
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
//! - `platform`: which backend serves this system (and `platform/unsupported` where none
//!   does), chosen once for `route`, `path` and `changes`.
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
mod platform;
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
