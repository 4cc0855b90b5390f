//! Lab tests of the facade against the router zoo: fixture routers that behave like real
//! home routers (UPnP IGD only; no NAT-PMP or PCP daemon runs), and hostile LAN hosts.
//! Through the public API only: probe, external address, map (reached from the WAN host),
//! unmap from a new `Nat` (as a new process would). Every packet stays inside the lab: the
//! gateway is always given.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use nat_traversal::{MapRequest, Mapping, Nat, NatOptions, ProbeReport, Protocol, Technique};
use natlab::zoo::{Profile, ZooLab, ZooOptions};

const GATEWAY: IpAddr = IpAddr::V4(natlab::ROUTER_LAN_ADDRESS);
const PORT: u16 = 4100;

fn options() -> NatOptions {
    // A router that answers only `upnp:rootdevice` is found in discovery's second stage,
    // after 500 ms: the probe waits up to 3 s.
    NatOptions::default()
        .with_gateway(GATEWAY)
        .with_probe_timeout(Duration::from_secs(3))
        .with_operation_timeout(Duration::from_secs(5))
}

fn v4(address: SocketAddr) -> SocketAddrV4 {
    match address {
        SocketAddr::V4(address) => address,
        SocketAddr::V6(address) => panic!("{address} is not IPv4"),
    }
}

/// Probe, external address, map, proof, unmap from a fresh `Nat`, proof of removal.
fn facade_cycle(zoo: &ZooLab) {
    type Outcome = (
        ProbeReport,
        nat_traversal::Result<IpAddr>,
        nat_traversal::Result<Mapping>,
    );
    let (report, external, mapping): Outcome = zoo
        .lan()
        .block_on(|| async {
            let nat = Nat::new(options());
            let report = nat.probe().await.unwrap();
            let external = nat.external_address().await.map(|e| e.address);
            let mapping = nat
                .map(&MapRequest::new(Protocol::Tcp, PORT).with_lifetime(Duration::from_secs(600)))
                .await;
            (report, external, mapping)
        })
        .unwrap();
    assert_eq!(
        report.selected(),
        Some(Technique::Upnp),
        "{report}\n{}",
        zoo.log()
    );
    let log = zoo.log();
    assert_eq!(
        external.unwrap_or_else(|e| panic!("{e}\n{log}")),
        IpAddr::V4(zoo.external_address())
    );
    let mapping = mapping.unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert_eq!(mapping.technique, Technique::Upnp);
    assert_eq!(mapping.internal_port, PORT);
    assert_eq!(mapping.external.ip(), IpAddr::V4(zoo.external_address()));
    let public = v4(mapping.external);
    assert!(
        zoo.tcp_reaches(zoo.lan(), PORT, public).unwrap(),
        "{mapping:?} does not forward\n{}",
        zoo.log()
    );

    let unmapped = zoo
        .lan()
        .block_on(move || async move {
            let nat = Nat::new(options());
            nat.selected_technique().await?.unmap(&mapping).await
        })
        .unwrap();
    unmapped.unwrap_or_else(|e| panic!("unmap failed: {e}\n{}", zoo.log()));
    assert!(zoo.redirections().unwrap().is_empty(), "{}", zoo.log());
    assert!(!zoo.tcp_reaches(zoo.lan(), PORT, public).unwrap());
}

fn profile_cycle(profile: Profile) {
    let Some(zoo) = ZooLab::for_test(profile) else {
        return;
    };
    facade_cycle(&zoo);
}

#[test]
fn facade_on_dlink_dir890l() {
    profile_cycle(Profile::dlink_dir890l());
}

#[test]
fn facade_on_broadcom() {
    profile_cycle(Profile::broadcom());
}

#[test]
fn facade_on_cisco_cable_modem() {
    profile_cycle(Profile::cisco_cable_modem());
}

#[test]
fn facade_on_ddwrt() {
    profile_cycle(Profile::ddwrt());
}

#[test]
fn facade_on_old_miniupnpd_1() {
    profile_cycle(Profile::miniupnpd1());
}

/// A router whose search answers look like miniupnpd's (its `SERVER` token, its description
/// path) while its control URL is elsewhere: the cold path's guess of miniupnpd's control URL
/// fails, and the facade reads the description instead. Stands for forks and rebrands of
/// miniupnpd that moved their URLs, and for any stack that borrows its `SERVER` string.
#[test]
fn facade_recovers_from_a_wrong_guess_of_miniupnpds_urls() {
    let mut profile = Profile::miniupnpd1();
    profile.name = "miniupnpd-lookalike";
    for connection in &mut profile.device.connections {
        connection.control_path = "/upnp/control/WANIPConn1";
    }
    profile_cycle(profile);
}

#[test]
fn facade_on_livebox() {
    profile_cycle(Profile::livebox());
}

#[test]
fn facade_on_dual_wan() {
    profile_cycle(Profile::dual_wan());
}

#[test]
fn facade_on_fritzbox() {
    profile_cycle(Profile::fritzbox());
}

#[test]
fn facade_on_list_only_router() {
    profile_cycle(Profile::list_only());
}

#[test]
fn facade_on_linksys_wrt120n() {
    profile_cycle(Profile::linksys_wrt120n());
}

#[test]
fn facade_ignores_a_rogue_igd() {
    let Some(zoo) = ZooLab::for_test_with(
        Profile::slow_to_answer(),
        ZooOptions {
            rogue: true,
            ..ZooOptions::default()
        },
        &[],
    ) else {
        return;
    };
    facade_cycle(&zoo);
    let rogue = zoo.rogue().unwrap();
    assert_eq!(rogue.http_requests(), 0, "{}", rogue.log());
}

#[test]
fn facade_finds_the_gateway_through_an_ssdp_flood() {
    let Some(zoo) = ZooLab::for_test_with(
        Profile::slow_to_answer(),
        ZooOptions {
            flood: Some(5000),
            ..ZooOptions::default()
        },
        &[],
    ) else {
        return;
    };
    facade_cycle(&zoo);
    assert!(
        zoo.flood().unwrap().searches() > 0,
        "the flood never answered"
    );
}

/// A pupnp gateway answers every search with an IGD:1 and an IGD:2 description in random
/// order: one device, so every new `Nat` maps through its version-2 service.
#[test]
fn facade_maps_through_the_newest_service_of_a_gateway_with_two_root_devices() {
    let Some(zoo) = ZooLab::for_test(Profile::pupnp_two_roots()) else {
        return;
    };
    for _ in 0..6 {
        facade_cycle(&zoo);
    }
    let log = zoo.fixture().log();
    assert!(log.contains("POST /upnp/control/WANIPConn2 Add"), "{log}");
    assert!(!log.contains("POST /upnp/control/WANIPConn1"), "{log}");
}
