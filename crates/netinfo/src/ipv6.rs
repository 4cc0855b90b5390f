//! IPv6 specifics: the host's global addresses, the interface (scope) a link-local gateway
//! is reached through, and the global address a socket uses through an IPv6 gateway.
//!
//! An IPv6 router is usually known by its link-local address (`fe80::1`), which means
//! nothing without an interface, and the source address the kernel picks toward it is
//! link-local too. A PCP pinhole or an address to advertise needs the host's *global*
//! address on that link instead; [`local_ipv6_address_toward`] finds it.
//!
//! On Linux and Android the kernel's address flags (temporary, deprecated, tentative) come
//! with the addresses over netlink (`RTM_GETADDR`); elsewhere addresses are listed without
//! them.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};

use crate::error::{Error, Result};
use crate::interface::{Interface, interfaces};

/// The port the probe sockets connect to; connecting a UDP socket sends nothing.
const PROBE_PORT: u16 = 5351;

/// A global unicast destination (inside `2000::/3`, assigned to nobody in particular) whose
/// route is the default route: the source address the kernel picks toward it is the one the
/// internet would see. Only `connect(2)` sees it; no packet goes there.
const GLOBAL_PROBE: Ipv6Addr = Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 1);

/// Linux address flags (`IFA_F_*` in `<linux/if_addr.h>`), their low byte as the address
/// dump gives it.
const IFA_F_TEMPORARY: u8 = 0x01;
const IFA_F_DADFAILED: u8 = 0x08;
const IFA_F_DEPRECATED: u8 = 0x20;
const IFA_F_TENTATIVE: u8 = 0x40;

/// A global-scope IPv6 address of this host: public (`2000::/3` and the rest) or unique
/// local (`fc00::/7`), never link-local, loopback, multicast or IPv4-mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GlobalIpv6Address {
    /// The address.
    pub address: Ipv6Addr,
    /// The length of its on-link prefix, usually 64.
    pub prefix_len: u8,
    /// The name of the interface that holds it.
    pub interface: String,
    /// That interface's index (an IPv6 scope id).
    pub index: u32,
    /// A temporary (privacy extension, RFC 8981) address, which the system replaces after
    /// a while: a poor choice for a pinhole or an advertised address. Known on Linux only;
    /// `false` elsewhere.
    pub temporary: bool,
    /// Deprecated: its preferred lifetime is over and the system avoids it for new
    /// connections. Known on Linux only; `false` elsewhere.
    pub deprecated: bool,
}

impl GlobalIpv6Address {
    /// True for a public address, false for a unique local one (`fc00::/7`), which no
    /// peer on the internet can reach.
    pub fn is_public(&self) -> bool {
        crate::is_public_v6(self.address)
    }
}

/// True for an address of global scope that can be a host's source address: neither
/// unspecified, loopback, link-local, multicast nor IPv4-mapped (unique local counts).
pub(crate) fn is_global_scope(address: Ipv6Addr) -> bool {
    let link_local = (address.segments()[0] & 0xffc0) == 0xfe80;
    !(address.is_unspecified()
        || address.is_loopback()
        || address.is_multicast()
        || link_local
        || address.to_ipv4_mapped().is_some())
}

/// The global-scope IPv6 addresses of the interfaces that are up, in the system's order,
/// public and unique local alike ([`GlobalIpv6Address::is_public`] tells them apart).
///
/// On Linux, addresses still in duplicate address detection (tentative) or that failed it
/// are left out, as the kernel would not send from them, and the temporary and deprecated
/// flags are filled in from the kernel's address list (netlink).
///
/// # Errors
/// As for [`interfaces`](crate::interfaces).
pub fn global_ipv6_addresses() -> Result<Vec<GlobalIpv6Address>> {
    Ok(collect_global(&interfaces()?, &platform_flags()))
}

/// The global addresses of `interfaces`, with their flags from `flags` (address,
/// interface index, `IFA_F_*` byte) where listed.
fn collect_global(
    interfaces: &[Interface],
    flags: &[(Ipv6Addr, u32, u8)],
) -> Vec<GlobalIpv6Address> {
    let mut found = Vec::new();
    for interface in interfaces.iter().filter(|i| i.is_up && !i.is_loopback) {
        for entry in &interface.addresses {
            let IpAddr::V6(address) = entry.address else {
                continue;
            };
            if !is_global_scope(address) {
                continue;
            }
            let flag = flags
                .iter()
                .find(|(a, index, _)| *a == address && *index == interface.index)
                .map_or(0, |(_, _, flag)| *flag);
            if flag & (IFA_F_TENTATIVE | IFA_F_DADFAILED) != 0 {
                continue;
            }
            found.push(GlobalIpv6Address {
                address,
                prefix_len: entry.prefix_len,
                interface: interface.name.clone(),
                index: interface.index,
                temporary: flag & IFA_F_TEMPORARY != 0,
                deprecated: flag & IFA_F_DEPRECATED != 0,
            });
        }
    }
    found
}

/// The scope id (interface index) to reach `gateway` by: 0 for an address that needs none;
/// for a link-local address (`fe80::/10`), the interface of the IPv6 default route whose
/// next hop it is (the lowest-metric one, if several interfaces have such a route).
///
/// # Errors
/// [`Error::NoInterfaceToward`] when `gateway` is link-local but not the IPv6 default
/// route's next hop; otherwise as for [`default_route_v6`](crate::default_route_v6) and
/// [`interfaces`](crate::interfaces).
pub fn scope_id_toward(gateway: Ipv6Addr) -> Result<u32> {
    if !is_link_local(gateway) {
        return Ok(0);
    }
    let route = crate::default_route_v6()?;
    if route.gateway != IpAddr::V6(gateway) {
        return Err(Error::NoInterfaceToward { gateway });
    }
    interfaces()?
        .into_iter()
        .find(|interface| interface.name == route.interface)
        .map(|interface| interface.index)
        .ok_or(Error::NoInterfaceToward { gateway })
}

/// The global IPv6 address a socket would use through `gateway`, reached over interface
/// `scope_id` (needed for a link-local gateway, 0 otherwise; see [`scope_id_toward`]).
///
/// This is the address a peer on the internet sees and the one to ask a PCP pinhole for:
/// toward a link-local router the kernel itself would send from a link-local address. The
/// kernel's own choice toward the internet is kept when it is a global address on the
/// gateway's interface that is neither temporary nor deprecated; otherwise the interface's
/// best global address is taken: not deprecated, not temporary, public before unique local,
/// then in the system's order. Toward a loopback gateway (a test server on `::1`) it is
/// `::1`.
///
/// # Errors
/// [`Error::LocalAddress`] when no socket can be connected toward `gateway` (no route, a
/// link-local gateway without its scope); [`Error::NoGlobalIpv6Address`] when the
/// interface toward it has no usable global address; otherwise as for
/// [`interfaces`](crate::interfaces).
pub fn local_ipv6_address_toward(gateway: Ipv6Addr, scope_id: u32) -> Result<Ipv6Addr> {
    let source = probe(SocketAddrV6::new(gateway, PROBE_PORT, 0, scope_id)).map_err(|source| {
        Error::LocalAddress {
            gateway: IpAddr::V6(gateway),
            source,
        }
    })?;
    if source.is_loopback() {
        return Ok(source);
    }
    let interfaces = interfaces()?;
    let index = if scope_id != 0 {
        scope_id
    } else {
        interfaces
            .iter()
            .find(|i| i.addresses.iter().any(|a| a.address == IpAddr::V6(source)))
            .map_or(0, |i| i.index)
    };
    let candidates: Vec<GlobalIpv6Address> = collect_global(&interfaces, &platform_flags())
        .into_iter()
        .filter(|candidate| candidate.index == index)
        .collect();
    // Toward a link-local router the kernel's source is link-local; its choice toward the
    // internet (same default route) shows which global address it prefers.
    let hint = if is_global_scope(source) {
        Some(source)
    } else {
        probe(SocketAddrV6::new(GLOBAL_PROBE, PROBE_PORT, 0, 0))
            .ok()
            .filter(|hint| is_global_scope(*hint))
    };
    pick_global_source(&candidates, hint).ok_or_else(|| Error::NoGlobalIpv6Address {
        gateway: IpAddr::V6(gateway),
        interface: interfaces
            .iter()
            .find(|i| i.index == index)
            .map_or_else(|| format!("#{index}"), |i| i.name.clone()),
    })
}

/// The source address among `candidates` (the global addresses of the interface toward the
/// gateway); `hint` is the kernel's own choice. See [`local_ipv6_address_toward`].
fn pick_global_source(
    candidates: &[GlobalIpv6Address],
    hint: Option<Ipv6Addr>,
) -> Option<Ipv6Addr> {
    if let Some(hint) = hint {
        let listed = candidates.iter().find(|c| c.address == hint);
        match listed {
            Some(c) if !c.temporary && !c.deprecated => return Some(hint),
            // Global, but on another interface (a tunnel, an address on `lo`): the kernel
            // sends from it, and nothing on this link is better known.
            None if candidates.is_empty() => return Some(hint),
            _ => {}
        }
    }
    candidates
        .iter()
        .enumerate()
        .min_by_key(|(position, c)| (c.deprecated, c.temporary, !c.is_public(), *position))
        .map(|(_, c)| c.address)
}

/// The local address of a UDP socket connected to `target` (nothing is sent).
fn probe(target: SocketAddrV6) -> std::io::Result<Ipv6Addr> {
    let socket = UdpSocket::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)))?;
    socket.connect(SocketAddr::V6(target))?;
    match socket.local_addr()? {
        SocketAddr::V6(local) => Ok(*local.ip()),
        SocketAddr::V4(_) => Err(std::io::Error::from(std::io::ErrorKind::AddrNotAvailable)),
    }
}

fn is_link_local(address: Ipv6Addr) -> bool {
    (address.segments()[0] & 0xffc0) == 0xfe80
}

/// The kernel's flags of every IPv6 address, from an `RTM_GETADDR` dump over netlink (in
/// the calling thread's namespace); nothing when netlink is refused.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn platform_flags() -> Vec<(Ipv6Addr, u32, u8)> {
    crate::linux::ipv6_address_flags()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn platform_flags() -> Vec<(Ipv6Addr, u32, u8)> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::InterfaceAddress;

    fn address(text: &str, temporary: bool, deprecated: bool) -> GlobalIpv6Address {
        GlobalIpv6Address {
            address: text.parse().unwrap(),
            prefix_len: 64,
            interface: "eth0".into(),
            index: 2,
            temporary,
            deprecated,
        }
    }

    #[test]
    fn global_scope_classification() {
        for (text, global) in [
            ("2001:db8::1", true),
            ("fd00::2", true),
            ("fe80::1", false),
            ("febf::1", false),
            ("::1", false),
            ("::", false),
            ("ff02::1", false),
            ("::ffff:192.0.2.1", false),
        ] {
            assert_eq!(is_global_scope(text.parse().unwrap()), global, "{text}");
        }
    }

    #[test]
    fn collecting_keeps_global_addresses_of_up_interfaces_with_their_flags() {
        let v6 = |text: &str| InterfaceAddress {
            address: text.parse().unwrap(),
            prefix_len: 64,
        };
        let interfaces = vec![
            Interface {
                name: "lo".into(),
                index: 1,
                addresses: vec![v6("::1")],
                is_up: true,
                is_loopback: true,
                is_multicast: false,
                kind: crate::LinkKind::Loopback,
            },
            Interface {
                name: "eth0".into(),
                index: 4,
                addresses: vec![
                    InterfaceAddress {
                        address: "192.168.1.5".parse().unwrap(),
                        prefix_len: 24,
                    },
                    v6("fe80::1:2"),
                    v6("2001:db8::2"),
                    v6("2001:db8::3"),
                    v6("2001:db8::4"),
                    v6("fd00::2"),
                ],
                is_up: true,
                is_loopback: false,
                is_multicast: true,
                kind: crate::LinkKind::Ethernet,
            },
            Interface {
                name: "eth1".into(),
                index: 5,
                addresses: vec![v6("2001:db8:1::2")],
                is_up: false,
                is_loopback: false,
                is_multicast: true,
                kind: crate::LinkKind::Ethernet,
            },
        ];
        let flags = [
            (
                "2001:db8::3".parse().unwrap(),
                4,
                IFA_F_TEMPORARY | IFA_F_DEPRECATED,
            ),
            ("2001:db8::4".parse().unwrap(), 4, IFA_F_TENTATIVE),
            // Same address on another interface: not this one's flags.
            ("2001:db8::2".parse().unwrap(), 9, IFA_F_TEMPORARY),
        ];
        let found = collect_global(&interfaces, &flags);
        let summary: Vec<(String, &str, bool, bool, bool)> = found
            .iter()
            .map(|a| {
                (
                    a.address.to_string(),
                    a.interface.as_str(),
                    a.temporary,
                    a.deprecated,
                    a.is_public(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("2001:db8::2".to_owned(), "eth0", false, false, true),
                ("2001:db8::3".to_owned(), "eth0", true, true, true),
                ("fd00::2".to_owned(), "eth0", false, false, false),
            ]
        );
        assert!(found.iter().all(|a| a.index == 4));
    }

    #[test]
    fn the_kernels_stable_choice_is_kept() {
        let candidates = [
            address("2001:db8::1", false, false),
            address("2001:db8::2", false, false),
        ];
        let hint = "2001:db8::2".parse().ok();
        assert_eq!(pick_global_source(&candidates, hint), hint);
    }

    #[test]
    fn a_temporary_or_deprecated_choice_gives_way_to_a_stable_address() {
        let candidates = [
            address("2001:db8::7", true, false),
            address("fd00::1", false, false),
            address("2001:db8::8", false, true),
            address("2001:db8::1", false, false),
        ];
        let temporary = "2001:db8::7".parse().ok();
        assert_eq!(
            pick_global_source(&candidates, temporary),
            "2001:db8::1".parse().ok()
        );
        // Without a hint (a link-local router and no route to the internet) the same rank.
        assert_eq!(
            pick_global_source(&candidates, None),
            "2001:db8::1".parse().ok()
        );
        // Only temporary addresses: the temporary one, not nothing.
        let only_temporary = [address("2001:db8::7", true, false)];
        assert_eq!(
            pick_global_source(&only_temporary, None),
            "2001:db8::7".parse().ok()
        );
    }

    #[test]
    fn unique_local_is_taken_only_without_a_public_address() {
        let candidates = [address("fd00::5", false, false)];
        assert_eq!(
            pick_global_source(&candidates, None),
            "fd00::5".parse().ok()
        );
        let both = [
            address("fd00::5", false, false),
            address("2001:db8::5", false, false),
        ];
        assert_eq!(pick_global_source(&both, None), "2001:db8::5".parse().ok());
    }

    #[test]
    fn a_hint_elsewhere_counts_only_when_the_link_has_nothing() {
        let hint = "2001:db8:ff::1".parse().ok();
        assert_eq!(pick_global_source(&[], hint), hint);
        let candidates = [address("2001:db8::1", false, false)];
        assert_eq!(
            pick_global_source(&candidates, hint),
            "2001:db8::1".parse().ok()
        );
        assert_eq!(pick_global_source(&[], None), None);
    }

    #[test]
    fn global_gateways_need_no_scope() {
        assert_eq!(scope_id_toward("2001:db8::1".parse().unwrap()).unwrap(), 0);
        assert_eq!(scope_id_toward(Ipv6Addr::LOCALHOST).unwrap(), 0);
    }

    #[cfg(any(unix, windows))]
    #[test]
    fn toward_ipv6_loopback_is_loopback() {
        let host_has_ipv6_loopback = crate::interface_addresses()
            .unwrap()
            .contains(&IpAddr::V6(Ipv6Addr::LOCALHOST));
        if host_has_ipv6_loopback {
            assert_eq!(
                local_ipv6_address_toward(Ipv6Addr::LOCALHOST, 0).unwrap(),
                Ipv6Addr::LOCALHOST
            );
        }
    }

    #[test]
    fn listed_addresses_are_global() {
        if let Ok(found) = global_ipv6_addresses() {
            assert!(
                found.iter().all(|a| is_global_scope(a.address)),
                "{found:?}"
            );
        }
    }
}
