//! Two IGDs on one LAN: a second box on the router's LAN bridge running its own miniupnpd,
//! as a mesh access point or an old router left in access-point mode does.

use std::net::Ipv4Addr;

use super::igd::{Igd, IgdSpec};
use crate::netns::ip;
use crate::{Host, Lab, Result};

/// The second IGD's address on the LAN.
pub const SECOND_IGD_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);
/// The external address the second IGD reports: its "WAN" side, a link that leads nowhere, so
/// no mapping made there is ever reachable.
pub const SECOND_IGD_EXTERNAL_ADDRESS: Ipv4Addr = Ipv4Addr::new(47, 0, 0, 1);

impl Lab {
    pub(super) fn build_second_igd(&self) -> Result<Igd> {
        let host = Host {
            netns: format!("natlab-{}-ap", self.id),
            address: SECOND_IGD_ADDRESS,
            address_v6: None,
            interface: "eth0".into(),
        };
        let ap = host.netns.as_str();
        let rtr = self.router.netns.as_str();
        ip(&["netns", "add", ap])?;
        ip(&["-n", ap, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", rtr, "link", "add", "lanap", "type", "veth", "peer", "name", "eth0", "netns", ap,
        ])?;
        ip(&["-n", rtr, "link", "set", "lanap", "master", "br0"])?;
        ip(&["-n", rtr, "link", "set", "lanap", "up"])?;
        ip(&["-n", ap, "addr", "add", "192.168.77.2/24", "dev", "eth0"])?;
        ip(&["-n", ap, "link", "set", "eth0", "up"])?;
        ip(&[
            "-n",
            ap,
            "route",
            "add",
            "default",
            "via",
            &self.gateway().to_string(),
        ])?;
        add_dead_end_wan(ap, "47.0.0.1/24")?;
        Igd::start(IgdSpec {
            host,
            lan_interface: "eth0",
            lan_address: SECOND_IGD_ADDRESS,
            wan_interface: "wan0",
            external_address: SECOND_IGD_EXTERNAL_ADDRESS,
            allowed: "192.168.77.0/24".into(),
            natpmp: self.config.natpmp,
            upnp: self.config.upnp,
            min_lifetime: self.config.min_lifetime,
            dir: self.dir.join("ap"),
            uuid_suffix: 3,
        })
    }
}

/// Gives a box a `wan0` with `cidr` whose other end stays in the same namespace: a WAN side
/// miniupnpd accepts (a public-looking address on an interface that is up) and that carries
/// nothing anywhere.
pub(super) fn add_dead_end_wan(netns: &str, cidr: &str) -> Result<()> {
    ip(&[
        "-n", netns, "link", "add", "wan0", "type", "veth", "peer", "name", "wanend",
    ])?;
    ip(&["-n", netns, "addr", "add", cidr, "dev", "wan0"])?;
    ip(&["-n", netns, "link", "set", "wanend", "up"])?;
    ip(&["-n", netns, "link", "set", "wan0", "up"])?;
    Ok(())
}
