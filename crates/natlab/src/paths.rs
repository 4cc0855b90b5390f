//! The hosts users really run on: more than one path out of the first LAN host. Options of
//! [`LabConfig`] (built at start) and changes made while the lab runs:
//!
//! - a second uplink: another LAN, router and WAN address ([`LabConfig::with_second_uplink`],
//!   [`Lab::uplink`], [`Lab::set_uplink`]; `paths/uplink.rs`);
//! - a VPN tunnel, full or split ([`Lab::vpn_up`], [`Lab::vpn_down`]; `paths/vpn.rs`);
//! - bridges on the host, docker-like and libvirt-like, with a guest that may answer SSDP
//!   and NAT-PMP ([`LabConfig::with_docker_bridge`], [`LabConfig::with_libvirt_bridge`],
//!   [`Lab::bridge`]; `paths/bridges.rs`);
//! - a second IGD on the LAN, as a mesh access point or an old router in access-point mode
//!   ([`LabConfig::with_second_igd_on_lan`], [`Lab::second_igd`]; `paths/second_igd.rs`);
//! - renumbering, link flaps and a changed gateway ([`Lab::renumber`], [`Lab::set_link`],
//!   [`Lab::flap_link`], [`Lab::change_gateway_mac`], [`Lab::move_gateway`];
//!   `paths/renumber.rs`).
//!
//! Every router of these topologies is reached through a [`RouterHandle`], and tests find
//! which path the kernel picks with [`Host::route_to`] and which public address the WAN host
//! sees with [`Lab::source_seen_by_wan`]. All of it is IPv4; every namespace is named
//! `natlab-<id>-...`, so the lab's teardown removes it with the rest.
//!
//! ```text
//!                         ,-- eth0 192.168.77.10 -- br0 router  wan0 44.0.0.1 --- eth0 44.0.0.2
//!  LAN host 0 ------------+-- eth1 192.168.78.10 -- br0 rtr2    wan0 45.0.0.1 --- eth1 45.0.0.2  WAN
//!   docker0 172.17.0.1    '-- tun0 10.99.0.2 ~~ UDP ~~> vpn 46.0.0.1 eth0 ------- vpn0 46.0.0.2  host
//!   virbr0 192.168.122.1      (second IGD on the LAN: ap 192.168.77.2, "WAN" 47.0.0.1, a dead end)
//! ```

mod bridges;
mod igd;
mod renumber;
mod second_igd;
mod uplink;
mod vpn;

use std::collections::HashMap;
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use bridges::{BridgeHandle, BridgeKind};
pub use second_igd::{SECOND_IGD_ADDRESS, SECOND_IGD_EXTERNAL_ADDRESS};
pub use uplink::{
    SECOND_LAN_HOST_ADDRESS, SECOND_ROUTER_LAN_ADDRESS, SECOND_ROUTER_WAN_ADDRESS, UPLINK_METRICS,
    WAN_HOST_SECOND_ADDRESS,
};
pub use vpn::{
    VPN_HOST_ADDRESS, VPN_INTERFACE, VPN_SERVER_ADDRESS, VPN_SERVER_TUNNEL_ADDRESS, VpnMode,
};

use crate::error::io_err;
use crate::{Host, Lab, LabConfig, LabError, Pinhole, Redirection, Result};
use igd::Igd;

/// Which extra paths a lab is built with (all off by default; see the builder methods of
/// [`LabConfig`]: [`LabConfig::with_second_uplink`], [`LabConfig::with_docker_bridge`],
/// [`LabConfig::with_libvirt_bridge`], [`LabConfig::with_second_igd_on_lan`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathsConfig {
    /// The first LAN host also sits on a second LAN behind a second router (see
    /// [`LabConfig::with_second_uplink`]).
    pub second_uplink: bool,
    /// A docker-like bridge on the first LAN host; `Some(true)`: its container runs miniupnpd.
    pub docker_bridge: Option<bool>,
    /// A libvirt-like bridge on the first LAN host; `Some(true)`: its guest runs miniupnpd.
    pub libvirt_bridge: Option<bool>,
    /// A second box running miniupnpd on the LAN (see [`LabConfig::with_second_igd_on_lan`]).
    pub second_igd_on_lan: bool,
}

impl LabConfig {
    /// Puts the first LAN host on a second LAN as well (think Ethernet and Wi-Fi): its `eth1`
    /// ([`SECOND_LAN_HOST_ADDRESS`], 192.168.78.10/24) behind a second router (namespace
    /// `natlab-<id>-rtr2`, LAN [`SECOND_ROUTER_LAN_ADDRESS`], WAN
    /// [`SECOND_ROUTER_WAN_ADDRESS`] 45.0.0.1) with its own nftables NAT and miniupnpd
    /// (speaking what [`LabConfig::natpmp`] and [`LabConfig::upnp`] say). The WAN host reaches
    /// it at [`WAN_HOST_SECOND_ADDRESS`] (45.0.0.2, its `eth1`).
    ///
    /// The host has two IPv4 default routes, via the first router with metric
    /// [`UPLINK_METRICS`]`[0]` (100, preferred) and via the second with `[1]` (600), as
    /// NetworkManager sets them for Ethernet and Wi-Fi. There is no source-based routing (as
    /// on a default desktop): a reply leaves by the preferred uplink whatever address it
    /// comes from, so a mapping at the second router carries a WAN connection only while the
    /// first uplink is down ([`Lab::set_uplink`]). Needs [`LabConfig::lan_default_route`].
    pub fn with_second_uplink(mut self) -> LabConfig {
        self.paths.second_uplink = true;
        self
    }

    /// Adds a docker-like bridge on the first LAN host: `docker0` 172.17.0.1/16 with a veth
    /// to a "container" namespace at 172.17.0.2 (default route via 172.17.0.1). With
    /// `container_answers_ssdp`, the container runs miniupnpd on that link (so it answers SSDP
    /// searches sent on the bridge, and NAT-PMP/PCP and UPnP at 172.17.0.2), reporting the
    /// external address 47.0.1.1, which leads nowhere. The host's default route stays via the
    /// real router. See [`Lab::bridge`].
    pub fn with_docker_bridge(mut self, container_answers_ssdp: bool) -> LabConfig {
        self.paths.docker_bridge = Some(container_answers_ssdp);
        self
    }

    /// Adds a libvirt-like bridge on the first LAN host: `virbr0` 192.168.122.1/24 with a
    /// veth `vnet0` to a "VM" namespace at 192.168.122.2; with `vm_answers_ssdp` the VM runs
    /// miniupnpd (external address 47.0.2.1, leading nowhere). See [`Lab::bridge`].
    pub fn with_libvirt_bridge(mut self, vm_answers_ssdp: bool) -> LabConfig {
        self.paths.libvirt_bridge = Some(vm_answers_ssdp);
        self
    }

    /// Adds a second box on the LAN running miniupnpd, as a mesh access point or an old
    /// router in access-point mode would: [`SECOND_IGD_ADDRESS`] (192.168.77.2) on the
    /// router's LAN bridge, default route via the router, and a "WAN" side
    /// ([`SECOND_IGD_EXTERNAL_ADDRESS`], 47.0.0.1) that leads nowhere. It answers SSDP
    /// searches on the LAN and NAT-PMP/PCP and UPnP at 192.168.77.2; a mapping made there is
    /// never reachable from the WAN host. See [`Lab::second_igd`].
    pub fn with_second_igd_on_lan(mut self) -> LabConfig {
        self.paths.second_igd_on_lan = true;
        self
    }
}

/// The state of the extra paths of a running lab.
#[derive(Debug, Default)]
pub(crate) struct Paths {
    second_router: Option<Igd>,
    second_igd: Option<Igd>,
    bridges: Vec<bridges::Bridge>,
    vpn: Mutex<vpn::VpnState>,
    /// Default routes of an interface taken down by [`Lab::set_link`], restored when it
    /// comes up: (namespace, interface) -> `ip route` arguments.
    saved_routes: Mutex<HashMap<(String, String), Vec<renumber::SavedRoute>>>,
    /// The router's LAN address after [`Lab::move_gateway`].
    gateway: Mutex<Option<Ipv4Addr>>,
}

impl Paths {
    /// Stops what runs in threads and child processes (the VPN's relay, extra miniupnpd
    /// daemons) before the namespaces go.
    pub(crate) fn shutdown(&mut self) {
        if let Ok(mut vpn) = self.vpn.lock() {
            vpn.shutdown();
        }
        self.bridges.clear();
        self.second_igd.take();
        self.second_router.take();
    }
}

impl Paths {
    /// Leaves the extra miniupnpd daemons running past the lab's drop ([`Lab::keep`]). A VPN
    /// tunnel cannot outlive this process (its relay runs in it).
    pub(crate) fn keep(&mut self) {
        let igds = [&self.second_router, &self.second_igd]
            .into_iter()
            .flatten()
            .chain(self.bridges.iter().filter_map(bridges::Bridge::igd));
        for igd in igds {
            igd.forget_daemon();
        }
    }
}

impl Lab {
    /// Builds what [`LabConfig::paths`] asks for (after the router runs).
    pub(crate) fn build_paths(&mut self) -> Result<()> {
        let config = self.config.paths.clone();
        if config.second_uplink {
            self.paths.second_router = Some(self.build_second_uplink()?);
        }
        if config.second_igd_on_lan {
            self.paths.second_igd = Some(self.build_second_igd()?);
        }
        if let Some(answers) = config.docker_bridge {
            let bridge = self.build_bridge(BridgeKind::Docker, answers)?;
            self.paths.bridges.push(bridge);
        }
        if let Some(answers) = config.libvirt_bridge {
            let bridge = self.build_bridge(BridgeKind::Libvirt, answers)?;
            self.paths.bridges.push(bridge);
        }
        Ok(())
    }

    /// Connects from `host` to a listener on the WAN host (at [`crate::WAN_HOST_ADDRESS`],
    /// 44.0.0.2) and returns the source address the WAN host saw: the public address of the
    /// path the host's traffic takes (44.0.0.1 through the router, 45.0.0.1 through the second
    /// uplink, 46.0.0.1 through a full-tunnel VPN), or `None` if no connection arrived within
    /// 2 s.
    pub fn source_seen_by_wan(&self, host: &Host) -> Result<Option<Ipv4Addr>> {
        let listener = self
            .wan()
            .run(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)))?
            .map_err(io_err("cannot listen on the WAN host"))?;
        let port = listener
            .local_addr()
            .map_err(io_err("cannot read the WAN listener's port"))?
            .port();
        listener
            .set_nonblocking(true)
            .map_err(io_err("cannot make the WAN listener non-blocking"))?;
        let accepted = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if let Ok((mut stream, peer)) = listener.accept() {
                    // Wait for the client's byte so the connection is whole before answering.
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                    let _ = stream.read(&mut [0u8; 1]);
                    return Some(peer);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            None
        });
        let target = SocketAddrV4::new(crate::WAN_HOST_ADDRESS, port);
        let _ = host.run(move || {
            use std::io::Write as _;
            TcpStream::connect_timeout(&SocketAddr::V4(target), Duration::from_secs(2))
                .and_then(|mut s| s.write_all(b"x"))
        })?;
        let peer = accepted
            .join()
            .map_err(|_| LabError::Invalid("the WAN listener thread panicked".into()))?;
        Ok(peer.and_then(|p| match p {
            SocketAddr::V4(v4) => Some(*v4.ip()),
            SocketAddr::V6(v6) => v6.ip().to_ipv4_mapped(),
        }))
    }

    /// The router of uplink `n`: 1 is the lab's router, 2 the second uplink's
    /// ([`LabConfig::with_second_uplink`]); `None` for an uplink the lab does not have.
    pub fn uplink(&self, n: usize) -> Option<RouterHandle<'_>> {
        match n {
            1 => Some(RouterHandle {
                lab: self,
                which: Which::Main,
            }),
            2 => self.second_router(),
            _ => None,
        }
    }

    /// The second uplink's router ([`LabConfig::with_second_uplink`]), or `None`.
    pub fn second_router(&self) -> Option<RouterHandle<'_>> {
        self.paths.second_router.as_ref().map(|igd| RouterHandle {
            lab: self,
            which: Which::Other(igd),
        })
    }

    /// The second IGD on the LAN ([`LabConfig::with_second_igd_on_lan`]), or `None`.
    pub fn second_igd(&self) -> Option<RouterHandle<'_>> {
        self.paths.second_igd.as_ref().map(|igd| RouterHandle {
            lab: self,
            which: Which::Other(igd),
        })
    }
}

/// One miniupnpd router of the lab: the lab's own, the second uplink's, the second IGD on the
/// LAN, or the guest behind a bridge. Borrowed from the [`Lab`], which owns (and tears down)
/// the router.
#[derive(Debug, Clone, Copy)]
pub struct RouterHandle<'a> {
    lab: &'a Lab,
    which: Which<'a>,
}

#[derive(Debug, Clone, Copy)]
enum Which<'a> {
    Main,
    Other(&'a Igd),
}

impl RouterHandle<'_> {
    /// The router's namespace (run `nft`, `ip` or a test's code in it).
    pub fn host(&self) -> &Host {
        match self.which {
            Which::Main => self.lab.router(),
            Which::Other(igd) => &igd.spec.host,
        }
    }

    /// Its address on the LAN side: where NAT-PMP/PCP requests go (the lab's router: its
    /// current address, see [`Lab::gateway`]).
    pub fn lan_address(&self) -> Ipv4Addr {
        match self.which {
            Which::Main => self.lab.gateway(),
            Which::Other(igd) => igd.spec.lan_address,
        }
    }

    /// The external address it reports (and, for the routers of an uplink, where the WAN host
    /// reaches its mappings).
    pub fn external_address(&self) -> Ipv4Addr {
        match self.which {
            Which::Main => self.lab.external_address(),
            Which::Other(igd) => igd.spec.external_address,
        }
    }

    /// `external address:port`, the public side of a mapping made at this router.
    pub fn external_socket(&self, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(self.external_address(), port)
    }

    /// The port redirections it holds right now, from its nftables rules.
    pub fn redirections(&self) -> Result<Vec<Redirection>> {
        match self.which {
            Which::Main => self.lab.redirections(),
            Which::Other(igd) => igd.redirections(),
        }
    }

    /// The IPv6 pinholes it holds right now.
    pub fn pinholes(&self) -> Result<Vec<Pinhole>> {
        match self.which {
            Which::Main => self.lab.pinholes(),
            Which::Other(igd) => igd.pinholes(),
        }
    }

    /// Stops its miniupnpd (SIGTERM; the rules it made stay).
    pub fn stop(&self) -> Result<()> {
        match self.which {
            Which::Main => self.lab.stop_router(),
            Which::Other(igd) => igd.stop_daemon(),
        }
    }

    /// Starts its miniupnpd again and waits until it listens.
    pub fn start(&self) -> Result<()> {
        match self.which {
            Which::Main => self.lab.start_router(),
            Which::Other(igd) => igd.start_daemon(),
        }
    }

    /// Whether its miniupnpd runs.
    pub fn running(&self) -> bool {
        match self.which {
            Which::Main => self.lab.router_running(),
            Which::Other(igd) => igd.running(),
        }
    }

    /// What its miniupnpd has logged (for failure messages).
    pub fn miniupnpd_log(&self) -> String {
        match self.which {
            Which::Main => self.lab.miniupnpd_log(),
            Which::Other(igd) => igd.log(),
        }
    }
}

/// Which way the kernel of a host sends a packet: `ip route get` parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTaken {
    /// The outgoing interface (`eth0`, `eth1`, [`VPN_INTERFACE`], ...).
    pub interface: String,
    /// The next hop, or `None` on a link (a destination on the interface's own subnet, or a
    /// point-to-point tunnel).
    pub gateway: Option<Ipv4Addr>,
    /// The source address the kernel would pick.
    pub source: Option<Ipv4Addr>,
}

impl Host {
    /// Asks this host's kernel which way it would send a packet to `destination`
    /// (`ip route get`): the path a program on the host takes.
    pub fn route_to(&self, destination: Ipv4Addr) -> Result<RouteTaken> {
        let output = self.exec(
            "ip",
            &["-4", "-o", "route", "get", &destination.to_string()],
        )?;
        let text = String::from_utf8_lossy(&output.stdout);
        parse_route_get(&text).ok_or_else(|| {
            LabError::Invalid(format!(
                "cannot read `ip route get {destination}` in {}: {text:?}",
                self.netns
            ))
        })
    }
}

fn parse_route_get(text: &str) -> Option<RouteTaken> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1))
            .copied()
    };
    Some(RouteTaken {
        interface: after("dev")?.to_owned(),
        gateway: after("via").and_then(|g| g.parse().ok()),
        source: after("src").and_then(|s| s.parse().ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_get_is_parsed() {
        assert_eq!(
            parse_route_get(
                "44.0.0.2 via 192.168.77.1 dev eth0 src 192.168.77.10 uid 0 \\    cache "
            ),
            Some(RouteTaken {
                interface: "eth0".into(),
                gateway: Some(Ipv4Addr::new(192, 168, 77, 1)),
                source: Some(Ipv4Addr::new(192, 168, 77, 10)),
            })
        );
        assert_eq!(
            parse_route_get("44.0.0.2 dev tun0 src 10.99.0.2 uid 0 \\    cache "),
            Some(RouteTaken {
                interface: "tun0".into(),
                gateway: None,
                source: Some(Ipv4Addr::new(10, 99, 0, 2)),
            })
        );
        assert_eq!(
            parse_route_get("RTNETLINK answers: Network is unreachable"),
            None
        );
    }
}
