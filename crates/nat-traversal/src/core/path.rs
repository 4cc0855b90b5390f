//! The network path a `Nat` serves: the gateway of its family and this host's address toward
//! it, read from the routing table (or the gateway given), and this host's interface
//! addresses.

use std::net::IpAddr;

use crate::error::Result;

/// Which side of a dual-stack network a `Nat` works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// IPv4: port mappings at a NAT.
    V4,
    /// IPv6: pinholes in the gateway's firewall (PCP and UPnP WANIPv6FirewallControl).
    V6,
}

impl Family {
    /// The family of a gateway given (an IPv4-mapped IPv6 address is IPv4).
    pub(crate) fn of(gateway: Option<IpAddr>) -> Family {
        match gateway {
            Some(IpAddr::V6(gateway)) if gateway.to_ipv4_mapped().is_none() => Family::V6,
            _ => Family::V4,
        }
    }
}

/// The gateway and this host's address toward it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NetworkPath {
    pub(crate) gateway: IpAddr,
    pub(crate) local_address: IpAddr,
}

/// The default gateway of `family`, from the routing table.
pub(crate) fn default_gateway(family: Family) -> Result<IpAddr> {
    Ok(match family {
        Family::V4 => netinfo::default_gateway().map(IpAddr::V4)?,
        Family::V6 => netinfo::default_gateway_v6().map(IpAddr::V6)?,
    })
}

/// The path toward `given`, or toward the default gateway of `family`.
pub(crate) fn read(given: Option<IpAddr>, family: Family) -> Result<NetworkPath> {
    let gateway = match given {
        Some(gateway) => gateway,
        None => default_gateway(family)?,
    };
    let local_address = netinfo::local_address_toward(gateway)?;
    Ok(NetworkPath {
        gateway,
        local_address,
    })
}

/// Every address of every interface that is up; empty when they cannot be listed.
pub(crate) fn local_addresses() -> Vec<IpAddr> {
    match netinfo::interface_addresses() {
        Ok(mut addresses) => {
            addresses.sort();
            addresses.dedup();
            addresses
        }
        Err(error) => {
            tracing::warn!(%error, "cannot list the interface addresses");
            Vec::new()
        }
    }
}
