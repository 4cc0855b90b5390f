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
//! - [`Lab`], [`LabConfig`]: building, knobs, teardown (this file).
//! - `netns`: [`Host`], commands and threads inside a namespace.
//! - `router`: the nftables ruleset, miniupnpd.conf, and [`Redirection`] and [`Pinhole`]
//!   parsing.
//! - `wire`: the impairable LAN link (loss and delay) used instead of `tc netem`.
//! - `probe`: forwarding checks from the WAN host to LAN sockets.
//! - [`zoo`]: fixture routers that behave like real home routers (instead of miniupnpd),
//!   and hostile LAN hosts.
//!
//! # Skipping
//! [`Lab::for_test`] checks for root and for the programs the lab runs (`ip`, `nft`,
//! `miniupnpd`, plus any the test names). When one is missing it prints why and returns `None`
//! so the test passes vacuously, unless the environment variable `CI` is set: then it panics, so
//! a CI run can never skip a lab test silently. A lab test that ran to the end appends its name
//! to the file named by `NATLAB_RAN_LOG`, which `cargo xtask test` counts.

mod error;
mod netns;
mod probe;
mod router;
pub mod wait;
mod wire;
pub mod zoo;

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub use error::{LabError, Result};
pub use netns::Host;
pub use probe::{wan_tcp_exchange, wan_tcp_exchange_v6, wan_udp_exchange, wan_udp_exchange_v6};
pub use router::{Pinhole, Redirection, Transport};

use netns::{ip, run_checked};
use router::{LAN_BRIDGE, MINIUPNPD_CHAINS, WAN_INTERFACE};
use wire::Wire;

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

/// Programs every lab needs.
const REQUIRED_TOOLS: [&str; 5] = ["ip", "nft", "miniupnpd", "unshare", "mount"];

/// Starts miniupnpd with the console silenced in a mount namespace of its own.
///
/// miniupnpd opens syslog with `LOG_CONS`; with no syslog daemon listening on `/dev/log`
/// (the usual case on a test machine), glibc writes every message to `/dev/console` as
/// well, which is a serial port on many virtual machines. In debug mode miniupnpd logs a
/// line per rule on every request, so a router holding 100 redirections spent over half a
/// second per request on the console. Binding `/dev/null` over `/dev/console` for this one
/// process (private propagation: the host's `/dev` is untouched) keeps its log on stderr,
/// where the lab reads it, and makes requests cost what miniupnpd's own code costs.
const MINIUPNPD_LAUNCH: &str = "if [ -e /dev/console ]; then mount --bind /dev/null /dev/console || exit 125; fi; exec miniupnpd \"$@\"";

/// How a lab is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabConfig {
    /// miniupnpd answers NAT-PMP and PCP on port 5351.
    pub natpmp: bool,
    /// miniupnpd answers SSDP and UPnP IGD.
    pub upnp: bool,
    /// External ports LAN hosts may map (miniupnpd's `allow` rule).
    pub external_ports: RangeInclusive<u16>,
    /// Number of LAN hosts (at least one): 192.168.77.10, .11, ...
    pub lan_hosts: usize,
    /// Whether the LAN hosts get a default route via the router.
    pub lan_default_route: bool,
    /// Build the first LAN host's link as a userspace wire, so [`Lab::impair_lan`] can add loss
    /// and delay (see the `wire` module for why not `tc netem`).
    pub impairable_lan: bool,
    /// miniupnpd's `min_lifetime` (the shortest PCP lifetime it grants, in seconds).
    pub min_lifetime: u32,
    /// miniupnpd runs in the foreground with debug logging (`-d`) into the lab's log file,
    /// which [`Lab::miniupnpd_log`] returns (the default). Off, it runs as the daemon it is
    /// on a router: detached, logging only notices, and only to syslog (so the lab's log
    /// stays empty). Its debug log writes lines for every rule on every request, which at
    /// 1,000 rules is most of its work (a request takes 60-100 ms instead of ~14 ms): the
    /// benchmarks turn it off.
    pub router_debug_log: bool,
    /// Dual stack: IPv6 on every link beside IPv4 (off by default; see
    /// [`LabConfig::dual_stack`]). LAN hosts get an address in [`LAN_PREFIX_V6`] and a default
    /// route via [`ROUTER_LAN_LINK_LOCAL_V6`]; the router forwards IPv6 without NAT, and its
    /// firewall drops new connections from the WAN unless a pinhole (UPnP
    /// `WANIPv6FirewallControl` or PCP MAP over IPv6) lets them in.
    ///
    /// Off, the lab is what it always was: link-local IPv6 addresses only, and miniupnpd's
    /// configuration unchanged. It is off by default because with global IPv6 on the LAN
    /// miniupnpd also answers SSDP searches and sends NOTIFYs over IPv6, which IPv4-minded
    /// tests count as extra answers.
    pub ipv6: bool,
    /// A fixed lab name instead of a unique one (for `cargo xtask lab`); at most 8 characters.
    pub name: Option<String>,
}

impl Default for LabConfig {
    fn default() -> LabConfig {
        LabConfig {
            natpmp: true,
            upnp: true,
            external_ports: 1024..=65535,
            lan_hosts: 1,
            lan_default_route: true,
            impairable_lan: false,
            min_lifetime: 120,
            router_debug_log: true,
            ipv6: false,
            name: None,
        }
    }
}

impl LabConfig {
    /// The default lab with IPv6 on every link beside IPv4 ([`LabConfig::ipv6`]).
    pub fn dual_stack() -> LabConfig {
        LabConfig {
            ipv6: true,
            ..LabConfig::default()
        }
    }
}

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
}

impl Lab {
    /// Starts a lab for a test, or explains why it cannot and returns `None`.
    ///
    /// With the environment variable `CI` set, a lab that cannot run panics instead of
    /// skipping. A lab that fails to start although its prerequisites are met panics too.
    pub fn for_test(config: LabConfig) -> Option<Lab> {
        Lab::for_test_with_tools(config, &[])
    }

    /// Like [`Lab::for_test`], also requiring the named programs (e.g. `natpmpc`, `upnpc`).
    #[allow(clippy::print_stderr)]
    pub fn for_test_with_tools(config: LabConfig, tools: &[&'static str]) -> Option<Lab> {
        if let Err(reason) = check_prerequisites(tools) {
            let test = std::thread::current()
                .name()
                .unwrap_or("lab test")
                .to_owned();
            if std::env::var_os("CI").is_some() {
                panic!("{test}: the lab cannot run and CI is set: {reason}");
            }
            eprintln!("skipping {test}: the lab cannot run: {reason}");
            return None;
        }
        match Lab::start(config) {
            Ok(lab) => Some(lab),
            Err(e) => panic!("the lab did not start: {e}"),
        }
    }

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
        };
        // On failure `lab` is dropped here, which removes what was already built.
        lab.build()?;
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

    /// The router's current external (WAN) address.
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

    /// What miniupnpd has logged so far (for failure messages).
    pub fn miniupnpd_log(&self) -> String {
        fs::read_to_string(self.dir.join("miniupnpd.log")).unwrap_or_default()
    }

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

    /// Whether miniupnpd is running.
    pub fn router_running(&self) -> bool {
        self.daemon
            .lock()
            .map(|mut d| d.as_mut().is_some_and(Daemon::running))
            .unwrap_or(false)
    }

    /// Stops miniupnpd cleanly (SIGTERM: it saves its leases to the lease file; the nftables
    /// rules it made stay in place).
    pub fn stop_router(&self) -> Result<()> {
        self.signal_and_reap(Signal::SIGTERM)
    }

    /// Starts miniupnpd again (it reloads its lease file) and waits until it listens.
    pub fn start_router(&self) -> Result<()> {
        self.start_daemon()
    }

    /// Simulates a router reboot: miniupnpd killed, every mapping and lease wiped, then started
    /// again with a new epoch.
    pub fn reboot_router(&self) -> Result<()> {
        self.signal_and_reap(Signal::SIGKILL)?;
        for chain in MINIUPNPD_CHAINS {
            self.router
                .exec("nft", &["flush", "chain", "inet", "filter", chain])?;
        }
        let _ = fs::remove_file(self.dir.join("leases"));
        self.start_daemon()
    }

    /// Changes the router's external address (within 44.0.0.0/24) and tells miniupnpd
    /// (SIGUSR1), which then announces the new address to NAT-PMP/PCP and UPnP clients.
    pub fn set_external_address(&self, address: Ipv4Addr) -> Result<()> {
        let [a, b, c, d] = address.octets();
        if (a, b, c) != (44, 0, 0) || matches!(d, 0 | 2 | 255) {
            return Err(LabError::Invalid(format!(
                "external address {address} must be in 44.0.0.0/24 and not .0, .2 or .255"
            )));
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
    /// Needs [`LabConfig::impairable_lan`].
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

    /// Removes the default routes of a LAN host, IPv4 and IPv6 (the host keeps its addresses
    /// and link).
    pub fn remove_default_route(&self, lan: &Host) -> Result<()> {
        lan.exec("ip", &["route", "del", "default"])?;
        if lan.address_v6.is_some() && self.config.lan_default_route {
            lan.exec("ip", &["-6", "route", "del", "default"])?;
        }
        Ok(())
    }

    fn build(&mut self) -> Result<()> {
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

        let lease_file = self.dir.join("leases").to_string_lossy().into_owned();
        let uuid = format!(
            "6e61746c-6162-4000-8000-{:012x}",
            fnv1a(self.id.as_bytes()) & 0xffff_ffff_ffff
        );
        let conf = router::miniupnpd_conf(&router::DaemonConfig {
            natpmp: self.config.natpmp,
            upnp: self.config.upnp,
            external_ports: self.config.external_ports.clone(),
            min_lifetime: self.config.min_lifetime,
            lease_file: &lease_file,
            uuid: &uuid,
            ipv6,
        });
        write_file(&self.dir.join("miniupnpd.conf"), &conf)?;
        self.start_daemon()
    }

    fn all_hosts(&self) -> Vec<Host> {
        let mut hosts = vec![self.router.clone(), self.wan.clone()];
        hosts.extend(self.lans.iter().cloned());
        hosts
    }

    fn start_daemon(&self) -> Result<()> {
        if !self.config.natpmp && !self.config.upnp {
            // A router with every protocol off runs no daemon at all.
            return Ok(());
        }
        let mut daemon = self
            .daemon
            .lock()
            .map_err(|_| LabError::Invalid("the daemon lock is poisoned".into()))?;
        if daemon.as_mut().is_some_and(Daemon::running) {
            return Ok(());
        }
        let log_path = self.dir.join("miniupnpd.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| LabError::File {
                path: log_path.clone(),
                source,
            })?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log_err = log.try_clone().map_err(|source| LabError::File {
            path: log_path.clone(),
            source,
        })?;
        let conf = self.dir.join("miniupnpd.conf");
        let pid_file = self.dir.join("miniupnpd.pid");
        let _ = fs::remove_file(&pid_file);
        let debug = self.config.router_debug_log;
        let mut command = self.router.command("unshare");
        command
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(MINIUPNPD_LAUNCH)
            .arg("miniupnpd");
        if debug {
            command.arg("-d");
        } else {
            let mut note = &log;
            let _ = writeln!(
                note,
                "natlab: miniupnpd runs detached without its debug log (router_debug_log is off)"
            );
        }
        let mut child = command
            .arg("-f")
            .arg(&conf)
            .arg("-P")
            .arg(&pid_file)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| self.daemon_error(format!("cannot spawn: {e}")))?;

        let deadline = Instant::now() + Duration::from_secs(10);
        let up = if debug {
            let mut wanted = Vec::new();
            if self.config.natpmp {
                wanted.push("Listening for NAT-PMP/PCP traffic");
            }
            if self.config.upnp {
                wanted.push("HTTP listening on port");
            }
            // Ok: it said it listens; Err: it exited first.
            let outcome = poll_until(deadline, || {
                let text = fs::read(&log_path).unwrap_or_default();
                let new = String::from_utf8_lossy(text.get(log_start as usize..).unwrap_or(&[]));
                if wanted.iter().all(|w| new.contains(w)) {
                    return Some(Ok(()));
                }
                child.try_wait().ok().flatten().map(Err)
            });
            match outcome {
                Some(Ok(())) => Daemon::Foreground(child),
                Some(Err(status)) => {
                    return Err(self.daemon_error(format!("it exited with {status}")));
                }
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(self.daemon_error("it did not listen within 10 s".into()));
                }
            }
        } else {
            // The process we started forks the daemon and exits; the daemon writes its pid.
            let Some(status) = poll_until(deadline, || child.try_wait().ok().flatten()) else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(self.daemon_error("it did not detach within 10 s".into()));
            };
            if !status.success() {
                return Err(self.daemon_error(format!("it exited with {status}")));
            }
            let written = || {
                fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|text| text.trim().parse::<i32>().ok())
                    .map(Pid::from_raw)
            };
            match poll_until(deadline, || {
                written().filter(|&pid| self.daemon_listens(pid))
            }) {
                Some(pid) => Daemon::Detached(pid),
                None => {
                    if let Some(pid) = written() {
                        let _ = kill(pid, Signal::SIGKILL);
                    }
                    return Err(self.daemon_error("it did not listen within 10 s".into()));
                }
            }
        };
        tracing::debug!(lab = %self.id, pid = %up.pid(), "miniupnpd is up");
        *daemon = Some(up);
        Ok(())
    }

    /// Whether `pid` is alive and has its NAT-PMP/PCP and HTTP sockets open, as the config
    /// asks (read from the kernel's socket tables of its network namespace).
    fn daemon_listens(&self, pid: Pid) -> bool {
        if !process_alive(pid) {
            return false;
        }
        let has = |table: &str, port: u16, listening: bool| {
            // IPv4 and IPv6 tables: miniupnpd's HTTP socket is a dual-stack IPv6 one.
            let text = [table, &format!("{table}6")]
                .iter()
                .map(|t| fs::read_to_string(format!("/proc/{pid}/net/{t}")).unwrap_or_default())
                .collect::<String>();
            text.lines().any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = fields
                    .get(1)
                    .and_then(|local| local.rsplit(':').next())
                    .and_then(|hex| u16::from_str_radix(hex, 16).ok());
                local_port == Some(port) && (!listening || fields.get(3) == Some(&"0A"))
            })
        };
        (!self.config.natpmp || has("udp", NATPMP_PORT, false))
            && (!self.config.upnp || has("tcp", UPNP_HTTP_PORT, true))
    }

    fn daemon_error(&self, reason: String) -> LabError {
        LabError::Miniupnpd {
            namespace: self.router.netns.clone(),
            reason,
            log: self.miniupnpd_log(),
        }
    }

    fn signal(&self, signal: Signal) -> Result<()> {
        let daemon = self
            .daemon
            .lock()
            .map_err(|_| LabError::Invalid("the daemon lock is poisoned".into()))?;
        match daemon.as_ref() {
            Some(running) => kill(running.pid(), signal).map_err(|e| {
                error::io_err(format!("cannot signal miniupnpd ({signal})"))(e.into())
            }),
            None => Err(LabError::Invalid("miniupnpd is not running".into())),
        }
    }

    fn signal_and_reap(&self, signal: Signal) -> Result<()> {
        let mut daemon = self
            .daemon
            .lock()
            .map_err(|_| LabError::Invalid("the daemon lock is poisoned".into()))?;
        if let Some(mut running) = daemon.take() {
            let _ = kill(running.pid(), signal);
            if !running.exited_within(Duration::from_secs(3)) {
                let _ = kill(running.pid(), Signal::SIGKILL);
                running.exited_within(Duration::from_secs(3));
            }
        }
        Ok(())
    }
}

/// The running miniupnpd.
#[derive(Debug)]
enum Daemon {
    /// Started with `-d`: our child, logging into the lab's log file.
    Foreground(Child),
    /// Detached by its own fork; known by the pid it wrote.
    Detached(Pid),
}

impl Daemon {
    fn pid(&self) -> Pid {
        match self {
            Daemon::Foreground(child) => Pid::from_raw(child.id() as i32),
            Daemon::Detached(pid) => *pid,
        }
    }

    fn running(&mut self) -> bool {
        match self {
            Daemon::Foreground(child) => matches!(child.try_wait(), Ok(None)),
            Daemon::Detached(pid) => process_alive(*pid),
        }
    }

    /// Waits up to `limit` for the process to end (reaping it if it is our child).
    fn exited_within(&mut self, limit: Duration) -> bool {
        poll_until(Instant::now() + limit, || (!self.running()).then_some(())).is_some()
    }
}

/// Calls `check` every 5 ms until it answers, or until `deadline` has passed (`None`).
fn poll_until<T>(deadline: Instant, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    loop {
        if let Some(answer) = check() {
            return Some(answer);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `pid` names a live process: not gone, and not a zombie its parent (for a
/// detached daemon, init) has yet to reap.
fn process_alive(pid: Pid) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !matches!(rest.trim_start().chars().next(), Some('Z' | 'X')))
    })
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = self.signal_and_reap(Signal::SIGTERM);
        self.wire.take();
        destroy_namespaces(&self.id);
        let _ = fs::remove_dir_all(&self.dir);
        if !std::thread::panicking() {
            record_run();
        }
    }
}

fn lan_host_address(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 77, 10 + index as u8)
}

fn lan_host_address_v6(index: usize) -> Ipv6Addr {
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

fn write_file(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(|source| LabError::File {
        path: path.to_owned(),
        source,
    })
}

fn check_prerequisites(extra: &[&'static str]) -> Result<()> {
    let uid = nix::unistd::geteuid();
    if !uid.is_root() {
        return Err(LabError::NotRoot { uid: uid.as_raw() });
    }
    for program in REQUIRED_TOOLS.iter().chain(extra) {
        if find_program(program).is_none() {
            return Err(LabError::MissingTool { program });
        }
    }
    Ok(())
}

/// Finds a program on `PATH` (and in the sbin directories root's `PATH` may lack).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Kills whatever still runs in a lab's namespaces and deletes them.
fn destroy_namespaces(id: &str) {
    let prefix = format!("natlab-{id}-");
    let Ok(entries) = fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&prefix) {
            continue;
        }
        if let Ok(output) = run_checked(Command::new("ip").args(["netns", "pids", &name])) {
            for pid in String::from_utf8_lossy(&output.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
        if let Err(e) = ip(&["netns", "del", &name]) {
            tracing::warn!(namespace = %name, error = %e, "cannot delete a lab namespace");
        }
    }
}

/// Removes labs left behind by test processes that were killed before their teardown ran.
fn cleanup_leftovers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = fs::read_dir("/run/netns") else {
            return;
        };
        let mut dead = std::collections::BTreeSet::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_prefix("natlab-")
                .and_then(|rest| rest.rsplit_once('-'))
                .map(|(id, _)| id.to_owned())
            else {
                continue;
            };
            let Some(pid) = id.split_once('x').and_then(|(p, _)| p.parse::<u32>().ok()) else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                dead.insert(id);
            }
        }
        for id in dead {
            tracing::info!(lab = %id, "removing a lab left behind by a killed run");
            destroy_namespaces(&id);
            let _ = fs::remove_dir_all(std::env::temp_dir().join(format!("natlab-{id}")));
        }
    });
}

fn record_run() {
    let Some(path) = std::env::var_os("NATLAB_RAN_LOG") else {
        return;
    };
    let name = std::thread::current()
        .name()
        .unwrap_or("unnamed lab test")
        .to_owned();
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(file, "{name}");
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
