//! Windows: the interfaces from `GetAdaptersAddresses`, the default routes from
//! `GetIpForwardTable2` and the path toward one destination from `GetBestRoute2`, through
//! `windows-sys`; the change monitor in `windows/notify`. Neither call sends a packet. This module
//! only makes the calls and copies their structures into the plain values of
//! [`windows_table`](crate::windows_table), which ranks them.

// The IP Helper calls and the reading of the structures they fill are the only unsafe
// code; each block says why it is sound.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::ptr;

use windows_sys::Win32::Foundation::{ERROR_BUFFER_OVERFLOW, NO_ERROR};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    FreeMibTable, GAA_FLAG_SKIP_ANYCAST, GAA_FLAG_SKIP_DNS_SERVER, GAA_FLAG_SKIP_MULTICAST,
    GetAdaptersAddresses, GetBestRoute2, GetIpForwardTable2, IF_TYPE_SOFTWARE_LOOPBACK,
    IP_ADAPTER_ADDRESSES_LH, IP_ADAPTER_NO_MULTICAST, MIB_IPFORWARD_ROW2, MIB_IPFORWARD_TABLE2,
};
use windows_sys::Win32::NetworkManagement::Ndis::IfOperStatusUp;
use windows_sys::Win32::Networking::WinSock::{AF_INET, AF_INET6, AF_UNSPEC, SOCKADDR_INET};

use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::interface::{Interface, InterfaceAddress};
use crate::path::{LinkKind, Path};
use crate::route::{DefaultRoute, Family};
use crate::windows_table::{self, Adapter, ForwardRow};

pub(crate) mod notify;

/// The first buffer for `GetAdaptersAddresses`, the size Microsoft's documentation
/// recommends; the call says how much it needs when that is not enough.
const FIRST_BUFFER_LEN: usize = 15 * 1024;
/// The largest buffer asked for: a machine with thousands of adapters is not a client.
const MAX_BUFFER_LEN: usize = 16 << 20;
/// How many times the size is asked again when adapters appear between two calls.
const ATTEMPTS: usize = 4;
/// The longest friendly name read, in UTF-16 units (Windows limits them to 256).
const MAX_NAME_LEN: usize = 1024;

/// Lists the network adapters as interfaces.
pub(crate) fn interfaces() -> Result<Vec<Interface>> {
    Ok(adapters()?.iter().map(Adapter::to_interface).collect())
}

/// Reads the routing table of `family` and returns its best default route.
pub(crate) fn default_route(family: Family) -> Result<DefaultRoute> {
    let rows = forward_rows(family)?;
    let adapters = adapters()?;
    windows_table::best_default_route(&rows, &adapters, family)
        .ok_or(Error::NoDefaultGateway { family })
}

/// The path toward `destination`: `GetBestRoute2`'s route and source address.
pub(crate) fn route_to(destination: IpAddr) -> Result<Path> {
    let family = if destination.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    };
    // SAFETY: all-zero bytes are a valid SOCKADDR_INET and MIB_IPFORWARD_ROW2 (integers
    // and unions of integers).
    let mut target: SOCKADDR_INET = unsafe { std::mem::zeroed() };
    match destination {
        IpAddr::V4(v4) => {
            target.si_family = AF_INET;
            target.Ipv4.sin_family = AF_INET;
            target.Ipv4.sin_addr.S_un.S_addr = u32::from_ne_bytes(v4.octets());
        }
        IpAddr::V6(v6) => {
            target.si_family = AF_INET6;
            target.Ipv6.sin6_family = AF_INET6;
            target.Ipv6.sin6_addr.u.Byte = v6.octets();
        }
    }
    let mut row: MIB_IPFORWARD_ROW2 = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut source: SOCKADDR_INET = unsafe { std::mem::zeroed() };
    // SAFETY: the destination, the row and the source are live for the call; a null LUID
    // and source address and index 0 leave the choice to the system.
    let status = unsafe {
        GetBestRoute2(
            ptr::null(),
            0,
            ptr::null(),
            &target,
            0,
            &mut row,
            &mut source,
        )
    };
    if status != NO_ERROR {
        // ERROR_NETWORK_UNREACHABLE, ERROR_HOST_UNREACHABLE, ERROR_NOT_FOUND.
        if [1231, 1232, 1168].contains(&status) {
            return Err(Error::NoRoute { destination });
        }
        // ERROR_NOT_SUPPORTED: a system without the call (Wine) still has the table.
        if status == 50 {
            return route_from_table(destination, family);
        }
        return Err(Error::RouteTableCall {
            call: "GetBestRoute2",
            source: io::Error::from_raw_os_error(status as i32),
        });
    }
    let adapters = adapters()?;
    let adapter = windows_table::adapter_of(&adapters, row.InterfaceIndex);
    let interface_metric = adapter.map_or(0, |a| match family {
        Family::V4 => a.ipv4_metric,
        Family::V6 => a.ipv6_metric,
    });
    let local_address =
        windows_table::sockaddr_ip(sockaddr_inet_bytes(&source)).ok_or(Error::LocalAddress {
            gateway: destination,
            source: io::Error::from(io::ErrorKind::AddrNotAvailable),
        })?;
    Ok(Path {
        family,
        interface: adapter.map_or_else(|| row.InterfaceIndex.to_string(), |a| a.name.clone()),
        index: row.InterfaceIndex,
        kind: adapter.map_or(LinkKind::Other, |a| a.kind),
        local_address,
        gateway: windows_table::sockaddr_ip(sockaddr_inet_bytes(&row.NextHop))
            .filter(|hop| !hop.is_unspecified()),
        metric: Some(row.Metric.saturating_add(interface_metric)),
        split_default: false,
    })
}

/// [`route_to`] read from the forward table, as `GetBestRoute2` would choose
/// ([`windows_table::best_route_to`]), with the adapter's own address as the source.
fn route_from_table(destination: IpAddr, family: Family) -> Result<Path> {
    let rows = forward_rows(family)?;
    let adapters = adapters()?;
    let (row, metric) = windows_table::best_route_to(&rows, &adapters, destination)
        .ok_or(Error::NoRoute { destination })?;
    let adapter = windows_table::adapter_of(&adapters, row.interface_index);
    let local_address = match adapter.and_then(|a| windows_table::adapter_source(a, family)) {
        Some(address) => address,
        None => crate::local_address_toward(destination)?,
    };
    Ok(Path {
        family,
        interface: adapter.map_or_else(|| row.interface_index.to_string(), |a| a.name.clone()),
        index: row.interface_index,
        kind: adapter.map_or(LinkKind::Other, |a| a.kind),
        local_address,
        gateway: row
            .next_hop
            .filter(|hop| hop.is_ipv4() == destination.is_ipv4() && !hop.is_unspecified()),
        metric: Some(metric),
        split_default: row.prefix_len == 1,
    })
}

/// Every way out of `family`'s table, best first (see [`windows_table::ways_out`]).
pub(crate) fn default_paths(family: Family) -> Result<Vec<Path>> {
    let rows = forward_rows(family)?;
    let adapters = adapters()?;
    Ok(windows_table::ways_out(&rows, &adapters, family)
        .into_iter()
        .filter_map(|way| {
            let adapter = windows_table::adapter_of(&adapters, way.interface_index)?;
            Some(Path {
                family,
                interface: adapter.name.clone(),
                index: way.interface_index,
                kind: adapter.kind,
                local_address: windows_table::adapter_source(adapter, family)?,
                gateway: way.gateway,
                metric: Some(way.metric),
                split_default: way.split,
            })
        })
        .collect())
}

/// Every route of `family`, from `GetIpForwardTable2`.
fn forward_rows(family: Family) -> Result<Vec<ForwardRow>> {
    let af = match family {
        Family::V4 => AF_INET,
        Family::V6 => AF_INET6,
    };
    let mut table: *mut MIB_IPFORWARD_TABLE2 = ptr::null_mut();
    // SAFETY: `table` is a valid place for the pointer to the table the call allocates.
    let status = unsafe { GetIpForwardTable2(af, &mut table) };
    if status != NO_ERROR || table.is_null() {
        return Err(Error::RouteTableCall {
            call: "GetIpForwardTable2",
            source: io::Error::from_raw_os_error(status as i32),
        });
    }
    let _free = MibTable(table);
    // SAFETY: on success `table` points to a MIB_IPFORWARD_TABLE2 whose `Table` holds
    // `NumEntries` rows, alive until `FreeMibTable`, called when `_free` drops after the
    // rows are copied out.
    let rows: &[MIB_IPFORWARD_ROW2] = unsafe {
        let count = (*table).NumEntries as usize;
        std::slice::from_raw_parts((*table).Table.as_ptr(), count)
    };
    Ok(rows
        .iter()
        .filter_map(|row| windows_table::forward_row(row_bytes(row)))
        .collect())
}

/// Frees the table `GetIpForwardTable2` allocated when dropped.
struct MibTable(*mut MIB_IPFORWARD_TABLE2);

impl Drop for MibTable {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful GetIpForwardTable2 and is freed once.
        unsafe { FreeMibTable(self.0.cast()) };
    }
}

/// The bytes of a `MIB_IPFORWARD_ROW2`, for [`windows_table::forward_row`].
fn row_bytes(row: &MIB_IPFORWARD_ROW2) -> &[u8] {
    // SAFETY: the row lies in the table the system allocated and filled (padding
    // included, as far as this process can tell: it is memory foreign code wrote); the
    // slice borrows it for as long as `row`.
    unsafe {
        std::slice::from_raw_parts(
            ptr::from_ref(row).cast::<u8>(),
            size_of::<MIB_IPFORWARD_ROW2>(),
        )
    }
}

/// The bytes of a `SOCKADDR_INET`, for [`windows_table::sockaddr_ip`].
fn sockaddr_inet_bytes(sockaddr: &SOCKADDR_INET) -> &[u8] {
    // SAFETY: a SOCKADDR_INET is plain bytes (a union of two C structures of integers),
    // all of it written by the system call that filled it; the slice borrows it.
    unsafe {
        std::slice::from_raw_parts(
            ptr::from_ref(sockaddr).cast::<u8>(),
            size_of::<SOCKADDR_INET>(),
        )
    }
}

/// Every adapter with its unicast addresses, from `GetAdaptersAddresses`.
fn adapters() -> Result<Vec<Adapter>> {
    let flags = GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER;
    let mut len = FIRST_BUFFER_LEN;
    for _ in 0..ATTEMPTS {
        // u64 elements: the structures need 8-byte alignment.
        let mut buffer = vec![0u64; len.div_ceil(size_of::<u64>())];
        let mut size = u32::try_from(buffer.len() * size_of::<u64>()).unwrap_or(u32::MAX);
        // SAFETY: `buffer` is valid for writes of `size` bytes and suitably aligned;
        // `size` is a valid u32 the call updates.
        let status = unsafe {
            GetAdaptersAddresses(
                u32::from(AF_UNSPEC),
                flags,
                ptr::null(),
                buffer.as_mut_ptr().cast::<IP_ADAPTER_ADDRESSES_LH>(),
                &mut size,
            )
        };
        match status {
            NO_ERROR => return Ok(read_adapters(&buffer)),
            ERROR_BUFFER_OVERFLOW if (size as usize) <= MAX_BUFFER_LEN => len = size as usize,
            _ => {
                return Err(Error::ListInterfaces(io::Error::from_raw_os_error(
                    status as i32,
                )));
            }
        }
    }
    Err(Error::ListInterfaces(io::Error::other(
        "GetAdaptersAddresses kept asking for a larger buffer",
    )))
}

/// Walks the list `GetAdaptersAddresses` wrote into `buffer`.
fn read_adapters(buffer: &[u64]) -> Vec<Adapter> {
    let mut adapters = Vec::new();
    let mut next = buffer.as_ptr().cast::<IP_ADAPTER_ADDRESSES_LH>();
    while !next.is_null() {
        // SAFETY: `next` is the buffer's start, where the successful call put the first
        // adapter, or a `Next` link it wrote, pointing inside `buffer`, which outlives
        // this loop.
        let adapter = unsafe { &*next };
        // SAFETY: reading the union's `IfIndex` and `Flags` views, both plain integers
        // the call wrote.
        let (if_index, adapter_flags) = unsafe {
            (
                adapter.Anonymous1.Anonymous.IfIndex,
                adapter.Anonymous2.Flags,
            )
        };
        let mut addresses = Vec::new();
        let mut unicast = adapter.FirstUnicastAddress;
        while !unicast.is_null() {
            // SAFETY: a unicast list link the call wrote, inside `buffer`.
            let entry = unsafe { &*unicast };
            let sockaddr = &entry.Address;
            if !sockaddr.lpSockaddr.is_null() && sockaddr.iSockaddrLength > 0 {
                // SAFETY: `lpSockaddr` points to `iSockaddrLength` bytes of a socket
                // address inside `buffer`.
                let bytes = unsafe {
                    std::slice::from_raw_parts(
                        sockaddr.lpSockaddr.cast::<u8>(),
                        sockaddr.iSockaddrLength as usize,
                    )
                };
                if let Some(address) = windows_table::sockaddr_ip(bytes) {
                    addresses.push(InterfaceAddress {
                        address,
                        prefix_len: entry.OnLinkPrefixLength,
                    });
                }
            }
            unicast = entry.Next;
        }
        let index = if if_index != 0 {
            if_index
        } else {
            adapter.Ipv6IfIndex
        };
        adapters.push(Adapter {
            // SAFETY: `FriendlyName` is null or a NUL-terminated UTF-16 string inside
            // `buffer`.
            name: unsafe { wide_string(adapter.FriendlyName) }.unwrap_or_else(|| index.to_string()),
            if_index,
            ipv6_if_index: adapter.Ipv6IfIndex,
            ipv4_metric: adapter.Ipv4Metric,
            ipv6_metric: adapter.Ipv6Metric,
            is_up: adapter.OperStatus == IfOperStatusUp,
            is_loopback: adapter.IfType == IF_TYPE_SOFTWARE_LOOPBACK,
            is_multicast: adapter_flags & IP_ADAPTER_NO_MULTICAST == 0,
            kind: LinkKind::from_windows_if_type(adapter.IfType),
            addresses,
        });
        next = adapter.Next;
    }
    adapters
}

/// The text of a NUL-terminated UTF-16 string, at most [`MAX_NAME_LEN`] units of it;
/// `None` for a null pointer.
///
/// # Safety
/// `text` is null or points to a NUL-terminated UTF-16 string.
unsafe fn wide_string(text: *const u16) -> Option<String> {
    if text.is_null() {
        return None;
    }
    let mut len = 0;
    // SAFETY: the string is NUL-terminated, so every unit up to and including the NUL
    // can be read; the count stops there.
    while len < MAX_NAME_LEN && unsafe { *text.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` units before the NUL (or the cap) were just read.
    let units = unsafe { std::slice::from_raw_parts(text, len) };
    Some(String::from_utf16_lossy(units))
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;
    use std::net::IpAddr;

    use windows_sys::Win32::NetworkManagement::IpHelper::IP_ADDRESS_PREFIX;
    use windows_sys::Win32::Networking::WinSock::{IN6_ADDR, IN6_ADDR_0, SOCKADDR_INET};

    use super::*;

    /// The offsets `windows_table::forward_row` reads are those of the real structure.
    #[test]
    fn the_row_layout_is_windows_own() {
        assert_eq!(
            size_of::<MIB_IPFORWARD_ROW2>(),
            windows_table::FORWARD_ROW_LEN
        );
        assert_eq!(offset_of!(MIB_IPFORWARD_ROW2, InterfaceIndex), 8);
        assert_eq!(offset_of!(MIB_IPFORWARD_ROW2, DestinationPrefix), 12);
        assert_eq!(offset_of!(MIB_IPFORWARD_ROW2, NextHop), 44);
        assert_eq!(offset_of!(MIB_IPFORWARD_ROW2, Metric), 84);
        assert_eq!(size_of::<SOCKADDR_INET>(), 28);
    }

    fn v6(address: &str) -> SOCKADDR_INET {
        let IpAddr::V6(address) = address.parse().unwrap() else {
            panic!("not IPv6: {address}");
        };
        // SAFETY: SOCKADDR_INET is plain integers; all zeroes is a valid value.
        let mut sockaddr: SOCKADDR_INET = unsafe { std::mem::zeroed() };
        sockaddr.Ipv6.sin6_family = AF_INET6;
        sockaddr.Ipv6.sin6_addr = IN6_ADDR {
            u: IN6_ADDR_0 {
                Byte: address.octets(),
            },
        };
        sockaddr
    }

    /// An IPv6 default route as the structure holds it decodes to the same route.
    #[test]
    fn an_ipv6_default_route_row_decodes() {
        let row = MIB_IPFORWARD_ROW2 {
            InterfaceIndex: 14,
            DestinationPrefix: IP_ADDRESS_PREFIX {
                Prefix: v6("::"),
                PrefixLength: 0,
            },
            NextHop: v6("fe80::1"),
            Metric: 256,
            ValidLifetime: u32::MAX,
            Age: 77,
            ..MIB_IPFORWARD_ROW2::default()
        };
        assert_eq!(
            windows_table::forward_row(row_bytes(&row)),
            Some(ForwardRow {
                destination: Some("::".parse().unwrap()),
                prefix_len: 0,
                next_hop: Some("fe80::1".parse().unwrap()),
                interface_index: 14,
                metric: 256,
            })
        );
    }

    /// Whatever this system's table holds (Wine's has no IPv6 routes), every row reads.
    #[test]
    fn this_systems_routes_read() {
        for family in [Family::V4, Family::V6] {
            let rows = forward_rows(family).unwrap();
            assert!(rows.iter().all(|r| r.destination.is_some()), "{rows:?}");
        }
    }
}
