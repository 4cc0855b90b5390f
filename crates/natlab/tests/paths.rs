//! Lab tests of the lab's extra paths: each topology is what it claims (the routes the host's
//! kernel picks, which router carries its traffic, miniupnpd at each router, a mapping made
//! with `natpmpc` at a given router carrying a WAN connection or not).

#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::time::Duration;

use natlab::{BridgeKind, Host, Lab, LabConfig, RouterHandle, VpnMode};

/// Maps `port` (TCP, same port both sides) with `natpmpc` on `host` at `gateway`; returns
/// natpmpc's output, asserting it mapped.
fn natpmpc_map(host: &Host, gateway: Ipv4Addr, port: u16) -> String {
    let port = port.to_string();
    let gateway = gateway.to_string();
    let output = host
        .exec(
            "natpmpc",
            &["-g", &gateway, "-a", &port, &port, "tcp", "60"],
        )
        .expect("natpmpc runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(text.contains("Mapped public port"), "natpmpc said: {text}");
    text
}

fn ports(router: &RouterHandle<'_>) -> Vec<(u16, Ipv4Addr)> {
    let mut ports: Vec<_> = router
        .redirections()
        .unwrap()
        .iter()
        .map(|r| (r.external_port, r.internal_address))
        .collect();
    ports.sort();
    ports
}

fn ip4(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

#[test]
fn two_uplinks_prefer_the_first_and_fall_back_to_the_second() {
    let config = LabConfig::default().with_second_uplink();
    let Some(lab) = Lab::for_test_with_tools(config, &["natpmpc"]) else {
        return;
    };
    let host = lab.lan();
    let (first, second) = (lab.uplink(1).unwrap(), lab.uplink(2).unwrap());
    assert!(first.running() && second.running());
    assert_eq!(second.lan_address(), ip4("192.168.78.1"));
    assert_eq!(second.external_address(), ip4("45.0.0.1"));
    assert!(lab.uplink(3).is_none());

    let route = host.route_to(lab.wan().address()).unwrap();
    assert_eq!(route.interface, "eth0");
    assert_eq!(route.gateway, Some(ip4("192.168.77.1")));
    assert_eq!(route.source, Some(host.address()));
    assert_eq!(lab.source_seen_by_wan(host).unwrap(), Some(ip4("44.0.0.1")));
    let routes = host
        .exec("ip", &["-4", "route", "show", "default"])
        .unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout);
    assert!(
        routes.contains("via 192.168.77.1 dev eth0 metric 100"),
        "{routes}"
    );
    assert!(
        routes.contains("via 192.168.78.1 dev eth1 metric 600"),
        "{routes}"
    );

    // A mapping at each router lands there and only there.
    natpmpc_map(host, first.lan_address(), 4300);
    let said = natpmpc_map(host, second.lan_address(), 4301);
    assert!(said.contains("Public IP address : 45.0.0.1"), "{said}");
    assert_eq!(ports(&first), vec![(4300, ip4("192.168.77.10"))]);
    assert_eq!(ports(&second), vec![(4301, ip4("192.168.78.10"))]);
    assert!(
        lab.tcp_reaches(host, 4300, first.external_socket(4300))
            .unwrap()
    );
    // The second router forwards, but the host's reply leaves by the preferred uplink.
    assert!(
        !lab.tcp_reaches(host, 4301, second.external_socket(4301))
            .unwrap()
    );

    lab.set_uplink(1, false).unwrap();
    let route = host.route_to(lab.wan().address()).unwrap();
    assert_eq!(route.interface, "eth1");
    assert_eq!(route.gateway, Some(ip4("192.168.78.1")));
    assert_eq!(lab.source_seen_by_wan(host).unwrap(), Some(ip4("45.0.0.1")));
    assert!(
        lab.tcp_reaches(host, 4301, second.external_socket(4301))
            .unwrap()
    );

    lab.set_uplink(1, true).unwrap();
    assert_eq!(
        host.route_to(lab.wan().address()).unwrap().interface,
        "eth0"
    );
    assert_eq!(lab.source_seen_by_wan(host).unwrap(), Some(ip4("44.0.0.1")));
    assert!(
        lab.tcp_reaches(host, 4300, first.external_socket(4300))
            .unwrap()
    );

    second.stop().unwrap();
    assert!(!second.running());
    second.start().unwrap();
    assert!(second.running());
    assert!(
        second
            .miniupnpd_log()
            .contains("Listening for NAT-PMP/PCP traffic")
    );
}

/// A listener on `server` at `address:port`: the address a connection from `client` came
/// from, if one came within 2 s.
fn peer_seen(server: &Host, client: &Host, address: Ipv4Addr, port: u16) -> Option<Ipv4Addr> {
    let listener = server
        .run(move || TcpListener::bind((address, port)))
        .unwrap()
        .unwrap();
    let accepted = std::thread::spawn(move || {
        let (mut stream, peer) = listener.accept().ok()?;
        let _ = stream.read(&mut [0u8; 1]);
        Some(peer)
    });
    let target = SocketAddrV4::new(address, port);
    let sent = client
        .run(move || {
            TcpStream::connect_timeout(&target.into(), Duration::from_secs(2))
                .and_then(|mut s| s.write_all(b"x"))
        })
        .unwrap();
    sent.ok()?;
    match accepted.join().unwrap()? {
        std::net::SocketAddr::V4(v4) => Some(*v4.ip()),
        std::net::SocketAddr::V6(_) => None,
    }
}

#[test]
fn a_full_tunnel_vpn_takes_the_hosts_traffic_and_a_split_one_only_its_prefixes() {
    let Some(lab) = Lab::for_test_with_tools(LabConfig::default(), &["natpmpc"]) else {
        return;
    };
    let host = lab.lan();
    let router = lab.uplink(1).unwrap();
    natpmpc_map(host, router.lan_address(), 4400);
    assert!(
        lab.tcp_reaches(host, 4400, router.external_socket(4400))
            .unwrap()
    );

    lab.vpn_up(VpnMode::FullTunnel).unwrap();
    assert!(lab.vpn_up(VpnMode::FullTunnel).is_err(), "a second vpn_up");
    let route = host.route_to(lab.wan().address()).unwrap();
    assert_eq!(route.interface, "tun0");
    assert_eq!(route.source, Some(ip4("10.99.0.2")));
    let to_server = host.route_to(ip4("46.0.0.1")).unwrap();
    assert_eq!(to_server.interface, "eth0");
    assert_eq!(to_server.gateway, Some(ip4("192.168.77.1")));
    let routes = host.exec("ip", &["-4", "route", "show"]).unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout);
    for expected in [
        "default via 192.168.77.1 dev eth0",
        "0.0.0.0/1 dev tun0",
        "128.0.0.0/1 dev tun0",
    ] {
        assert!(routes.contains(expected), "no {expected:?} in {routes}");
    }
    assert_eq!(lab.source_seen_by_wan(host).unwrap(), Some(ip4("46.0.0.1")));
    // The router still forwards, but the host's reply leaves through the tunnel.
    assert!(
        !lab.tcp_reaches(host, 4400, router.external_socket(4400))
            .unwrap()
    );

    lab.vpn_down().unwrap();
    assert_eq!(
        host.route_to(lab.wan().address()).unwrap().interface,
        "eth0"
    );
    let routes = host.exec("ip", &["-4", "route", "show"]).unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout);
    assert!(
        !routes.contains("tun0") && !routes.contains("46.0.0.1"),
        "{routes}"
    );
    assert_eq!(lab.source_seen_by_wan(host).unwrap(), Some(ip4("44.0.0.1")));
    assert!(
        lab.tcp_reaches(host, 4400, router.external_socket(4400))
            .unwrap()
    );

    lab.vpn_up(VpnMode::SplitTunnel(vec![(ip4("10.200.0.0"), 16)]))
        .unwrap();
    assert_eq!(host.route_to(ip4("10.200.1.1")).unwrap().interface, "tun0");
    assert_eq!(
        host.route_to(lab.wan().address()).unwrap().interface,
        "eth0"
    );
    assert_eq!(lab.source_seen_by_wan(host).unwrap(), Some(ip4("44.0.0.1")));
    assert!(
        lab.tcp_reaches(host, 4400, router.external_socket(4400))
            .unwrap()
    );
    // The tunnel itself carries traffic: the server sees the host's tunnel address.
    let server = lab.vpn_server().unwrap();
    assert_eq!(
        peer_seen(&server, host, ip4("10.99.0.1"), 4401),
        Some(ip4("10.99.0.2"))
    );
    lab.vpn_down().unwrap();
    assert!(
        lab.vpn_up(VpnMode::SplitTunnel(vec![(ip4("46.0.0.0"), 8)]))
            .is_err(),
        "a split prefix covering the server"
    );
}

#[test]
fn bridges_on_the_host_are_not_its_path_and_an_answering_container_leads_nowhere() {
    let config = LabConfig::default()
        .with_docker_bridge(true)
        .with_libvirt_bridge(false);
    let Some(lab) = Lab::for_test_with_tools(config, &["natpmpc", "upnpc"]) else {
        return;
    };
    let host = lab.lan();
    let docker = lab.bridge(BridgeKind::Docker).unwrap();
    let libvirt = lab.bridge(BridgeKind::Libvirt).unwrap();
    assert_eq!(docker.interface(), "docker0");
    assert_eq!(docker.guest().address(), ip4("172.17.0.2"));
    assert!(libvirt.igd().is_none());

    assert_eq!(
        host.route_to(lab.wan().address()).unwrap().interface,
        "eth0"
    );
    assert_eq!(
        host.route_to(ip4("172.17.0.2")).unwrap().interface,
        "docker0"
    );
    assert_eq!(
        host.route_to(ip4("192.168.122.2")).unwrap().interface,
        "virbr0"
    );
    assert_eq!(lab.source_seen_by_wan(host).unwrap(), Some(ip4("44.0.0.1")));

    // The container answers SSDP searches sent on the bridge, and NAT-PMP.
    let found = host.exec("upnpc", &["-m", "docker0", "-s"]).unwrap();
    let found = String::from_utf8_lossy(&found.stdout);
    assert!(found.contains("172.17.0.2:5000"), "upnpc said: {found}");
    assert!(found.contains("47.0.1.1"), "upnpc said: {found}");
    let container = docker.igd().unwrap();
    let said = natpmpc_map(host, container.lan_address(), 4600);
    assert!(said.contains("Public IP address : 47.0.1.1"), "{said}");
    assert_eq!(ports(&container), vec![(4600, ip4("172.17.0.1"))]);
    assert!(ports(&lab.uplink(1).unwrap()).is_empty());
    assert!(
        !lab.tcp_reaches(host, 4600, lab.external_socket(4600))
            .unwrap()
    );
}

#[test]
fn a_second_igd_on_the_lan_answers_but_its_mappings_lead_nowhere() {
    let config = LabConfig::default().with_second_igd_on_lan();
    let Some(lab) = Lab::for_test_with_tools(config, &["natpmpc", "upnpc"]) else {
        return;
    };
    let host = lab.lan();
    let (router, ap) = (lab.uplink(1).unwrap(), lab.second_igd().unwrap());
    assert!(ap.running());
    assert_eq!(ap.lan_address(), ip4("192.168.77.2"));
    assert_eq!(
        host.route_to(lab.wan().address()).unwrap().gateway,
        Some(router.lan_address())
    );

    let said = natpmpc_map(host, ap.lan_address(), 4500);
    assert!(said.contains("Public IP address : 47.0.0.1"), "{said}");
    assert_eq!(ports(&ap), vec![(4500, host.address())]);
    assert!(ports(&router).is_empty());
    assert!(
        !lab.tcp_reaches(host, 4500, router.external_socket(4500))
            .unwrap()
    );

    natpmpc_map(host, router.lan_address(), 4501);
    assert_eq!(ports(&router), vec![(4501, host.address())]);
    assert_eq!(ports(&ap).len(), 1);
    assert!(
        lab.tcp_reaches(host, 4501, router.external_socket(4501))
            .unwrap()
    );

    // Its UPnP IGD answers too, with its own external address.
    let described = host
        .exec(
            "upnpc",
            &["-u", "http://192.168.77.2:5000/rootDesc.xml", "-s"],
        )
        .unwrap();
    let described = String::from_utf8_lossy(&described.stdout);
    assert!(
        described.contains("ExternalIPAddress = 47.0.0.1"),
        "upnpc said: {described}"
    );
}

#[test]
fn renumbering_flaps_and_a_new_gateway_leave_the_host_connected() {
    // Dual-stack, so a flap must bring the IPv6 default route back too.
    let Some(lab) = Lab::for_test_with_tools(LabConfig::dual_stack(), &["natpmpc"]) else {
        return;
    };
    let host = lab.renumber(lab.lan(), ip4("192.168.77.50")).unwrap();
    assert_eq!(host.address(), ip4("192.168.77.50"));
    assert!(lab.renumber(&host, ip4("192.168.78.50")).is_err());
    assert!(lab.renumber(&host, ip4("192.168.77.1")).is_err());
    let route = host.route_to(lab.wan().address()).unwrap();
    assert_eq!(route.source, Some(ip4("192.168.77.50")));
    assert_eq!(route.gateway, Some(ip4("192.168.77.1")));
    natpmpc_map(&host, lab.gateway(), 4700);
    let router = lab.uplink(1).unwrap();
    assert_eq!(ports(&router), vec![(4700, ip4("192.168.77.50"))]);
    assert!(
        lab.tcp_reaches(&host, 4700, lab.external_socket(4700))
            .unwrap()
    );

    lab.set_link(&host, false).unwrap();
    assert!(host.route_to(lab.wan().address()).is_err());
    assert_eq!(lab.source_seen_by_wan(&host).unwrap(), None);
    lab.set_link(&host, true).unwrap();
    assert_eq!(
        host.route_to(lab.wan().address()).unwrap().interface,
        "eth0"
    );
    lab.flap_link(&host).unwrap();
    let routes = host
        .exec("ip", &["-6", "route", "show", "default"])
        .unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout);
    assert!(routes.contains("via fe80::1 dev eth0"), "{routes}");
    let address = host
        .exec("ip", &["-6", "addr", "show", "dev", "eth0"])
        .unwrap();
    assert!(String::from_utf8_lossy(&address.stdout).contains("2001:db8:77:1::10/64"));
    assert_eq!(
        lab.source_seen_by_wan(&host).unwrap(),
        Some(ip4("44.0.0.1"))
    );

    lab.change_gateway_mac([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30])
        .unwrap();
    let link = lab.router().exec("ip", &["link", "show", "br0"]).unwrap();
    assert!(String::from_utf8_lossy(&link.stdout).contains("02:00:5e:10:20:30"));
    assert!(
        lab.tcp_reaches(&host, 4700, lab.external_socket(4700))
            .unwrap()
    );

    lab.move_gateway(ip4("192.168.77.254")).unwrap();
    assert_eq!(lab.gateway(), ip4("192.168.77.254"));
    assert_eq!(router.lan_address(), ip4("192.168.77.254"));
    assert_eq!(
        host.route_to(lab.wan().address()).unwrap().gateway,
        Some(ip4("192.168.77.254"))
    );
    natpmpc_map(&host, lab.gateway(), 4701);
    assert!(
        lab.tcp_reaches(&host, 4701, lab.external_socket(4701))
            .unwrap()
    );
    assert!(
        lab.tcp_reaches(&host, 4700, lab.external_socket(4700))
            .unwrap()
    );
}

#[test]
fn a_full_tunnel_vpn_behind_an_outer_nat_reaches_its_server() {
    let config = LabConfig::default().with_outer_nat(natlab::OuterNat::CarrierGrade);
    let Some(lab) = Lab::for_test(config) else {
        return;
    };
    let host = lab.lan();
    assert_eq!(
        lab.source_seen_by_wan(host).unwrap(),
        Some(lab.public_address())
    );
    lab.vpn_up(VpnMode::FullTunnel).unwrap();
    assert_eq!(lab.source_seen_by_wan(host).unwrap(), Some(ip4("46.0.0.1")));
    lab.vpn_down().unwrap();
    assert_eq!(
        lab.source_seen_by_wan(host).unwrap(),
        Some(lab.public_address())
    );
}
