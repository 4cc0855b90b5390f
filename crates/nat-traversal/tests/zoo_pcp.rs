//! Lab tests of the facade's PCP technique against the PCP zoo (`natlab::pcp_zoo`): PCP
//! servers that answer the way real ones other than miniupnpd do, on the lab router's UDP
//! 5351, no miniupnpd running. Through the public API: `PmpTechnique` on its own, and a
//! `Nat` probing the gateway. Every packet stays inside the lab: the gateway is given.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use nat_traversal::{
    Error, MapRequest, Nat, NatOptions, NatTechnique, PmpTechnique, Protocol, Technique,
};
use natlab::pcp_zoo::{PcpBehaviour, PcpZooLab, code};

const GATEWAY: IpAddr = IpAddr::V4(natlab::ROUTER_LAN_ADDRESS);

/// The retry hint of a PCP error, through the facade's error.
fn retry_after(error: &Error) -> Option<Duration> {
    match error {
        Error::PortControl(error) => error.retry_after(),
        _ => None,
    }
}

#[test]
fn a_pcp_refusal_carrying_an_address_grants_nothing() {
    let Some(zoo) = PcpZooLab::for_test(PcpBehaviour::RefuseMaps(code::NETWORK_FAILURE), false)
    else {
        return;
    };
    let (external, mapped, selected) = zoo
        .lan()
        .block_on(|| async {
            let pcp = PmpTechnique::pcp(GATEWAY, Duration::from_secs(5))
                .await
                .unwrap();
            let external = pcp.external_address().await;
            let mapped = pcp
                .map(&MapRequest::new(Protocol::Tcp, 4400).with_lifetime(Duration::from_secs(600)))
                .await;
            let nat = Nat::new(
                NatOptions::default()
                    .with_gateway(GATEWAY)
                    .with_probe_timeout(Duration::from_secs(2)),
            );
            let selected = nat.probe().await.map(|report| report.selected());
            (external, mapped, selected)
        })
        .unwrap();
    let log = zoo.fixture().log().join("\n");
    let error = external.expect_err("a refusal is not an address");
    assert!(!error.is_unreachable(), "{error}");
    assert!(error.to_string().contains("NETWORK_FAILURE (7)"), "{error}");
    assert!(!error.to_string().contains("44.0.0.1"), "{error}");
    // NETWORK_FAILURE is a short lifetime error: the fixture says 30 s.
    assert_eq!(retry_after(&error), Some(Duration::from_secs(30)), "{log}");
    let error = mapped.expect_err("a refusal is not a mapping");
    assert_eq!(retry_after(&error), Some(Duration::from_secs(30)));
    assert_ne!(selected.ok().flatten(), Some(Technique::Pcp), "{log}");
}

#[test]
fn a_pcp_version_1_server_makes_pcp_unusable_at_once() {
    let Some(zoo) = PcpZooLab::for_test(PcpBehaviour::Version1Only, false) else {
        return;
    };
    let (error, took) = zoo
        .lan()
        .block_on(|| async {
            let pcp = PmpTechnique::pcp(GATEWAY, Duration::from_secs(5))
                .await
                .unwrap();
            let started = Instant::now();
            let error = pcp.external_address().await.unwrap_err();
            (error, started.elapsed())
        })
        .unwrap();
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(error.is_unreachable(), "{error}");
    assert!(
        error
            .to_string()
            .contains("speaks PCP version 1 only; natkit speaks version 2"),
        "{error}"
    );
    assert_eq!(retry_after(&error), Some(Duration::from_secs(1800)));
    assert_eq!(zoo.fixture().log().len(), 1, "{:?}", zoo.fixture().log());
}
