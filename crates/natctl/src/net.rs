//! `gateway`, `interfaces` and `local-ip`: what this host knows about its network (netinfo).
//! Nothing here sends a packet.

use std::net::IpAddr;

use anyhow::Result;
use serde::Serialize;

use crate::output::Output;

pub(crate) fn gateway(out: &Output, ipv6: bool) -> Result<()> {
    let route = if ipv6 {
        netinfo::default_route_v6()?
    } else {
        netinfo::default_route()?
    };
    out.print(&route, || route.gateway.to_string());
    Ok(())
}

pub(crate) fn interfaces(out: &Output) -> Result<()> {
    let interfaces = netinfo::interfaces()?;
    out.print(&interfaces, || {
        let mut text = String::new();
        for interface in &interfaces {
            let mut flags = vec![if interface.is_up { "up" } else { "down" }];
            if interface.is_loopback {
                flags.push("loopback");
            }
            text.push_str(&format!(
                "{:>3}: {} <{}>\n",
                interface.index,
                interface.name,
                flags.join(",")
            ));
            for address in &interface.addresses {
                text.push_str(&format!(
                    "     {}/{}\n",
                    address.address, address.prefix_len
                ));
            }
        }
        text.trim_end().to_owned()
    });
    Ok(())
}

#[derive(Serialize)]
struct LocalIp {
    address: IpAddr,
    /// The gateway the address was chosen toward, when there is one.
    toward: Option<IpAddr>,
}

pub(crate) fn local_ip(out: &Output) -> Result<()> {
    let local = match netinfo::default_gateway() {
        Ok(gateway) => LocalIp {
            address: netinfo::local_address_toward(gateway.into())?,
            toward: Some(gateway.into()),
        },
        Err(netinfo::Error::NoDefaultGateway { .. }) => LocalIp {
            address: netinfo::best_interface_address(None)?,
            toward: None,
        },
        Err(other) => return Err(other.into()),
    };
    out.print(&local, || local.address.to_string());
    Ok(())
}
