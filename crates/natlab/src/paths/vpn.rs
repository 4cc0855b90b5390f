//! A VPN on the first LAN host: a real layer-3 tunnel interface ([`VPN_INTERFACE`], a TUN
//! device) whose packets a relay thread carries in UDP datagrams, through the LAN router, to
//! a VPN server namespace on the WAN side (46.0.0.1), which NATs the tunnel's traffic out.
//! It stands in for WireGuard (which this kernel may lack) and OpenVPN: what natkit sees is
//! the same, an interface with its own address and the routes a VPN client installs.
//!
//! The server namespace is built at the first [`Lab::vpn_up`] and stays; the tunnel itself
//! (both TUN devices and the relay threads) lives from [`Lab::vpn_up`] to [`Lab::vpn_down`].
//! Like WireGuard's allowed IPs, the server only forwards packets whose source is the
//! client's tunnel address: a reply the host sends from its LAN address into the tunnel dies
//! there.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::error::io_err;
use crate::netns::ip;
use crate::topology::write_file;
use crate::wire::open_tun;
use crate::{Host, Lab, LabError, Result};

/// The tunnel interface's name on the LAN host (and on the server).
pub const VPN_INTERFACE: &str = "tun0";
/// The VPN server's public address (namespace `natlab-<id>-vpn`, linked to the WAN host,
/// which routes between it and the routers). What the WAN host sees as the source of the
/// host's traffic through a full tunnel.
pub const VPN_SERVER_ADDRESS: Ipv4Addr = Ipv4Addr::new(46, 0, 0, 1);
/// The LAN host's address on the tunnel (10.99.0.2/24).
pub const VPN_HOST_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
/// The server's address on the tunnel (10.99.0.1/24): reachable only through the tunnel.
pub const VPN_SERVER_TUNNEL_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
/// The UDP port the server listens on.
const VPN_PORT: u16 = 51820;
/// Leaves room for the outer IPv4 and UDP headers on a 1500-byte link.
const TUNNEL_MTU: &str = "1420";

/// Which routes the VPN client installs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VpnMode {
    /// Everything through the tunnel, as `wg-quick` and OpenVPN's `redirect-gateway def1` do:
    /// `0.0.0.0/1` and `128.0.0.0/1` via the tunnel (more specific than the default route,
    /// which stays in place), and a host route to the server via the gateway of the preferred
    /// default route so the tunnel's own datagrams do not enter it.
    FullTunnel,
    /// Only these prefixes (address, prefix length) through the tunnel; the default route
    /// carries the rest. No prefix may cover the server's address.
    SplitTunnel(Vec<(Ipv4Addr, u8)>),
}

/// The VPN of a lab: the server namespace once built, the tunnel while up.
#[derive(Debug, Default)]
pub(crate) struct VpnState {
    server: Option<Host>,
    tunnel: Option<Tunnel>,
}

#[derive(Debug)]
struct Tunnel {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    host_route: Option<String>,
}

impl VpnState {
    /// Stops the relay threads; the TUN devices go with their files.
    pub(crate) fn shutdown(&mut self) -> Option<String> {
        let tunnel = self.tunnel.take()?;
        tunnel.stop.store(true, Ordering::Relaxed);
        for thread in tunnel.threads {
            let _ = thread.join();
        }
        tunnel.host_route
    }
}

impl Lab {
    /// Brings a VPN up on the first LAN host: a tunnel interface [`VPN_INTERFACE`] with
    /// [`VPN_HOST_ADDRESS`]/24 to the server at [`VPN_SERVER_ADDRESS`], and the routes of
    /// `mode`. Fails if it is already up.
    ///
    /// With a full tunnel, [`Lab::source_seen_by_wan`] then says [`VPN_SERVER_ADDRESS`], and a
    /// mapping at the LAN router cannot carry a WAN connection (the host's replies leave
    /// through the tunnel).
    ///
    /// The host route to the server goes via the uplink preferred when the VPN comes up; if
    /// that uplink goes down ([`Lab::set_uplink`]) the route goes with it and the tunnel
    /// stops carrying anything until [`Lab::vpn_down`] and [`Lab::vpn_up`] again, as an
    /// OpenVPN client's would until it reconnects. IPv4 only: in a dual-stack lab the host's
    /// IPv6 traffic keeps its own path.
    pub fn vpn_up(&self, mode: VpnMode) -> Result<()> {
        let mut state = self
            .paths
            .vpn
            .lock()
            .map_err(|_| LabError::Invalid("the VPN lock is poisoned".into()))?;
        if state.tunnel.is_some() {
            return Err(LabError::Invalid("the VPN is already up".into()));
        }
        if let VpnMode::SplitTunnel(prefixes) = &mode {
            for (address, len) in prefixes {
                let covers = *len <= 32
                    && (*len == 0
                        || (u32::from(*address) ^ u32::from(VPN_SERVER_ADDRESS)) >> (32 - len)
                            == 0);
                if *len > 32 || covers {
                    return Err(LabError::Invalid(format!(
                        "split-tunnel prefix {address}/{len} is invalid or covers the VPN server"
                    )));
                }
            }
        }
        let server = match &state.server {
            Some(server) => server.clone(),
            None => {
                let server = self.build_vpn_server()?;
                state.server = Some(server.clone());
                server
            }
        };
        let lan = self.lans[0].clone();

        // Server side: its TUN device and UDP socket.
        let server_tun = server
            .run(|| open_tun(VPN_INTERFACE))?
            .map_err(io_err("cannot open the VPN server's TUN device"))?;
        configure_tun(&server.netns, "10.99.0.1/24")?;
        let server_socket = server
            .run(|| UdpSocket::bind((Ipv4Addr::UNSPECIFIED, VPN_PORT)))?
            .map_err(io_err("cannot bind the VPN server's UDP socket"))?;

        // Client side: the host route first, so the tunnel's datagrams bypass the tunnel.
        let host_route = match mode {
            VpnMode::FullTunnel => {
                let (gateway, interface) = preferred_default(&lan)?;
                let route = format!("{VPN_SERVER_ADDRESS}/32");
                lan.exec(
                    "ip",
                    &[
                        "route", "replace", &route, "via", &gateway, "dev", &interface,
                    ],
                )?;
                Some(route)
            }
            VpnMode::SplitTunnel(_) => None,
        };
        let client_tun = lan
            .run(|| open_tun(VPN_INTERFACE))?
            .map_err(io_err("cannot open the LAN host's TUN device"))?;
        configure_tun(&lan.netns, "10.99.0.2/24")?;
        let prefixes = match &mode {
            VpnMode::FullTunnel => vec!["0.0.0.0/1".to_owned(), "128.0.0.0/1".to_owned()],
            VpnMode::SplitTunnel(prefixes) => prefixes
                .iter()
                .map(|(address, len)| format!("{address}/{len}"))
                .collect(),
        };
        for prefix in &prefixes {
            lan.exec("ip", &["route", "add", prefix, "dev", VPN_INTERFACE])?;
        }
        let server_at = SocketAddrV4::new(VPN_SERVER_ADDRESS, VPN_PORT);
        let client_socket = lan
            .run(move || {
                let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
                socket.connect(server_at)?;
                // Tells the server where the client is, as a handshake would.
                socket.send(&[])?;
                Ok::<_, std::io::Error>(socket)
            })?
            .map_err(io_err("cannot open the LAN host's VPN socket"))?;

        let stop = Arc::new(AtomicBool::new(false));
        let threads = vec![
            spawn_relay(client_tun, client_socket, true, stop.clone()),
            spawn_relay(server_tun, server_socket, false, stop.clone()),
        ];
        state.tunnel = Some(Tunnel {
            stop,
            threads,
            host_route,
        });
        Ok(())
    }

    /// Takes the VPN down: the tunnel interface goes (and every route through it) and the host
    /// route to the server is removed, as when a VPN client disconnects. A no-op when it is
    /// not up.
    pub fn vpn_down(&self) -> Result<()> {
        let host_route = self
            .paths
            .vpn
            .lock()
            .map_err(|_| LabError::Invalid("the VPN lock is poisoned".into()))?
            .shutdown();
        if let Some(route) = host_route {
            // Gone already if its uplink went down meanwhile.
            let _ = self.lans[0].exec("ip", &["route", "del", &route]);
        }
        Ok(())
    }

    /// The VPN server's namespace (address [`VPN_SERVER_ADDRESS`]), once a VPN was brought up.
    pub fn vpn_server(&self) -> Option<Host> {
        self.paths.vpn.lock().ok().and_then(|s| s.server.clone())
    }

    fn build_vpn_server(&self) -> Result<Host> {
        let server = Host {
            netns: format!("natlab-{}-vpn", self.id),
            address: VPN_SERVER_ADDRESS,
            address_v6: None,
            interface: "eth0".into(),
        };
        let ns = server.netns.as_str();
        let wan = self.wan.netns.as_str();
        ip(&["netns", "add", ns])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "vpn0", "netns", wan,
        ])?;
        ip(&["-n", ns, "addr", "add", "46.0.0.1/24", "dev", "eth0"])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", ns, "route", "add", "default", "via", "46.0.0.2"])?;
        ip(&["-n", wan, "addr", "add", "46.0.0.2/24", "dev", "vpn0"])?;
        ip(&["-n", wan, "link", "set", "vpn0", "up"])?;
        // The WAN host becomes the internet's core router: it carries traffic between the
        // routers' WAN links and the server's. The boxes on its links learn the server's
        // network: the router, or the outer NAT in front of it (whose default route the
        // router already follows).
        self.wan
            .exec("sh", &["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])?;
        let edge = self.outer_nat().unwrap_or(&self.router);
        ip(&[
            "-n",
            &edge.netns,
            "route",
            "add",
            "46.0.0.0/24",
            "via",
            "44.0.0.2",
        ])?;
        if let Some(rtr2) = &self.paths.second_router {
            ip(&[
                "-n",
                &rtr2.spec.host.netns,
                "route",
                "add",
                "46.0.0.0/24",
                "via",
                "45.0.0.2",
            ])?;
        }
        server.exec("sh", &["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])?;
        let ruleset = self.dir.join("vpn.nft");
        write_file(
            &ruleset,
            &format!(
                r#"table ip vpn {{
  chain forward {{
    type filter hook forward priority 0; policy accept;
    iifname "{VPN_INTERFACE}" ip saddr != {VPN_HOST_ADDRESS} drop
  }}
  chain postrouting {{
    type nat hook postrouting priority 100; policy accept;
    oifname "eth0" ip saddr 10.99.0.0/24 masquerade
  }}
}}
"#
            ),
        )?;
        server.exec("nft", &["-f", &ruleset.to_string_lossy()])?;
        Ok(server)
    }
}

fn configure_tun(netns: &str, cidr: &str) -> Result<()> {
    ip(&["-n", netns, "addr", "add", cidr, "dev", VPN_INTERFACE])?;
    ip(&[
        "-n",
        netns,
        "link",
        "set",
        VPN_INTERFACE,
        "mtu",
        TUNNEL_MTU,
        "up",
    ])?;
    Ok(())
}

/// The gateway and interface of `host`'s preferred IPv4 default route (lowest metric).
fn preferred_default(host: &Host) -> Result<(String, String)> {
    let output = host.exec("ip", &["-4", "-o", "route", "show", "default"])?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let after = |key: &str| {
                words
                    .iter()
                    .position(|w| *w == key)
                    .and_then(|i| words.get(i + 1))
                    .copied()
            };
            let metric: u32 = after("metric").and_then(|m| m.parse().ok()).unwrap_or(0);
            Some((metric, after("via")?.to_owned(), after("dev")?.to_owned()))
        })
        .min_by_key(|(metric, ..)| *metric)
        .map(|(_, gateway, interface)| (gateway, interface))
        .ok_or_else(|| {
            LabError::Invalid(format!(
                "{} has no IPv4 default route for a full-tunnel VPN",
                host.netns
            ))
        })
}

/// Copies packets between a TUN device and a UDP socket until `stop`. The client's socket is
/// connected to the server; the server answers whoever sent it the last datagram. An empty
/// datagram only says where the client is.
fn spawn_relay(
    tun: File,
    socket: UdpSocket,
    connected: bool,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut peer: Option<SocketAddr> = None;
        let mut buffer = vec![0u8; 65_536];
        while !stop.load(Ordering::Relaxed) {
            let (tun_ready, socket_ready) = {
                let mut fds = [
                    PollFd::new(tun.as_fd(), PollFlags::POLLIN),
                    PollFd::new(socket.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, PollTimeout::from(50u16)) {
                    Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                    Ok(_) => {}
                    Err(_) => return,
                }
                let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
                (ready(&fds[0]), ready(&fds[1]))
            };
            if tun_ready {
                if let Ok(n) = (&tun).read(&mut buffer) {
                    match (connected, peer) {
                        (true, _) => {
                            let _ = socket.send(&buffer[..n]);
                        }
                        (false, Some(peer)) => {
                            let _ = socket.send_to(&buffer[..n], peer);
                        }
                        (false, None) => {}
                    }
                }
            }
            if socket_ready {
                if let Ok((n, from)) = socket.recv_from(&mut buffer) {
                    if !connected {
                        peer = Some(from);
                    }
                    if n > 0 {
                        let _ = (&tun).write(&buffer[..n]);
                    }
                }
            }
        }
    })
}
