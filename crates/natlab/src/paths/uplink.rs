//! Two uplinks: the first LAN host's second LAN, its router (namespace `rtr2`) with NAT and
//! miniupnpd, the WAN host's second link, the two default routes and taking an uplink down.

use std::net::Ipv4Addr;

use super::igd::{Igd, IgdSpec};
use crate::netns::ip;
use crate::{Host, Lab, LabError, ROUTER_LAN_ADDRESS, Result};

/// The second router's LAN address (the gateway of the host's `eth1`).
pub const SECOND_ROUTER_LAN_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 168, 78, 1);
/// The second router's WAN (external) address.
pub const SECOND_ROUTER_WAN_ADDRESS: Ipv4Addr = Ipv4Addr::new(45, 0, 0, 1);
/// The WAN host's address on its link to the second router (its `eth1`).
pub const WAN_HOST_SECOND_ADDRESS: Ipv4Addr = Ipv4Addr::new(45, 0, 0, 2);
/// The first LAN host's address on the second LAN (its `eth1`).
pub const SECOND_LAN_HOST_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 168, 78, 10);
/// The metrics of the default routes via uplink 1 and uplink 2 (lower wins).
pub const UPLINK_METRICS: [u32; 2] = [100, 600];

/// The LAN host's interface of uplink `n` (1 or 2).
fn uplink_interface(n: usize) -> Option<&'static str> {
    match n {
        1 => Some("eth0"),
        2 => Some("eth1"),
        _ => None,
    }
}

impl Lab {
    pub(super) fn build_second_uplink(&self) -> Result<Igd> {
        if !self.config.lan_default_route {
            return Err(LabError::Invalid(
                "a second uplink needs lan_default_route".into(),
            ));
        }
        let host = Host {
            netns: format!("natlab-{}-rtr2", self.id),
            address: SECOND_ROUTER_WAN_ADDRESS,
            address_v6: None,
            interface: "wan0".into(),
        };
        let rtr2 = host.netns.as_str();
        let wan = self.wan.netns.as_str();
        let lan = self.lans[0].netns.as_str();
        ip(&["netns", "add", rtr2])?;
        ip(&["-n", rtr2, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", rtr2, "link", "add", "wan0", "type", "veth", "peer", "name", "eth1", "netns", wan,
        ])?;
        ip(&["-n", rtr2, "addr", "add", "45.0.0.1/24", "dev", "wan0"])?;
        ip(&["-n", rtr2, "link", "set", "wan0", "up"])?;
        // Its provider's default route: the WAN host routes on to the rest of the lab's
        // internet (its own 44.0.0.2 included).
        ip(&["-n", rtr2, "route", "add", "default", "via", "45.0.0.2"])?;
        ip(&["-n", wan, "addr", "add", "45.0.0.2/24", "dev", "eth1"])?;
        ip(&["-n", wan, "link", "set", "eth1", "up"])?;
        ip(&["-n", rtr2, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", rtr2, "addr", "add", "192.168.78.1/24", "dev", "br0"])?;
        ip(&["-n", rtr2, "link", "set", "br0", "up"])?;
        ip(&[
            "-n", rtr2, "link", "add", "lan0", "type", "veth", "peer", "name", "eth1", "netns", lan,
        ])?;
        ip(&["-n", rtr2, "link", "set", "lan0", "master", "br0"])?;
        ip(&["-n", rtr2, "link", "set", "lan0", "up"])?;
        ip(&["-n", lan, "addr", "add", "192.168.78.10/24", "dev", "eth1"])?;
        ip(&["-n", lan, "link", "set", "eth1", "up"])?;
        // The first uplink's route gets its metric; the second one a higher one.
        ip(&["-n", lan, "route", "del", "default"])?;
        for (gateway, interface, metric) in [
            (ROUTER_LAN_ADDRESS, "eth0", UPLINK_METRICS[0]),
            (SECOND_ROUTER_LAN_ADDRESS, "eth1", UPLINK_METRICS[1]),
        ] {
            ip(&[
                "-n",
                lan,
                "route",
                "add",
                "default",
                "via",
                &gateway.to_string(),
                "dev",
                interface,
                "metric",
                &metric.to_string(),
            ])?;
        }
        Igd::start(IgdSpec {
            host,
            lan_interface: "br0",
            lan_address: SECOND_ROUTER_LAN_ADDRESS,
            wan_interface: "wan0",
            external_address: SECOND_ROUTER_WAN_ADDRESS,
            allowed: "192.168.78.0/24".into(),
            natpmp: self.config.natpmp,
            upnp: self.config.upnp,
            min_lifetime: self.config.min_lifetime,
            dir: self.dir.join("rtr2"),
            uuid_suffix: 2,
        })
    }

    /// Takes uplink `n` of the first LAN host down or up (1: its `eth0` toward the lab's
    /// router, 2: its `eth1` toward the second router), as a Wi-Fi or Ethernet link going
    /// away: the interface is set down, and the kernel drops the routes through it (the
    /// host's traffic moves to the other uplink). Up, the interface comes back and its
    /// default route is restored with its metric. Uplink 2 needs
    /// [`LabConfig::with_second_uplink`](crate::LabConfig::with_second_uplink).
    pub fn set_uplink(&self, n: usize, up: bool) -> Result<()> {
        let interface = uplink_interface(n)
            .filter(|_| n == 1 || self.paths.second_router.is_some())
            .ok_or_else(|| LabError::Invalid(format!("the lab has no uplink {n}")))?;
        let host = self.lans[0].clone();
        self.set_interface(&host, interface, up)
    }
}
