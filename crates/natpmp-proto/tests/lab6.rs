//! Lab tests of PCP over IPv6 against the real miniupnpd 2.3.1 in the dual-stack lab: the
//! tokio client from a LAN host opens pinholes through the router's IPv6 firewall (the WAN
//! host's TCP connections and UDP datagrams reach the LAN host's own address), deletes
//! them, and notices the router's restart; and netinfo finds the IPv6 gateway and the
//! global source address inside the LAN namespace.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use natlab::{Lab, LabConfig, ROUTER_LAN_ADDRESS_V6, ROUTER_LAN_LINK_LOCAL_V6, Transport};
use natpmp_proto::tokio::{
    AnnouncementListener, Client, ClientConfig, ClientError, Event, VersionChoice,
};
use natpmp_proto::{Protocol, Version};

/// The LAN hosts' IPv6 gateway, as their default route names it: the router's link-local
/// address on `eth0`.
const GATEWAY: IpAddr = IpAddr::V6(ROUTER_LAN_LINK_LOCAL_V6);

fn config(version: VersionChoice) -> ClientConfig {
    ClientConfig {
        version,
        ..ClientConfig::interactive(Duration::from_secs(10))
    }
}

/// The pinholes' (transport, internal address, port), sorted by port.
fn pinholes(lab: &Lab) -> Vec<(Transport, Ipv6Addr, u16)> {
    let mut found: Vec<_> = lab
        .pinholes()
        .unwrap()
        .into_iter()
        .map(|p| (p.transport, p.internal_address, p.internal_port))
        .collect();
    found.sort_by_key(|p| p.2);
    found
}

#[test]
fn netinfo_finds_the_ipv6_gateway_and_the_global_source_address() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    let lan = lab.lan();
    let lan_v6 = lan.address_v6().unwrap();
    let found = lan
        .run(|| {
            let route = netinfo::default_route_v6().unwrap();
            let eth0 = netinfo::interfaces()
                .unwrap()
                .into_iter()
                .find(|i| i.name == "eth0")
                .unwrap();
            (
                route,
                eth0.index,
                netinfo::scope_id_toward(ROUTER_LAN_LINK_LOCAL_V6).unwrap(),
                netinfo::local_address_toward(GATEWAY).unwrap(),
                netinfo::local_address_toward(IpAddr::V6(ROUTER_LAN_ADDRESS_V6)).unwrap(),
                netinfo::global_ipv6_addresses().unwrap(),
            )
        })
        .unwrap();
    let (route, eth0, scope, via_link_local, via_global, global) = found;
    assert_eq!(route.gateway, GATEWAY);
    assert_eq!(route.interface, "eth0");
    assert_eq!(scope, eth0);
    // Toward fe80::1 the kernel would send from the host's link-local address; the address
    // that matters beyond the router is the global one.
    assert_eq!(via_link_local, IpAddr::V6(lan_v6));
    assert_eq!(via_global, IpAddr::V6(lan_v6));
    assert_eq!(global.len(), 1, "{global:?}");
    assert_eq!(global[0].address, lan_v6);
    assert_eq!(
        (global[0].interface.as_str(), global[0].index),
        ("eth0", eth0)
    );
    assert!(global[0].is_public() && !global[0].temporary && !global[0].deprecated);

    // A global next hop, a second address, and the first one deprecated: the gateway is
    // the global address (no scope needed), the source the address still preferred.
    lan.exec(
        "ip",
        &[
            "-6",
            "route",
            "replace",
            "default",
            "via",
            &ROUTER_LAN_ADDRESS_V6.to_string(),
            "dev",
            "eth0",
        ],
    )
    .unwrap();
    lan.exec(
        "ip",
        &["-6", "addr", "add", "2001:db8:77:1::20/64", "dev", "eth0"],
    )
    .unwrap();
    lan.exec(
        "ip",
        &[
            "-6",
            "addr",
            "change",
            &format!("{lan_v6}/64"),
            "dev",
            "eth0",
            "preferred_lft",
            "0",
        ],
    )
    .unwrap();
    let (gateway, scope, source, global) = lan
        .run(|| {
            (
                netinfo::default_gateway_v6().unwrap(),
                netinfo::scope_id_toward(ROUTER_LAN_ADDRESS_V6).unwrap(),
                netinfo::local_address_toward(IpAddr::V6(ROUTER_LAN_ADDRESS_V6)).unwrap(),
                netinfo::global_ipv6_addresses().unwrap(),
            )
        })
        .unwrap();
    assert_eq!(gateway, ROUTER_LAN_ADDRESS_V6);
    assert_eq!(scope, 0);
    let second: Ipv6Addr = "2001:db8:77:1::20".parse().unwrap();
    assert_eq!(source, IpAddr::V6(second));
    let deprecated: Vec<(Ipv6Addr, bool)> =
        global.iter().map(|a| (a.address, a.deprecated)).collect();
    assert!(deprecated.contains(&(lan_v6, true)), "{global:?}");
    assert!(deprecated.contains(&(second, false)), "{global:?}");
}

#[test]
fn pcp_over_ipv6_opens_pinholes_the_wan_reaches_and_delete_closes_them() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    let lan = lab.lan();
    let lan_v6 = lan.address_v6().unwrap();
    assert!(!lab.tcp_reaches_v6(lan, 4100).unwrap());
    assert!(!lab.udp_reaches_v6(lan, 4101).unwrap());

    // Auto toward the link-local gateway: PCP, sent from the global address.
    let (client, tcp, udp, address) = lan
        .block_on(|| async {
            let client = Client::with_config(GATEWAY, config(VersionChoice::Auto)).await?;
            let tcp = client
                .map(Protocol::Tcp, 4100, 4100, Duration::from_secs(600))
                .await?;
            let udp = client
                .map(Protocol::Udp, 4101, 0, Duration::from_secs(600))
                .await?;
            let address = client.external_address().await;
            Ok::<_, ClientError>((client, tcp, udp, address))
        })
        .unwrap()
        .unwrap();
    assert_eq!(client.client_address(), IpAddr::V6(lan_v6));
    assert_eq!(client.version(), Some(Version::Pcp));
    assert!(matches!(client.gateway(), SocketAddr::V6(g) if g.scope_id() != 0));
    for (mapping, port) in [(&tcp, 4100), (&udp, 4101)] {
        assert_eq!(mapping.version, Version::Pcp);
        assert_eq!(mapping.external_address, IpAddr::V6(lan_v6), "{mapping:?}");
        assert_eq!(mapping.external_port, port, "{mapping:?}");
        assert_eq!(mapping.lifetime, Duration::from_secs(600));
        assert!(mapping.nonce.is_some());
    }
    // The address probe (a deletion of the client's own UDP port) names the host's address.
    assert_eq!(address.unwrap(), IpAddr::V6(lan_v6));
    assert_eq!(
        pinholes(&lab),
        vec![
            (Transport::Tcp, lan_v6, 4100),
            (Transport::Udp, lan_v6, 4101)
        ]
    );
    assert!(lab.tcp_reaches_v6(lan, 4100).unwrap());
    assert!(lab.udp_reaches_v6(lan, 4101).unwrap());
    assert!(!lab.udp_reaches_v6(lan, 4100).unwrap());

    // Deleting from another client (a new socket, as from another process) works: the
    // mapping carries its nonce, which is all miniupnpd checks.
    let delete = |mapping: natpmp_proto::tokio::Mapping| {
        lan.block_on(move || async move {
            let client = Client::with_config(GATEWAY, config(VersionChoice::Pcp)).await?;
            client.delete(&mapping).await
        })
        .unwrap()
        .unwrap();
    };
    delete(tcp);
    assert_eq!(pinholes(&lab), vec![(Transport::Udp, lan_v6, 4101)]);
    assert!(!lab.tcp_reaches_v6(lan, 4100).unwrap());
    delete(udp);
    assert!(pinholes(&lab).is_empty());
    assert!(!lab.udp_reaches_v6(lan, 4101).unwrap());
    // IPv4 stayed untouched: pinholes are no redirections.
    assert!(lab.redirections().unwrap().is_empty());
}

#[test]
fn pcp_over_ipv6_to_the_routers_global_address_and_natpmp_refused() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    let lan = lab.lan();
    let lan_v6 = lan.address_v6().unwrap();
    let (mapping, natpmp) = lan
        .block_on(|| async {
            let global = IpAddr::V6(ROUTER_LAN_ADDRESS_V6);
            let client = Client::with_config(global, config(VersionChoice::Pcp)).await?;
            let mapping = client
                .map(Protocol::Tcp, 4300, 4300, Duration::from_secs(600))
                .await?;
            let natpmp = Client::with_config(GATEWAY, config(VersionChoice::NatPmp)).await;
            Ok::<_, ClientError>((mapping, natpmp))
        })
        .unwrap()
        .unwrap();
    assert_eq!(mapping.external_address, IpAddr::V6(lan_v6));
    assert!(lab.tcp_reaches_v6(lan, 4300).unwrap());
    assert!(
        matches!(natpmp, Err(ClientError::NatPmpOverIpv6 { .. })),
        "{natpmp:?}"
    );
}

#[test]
fn a_router_restart_is_seen_over_ipv6() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    let lab = std::sync::Arc::new(lab);
    let lab_inner = lab.clone();
    let lan_v6 = lab.lan().address_v6().unwrap();
    let (announcements, first, second, event) = lab
        .lan()
        .block_on(move || async move {
            let client = Client::with_config(GATEWAY, config(VersionChoice::Pcp)).await?;
            let mut events = client.subscribe();
            let mut listener = AnnouncementListener::bind(GATEWAY).await?;
            let first = client
                .map(Protocol::Tcp, 4400, 4400, Duration::from_secs(600))
                .await?;
            // Let the epoch grow past the RFC's tolerance, so the reset is visible (a
            // deliberate passage of time, not a wait for an event).
            tokio::time::sleep(Duration::from_millis(3100)).await;
            let rebooted = tokio::task::spawn_blocking(move || lab_inner.reboot_router()).await;
            assert!(matches!(rebooted, Ok(Ok(()))));
            let mut seen = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
            while let Ok(next) = tokio::time::timeout_at(deadline, listener.next()).await {
                seen.push(next?);
            }
            let second = client.refresh(&first, Duration::from_secs(600)).await?;
            let mut event = None;
            while let Ok(e) = events.try_recv() {
                event = Some(e);
            }
            Ok::<_, ClientError>((seen, first, second, event))
        })
        .unwrap()
        .unwrap();
    // The refresh re-made the pinhole the reboot wiped, and showed the epoch drop.
    assert!(!first.epoch_reset);
    assert!(second.epoch_reset, "{first:?} then {second:?}");
    // Epochs: 0 at the first mapping (a fresh router), a few seconds after the reboot
    // while more passed for the client: the epoch grew too slowly, a reset.
    assert!(
        matches!(
            event,
            Some(Event::EpochReset {
                version: Version::Pcp,
                ..
            })
        ),
        "{event:?}"
    );
    assert_eq!(second.external_address, IpAddr::V6(lan_v6));
    assert!(lab.tcp_reaches_v6(lab.lan(), 4400).unwrap());
    // What miniupnpd 2.3.1 sends over IPv6 when it starts: see the assertion's message.
    assert!(
        announcements
            .iter()
            .any(|a| a.version == Version::Pcp && a.epoch_reset),
        "no PCP ANNOUNCE over IPv6 in {announcements:?}; miniupnpd: {}",
        lab.miniupnpd_log()
    );
}

#[test]
fn miniupnpd_announces_a_restart_on_ff02_1_from_another_link_local_address() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    // Plain sockets on port 5350, no group joined: every interface is in ff02::1.
    let listen = |host: &natlab::Host| {
        host.spawn(|| {
            let socket =
                UdpSocket::bind((Ipv6Addr::UNSPECIFIED, natpmp_proto::ANNOUNCE_PORT)).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(4)))
                .unwrap();
            let mut buffer = [0u8; 1100];
            let mut seen = Vec::new();
            while let Ok((length, source)) = socket.recv_from(&mut buffer) {
                seen.push((source, buffer[..length].to_vec()));
            }
            seen
        })
    };
    let lan = listen(lab.lan());
    let wan = listen(lab.wan());
    for host in [lab.lan(), lab.wan()] {
        natlab::wait::wait_until(
            &format!("the listener on {} port 5350", host.netns()),
            Duration::from_secs(5),
            || natlab::wait::udp_port_bound(host, natpmp_proto::ANNOUNCE_PORT),
        );
    }
    lab.reboot_router().unwrap();
    let lan = lan.join().unwrap().unwrap();
    let wan = wan.join().unwrap().unwrap();
    assert!(wan.is_empty(), "the WAN link got {wan:?}");
    assert_eq!(lan.len(), 1, "{lan:?}");
    let (source, bytes) = &lan[0];
    let response = natpmp_proto::pcp::Response::decode(bytes).unwrap();
    assert!(matches!(
        response.data,
        natpmp_proto::pcp::ResponseData::Announce
    ));
    assert_eq!(response.result, natpmp_proto::pcp::ResultCode::Success);
    assert!(response.epoch < 5, "{response:?}");
    // From port 5351 of br0's own (EUI-64) link-local address, not from fe80::1, the
    // address the LAN hosts' default route names; not from the global address either.
    let SocketAddr::V6(source) = source else {
        panic!("{source}");
    };
    assert_eq!(source.port(), natpmp_proto::SERVER_PORT);
    assert_eq!(source.ip().segments()[0], 0xfe80, "{source}");
    assert_ne!(*source.ip(), ROUTER_LAN_LINK_LOCAL_V6);
}
