//! The router zoo: fixture UPnP IGD routers that behave like real home routers, run on the
//! lab's router namespace instead of miniupnpd, and hostile LAN hosts.
//!
//! One engine serves every profile: an SSDP responder on UDP 1900 (joined to
//! 239.255.255.250 on the router's LAN address) and a small HTTP/1.x server (description,
//! SCPDs, SOAP control). A [`Profile`] is data plus switches: which search targets it
//! answers and from which ports, header case, URL layout, HTTP version, document quirks,
//! SOAP prefix, which listing actions it offers. Mappings are real: `AddPortMapping` adds
//! nftables DNAT and forward rules in the router namespace (the chains the lab's ruleset
//! has for miniupnpd), so [`Lab::tcp_reaches`] proves them, and [`Lab::redirections`] reads
//! them.
//!
//! Each vendor profile lives in a file of its own whose doc comment says which real
//! behaviour it stands for and where that is publicly recorded.
//!
//! # Example
//!
//! ```no_run
//! use natlab::zoo::{Profile, ZooLab};
//!
//! let Some(zoo) = ZooLab::for_test(Profile::broadcom()) else { return };
//! // zoo derefs to the Lab: run a client on zoo.lan(), prove with zoo.tcp_reaches(...).
//! println!("{}", zoo.fixture().location());
//! ```
//!
//! # Layout
//! - this file: [`Profile`] and its parts, [`FixtureRouter`], [`ZooLab`], and the task that
//!   runs a fixture's servers.
//! - `engine`: the state the servers share (profile, placement, log, mapping table) and the
//!   text helpers both sides use (header case, XML escaping).
//! - `http`: the HTTP/1.x server and request routing; `igd`: SOAP control (actions,
//!   faults, envelopes); `documents`: the device description and SCPDs; `nft`: the
//!   nftables rules that make mappings real; `ssdp`: the SSDP responder.
//! - one file per vendor profile, `hostile` for the hostile LAN hosts, and `unusable` for
//!   gateways whose own IGD answer a client must refuse.
//!
//! # Limits
//! Leases are recorded and reported (counting down) but never expire; a fixture holds at
//! most [`MAX_MAPPINGS`] mappings. Requests are read with bounds (16 KiB of head, 64 KiB of
//! body, 5 s).

mod broadcom;
mod cisco;
mod ddwrt;
mod dlink;
mod documents;
mod dual_wan;
mod engine;
mod fritzbox;
mod hostile;
mod http;
mod igd;
mod linksys;
mod list_only;
mod livebox;
mod miniupnpd1;
mod nft;
mod pupnp;
mod ssdp;
mod unusable;

use std::net::Ipv4Addr;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use hostile::{ROGUE_EXTERNAL_ADDRESS, RogueIgd, SsdpFlood};
pub use pupnp::SecondRoot;
pub use unusable::Unusable;

use self::engine::Engine;
use crate::error::{LabError, Result, io_err};
use crate::{Host, Lab, LabConfig, ROUTER_LAN_ADDRESS};

/// The most mappings one fixture holds (then `AddPortMapping` answers 728).
pub const MAX_MAPPINGS: usize = 256;

/// How a fixture router behaves: data and switches for the shared engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// A short name for test and log output (`dlink-dir890l`).
    pub name: &'static str,
    /// The `SERVER` header of its SSDP and HTTP answers.
    pub server: &'static str,
    /// The root device's `friendlyName`.
    pub friendly_name: &'static str,
    /// The root device's UUID (without `uuid:`).
    pub uuid: &'static str,
    /// SSDP behaviour.
    pub ssdp: SsdpBehaviour,
    /// HTTP and document behaviour.
    pub http: HttpBehaviour,
    /// The device tree of the description.
    pub device: DeviceTree,
    /// SOAP control behaviour.
    pub soap: SoapBehaviour,
    /// The external address it reports instead of the lab's, as a router behind another
    /// NAT does: `10.0.0.2` (double NAT) or `100.64.1.2` (carrier-grade NAT). Its mappings
    /// still forward from the lab's WAN side. Default: `None`.
    pub reports_external_address: Option<Ipv4Addr>,
    /// A second root device the same stack serves and announces beside the main one (a
    /// pupnp stack registering an IGD:1 and an IGD:2 root). Default: `None`.
    pub second_root: Option<SecondRoot>,
    /// What makes the gateway's own answer unusable (the hostile gateways of
    /// `unusable.rs`). Default: `None`.
    pub unusable: Option<Unusable>,
}

/// Which M-SEARCH targets a fixture answers, how and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsdpBehaviour {
    /// Which search targets it answers.
    pub answers: Answers,
    /// Answers a device or service search with `ST: uuid:...` instead of the target.
    pub uuid_st: bool,
    /// The source ports its answers come from (each answer is sent once from each).
    pub source_ports: Vec<u16>,
    /// How its header names are written.
    pub header_case: HeaderCase,
    /// How long it waits before answering.
    pub delay: Duration,
}

/// Which search targets a fixture answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answers {
    /// Every target it has (root device, its UUID, device and service types, `ssdp:all`),
    /// version 1 searches included for version 2 types.
    Every,
    /// Only `upnp:rootdevice` (and `ssdp:all`, answered as the root device).
    RootDeviceOnly,
}

/// How header names are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderCase {
    /// `LOCATION`, `CONTENT-TYPE` (miniupnpd and most stacks).
    Upper,
    /// `Location`, `Content-Type`.
    Title,
    /// `LoCaTiOn`: neither, as in hand-rolled stacks.
    Mixed,
}

/// The HTTP server's and the documents' quirks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpBehaviour {
    /// The TCP port of the description and control URLs.
    pub port: u16,
    /// The path of the description (the LOCATION's path).
    pub description_path: &'static str,
    /// Writes `<URLBase>http://address:port</URLBase>` into the description.
    pub url_base: bool,
    /// Answers with `HTTP/1.0` and no `Content-Length` (the body ends when the connection
    /// closes).
    pub http10_without_length: bool,
    /// How response header names are written.
    pub header_case: HeaderCase,
    /// Documents use CRLF line ends and end in a stray `\r`.
    pub crlf_stray_cr: bool,
    /// SCPDs carry a comment between the XML declaration and `<scpd>`.
    pub comment_before_scpd: bool,
}

/// The description's device tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTree {
    /// The version of `InternetGatewayDevice` and `WANDevice` (1 or 2).
    pub igd_version: u8,
    /// The root device lists `Layer3Forwarding:1` (LiveBox-like routers list no service at
    /// the root).
    pub root_services: bool,
    /// The WAN connection devices, one service each, in description order.
    pub connections: Vec<Connection>,
}

/// One WAN connection device and its connection service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Its `deviceType`.
    pub device_type: &'static str,
    /// Its service's `serviceType`.
    pub service_type: &'static str,
    /// Its service's `SCPDURL` (as written).
    pub scpd_path: &'static str,
    /// Its service's `controlURL` (as written, maybe with a query string).
    pub control_path: &'static str,
    /// Whether the connection is up (`Connected`, a public address) or down
    /// (`Disconnected`, `0.0.0.0`, mapping refused with 501).
    pub connected: bool,
    /// Every action answers 606 (a TR-064 service that wants authentication).
    pub needs_authentication: bool,
}

/// SOAP control quirks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapBehaviour {
    /// The namespace prefix of the response element (`u`, `m`).
    pub prefix: &'static str,
    /// Offers `GetGenericPortMappingEntry` (else it is not in the SCPD and answers 401).
    pub generic_listing: bool,
    /// The error code past the end of the generic listing (713; some answer 402).
    pub end_of_listing: u16,
    /// Ignores `NewLeaseDuration`: every mapping is reported permanent (lease 0).
    pub ignores_lease: bool,
    /// Takes a POST as SOAP only with the header name written `SOAPAction` or
    /// `SOAPACTION`; otherwise answers `501 Not Implemented` with an HTML page.
    pub soapaction_case_sensitive: bool,
}

impl Profile {
    /// D-Link DIR-890L-like: see `dlink.rs`.
    pub fn dlink_dir890l() -> Profile {
        dlink::profile()
    }

    /// Broadcom-stack router: see `broadcom.rs`.
    pub fn broadcom() -> Profile {
        broadcom::profile()
    }

    /// Cisco cable-modem-like: see `cisco.rs`.
    pub fn cisco_cable_modem() -> Profile {
        cisco::profile()
    }

    /// DD-WRT-like: see `ddwrt.rs`.
    pub fn ddwrt() -> Profile {
        ddwrt::profile()
    }

    /// An old miniupnpd 1.x: see `miniupnpd1.rs`.
    pub fn miniupnpd1() -> Profile {
        miniupnpd1::profile()
    }

    /// The router of the hostile-host tests: miniupnpd 1.x-like, answering searches only
    /// after 300 ms (within a typical MX of 1-2 s), so a rogue's or a flood's answers come
    /// first.
    pub fn slow_to_answer() -> Profile {
        let mut profile = miniupnpd1::profile();
        profile.ssdp.delay = Duration::from_millis(300);
        profile
    }

    /// LiveBox-like (IGD:2, `WANPPPConnection:2`): see `livebox.rs`.
    pub fn livebox() -> Profile {
        livebox::profile()
    }

    /// Both WANIP and WANPPP connections, only the PPP one up: see `dual_wan.rs`.
    pub fn dual_wan() -> Profile {
        dual_wan::profile()
    }

    /// FRITZ!Box-like, dslforum services beside the IGD ones: see `fritzbox.rs`.
    pub fn fritzbox() -> Profile {
        fritzbox::profile()
    }

    /// Lists mappings only through `GetListOfPortMappings`: see `list_only.rs`.
    pub fn list_only() -> Profile {
        list_only::profile()
    }

    /// Linksys WRT120N-like, `SOAPAction` matched case-sensitively: see `linksys.rs`.
    pub fn linksys_wrt120n() -> Profile {
        linksys::profile()
    }

    /// A pupnp (libupnp) stack announcing an IGD:2 and an IGD:1 root, both answering each
    /// search in random order: see `pupnp.rs`.
    pub fn pupnp_two_roots() -> Profile {
        pupnp::profile()
    }

    /// A gateway whose own IGD answer is unusable for `reason`: see `unusable.rs`.
    pub fn unusable(reason: Unusable) -> Profile {
        unusable::profile(reason)
    }

    /// Every vendor profile of the zoo.
    pub fn all() -> Vec<Profile> {
        vec![
            Profile::dlink_dir890l(),
            Profile::broadcom(),
            Profile::cisco_cable_modem(),
            Profile::ddwrt(),
            Profile::miniupnpd1(),
            Profile::livebox(),
            Profile::dual_wan(),
            Profile::fritzbox(),
            Profile::list_only(),
            Profile::linksys_wrt120n(),
        ]
    }

    /// The connection a well-behaved client should pick: the first connected one that
    /// needs no authentication.
    pub fn usable_connection(&self) -> Option<&Connection> {
        self.device
            .connections
            .iter()
            .find(|c| c.connected && !c.needs_authentication)
    }
}

/// A fixture router (or rogue IGD) running on a lab host until dropped.
#[derive(Debug)]
pub struct FixtureRouter {
    profile: Profile,
    address: Ipv4Addr,
    log: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<Result<()>>>>,
}

/// Where a fixture runs and what it may change.
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    /// The host it runs on.
    pub(crate) host: Host,
    /// The address it serves on and joins the SSDP group with.
    pub(crate) address: Ipv4Addr,
    /// The address `GetExternalIPAddress` reports.
    pub(crate) external: Ipv4Addr,
    /// Whether mappings become nftables rules (only on the router).
    pub(crate) forwards: bool,
}

impl FixtureRouter {
    /// Starts `profile` on the lab's router (serving on 192.168.77.1, mapping with nftables
    /// rules in the router namespace). Run it on a lab started without miniupnpd's UPnP.
    ///
    /// # Errors
    /// [`LabError::Io`] when a socket cannot be opened in the router namespace.
    pub fn start(lab: &Lab, profile: Profile) -> Result<FixtureRouter> {
        FixtureRouter::start_at(
            Placement {
                host: lab.router().clone(),
                address: ROUTER_LAN_ADDRESS,
                external: lab.external_address(),
                forwards: true,
            },
            profile,
        )
    }

    pub(crate) fn start_at(placement: Placement, profile: Profile) -> Result<FixtureRouter> {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (ready, is_ready) = std::sync::mpsc::channel();
        let address = placement.address;
        let thread = {
            let profile = profile.clone();
            let log = log.clone();
            let host = placement.host.clone();
            let netns = host.netns.clone();
            host.spawn(move || -> Result<()> {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(io_err(format!("cannot build a tokio runtime in {netns}")))?;
                runtime.block_on(run(placement, profile, log, ready, stopped))
            })
        };
        match is_ready.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(FixtureRouter {
                profile,
                address,
                log,
                stop: Some(stop),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                drop(stop);
                match thread.join() {
                    Ok(Ok(Err(e)) | Err(e)) => Err(e),
                    _ => Err(LabError::Invalid(format!(
                        "the {} fixture did not start within 10 s",
                        profile.name
                    ))),
                }
            }
        }
    }

    /// The profile it runs.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The address it serves on.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The LOCATION of its description.
    pub fn location(&self) -> String {
        format!(
            "http://{}:{}{}",
            self.address, self.profile.http.port, self.profile.http.description_path
        )
    }

    /// What it has served so far, one line per SSDP search or HTTP request (for failure
    /// messages).
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

impl Drop for FixtureRouter {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a zoo lab holds besides the fixture router.
#[derive(Debug, Clone, Default)]
pub struct ZooOptions {
    /// Extra LAN hosts beyond the client at 192.168.77.10 (and the hostile hosts).
    pub extra_lan_hosts: usize,
    /// A rogue IGD on its own LAN host, answering faster than the router.
    pub rogue: bool,
    /// A LAN host answering each M-SEARCH with this many fake responses.
    pub flood: Option<usize>,
}

/// A lab whose router runs a fixture profile instead of miniupnpd's UPnP (no miniupnpd at
/// all), with optional hostile LAN hosts. It derefs to the [`Lab`]; the client host is
/// [`Lab::lan`] (192.168.77.10). Fields drop in order: hostiles and fixture first, then the
/// lab and its namespaces.
#[derive(Debug)]
pub struct ZooLab {
    flood: Option<SsdpFlood>,
    rogue: Option<RogueIgd>,
    fixture: FixtureRouter,
    lab: Lab,
}

impl ZooLab {
    /// Starts a lab with `profile` on the router and one LAN host, or skips as
    /// [`Lab::for_test`] does (`None`). Panics when the lab or the fixture cannot start
    /// although the prerequisites are met.
    pub fn for_test(profile: Profile) -> Option<ZooLab> {
        ZooLab::for_test_with(profile, ZooOptions::default(), &[])
    }

    /// Like [`ZooLab::for_test`] with hostile hosts or more LAN hosts, also requiring the
    /// named programs.
    pub fn for_test_with(
        profile: Profile,
        options: ZooOptions,
        tools: &[&'static str],
    ) -> Option<ZooLab> {
        let lan_hosts = 1
            + options.extra_lan_hosts
            + usize::from(options.rogue)
            + usize::from(options.flood.is_some());
        let lab = Lab::for_test_with_tools(
            LabConfig {
                natpmp: false,
                upnp: false,
                lan_hosts,
                ..LabConfig::default()
            },
            tools,
        )?;
        match ZooLab::start(lab, profile, &options) {
            Ok(zoo) => Some(zoo),
            Err(e) => panic!("the zoo fixture did not start: {e}"),
        }
    }

    /// Starts the fixture (and hostile hosts) on a lab built without miniupnpd
    /// (`natpmp` and `upnp` off). The rogue IGD takes the last LAN host, the flood the
    /// one before it (or the last when there is no rogue).
    ///
    /// # Errors
    /// [`LabError::Invalid`] when the lab runs miniupnpd or lacks LAN hosts; those of
    /// [`FixtureRouter::start`].
    pub fn start(lab: Lab, profile: Profile, options: &ZooOptions) -> Result<ZooLab> {
        if lab.config().upnp {
            return Err(LabError::Invalid(
                "a zoo lab needs miniupnpd's UPnP off (LabConfig::upnp = false)".into(),
            ));
        }
        let hosts = lab.lan_hosts().len();
        let needed = 1 + usize::from(options.rogue) + usize::from(options.flood.is_some());
        if hosts < needed {
            return Err(LabError::Invalid(format!(
                "a zoo lab with these hostile hosts needs {needed} LAN hosts, not {hosts}"
            )));
        }
        let fixture = FixtureRouter::start(&lab, profile)?;
        let rogue = if options.rogue {
            Some(RogueIgd::start(&lab.lan_hosts()[hosts - 1])?)
        } else {
            None
        };
        let flood = match options.flood {
            Some(count) => {
                let index = hosts - 1 - usize::from(options.rogue);
                Some(SsdpFlood::start(&lab.lan_hosts()[index], count)?)
            }
            None => None,
        };
        Ok(ZooLab {
            flood,
            rogue,
            fixture,
            lab,
        })
    }

    /// The lab.
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The fixture router.
    pub fn fixture(&self) -> &FixtureRouter {
        &self.fixture
    }

    /// The rogue IGD, if started.
    pub fn rogue(&self) -> Option<&RogueIgd> {
        self.rogue.as_ref()
    }

    /// The SSDP flood, if started.
    pub fn flood(&self) -> Option<&SsdpFlood> {
        self.flood.as_ref()
    }

    /// The fixture's log, then the rogue's, for failure messages.
    pub fn log(&self) -> String {
        let mut text = format!(
            "{} fixture:\n{}",
            self.fixture.profile.name,
            self.fixture.log()
        );
        if let Some(rogue) = &self.rogue {
            text.push_str("\nrogue IGD:\n");
            text.push_str(&rogue.log());
        }
        text
    }
}

impl Deref for ZooLab {
    type Target = Lab;

    fn deref(&self) -> &Lab {
        &self.lab
    }
}

/// The miniupnpd-like starting point the vendor profiles change: IGD:1, one
/// `WANIPConnection:1`, every target answered from port 1900 after 20 ms, HTTP/1.1 on port
/// 5000, upper-case headers, `u:` SOAP, the generic listing ending in 713.
pub(crate) fn base(
    name: &'static str,
    server: &'static str,
    friendly_name: &'static str,
    uuid: &'static str,
) -> Profile {
    Profile {
        name,
        server,
        friendly_name,
        uuid,
        reports_external_address: None,
        second_root: None,
        unusable: None,
        ssdp: SsdpBehaviour {
            answers: Answers::Every,
            uuid_st: false,
            source_ports: vec![1900],
            header_case: HeaderCase::Upper,
            delay: Duration::from_millis(20),
        },
        http: HttpBehaviour {
            port: 5000,
            description_path: "/rootDesc.xml",
            url_base: false,
            http10_without_length: false,
            header_case: HeaderCase::Upper,
            crlf_stray_cr: false,
            comment_before_scpd: false,
        },
        device: DeviceTree {
            igd_version: 1,
            root_services: true,
            connections: vec![connection(
                "urn:schemas-upnp-org:device:WANConnectionDevice:1",
                "urn:schemas-upnp-org:service:WANIPConnection:1",
                "/WANIPCn.xml",
                "/ctl/IPConn",
            )],
        },
        soap: SoapBehaviour {
            prefix: "u",
            generic_listing: true,
            end_of_listing: 713,
            ignores_lease: false,
            soapaction_case_sensitive: false,
        },
    }
}

/// A connected connection that needs no authentication.
pub(crate) fn connection(
    device_type: &'static str,
    service_type: &'static str,
    scpd_path: &'static str,
    control_path: &'static str,
) -> Connection {
    Connection {
        device_type,
        service_type,
        scpd_path,
        control_path,
        connected: true,
        needs_authentication: false,
    }
}

/// Runs a fixture until `stopped` fires: binds its sockets, reports on `ready`, serves.
async fn run(
    placement: Placement,
    profile: Profile,
    log: Arc<Mutex<Vec<String>>>,
    ready: std::sync::mpsc::Sender<Result<()>>,
    stopped: tokio::sync::oneshot::Receiver<()>,
) -> Result<()> {
    let engine = Arc::new(Engine::new(profile, placement, log));
    let started = async {
        let listener =
            tokio::net::TcpListener::bind((engine.placement.address, engine.profile.http.port))
                .await
                .map_err(io_err(format!(
                    "cannot listen on TCP {}:{}",
                    engine.placement.address, engine.profile.http.port
                )))?;
        let ssdp = ssdp::Responder::bind(engine.clone()).await?;
        Ok::<_, LabError>((listener, ssdp))
    }
    .await;
    let (listener, ssdp) = match started {
        Ok(sockets) => {
            let _ = ready.send(Ok(()));
            sockets
        }
        Err(e) => {
            let _ = ready.send(Err(LabError::Invalid(e.to_string())));
            return Err(e);
        }
    };
    let http = tokio::spawn(http::serve_http(listener, engine.clone()));
    let search = tokio::spawn(ssdp.serve());
    let _ = stopped.await;
    http.abort();
    search.abort();
    if engine.placement.forwards {
        let _ = engine.apply_rules(&engine::Table::new()).await;
    }
    Ok(())
}
