//! Lab tests: searches and a NOTIFY listener on the lab's LAN host, against the real
//! miniupnpd on the lab's router. Every SSDP packet here is sent inside the lab's network
//! namespaces (`Host::block_on`), never on this machine's own network.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use natlab::{Lab, LabConfig, ROUTER_LAN_ADDRESS, UPNP_HTTP_PORT};
use ssdp::{ListenOptions, NotificationSubType, Notify, Response, SearchOptions};

const IGD_1: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";

fn router_location_prefix() -> String {
    format!("http://{ROUTER_LAN_ADDRESS}:{UPNP_HTTP_PORT}/")
}

/// Runs a search on the LAN host and returns every answer and how long the stream lasted.
fn search_on_lan(lab: &Lab, options: SearchOptions) -> (Vec<Response>, Duration) {
    lab.lan()
        .block_on(move || async move {
            let started = Instant::now();
            let responses = ssdp::search_with(&options)
                .await
                .unwrap()
                .collect_all()
                .await;
            (responses, started.elapsed())
        })
        .unwrap()
}

fn from_router(responses: &[Response]) -> Vec<&Response> {
    responses
        .iter()
        .filter(|r| r.source.ip() == IpAddr::V4(ROUTER_LAN_ADDRESS))
        .collect()
}

fn assert_no_duplicates(responses: &[Response]) {
    let mut keys = HashSet::new();
    for response in responses {
        assert!(
            keys.insert((response.location.clone(), response.usn.clone())),
            "duplicate answer {response:?}"
        );
    }
}

#[test]
fn search_finds_the_router_as_root_device_and_igd() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let options = SearchOptions::new(ssdp::ROOT_DEVICE)
        .target(IGD_1)
        .scan_time(Duration::from_secs(2));
    let (responses, elapsed) = search_on_lan(&lab, options);

    assert!(
        elapsed >= Duration::from_millis(1990),
        "ended after {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(3), "ended after {elapsed:?}");
    let router = from_router(&responses);
    for target in [ssdp::ROOT_DEVICE, IGD_1] {
        let answer = router
            .iter()
            .find(|r| r.st == target)
            .unwrap_or_else(|| panic!("no answer for {target} in {responses:#?}"));
        assert!(
            answer.location.starts_with(&router_location_prefix()),
            "{answer:?}"
        );
        assert!(answer.usn.as_deref().unwrap().starts_with("uuid:"));
        assert!(answer.server.as_deref().unwrap().contains("MiniUPnPd"));
        assert!(answer.max_age.is_some());
    }
    // Every M-SEARCH went out twice and miniupnpd answers each: the duplicates are gone.
    assert_no_duplicates(&responses);
    assert_eq!(
        router
            .iter()
            .filter(|r| r.location.starts_with(&router_location_prefix()))
            .count(),
        2,
        "{router:#?}"
    );
}

#[test]
fn search_all_lists_every_device_and_service_of_the_router_once() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let (responses, _) = search_on_lan(
        &lab,
        SearchOptions::new(ssdp::ALL).scan_time(Duration::from_millis(2500)),
    );
    assert_no_duplicates(&responses);
    let router = from_router(&responses);
    let targets: HashSet<&str> = router.iter().map(|r| r.st.as_str()).collect();
    assert!(targets.contains(ssdp::ROOT_DEVICE), "{targets:?}");
    assert!(
        targets
            .iter()
            .any(|t| t.contains(":service:WANIPConnection:")),
        "{targets:?}"
    );
}

#[test]
fn search_first_returns_well_before_the_scan_time() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let (first, elapsed) = lab
        .lan()
        .block_on(|| async {
            let options = SearchOptions::new(IGD_1).scan_time(Duration::from_secs(6));
            let started = Instant::now();
            let first = ssdp::search_first(&options).await.unwrap();
            (first, started.elapsed())
        })
        .unwrap();
    let first = first.expect("the router answers");
    assert_eq!(first.st, IGD_1);
    assert!(first.location.starts_with(&router_location_prefix()));
    // MX is 1: miniupnpd answers within a second.
    assert!(elapsed < Duration::from_millis(2500), "took {elapsed:?}");
}

#[test]
fn unicast_m_search_to_the_router_is_answered() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let router = SocketAddr::from((ROUTER_LAN_ADDRESS, ssdp::PORT));
    let options = SearchOptions::new(ssdp::ROOT_DEVICE)
        .multicast(false)
        .unicast(router)
        .scan_time(Duration::from_millis(1500));
    let (responses, _) = search_on_lan(&lab, options);
    assert_eq!(responses.len(), 1, "{responses:#?}");
    assert_eq!(responses[0].source.ip(), router.ip());
    assert_eq!(responses[0].st, ssdp::ROOT_DEVICE);
    assert!(responses[0].location.starts_with(&router_location_prefix()));
}

#[test]
fn without_upnp_the_stream_ends_empty_after_the_scan_time() {
    let Some(lab) = Lab::for_test(LabConfig {
        upnp: false,
        ..LabConfig::default()
    }) else {
        return;
    };
    let router = SocketAddr::from((ROUTER_LAN_ADDRESS, ssdp::PORT));
    let options = SearchOptions::new(ssdp::ALL)
        .unicast(router)
        .scan_time(Duration::from_millis(1500));
    let (responses, elapsed) = search_on_lan(&lab, options);
    assert!(responses.is_empty(), "{responses:#?}");
    assert!(
        elapsed >= Duration::from_millis(1490),
        "ended after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(2500),
        "ended after {elapsed:?}"
    );
}

/// Takes messages until both a byebye and an alive came (or the listen time is over).
async fn until_byebye_and_alive(mut listener: ssdp::NotifyListener) -> Vec<Notify> {
    let mut seen = Vec::new();
    while let Some(notify) = listener.next_notify().await {
        seen.push(notify);
        let saw = |nts| seen.iter().any(|n| n.nts == nts);
        if saw(NotificationSubType::ByeBye) && saw(NotificationSubType::Alive) {
            break;
        }
    }
    seen
}

#[test]
fn notify_listeners_share_the_port_and_see_byebye_and_alive_when_the_router_restarts() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lan = lab.lan().clone();
    let (ready, is_ready) = std::sync::mpsc::channel();
    let listener = std::thread::spawn(move || {
        lan.block_on(move || async move {
            let options = ListenOptions::default().listen_time(Duration::from_secs(20));
            // Two listeners on port 1900 at once: SO_REUSEADDR/SO_REUSEPORT let them share it,
            // and each receives every multicast NOTIFY.
            let first = ssdp::listen(&options).await.unwrap();
            let second = ssdp::listen(&options).await.unwrap();
            ready.send(()).unwrap();
            tokio::join!(
                until_byebye_and_alive(first),
                until_byebye_and_alive(second)
            )
        })
    });
    is_ready.recv_timeout(Duration::from_secs(10)).unwrap();
    let started = Instant::now();
    lab.stop_router().unwrap();
    lab.start_router().unwrap();
    let (seen, seen_by_second) = listener.join().unwrap().unwrap();
    let elapsed = started.elapsed();
    assert!(
        seen_by_second
            .iter()
            .any(|n| n.nts == NotificationSubType::Alive),
        "{seen_by_second:#?}"
    );

    let byebye = seen
        .iter()
        .find(|n| n.nts == NotificationSubType::ByeBye)
        .unwrap_or_else(|| panic!("no byebye in {seen:#?}"));
    assert_eq!(byebye.source.ip(), IpAddr::V4(ROUTER_LAN_ADDRESS));
    assert!(byebye.usn.starts_with("uuid:"));
    let alive = seen
        .iter()
        .find(|n| n.nts == NotificationSubType::Alive)
        .unwrap_or_else(|| panic!("no alive in {seen:#?}"));
    assert_eq!(alive.source.ip(), IpAddr::V4(ROUTER_LAN_ADDRESS));
    assert!(
        alive
            .location
            .as_deref()
            .unwrap()
            .starts_with(&router_location_prefix())
    );
    assert!(alive.max_age.is_some());
    // Well before miniupnpd's 30 s periodic announcements: these came from the restart.
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
}
