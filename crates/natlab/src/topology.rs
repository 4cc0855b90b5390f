//! The lab's topology: the namespaces, the veth pairs and the bridge between them, the
//! addresses and routes of both families, forwarding, the router's nftables ruleset, and
//! the changes tests make to them later (external address, LAN impairment, default routes).

use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::netns::ip;
use crate::router::{self, LAN_BRIDGE, WAN_INTERFACE};
use crate::wire::{self, Wire};
use crate::{Host, Lab, LabError, Pinhole, Redirection, Result, error};

/// The router's LAN address, the LAN hosts' gateway.
pub const ROUTER_LAN_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
/// The router's WAN address when a lab starts.
pub const ROUTER_WAN_ADDRESS: Ipv4Addr = Ipv4Addr::new(44, 0, 0, 1);
/// The WAN ("internet") host's address.
pub const WAN_HOST_ADDRESS: Ipv4Addr = Ipv4Addr::new(44, 0, 0, 2);
/// The LAN's IPv6 prefix (a /64; a documentation prefix, RFC 3849, global-looking like the
/// prefix a provider delegates to a home router). LAN hosts are `::10`, `::11`, ... in it.
pub const LAN_PREFIX_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 1, 0, 0, 0, 0);
/// The router's global IPv6 address on the LAN (`2001:db8:77:1::1`): where LAN hosts send
/// PCP requests over IPv6, and the address miniupnpd gives UPnP control points.
pub const ROUTER_LAN_ADDRESS_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 1, 0, 0, 0, 1);
/// The router's link-local IPv6 address on the LAN (`fe80::1` on `br0`): the LAN hosts'
/// IPv6 default route goes via it, as a route learned from a router advertisement would.
pub const ROUTER_LAN_LINK_LOCAL_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
/// The router's IPv6 address on its WAN link (`2001:db8:77::1`).
pub const ROUTER_WAN_ADDRESS_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 0, 0, 0, 0, 1);
/// The WAN ("internet") host's IPv6 address (`2001:db8:77::2`); it routes the LAN prefix via
/// [`ROUTER_WAN_ADDRESS_V6`].
pub const WAN_HOST_ADDRESS_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 0, 0, 0, 0, 2);
/// The NAT-PMP/PCP server port.
pub const NATPMP_PORT: u16 = 5351;
/// miniupnpd's HTTP (UPnP description and control) port in the lab.
pub const UPNP_HTTP_PORT: u16 = 5000;

impl Lab {
    /// The redirections the router holds right now, read from its nftables rules.
    pub fn redirections(&self) -> Result<Vec<Redirection>> {
        let output = self.router.exec(
            "nft",
            &["list", "chain", "inet", "filter", "prerouting_miniupnpd"],
        )?;
        Ok(router::parse_redirections(&String::from_utf8_lossy(
            &output.stdout,
        )))
    }

    /// The IPv6 pinholes the router holds right now, read from its nftables rules (chain
    /// `inet filter miniupnpd`, where miniupnpd 2.3 puts both its IPv4 filter rules, which are
    /// skipped here, and its IPv6 pinholes, whether UPnP `AddPinhole` or PCP MAP made them).
    pub fn pinholes(&self) -> Result<Vec<Pinhole>> {
        let output = self
            .router
            .exec("nft", &["list", "chain", "inet", "filter", "miniupnpd"])?;
        Ok(router::parse_pinholes(&String::from_utf8_lossy(
            &output.stdout,
        )))
    }

    /// Changes the router's external address (within 44.0.0.0/24) and tells miniupnpd
    /// (SIGUSR1), which then announces the new address to NAT-PMP/PCP and UPnP clients.
    pub fn set_external_address(&self, address: Ipv4Addr) -> Result<()> {
        let [a, b, c, d] = address.octets();
        if (a, b, c) != (44, 0, 0) || matches!(d, 0 | 2 | 3 | 255) {
            return Err(LabError::Invalid(format!(
                "external address {address} must be in 44.0.0.0/24 and not .0, .2, .3 or .255"
            )));
        }
        if self.config.outer_nat.is_some() {
            return Err(LabError::Invalid(
                "set_external_address needs a lab without an outer NAT".into(),
            ));
        }
        // IPv4 only: the WAN side's IPv6 address (a dual-stack lab) stays.
        self.router
            .exec("ip", &["-4", "addr", "flush", "dev", WAN_INTERFACE])?;
        self.router.exec(
            "ip",
            &[
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                WAN_INTERFACE,
            ],
        )?;
        if let Ok(mut current) = self.external_address.lock() {
            *current = address;
        }
        self.signal(Signal::SIGUSR1)
    }

    /// Sets loss (percent, each direction) and one-way delay on the first LAN host's link.
    /// Needs [`LabConfig::impairable_lan`](crate::LabConfig::impairable_lan).
    pub fn impair_lan(&self, loss_percent: f64, delay: Duration) -> Result<()> {
        match &self.wire {
            Some(wire) => {
                wire.impair(loss_percent, delay);
                Ok(())
            }
            None => Err(LabError::Invalid(
                "impair_lan needs a lab built with impairable_lan".into(),
            )),
        }
    }

    /// Makes the router hold new TCP connections to its UPnP HTTP port half-open, as a
    /// router whose accept queue overflowed under a burst of clients does: the handshake's
    /// last ACK and every segment after it (the request, a FIN) are dropped, while SYNs and
    /// resets still arrive. A client sees its connection established and its request sent;
    /// the router completes the connection and reads the request only once released
    /// (`false`), when the client's TCP sends them again.
    pub fn hold_http_connections(&self, hold: bool) -> Result<()> {
        if !hold {
            self.router
                .exec("nft", &["delete", "table", "inet", "natlab_hold"])?;
            return Ok(());
        }
        let ruleset = format!(
            "add table inet natlab_hold; \
             add chain inet natlab_hold input {{ type filter hook input priority -50 ; }}; \
             add rule inet natlab_hold input tcp dport {UPNP_HTTP_PORT} \
             tcp flags & (syn | rst) == 0 drop"
        );
        self.router.exec("nft", &[&ruleset])?;
        Ok(())
    }

    /// Removes the default routes of a LAN host, IPv4 and IPv6 (the host keeps its addresses
    /// and link).
    pub fn remove_default_route(&self, lan: &Host) -> Result<()> {
        lan.exec("ip", &["route", "del", "default"])?;
        if lan.address_v6.is_some() && self.config.lan_default_route {
            lan.exec("ip", &["-6", "route", "del", "default"])?;
        }
        Ok(())
    }

    /// Creates the namespaces, links, addresses and routes, and loads the ruleset.
    pub(crate) fn build_topology(&mut self) -> Result<()> {
        let ipv6 = self.config.ipv6;
        for host in self.all_hosts() {
            ip(&["netns", "add", &host.netns])?;
            ip(&["-n", &host.netns, "link", "set", "lo", "up"])?;
            if ipv6 {
                // Before any interface exists, so every one (link-local addresses included) is
                // usable at once instead of after a second of duplicate address detection.
                host.exec(
                    "sh",
                    &[
                        "-c",
                        "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; \
                         echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad",
                    ],
                )?;
            }
        }
        let rtr = self.router.netns.clone();
        ip(&[
            "-n",
            &rtr,
            "link",
            "add",
            WAN_INTERFACE,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &self.wan.netns,
        ])?;
        ip(&[
            "-n",
            &rtr,
            "addr",
            "add",
            &format!("{ROUTER_WAN_ADDRESS}/24"),
            "dev",
            WAN_INTERFACE,
        ])?;
        if ipv6 {
            add_v6(&rtr, &format!("{ROUTER_WAN_ADDRESS_V6}/64"), WAN_INTERFACE)?;
        }
        ip(&["-n", &rtr, "link", "set", WAN_INTERFACE, "up"])?;
        ip(&["-n", &rtr, "link", "add", LAN_BRIDGE, "type", "bridge"])?;
        if ipv6 {
            add_v6(&rtr, &format!("{ROUTER_LAN_ADDRESS_V6}/64"), LAN_BRIDGE)?;
            add_v6(&rtr, &format!("{ROUTER_LAN_LINK_LOCAL_V6}/64"), LAN_BRIDGE)?;
        }
        ip(&[
            "-n",
            &rtr,
            "addr",
            "add",
            &format!("{ROUTER_LAN_ADDRESS}/24"),
            "dev",
            LAN_BRIDGE,
        ])?;
        ip(&["-n", &rtr, "link", "set", LAN_BRIDGE, "up"])?;
        configure_host(&self.wan, &format!("{WAN_HOST_ADDRESS}/24"), None)?;
        if ipv6 {
            let wan = self.wan.netns.as_str();
            add_v6(wan, &format!("{WAN_HOST_ADDRESS_V6}/64"), "eth0")?;
            // The "provider" routes the LAN's prefix to the router, as it would a delegated one.
            ip(&[
                "-n",
                wan,
                "-6",
                "route",
                "add",
                &format!("{LAN_PREFIX_V6}/64"),
                "via",
                &ROUTER_WAN_ADDRESS_V6.to_string(),
            ])?;
        }

        for index in 0..self.lans.len() {
            let port = format!("lan{index}");
            let lan = self.lans[index].clone();
            if index == 0 && self.config.impairable_lan {
                let router_tap = self
                    .router
                    .run({
                        let port = port.clone();
                        move || wire::open_tap(&port)
                    })?
                    .map_err(error::io_err("cannot create the router's TAP device"))?;
                let host_tap = lan
                    .run(|| wire::open_tap("eth0"))?
                    .map_err(error::io_err("cannot create the LAN host's TAP device"))?;
                self.wire = Some(Wire::start(router_tap, host_tap));
            } else {
                ip(&[
                    "-n", &rtr, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                    "netns", &lan.netns,
                ])?;
            }
            ip(&["-n", &rtr, "link", "set", &port, "master", LAN_BRIDGE])?;
            ip(&["-n", &rtr, "link", "set", &port, "up"])?;
            let gateway = self.config.lan_default_route.then_some(ROUTER_LAN_ADDRESS);
            configure_host(&lan, &format!("{}/24", lan.address), gateway)?;
            if let Some(address) = lan.address_v6 {
                add_v6(&lan.netns, &format!("{address}/64"), "eth0")?;
                if self.config.lan_default_route {
                    ip(&[
                        "-n",
                        &lan.netns,
                        "-6",
                        "route",
                        "add",
                        "default",
                        "via",
                        &ROUTER_LAN_LINK_LOCAL_V6.to_string(),
                        "dev",
                        "eth0",
                    ])?;
                }
            }
        }

        self.router
            .exec("sh", &["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])?;
        if ipv6 {
            self.router.exec(
                "sh",
                &["-c", "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"],
            )?;
        }
        let ruleset_path = self.dir.join("ruleset.nft");
        write_file(&ruleset_path, &router::ruleset())?;
        self.router
            .exec("nft", &["-f", &ruleset_path.to_string_lossy()])?;
        Ok(())
    }

    fn all_hosts(&self) -> Vec<Host> {
        let mut hosts = vec![self.router.clone(), self.wan.clone()];
        hosts.extend(self.lans.iter().cloned());
        hosts
    }
}

pub(crate) fn lan_host_address(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 77, 10 + index as u8)
}

pub(crate) fn lan_host_address_v6(index: usize) -> Ipv6Addr {
    let [a, b, c, d, ..] = LAN_PREFIX_V6.segments();
    Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0x10 + index as u16)
}

/// Adds an IPv6 address with no duplicate address detection (usable at once).
fn add_v6(netns: &str, cidr: &str, interface: &str) -> Result<()> {
    ip(&[
        "-n", netns, "-6", "addr", "add", cidr, "dev", interface, "nodad",
    ])
    .map(|_| ())
}

fn configure_host(host: &Host, cidr: &str, gateway: Option<Ipv4Addr>) -> Result<()> {
    let ns = host.netns.as_str();
    ip(&["-n", ns, "addr", "add", cidr, "dev", &host.interface])?;
    ip(&["-n", ns, "link", "set", &host.interface, "up"])?;
    if let Some(gateway) = gateway {
        ip(&[
            "-n",
            ns,
            "route",
            "add",
            "default",
            "via",
            &gateway.to_string(),
        ])?;
    }
    Ok(())
}

pub(crate) fn write_file(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(|source| LabError::File {
        path: path.to_owned(),
        source,
    })
}
