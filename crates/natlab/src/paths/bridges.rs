//! Bridges on the host: a docker-like `docker0` and a libvirt-like `virbr0` on the first LAN
//! host, each with a veth to a guest namespace (a container, a VM) that may run miniupnpd.
//! Neither carries the host's traffic to the internet: its default route stays via the
//! router, and the guests' "WAN" sides lead nowhere.

use std::net::Ipv4Addr;

use super::igd::{Igd, IgdSpec};
use super::second_igd::add_dead_end_wan;
use super::{RouterHandle, Which};
use crate::netns::ip;
use crate::{Host, Lab, Result};

/// Which bridge of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BridgeKind {
    /// `docker0`, 172.17.0.1/16; the container is 172.17.0.2 behind the veth `veth0c1a2b3`;
    /// its miniupnpd (if any) reports 47.0.1.1.
    Docker,
    /// `virbr0`, 192.168.122.1/24; the VM is 192.168.122.2 behind the veth `vnet0`; its
    /// miniupnpd (if any) reports 47.0.2.1.
    Libvirt,
}

struct Layout {
    bridge: &'static str,
    port: &'static str,
    suffix: &'static str,
    host_address: Ipv4Addr,
    guest_address: Ipv4Addr,
    prefix_len: u8,
    external: Ipv4Addr,
}

impl BridgeKind {
    fn layout(self) -> Layout {
        match self {
            BridgeKind::Docker => Layout {
                bridge: "docker0",
                port: "veth0c1a2b3",
                suffix: "dock",
                host_address: Ipv4Addr::new(172, 17, 0, 1),
                guest_address: Ipv4Addr::new(172, 17, 0, 2),
                prefix_len: 16,
                external: Ipv4Addr::new(47, 0, 1, 1),
            },
            BridgeKind::Libvirt => Layout {
                bridge: "virbr0",
                port: "vnet0",
                suffix: "virt",
                host_address: Ipv4Addr::new(192, 168, 122, 1),
                guest_address: Ipv4Addr::new(192, 168, 122, 2),
                prefix_len: 24,
                external: Ipv4Addr::new(47, 0, 2, 1),
            },
        }
    }
}

/// A bridge built on the first LAN host.
#[derive(Debug)]
pub(crate) struct Bridge {
    kind: BridgeKind,
    guest: Host,
    igd: Option<Igd>,
}

impl Bridge {
    /// The guest's miniupnpd, if it runs one.
    pub(super) fn igd(&self) -> Option<&Igd> {
        self.igd.as_ref()
    }
}

impl Lab {
    pub(super) fn build_bridge(&self, kind: BridgeKind, guest_igd: bool) -> Result<Bridge> {
        let layout = kind.layout();
        let guest = Host {
            netns: format!("natlab-{}-{}", self.id, layout.suffix),
            address: layout.guest_address,
            address_v6: None,
            interface: "eth0".into(),
        };
        let lan = self.lans[0].netns.as_str();
        let ns = guest.netns.as_str();
        let len = layout.prefix_len;
        ip(&["netns", "add", ns])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        ip(&["-n", lan, "link", "add", layout.bridge, "type", "bridge"])?;
        ip(&[
            "-n",
            lan,
            "addr",
            "add",
            &format!("{}/{len}", layout.host_address),
            "dev",
            layout.bridge,
        ])?;
        ip(&["-n", lan, "link", "set", layout.bridge, "up"])?;
        ip(&[
            "-n",
            lan,
            "link",
            "add",
            layout.port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns,
        ])?;
        ip(&[
            "-n",
            lan,
            "link",
            "set",
            layout.port,
            "master",
            layout.bridge,
        ])?;
        ip(&["-n", lan, "link", "set", layout.port, "up"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{}/{len}", layout.guest_address),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        ip(&[
            "-n",
            ns,
            "route",
            "add",
            "default",
            "via",
            &layout.host_address.to_string(),
        ])?;
        let igd = if guest_igd {
            add_dead_end_wan(ns, &format!("{}/24", layout.external))?;
            Some(Igd::start(IgdSpec {
                host: guest.clone(),
                lan_interface: "eth0",
                lan_address: layout.guest_address,
                wan_interface: "wan0",
                external_address: layout.external,
                allowed: format!("{}/{len}", layout.host_address),
                natpmp: true,
                upnp: true,
                min_lifetime: self.config.min_lifetime,
                dir: self.dir.join(layout.suffix),
                uuid_suffix: match kind {
                    BridgeKind::Docker => 4,
                    BridgeKind::Libvirt => 5,
                },
            })?)
        } else {
            None
        };
        Ok(Bridge { kind, guest, igd })
    }

    /// The bridge of `kind` on the first LAN host, or `None` if the lab was built without it
    /// ([`LabConfig::with_docker_bridge`](crate::LabConfig::with_docker_bridge),
    /// [`LabConfig::with_libvirt_bridge`](crate::LabConfig::with_libvirt_bridge)).
    pub fn bridge(&self, kind: BridgeKind) -> Option<BridgeHandle<'_>> {
        self.paths
            .bridges
            .iter()
            .find(|b| b.kind == kind)
            .map(|bridge| BridgeHandle { lab: self, bridge })
    }
}

/// A bridge on the first LAN host and its guest.
#[derive(Debug, Clone, Copy)]
pub struct BridgeHandle<'a> {
    lab: &'a Lab,
    bridge: &'a Bridge,
}

impl<'a> BridgeHandle<'a> {
    /// The bridge's interface name on the LAN host (`docker0`, `virbr0`).
    pub fn interface(&self) -> &'static str {
        self.bridge.kind.layout().bridge
    }

    /// The LAN host's address on the bridge (172.17.0.1, 192.168.122.1).
    pub fn host_address(&self) -> Ipv4Addr {
        self.bridge.kind.layout().host_address
    }

    /// The guest (container, VM): its namespace, address (172.17.0.2, 192.168.122.2) and
    /// interface `eth0`.
    pub fn guest(&self) -> &'a Host {
        &self.bridge.guest
    }

    /// The guest's miniupnpd, or `None` if the lab was built with a silent guest.
    pub fn igd(&self) -> Option<RouterHandle<'a>> {
        self.bridge.igd.as_ref().map(|igd| RouterHandle {
            lab: self.lab,
            which: Which::Other(igd),
        })
    }
}
