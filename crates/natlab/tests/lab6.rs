//! Lab tests of the dual-stack lab: IPv6 beside IPv4, the router's IPv6 firewall, and the
//! pinholes the real miniupnpd 2.3.1 opens in it through UPnP (`WANIPv6FirewallControl:1`,
//! driven by Debian's `upnpc -6`) and through PCP MAP over IPv6 (requests encoded with
//! natpmp-proto's codec and sent from a plain socket).

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use natlab::{
    Host, LAN_PREFIX_V6, Lab, LabConfig, NATPMP_PORT, Pinhole, ROUTER_LAN_ADDRESS_V6,
    ROUTER_LAN_LINK_LOCAL_V6, ROUTER_WAN_ADDRESS_V6, Transport, UPNP_HTTP_PORT,
    WAN_HOST_ADDRESS_V6,
};
use natpmp_proto::pcp::{MapData, Request, Response, ResultCode};
use natpmp_proto::{Nonce, Protocol};

/// miniupnpd's description, at the router's global LAN address.
fn root_desc() -> String {
    format!("http://[{ROUTER_LAN_ADDRESS_V6}]:{UPNP_HTTP_PORT}/rootDesc.xml")
}

/// `upnpc -6 -u <description> ARGS...` on `host`: its standard output and whether it exited 0.
fn upnpc(host: &Host, args: &[&str]) -> String {
    let desc = root_desc();
    let mut full = vec!["-6", "-u", desc.as_str()];
    full.extend_from_slice(args);
    let output = host.command("upnpc").args(&full).output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Adds a pinhole with `upnpc -6 -A` (any remote host and port, one hour) and returns its id.
fn add_pinhole(lab: &Lab, host: &Host, transport: &str, port: u16) -> String {
    let internal = host.address_v6().unwrap().to_string();
    let text = upnpc(
        host,
        &[
            "-A",
            "",
            "0",
            &internal,
            &port.to_string(),
            transport,
            "3600",
        ],
    );
    let id = text
        .lines()
        .find_map(|line| line.split_once("Pinhole ID = ").map(|(_, id)| id.trim()))
        .unwrap_or_else(|| panic!("upnpc said: {text}\nminiupnpd: {}", lab.miniupnpd_log()));
    id.to_owned()
}

fn lan_pinhole(host: &Host, transport: Transport, port: u16) -> Pinhole {
    Pinhole {
        transport,
        remote_address: None,
        remote_port: None,
        internal_address: host.address_v6().unwrap(),
        internal_port: port,
    }
}

fn sorted_pinholes(lab: &Lab) -> Vec<Pinhole> {
    let mut pinholes = lab.pinholes().unwrap();
    pinholes.sort_by_key(|p| p.internal_port);
    pinholes
}

/// Sends one PCP MAP request from `host` (a plain UDP socket bound to `bind`) to `server`
/// and returns the decoded answer, or `None` when nothing came back in three tries.
fn pcp_map(
    host: &Host,
    bind: SocketAddrV6,
    server: SocketAddrV6,
    request: &Request,
) -> Option<Response> {
    let bytes = request.encode().unwrap();
    host.run(move || {
        let socket = UdpSocket::bind(bind).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        let mut buffer = [0u8; 1100];
        for _ in 0..3 {
            socket.send_to(&bytes, server).unwrap();
            if let Ok((n, from)) = socket.recv_from(&mut buffer) {
                assert_eq!(from.port(), NATPMP_PORT);
                return Some(Response::decode(&buffer[..n]).unwrap());
            }
        }
        None
    })
    .unwrap()
}

fn map_request(
    client: Ipv6Addr,
    nonce: u8,
    protocol: Protocol,
    port: u16,
    lifetime: u32,
) -> Request {
    let client = IpAddr::V6(client);
    Request::map(
        client,
        MapData::new(Nonce([nonce; 12]), protocol, port, client),
        lifetime,
    )
}

fn any_port() -> SocketAddrV6 {
    SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0)
}

fn router_pcp() -> SocketAddrV6 {
    SocketAddrV6::new(ROUTER_LAN_ADDRESS_V6, NATPMP_PORT, 0, 0)
}

#[test]
fn every_host_has_ipv6_and_the_lan_reaches_the_wan_without_nat() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lan_v6 = lab.lan().address_v6().unwrap();
    assert_eq!(lan_v6, "2001:db8:77:1::10".parse::<Ipv6Addr>().unwrap());
    assert_eq!(lan_v6.segments()[..4], LAN_PREFIX_V6.segments()[..4]);
    assert_eq!(lab.wan().address_v6(), Some(WAN_HOST_ADDRESS_V6));
    assert_eq!(lab.router().address_v6(), Some(ROUTER_WAN_ADDRESS_V6));
    assert_eq!(lab.router_lan_address_v6(), Some(ROUTER_LAN_ADDRESS_V6));
    assert_eq!(lab.router_link_local_v6(), Some(ROUTER_LAN_LINK_LOCAL_V6));
    assert_eq!(lab.wan_address_v6(), Some(ROUTER_WAN_ADDRESS_V6));
    let routes = lab
        .lan()
        .exec("ip", &["-6", "route", "show", "default"])
        .unwrap();
    assert!(
        String::from_utf8_lossy(&routes.stdout).contains("via fe80::1 dev eth0"),
        "{routes:?}"
    );

    // A LAN host connects out; the WAN host sees its own address (routed, not masqueraded).
    let listener = lab
        .wan()
        .run(|| TcpListener::bind((Ipv6Addr::UNSPECIFIED, 4300)).unwrap())
        .unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, peer) = listener.accept().unwrap();
        stream.write_all(b"seen").unwrap();
        peer
    });
    lab.lan()
        .run(|| {
            let target = SocketAddr::from((WAN_HOST_ADDRESS_V6, 4300));
            let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(2)).unwrap();
            let mut reply = [0u8; 4];
            stream.read_exact(&mut reply).unwrap();
            assert_eq!(&reply, b"seen");
        })
        .unwrap();
    assert_eq!(server.join().unwrap().ip(), IpAddr::V6(lan_v6));

    // The WAN host cannot open a connection in, and nothing is open yet.
    assert!(lab.pinholes().unwrap().is_empty());
    assert!(!lab.tcp_reaches_v6(lab.lan(), 4000).unwrap());
    assert!(!lab.udp_reaches_v6(lab.lan(), 4001).unwrap());
    // IPv4 is what it was: a NAT with nothing mapped.
    assert!(
        !lab.tcp_reaches(lab.lan(), 4000, lab.external_socket(4000))
            .unwrap()
    );
}

#[test]
fn upnp_pinholes_open_and_close_the_ipv6_firewall() {
    let Some(lab) = Lab::for_test_with_tools(LabConfig::default(), &["upnpc"]) else {
        return;
    };
    let lan = lab.lan();
    assert!(!lab.tcp_reaches_v6(lan, 4000).unwrap());
    assert!(!lab.udp_reaches_v6(lan, 4001).unwrap());

    // miniupnpd picks br0's global address for control points by itself.
    assert!(
        lab.miniupnpd_log().contains(&format!(
            "HTTP IPv6 address given to control points : [{ROUTER_LAN_ADDRESS_V6}]"
        )),
        "{}",
        lab.miniupnpd_log()
    );
    let status = upnpc(lan, &["-S"]);
    assert!(
        status.contains("Inbound Pinhole Allowed: Yes"),
        "upnpc said: {status}"
    );
    let tcp = add_pinhole(&lab, lan, "TCP", 4000);
    let udp = add_pinhole(&lab, lan, "UDP", 4001);
    assert_ne!(tcp, udp);
    assert_eq!(
        sorted_pinholes(&lab),
        vec![
            lan_pinhole(lan, Transport::Tcp, 4000),
            lan_pinhole(lan, Transport::Udp, 4001)
        ]
    );
    // Pinholes are filter rules only: no IPv4 redirection appears.
    assert!(lab.redirections().unwrap().is_empty());
    assert!(lab.tcp_reaches_v6(lan, 4000).unwrap());
    assert!(lab.udp_reaches_v6(lan, 4001).unwrap());
    // Each pinhole opens its own protocol and port only.
    assert!(!lab.udp_reaches_v6(lan, 4000).unwrap());

    let deleted = upnpc(lan, &["-D", &tcp]);
    assert!(deleted.contains("returned : 0"), "upnpc said: {deleted}");
    upnpc(lan, &["-D", &udp]);
    assert!(lab.pinholes().unwrap().is_empty());
    assert!(!lab.tcp_reaches_v6(lan, 4000).unwrap());
    assert!(!lab.udp_reaches_v6(lan, 4001).unwrap());
}

#[test]
fn upnp_pinholes_follow_miniupnpds_rules() {
    let config = LabConfig {
        lan_hosts: 2,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test_with_tools(config, &["upnpc"]) else {
        return;
    };
    let lan = lab.lan();
    let other = &lab.lan_hosts()[1];

    // IPv6 SSDP discovery (inside the lab's LAN) finds the IGDv2 at the global address.
    let found = lan
        .command("upnpc")
        .args(["-6", "-m", "eth0", "-S"])
        .output()
        .unwrap();
    let found = String::from_utf8_lossy(&found.stdout);
    assert!(
        found.contains(&format!(
            "Found valid IGD : http://[{ROUTER_LAN_ADDRESS_V6}]:5000/"
        )),
        "upnpc said: {found}"
    );

    // Secure mode: a pinhole for another host's address is refused, as is a port below 1024.
    let for_other = upnpc(
        lan,
        &[
            "-A",
            "",
            "0",
            &other.address_v6().unwrap().to_string(),
            "4400",
            "TCP",
            "3600",
        ],
    );
    assert!(for_other.contains("606"), "upnpc said: {for_other}");
    let low = upnpc(
        lan,
        &[
            "-A",
            "",
            "0",
            &lan.address_v6().unwrap().to_string(),
            "80",
            "TCP",
            "3600",
        ],
    );
    assert!(low.contains("606"), "upnpc said: {low}");
    assert!(lab.pinholes().unwrap().is_empty());

    // A pinhole for one remote host names it in the rule, and lets that host in.
    let remote = WAN_HOST_ADDRESS_V6.to_string();
    let internal = lan.address_v6().unwrap().to_string();
    let text = upnpc(lan, &["-A", &remote, "0", &internal, "4401", "TCP", "3600"]);
    assert!(text.contains("Pinhole ID"), "upnpc said: {text}");
    assert_eq!(
        lab.pinholes().unwrap(),
        vec![Pinhole {
            remote_address: Some(WAN_HOST_ADDRESS_V6),
            ..lan_pinhole(lan, Transport::Tcp, 4401)
        }]
    );
    assert!(lab.tcp_reaches_v6(lan, 4401).unwrap());
    // The other LAN host is still closed.
    assert!(!lab.tcp_reaches_v6(other, 4401).unwrap());
}

#[test]
fn pcp_map_over_ipv6_opens_a_pinhole_and_lifetime_zero_closes_it() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lan = lab.lan();
    let lan_v6 = lan.address_v6().unwrap();
    assert!(!lab.tcp_reaches_v6(lan, 4100).unwrap());

    for (nonce, protocol, port) in [(1, Protocol::Tcp, 4100), (2, Protocol::Udp, 4101)] {
        let answer = pcp_map(
            lan,
            any_port(),
            router_pcp(),
            &map_request(lan_v6, nonce, protocol, port, 600),
        )
        .unwrap_or_else(|| panic!("no PCP answer; miniupnpd: {}", lab.miniupnpd_log()));
        assert_eq!(answer.result, ResultCode::Success, "{answer:?}");
        assert_eq!(answer.lifetime, 600);
        let map = answer.map().unwrap();
        assert_eq!(map.nonce, Nonce([nonce; 12]));
        assert_eq!(map.internal_port, port);
        assert_eq!(map.external_port, port);
        // No NAT: the "external" address miniupnpd reports is the host's own.
        assert_eq!(map.external_address, IpAddr::V6(lan_v6));
    }
    assert_eq!(
        sorted_pinholes(&lab),
        vec![
            lan_pinhole(lan, Transport::Tcp, 4100),
            lan_pinhole(lan, Transport::Udp, 4101)
        ]
    );
    assert!(lab.tcp_reaches_v6(lan, 4100).unwrap());
    assert!(lab.udp_reaches_v6(lan, 4101).unwrap());

    // Deleting needs the mapping's nonce: another one is NOT_AUTHORIZED and changes nothing.
    let wrong = pcp_map(
        lan,
        any_port(),
        router_pcp(),
        &map_request(lan_v6, 9, Protocol::Tcp, 4100, 0),
    )
    .unwrap();
    assert_eq!(wrong.result, ResultCode::NotAuthorized);
    assert_eq!(lab.pinholes().unwrap().len(), 2);
    let deleted = pcp_map(
        lan,
        any_port(),
        router_pcp(),
        &map_request(lan_v6, 1, Protocol::Tcp, 4100, 0),
    )
    .unwrap();
    assert_eq!(deleted.result, ResultCode::Success);
    assert_eq!(deleted.lifetime, 0);
    assert_eq!(
        lab.pinholes().unwrap(),
        vec![lan_pinhole(lan, Transport::Udp, 4101)]
    );
    assert!(!lab.tcp_reaches_v6(lan, 4100).unwrap());
}

#[test]
fn pcp_over_ipv6_checks_the_source_address_and_not_the_port_range() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lan = lab.lan();
    let lan_v6 = lan.address_v6().unwrap();
    // The scope of fe80::1 is the LAN host's eth0 (`ip netns exec` mounts that namespace's
    // /sys, so the index read is the namespace's own).
    let index = lan.exec("cat", &["/sys/class/net/eth0/ifindex"]).unwrap();
    let scope: u32 = String::from_utf8_lossy(&index.stdout)
        .trim()
        .parse()
        .unwrap();
    let link_local = SocketAddrV6::new(ROUTER_LAN_LINK_LOCAL_V6, NATPMP_PORT, 0, scope);

    // Sent to the router's link-local address from an unbound socket, the request leaves from
    // the host's link-local address, which differs from the global one it names.
    let mismatch = pcp_map(
        lan,
        any_port(),
        link_local,
        &map_request(lan_v6, 3, Protocol::Tcp, 4200, 600),
    )
    .unwrap();
    assert_eq!(mismatch.result, ResultCode::AddressMismatch);
    // Bound to the global address, the same request to the link-local address succeeds.
    let bound = pcp_map(
        lan,
        SocketAddrV6::new(lan_v6, 0, 0, 0),
        link_local,
        &map_request(lan_v6, 3, Protocol::Tcp, 4200, 600),
    )
    .unwrap();
    assert_eq!(bound.result, ResultCode::Success);
    // Naming another host's address: ADDRESS_MISMATCH too.
    let other: Ipv6Addr = "2001:db8:77:1::99".parse().unwrap();
    let foreign = pcp_map(
        lan,
        any_port(),
        router_pcp(),
        &map_request(other, 4, Protocol::Tcp, 4201, 600),
    )
    .unwrap();
    assert_eq!(foreign.result, ResultCode::AddressMismatch);
    // Unlike UPnP (and unlike its own IPv4 `allow` rules), PCP opens a port below 1024.
    let low = pcp_map(
        lan,
        any_port(),
        router_pcp(),
        &map_request(lan_v6, 5, Protocol::Tcp, 80, 600),
    )
    .unwrap();
    assert_eq!(low.result, ResultCode::Success);
    assert!(lab.tcp_reaches_v6(lan, 80).unwrap());

    // miniupnpd listens on [::]:5351, but ignores requests from outside its LAN.
    let from_wan = pcp_map(
        lab.wan(),
        any_port(),
        SocketAddrV6::new(ROUTER_WAN_ADDRESS_V6, NATPMP_PORT, 0, 0),
        &map_request(WAN_HOST_ADDRESS_V6, 6, Protocol::Tcp, 4202, 600),
    );
    assert!(from_wan.is_none(), "{from_wan:?}");
    assert!(
        lab.miniupnpd_log().contains("not from a LAN, ignoring"),
        "{}",
        lab.miniupnpd_log()
    );
}

#[test]
fn pinholes_survive_a_restart_and_not_a_reboot() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lan = lab.lan();
    let lan_v6 = lan.address_v6().unwrap();
    let open = |nonce, port| {
        let answer = pcp_map(
            lan,
            any_port(),
            router_pcp(),
            &map_request(lan_v6, nonce, Protocol::Tcp, port, 600),
        )
        .unwrap();
        assert_eq!(answer.result, ResultCode::Success);
    };
    open(7, 4500);
    // A clean stop leaves the rules in place (miniupnpd does not write pinholes to its lease
    // file), and a started miniupnpd still knows them.
    lab.stop_router().unwrap();
    assert_eq!(lab.pinholes().unwrap().len(), 1);
    assert!(lab.tcp_reaches_v6(lan, 4500).unwrap());
    lab.start_router().unwrap();
    open(7, 4500);
    assert_eq!(lab.pinholes().unwrap().len(), 1);

    lab.reboot_router().unwrap();
    assert!(lab.pinholes().unwrap().is_empty());
    assert!(!lab.tcp_reaches_v6(lan, 4500).unwrap());
    open(8, 4501);
    assert!(lab.tcp_reaches_v6(lan, 4501).unwrap());
}

#[test]
fn an_impairable_lan_carries_ipv6() {
    let config = LabConfig {
        impairable_lan: true,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test(config) else {
        return;
    };
    let lan = lab.lan();
    let lan_v6 = lan.address_v6().unwrap();
    // Neighbour discovery and PCP cross the userspace wire.
    let answer = pcp_map(
        lan,
        any_port(),
        router_pcp(),
        &map_request(lan_v6, 1, Protocol::Udp, 4600, 600),
    )
    .unwrap();
    assert_eq!(answer.result, ResultCode::Success);
    assert!(lab.udp_reaches_v6(lan, 4600).unwrap());
}

#[test]
fn an_ipv4_only_lab_has_no_ipv6() {
    let config = LabConfig {
        ipv6: false,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test(config) else {
        return;
    };
    assert_eq!(lab.lan().address_v6(), None);
    assert_eq!(lab.router_lan_address_v6(), None);
    assert!(lab.tcp_reaches_v6(lab.lan(), 4000).is_err());
    let routes = lab
        .lan()
        .exec("ip", &["-6", "route", "show", "default"])
        .unwrap();
    assert!(routes.stdout.is_empty(), "{routes:?}");
    let conf = std::fs::read_to_string(lab.dir().join("miniupnpd.conf")).unwrap();
    assert!(conf.contains("ipv6_disable=yes"), "{conf}");
}
