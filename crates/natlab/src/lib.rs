//! `natlab`: a real NAT router in network namespaces, for end-to-end tests.
//!
//! A [`Lab`] is three kinds of Linux network namespace joined by virtual links:
//!
//! ```text
//!  LAN host(s)              router                                   WAN host
//!  192.168.77.10/24 --- br0 192.168.77.1 | nftables NAT | wan0 44.0.0.1 --- 44.0.0.2/24
//!  default via .1           miniupnpd: NAT-PMP/PCP :5351, UPnP :5000
//!  2001:db8:77:1::10/64     2001:db8:77:1::1,  | IPv6 firewall | 2001:db8:77::1 --- 2001:db8:77::2/64
//!  default via fe80::1      fe80::1            | (no NAT)      |                    2001:db8:77:1::/64 via ::1
//! ```
//!
//! The router runs nftables NAT and the real **miniupnpd** (the implementation inside most home
//! routers), with its own configuration, pid and lease files. The 44.0.0.0/24 "internet" exists
//! only inside the lab (miniupnpd refuses reserved or documentation addresses on its WAN side).
//! Every link is created inside the namespaces; nothing is ever linked to the root namespace,
//! so no packet of a lab can reach a real network.
//!
//! A lab built with [`LabConfig::ipv6`] ([`LabConfig::dual_stack`]) is dual-stack: IPv6 is routed without NAT, and
//! the router's `inet` firewall drops new connections from the WAN until miniupnpd opens a
//! pinhole (UPnP `WANIPv6FirewallControl`, or PCP MAP over IPv6); [`Lab::tcp_reaches_v6`],
//! [`Lab::udp_reaches_v6`] and [`Lab::pinholes`] check them. `docs/LAB-IPV6.md` says what the
//! real miniupnpd does there.
//!
//! Tests run code "on" a host with [`Host::block_on`] (a thread that enters the namespace, then
//! builds its own tokio runtime) and prove forwarding with [`Lab::tcp_reaches`] and
//! [`Lab::udp_reaches`]: a connection from the WAN host must reach a socket on the LAN host.
//!
//! # Example
//!
//! ```no_run
//! use natlab::{Lab, LabConfig};
//!
//! // Skips (or, with `CI` set, fails) when not root or when a tool is missing.
//! let Some(lab) = Lab::for_test(LabConfig::default()) else { return Ok(()) };
//! let output = lab.lan().exec("natpmpc", &["-g", "192.168.77.1", "-a", "4000", "4000", "tcp", "60"])?;
//! assert!(output.status.success());
//! assert!(lab.tcp_reaches(lab.lan(), 4000, lab.external_socket(4000))?);
//! # Ok::<(), natlab::LabError>(())
//! ```
//!
//! # Layout
//! - [`Lab`]: starting, attaching, the hosts and addresses (this file).
//! - `config`: [`LabConfig`], the knobs.
//! - `topology`: namespaces, links, addresses, routes, the nftables ruleset, and the
//!   changes tests make to them ([`Lab::set_external_address`], [`Lab::impair_lan`]).
//! - `daemon`: miniupnpd's configuration, start, stop, restart and reboot.
//! - `cleanup`: teardown on drop, and labs left behind by killed runs.
//! - `skip`: [`Lab::for_test`] and what happens when the lab cannot run.
//! - `netns`: [`Host`], commands and threads inside a namespace.
//! - `router`: the nftables ruleset, miniupnpd.conf, and [`Redirection`] and [`Pinhole`]
//!   parsing.
//! - `wire`: the impairable LAN link (loss and delay) used instead of `tc netem`.
//! - `probe`: forwarding checks from the WAN host to LAN sockets.
//! - `stun_server`: coturn on the WAN host, for RFC 5780 ([`LabConfig::with_stun`],
//!   [`Lab::stun_server`]).
//! - `behaviour`: the NAT's mapping, filtering and hairpinning ([`NatBehaviour`],
//!   [`LabConfig::with_nat`]).
//! - `outer_nat`: a carrier-grade or second NAT in front of the router ([`OuterNat`],
//!   [`LabConfig::with_outer_nat`], [`Lab::public_address`]).
//! - `wan_counter`: counting the packets that reach the WAN host
//!   ([`Lab::count_wan_packets`], [`Lab::wan_packets`]).
//! - [`zoo`]: fixture routers that behave like real home routers (instead of miniupnpd),
//!   and hostile LAN hosts.
//!
//! # Skipping
//! [`Lab::for_test`] checks for root and for the programs the lab runs (`ip`, `nft`,
//! `miniupnpd`, plus any the test names). When one is missing it prints why and returns `None`
//! so the test passes vacuously, unless the environment variable `CI` is set: then it panics, so
//! a CI run can never skip a lab test silently. A lab test that ran to the end appends its name
//! to the file named by `NATLAB_RAN_LOG`, which `cargo xtask test` counts.

mod behaviour;
mod cleanup;
mod config;
mod daemon;
mod error;
mod netns;
mod outer_nat;
pub mod pcp_zoo;
mod probe;
mod router;
mod skip;
mod stun_server;
mod topology;
pub mod wait;
mod wan_counter;
mod wire;
pub mod zoo;

use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

pub use behaviour::{Filtering, Mapping, NatBehaviour};
pub use config::LabConfig;
pub use error::{LabError, Result};
pub use netns::Host;
pub use outer_nat::OuterNat;
pub use probe::{wan_tcp_exchange, wan_tcp_exchange_v6, wan_udp_exchange, wan_udp_exchange_v6};
pub use router::{Pinhole, Redirection, Transport};
pub use skip::find_program;
pub use stun_server::{
    STUN_ALTERNATE_ADDRESS, STUN_ALTERNATE_ADDRESS_V6, STUN_ALTERNATE_PORT, STUN_PORT,
};
pub use topology::{
    LAN_PREFIX_V6, NATPMP_PORT, ROUTER_LAN_ADDRESS, ROUTER_LAN_ADDRESS_V6,
    ROUTER_LAN_LINK_LOCAL_V6, ROUTER_WAN_ADDRESS, ROUTER_WAN_ADDRESS_V6, UPNP_HTTP_PORT,
    WAN_HOST_ADDRESS, WAN_HOST_ADDRESS_V6,
};

use cleanup::{cleanup_leftovers, destroy_namespaces};
use daemon::Daemon;
use netns::ip;
use router::{LAN_BRIDGE, WAN_INTERFACE};
use skip::check_prerequisites;
use stun_server::StunServer;
use topology::{lan_host_address, lan_host_address_v6};
use wire::Wire;

/// A running lab. Dropping it tears everything down (also while a test panics).
#[derive(Debug)]
pub struct Lab {
    id: String,
    dir: PathBuf,
    config: LabConfig,
    router: Host,
    wan: Host,
    lans: Vec<Host>,
    external_address: Mutex<Ipv4Addr>,
    daemon: Mutex<Option<Daemon>>,
    wire: Option<Wire>,
    keep: bool,
    /// coturn, with [`LabConfig::stun`].
    stun: Mutex<Option<StunServer>>,
    /// The outer NAT's namespace, with [`LabConfig::outer_nat`].
    outer: Option<Host>,
}

impl Lab {
    /// Builds and starts a lab.
    pub fn start(config: LabConfig) -> Result<Lab> {
        check_prerequisites(&[])?;
        if config.lan_hosts == 0 || config.lan_hosts > 100 {
            return Err(LabError::Invalid(format!(
                "lan_hosts must be 1 to 100, not {}",
                config.lan_hosts
            )));
        }
        cleanup_leftovers();
        let id = match &config.name {
            Some(name) if name.len() <= 8 && name.chars().all(|c| c.is_ascii_alphanumeric()) => {
                name.clone()
            }
            Some(name) => {
                return Err(LabError::Invalid(format!(
                    "lab name {name:?} must be 1 to 8 letters or digits"
                )));
            }
            None => {
                static COUNTER: AtomicU32 = AtomicU32::new(0);
                format!(
                    "{}x{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed)
                )
            }
        };
        // A stale lab of the same fixed name is replaced.
        if config.name.is_some() {
            destroy_namespaces(&id);
        }
        let dir = std::env::temp_dir().join(format!("natlab-{id}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|source| LabError::File {
            path: dir.clone(),
            source,
        })?;
        let ipv6 = config.ipv6;
        let host = |suffix: &str, address, address_v6, interface: &str| Host {
            netns: format!("natlab-{id}-{suffix}"),
            address,
            address_v6: ipv6.then_some(address_v6),
            interface: interface.to_owned(),
        };
        let router = host(
            "rtr",
            ROUTER_WAN_ADDRESS,
            ROUTER_WAN_ADDRESS_V6,
            WAN_INTERFACE,
        );
        let wan = host("wan", WAN_HOST_ADDRESS, WAN_HOST_ADDRESS_V6, "eth0");
        let lans = (0..config.lan_hosts)
            .map(|i| {
                host(
                    &format!("lan{i}"),
                    lan_host_address(i),
                    lan_host_address_v6(i),
                    "eth0",
                )
            })
            .collect();
        let mut lab = Lab {
            id,
            dir,
            config,
            router,
            wan,
            lans,
            external_address: Mutex::new(ROUTER_WAN_ADDRESS),
            daemon: Mutex::new(None),
            wire: None,
            keep: false,
            stun: Mutex::new(None),
            outer: None,
        };
        // On failure `lab` is dropped here, which removes what was already built.
        lab.build_topology()?;
        lab.rebuild_wan()?;
        lab.apply_nat_behaviour()?;
        // coturn first: miniupnpd may ask it for the public address as it starts.
        lab.set_up_stun_server()?;
        lab.write_daemon_conf()?;
        lab.configure_router_stun()?;
        lab.start_daemon()?;
        Ok(lab)
    }

    /// Re-attaches to a lab started elsewhere under a fixed name and kept (see [`Lab::keep`]),
    /// e.g. to run commands in it or to tear it down with `drop`.
    pub fn attach(name: &str) -> Result<Lab> {
        let router_ns = format!("natlab-{name}-rtr");
        if !Path::new("/run/netns").join(&router_ns).exists() {
            return Err(LabError::Invalid(format!(
                "no lab named {name:?} is running"
            )));
        }
        // Dual-stack if the router holds its global LAN address.
        let ipv6 =
            ip(&["-n", &router_ns, "-6", "addr", "show", "dev", LAN_BRIDGE]).is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout).contains(&ROUTER_LAN_ADDRESS_V6.to_string())
            });
        let config = LabConfig {
            name: Some(name.to_owned()),
            ipv6,
            ..LabConfig::default()
        };
        let v6 = |address| ipv6.then_some(address);
        let mut lans = Vec::new();
        while Path::new("/run/netns")
            .join(format!("natlab-{name}-lan{}", lans.len()))
            .exists()
        {
            lans.push(Host {
                netns: format!("natlab-{name}-lan{}", lans.len()),
                address: lan_host_address(lans.len()),
                address_v6: v6(lan_host_address_v6(lans.len())),
                interface: "eth0".to_owned(),
            });
        }
        Ok(Lab {
            id: name.to_owned(),
            dir: std::env::temp_dir().join(format!("natlab-{name}")),
            config,
            router: Host {
                netns: router_ns,
                address: ROUTER_WAN_ADDRESS,
                address_v6: v6(ROUTER_WAN_ADDRESS_V6),
                interface: WAN_INTERFACE.to_owned(),
            },
            wan: Host {
                netns: format!("natlab-{name}-wan"),
                address: WAN_HOST_ADDRESS,
                address_v6: v6(WAN_HOST_ADDRESS_V6),
                interface: "eth0".to_owned(),
            },
            lans,
            external_address: Mutex::new(ROUTER_WAN_ADDRESS),
            daemon: Mutex::new(None),
            wire: None,
            keep: false,
            stun: Mutex::new(None),
            outer: None,
        })
    }

    /// Leaves the lab running when this value is dropped (for `cargo xtask lab up`).
    ///
    /// An impairable LAN link needs this process and goes down with it.
    pub fn keep(mut self) {
        self.keep = true;
        if let Ok(mut daemon) = self.daemon.lock() {
            // The daemon outlives us; forget the handle without killing it.
            daemon.take();
        }
        if let Ok(mut stun) = self.stun.lock() {
            // Likewise coturn.
            std::mem::forget(stun.take());
        }
    }

    /// The lab's unique id (part of every namespace name).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The configuration the lab was built with.
    pub fn config(&self) -> &LabConfig {
        &self.config
    }

    /// The first LAN host (192.168.77.10).
    pub fn lan(&self) -> &Host {
        &self.lans[0]
    }

    /// All LAN hosts, in address order.
    pub fn lan_hosts(&self) -> &[Host] {
        &self.lans
    }

    /// The router host (its address is the current WAN address at start).
    pub fn router(&self) -> &Host {
        &self.router
    }

    /// The WAN ("internet") host.
    pub fn wan(&self) -> &Host {
        &self.wan
    }

    /// The router's current external (WAN) address: the address miniupnpd reports to
    /// NAT-PMP, PCP and UPnP clients. Behind an outer NAT ([`LabConfig::with_outer_nat`]) this
    /// is the router's carrier-grade or private WAN address, not the one the internet sees:
    /// that is [`Lab::public_address`].
    pub fn external_address(&self) -> Ipv4Addr {
        self.external_address
            .lock()
            .map(|a| *a)
            .unwrap_or(ROUTER_WAN_ADDRESS)
    }

    /// `external address:port`, the public side of a mapping.
    pub fn external_socket(&self, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(self.external_address(), port)
    }

    /// The router's global IPv6 address on the LAN ([`ROUTER_LAN_ADDRESS_V6`]), the address
    /// LAN hosts send PCP requests to over IPv6; `None` without [`LabConfig::ipv6`].
    pub fn router_lan_address_v6(&self) -> Option<Ipv6Addr> {
        self.config.ipv6.then_some(ROUTER_LAN_ADDRESS_V6)
    }

    /// The router's link-local IPv6 address on the LAN ([`ROUTER_LAN_LINK_LOCAL_V6`], scope:
    /// the LAN host's `eth0`), the LAN hosts' IPv6 gateway; `None` without [`LabConfig::ipv6`].
    ///
    /// A PCP request sent to it goes out from the host's link-local address unless the socket
    /// is bound to the host's global address, and miniupnpd then answers `ADDRESS_MISMATCH`
    /// for a request naming the global address.
    pub fn router_link_local_v6(&self) -> Option<Ipv6Addr> {
        self.config.ipv6.then_some(ROUTER_LAN_LINK_LOCAL_V6)
    }

    /// The router's IPv6 address on its WAN link ([`ROUTER_WAN_ADDRESS_V6`]); `None` without
    /// [`LabConfig::ipv6`]. With no IPv6 NAT, a pinhole is reached at the LAN host's own
    /// address ([`Host::address_v6`]), not at this one.
    pub fn wan_address_v6(&self) -> Option<Ipv6Addr> {
        self.config.ipv6.then_some(ROUTER_WAN_ADDRESS_V6)
    }

    /// The directory holding miniupnpd's configuration, pid, lease and log files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
