//! Lab tests of the lab's NAT behaviours, observed with plain UDP sockets and a hand-built
//! STUN Binding request: coturn answers with the address the internet sees and RFC 5780's
//! OTHER-ADDRESS, each mapping and filtering behaviour is what the configuration asked for,
//! hairpinning is on or off, miniupnpd's mappings still forward, and a router behind an
//! outer NAT refuses every mapping.
//!
//! The file is long because the tests speak four protocols by hand (STUN, NAT-PMP, PCP
//! through the codec, UPnP SOAP) to see what the lab does without any of natkit's clients,
//! and those small helpers are shared by every test here; split, each part would repeat
//! them.

#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use natlab::{Filtering, Host, Lab, LabConfig, Mapping, NatBehaviour, OuterNat};
use natpmp_proto::pcp::{MapData, Request, Response, ResponseData, ResultCode};
use natpmp_proto::{Nonce, Protocol};

/// How long a datagram that should arrive may take.
const ARRIVES: Duration = Duration::from_secs(2);
/// How long to wait before taking a datagram for dropped (the lab's links add no delay:
/// an answer takes well under a millisecond).
const DROPPED: Duration = Duration::from_millis(500);

/// A STUN Binding request (RFC 8489): the 20-byte header, and a CHANGE-REQUEST attribute
/// (RFC 5780) when `change` has flags (0x4 change IP, 0x2 change port).
fn binding_request(id: [u8; 12], change: u32) -> Vec<u8> {
    let mut message = vec![0x00, 0x01];
    let length: u16 = if change == 0 { 0 } else { 8 };
    message.extend_from_slice(&length.to_be_bytes());
    message.extend_from_slice(&0x2112_A442_u32.to_be_bytes());
    message.extend_from_slice(&id);
    if change != 0 {
        message.extend_from_slice(&[0x00, 0x03, 0x00, 0x04]);
        message.extend_from_slice(&change.to_be_bytes());
    }
    message
}

/// What a Binding success response said.
#[derive(Debug, Default)]
struct BindingResponse {
    xor_mapped: Option<SocketAddr>,
    other_address: Option<SocketAddr>,
    response_origin: Option<SocketAddr>,
}

/// Parses a Binding success response to transaction `id`.
fn parse_response(datagram: &[u8], id: [u8; 12]) -> Option<BindingResponse> {
    if datagram.len() < 20 || datagram[0..2] != [0x01, 0x01] || datagram[8..20] != id {
        return None;
    }
    // XOR-MAPPED-ADDRESS is masked with the magic cookie and (IPv6) the transaction id.
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&0x2112_A442_u32.to_be_bytes());
    mask[4..].copy_from_slice(&id);
    let mut response = BindingResponse::default();
    let mut rest = &datagram[20..];
    while rest.len() >= 4 {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let length = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let value = rest.get(4..4 + length)?;
        let xor = kind == 0x0020;
        let address = decode_address(value, xor.then_some(&mask));
        match kind {
            0x0020 => response.xor_mapped = address,
            0x802C => response.other_address = address,
            0x802B => response.response_origin = address,
            _ => {}
        }
        rest = rest.get(4 + length.div_ceil(4) * 4..).unwrap_or(&[]);
    }
    Some(response)
}

/// An address attribute's value (family, port, address), unmasked with `mask` if given.
fn decode_address(value: &[u8], mask: Option<&[u8; 16]>) -> Option<SocketAddr> {
    let zero = [0u8; 16];
    let mask = mask.unwrap_or(&zero);
    let port = u16::from_be_bytes([value.get(2)? ^ mask[0], value.get(3)? ^ mask[1]]);
    let bytes = |n: usize| -> Option<Vec<u8>> {
        let raw = value.get(4..4 + n)?;
        Some(raw.iter().zip(mask).map(|(b, m)| b ^ m).collect())
    };
    let address = match value.get(1)? {
        0x01 => IpAddr::from(<[u8; 4]>::try_from(bytes(4)?).ok()?),
        0x02 => IpAddr::from(<[u8; 16]>::try_from(bytes(16)?).ok()?),
        _ => return None,
    };
    Some(SocketAddr::new(address, port))
}

/// Sends a Binding request from `socket` to `server` (three tries) and returns the response
/// and where it came from; `None` if none came.
fn binding(
    socket: &UdpSocket,
    server: SocketAddr,
    change: u32,
) -> Option<(BindingResponse, SocketAddr)> {
    let id: [u8; 12] = std::array::from_fn(|i| (i as u8).wrapping_mul(31) ^ change as u8);
    socket
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut buffer = [0u8; 1500];
    for _ in 0..3 {
        socket
            .send_to(&binding_request(id, change), server)
            .unwrap();
        while let Ok((n, from)) = socket.recv_from(&mut buffer) {
            if let Some(response) = parse_response(&buffer[..n], id) {
                return Some((response, from));
            }
        }
    }
    None
}

#[test]
fn coturn_answers_with_the_routers_external_address_and_its_other_address() {
    let Some(lab) = Lab::for_test_with_tools(LabConfig::default().with_stun(), &["turnserver"])
    else {
        return;
    };
    let server = lab.stun_server().unwrap();
    let alternate = lab.stun_alternate().unwrap();
    assert_eq!(server, "44.0.0.2:3478".parse().unwrap());
    assert_eq!(alternate, "44.0.0.3:3479".parse().unwrap());
    let external = lab.external_address();
    let (response, from) = lab
        .lan()
        .run(move || {
            let socket = UdpSocket::bind("0.0.0.0:40000").unwrap();
            binding(&socket, server, 0)
        })
        .unwrap()
        .unwrap_or_else(|| panic!("no Binding response; coturn's log:\n{}", lab.stun_log()));
    assert_eq!(from, server);
    assert_eq!(
        response.xor_mapped,
        Some(SocketAddr::from((external, 40000)))
    );
    assert_eq!(response.other_address, Some(alternate));
    assert_eq!(response.response_origin, Some(server));
}

/// A UDP socket bound on `host` (it stays in that host's namespace whichever thread uses it).
fn udp_on(host: &Host, bind: SocketAddr) -> UdpSocket {
    host.run(move || UdpSocket::bind(bind)).unwrap().unwrap()
}

/// The WAN host's second address (the STUN server's alternate one), for labs built without
/// a STUN server.
fn add_second_wan_address(lab: &Lab) {
    lab.wan()
        .exec("ip", &["addr", "add", "44.0.0.3/24", "dev", "eth0"])
        .unwrap();
}

/// Receives on `socket` for at most `wait`: the first datagram whose payload is `token`, and
/// who sent it.
fn receive(socket: &UdpSocket, token: &[u8], wait: Duration) -> Option<SocketAddr> {
    socket.set_read_timeout(Some(wait)).unwrap();
    let mut buffer = [0u8; 1500];
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        match socket.recv_from(&mut buffer) {
            Ok((n, from)) if &buffer[..n] == token => return Some(from),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Sends `token` from `from` to `to` and returns the source address `to` saw it come from.
fn seen_source(from: &UdpSocket, to: &UdpSocket, token: &[u8]) -> SocketAddr {
    from.send_to(token, to.local_addr().unwrap()).unwrap();
    receive(to, token, ARRIVES).expect("a datagram from the LAN reaches the WAN host")
}

/// Three WAN endpoints for a probe from `lan_port`: 44.0.0.2:A, 44.0.0.2:B (another port),
/// 44.0.0.3:A (another address), with ports of their own for each LAN port: a socket just
/// closed may still be bound for a moment in a child process that another test forked and
/// has not yet exec'd, so no two probes of a lab bind the same address and port.
fn wan_endpoints(lan_port: u16) -> [SocketAddr; 3] {
    let (a, b) = (lan_port.wrapping_add(10_000), lan_port.wrapping_add(20_000));
    [
        SocketAddr::from(([44, 0, 0, 2], a)),
        SocketAddr::from(([44, 0, 0, 2], b)),
        SocketAddr::from(([44, 0, 0, 3], a)),
    ]
}

/// The external ports a LAN socket gets toward three WAN endpoints ([`wan_endpoints`]):
/// one, another port of the same address, another address.
fn external_ports(lab: &Lab, lan_port: u16) -> [u16; 3] {
    let lan = udp_on(
        lab.lan(),
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, lan_port)),
    );
    let targets = wan_endpoints(lan_port).map(|t| udp_on(lab.wan(), t));
    targets.each_ref().map(|target| {
        let seen = seen_source(&lan, target, b"mapping probe");
        assert_eq!(seen.ip(), IpAddr::V4(lab.public_address()));
        seen.port()
    })
}

/// Whether datagrams from the three [`wan_endpoints`] (the endpoint the LAN socket sent to,
/// another port of the same address, another address) reach the LAN socket's
/// mapping.
fn filtering_reaches(lab: &Lab, lan_port: u16) -> [bool; 3] {
    let lan = udp_on(
        lab.lan(),
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, lan_port)),
    );
    let remotes = wan_endpoints(lan_port).map(|t| udp_on(lab.wan(), t));
    let mapped = seen_source(&lan, &remotes[0], b"open the mapping");
    // The unsolicited ones first: an answer from the endpoint itself proves nothing about them.
    let mut reached = [false; 3];
    for index in [2, 1, 0] {
        let token = format!("filtering probe {index}");
        remotes[index].send_to(token.as_bytes(), mapped).unwrap();
        let wait = if index == 0 { ARRIVES } else { DROPPED };
        reached[index] = receive(&lan, token.as_bytes(), wait).is_some();
    }
    reached
}

/// Maps `port` (TCP and UDP) with natpmpc and checks that the WAN host reaches both.
fn miniupnpd_still_forwards(lab: &Lab, port: u16) {
    for transport in ["tcp", "udp"] {
        let output = lab
            .lan()
            .exec(
                "natpmpc",
                &[
                    "-g",
                    "192.168.77.1",
                    "-a",
                    &port.to_string(),
                    &port.to_string(),
                    transport,
                    "60",
                ],
            )
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Mapped public port"), "natpmpc said: {text}");
    }
    assert!(
        lab.tcp_reaches(lab.lan(), port, lab.external_socket(port))
            .unwrap()
    );
    assert!(
        lab.udp_reaches(lab.lan(), port, lab.external_socket(port))
            .unwrap()
    );
}

fn nat_lab(nat: NatBehaviour) -> Option<Lab> {
    let config = LabConfig {
        lan_hosts: 2,
        ..LabConfig::default().with_nat(nat)
    };
    let lab = Lab::for_test_with_tools(config, &["natpmpc"])?;
    add_second_wan_address(&lab);
    Some(lab)
}

#[test]
fn the_default_nat_maps_endpoint_independently_and_filters_by_address_and_port() {
    let Some(lab) = nat_lab(NatBehaviour::default()) else {
        return;
    };
    assert_eq!(external_ports(&lab, 41000), [41000; 3]);
    assert_eq!(filtering_reaches(&lab, 41001), [true, false, false]);
    miniupnpd_still_forwards(&lab, 41002);
}

#[test]
fn random_and_fully_random_masquerade_map_per_destination() {
    for mapping in [Mapping::Random, Mapping::FullyRandom] {
        let Some(lab) = nat_lab(NatBehaviour {
            mapping,
            ..NatBehaviour::default()
        }) else {
            return;
        };
        let rule = lab
            .router()
            .exec("nft", &["list", "chain", "inet", "filter", "postrouting"])
            .unwrap();
        let flag = if mapping == Mapping::Random {
            "masquerade random"
        } else {
            "masquerade fully-random"
        };
        assert!(String::from_utf8_lossy(&rule.stdout).contains(flag));
        // Three sockets: a hash or a random draw may give two destinations one port by
        // chance (about 1 in 64,000), never all three sockets.
        let differs = (0..3).any(|i| {
            let ports = external_ports(&lab, 41010 + i);
            ports[0] != ports[1] && ports[0] != ports[2] && ports[1] != ports[2]
        });
        assert!(
            differs,
            "{mapping:?}: one external port for several destinations"
        );
        miniupnpd_still_forwards(&lab, 41020);
    }
}

#[test]
fn endpoint_independent_filtering_lets_any_remote_reach_a_mapping() {
    let Some(lab) = nat_lab(NatBehaviour {
        filtering: Filtering::EndpointIndependent,
        ..NatBehaviour::default()
    }) else {
        return;
    };
    assert_eq!(filtering_reaches(&lab, 41100), [true, true, true]);
    assert_eq!(external_ports(&lab, 41101), [41101; 3]);
    // A port no LAN socket sent from stays closed.
    assert!(
        !lab.udp_reaches(lab.lan(), 41102, lab.external_socket(41102))
            .unwrap()
    );
    miniupnpd_still_forwards(&lab, 41103);
}

#[test]
fn address_dependent_filtering_lets_any_port_of_a_known_address_in() {
    let Some(lab) = nat_lab(NatBehaviour {
        filtering: Filtering::AddressDependent,
        ..NatBehaviour::default()
    }) else {
        return;
    };
    assert_eq!(filtering_reaches(&lab, 41200), [true, true, false]);
    miniupnpd_still_forwards(&lab, 41201);
}

/// From the second LAN host, sends a datagram to `target` and says whether the socket
/// `receiver` got it, and from where.
fn hairpin_udp(
    lab: &Lab,
    receiver: &UdpSocket,
    target: SocketAddr,
    wait: Duration,
) -> Option<SocketAddr> {
    let sender = udp_on(&lab.lan_hosts()[1], "0.0.0.0:0".parse().unwrap());
    sender.send_to(b"hairpin", target).unwrap();
    receive(receiver, b"hairpin", wait)
}

/// From the second LAN host, connects to `target` while the first LAN host listens on
/// `port`: whether the connection reaches the listener and echoes.
fn hairpin_tcp(lab: &Lab, port: u16, target: SocketAddrV4) -> bool {
    let listener = lab
        .lan()
        .run(move || TcpListener::bind(("0.0.0.0", port)))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buffer = [0u8; 7];
            if stream.read_exact(&mut buffer).is_ok() {
                let _ = stream.write_all(&buffer);
            }
        }
    });
    let echoed = lab.lan_hosts()[1]
        .run(move || -> std::io::Result<bool> {
            let mut stream =
                TcpStream::connect_timeout(&SocketAddr::V4(target), Duration::from_secs(1))?;
            stream.set_read_timeout(Some(ARRIVES))?;
            stream.write_all(b"hairpin")?;
            let mut buffer = [0u8; 7];
            stream.read_exact(&mut buffer)?;
            Ok(&buffer == b"hairpin")
        })
        .unwrap()
        .unwrap_or(false);
    if !echoed {
        // Unblock the accept: a connection to the listener itself.
        let _ = lab
            .lan()
            .run(move || TcpStream::connect(("127.0.0.1", port)));
    }
    server.join().unwrap();
    echoed
}

#[test]
fn hairpinning_reaches_miniupnpds_and_native_mappings_at_the_external_address() {
    let Some(lab) = nat_lab(NatBehaviour {
        hairpinning: true,
        filtering: Filtering::EndpointIndependent,
        ..NatBehaviour::default()
    }) else {
        return;
    };
    let external = lab.external_address();
    // A miniupnpd mapping, TCP and UDP, from the other LAN host.
    miniupnpd_still_forwards(&lab, 41300);
    assert!(hairpin_tcp(&lab, 41300, SocketAddrV4::new(external, 41300)));
    let mapped = udp_on(lab.lan(), "0.0.0.0:41301".parse().unwrap());
    lab.lan()
        .exec(
            "natpmpc",
            &["-g", "192.168.77.1", "-a", "41301", "41301", "udp", "60"],
        )
        .unwrap();
    let from = hairpin_udp(&lab, &mapped, SocketAddr::from((external, 41301)), ARRIVES)
        .expect("a hairpinned datagram reaches miniupnpd's mapping");
    // It comes from the sender's external address, as a remote host's would.
    assert_eq!(from.ip(), IpAddr::V4(external));

    // A native mapping (no port mapping protocol), opened by a datagram out.
    let native = udp_on(lab.lan(), "0.0.0.0:41302".parse().unwrap());
    let wan = udp_on(lab.wan(), "44.0.0.2:5000".parse().unwrap());
    let public = seen_source(&native, &wan, b"open");
    assert!(hairpin_udp(&lab, &native, public, ARRIVES).is_some());
    // And a socket reaches its own mapping.
    native.send_to(b"hairpin", public).unwrap();
    assert_eq!(receive(&native, b"hairpin", ARRIVES), Some(public));
    // Traffic to the router's LAN address stays the router's: NAT-PMP still answers.
    let output = lab.lan().exec("natpmpc", &["-g", "192.168.77.1"]).unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("Public IP address : 44.0.0.1"));
}

/// Hairpinned traffic meets the filtering a remote host's would: with conntrack's, a
/// miniupnpd mapping and a socket's own mapping are reached, another host's native mapping
/// is not (the sender never was an endpoint of it).
#[test]
fn hairpinning_with_conntracks_filtering_reaches_only_what_a_remote_host_could() {
    // Dual-stack: IPv6 crosses the WAN bridge the hairpin loop needs, unchanged.
    let config = LabConfig {
        lan_hosts: 2,
        ..LabConfig::dual_stack().with_nat(NatBehaviour {
            hairpinning: true,
            ..NatBehaviour::default()
        })
    };
    let Some(lab) = Lab::for_test_with_tools(config, &["natpmpc"]) else {
        return;
    };
    add_second_wan_address(&lab);
    let own_v6 = lab.lan().address_v6().unwrap();
    let lan_v6 = udp_on(lab.lan(), SocketAddr::from((own_v6, 41312)));
    let wan_v6 = udp_on(
        lab.wan(),
        SocketAddr::from((lab.wan().address_v6().unwrap(), 5000)),
    );
    assert_eq!(
        seen_source(&lan_v6, &wan_v6, b"ipv6"),
        SocketAddr::from((own_v6, 41312))
    );
    let external = lab.external_address();
    miniupnpd_still_forwards(&lab, 41310);
    assert!(hairpin_tcp(&lab, 41310, SocketAddrV4::new(external, 41310)));
    let native = udp_on(lab.lan(), "0.0.0.0:41311".parse().unwrap());
    let wan = udp_on(lab.wan(), "44.0.0.2:5000".parse().unwrap());
    let public = seen_source(&native, &wan, b"open");
    native.send_to(b"hairpin", public).unwrap();
    assert_eq!(receive(&native, b"hairpin", ARRIVES), Some(public));
    assert!(hairpin_udp(&lab, &native, public, DROPPED).is_none());
}

#[test]
fn without_hairpinning_the_external_address_does_not_lead_back_into_the_lan() {
    let Some(lab) = nat_lab(NatBehaviour {
        filtering: Filtering::EndpointIndependent,
        ..NatBehaviour::default()
    }) else {
        return;
    };
    let external = lab.external_address();
    miniupnpd_still_forwards(&lab, 41400);
    assert!(!hairpin_tcp(
        &lab,
        41400,
        SocketAddrV4::new(external, 41400)
    ));
    let native = udp_on(lab.lan(), "0.0.0.0:41401".parse().unwrap());
    let wan = udp_on(lab.wan(), "44.0.0.2:5000".parse().unwrap());
    let public = seen_source(&native, &wan, b"open");
    assert!(hairpin_udp(&lab, &native, public, DROPPED).is_none());
    native.send_to(b"hairpin", public).unwrap();
    assert_eq!(receive(&native, b"hairpin", DROPPED), None);
}

/// A NAT-PMP request (RFC 6886) from `port` on the first LAN host: opcode 0 (public address)
/// or 1/2 (map UDP/TCP `port` to the same external port for 60 s). Returns the response's
/// opcode, result code and, for a public address response, the address.
fn natpmp(lab: &Lab, opcode: u8, port: u16) -> (u8, u16, Option<Ipv4Addr>) {
    let mut request = vec![0, opcode];
    if opcode != 0 {
        request.extend_from_slice(&[0, 0]);
        request.extend_from_slice(&port.to_be_bytes());
        request.extend_from_slice(&port.to_be_bytes());
        request.extend_from_slice(&60u32.to_be_bytes());
    }
    lab.lan()
        .run(move || {
            let socket = UdpSocket::bind(("0.0.0.0", port)).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(700)))
                .unwrap();
            let mut buffer = [0u8; 64];
            for _ in 0..3 {
                socket.send_to(&request, "192.168.77.1:5351").unwrap();
                if let Ok((n, _)) = socket.recv_from(&mut buffer) {
                    assert!(n >= 8, "a NAT-PMP response of {n} bytes");
                    let result = u16::from_be_bytes([buffer[2], buffer[3]]);
                    let address = (buffer[1] == 128 && n >= 12)
                        .then(|| Ipv4Addr::new(buffer[8], buffer[9], buffer[10], buffer[11]));
                    return (buffer[1], result, address);
                }
            }
            panic!("no NAT-PMP response");
        })
        .unwrap()
}

/// A PCP MAP request (RFC 6887) for UDP `port` from the first LAN host, over IPv4.
fn pcp_map_v4(lab: &Lab, port: u16) -> Response {
    let client = IpAddr::V4(lab.lan().address());
    let request = Request::map(
        client,
        MapData::new(Nonce([7; 12]), Protocol::Udp, port, client),
        60,
    );
    let bytes = request.encode().unwrap();
    lab.lan()
        .run(move || {
            let socket = UdpSocket::bind(("0.0.0.0", port)).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(700)))
                .unwrap();
            let mut buffer = [0u8; 1100];
            for _ in 0..3 {
                socket.send_to(&bytes, "192.168.77.1:5351").unwrap();
                if let Ok((n, _)) = socket.recv_from(&mut buffer) {
                    return Response::decode(&buffer[..n]).unwrap();
                }
            }
            panic!("no PCP response");
        })
        .unwrap()
}

/// A SOAP action on miniupnpd's WANIPConnection:2 control URL; returns the HTTP response.
fn soap(lab: &Lab, action: &str, arguments: &str) -> String {
    let body = format!(
        "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
         <u:{action} xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:2\">{arguments}\
         </u:{action}></s:Body></s:Envelope>"
    );
    let request = format!(
        "POST /ctl/IPConn HTTP/1.1\r\nHost: 192.168.77.1:5000\r\n\
         Content-Type: text/xml; charset=\"utf-8\"\r\n\
         SOAPAction: \"urn:schemas-upnp-org:service:WANIPConnection:2#{action}\"\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    lab.lan()
        .run(move || {
            let mut stream = TcpStream::connect("192.168.77.1:5000").unwrap();
            stream.set_read_timeout(Some(ARRIVES)).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut response = String::new();
            let _ = stream.read_to_string(&mut response);
            response
        })
        .unwrap()
}

/// What miniupnpd 2.3.1 answers when its WAN address is a carrier-grade (or private) one,
/// as a router behind a provider's NAT has: every protocol refuses every mapping, and only
/// PCP names the address. The internet sees the outer NAT's address.
#[test]
fn a_router_behind_an_outer_nat_refuses_every_mapping() {
    for outer in [OuterNat::CarrierGrade, OuterNat::Private] {
        let config = LabConfig::default().with_stun().with_outer_nat(outer);
        let Some(lab) = Lab::for_test_with_tools(config, &["turnserver"]) else {
            return;
        };
        assert_eq!(lab.external_address(), outer.router_address());
        assert_eq!(lab.router().address(), outer.router_address());
        assert_eq!(lab.public_address(), Ipv4Addr::new(44, 0, 0, 1));
        assert_eq!(lab.outer_nat().unwrap().address(), lab.public_address());
        assert!(
            lab.miniupnpd_log()
                .contains("Port forwarding is impossible"),
            "{}",
            lab.miniupnpd_log()
        );

        // NAT-PMP: result 3 (network failure) to the public address request and to a mapping.
        assert_eq!(
            natpmp(&lab, 0, 42000),
            (128, 3, Some(Ipv4Addr::UNSPECIFIED))
        );
        let (opcode, result, _) = natpmp(&lab, 1, 42001);
        assert_eq!((opcode, result), (129, 3));
        // PCP: NO_RESOURCES, with the router's own (carrier-grade) address.
        let answer = pcp_map_v4(&lab, 42002);
        assert_eq!(answer.result, ResultCode::NoResources, "{answer:?}");
        match answer.data {
            ResponseData::Map(data) => {
                assert_eq!(data.external_address, IpAddr::V4(outer.router_address()))
            }
            other => panic!("a MAP response without MAP data: {other:?}"),
        }
        // UPnP: the connection is "Connected", the external address empty, and
        // AddPortMapping fails.
        let status = soap(&lab, "GetStatusInfo", "");
        assert!(
            status.contains("<NewConnectionStatus>Connected</NewConnectionStatus>"),
            "{status}"
        );
        let address = soap(&lab, "GetExternalIPAddress", "");
        assert!(
            address.contains("<NewExternalIPAddress></NewExternalIPAddress>"),
            "{address}"
        );
        let add = soap(
            &lab,
            "AddPortMapping",
            "<NewRemoteHost></NewRemoteHost><NewExternalPort>42003</NewExternalPort>\
             <NewProtocol>TCP</NewProtocol><NewInternalPort>42003</NewInternalPort>\
             <NewInternalClient>192.168.77.10</NewInternalClient><NewEnabled>1</NewEnabled>\
             <NewPortMappingDescription>x</NewPortMappingDescription>\
             <NewLeaseDuration>60</NewLeaseDuration>",
        );
        assert!(add.contains("<errorCode>501</errorCode>"), "{add}");
        assert!(lab.redirections().unwrap().is_empty());

        // The STUN server sees the outer NAT's address.
        let server = lab.stun_server().unwrap();
        let (response, _) = lab
            .lan()
            .run(move || binding(&UdpSocket::bind("0.0.0.0:42004").unwrap(), server, 0))
            .unwrap()
            .expect("a Binding response through both NATs");
        assert_eq!(
            response.xor_mapped,
            Some(SocketAddr::from((lab.public_address(), 42004)))
        );
    }
}

#[test]
fn coturn_answers_over_ipv6_in_a_dual_stack_lab() {
    let Some(lab) = Lab::for_test_with_tools(LabConfig::dual_stack().with_stun(), &["turnserver"])
    else {
        return;
    };
    let server = lab.stun_server_v6().unwrap();
    let alternate = lab.stun_alternate_v6().unwrap();
    assert_eq!(server, "[2001:db8:77::2]:3478".parse().unwrap());
    assert_eq!(alternate, "[2001:db8:77::3]:3479".parse().unwrap());
    let own = lab.lan().address_v6().unwrap();
    let (response, from) = lab
        .lan()
        .run(move || binding(&UdpSocket::bind((own, 40100)).unwrap(), server, 0))
        .unwrap()
        .unwrap_or_else(|| panic!("no Binding response; coturn's log:\n{}", lab.stun_log()));
    assert_eq!(from, server);
    // No NAT on IPv6: the server sees the LAN host's own address.
    assert_eq!(response.xor_mapped, Some(SocketAddr::from((own, 40100))));
    assert_eq!(response.other_address, Some(alternate));
    // IPv4 is there as well.
    assert!(lab.stun_server().is_some());
    let (response, _) = lab
        .lan()
        .run(move || {
            binding(
                &UdpSocket::bind("0.0.0.0:40101").unwrap(),
                "44.0.0.2:3478".parse().unwrap(),
                0,
            )
        })
        .unwrap()
        .expect("a Binding response over IPv4");
    assert_eq!(
        response.xor_mapped,
        Some(SocketAddr::from((lab.external_address(), 40101)))
    );
}

/// RFC 5780's tests against coturn see each behaviour the router was built with: the mapped
/// address toward the server's other address and port (mapping), and which CHANGE-REQUEST
/// answers come back (filtering).
#[test]
fn coturn_observes_each_mapping_and_filtering_behaviour() {
    let cases = [
        (
            Mapping::PortPreserving,
            Filtering::AddressAndPortDependent,
            true,
            [false, false],
        ),
        (
            Mapping::PortPreserving,
            Filtering::AddressDependent,
            true,
            [false, true],
        ),
        (
            Mapping::PortPreserving,
            Filtering::EndpointIndependent,
            true,
            [true, true],
        ),
        (
            Mapping::FullyRandom,
            Filtering::AddressAndPortDependent,
            false,
            [false, false],
        ),
    ];
    for (mapping, filtering, independent, changes) in cases {
        let nat = NatBehaviour {
            mapping,
            filtering,
            hairpinning: false,
        };
        let config = LabConfig::default().with_stun().with_nat(nat);
        let Some(lab) = Lab::for_test_with_tools(config, &["turnserver"]) else {
            return;
        };
        let server = lab.stun_server().unwrap();
        let alternate = lab.stun_alternate().unwrap();
        let (seen, arrived) = lab
            .lan()
            .run(move || {
                // Mapping: test I toward the server, then toward its other address and port.
                let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
                let first = binding(&socket, server, 0).unwrap().0.xor_mapped.unwrap();
                let other = SocketAddr::new(alternate.ip(), server.port());
                let second = binding(&socket, other, 0).unwrap().0.xor_mapped.unwrap();
                let third = binding(&socket, alternate, 0)
                    .unwrap()
                    .0
                    .xor_mapped
                    .unwrap();
                // Filtering, from a fresh socket (the mapping tests opened the other
                // endpoints): change IP and port, then change port only.
                let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
                binding(&socket, server, 0).unwrap();
                let both = binding(&socket, server, 0x06);
                let port = binding(&socket, server, 0x02);
                if let Some((_, from)) = &both {
                    assert_eq!(*from, alternate);
                }
                if let Some((_, from)) = &port {
                    assert_eq!(*from, SocketAddr::new(server.ip(), alternate.port()));
                }
                ([first, second, third], [both.is_some(), port.is_some()])
            })
            .unwrap();
        let same = seen[0] == seen[1] && seen[1] == seen[2];
        assert_eq!(same, independent, "{mapping:?}: mapped addresses {seen:?}");
        assert_eq!(arrived, changes, "{filtering:?}: CHANGE-REQUEST answers");
    }
}

/// miniupnpd asking the lab's STUN server (`ext_perform_stun`) behind a carrier-grade NAT:
/// it reports the outer NAT's public address to every protocol, and still refuses every
/// mapping.
#[test]
fn a_router_that_asks_stun_reports_the_outer_public_address_and_still_refuses() {
    let config = LabConfig::default()
        .with_router_stun()
        .with_outer_nat(OuterNat::CarrierGrade);
    let Some(lab) = Lab::for_test_with_tools(config, &["turnserver"]) else {
        return;
    };
    let public = lab.public_address();
    assert!(
        lab.miniupnpd_log()
            .contains("behind restrictive or symmetric NAT with public IP address 44.0.0.1"),
        "{}",
        lab.miniupnpd_log()
    );
    assert_eq!(natpmp(&lab, 0, 42100), (128, 0, Some(public)));
    let (opcode, result, _) = natpmp(&lab, 1, 42101);
    assert_eq!((opcode, result), (129, 3));
    let answer = pcp_map_v4(&lab, 42102);
    assert_eq!(answer.result, ResultCode::NoResources, "{answer:?}");
    match answer.data {
        ResponseData::Map(data) => assert_eq!(data.external_address, IpAddr::V4(public)),
        other => panic!("a MAP response without MAP data: {other:?}"),
    }
    let address = soap(&lab, "GetExternalIPAddress", "");
    assert!(
        address.contains("<NewExternalIPAddress>44.0.0.1</NewExternalIPAddress>"),
        "{address}"
    );
    let add = soap(
        &lab,
        "AddPortMapping",
        "<NewRemoteHost></NewRemoteHost><NewExternalPort>42103</NewExternalPort>\
         <NewProtocol>TCP</NewProtocol><NewInternalPort>42103</NewInternalPort>\
         <NewInternalClient>192.168.77.10</NewInternalClient><NewEnabled>1</NewEnabled>\
         <NewPortMappingDescription>x</NewPortMappingDescription>\
         <NewLeaseDuration>60</NewLeaseDuration>",
    );
    assert!(add.contains("<errorCode>501</errorCode>"), "{add}");
    assert!(lab.redirections().unwrap().is_empty());
}

/// coturn stops and starts like miniupnpd: stopped, a Binding request goes unanswered.
#[test]
fn the_stun_server_stops_and_starts_again() {
    let Some(lab) = Lab::for_test_with_tools(LabConfig::default().with_stun(), &["turnserver"])
    else {
        return;
    };
    let server = lab.stun_server().unwrap();
    let ask = |lab: &Lab| {
        lab.lan()
            .run(move || binding(&UdpSocket::bind("0.0.0.0:0").unwrap(), server, 0).is_some())
            .unwrap()
    };
    assert!(lab.stun_running());
    assert!(ask(&lab));
    lab.stop_stun_server().unwrap();
    assert!(!lab.stun_running());
    assert!(!ask(&lab), "a stopped STUN server answered");
    lab.start_stun_server().unwrap();
    assert!(lab.stun_running());
    assert!(ask(&lab));
    // A lab without a STUN server has none to start.
    let Some(plain) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    assert!(plain.stun_server().is_none());
    assert!(!plain.stun_running());
    assert!(plain.start_stun_server().is_err());
}

/// The WAN host's packet counter sees what crosses the router and nothing that stays at the
/// gateway.
#[test]
fn the_wan_packet_counter_sees_only_what_reaches_the_internet() {
    let Some(lab) = Lab::for_test_with_tools(LabConfig::dual_stack(), &["natpmpc"]) else {
        return;
    };
    lab.count_wan_packets().unwrap();
    let output = lab.lan().exec("natpmpc", &["-g", "192.168.77.1"]).unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("Public IP address"));
    assert_eq!(lab.wan_packets().unwrap(), 0);
    let wan = udp_on(lab.wan(), "44.0.0.2:5000".parse().unwrap());
    let lan = udp_on(lab.lan(), "0.0.0.0:0".parse().unwrap());
    seen_source(&lan, &wan, b"one");
    assert_eq!(lab.wan_packets().unwrap(), 1);
    let wan_v6 = udp_on(
        lab.wan(),
        SocketAddr::from((lab.wan().address_v6().unwrap(), 5000)),
    );
    let lan_v6 = udp_on(lab.lan(), "[::]:0".parse().unwrap());
    seen_source(&lan_v6, &wan_v6, b"two");
    assert_eq!(lab.wan_packets().unwrap(), 2);
    lab.count_wan_packets().unwrap();
    assert_eq!(lab.wan_packets().unwrap(), 0);
}
