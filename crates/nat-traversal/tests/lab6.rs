//! Lab tests of the facade's IPv6 side against the real miniupnpd in natlab's dual-stack lab:
//! pinholes through PCP and through UPnP's `WANIPv6FirewallControl`, a dual-stack public
//! listener, and a restart under a kept pinhole. A pinhole counts only when a connection from
//! the WAN host's IPv6 address reaches the LAN host's socket through it.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nat_traversal::{MapRequest, Nat, NatOptions, PortAssignments, Protocol, Technique};
use natlab::{Lab, LabConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The default routes of the LAN host (IPv4 via 192.168.77.1, IPv6 via fe80::1): nothing
/// is given, as in a real program.
fn options() -> NatOptions {
    NatOptions::default()
        .with_probe_timeout(Duration::from_secs(2))
        .with_retry(Duration::from_millis(200), Duration::from_secs(2))
}

fn lan_v6(lab: &Lab) -> std::net::Ipv6Addr {
    lab.lan().address_v6().unwrap()
}

/// Through each technique alone, and through auto: the pinhole is the LAN host's own
/// address and port, the WAN host gets in, and unmap_port from a new `Nat` (a new process,
/// sharing the pinhole record, where UPnP's pinhole ids are kept) closes it. The report says
/// what each answer shows: UPnP's deletion by id is a removal; PCP's SUCCESS cannot tell.
#[test]
fn pinholes_through_pcp_and_upnp_let_the_wan_in_until_unmapped() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    let record = std::env::temp_dir().join(format!("natkit-lab6-pinholes-{}", lab.lan().netns()));
    let _ = std::fs::remove_file(&record);
    let with_record = {
        let record = record.clone();
        move || options().with_pinhole_record(record.clone())
    };
    for (via, port) in [
        (Some(Technique::Pcp), 8081u16),
        (Some(Technique::Upnp), 8082),
        (None, 8083),
    ] {
        let options = with_record.clone();
        let mapping = lab
            .lan()
            .block_on(move || async move {
                let mut options = options();
                if let Some(via) = via {
                    options = options.with_preference([via]);
                }
                let nat = Nat::new(options);
                nat.map(
                    &MapRequest::new(Protocol::Tcp, port)
                        .with_lifetime(Duration::from_secs(600))
                        .with_ipv6(true),
                )
                .await
            })
            .unwrap()
            .unwrap_or_else(|e| panic!("{via:?}: {e}\n{}", lab.miniupnpd_log()));
        assert_eq!(
            mapping.external,
            SocketAddr::new(IpAddr::V6(lan_v6(&lab)), port),
            "{via:?}"
        );
        if let Some(via) = via {
            assert_eq!(mapping.technique, via);
        } else {
            assert_eq!(mapping.technique, Technique::Pcp, "auto prefers PCP");
        }
        assert!(
            lab.pinholes()
                .unwrap()
                .iter()
                .any(|p| p.internal_port == port),
            "{via:?}: {:?}",
            lab.pinholes()
        );
        assert!(lab.tcp_reaches_v6(lab.lan(), port).unwrap(), "{via:?}");
        let options = with_record.clone();
        let report = lab
            .lan()
            .block_on(move || async move {
                let mut options = options();
                if let Some(via) = via {
                    options = options.with_preference([via]);
                }
                Nat::new(options)
                    .ipv6()
                    .unmap_port(Protocol::Tcp, port)
                    .await
            })
            .unwrap()
            .unwrap_or_else(|e| panic!("{via:?}: unmap: {e}"));
        match via {
            Some(Technique::Upnp) => assert!(report.removed(), "{via:?}: {report}"),
            _ => assert!(
                report.removed() || report.cannot_tell(),
                "{via:?}: {report}"
            ),
        }
        assert!(
            !lab.tcp_reaches_v6(lab.lan(), port).unwrap(),
            "{via:?}: still open after unmap"
        );
    }
    assert!(lab.pinholes().unwrap().is_empty());
    let _ = std::fs::remove_file(&record);
}

/// `tcp_listen_public("[::]:P")` keeps an IPv4 mapping and an IPv6 pinhole, publishes both,
/// both carry the WAN host's connections to the one listener, and `close()` removes both.
#[test]
fn a_dual_stack_listener_is_public_on_both_families_until_closed() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    const PORT: u16 = 8080;
    let (ready, published) = mpsc::channel::<PortAssignments>();
    let (finish, finished) = tokio::sync::oneshot::channel::<()>();
    let lan = lab.lan().clone();
    let worker = std::thread::spawn(move || {
        lan.block_on(move || async move {
            let nat = Nat::new(options());
            let public = nat.tcp_listen_public(("::", PORT)).await.unwrap();
            // Both halves' first attempts are done; wait until both are published.
            let mut changes = public.assignments();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let both = {
                    let set = changes.borrow_and_update();
                    set.public().any(|a| a.address.is_ipv4())
                        && set.public().any(|a| a.address.is_ipv6())
                };
                if both || Instant::now() > deadline {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(200), changes.changed()).await;
            }
            ready.send(public.assignments().borrow().clone()).unwrap();
            for _ in 0..2 {
                let (mut stream, _) = public.listener.accept().await.unwrap();
                let mut buffer = [0u8; 64];
                let n = stream.read(&mut buffer).await.unwrap();
                stream.write_all(&buffer[..n]).await.unwrap();
            }
            let _ = finished.await;
            public.close().await.unwrap();
        })
        .unwrap()
    });
    let set = published.recv().unwrap();
    let v4 = set
        .public()
        .find(|a| a.address.is_ipv4())
        .unwrap_or_else(|| panic!("no IPv4 public address in {set}"));
    let v6 = set
        .public()
        .find(|a| a.address.is_ipv6())
        .unwrap_or_else(|| panic!("no IPv6 public address in {set}"));
    assert_eq!(v4.address, SocketAddr::from((lab.external_address(), PORT)));
    assert_eq!(v6.address, SocketAddr::from((lan_v6(&lab), PORT)));
    let external = lab.external_socket(PORT);
    let reply = lab
        .wan()
        .run(move || natlab::wan_tcp_exchange(external, b"over ipv4"))
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"over ipv4");
    let target = SocketAddrV6::new(lan_v6(&lab), PORT, 0, 0);
    let reply = lab
        .wan()
        .run(move || natlab::wan_tcp_exchange_v6(target, b"over ipv6"))
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"over ipv6");
    assert_eq!(lab.redirections().unwrap().len(), 1);
    assert_eq!(lab.pinholes().unwrap().len(), 1);
    finish.send(()).unwrap();
    worker.join().unwrap();
    assert!(lab.redirections().unwrap().is_empty());
    assert!(lab.pinholes().unwrap().is_empty());
    assert!(!lab.tcp_reaches_v6(lab.lan(), PORT).unwrap());
}

/// A kept pinhole comes back by itself after the router restarts (which flushes its rules):
/// through PCP, whose ANNOUNCE over IPv6 (or the next answer's epoch) says so.
#[test]
fn a_kept_pinhole_is_restored_after_a_router_restart() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    const PORT: u16 = 8084;
    let (finish, finished) = tokio::sync::oneshot::channel::<()>();
    let (ready, mapped) = mpsc::channel::<()>();
    let lan = lab.lan().clone();
    let worker = std::thread::spawn(move || {
        lan.block_on(move || async move {
            let nat = Nat::new(options());
            let kept = nat
                .persistent(
                    MapRequest::new(Protocol::Tcp, PORT)
                        .with_lifetime(Duration::from_secs(3600))
                        .with_ipv6(true),
                )
                .start()
                .await
                .unwrap();
            ready.send(()).unwrap();
            let _ = finished.await;
            kept.stop().await.unwrap();
        })
        .unwrap()
    });
    mapped.recv().unwrap();
    assert!(lab.tcp_reaches_v6(lab.lan(), PORT).unwrap());
    // A deliberate passage of time, not a wait for an event: miniupnpd's epoch and boot id
    // count whole seconds, so a restart within the first second would look like no restart.
    std::thread::sleep(Duration::from_millis(1100));
    lab.reboot_router().unwrap();
    let restored = natlab::wait::poll(Duration::from_secs(2), || {
        (!lab.pinholes().unwrap().is_empty()).then_some(())
    });
    assert!(
        restored.is_some(),
        "not restored within 2 s of the restart:\n{}",
        lab.miniupnpd_log()
    );
    assert!(lab.tcp_reaches_v6(lab.lan(), PORT).unwrap());
    finish.send(()).unwrap();
    worker.join().unwrap();
    assert!(lab.pinholes().unwrap().is_empty());
}
