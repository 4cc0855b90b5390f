//! Lab tests of the zoo's fixtures themselves, on the wire with plain std sockets from the
//! LAN host: each profile's documented quirks are really what it sends (which searches it
//! answers, from which ports, header case, `ST`, HTTP version and length, document bytes,
//! SOAP prefix and fault codes), and a mapping made by SOAP forwards real traffic.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use natlab::zoo::{Answers, HeaderCase, Profile, ZooLab, ZooOptions};

const IGD1: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";

/// Sends one multicast M-SEARCH for `st` from the LAN host and returns every answer
/// (source, text) that comes within 700 ms.
fn search(zoo: &ZooLab, st: &str) -> Vec<(SocketAddr, String)> {
    let request = format!(
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: {st}\r\n\r\n"
    );
    zoo.lan()
        .run(move || {
            let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(700)))
                .unwrap();
            socket
                .send_to(request.as_bytes(), "239.255.255.250:1900")
                .unwrap();
            let mut answers = Vec::new();
            let mut buffer = [0u8; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buffer) {
                answers.push((from, String::from_utf8_lossy(&buffer[..n]).into_owned()));
            }
            answers
        })
        .unwrap()
}

/// One HTTP/1.1 exchange with the fixture from the LAN host; the raw response.
fn http(zoo: &ZooLab, request: String) -> String {
    let port = zoo.fixture().profile().http.port;
    zoo.lan()
        .run(move || {
            let mut stream = TcpStream::connect(("192.168.77.1", port)).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(3)))
                .unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut response = Vec::new();
            stream.read_to_end(&mut response).unwrap();
            String::from_utf8_lossy(&response).into_owned()
        })
        .unwrap()
}

fn get(zoo: &ZooLab, path: &str) -> String {
    http(
        zoo,
        format!("GET {path} HTTP/1.1\r\nHost: 192.168.77.1\r\nConnection: close\r\n\r\n"),
    )
}

fn soap(zoo: &ZooLab, control: &str, service: &str, action: &str, arguments: &str) -> String {
    let body = format!(
        "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><u:{action} xmlns:u=\"{service}\">{arguments}</u:{action}></s:Body></s:Envelope>"
    );
    http(
        zoo,
        format!(
            "POST {control} HTTP/1.1\r\nHost: 192.168.77.1\r\nContent-Type: text/xml\r\nSOAPAction: \"{service}#{action}\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// The value of header `name` (any case) in a response head.
fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response
        .split("\r\n\r\n")
        .next()?
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The profile's quirks, seen on the wire.
fn check_wire(profile: Profile) {
    let Some(zoo) = ZooLab::for_test(profile.clone()) else {
        return;
    };
    let log = || zoo.log();

    // SSDP: which targets, from which ports, with which ST and header case.
    let igd = search(&zoo, IGD1);
    let root = search(&zoo, "upnp:rootdevice");
    match profile.ssdp.answers {
        Answers::RootDeviceOnly => assert!(igd.is_empty(), "{igd:?}"),
        Answers::Every => assert!(!igd.is_empty(), "{}", log()),
    }
    assert!(!root.is_empty(), "{}", log());
    for (answers, st) in [(&igd, IGD1), (&root, "upnp:rootdevice")] {
        let ports: BTreeSet<u16> = answers.iter().map(|(from, _)| from.port()).collect();
        if !answers.is_empty() {
            assert_eq!(
                ports,
                profile.ssdp.source_ports.iter().copied().collect(),
                "{answers:?}"
            );
        }
        for (from, text) in answers.iter() {
            assert_eq!(from.ip().to_string(), "192.168.77.1");
            assert_eq!(
                header(text, "location"),
                Some(zoo.fixture().location().as_str())
            );
            let expected_st = if profile.ssdp.uuid_st && st.starts_with("urn:") {
                format!("uuid:{}", profile.uuid)
            } else {
                st.to_owned()
            };
            assert_eq!(header(text, "st"), Some(expected_st.as_str()), "{text}");
            let location_name = match profile.ssdp.header_case {
                HeaderCase::Upper => "\r\nLOCATION:",
                HeaderCase::Title => "\r\nLocation:",
                HeaderCase::Mixed => "\r\nLoCaTiOn:",
            };
            assert!(text.contains(location_name), "{text}");
        }
    }

    // The description: HTTP version and length, line ends, URLBase.
    let description = get(&zoo, profile.http.description_path);
    if profile.http.http10_without_length {
        assert!(description.starts_with("HTTP/1.0 200"), "{description}");
        assert_eq!(header(&description, "content-length"), None);
    } else {
        assert!(description.starts_with("HTTP/1.1 200"), "{description}");
        assert_eq!(
            header(&description, "content-length").map(|l| l.parse::<usize>().unwrap()),
            Some(body(&description).len())
        );
    }
    let document = body(&description);
    assert!(document.contains(&format!("uuid:{}", profile.uuid)));
    assert_eq!(
        document.ends_with("</root>\r\n\r"),
        profile.http.crlf_stray_cr,
        "{document:?}"
    );
    assert_eq!(
        document.contains(&format!(
            "<URLBase>http://192.168.77.1:{}</URLBase>",
            profile.http.port
        )),
        profile.http.url_base
    );
    assert_eq!(
        document.contains("urn:schemas-upnp-org:service:Layer3Forwarding:1"),
        profile.device.root_services
    );
    for connection in &profile.device.connections {
        assert!(
            document.contains(&connection.control_path.replace('&', "&amp;")),
            "{document}"
        );
    }

    // Each connection's SCPD and a first call.
    for connection in &profile.device.connections {
        let scpd = get(&zoo, connection.scpd_path);
        assert!(scpd.contains("200"), "{scpd}");
        let scpd = body(&scpd);
        assert_eq!(
            scpd.trim_start()
                .trim_start_matches("<?xml version=\"1.0\"?>")
                .trim_start()
                .starts_with("<!--"),
            profile.http.comment_before_scpd
        );
        assert_eq!(
            scpd.contains("<name>GetGenericPortMappingEntry</name>"),
            profile.soap.generic_listing
        );
        let reply = soap(
            &zoo,
            connection.control_path,
            connection.service_type,
            "GetExternalIPAddress",
            "",
        );
        if connection.needs_authentication {
            assert!(reply.contains("<errorCode>606</errorCode>"), "{reply}");
            continue;
        }
        let address = if connection.connected {
            "44.0.0.1"
        } else {
            "0.0.0.0"
        };
        assert!(
            reply.contains(&format!(
                "<{p}:GetExternalIPAddressResponse xmlns:{p}=\"{}\"><NewExternalIPAddress>{address}</NewExternalIPAddress>",
                connection.service_type,
                p = profile.soap.prefix
            )),
            "{reply}"
        );
        let end = soap(
            &zoo,
            connection.control_path,
            connection.service_type,
            "GetGenericPortMappingEntry",
            "<NewPortMappingIndex>0</NewPortMappingIndex>",
        );
        let code = if profile.soap.generic_listing {
            profile.soap.end_of_listing
        } else {
            401
        };
        assert!(
            end.contains(&format!("<errorCode>{code}</errorCode>")),
            "{end}"
        );
    }

    // A mapping made by SOAP forwards, and its deletion stops it.
    let connection = profile.usable_connection().unwrap();
    let title_case = http(
        &zoo,
        format!(
            "POST {} HTTP/1.1\r\nHost: 192.168.77.1\r\nSoapaction: \"{}#GetStatusInfo\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            connection.control_path, connection.service_type
        ),
    );
    assert_eq!(
        title_case.starts_with("HTTP/1.0 501 Not Implemented"),
        profile.soap.soapaction_case_sensitive,
        "{title_case}"
    );
    let add = soap(
        &zoo,
        connection.control_path,
        connection.service_type,
        "AddPortMapping",
        "<NewRemoteHost></NewRemoteHost><NewExternalPort>4300</NewExternalPort><NewProtocol>UDP</NewProtocol><NewInternalPort>4301</NewInternalPort><NewInternalClient>192.168.77.10</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>wire</NewPortMappingDescription><NewLeaseDuration>600</NewLeaseDuration>",
    );
    assert!(add.contains(" 200 "), "{add}");
    assert!(
        zoo.udp_reaches(zoo.lan(), 4301, zoo.external_socket(4300))
            .unwrap(),
        "{}",
        log()
    );
    let other = soap(
        &zoo,
        connection.control_path,
        connection.service_type,
        "AddPortMapping",
        "<NewRemoteHost></NewRemoteHost><NewExternalPort>4300</NewExternalPort><NewProtocol>UDP</NewProtocol><NewInternalPort>4301</NewInternalPort><NewInternalClient>192.168.77.99</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>x</NewPortMappingDescription><NewLeaseDuration>0</NewLeaseDuration>",
    );
    assert!(other.contains("<errorCode>606</errorCode>"), "{other}");
    let delete = soap(
        &zoo,
        connection.control_path,
        connection.service_type,
        "DeletePortMapping",
        "<NewRemoteHost></NewRemoteHost><NewExternalPort>4300</NewExternalPort><NewProtocol>UDP</NewProtocol>",
    );
    assert!(delete.contains(" 200 "), "{delete}");
    assert!(zoo.redirections().unwrap().is_empty());
    let again = soap(
        &zoo,
        connection.control_path,
        connection.service_type,
        "DeletePortMapping",
        "<NewRemoteHost></NewRemoteHost><NewExternalPort>4300</NewExternalPort><NewProtocol>UDP</NewProtocol>",
    );
    assert!(again.contains("<errorCode>714</errorCode>"), "{again}");
}

#[test]
fn dlink_dir890l_on_the_wire() {
    check_wire(Profile::dlink_dir890l());
}

#[test]
fn broadcom_on_the_wire() {
    check_wire(Profile::broadcom());
}

#[test]
fn cisco_cable_modem_on_the_wire() {
    check_wire(Profile::cisco_cable_modem());
}

#[test]
fn ddwrt_on_the_wire() {
    check_wire(Profile::ddwrt());
}

#[test]
fn miniupnpd1_on_the_wire() {
    check_wire(Profile::miniupnpd1());
}

#[test]
fn livebox_on_the_wire() {
    check_wire(Profile::livebox());
}

#[test]
fn dual_wan_on_the_wire() {
    check_wire(Profile::dual_wan());
}

#[test]
fn fritzbox_on_the_wire() {
    check_wire(Profile::fritzbox());
}

#[test]
fn list_only_on_the_wire() {
    check_wire(Profile::list_only());
}

#[test]
fn linksys_wrt120n_on_the_wire() {
    check_wire(Profile::linksys_wrt120n());
}

#[test]
fn hostile_hosts_answer_from_their_own_addresses() {
    let Some(zoo) = ZooLab::for_test_with(
        Profile::miniupnpd1(),
        ZooOptions {
            rogue: true,
            flood: Some(300),
            ..ZooOptions::default()
        },
        &[],
    ) else {
        return;
    };
    let answers = search(&zoo, IGD1);
    let from = |ip: &str| {
        answers
            .iter()
            .filter(|(f, _)| f.ip().to_string() == ip)
            .count()
    };
    assert!(from("192.168.77.1") >= 1, "{}", zoo.log());
    let rogue = zoo.rogue().unwrap();
    assert!(from(&rogue.address().to_string()) >= 1, "{}", rogue.log());
    let flood = zoo.flood().unwrap();
    // Datagrams beyond the socket's buffer may be lost; most of 300 arrive.
    assert!(
        from(&flood.address().to_string()) > 100,
        "{} from the flood",
        from(&flood.address().to_string())
    );
    assert_eq!(flood.searches(), 1);
    let locations: BTreeSet<&str> = answers
        .iter()
        .filter_map(|(_, text)| header(text, "location"))
        .collect();
    assert!(locations.len() > 100, "the flood's locations are distinct");
    // The rogue serves a description of its own, on its own address.
    let description = zoo
        .lan()
        .run({
            let location = rogue.location();
            move || {
                let rest = location.trim_start_matches("http://");
                let (address, path) = rest.split_once('/').unwrap();
                let mut stream = TcpStream::connect(address).unwrap();
                stream
                    .write_all(
                        format!(
                            "GET /{path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .unwrap();
                let mut response = String::new();
                stream.read_to_string(&mut response).unwrap();
                response
            }
        })
        .unwrap();
    assert!(description.contains("Totally The Gateway"), "{description}");
}
