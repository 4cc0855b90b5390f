//! Lab tests of the tokio client against the real miniupnpd, each for NAT-PMP and for PCP.
//! A mapping counts only when the WAN host reaches a LAN socket through it.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use natlab::{Lab, LabConfig};
use natpmp_proto::tokio::{AnnouncementListener, Client, ClientConfig, ClientError, VersionChoice};
use natpmp_proto::{Protocol, Version};

const GATEWAY: IpAddr = IpAddr::V4(natlab::ROUTER_LAN_ADDRESS);
const VERSIONS: [VersionChoice; 2] = [VersionChoice::NatPmp, VersionChoice::Pcp];

fn config(version: VersionChoice) -> ClientConfig {
    ClientConfig {
        version,
        ..ClientConfig::interactive(Duration::from_secs(10))
    }
}

#[test]
fn external_address_is_the_routers_wan_address() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    for version in VERSIONS {
        let address = lab
            .lan()
            .block_on(move || async move {
                let client = Client::with_config(GATEWAY, config(version)).await?;
                client.external_address().await
            })
            .unwrap()
            .unwrap();
        assert_eq!(address, IpAddr::V4(lab.external_address()), "{version:?}");
    }
    // Auto negotiates PCP with miniupnpd, and the PCP address probe leaves nothing behind.
    let version = lab
        .lan()
        .block_on(|| async {
            let client = Client::with_config(GATEWAY, config(VersionChoice::Auto)).await?;
            client.external_address().await?;
            Ok::<_, ClientError>(client.version())
        })
        .unwrap()
        .unwrap();
    assert_eq!(version, Some(Version::Pcp));
    assert!(lab.redirections().unwrap().is_empty());
}

#[test]
fn mappings_forward_tcp_and_udp_and_unmap_removes_them() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    for (index, version) in VERSIONS.into_iter().enumerate() {
        let tcp_port = 5000 + index as u16 * 10;
        let udp_port = tcp_port + 1;
        let (tcp, udp) = lab
            .lan()
            .block_on(move || async move {
                let client = Client::with_config(GATEWAY, config(version)).await?;
                let tcp = client
                    .map(Protocol::Tcp, tcp_port, tcp_port, Duration::from_secs(600))
                    .await?;
                let udp = client
                    .map(Protocol::Udp, udp_port, udp_port, Duration::from_secs(600))
                    .await?;
                Ok::<_, ClientError>((tcp, udp))
            })
            .unwrap()
            .unwrap();
        assert_eq!(tcp.external_address, IpAddr::V4(lab.external_address()));
        assert_eq!(tcp.external_port, tcp_port, "{version:?}");
        assert!(tcp.lifetime > Duration::ZERO && tcp.lifetime <= Duration::from_secs(600));
        assert!(
            lab.tcp_reaches(lab.lan(), tcp_port, lab.external_socket(tcp.external_port))
                .unwrap(),
            "{version:?}: TCP from the WAN did not reach the LAN socket"
        );
        assert!(
            lab.udp_reaches(lab.lan(), udp_port, lab.external_socket(udp.external_port))
                .unwrap(),
            "{version:?}: UDP from the WAN did not reach the LAN socket"
        );
        assert_eq!(lab.redirections().unwrap().len(), 2, "{version:?}");

        let (tcp_copy, udp_copy) = (tcp.clone(), udp.clone());
        lab.lan()
            .block_on(move || async move {
                let client = Client::with_config(GATEWAY, config(version)).await?;
                client.delete(&tcp_copy).await?;
                client.delete(&udp_copy).await
            })
            .unwrap()
            .unwrap();
        assert!(lab.redirections().unwrap().is_empty(), "{version:?}");
        assert!(
            !lab.tcp_reaches(lab.lan(), tcp_port, lab.external_socket(tcp.external_port))
                .unwrap()
        );
        assert!(
            !lab.udp_reaches(lab.lan(), udp_port, lab.external_socket(udp.external_port))
                .unwrap()
        );
    }
}

#[test]
fn nat_pmp_unmap_by_port_and_unmap_all() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    lab.lan()
        .block_on(|| async {
            let client = Client::with_config(GATEWAY, config(VersionChoice::NatPmp)).await?;
            for port in [5100, 5101, 5102] {
                client
                    .map(Protocol::Udp, port, port, Duration::from_secs(600))
                    .await?;
            }
            client
                .map(Protocol::Tcp, 5103, 5103, Duration::from_secs(600))
                .await?;
            client.unmap(Protocol::Tcp, 5103).await?;
            client.unmap_all(Protocol::Udp).await
        })
        .unwrap()
        .unwrap();
    assert!(lab.redirections().unwrap().is_empty());
}

#[test]
fn announcement_listener_sees_the_router_restart() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lab = std::sync::Arc::new(lab);
    let lab_inner = lab.clone();
    let announcements = lab
        .lan()
        .block_on(move || async move {
            let mut listener = AnnouncementListener::bind(GATEWAY).await?;
            // A deliberate passage of time, not a wait for an event: the router's epoch
            // counts whole seconds, and a restart within its first second would announce the
            // epoch the listener already saw, so no reset would show.
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let rebooted = tokio::task::spawn_blocking(move || lab_inner.reboot_router()).await;
            assert!(matches!(rebooted, Ok(Ok(()))));
            let mut seen = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while let Ok(next) = tokio::time::timeout_at(deadline, listener.next()).await {
                seen.push(next?);
                if seen.iter().any(|a| a.version == Version::Pcp) {
                    break;
                }
            }
            Ok::<_, ClientError>(seen)
        })
        .unwrap()
        .unwrap();
    // miniupnpd announces a restart with an unsolicited PCP ANNOUNCE (its NAT-PMP address
    // announcements come on address changes, tested below).
    assert!(
        announcements
            .iter()
            .any(|a| a.version == Version::Pcp && a.epoch_reset),
        "no PCP ANNOUNCE in {announcements:?}"
    );
}

#[test]
fn announcement_listener_sees_an_external_address_change() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lab = std::sync::Arc::new(lab);
    let lab_inner = lab.clone();
    let announcement = lab
        .lan()
        .block_on(move || async move {
            let mut listener = AnnouncementListener::bind(GATEWAY).await?;
            let changed = tokio::task::spawn_blocking(move || {
                lab_inner.set_external_address("44.0.0.7".parse().unwrap())
            })
            .await;
            assert!(matches!(changed, Ok(Ok(()))));
            loop {
                let next = tokio::time::timeout(Duration::from_secs(5), listener.next())
                    .await
                    .expect("an announcement within 5 s")?;
                if next.external_address.is_some() {
                    return Ok::<_, ClientError>(next);
                }
            }
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        announcement.external_address,
        Some("44.0.0.7".parse().unwrap())
    );
}

#[test]
fn the_same_client_sees_the_epoch_go_back() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lab = std::sync::Arc::new(lab);
    for version in VERSIONS {
        let lab_inner = lab.clone();
        let (first, second, events) = lab
            .lan()
            .block_on(move || async move {
                let client = Client::with_config(GATEWAY, config(version)).await?;
                let mut events = client.subscribe();
                let first = client
                    .map(Protocol::Udp, 5300, 5300, Duration::from_secs(600))
                    .await?;
                // Let the epoch grow past the RFCs' 2 s tolerance, so the reset is visible (a
                // deliberate passage of time, not a wait for an event).
                tokio::time::sleep(Duration::from_millis(4500)).await;
                let rebooted = tokio::task::spawn_blocking(move || lab_inner.reboot_router()).await;
                assert!(matches!(rebooted, Ok(Ok(()))));
                let second = client.refresh(&first, Duration::from_secs(600)).await?;
                let event = events.try_recv().ok();
                Ok::<_, ClientError>((first, second, event))
            })
            .unwrap()
            .unwrap();
        assert!(!first.epoch_reset);
        assert!(second.epoch_reset, "{version:?}: {first:?} then {second:?}");
        assert!(events.is_some(), "{version:?}: no epoch event");
        // The refresh re-made the mapping at the rebooted router.
        assert!(
            lab.udp_reaches(lab.lan(), 5300, lab.external_socket(second.external_port))
                .unwrap()
        );
    }
}

#[test]
fn operations_succeed_through_loss_and_delay() {
    let config_lab = LabConfig {
        impairable_lan: true,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test(config_lab) else {
        return;
    };
    lab.impair_lan(30.0, Duration::from_millis(50)).unwrap();
    for (index, version) in VERSIONS.into_iter().enumerate() {
        let port = 5400 + index as u16;
        let (address, mapping) = lab
            .lan()
            .block_on(move || async move {
                let client = Client::with_config(
                    GATEWAY,
                    ClientConfig {
                        version,
                        // Room for all 9 NAT-PMP attempts (127 s would be the whole schedule).
                        ..ClientConfig::interactive(Duration::from_secs(120))
                    },
                )
                .await?;
                let address = client.external_address().await?;
                let mapping = client
                    .map(Protocol::Tcp, port, port, Duration::from_secs(600))
                    .await?;
                Ok::<_, ClientError>((address, mapping))
            })
            .unwrap()
            .unwrap();
        assert_eq!(address, IpAddr::V4(lab.external_address()));
        assert_eq!(mapping.external_port, port);
    }
    lab.impair_lan(0.0, Duration::ZERO).unwrap();
    assert!(
        lab.tcp_reaches(lab.lan(), 5400, lab.external_socket(5400))
            .unwrap()
    );
}

#[test]
fn a_router_without_nat_pmp_is_reported_at_once() {
    let config_lab = LabConfig {
        natpmp: false,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test(config_lab) else {
        return;
    };
    for version in VERSIONS {
        let started = Instant::now();
        let result = lab
            .lan()
            .block_on(move || async move {
                let client = Client::with_config(GATEWAY, config(version)).await?;
                client.external_address().await
            })
            .unwrap();
        let elapsed = started.elapsed();
        assert!(
            matches!(result, Err(ClientError::NotSupported { .. })),
            "{version:?}: {result:?}"
        );
        assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
        let message = result.unwrap_err().to_string();
        assert!(
            message.contains("does not speak NAT-PMP or PCP"),
            "{message}"
        );
    }
}

#[test]
fn forged_replies_from_a_rogue_lan_host_are_ignored() {
    let config_lab = LabConfig {
        lan_hosts: 2,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test(config_lab) else {
        return;
    };
    let rogue = lab.lan_hosts()[1].clone();
    for version in VERSIONS {
        let (client_port_tx, client_port_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let (flooding_tx, flooding_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop_rogue = stop.clone();
        // The rogue floods the client's port with answers claiming 6.6.6.6 and a mapping.
        let flood = rogue.spawn(move || {
            let socket = std::net::UdpSocket::bind("0.0.0.0:5351").unwrap();
            let target = client_port_rx.recv().unwrap();
            let mut forged_address = vec![0u8, 128, 0, 0, 0, 0, 0, 9, 6, 6, 6, 6];
            let forged_pcp = {
                let mut p = vec![2u8, 0x81, 0, 0, 0, 0, 0, 60, 0, 0, 0, 9];
                p.resize(60, 6);
                p
            };
            let mut sent = 0;
            let mut flooding = Some(flooding_tx);
            while !stop_rogue.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = socket.send_to(&forged_address, target);
                let _ = socket.send_to(&forged_pcp, target);
                forged_address[11] = forged_address[11].wrapping_add(1);
                sent += 2;
                // Forged answers already wait at the client's socket when it starts asking.
                if sent >= 50 {
                    if let Some(flooding) = flooding.take() {
                        let _ = flooding.send(());
                    }
                }
                // Paces the flood (a thousand pairs a second), not a wait for anything.
                std::thread::sleep(Duration::from_millis(1));
            }
            sent
        });
        let result = lab
            .lan()
            .block_on(move || async move {
                let client = Client::with_config(GATEWAY, config(version)).await?;
                client_port_tx.send(client.local_addr()?).unwrap();
                // The client's requests go out only once the flood is under way (25 pairs sent).
                flooding_rx.await.unwrap();
                let address = client.external_address().await?;
                let mapping = client
                    .map(Protocol::Tcp, 5500, 5500, Duration::from_secs(600))
                    .await?;
                Ok::<_, ClientError>((address, mapping))
            })
            .unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let sent = flood.join().unwrap().unwrap();
        let (address, mapping) = result.unwrap();
        assert!(sent > 10, "the rogue sent only {sent}");
        assert_eq!(address, IpAddr::V4(lab.external_address()), "{version:?}");
        assert_eq!(mapping.external_address, IpAddr::V4(lab.external_address()));
    }
}

#[test]
fn natctl_and_natpmpc_see_each_others_mappings() {
    let Some(lab) = Lab::for_test_with_tools(LabConfig::default(), &["natpmpc"]) else {
        return;
    };
    let natpmpc = |args: &[&str]| {
        let mut all = vec!["-g", "192.168.77.1"];
        all.extend_from_slice(args);
        let output = lab.lan().exec("natpmpc", &all).unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // Our mapping, refreshed by natpmpc: it gets the same external port (the same mapping).
    let ours = lab
        .lan()
        .block_on(|| async {
            let client = Client::with_config(GATEWAY, config(VersionChoice::NatPmp)).await?;
            client
                .map(Protocol::Tcp, 5600, 5601, Duration::from_secs(600))
                .await
        })
        .unwrap()
        .unwrap();
    // natpmpc's order is: public port, private port.
    let text = natpmpc(&["-a", "5601", "5600", "tcp", "600"]);
    assert!(
        text.contains(&format!(
            "Mapped public port {} protocol TCP to local port 5600",
            ours.external_port
        )),
        "{text}"
    );
    // natpmpc deletes it; the router holds nothing.
    natpmpc(&["-a", "5601", "5600", "tcp", "0"]);
    assert!(lab.redirections().unwrap().is_empty());

    // natpmpc's mapping, seen and deleted by our client.
    let text = natpmpc(&["-a", "5700", "5700", "udp", "600"]);
    assert!(text.contains("Mapped public port 5700"), "{text}");
    let seen = lab
        .lan()
        .block_on(|| async {
            let client = Client::with_config(GATEWAY, config(VersionChoice::NatPmp)).await?;
            let seen = client
                .map(Protocol::Udp, 5700, 0, Duration::from_secs(600))
                .await?;
            client.unmap(Protocol::Udp, 5700).await?;
            Ok::<_, ClientError>(seen)
        })
        .unwrap()
        .unwrap();
    assert_eq!(seen.external_port, 5700);
    assert!(lab.redirections().unwrap().is_empty());
}

#[test]
fn pcp_peer_and_third_party_where_the_server_allows_them() {
    let config_lab = LabConfig {
        lan_hosts: 2,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test(config_lab) else {
        return;
    };
    let other_host = IpAddr::V4(lab.lan_hosts()[1].address());
    let remote: SocketAddr = (natlab::WAN_HOST_ADDRESS, 7000).into();
    let (peer, third_party) = lab
        .lan()
        .block_on(move || async move {
            let client = Client::with_config(GATEWAY, config(VersionChoice::Pcp)).await?;
            let peer = client
                .peer(Protocol::Udp, 5800, remote, Duration::from_secs(300))
                .await;
            let third_party = client
                .map_third_party(
                    other_host,
                    Protocol::Tcp,
                    5900,
                    5900,
                    Duration::from_secs(300),
                )
                .await;
            Ok::<_, ClientError>((peer, third_party))
        })
        .unwrap()
        .unwrap();
    // PEER: the flow from LAN 5800 to the WAN host leaves from the granted external port.
    let peer = peer.unwrap();
    assert_eq!(peer.external_address, IpAddr::V4(lab.external_address()));
    let wan_socket = lab
        .wan()
        .run(|| std::net::UdpSocket::bind("0.0.0.0:7000").unwrap())
        .unwrap();
    wan_socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    lab.lan()
        .run(move || {
            let socket = std::net::UdpSocket::bind("0.0.0.0:5800").unwrap();
            socket.send_to(b"peer", remote).unwrap();
        })
        .unwrap();
    let mut buffer = [0u8; 16];
    let (length, seen_from) = wan_socket.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..length], b"peer");
    assert_eq!(
        seen_from,
        SocketAddr::new(peer.external_address, peer.external_port),
        "the WAN host saw the flow from another address"
    );

    // THIRD_PARTY: miniupnpd 2.3 does not take the option; the refusal is typed and named.
    let error = third_party.unwrap_err();
    assert_eq!(
        error.result_code(),
        Some(natpmp_proto::AnyResultCode::Pcp(
            natpmp_proto::pcp::ResultCode::UnsupportedOption
        )),
        "{error}"
    );
    assert!(error.to_string().contains("UNSUPP_OPTION"), "{error}");
    assert!(lab.redirections().unwrap().is_empty());
}

#[test]
fn a_third_party_deletion_removes_another_addresss_mapping_where_the_server_allows_it() {
    let Some(lab) = Lab::for_test(LabConfig {
        lan_hosts: 2,
        ..LabConfig::default().with_third_party_deletions()
    }) else {
        return;
    };
    let other_host = lab.lan_hosts()[1].address();
    let other = IpAddr::V4(other_host);
    let granted = lab
        .lan()
        .block_on(move || async move {
            let client = Client::with_config(GATEWAY, config(VersionChoice::Pcp)).await?;
            client
                .map_third_party(other, Protocol::Tcp, 5910, 5910, Duration::from_secs(300))
                .await
        })
        .unwrap()
        .unwrap();
    let rules = lab.redirections().unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r.internal_address == other_host && r.external_port == granted.external_port),
        "{rules:?}"
    );
    // From a fresh client, as after renumbering: the mapping's nonce and THIRD_PARTY.
    lab.lan()
        .block_on(move || async move {
            let client = Client::with_config(GATEWAY, config(VersionChoice::Pcp)).await?;
            client.delete_for(other, &granted).await
        })
        .unwrap()
        .unwrap();
    assert!(lab.redirections().unwrap().is_empty());
}
