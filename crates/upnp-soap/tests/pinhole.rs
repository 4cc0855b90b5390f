//! The IPv6 firewall control client against a fake router on loopback (`[::1]`, and
//! `127.0.0.1` for a gateway found over IPv4): a whole pinhole's life over an IPv6 literal
//! URL, every error code of the service as a typed refusal, malformed and huge answers,
//! silence, checks that send nothing, and the actions through the generic dispatcher.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use upnp_soap::pinhole::{
    self, Deleted, FirewallControl, FirewallStatus, PinholeRequest, Protocol, Refusal,
};
use upnp_soap::{Config, RootDevice, ServiceClient, Url, parse_url};

const ROOT_DESC: &str = include_str!("../testdata/miniupnpd/rootDesc.xml");
const WANIP6FC: &str = include_str!("../testdata/miniupnpd/WANIP6FC.xml");
const SERVICE: &str = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1";
const CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 0x10);

/// One request as the fake router saw it.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    path: String,
    action: String,
    body: String,
}

impl Seen {
    /// The text of the in argument `name`.
    fn argument(&self, name: &str) -> Option<String> {
        let open = format!("<{name}>");
        let start = self.body.find(&open)? + open.len();
        let end = self.body[start..].find('<')? + start;
        Some(self.body[start..end].to_owned())
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    }
}

/// What the fake router answers.
enum Answer {
    Http(u16, Vec<u8>),
    Silence,
}

type Handler = Arc<dyn Fn(&Seen) -> Answer + Send + Sync>;

struct FakeRouter {
    address: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeRouter {
    /// A router on `ip` serving miniupnpd's description and firewall SCPD, `soap` answering
    /// the firewall control actions.
    async fn start(ip: IpAddr, soap: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        FakeRouter::serve_on(listener, soap)
    }

    fn serve_on(
        listener: TcpListener,
        soap: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
    ) -> FakeRouter {
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(move |request: &Seen| match request.path.as_str() {
            "/rootDesc.xml" => Answer::Http(200, ROOT_DESC.as_bytes().to_vec()),
            "/WANIP6FC.xml" => Answer::Http(200, WANIP6FC.as_bytes().to_vec()),
            "/ctl/IP6FCtl" => soap(request),
            _ => Answer::Http(404, b"not found".to_vec()),
        });
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, handler.clone(), log.clone()));
            }
        });
        FakeRouter { address, seen }
    }

    fn location(&self) -> Url {
        parse_url(&format!("http://{}/rootDesc.xml", self.address)).unwrap()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn actions(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .map(|s| s.action)
            .filter(|a| !a.is_empty())
            .collect()
    }

    async fn firewall(&self) -> FirewallControl {
        FirewallControl::connect(&self.location(), self.address.ip(), quick())
            .await
            .unwrap()
    }
}

async fn serve(mut stream: TcpStream, handler: Handler, log: Arc<Mutex<Vec<Seen>>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut seen = Seen {
        path: head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned(),
        head,
        action: String::new(),
        body: String::new(),
    };
    let length: usize = seen
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    seen.body = String::from_utf8_lossy(&buffer[head_end..]).into_owned();
    seen.action = seen
        .header("soapaction")
        .and_then(|a| a.trim_matches('"').split('#').nth(1).map(str::to_owned))
        .unwrap_or_default();
    log.lock().unwrap().push(seen.clone());
    match handler(&seen) {
        Answer::Http(status, body) => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
        }
        Answer::Silence => tokio::time::sleep(Duration::from_secs(30)).await,
    }
    let _ = stream.shutdown().await;
}

fn envelope(body: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>{body}</s:Body></s:Envelope>\r\n"
    )
    .into_bytes()
}

fn success(action: &str, arguments: &[(&str, &str)]) -> Answer {
    let values = arguments
        .iter()
        .map(|(n, v)| format!("<{n}>{v}</{n}>"))
        .collect::<Vec<_>>()
        .concat();
    Answer::Http(
        200,
        envelope(&format!(
            "<u:{action}Response xmlns:u=\"{SERVICE}\">{values}</u:{action}Response>"
        )),
    )
}

fn fault(code: u16, description: &str) -> Answer {
    Answer::Http(
        500,
        envelope(&format!(
            "<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>\
             <UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>{code}</errorCode>\
             <errorDescription>{description}</errorDescription></UPnPError></detail></s:Fault>"
        )),
    )
}

fn quick() -> Config {
    Config {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
        max_body_size: 64 * 1024,
        ..Config::default()
    }
}

fn request() -> PinholeRequest {
    PinholeRequest::new(CLIENT, 8080, Protocol::TCP, Duration::from_secs(3600))
}

/// A router that keeps a table of pinholes, as miniupnpd does.
fn stateful() -> impl Fn(&Seen) -> Answer + Send + Sync + 'static {
    let table: Mutex<Vec<(u16, String)>> = Mutex::new(Vec::new());
    move |seen: &Seen| {
        let mut table = table.lock().unwrap();
        let id = seen.argument("UniqueID").unwrap_or_default();
        let known = table.iter().any(|(i, _)| i.to_string() == id);
        match seen.action.as_str() {
            "GetFirewallStatus" => success(
                "GetFirewallStatus",
                &[("FirewallEnabled", "1"), ("InboundPinholeAllowed", "1")],
            ),
            "GetOutboundPinholeTimeout" => success(
                "GetOutboundPinholeTimeout",
                &[("OutboundPinholeTimeout", "120")],
            ),
            "AddPinhole" => {
                let id = table.len() as u16 + 1;
                table.push((id, seen.argument("LeaseTime").unwrap_or_default()));
                success("AddPinhole", &[("UniqueID", &id.to_string())])
            }
            "UpdatePinhole" | "DeletePinhole" | "GetPinholePackets" | "CheckPinholeWorking"
                if !known =>
            {
                fault(704, "NoSuchEntry")
            }
            "UpdatePinhole" => {
                let lease = seen.argument("NewLeaseTime").unwrap_or_default();
                for entry in table.iter_mut().filter(|(i, _)| i.to_string() == id) {
                    entry.1.clone_from(&lease);
                }
                success("UpdatePinhole", &[])
            }
            "DeletePinhole" => {
                table.retain(|(i, _)| i.to_string() != id);
                success("DeletePinhole", &[])
            }
            "GetPinholePackets" => success("GetPinholePackets", &[("PinholePackets", "42")]),
            "CheckPinholeWorking" => fault(709, "NoTrafficReceived"),
            _ => fault(401, "Invalid Action"),
        }
    }
}

#[tokio::test]
async fn a_pinholes_whole_life_over_an_ipv6_literal_url() {
    let router = FakeRouter::start(IpAddr::V6(Ipv6Addr::LOCALHOST), stateful()).await;
    assert!(router.location().as_str().starts_with("http://[::1]:"));
    let firewall = router.firewall().await;
    assert_eq!(
        firewall.control_url().as_str(),
        format!("http://[::1]:{}/ctl/IP6FCtl", router.address.port())
    );

    assert_eq!(
        firewall.firewall_status().await.unwrap(),
        FirewallStatus {
            firewall_enabled: true,
            inbound_pinhole_allowed: true
        }
    );
    assert_eq!(
        firewall.outbound_pinhole_timeout(&request()).await.unwrap(),
        Duration::from_secs(120)
    );
    let pinhole = firewall.add_pinhole(&request()).await.unwrap();
    assert_eq!(pinhole.id, 1);
    assert_eq!(pinhole.lease, Duration::from_secs(3600));
    let updated = firewall
        .update_pinhole(pinhole.id, Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(updated.lease, Duration::from_secs(600));
    assert_eq!(firewall.pinhole_packets(pinhole.id).await.unwrap(), 42);
    let e = firewall
        .check_pinhole_working(pinhole.id)
        .await
        .unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::NoPacketSent));
    firewall.delete_pinhole(pinhole.id).await.unwrap();
    assert_eq!(
        firewall.remove_pinhole(pinhole.id).await.unwrap(),
        Deleted::NotThere
    );
    let e = firewall.delete_pinhole(pinhole.id).await.unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::NoSuchEntry));
    assert_eq!(e.upnp_code(), Some(704));

    let seen = router.seen();
    // The Host header carries the IPv6 literal in brackets, with the port.
    let description = seen.iter().find(|s| s.path == "/rootDesc.xml").unwrap();
    assert_eq!(
        description.header("host").unwrap(),
        format!("[::1]:{}", router.address.port())
    );
    let add = seen.iter().find(|s| s.action == "AddPinhole").unwrap();
    assert_eq!(
        add.header("soapaction").unwrap(),
        format!("\"{SERVICE}#AddPinhole\"")
    );
    for (name, value) in [
        ("RemoteHost", ""),
        ("RemotePort", "0"),
        ("InternalClient", "fd77::10"),
        ("InternalPort", "8080"),
        ("Protocol", "6"),
        ("LeaseTime", "3600"),
    ] {
        assert_eq!(add.argument(name).as_deref(), Some(value), "{name}");
    }
    let update = seen.iter().find(|s| s.action == "UpdatePinhole").unwrap();
    assert_eq!(update.argument("UniqueID").as_deref(), Some("1"));
    assert_eq!(update.argument("NewLeaseTime").as_deref(), Some("600"));
    // No SCPD is fetched: the actions are the standard's.
    assert!(!seen.iter().any(|s| s.path == "/WANIP6FC.xml"));
}

#[tokio::test]
async fn every_error_code_of_the_service_is_a_typed_refusal() {
    let code = Arc::new(Mutex::new(0u16));
    let current = code.clone();
    let router = FakeRouter::start(IpAddr::V6(Ipv6Addr::LOCALHOST), move |_| {
        let code = *current.lock().unwrap();
        fault(code, "whatever the gateway says")
    })
    .await;
    let firewall = router.firewall().await;
    for refusal in Refusal::ALL {
        *code.lock().unwrap() = refusal.code();
        let e = firewall.add_pinhole(&request()).await.unwrap_err();
        assert_eq!(e.refusal(), Some(refusal), "{e}");
        assert_eq!(e.upnp_code(), Some(refusal.code()));
        let message = e.to_string();
        assert!(
            message.starts_with("AddPinhole at http://[::1]:")
                && message.contains(&format!("upnp error {}", refusal.code())),
            "{message}"
        );
        match e {
            pinhole::PinholeError::Refused { description, .. } => {
                assert_eq!(description, "whatever the gateway says");
            }
            other => panic!("{other:?}"),
        }
    }
    // Codes the service does not define stay faults of the dispatcher.
    for other in [401, 402, 501, 714] {
        *code.lock().unwrap() = other;
        let e = firewall.add_pinhole(&request()).await.unwrap_err();
        assert_eq!(e.refusal(), None);
        assert_eq!(e.upnp_code(), Some(other));
        assert!(
            matches!(
                e,
                pinhole::PinholeError::Control(upnp_soap::Error::Fault { .. })
            ),
            "{e:?}"
        );
    }
    // remove_pinhole forgives only no such pinhole.
    *code.lock().unwrap() = 606;
    let e = firewall.remove_pinhole(7).await.unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::NotAuthorized));
    assert!(!e.is_no_such_pinhole());
    *code.lock().unwrap() = 704;
    assert_eq!(firewall.remove_pinhole(7).await.unwrap(), Deleted::NotThere);
}

#[tokio::test]
async fn miniupnpds_402_for_an_unknown_id_is_no_such_pinhole() {
    let router = FakeRouter::start(IpAddr::V6(Ipv6Addr::LOCALHOST), |_| {
        fault(402, "Invalid Args")
    })
    .await;
    let firewall = router.firewall().await;
    let e = firewall
        .update_pinhole(9, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(e.is_no_such_pinhole(), "{e:?}");
    assert!(
        matches!(
            e,
            pinhole::PinholeError::UnknownId {
                action: "UpdatePinhole",
                id: 9,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.upnp_code(), Some(402));
    assert!(e.to_string().contains("holds no pinhole 9"), "{e}");
    for e in [
        firewall.delete_pinhole(9).await.unwrap_err(),
        firewall.pinhole_packets(9).await.unwrap_err(),
        firewall.check_pinhole_working(9).await.unwrap_err(),
    ] {
        assert!(e.is_no_such_pinhole(), "{e:?}");
    }
    assert_eq!(firewall.remove_pinhole(9).await.unwrap(), Deleted::NotThere);
    // AddPinhole sends more than an id: its 402 stays a fault.
    let e = firewall.add_pinhole(&request()).await.unwrap_err();
    assert!(!e.is_no_such_pinhole());
    assert!(
        matches!(
            e,
            pinhole::PinholeError::Control(upnp_soap::Error::Fault { .. })
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn malformed_answers_are_typed_errors() {
    let answer = Arc::new(Mutex::new(Vec::new()));
    let current = answer.clone();
    let router = FakeRouter::start(IpAddr::V6(Ipv6Addr::LOCALHOST), move |_| {
        Answer::Http(200, current.lock().unwrap().clone())
    })
    .await;
    let firewall = router.firewall().await;
    let set = |body: Vec<u8>| *answer.lock().unwrap() = body;
    let add_response = |inner: &str| {
        envelope(&format!(
            "<u:AddPinholeResponse xmlns:u=\"{SERVICE}\">{inner}</u:AddPinholeResponse>"
        ))
    };

    for (inner, value) in [
        ("<UniqueID>abc</UniqueID>", Some("abc")),
        ("<UniqueID>70000</UniqueID>", Some("70000")),
        ("<UniqueID>-1</UniqueID>", Some("-1")),
        ("<UniqueID></UniqueID>", Some("")),
        ("<Other>1</Other>", None),
    ] {
        set(add_response(inner));
        match firewall.add_pinhole(&request()).await {
            Err(pinhole::PinholeError::InvalidResponse {
                action, problem, ..
            }) => {
                assert_eq!(action, "AddPinhole");
                assert_eq!(problem.argument, "UniqueID");
                assert_eq!(problem.value.as_deref(), value, "{inner}");
            }
            other => panic!("{inner}: {other:?}"),
        }
    }
    set(envelope(&format!(
        "<u:GetFirewallStatusResponse xmlns:u=\"{SERVICE}\"><FirewallEnabled>maybe</FirewallEnabled>\
         <InboundPinholeAllowed>1</InboundPinholeAllowed></u:GetFirewallStatusResponse>"
    )));
    let e = firewall.firewall_status().await.unwrap_err();
    assert!(
        e.to_string()
            .contains("invalid FirewallEnabled: \"maybe\" is not a boolean"),
        "{e}"
    );
    set(b"<html>not soap</html>".to_vec());
    assert!(matches!(
        firewall.firewall_status().await,
        Err(pinhole::PinholeError::Control(
            upnp_soap::Error::Soap { .. }
        ))
    ));
    set(b"<<<".to_vec());
    assert!(matches!(
        firewall.delete_pinhole(1).await,
        Err(pinhole::PinholeError::Control(upnp_soap::Error::Xml { .. }))
    ));
    // Another action's answer is not this one's.
    set(add_response("<UniqueID>1</UniqueID>"));
    assert!(matches!(
        firewall.pinhole_packets(1).await,
        Err(pinhole::PinholeError::Control(
            upnp_soap::Error::Soap { .. }
        ))
    ));
    // A huge value inside a body under the cap: refused, and reported cut.
    set(add_response(&format!(
        "<UniqueID>{}</UniqueID>",
        "9".repeat(40_000)
    )));
    match firewall.add_pinhole(&request()).await {
        Err(pinhole::PinholeError::InvalidResponse { problem, .. }) => {
            assert_eq!(
                problem.value.map(|v| v.len()),
                Some(pinhole::MAX_REPORTED_VALUE)
            );
        }
        other => panic!("{other:?}"),
    }
    // A body over the cap is not read to its end.
    set(add_response(&"x".repeat(200 * 1024)));
    assert!(matches!(
        firewall.add_pinhole(&request()).await,
        Err(pinhole::PinholeError::Control(
            upnp_soap::Error::BodyTooLarge { .. }
        ))
    ));
}

#[tokio::test]
async fn a_silent_gateway_is_an_operation_timeout() {
    let router = FakeRouter::start(IpAddr::V6(Ipv6Addr::LOCALHOST), |_| Answer::Silence).await;
    let config = quick().with_operation_timeout(Duration::from_millis(300));
    let firewall = FirewallControl::connect(&router.location(), router.address.ip(), config)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let e = firewall.add_pinhole(&request()).await.unwrap_err();
    assert!(
        matches!(
            e,
            pinhole::PinholeError::OperationTimeout {
                action: "AddPinhole",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn requests_the_service_forbids_are_not_sent() {
    let router = FakeRouter::start(IpAddr::V6(Ipv6Addr::LOCALHOST), stateful()).await;
    let firewall = router.firewall().await;
    let mut lease_zero = request();
    lease_zero.lease = Duration::ZERO;
    let mut too_long = request();
    too_long.lease = Duration::from_secs(86_401);
    let mut any_port = request();
    any_port.internal_port = 0;
    let mut link_local = request();
    link_local.internal_client = "fe80::10".parse().unwrap();
    let wildcard_host = request().with_remote_host(Some(Ipv6Addr::UNSPECIFIED));
    for bad in [lease_zero, too_long, any_port, link_local, wildcard_host] {
        let e = firewall.add_pinhole(&bad).await.unwrap_err();
        assert!(e.is_refused_before_sending(), "{e:?}");
    }
    let e = firewall
        .update_pinhole(1, Duration::from_secs(100_000))
        .await
        .unwrap_err();
    assert!(
        matches!(e, pinhole::PinholeError::LeaseOutOfRange { .. }),
        "{e:?}"
    );
    // The outbound timeout takes wildcard ports.
    let mut flow = request();
    flow.internal_port = 0;
    flow.protocol = Protocol::ANY;
    firewall.outbound_pinhole_timeout(&flow).await.unwrap();
    assert_eq!(router.actions(), ["GetOutboundPinholeTimeout"]);
}

#[tokio::test]
async fn the_actions_are_callable_through_the_generic_dispatcher() {
    let router = FakeRouter::start(IpAddr::V6(Ipv6Addr::LOCALHOST), stateful()).await;
    let firewall = router.firewall().await;
    let reply = firewall
        .service_client()
        .call("GetFirewallStatus", &[])
        .await
        .unwrap();
    assert_eq!(reply.get("InboundPinholeAllowed"), Some("1"));

    // Checked against miniupnpd's SCPD: the lease range comes from A_ARG_TYPE_LeaseTime.
    let root = RootDevice::fetch(&router.location(), router.address.ip(), quick())
        .await
        .unwrap();
    let service = FirewallControl::find_in(root.description()).unwrap();
    let checked = root.service_client(service).await.unwrap();
    let names: Vec<_> = checked.actions().iter().map(|a| a.name.as_str()).collect();
    for action in [
        "GetFirewallStatus",
        "GetOutboundPinholeTimeout",
        "AddPinhole",
        "UpdatePinhole",
        "DeletePinhole",
        "GetPinholePackets",
        "CheckPinholeWorking",
    ] {
        assert!(names.contains(&action), "{action} in {names:?}");
    }
    let e = checked
        .call("UpdatePinhole", &[("UniqueID", "1"), ("NewLeaseTime", "0")])
        .await
        .unwrap_err();
    assert!(matches!(e, upnp_soap::Error::OutOfRange { .. }), "{e:?}");
    // The typed client over the checked one.
    let typed = FirewallControl::new(ServiceClient::new(
        checked.http().clone(),
        checked.service().clone(),
        checked.scpd().unwrap().clone(),
    ));
    let pinhole = typed.add_pinhole(&request()).await.unwrap();
    assert_eq!(pinhole.id, 1);
    let reply = typed
        .service_client()
        .call("GetPinholePackets", &[("UniqueID", "1")])
        .await
        .unwrap();
    assert_eq!(reply.get("PinholePackets"), Some("42"));
}

#[tokio::test]
async fn a_gateway_found_over_ipv4_is_reached_at_its_ipv6_address_on_the_same_port() {
    // The same port on 127.0.0.1 and [::1], as miniupnpd listens on both.
    let (v4, v6) = loop {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = v4.local_addr().unwrap().port();
        if let Ok(v6) = TcpListener::bind((Ipv6Addr::LOCALHOST, port)).await {
            break (v4, v6);
        }
    };
    let over_v4 = FakeRouter::serve_on(v4, |_| fault(606, "Action not authorized"));
    let over_v6 = FakeRouter::serve_on(v6, stateful());
    let firewall = over_v4.firewall().await;
    let e = firewall.add_pinhole(&request()).await.unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::NotAuthorized));

    let firewall = firewall.over_ipv6(Ipv6Addr::LOCALHOST).unwrap();
    assert_eq!(
        firewall.control_url().as_str(),
        format!("http://[::1]:{}/ctl/IP6FCtl", over_v6.address.port())
    );
    assert_eq!(firewall.add_pinhole(&request()).await.unwrap().id, 1);
    assert_eq!(over_v6.actions(), ["AddPinhole"]);
    assert_eq!(over_v4.actions(), ["AddPinhole"]);
    // The same through a rewritten LOCATION.
    let location = pinhole::ipv6_location(&over_v4.location(), Ipv6Addr::LOCALHOST).unwrap();
    let firewall = FirewallControl::connect(&location, Ipv6Addr::LOCALHOST.into(), quick())
        .await
        .unwrap();
    firewall.firewall_status().await.unwrap();
}
