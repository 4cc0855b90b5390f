//! Lab tests of the facade on the hosts users really run on: two uplinks, a VPN, bridges of
//! containers and virtual machines, a second IGD on the LAN, renumbering and flaps. Unlike
//! the other lab tests, no gateway is given: the facade reads the LAN host's routes (inside
//! its namespace) and must pick the path the kernel picks. Every mapping is proven from the
//! WAN host through the router that should hold it, and the other router is checked to hold
//! none of ours.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]
// How long each move took is worth seeing in the test output.
#![allow(clippy::print_stderr)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nat_traversal::{
    Error, MapRequest, Mapping, Nat, NatOptions, NatTechnique, PortAssignments, Protocol,
    Technique, UpnpTechnique, WhyNot,
};
use natlab::wait::poll;
use natlab::{BridgeKind, Host, Lab, LabConfig, RouterHandle, VpnMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How soon a kept mapping must carry connections again after a path change (the issue's
/// bound).
const MOVE_BOUND: Duration = Duration::from_secs(2);

/// The facade as a program would make it: nothing given, the routing table followed.
fn options() -> NatOptions {
    NatOptions::default()
        .with_probe_timeout(Duration::from_secs(1))
        .with_operation_timeout(Duration::from_secs(1))
        .with_retry(Duration::from_millis(200), Duration::from_secs(1))
}

/// A public TCP listener kept by the facade on a LAN host: it echoes every connection, and
/// its assignments are mirrored here as they change.
struct Kept {
    assignments: mpsc::Receiver<PortAssignments>,
    latest: PortAssignments,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    worker: Option<JoinHandle<()>>,
}

impl Kept {
    fn start(host: &Host, options: NatOptions) -> Kept {
        let (send, assignments) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let host = host.clone();
        let worker = std::thread::spawn(move || {
            host.block_on(move || async move {
                let nat = Nat::new(options);
                let public = nat.tcp_listen_public("0.0.0.0:0").await.unwrap();
                let mut watch = public.assignments();
                let _ = send.send(watch.borrow_and_update().clone());
                let forward = tokio::spawn(async move {
                    while watch.changed().await.is_ok() {
                        let current = watch.borrow_and_update().clone();
                        if send.send(current).is_err() {
                            return;
                        }
                    }
                });
                let serve = async {
                    loop {
                        let Ok((mut stream, _)) = public.listener.accept().await else {
                            return;
                        };
                        tokio::spawn(async move {
                            let mut buffer = [0u8; 64];
                            if let Ok(n) = stream.read(&mut buffer).await {
                                let _ = stream.write_all(&buffer[..n]).await;
                            }
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
                forward.abort();
                public.close().await.unwrap();
            })
            .unwrap();
        });
        Kept {
            assignments,
            latest: PortAssignments::new(),
            stop: Some(stop),
            worker: Some(worker),
        }
    }

    /// Waits until the public address satisfies `check`; returns it and how long it took.
    fn public_within(
        &mut self,
        limit: Duration,
        mut check: impl FnMut(Option<SocketAddr>) -> bool,
    ) -> Option<(Option<SocketAddr>, Duration)> {
        let started = Instant::now();
        // What arrived already comes first: the latest state, not a stale one.
        while let Ok(next) = self.assignments.try_recv() {
            self.latest = next;
        }
        loop {
            if check(self.latest.public_address()) {
                return Some((self.latest.public_address(), started.elapsed()));
            }
            let left = limit.checked_sub(started.elapsed())?;
            match self.assignments.recv_timeout(left) {
                Ok(next) => self.latest = next,
                Err(_) => return None,
            }
        }
    }

    /// Waits for a public address on `external` and returns its socket address.
    fn public_on(&mut self, external: Ipv4Addr, limit: Duration) -> (SocketAddrV4, Duration) {
        let (address, took) = self
            .public_within(limit, |a| a.is_some_and(|a| a.ip() == IpAddr::V4(external)))
            .unwrap_or_else(|| {
                panic!(
                    "no public address on {external} within {limit:?}; last: {}",
                    self.latest
                )
            });
        match address {
            Some(SocketAddr::V4(address)) => (address, took),
            other => panic!("{other:?} is not IPv4"),
        }
    }

    fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(worker) = self.worker.take() {
            worker.join().unwrap();
        }
    }
}

/// Whether a connection from the WAN host to `public` is echoed (within a short bound).
fn reaches(lab: &Lab, public: SocketAddrV4) -> bool {
    lab.wan()
        .run(move || natlab::wan_tcp_exchange(public, b"which path"))
        .unwrap()
        .is_ok_and(|reply| reply == b"which path")
}

/// Polls until a WAN connection to `public` is echoed, up to `limit`; how long it took.
fn reached_within(lab: &Lab, public: SocketAddrV4, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    poll(limit, || reaches(lab, public).then(|| started.elapsed()))
}

/// After a change made at `changed`: waits for the kept mapping to be published on
/// `external` and to carry a WAN connection, both within [`MOVE_BOUND`] of the change;
/// prints and returns how long it took, and the public address.
fn moved_within_bound(
    lab: &Lab,
    kept: &mut Kept,
    external: Ipv4Addr,
    changed: Instant,
    what: &str,
) -> SocketAddrV4 {
    let (public, _) = kept.public_on(external, MOVE_BOUND);
    let took = reached_within(lab, public, MOVE_BOUND.saturating_sub(changed.elapsed()))
        .map(|_| changed.elapsed())
        .unwrap_or_else(|| panic!("not reached at {public} within {MOVE_BOUND:?} of {what}"));
    eprintln!("{what}: reachable at {public} after {took:?}");
    public
}

/// How many redirections `router` holds, looked at until it holds `count` (miniupnpd
/// deletes and adds a rule again on a refresh) for up to `limit`.
fn holds(router: &RouterHandle<'_>, count: usize, limit: Duration) -> bool {
    poll(limit, || {
        (router.redirections().unwrap().len() == count).then_some(())
    })
    .is_some()
}

#[test]
fn two_uplinks_map_at_the_preferred_router_and_follow_its_link_down_and_up() {
    let Some(lab) = Lab::for_test(LabConfig::default().with_second_uplink()) else {
        return;
    };
    let first = lab.uplink(1).unwrap();
    let second = lab.uplink(2).unwrap();

    // The path and the one passed over, as the probe reports them.
    let report = lab
        .lan()
        .block_on(|| async { Nat::new(options()).probe().await.unwrap() })
        .unwrap();
    let path = report.path().unwrap().clone();
    assert_eq!(path.gateway, IpAddr::V4(first.lan_address()), "{report}");
    assert_eq!(path.local_address, IpAddr::V4(lab.lan().address()));
    assert_eq!(path.interface.as_deref(), Some("eth0"));
    let other = report.passed_over();
    assert_eq!(other.len(), 1, "{other:?}");
    assert_eq!(other[0].gateway, Some(IpAddr::V4(second.lan_address())));
    assert!(
        matches!(other[0].why, WhyNot::HigherMetric { .. }),
        "{}",
        other[0]
    );

    let mut kept = Kept::start(lab.lan(), options());
    let (public, _) = kept.public_on(first.external_address(), Duration::from_secs(5));
    assert!(reaches(&lab, public), "not reached at {public}");
    assert!(holds(&first, 1, Duration::ZERO));
    assert!(
        holds(&second, 0, Duration::ZERO),
        "the other router holds ours"
    );

    // The preferred link goes down: the mapping moves to the second router.
    lab.set_uplink(1, false).unwrap();
    moved_within_bound(
        &lab,
        &mut kept,
        second.external_address(),
        Instant::now(),
        "link down",
    );
    assert!(holds(&second, 1, Duration::ZERO));

    // And back: mapped at the first router again, and nothing of ours left at the second.
    lab.set_uplink(1, true).unwrap();
    moved_within_bound(
        &lab,
        &mut kept,
        first.external_address(),
        Instant::now(),
        "link up",
    );
    assert!(
        holds(&second, 0, Duration::from_secs(1)),
        "a stale rule stayed at the reachable second router: {:?}",
        second.redirections().unwrap()
    );
    // The first router holds one rule: the mapping made before the link went down was
    // taken over, not left beside a new one.
    assert!(
        holds(&first, 1, Duration::from_secs(1)),
        "{:?}",
        first.redirections().unwrap()
    );
    kept.finish();
    assert!(holds(&first, 0, Duration::from_secs(1)));
}

#[test]
fn a_full_tunnel_vpn_is_refused_clearly_and_kept_mappings_come_back_when_it_goes() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let router = lab.uplink(1).unwrap();
    let mut kept = Kept::start(lab.lan(), options());
    let (public, _) = kept.public_on(lab.external_address(), Duration::from_secs(5));
    assert!(reaches(&lab, public));

    lab.vpn_up(VpnMode::FullTunnel).unwrap();
    // No mapping is reported reachable while the tunnel carries the traffic, and the one at
    // the router (still reachable on the LAN) is deleted.
    kept.public_within(MOVE_BOUND, |a| a.is_none())
        .unwrap_or_else(|| panic!("still public behind a full tunnel: {}", kept.latest));
    assert!(
        holds(&router, 0, Duration::from_secs(1)),
        "{:?}",
        router.redirections().unwrap()
    );
    let (path, mapped, forced) = lab
        .lan()
        .block_on(|| async {
            let nat = Nat::new(options());
            let path = nat.network_path();
            let mapped = nat.map(&MapRequest::new(Protocol::Tcp, 4000)).await;
            // Asked for explicitly, the LAN router's path is taken.
            let forced = Nat::new(options().with_interface("eth0"))
                .map(&MapRequest::new(Protocol::Tcp, 4001))
                .await;
            (path, mapped, forced)
        })
        .unwrap();
    match path {
        Err(Error::TrafficThroughTunnel {
            interface,
            router: Some(router),
            router_interface: Some(on),
        }) => {
            assert_eq!(interface, natlab::VPN_INTERFACE);
            assert_eq!(router, IpAddr::V4(natlab::ROUTER_LAN_ADDRESS));
            assert_eq!(on, "eth0");
        }
        other => panic!("{other:?}"),
    }
    let error = mapped.unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, Error::TrafficThroughTunnel { .. })
            && message.contains(natlab::VPN_INTERFACE)
            && message.contains("192.168.77.1"),
        "{message}"
    );
    let forced = forced.unwrap();
    assert_eq!(forced.external.ip(), IpAddr::V4(lab.external_address()));

    lab.vpn_down().unwrap();
    moved_within_bound(
        &lab,
        &mut kept,
        lab.external_address(),
        Instant::now(),
        "vpn down",
    );
    kept.finish();
}

#[test]
fn a_split_tunnel_vpn_leaves_mapping_at_the_router_as_usual() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    lab.vpn_up(VpnMode::SplitTunnel(vec![(
        Ipv4Addr::new(10, 200, 0, 0),
        16,
    )]))
    .unwrap();
    let mut kept = Kept::start(lab.lan(), options());
    let (public, _) = kept.public_on(lab.external_address(), Duration::from_secs(5));
    assert!(reaches(&lab, public), "not reached at {public}");
    let report = lab
        .lan()
        .block_on(|| async { Nat::new(options()).probe().await.unwrap() })
        .unwrap();
    assert_eq!(report.path().unwrap().interface.as_deref(), Some("eth0"));
    kept.finish();
}

#[test]
fn bridges_and_answering_guests_are_never_the_path_or_the_igd() {
    let config = LabConfig::default()
        .with_docker_bridge(true)
        .with_libvirt_bridge(true);
    let Some(lab) = Lab::for_test(config) else {
        return;
    };
    let router = lab.uplink(1).unwrap();
    let guests: Vec<RouterHandle<'_>> = [BridgeKind::Docker, BridgeKind::Libvirt]
        .into_iter()
        .map(|kind| lab.bridge(kind).unwrap().igd().unwrap())
        .collect();
    let (path, mapped) = lab
        .lan()
        .block_on(|| async {
            let path = Nat::new(options()).network_path().unwrap();
            let mut mapped = Vec::new();
            for (technique, port) in [
                (Technique::Pcp, 4100),
                (Technique::NatPmp, 4101),
                (Technique::Upnp, 4102),
            ] {
                let nat = Nat::new(options().only(technique));
                mapped.push((
                    technique,
                    nat.map(&MapRequest::new(Protocol::Tcp, port)).await,
                ));
            }
            (path, mapped)
        })
        .unwrap();
    assert_eq!(path.local_address, IpAddr::V4(lab.lan().address()));
    assert_eq!(path.gateway, IpAddr::V4(natlab::ROUTER_LAN_ADDRESS));
    for (technique, mapping) in mapped {
        let mapping = mapping.unwrap_or_else(|e| panic!("{technique}: {e}"));
        assert_eq!(
            mapping.external.ip(),
            IpAddr::V4(lab.external_address()),
            "{technique}"
        );
    }
    assert!(holds(&router, 3, Duration::from_secs(1)));
    for guest in &guests {
        assert!(
            holds(guest, 0, Duration::ZERO),
            "a guest holds ours: {:?}",
            guest.redirections().unwrap()
        );
    }
}

#[test]
fn a_second_igd_on_the_lan_is_never_used() {
    let Some(lab) = Lab::for_test(LabConfig::default().with_second_igd_on_lan()) else {
        return;
    };
    let router = lab.uplink(1).unwrap();
    let other = lab.second_igd().unwrap();
    let mut kept = Kept::start(lab.lan(), options().only(Technique::Upnp));
    let (public, _) = kept.public_on(lab.external_address(), Duration::from_secs(5));
    assert!(reaches(&lab, public));
    let auto = lab
        .lan()
        .block_on(|| async {
            Nat::new(options())
                .map(&MapRequest::new(Protocol::Udp, 4200))
                .await
        })
        .unwrap()
        .unwrap();
    assert_eq!(auto.external.ip(), IpAddr::V4(lab.external_address()));
    assert!(holds(&router, 2, Duration::from_secs(1)));
    assert!(
        holds(&other, 0, Duration::ZERO),
        "{:?}",
        other.redirections().unwrap()
    );
    kept.finish();
}

#[test]
fn renumbering_flaps_and_a_new_gateway_are_followed_within_two_seconds() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let router = lab.uplink(1).unwrap();
    let mut kept = Kept::start(lab.lan(), options());
    let (public, _) = kept.public_on(lab.external_address(), Duration::from_secs(5));
    assert!(reaches(&lab, public));

    // A new address (a DHCP lease elsewhere in the LAN).
    let renumbered = lab
        .renumber(lab.lan(), Ipv4Addr::new(192, 168, 77, 60))
        .unwrap();
    let changed = Instant::now();
    let took = poll(MOVE_BOUND, || {
        let on_new = router
            .redirections()
            .unwrap()
            .iter()
            .any(|r| r.internal_address == renumbered.address());
        let (public, _) = kept.public_on(lab.external_address(), Duration::from_millis(50));
        (on_new && reaches(&lab, public)).then(|| changed.elapsed())
    })
    .unwrap_or_else(|| {
        panic!(
            "not reached for the new address within {MOVE_BOUND:?}: {} / {:?}",
            kept.latest,
            router.redirections().unwrap()
        )
    });
    eprintln!("renumbering: reachable again after {took:?}");

    // The link goes down and comes back.
    lab.flap_link(&renumbered).unwrap();
    let public = moved_within_bound(
        &lab,
        &mut kept,
        lab.external_address(),
        Instant::now(),
        "flap",
    );

    // The gateway's MAC changes (a replaced router keeping its address): still reachable.
    lab.change_gateway_mac([0x02, 0, 0, 0, 0x77, 0x99]).unwrap();
    assert!(reached_within(&lab, public, MOVE_BOUND).is_some());
    kept.finish();
}

#[test]
fn renumbering_at_a_router_allowing_third_parties_leaves_no_rule_for_the_former_address() {
    // PCP deletes with THIRD_PARTY, UPnP with DeletePortMapping of the entry the table shows
    // as the former address's; miniupnpd allows both only when so configured.
    for (technique, new) in [(Technique::Pcp, 61), (Technique::Upnp, 62)] {
        let Some(lab) = Lab::for_test(LabConfig::default().with_third_party_deletions()) else {
            return;
        };
        let router = lab.uplink(1).unwrap();
        let former = lab.lan().address();
        let mut kept = Kept::start(lab.lan(), options().only(technique));
        let (public, _) = kept.public_on(lab.external_address(), Duration::from_secs(5));
        assert!(reaches(&lab, public), "{technique}");

        let renumbered = lab
            .renumber(lab.lan(), Ipv4Addr::new(192, 168, 77, new))
            .unwrap();
        let changed = Instant::now();
        let cleaned = poll(MOVE_BOUND, || {
            let rules = router.redirections().unwrap();
            let clean = !rules.iter().any(|r| r.internal_address == former)
                && rules
                    .iter()
                    .any(|r| r.internal_address == renumbered.address());
            clean.then(|| changed.elapsed())
        })
        .unwrap_or_else(|| {
            panic!(
                "{technique}: the former address's rule is still there after {MOVE_BOUND:?}: {:?}",
                router.redirections().unwrap()
            )
        });
        let (public, _) = kept.public_on(lab.external_address(), MOVE_BOUND);
        assert!(
            reached_within(&lab, public, MOVE_BOUND).is_some(),
            "{technique}"
        );
        eprintln!("{technique}: the former address's rule deleted after {cleaned:?}");
        kept.finish();
        assert!(holds(&router, 0, Duration::from_secs(1)), "{technique}");
    }
}

#[test]
fn deleting_for_a_former_address_never_touches_another_hosts_entry() {
    let Some(lab) = Lab::for_test(LabConfig {
        lan_hosts: 2,
        ..LabConfig::default().with_third_party_deletions()
    }) else {
        return;
    };
    let gateway = IpAddr::V4(lab.gateway());
    let other = lab.lan_hosts()[1].clone();
    let owner = IpAddr::V4(other.address());
    // The second host maps TCP 47000 through UPnP.
    let mapping = other
        .block_on(move || async move {
            let upnp = UpnpTechnique::discover(gateway, Duration::from_secs(2))
                .await
                .unwrap();
            upnp.map(&MapRequest::new(Protocol::Tcp, 47000).with_external_port(47000))
                .await
                .unwrap()
        })
        .unwrap();
    assert_eq!(lab.redirections().unwrap().len(), 1);

    // The first host, asked to delete it as made for an address or port it was not made
    // for, leaves it; as made for its owner and port, deletes it (this router allows it).
    let elsewhere = Mapping::new(
        Technique::Upnp,
        Protocol::Tcp,
        47001,
        mapping.external,
        mapping.lifetime,
    );
    let stranger = IpAddr::V4(Ipv4Addr::new(192, 168, 77, 99));
    let first = |mapping: Mapping, former: IpAddr| {
        lab.lan()
            .block_on(move || async move {
                let upnp = UpnpTechnique::discover(gateway, Duration::from_secs(2))
                    .await
                    .unwrap();
                upnp.unmap_former(&mapping, former).await
            })
            .unwrap()
    };
    let wrong_owner = first(mapping.clone(), stranger);
    assert!(wrong_owner.is_ok(), "{wrong_owner:?}");
    let wrong_port = first(elsewhere, owner);
    assert!(wrong_port.is_ok(), "{wrong_port:?}");
    assert_eq!(lab.redirections().unwrap().len(), 1);
    let right = first(mapping, owner);
    assert!(right.is_ok(), "{right:?}");
    assert!(lab.redirections().unwrap().is_empty());
}
