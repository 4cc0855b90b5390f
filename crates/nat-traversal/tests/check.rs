//! Lab tests of the reachability check (feature `stun`) against coturn on the lab's WAN
//! host: the NAT behaviour the router was configured with, 10 of 10 runs each within 2 s;
//! hairpinning on and off; double NAT behind a carrier-grade or private outer NAT for
//! PCP, NAT-PMP, UPnP and with no technique at all; UDP and TCP ports seen from outside,
//! with the STUN requests a check costs; the IPv6 side.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use nat_traversal::{
    FilteringBehaviour, MappingBehaviour, Nat, NatOptions, Protocol, ReachabilityReport, Technique,
    Verdict,
};
use natlab::{Filtering, Lab, LabConfig, Mapping, NatBehaviour, OuterNat};

const GATEWAY: IpAddr = IpAddr::V4(natlab::ROUTER_LAN_ADDRESS);

fn options(lab: &Lab) -> NatOptions {
    NatOptions::default()
        .with_gateway(GATEWAY)
        .with_probe_timeout(Duration::from_millis(500))
        .with_stun_server(lab.stun_server().unwrap())
}

fn lab(config: LabConfig) -> Option<Lab> {
    Lab::for_test_with_tools(config.with_stun(), &["turnserver"])
}

/// Runs a host check on the LAN host.
fn check(lab: &Lab, options: NatOptions) -> ReachabilityReport {
    lab.lan()
        .block_on(|| async move { Nat::new(options).check().await })
        .unwrap()
}

fn expected_mapping(mapping: Mapping) -> MappingBehaviour {
    match mapping {
        Mapping::PortPreserving => MappingBehaviour::EndpointIndependent,
        _ => MappingBehaviour::AddressAndPortDependent,
    }
}

fn expected_filtering(filtering: Filtering) -> FilteringBehaviour {
    match filtering {
        Filtering::AddressAndPortDependent => FilteringBehaviour::AddressAndPortDependent,
        Filtering::AddressDependent => FilteringBehaviour::AddressDependent,
        Filtering::EndpointIndependent => FilteringBehaviour::EndpointIndependent,
    }
}

#[test]
fn the_check_names_each_configured_nat_behaviour_ten_times_in_two_seconds() {
    for mapping in [
        Mapping::PortPreserving,
        Mapping::Random,
        Mapping::FullyRandom,
    ] {
        for filtering in [
            Filtering::AddressAndPortDependent,
            Filtering::AddressDependent,
            Filtering::EndpointIndependent,
        ] {
            let nat = NatBehaviour {
                mapping,
                filtering,
                hairpinning: false,
            };
            let Some(lab) = lab(LabConfig::default().with_nat(nat)) else {
                return;
            };
            for run in 0..10 {
                let report = check(&lab, options(&lab));
                let case = format!("{mapping:?} / {filtering:?}, run {run}: {report:?}");
                assert_eq!(report.mapping, Some(expected_mapping(mapping)), "{case}");
                assert_eq!(
                    report.filtering,
                    Some(expected_filtering(filtering)),
                    "{case}"
                );
                assert!(report.elapsed < Duration::from_secs(2), "{case}");
                assert!(!report.double_nat, "{case}");
                let public = lab.public_address();
                assert_eq!(
                    report.external_seen.map(|s| s.ip()),
                    Some(IpAddr::V4(public))
                );
                assert_eq!(report.external_router, Some(IpAddr::V4(public)), "{case}");
                assert!(report.stun_round_trips <= 2, "{case}");
            }
        }
    }
}

#[test]
fn hairpinning_is_reported_on_and_off() {
    for hairpinning in [false, true] {
        let nat = NatBehaviour {
            hairpinning,
            ..NatBehaviour::default()
        };
        let Some(lab) = lab(LabConfig::default().with_nat(nat)) else {
            return;
        };
        for _ in 0..3 {
            let report = check(&lab, options(&lab));
            assert_eq!(report.hairpinning, Some(hairpinning), "{report:?}");
        }
    }
}

#[test]
fn a_udp_port_mapping_is_verified_from_outside() {
    let Some(lab) = lab(LabConfig::default()) else {
        return;
    };
    let options = options(&lab).only(Technique::Pcp);
    let report = lab
        .lan()
        .block_on(|| async move { Nat::new(options).check_port(Protocol::Udp, 9400).await })
        .unwrap();
    let public = SocketAddr::new(IpAddr::V4(lab.public_address()), 9400);
    assert_eq!(report.unsolicited_arrived, Some(true), "{report:?}");
    let assignment = report.assignment.unwrap();
    assert_eq!(assignment.address, public);
    assert!(assignment.verified, "{report:?}");
    assert_eq!(
        report.verdict.to_string(),
        format!("reachable at {public} (UDP via PCP, seen from outside)")
    );
    // At most two round trips to the STUN server on top of the mapping: test I with the
    // three CHANGE-REQUESTs, then tests II and III (the filtered CHANGE-REQUESTs of the
    // fresh socket are sent again while they wait: transmissions, not round trips).
    assert_eq!((report.stun_round_trips, report.stun_requests), (2, 6));
}

#[test]
fn a_tcp_port_mapping_is_seen_from_outside() {
    let Some(lab) = lab(LabConfig::default()) else {
        return;
    };
    let options = options(&lab).only(Technique::Upnp);
    let report = lab
        .lan()
        .block_on(|| async move { Nat::new(options).check_port(Protocol::Tcp, 9401).await })
        .unwrap();
    let public = SocketAddr::new(IpAddr::V4(lab.public_address()), 9401);
    assert_eq!(report.external_seen, Some(public), "{report:?}");
    assert_eq!(
        report.verdict.to_string(),
        format!("reachable at {public} (TCP via UPnP IGD, seen from outside)")
    );
}

#[test]
fn double_nat_is_detected_for_every_technique_and_without_one() {
    for outer in [OuterNat::CarrierGrade, OuterNat::Private] {
        let techniques = [
            Some(Technique::Pcp),
            Some(Technique::NatPmp),
            Some(Technique::Upnp),
            None,
        ];
        for technique in techniques {
            let config = match technique {
                Some(_) => LabConfig::default(),
                None => LabConfig {
                    natpmp: false,
                    upnp: false,
                    ..LabConfig::default()
                },
            };
            let Some(lab) = lab(config.with_outer_nat(outer)) else {
                return;
            };
            let options = match technique {
                Some(t) => options(&lab).only(t),
                None => options(&lab),
            };
            for port in [None, Some(9402)] {
                let options = options.clone();
                let report = lab
                    .lan()
                    .block_on(move || async move {
                        let nat = Nat::new(options);
                        match port {
                            None => nat.check().await,
                            Some(port) => nat.check_port(Protocol::Udp, port).await,
                        }
                    })
                    .unwrap();
                let case = format!("{outer:?} / {technique:?} / port {port:?}: {report:?}");
                assert!(report.double_nat, "{case}");
                assert!(
                    matches!(report.verdict, Verdict::BehindSecondNat { .. }),
                    "{case}"
                );
                assert!(
                    report
                        .verdict
                        .to_string()
                        .starts_with("behind a second NAT"),
                    "{case}"
                );
                assert_eq!(
                    report.external_seen.map(|s| s.ip()),
                    Some(IpAddr::V4(lab.public_address())),
                    "{case}"
                );
            }
        }
    }
}

#[test]
fn the_ipv6_side_sees_the_hosts_own_address_and_the_firewalls_filtering() {
    let Some(lab) = lab(LabConfig::dual_stack()) else {
        return;
    };
    let options = NatOptions::default()
        .with_probe_timeout(Duration::from_millis(500))
        .with_stun_server(lab.stun_server_v6().unwrap());
    let report = lab
        .lan()
        .block_on(move || async move { Nat::new(options).ipv6().check().await })
        .unwrap();
    let own = IpAddr::V6(lab.lan().address_v6().unwrap());
    assert_eq!(
        report.external_seen.map(|s| s.ip()),
        Some(own),
        "{report:?}"
    );
    assert!(!report.double_nat, "{report:?}");
    assert_eq!(
        report.mapping,
        Some(MappingBehaviour::EndpointIndependent),
        "{report:?}"
    );
    assert!(report.filtering.is_some(), "{report:?}");
}

#[test]
fn a_public_udp_socket_is_verified_from_outside() {
    let Some(lab) = lab(LabConfig::default()) else {
        return;
    };
    let options = options(&lab);
    let (report, before) = lab
        .lan()
        .block_on(move || async move {
            let nat = Nat::new(options);
            let public = nat.udp_bind_public("0.0.0.0:9404").await.unwrap();
            let mut assignments = public.assignments();
            let wait = assignments.wait_for(|a| a.public().next().is_some());
            tokio::time::timeout(Duration::from_secs(5), wait)
                .await
                .unwrap()
                .unwrap();
            let assignment = assignments.borrow().public().next().copied();
            let report = nat.check_udp_socket(&public.socket, assignment).await;
            public.close().await.unwrap();
            (report, assignment)
        })
        .unwrap();
    let before = before.unwrap();
    assert!(!before.verified);
    let after = report.assignment.unwrap();
    assert_eq!(after.address, before.address);
    assert!(after.verified, "{report:?}");
    assert_eq!(report.unsolicited_arrived, Some(true));
    assert!(
        after.to_string().ends_with("(verified from outside)"),
        "{after}"
    );
}

#[test]
fn double_nat_is_detected_behind_a_router_that_asks_stun_for_its_address() {
    // miniupnpd with ext_perform_stun reports the outer NAT's public address to every
    // protocol, and refuses every mapping: the refusal and the hop after the router tell.
    // A lab each: the outer NAT rate-limits its ICMP time-exceeded answers (about one a
    // second once a short burst is spent), which the hop probe relies on.
    for technique in [Technique::Pcp, Technique::NatPmp, Technique::Upnp] {
        let config = LabConfig::default()
            .with_outer_nat(OuterNat::CarrierGrade)
            .with_router_stun();
        let Some(lab) = lab(config) else {
            return;
        };
        let options = options(&lab).only(technique);
        let report = lab
            .lan()
            .block_on(
                move || async move { Nat::new(options).check_port(Protocol::Udp, 9405).await },
            )
            .unwrap();
        let case = format!("{technique:?}: {report:?}");
        // NAT-PMP and UPnP say the public address; PCP's address request is refused too.
        let public = IpAddr::V4(lab.public_address());
        assert!(
            report.external_router.is_none_or(|ip| ip == public),
            "{case}"
        );
        assert!(report.double_nat, "{case}");
        assert!(
            matches!(report.verdict, Verdict::BehindSecondNat { .. }),
            "{case}"
        );
    }
}
