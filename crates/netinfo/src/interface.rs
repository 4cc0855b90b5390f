//! Network interfaces and their addresses: the types, the public listing functions, and
//! the choice of the best local address.

use std::net::IpAddr;

use crate::error::Result;
use crate::path::LinkKind;
use crate::rank::pick_best_address;

/// One network interface with its IP addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Interface {
    /// The interface's name, e.g. `eth0` or `lo`.
    pub name: String,
    /// The kernel's index for it, as used in IPv6 scope ids and `IP_MULTICAST_IF`.
    pub index: u32,
    /// Its IPv4 and IPv6 addresses, in the order the system lists them.
    pub addresses: Vec<InterfaceAddress>,
    /// Whether the interface is administratively up (`IFF_UP`).
    pub is_up: bool,
    /// Whether it is a loopback interface (`IFF_LOOPBACK`).
    pub is_loopback: bool,
    /// Whether it supports multicast (`IFF_MULTICAST`), which SSDP needs.
    pub is_multicast: bool,
    /// What it is: Ethernet or Wi-Fi, a tunnel, a bridge, ... On Linux and Android from
    /// the kernel's link type and driver (netlink); on macOS and the BSDs from the link
    /// layer's interface type; on Windows from the adapter's type.
    pub kind: LinkKind,
}

/// An address assigned to an interface, with the length of its network prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct InterfaceAddress {
    /// The address itself (an IPv6 address's scope is the interface's index).
    pub address: IpAddr,
    /// The number of leading bits that name the network, e.g. 24 for a `/24`.
    pub prefix_len: u8,
}

/// Lists the network interfaces, each with its addresses, in the system's order.
///
/// Interfaces without any IP address (a down Wi-Fi card, a bridge port) are listed too,
/// with an empty `addresses`.
///
/// # Errors
/// [`Error::ListInterfaces`](crate::Error::ListInterfaces) when the system refuses the
/// listing, [`Error::InterfaceIndex`](crate::Error::InterfaceIndex) when an interface
/// vanishes during it, [`Error::Unsupported`](crate::Error::Unsupported) on systems that
/// are neither Unix nor Windows.
pub fn interfaces() -> Result<Vec<Interface>> {
    platform::interfaces()
}

/// All IP addresses of the interfaces that are up, loopback included, in the system's
/// order.
///
/// # Errors
/// As for [`interfaces`].
pub fn interface_addresses() -> Result<Vec<IpAddr>> {
    Ok(interfaces()?
        .iter()
        .filter(|interface| interface.is_up)
        .flat_map(|interface| interface.addresses.iter().map(|a| a.address))
        .collect())
}

/// The local address best suited to advertise or to reach `peer`, out of
/// [`interface_addresses`]; see [`pick_best_address`] for the ranking. Without any address
/// this is `127.0.0.1`.
///
/// # Errors
/// As for [`interfaces`].
pub fn best_interface_address(peer: Option<IpAddr>) -> Result<IpAddr> {
    Ok(pick_best_address(&interface_addresses()?, peer))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
use crate::linux as platform;

#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
use crate::ifaddrs as platform;

#[cfg(windows)]
use crate::windows as platform;

/// The fallback for systems with neither `getifaddrs` nor `GetAdaptersAddresses`.
#[cfg(not(any(unix, windows)))]
mod platform {
    use super::{Interface, Result};
    use crate::error::Error;

    pub(crate) fn interfaces() -> Result<Vec<Interface>> {
        Err(Error::Unsupported {
            operation: "listing network interfaces",
        })
    }
}
