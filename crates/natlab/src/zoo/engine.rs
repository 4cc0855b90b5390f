//! The engine every fixture shares: the HTTP/1.x server (description, SCPDs, SOAP control),
//! the mapping table, and the nftables rules that make mappings real.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Connection, HeaderCase, MAX_MAPPINGS, Placement, Profile};
use crate::error::{LabError, Result, io_err};

/// The longest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// The longest request body read.
const MAX_BODY: usize = 64 * 1024;
/// How long one connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What a web server that matches `SOAPAction` case-sensitively answers without it: the
/// POST falls through to the static pages.
const NOT_IMPLEMENTED_PAGE: &str = "HTTP/1.0 501 Not Implemented\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<HTML><HEAD><TITLE>501 Not Implemented</TITLE></HEAD><BODY>POST to a non-script</BODY></HTML>\r\n";

/// Paths of the services every profile has beside its connections.
const L3F_SCPD: &str = "/zoo/l3f.xml";
const L3F_CONTROL: &str = "/zoo/ctl/l3f";
const CIF_SCPD: &str = "/zoo/wancfg.xml";
const CIF_CONTROL: &str = "/zoo/ctl/wancfg";

/// Runs a fixture until `stopped` fires: binds its sockets, reports on `ready`, serves.
pub(super) async fn run(
    placement: Placement,
    profile: Profile,
    log: Arc<Mutex<Vec<String>>>,
    ready: std::sync::mpsc::Sender<Result<()>>,
    stopped: tokio::sync::oneshot::Receiver<()>,
) -> Result<()> {
    let engine = Arc::new(Engine {
        profile,
        placement,
        log,
        mappings: Mutex::new(BTreeMap::new()),
    });
    let started = async {
        let listener = TcpListener::bind((engine.placement.address, engine.profile.http.port))
            .await
            .map_err(io_err(format!(
                "cannot listen on TCP {}:{}",
                engine.placement.address, engine.profile.http.port
            )))?;
        let ssdp = super::ssdp::Responder::bind(engine.clone()).await?;
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
    let http = tokio::spawn(serve_http(listener, engine.clone()));
    let search = tokio::spawn(ssdp.serve());
    let _ = stopped.await;
    http.abort();
    search.abort();
    if engine.placement.forwards {
        let _ = engine.apply_rules(&BTreeMap::new()).await;
    }
    Ok(())
}

async fn serve_http(listener: TcpListener, engine: Arc<Engine>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(handle(stream, peer, engine.clone()));
            }
            Err(e) => {
                tracing::debug!(error = %e, "fixture accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream, peer: SocketAddr, engine: Arc<Engine>) {
    let request = match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream)).await {
        Ok(Some(request)) => request,
        _ => return,
    };
    let response = engine.respond(&request, peer).await;
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

/// One HTTP request, as far as a fixture cares.
#[derive(Debug)]
pub(super) struct Request {
    method: String,
    target: String,
    /// Header names lowercased.
    headers: Vec<(String, String)>,
    /// Header names as sent.
    raw_names: Vec<String>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request with bounded head and body; `None` for anything malformed.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = find(&buffer, b"\r\n\r\n") {
            break at;
        }
        if buffer.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split_whitespace();
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let fields: Vec<(&str, &str)> = lines.filter_map(|line| line.split_once(':')).collect();
    let raw_names = fields.iter().map(|(n, _)| n.trim().to_owned()).collect();
    let headers: Vec<(String, String)> = fields
        .iter()
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if length > MAX_BODY {
        return None;
    }
    let mut body = buffer.split_off(head_end + 4);
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some(Request {
        method,
        target,
        headers,
        raw_names,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A transport protocol of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    fn parse(text: &str) -> Option<Proto> {
        match text.trim().to_ascii_uppercase().as_str() {
            "TCP" => Some(Proto::Tcp),
            "UDP" => Some(Proto::Udp),
            _ => None,
        }
    }

    fn upper(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        }
    }

    fn nft(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One mapping the fixture holds.
#[derive(Debug, Clone)]
struct Entry {
    internal_client: Ipv4Addr,
    internal_port: u16,
    description: String,
    lease: u32,
    added: Instant,
}

impl Entry {
    fn remaining(&self, ignores_lease: bool) -> u32 {
        if ignores_lease || self.lease == 0 {
            return 0;
        }
        let elapsed = u32::try_from(self.added.elapsed().as_secs()).unwrap_or(u32::MAX);
        self.lease.saturating_sub(elapsed).max(1)
    }
}

type Table = BTreeMap<(Proto, u16), Entry>;

/// A SOAP fault: UPnP error code and description.
struct Fault(u16, &'static str);

const INVALID_ACTION: Fault = Fault(401, "Invalid Action");
const INVALID_ARGS: Fault = Fault(402, "Invalid Args");
const ACTION_FAILED: Fault = Fault(501, "Action Failed");
const NOT_AUTHORIZED: Fault = Fault(606, "Action not authorized");
const NO_SUCH_ENTRY: Fault = Fault(714, "NoSuchEntryInArray");
const WILDCARD_PORT: Fault = Fault(716, "WildCardNotPermittedInExtPort");
const CONFLICT: Fault = Fault(718, "ConflictInMappingEntry");
const NO_PORT_MAPS: Fault = Fault(728, "NoPortMapsAvailable");
const NOT_FOUND: Fault = Fault(730, "PortMappingNotFound");

/// The shared state of one running fixture.
#[derive(Debug)]
pub(super) struct Engine {
    pub(super) profile: Profile,
    pub(super) placement: Placement,
    pub(super) log: Arc<Mutex<Vec<String>>>,
    mappings: Mutex<Table>,
}

impl Engine {
    pub(super) fn note(&self, line: String) {
        tracing::debug!(fixture = self.profile.name, "{line}");
        if let Ok(mut log) = self.log.lock() {
            if log.len() < 2000 {
                log.push(line);
            }
        }
    }

    /// The LOCATION of the description.
    pub(super) fn location(&self) -> String {
        format!(
            "http://{}:{}{}",
            self.placement.address, self.profile.http.port, self.profile.http.description_path
        )
    }

    async fn respond(&self, request: &Request, peer: SocketAddr) -> Vec<u8> {
        let http = &self.profile.http;
        let target = request.target.as_str();
        if request.method == "GET" {
            self.note(format!("GET {target} from {peer}"));
            if target == http.description_path {
                return self.document(200, &self.description());
            }
            if target == L3F_SCPD || target == CIF_SCPD {
                return self.document(200, &self.scpd(&[]));
            }
            if let Some(connection) = self
                .profile
                .device
                .connections
                .iter()
                .find(|c| c.scpd_path == target)
            {
                return self.document(200, &self.scpd(&self.actions(connection)));
            }
            return self.document(404, "");
        }
        if request.method != "POST" {
            return self.document(405, "");
        }
        let action = soap_action(request);
        self.note(format!("POST {target} {action} from {peer}"));
        if self.profile.soap.soapaction_case_sensitive
            && !request
                .raw_names
                .iter()
                .any(|n| n == "SOAPAction" || n == "SOAPACTION")
        {
            self.note("  -> 501: no SOAPAction header in the case it matches".to_owned());
            return NOT_IMPLEMENTED_PAGE.as_bytes().to_vec();
        }
        let Some(connection) = self
            .profile
            .device
            .connections
            .iter()
            .find(|c| c.control_path == target)
        else {
            let service = match target {
                L3F_CONTROL | CIF_CONTROL => "urn:schemas-upnp-org:service:Layer3Forwarding:1",
                _ => return self.document(404, ""),
            };
            return self.fault(service, &INVALID_ACTION);
        };
        let client = match peer.ip() {
            IpAddr::V4(client) => client,
            IpAddr::V6(_) => return self.fault(connection.service_type, &INVALID_ARGS),
        };
        match self
            .control(connection, &action, &request.body, client)
            .await
        {
            Ok(out) => self.soap_success(connection.service_type, &action, &out),
            Err(fault) => self.fault(connection.service_type, &fault),
        }
    }

    /// The actions of a connection service, as its SCPD lists them.
    fn actions(&self, connection: &Connection) -> Vec<&'static str> {
        let mut actions = vec![
            "GetExternalIPAddress",
            "GetStatusInfo",
            "GetConnectionTypeInfo",
            "AddPortMapping",
            "DeletePortMapping",
            "GetSpecificPortMappingEntry",
        ];
        if self.profile.soap.generic_listing {
            actions.push("GetGenericPortMappingEntry");
        }
        if connection.service_type.ends_with(":2") {
            actions.push("AddAnyPortMapping");
            actions.push("GetListOfPortMappings");
        }
        actions
    }

    async fn control(
        &self,
        connection: &Connection,
        action: &str,
        body: &str,
        client: Ipv4Addr,
    ) -> std::result::Result<Vec<(&'static str, String)>, Fault> {
        if connection.needs_authentication {
            return Err(NOT_AUTHORIZED);
        }
        if !self.actions(connection).contains(&action) {
            return Err(INVALID_ACTION);
        }
        let arg = |name: &str| argument(body, name);
        let port = |name: &str| {
            arg(name)
                .and_then(|p| p.trim().parse::<u16>().ok())
                .ok_or(INVALID_ARGS)
        };
        let proto = || {
            arg("NewProtocol")
                .and_then(|p| Proto::parse(&p))
                .ok_or(INVALID_ARGS)
        };
        let ignores_lease = self.profile.soap.ignores_lease;
        match action {
            "GetExternalIPAddress" => {
                let address = if connection.connected {
                    self.profile
                        .reports_external_address
                        .unwrap_or(self.placement.external)
                        .to_string()
                } else {
                    "0.0.0.0".to_owned()
                };
                Ok(vec![("NewExternalIPAddress", address)])
            }
            "GetStatusInfo" => Ok(vec![
                (
                    "NewConnectionStatus",
                    if connection.connected {
                        "Connected"
                    } else {
                        "Disconnected"
                    }
                    .to_owned(),
                ),
                ("NewLastConnectionError", "ERROR_NONE".to_owned()),
                (
                    "NewUptime",
                    if connection.connected { "3600" } else { "0" }.to_owned(),
                ),
            ]),
            "GetConnectionTypeInfo" => Ok(vec![
                ("NewConnectionType", "IP_Routed".to_owned()),
                ("NewPossibleConnectionTypes", "IP_Routed".to_owned()),
            ]),
            "AddPortMapping" | "AddAnyPortMapping" => {
                if !connection.connected {
                    return Err(ACTION_FAILED);
                }
                let external = port("NewExternalPort")?;
                let internal = port("NewInternalPort")?;
                let protocol = proto()?;
                let internal_client: Ipv4Addr = arg("NewInternalClient")
                    .and_then(|c| c.trim().parse().ok())
                    .ok_or(INVALID_ARGS)?;
                let lease: u32 = arg("NewLeaseDuration")
                    .and_then(|l| l.trim().parse().ok())
                    .unwrap_or(0);
                if internal == 0 {
                    return Err(INVALID_ARGS);
                }
                if internal_client != client {
                    return Err(NOT_AUTHORIZED);
                }
                let any = action == "AddAnyPortMapping";
                if external == 0 && !any {
                    return Err(WILDCARD_PORT);
                }
                let entry = Entry {
                    internal_client,
                    internal_port: internal,
                    description: arg("NewPortMappingDescription").unwrap_or_default(),
                    lease: if ignores_lease { 0 } else { lease },
                    added: Instant::now(),
                };
                let (granted, snapshot) = {
                    let mut table = self.table();
                    let free = |table: &Table, port: u16| {
                        port != 0
                            && table
                                .get(&(protocol, port))
                                .is_none_or(|e| e.internal_client == client)
                    };
                    let granted = if free(&table, external) {
                        external
                    } else if any {
                        (external.max(1024)..=u16::MAX)
                            .chain(1024..external.max(1024))
                            .find(|p| free(&table, *p))
                            .ok_or(NO_PORT_MAPS)?
                    } else {
                        return Err(CONFLICT);
                    };
                    if !table.contains_key(&(protocol, granted)) && table.len() >= MAX_MAPPINGS {
                        return Err(NO_PORT_MAPS);
                    }
                    table.insert((protocol, granted), entry);
                    (granted, table.clone())
                };
                self.commit(snapshot).await?;
                Ok(if any {
                    vec![("NewReservedPort", granted.to_string())]
                } else {
                    Vec::new()
                })
            }
            "DeletePortMapping" => {
                let key = (proto()?, port("NewExternalPort")?);
                let snapshot = {
                    let mut table = self.table();
                    match table.get(&key) {
                        None => return Err(NO_SUCH_ENTRY),
                        Some(entry) if entry.internal_client != client => {
                            return Err(NOT_AUTHORIZED);
                        }
                        Some(_) => {}
                    }
                    table.remove(&key);
                    table.clone()
                };
                self.commit(snapshot).await?;
                Ok(Vec::new())
            }
            "GetSpecificPortMappingEntry" => {
                let key = (proto()?, port("NewExternalPort")?);
                let table = self.table();
                let entry = table.get(&key).ok_or(NO_SUCH_ENTRY)?;
                Ok(vec![
                    ("NewInternalPort", entry.internal_port.to_string()),
                    ("NewInternalClient", entry.internal_client.to_string()),
                    ("NewEnabled", "1".to_owned()),
                    ("NewPortMappingDescription", entry.description.clone()),
                    (
                        "NewLeaseDuration",
                        entry.remaining(ignores_lease).to_string(),
                    ),
                ])
            }
            "GetGenericPortMappingEntry" => {
                let index: usize = arg("NewPortMappingIndex")
                    .and_then(|i| i.trim().parse().ok())
                    .ok_or(INVALID_ARGS)?;
                let table = self.table();
                let Some(((protocol, external), entry)) = table.iter().nth(index) else {
                    return Err(match self.profile.soap.end_of_listing {
                        402 => INVALID_ARGS,
                        _ => Fault(713, "SpecifiedArrayIndexInvalid"),
                    });
                };
                Ok(vec![
                    ("NewRemoteHost", String::new()),
                    ("NewExternalPort", external.to_string()),
                    ("NewProtocol", protocol.upper().to_owned()),
                    ("NewInternalPort", entry.internal_port.to_string()),
                    ("NewInternalClient", entry.internal_client.to_string()),
                    ("NewEnabled", "1".to_owned()),
                    ("NewPortMappingDescription", entry.description.clone()),
                    (
                        "NewLeaseDuration",
                        entry.remaining(ignores_lease).to_string(),
                    ),
                ])
            }
            "GetListOfPortMappings" => {
                let start = port("NewStartPort")?;
                let end = port("NewEndPort")?;
                let protocol = proto()?;
                let most: usize = arg("NewNumberOfPorts")
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or(0);
                let table = self.table();
                let mut listing = String::from(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<p:PortMappingList xmlns:p=\"urn:schemas-upnp-org:gw:WANIPConnection\">\n",
                );
                let mut count = 0;
                for ((p, external), entry) in table.iter() {
                    if *p != protocol || !(start..=end).contains(external) {
                        continue;
                    }
                    if most != 0 && count == most {
                        break;
                    }
                    count += 1;
                    let _ = writeln!(
                        listing,
                        "<p:PortMappingEntry><p:NewRemoteHost></p:NewRemoteHost>\
                         <p:NewExternalPort>{external}</p:NewExternalPort>\
                         <p:NewProtocol>{}</p:NewProtocol>\
                         <p:NewInternalPort>{}</p:NewInternalPort>\
                         <p:NewInternalClient>{}</p:NewInternalClient>\
                         <p:NewEnabled>1</p:NewEnabled>\
                         <p:NewDescription>{}</p:NewDescription>\
                         <p:NewLeaseTime>{}</p:NewLeaseTime></p:PortMappingEntry>",
                        p.upper(),
                        entry.internal_port,
                        entry.internal_client,
                        escape(&entry.description),
                        entry.remaining(ignores_lease),
                    );
                }
                if count == 0 {
                    return Err(NOT_FOUND);
                }
                listing.push_str("</p:PortMappingList>");
                Ok(vec![("NewPortListing", listing)])
            }
            _ => Err(INVALID_ACTION),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.mappings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the router's rules match `table`.
    async fn commit(&self, table: Table) -> std::result::Result<(), Fault> {
        if !self.placement.forwards {
            return Ok(());
        }
        self.apply_rules(&table).await.map_err(|e| {
            tracing::warn!(error = %e, "fixture could not write its nftables rules");
            ACTION_FAILED
        })
    }

    /// Rewrites the miniupnpd chains of the router's ruleset from `table` in one `nft -f`.
    async fn apply_rules(&self, table: &Table) -> Result<()> {
        let mut script = String::from(
            "flush chain inet filter prerouting_miniupnpd\nflush chain inet filter miniupnpd\n",
        );
        for ((protocol, external), entry) in table {
            let wan = crate::router::WAN_INTERFACE;
            let _ = writeln!(
                script,
                "add rule inet filter prerouting_miniupnpd iifname \"{wan}\" {p} dport {external} dnat ip to {client}:{port}\n\
                 add rule inet filter miniupnpd iifname \"{wan}\" ip daddr {client} {p} dport {port} accept",
                p = protocol.nft(),
                client = entry.internal_client,
                port = entry.internal_port,
            );
        }
        let host = self.placement.host.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut child = host
                .command("nft")
                .args(["-f", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(io_err("cannot run nft"))?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin
                    .write_all(script.as_bytes())
                    .map_err(io_err("cannot write to nft"))?;
            }
            let output = child
                .wait_with_output()
                .map_err(io_err("cannot wait for nft"))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(LabError::Command {
                    command: format!("nft -f - <<{script}"),
                    detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                })
            }
        })
        .await
        .map_err(|e| LabError::Invalid(format!("the nft task failed: {e}")))?
    }

    fn header(&self, case: HeaderCase, name: &str) -> String {
        recase(case, name)
    }

    /// A full HTTP response carrying `body` (XML), with the profile's quirks.
    fn document(&self, status: u16, body: &str) -> Vec<u8> {
        let http = &self.profile.http;
        let body = if http.crlf_stray_cr && !body.is_empty() {
            let mut text = body.replace("\r\n", "\n").replace('\n', "\r\n");
            text.push('\r');
            text
        } else {
            body.to_owned()
        };
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Internal Server Error",
        };
        let h = |name: &str| self.header(http.header_case, name);
        let mut head = if http.http10_without_length {
            format!("HTTP/1.0 {status} {reason}\r\n")
        } else {
            format!(
                "HTTP/1.1 {status} {reason}\r\n{}: {}\r\n",
                h("Content-Length"),
                body.len()
            )
        };
        let _ = write!(
            head,
            "{}: text/xml; charset=\"utf-8\"\r\n{}: {}\r\n{}: close\r\n\r\n",
            h("Content-Type"),
            h("Server"),
            self.profile.server,
            h("Connection"),
        );
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        bytes
    }

    fn soap_success(&self, service: &str, action: &str, out: &[(&str, String)]) -> Vec<u8> {
        let p = self.profile.soap.prefix;
        let mut arguments = String::new();
        for (name, value) in out {
            let _ = write!(arguments, "<{name}>{}</{name}>", escape(value));
        }
        self.document(
            200,
            &format!(
                "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">\n<s:Body>\n<{p}:{action}Response xmlns:{p}=\"{service}\">{arguments}</{p}:{action}Response>\n</s:Body>\n</s:Envelope>\n"
            ),
        )
    }

    fn fault(&self, _service: &str, fault: &Fault) -> Vec<u8> {
        let Fault(code, description) = fault;
        self.note(format!("  -> fault {code} {description}"));
        self.document(
            500,
            &format!(
                "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">\n<s:Body>\n<s:Fault>\n<faultcode>s:Client</faultcode>\n<faultstring>UPnPError</faultstring>\n<detail>\n<UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\">\n<errorCode>{code}</errorCode>\n<errorDescription>{description}</errorDescription>\n</UPnPError>\n</detail>\n</s:Fault>\n</s:Body>\n</s:Envelope>\n"
            ),
        )
    }

    /// The root description.
    fn description(&self) -> String {
        let tree = &self.profile.device;
        let v = tree.igd_version;
        let uuid = self.profile.uuid;
        let mut xml = String::from(
            "<?xml version=\"1.0\"?>\n<root xmlns=\"urn:schemas-upnp-org:device-1-0\">\n<specVersion><major>1</major><minor>0</minor></specVersion>\n",
        );
        if self.profile.http.url_base {
            let _ = writeln!(
                xml,
                "<URLBase>http://{}:{}</URLBase>",
                self.placement.address, self.profile.http.port
            );
        }
        let _ = writeln!(
            xml,
            "<device>\n<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:{v}</deviceType>\n<friendlyName>{}</friendlyName>\n<manufacturer>natlab zoo</manufacturer>\n<modelName>{}</modelName>\n<UDN>uuid:{uuid}</UDN>",
            escape(self.profile.friendly_name),
            self.profile.name,
        );
        if tree.root_services {
            xml.push_str("<serviceList>\n");
            xml.push_str(&service_xml(
                "urn:schemas-upnp-org:service:Layer3Forwarding:1",
                "urn:upnp-org:serviceId:L3Forwarding1",
                L3F_SCPD,
                L3F_CONTROL,
            ));
            xml.push_str("</serviceList>\n");
        }
        let _ = writeln!(
            xml,
            "<deviceList>\n<device>\n<deviceType>urn:schemas-upnp-org:device:WANDevice:{v}</deviceType>\n<friendlyName>WANDevice</friendlyName>\n<UDN>uuid:{uuid}-wan</UDN>\n<serviceList>\n{}</serviceList>\n<deviceList>",
            service_xml(
                "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1",
                "urn:upnp-org:serviceId:WANCommonIFC1",
                CIF_SCPD,
                CIF_CONTROL,
            )
        );
        for (index, connection) in tree.connections.iter().enumerate() {
            let kind = connection
                .service_type
                .rsplit(':')
                .nth(1)
                .unwrap_or("WANIPConnection");
            let _ = writeln!(
                xml,
                "<device>\n<deviceType>{}</deviceType>\n<friendlyName>WANConnectionDevice</friendlyName>\n<UDN>uuid:{uuid}-conn{index}</UDN>\n<serviceList>\n{}</serviceList>\n</device>",
                connection.device_type,
                service_xml(
                    connection.service_type,
                    &format!("urn:upnp-org:serviceId:{kind}{index}"),
                    connection.scpd_path,
                    connection.control_path,
                )
            );
        }
        xml.push_str("</deviceList>\n</device>\n</deviceList>\n</device>\n</root>\n");
        xml
    }

    /// An SCPD with `actions` (none for the services the fixture does not implement).
    fn scpd(&self, actions: &[&str]) -> String {
        let mut xml = String::from("<?xml version=\"1.0\"?>\n");
        if self.profile.http.comment_before_scpd {
            xml.push_str("<!-- Copyright (c) the vendor. All rights reserved. -->\n<!-- service description -->\n");
        }
        xml.push_str("<scpd xmlns=\"urn:schemas-upnp-org:service-1-0\">\n<specVersion><major>1</major><minor>0</minor></specVersion>\n<actionList>\n");
        for action in actions {
            let _ = writeln!(xml, "<action><name>{action}</name><argumentList>");
            for (name, input, variable) in arguments_of(action) {
                let _ = writeln!(
                    xml,
                    "<argument><name>{name}</name><direction>{}</direction><relatedStateVariable>{variable}</relatedStateVariable></argument>",
                    if *input { "in" } else { "out" }
                );
            }
            xml.push_str("</argumentList></action>\n");
        }
        xml.push_str("</actionList>\n<serviceStateTable>\n");
        for (name, data_type, extra) in STATE_VARIABLES {
            let _ = writeln!(
                xml,
                "<stateVariable sendEvents=\"no\"><name>{name}</name><dataType>{data_type}</dataType>{extra}</stateVariable>"
            );
        }
        xml.push_str("</serviceStateTable>\n</scpd>\n");
        xml
    }
}

fn service_xml(service_type: &str, id: &str, scpd: &str, control: &str) -> String {
    format!(
        "<service>\n<serviceType>{service_type}</serviceType>\n<serviceId>{id}</serviceId>\n<SCPDURL>{}</SCPDURL>\n<controlURL>{}</controlURL>\n<eventSubURL>/zoo/evt</eventSubURL>\n</service>\n",
        escape(scpd),
        escape(control)
    )
}

/// The state variables every connection SCPD declares.
const STATE_VARIABLES: [(&str, &str, &str); 18] = [
    ("ExternalIPAddress", "string", ""),
    ("ConnectionStatus", "string", ""),
    ("LastConnectionError", "string", ""),
    ("Uptime", "ui4", ""),
    ("ConnectionType", "string", ""),
    ("PossibleConnectionTypes", "string", ""),
    ("RemoteHost", "string", ""),
    ("ExternalPort", "ui2", ""),
    ("InternalPort", "ui2", ""),
    (
        "PortMappingProtocol",
        "string",
        "<allowedValueList><allowedValue>TCP</allowedValue><allowedValue>UDP</allowedValue></allowedValueList>",
    ),
    ("InternalClient", "string", ""),
    ("PortMappingEnabled", "boolean", ""),
    ("PortMappingDescription", "string", ""),
    (
        "PortMappingLeaseDuration",
        "ui4",
        "<allowedValueRange><minimum>0</minimum><maximum>604800</maximum></allowedValueRange>",
    ),
    ("PortMappingNumberOfEntries", "ui2", ""),
    ("A_ARG_TYPE_PortListing", "string", ""),
    ("A_ARG_TYPE_Manage", "boolean", ""),
    ("SystemUpdateID", "ui4", ""),
];

/// (argument, is input, related state variable) of each implemented action.
fn arguments_of(action: &str) -> &'static [(&'static str, bool, &'static str)] {
    const MAPPING_IN: [(&str, bool, &str); 8] = [
        ("NewRemoteHost", true, "RemoteHost"),
        ("NewExternalPort", true, "ExternalPort"),
        ("NewProtocol", true, "PortMappingProtocol"),
        ("NewInternalPort", true, "InternalPort"),
        ("NewInternalClient", true, "InternalClient"),
        ("NewEnabled", true, "PortMappingEnabled"),
        ("NewPortMappingDescription", true, "PortMappingDescription"),
        ("NewLeaseDuration", true, "PortMappingLeaseDuration"),
    ];
    match action {
        "GetExternalIPAddress" => &[("NewExternalIPAddress", false, "ExternalIPAddress")],
        "GetStatusInfo" => &[
            ("NewConnectionStatus", false, "ConnectionStatus"),
            ("NewLastConnectionError", false, "LastConnectionError"),
            ("NewUptime", false, "Uptime"),
        ],
        "GetConnectionTypeInfo" => &[
            ("NewConnectionType", false, "ConnectionType"),
            (
                "NewPossibleConnectionTypes",
                false,
                "PossibleConnectionTypes",
            ),
        ],
        "AddPortMapping" => &MAPPING_IN,
        "AddAnyPortMapping" => &[
            ("NewRemoteHost", true, "RemoteHost"),
            ("NewExternalPort", true, "ExternalPort"),
            ("NewProtocol", true, "PortMappingProtocol"),
            ("NewInternalPort", true, "InternalPort"),
            ("NewInternalClient", true, "InternalClient"),
            ("NewEnabled", true, "PortMappingEnabled"),
            ("NewPortMappingDescription", true, "PortMappingDescription"),
            ("NewLeaseDuration", true, "PortMappingLeaseDuration"),
            ("NewReservedPort", false, "ExternalPort"),
        ],
        "DeletePortMapping" => &[
            ("NewRemoteHost", true, "RemoteHost"),
            ("NewExternalPort", true, "ExternalPort"),
            ("NewProtocol", true, "PortMappingProtocol"),
        ],
        "GetSpecificPortMappingEntry" => &[
            ("NewRemoteHost", true, "RemoteHost"),
            ("NewExternalPort", true, "ExternalPort"),
            ("NewProtocol", true, "PortMappingProtocol"),
            ("NewInternalPort", false, "InternalPort"),
            ("NewInternalClient", false, "InternalClient"),
            ("NewEnabled", false, "PortMappingEnabled"),
            ("NewPortMappingDescription", false, "PortMappingDescription"),
            ("NewLeaseDuration", false, "PortMappingLeaseDuration"),
        ],
        "GetGenericPortMappingEntry" => &[
            ("NewPortMappingIndex", true, "PortMappingNumberOfEntries"),
            ("NewRemoteHost", false, "RemoteHost"),
            ("NewExternalPort", false, "ExternalPort"),
            ("NewProtocol", false, "PortMappingProtocol"),
            ("NewInternalPort", false, "InternalPort"),
            ("NewInternalClient", false, "InternalClient"),
            ("NewEnabled", false, "PortMappingEnabled"),
            ("NewPortMappingDescription", false, "PortMappingDescription"),
            ("NewLeaseDuration", false, "PortMappingLeaseDuration"),
        ],
        "GetListOfPortMappings" => &[
            ("NewStartPort", true, "ExternalPort"),
            ("NewEndPort", true, "ExternalPort"),
            ("NewProtocol", true, "PortMappingProtocol"),
            ("NewManage", true, "A_ARG_TYPE_Manage"),
            ("NewNumberOfPorts", true, "PortMappingNumberOfEntries"),
            ("NewPortListing", false, "A_ARG_TYPE_PortListing"),
        ],
        _ => &[],
    }
}

/// The action a SOAP request names: the `SOAPAction` header's part after `#`, else the
/// first element inside `Body`.
fn soap_action(request: &Request) -> String {
    if let Some(header) = request.header("soapaction") {
        if let Some((_, action)) = header.trim().trim_matches('"').rsplit_once('#') {
            return action.to_owned();
        }
    }
    let body = request.body.as_str();
    body.find("Body>")
        .and_then(|at| body.get(at + 5..))
        .and_then(|rest| rest.find('<').map(|lt| &rest[lt + 1..]))
        .map(|element| {
            let name: String = element
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
                .collect();
            name.rsplit(':').next().unwrap_or_default().to_owned()
        })
        .unwrap_or_default()
}

/// The text of the first `<name>` element of a SOAP body (unprefixed, as clients send
/// arguments), unescaped; `Some("")` for `<name/>`.
fn argument(body: &str, name: &str) -> Option<String> {
    if body.contains(&format!("<{name}/>")) || body.contains(&format!("<{name} />")) {
        return Some(String::new());
    }
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body.get(start..)?.find(&format!("</{name}>"))? + start;
    Some(unescape(body.get(start..end)?))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes a header name (given in title case) in `case`.
pub(super) fn recase(case: HeaderCase, name: &str) -> String {
    match case {
        HeaderCase::Upper => name.to_ascii_uppercase(),
        HeaderCase::Title => name.to_owned(),
        HeaderCase::Mixed => name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_read_and_unescaped() {
        let body = "<s:Body><u:AddPortMapping xmlns:u=\"x\"><NewRemoteHost></NewRemoteHost><NewExternalPort>4000</NewExternalPort><NewPortMappingDescription>a &amp; b</NewPortMappingDescription><NewEnabled/></u:AddPortMapping></s:Body>";
        assert_eq!(argument(body, "NewExternalPort").as_deref(), Some("4000"));
        assert_eq!(argument(body, "NewRemoteHost").as_deref(), Some(""));
        assert_eq!(argument(body, "NewEnabled").as_deref(), Some(""));
        assert_eq!(
            argument(body, "NewPortMappingDescription").as_deref(),
            Some("a & b")
        );
        assert_eq!(argument(body, "NewProtocol"), None);
    }

    #[test]
    fn header_names_follow_the_profile_case() {
        assert_eq!(recase(HeaderCase::Upper, "Location"), "LOCATION");
        assert_eq!(recase(HeaderCase::Title, "Location"), "Location");
        assert_eq!(recase(HeaderCase::Mixed, "Location"), "LoCaTiOn");
        assert_eq!(recase(HeaderCase::Mixed, "Cache-Control"), "CaChE-CoNtRoL");
    }
}
