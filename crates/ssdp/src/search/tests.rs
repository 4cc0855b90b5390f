//! Everything here stays on 127.0.0.1: multicast is off, and the only unicast target is
//! a fake responder on the loopback interface.

use std::time::Duration;

use tokio::net::UdpSocket;

use super::*;
use crate::parse::split_message;

#[test]
fn a_flooding_responder_is_capped_and_never_crowds_out_the_preferred_one() {
    let flood: IpAddr = "192.168.1.66".parse().expect("address");
    let gateway: IpAddr = "192.168.1.1".parse().expect("address");
    let mut state = SinkState::default();
    let admitted = (0..5000).filter(|_| state.admit(flood, false)).count();
    assert_eq!(admitted, MAX_RESPONSES_PER_RESPONDER);
    assert!(state.admit(gateway, true), "the gateway still gets through");
    let others = (0..5000u32)
        .filter(|i| {
            let host = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            state.admit(host, false)
        })
        .count();
    assert!(others <= MAX_RESPONSES, "{others}");
    assert!(state.admit(gateway, true), "the gateway still gets through");
    assert_eq!(state.dropped.answers, 5000 - admitted + 5000 - others);
    assert!(state.dropped.responders.contains(&flood));
    assert!(state.dropped.responders.len() <= 16);
}

#[test]
fn encodes_an_m_search() {
    let request = m_search("239.255.255.250:1900", "upnp:rootdevice", 2);
    assert_eq!(
        String::from_utf8(request).expect("utf-8"),
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\nST: upnp:rootdevice\r\n\r\n"
    );
}

fn answer(location: &str, st: &str, usn: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=100\r\nLOCATION: {location}\r\nST: {st}\r\nUSN: {usn}\r\n\r\n")
        .into_bytes()
}

/// A fake device on 127.0.0.1: to each M-SEARCH it sends some junk, then its answer
/// twice (from this socket and from a second one on another port), after `delay`.
async fn fake_responder(delay: Duration) -> (SocketAddr, tokio::task::JoinHandle<Vec<String>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    fake_responder_on(socket, delay).await
}

async fn fake_responder_on(
    socket: UdpSocket,
    delay: Duration,
) -> (SocketAddr, tokio::task::JoinHandle<Vec<String>>) {
    let mut other_address = socket.local_addr().expect("address");
    other_address.set_port(0);
    let other = UdpSocket::bind(other_address).await.expect("bind");
    let address = socket.local_addr().expect("address");
    let task = tokio::spawn(async move {
        let mut targets = Vec::new();
        let mut buffer = vec![0; 2048];
        while let Ok(Ok((len, source))) =
            tokio::time::timeout(Duration::from_secs(1), socket.recv_from(&mut buffer)).await
        {
            let (start, headers) = split_message(&buffer[..len]).expect("request");
            assert_eq!(start, "M-SEARCH * HTTP/1.1");
            assert_eq!(headers.get("man"), Some("\"ssdp:discover\""));
            assert_eq!(headers.get("host"), Some(address.to_string().as_str()));
            let st = headers.get("st").expect("ST").to_owned();
            targets.push(st.clone());
            tokio::time::sleep(delay).await;
            let usn = format!("uuid:fake::{st}");
            let reply = answer("http://127.0.0.1:1/desc.xml", &st, &usn);
            socket.send_to(b"\x00\x01junk", source).await.expect("send");
            socket
                .send_to(&vec![b'x'; 9000], source)
                .await
                .expect("send");
            socket.send_to(&reply, source).await.expect("send");
            other.send_to(&reply, source).await.expect("send");
        }
        targets
    });
    (address, task)
}

fn loopback_options(responder: SocketAddr) -> SearchOptions {
    SearchOptions::new("upnp:rootdevice")
        .target("urn:example:device:Thing:1")
        .multicast(false)
        .unicast(responder)
        .scan_time(Duration::from_millis(800))
        .sends(2, Duration::from_millis(100))
}

#[tokio::test]
async fn unicast_search_on_loopback_dedups_and_ends_after_the_scan_time() {
    let (responder, device) = fake_responder(Duration::ZERO).await;
    let options = loopback_options(responder);
    let started = Instant::now();
    let mut search = search_with(&options).await.expect("search starts");
    let mut responses = Vec::new();
    while let Some(response) = search.next_response().await {
        responses.push(response);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(790),
        "ended after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(1500),
        "ended after {elapsed:?}"
    );
    let mut targets: Vec<_> = responses.iter().map(|r| r.st.as_str()).collect();
    targets.sort_unstable();
    assert_eq!(targets, ["upnp:rootdevice", "urn:example:device:Thing:1"]);
    for response in &responses {
        assert!(response.source.ip().is_loopback());
        assert_eq!(response.location, "http://127.0.0.1:1/desc.xml");
        assert_eq!(response.max_age, Some(Duration::from_secs(100)));
    }
    drop(search);
    // Two targets, each sent twice.
    assert_eq!(device.await.expect("device").len(), 4);
}

/// On a lossy link the first searches may all be lost: the search goes on being sent
/// while nothing answers, and stops once something did.
#[tokio::test]
async fn the_search_is_sent_again_until_something_answers() {
    let device = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let responder = device.local_addr().expect("address");
    let server = tokio::spawn(async move {
        let mut buffer = vec![0; 2048];
        let mut searches = 0;
        let mut received = Vec::new();
        // The first three searches are "lost"; the fourth is answered.
        loop {
            let Ok(Ok((_, searcher))) =
                tokio::time::timeout(Duration::from_millis(700), device.recv_from(&mut buffer))
                    .await
            else {
                break;
            };
            searches += 1;
            received.push(Instant::now());
            if searches == 4 {
                let reply = answer(
                    "http://127.0.0.1:1/desc.xml",
                    "upnp:rootdevice",
                    "uuid:x::upnp:rootdevice",
                );
                let _ = device.send_to(&reply, searcher).await;
            }
        }
        searches
    });
    let options = SearchOptions::new("upnp:rootdevice")
        .multicast(false)
        .unicast(responder)
        .scan_time(Duration::from_secs(3))
        .sends(8, Duration::from_millis(100));
    let first = search_first(&options).await.expect("search starts");
    assert!(first.is_some(), "the fourth search was answered");
    let searches = server.await.expect("server");
    assert!(
        (4..=5).contains(&searches),
        "{searches} searches: it stopped once answered"
    );
}

#[tokio::test]
async fn unicast_search_over_ipv6_loopback() {
    let Ok(socket) = UdpSocket::bind("[::1]:0").await else {
        return; // no IPv6 on this host
    };
    let (responder, _device) = fake_responder_on(socket, Duration::ZERO).await;
    let options = SearchOptions::new("upnp:rootdevice")
        .multicast(false)
        .unicast(responder)
        .scan_time(Duration::from_secs(5));
    let first = search_first(&options).await.expect("search starts");
    let first = first.expect("an answer");
    assert_eq!(first.source.ip(), responder.ip());
    assert_eq!(first.st, "upnp:rootdevice");
}

#[tokio::test]
async fn five_thousand_answers_from_another_host_never_crowd_out_the_gateway() {
    // The gateway (127.0.0.1) tells the flooder (127.0.0.2) where the searcher is; the
    // flooder sends 5,000 made-up answers before the gateway answers once.
    let gateway = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let flooder = UdpSocket::bind("127.0.0.2:0").await.expect("bind");
    let gateway_address = gateway.local_addr().expect("address");
    let server = tokio::spawn(async move {
        let mut buffer = vec![0; 2048];
        let (_, searcher) = gateway.recv_from(&mut buffer).await.expect("m-search");
        for i in 0..5000 {
            let fake = answer(
                &format!("http://127.0.0.2:1/fake{i}"),
                "upnp:rootdevice",
                &format!("uuid:fake-{i}::upnp:rootdevice"),
            );
            let _ = flooder.send_to(&fake, searcher).await;
            if i % 256 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let real = answer(
            "http://127.0.0.1:5000/rootDesc.xml",
            "upnp:rootdevice",
            "uuid:gw::upnp:rootdevice",
        );
        gateway.send_to(&real, searcher).await.expect("send");
    });
    let options = SearchOptions::new("upnp:rootdevice")
        .multicast(false)
        .unicast(gateway_address)
        .scan_time(Duration::from_millis(1500))
        .sends(1, Duration::from_millis(100));
    let search = search_with(&options).await.expect("search starts");
    let state = Arc::clone(&search.state);
    let responses = search.collect_all().await;
    server.await.expect("server");
    let from_gateway = responses
        .iter()
        .filter(|r| r.source.ip() == gateway_address.ip())
        .count();
    assert_eq!(from_gateway, 1, "the gateway's answer got through");
    let from_flooder = responses.len() - from_gateway;
    assert!(
        from_flooder <= MAX_RESPONSES_PER_RESPONDER,
        "{from_flooder}"
    );
    let dropped = lock(&state).dropped.clone();
    assert!(dropped.answers > 0, "{dropped:?}");
    assert_eq!(
        dropped.responders,
        ["127.0.0.2".parse::<IpAddr>().expect("ip")]
    );
}

#[tokio::test]
async fn search_first_returns_at_once() {
    let (responder, _device) = fake_responder(Duration::from_millis(50)).await;
    let options = loopback_options(responder).scan_time(Duration::from_secs(5));
    let started = Instant::now();
    let first = search_first(&options).await.expect("search starts");
    let elapsed = started.elapsed();
    let first = first.expect("an answer");
    assert!(
        first
            .usn
            .as_deref()
            .is_some_and(|u| u.starts_with("uuid:fake::"))
    );
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[tokio::test]
async fn a_search_nobody_answers_ends_empty() {
    // A bound socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let options = loopback_options(silent.local_addr().expect("address"))
        .scan_time(Duration::from_millis(300));
    let started = Instant::now();
    let search = search_with(&options).await.expect("search starts");
    assert!(search.deadline() > std::time::Instant::now());
    assert!(search.collect_all().await.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(290));
    assert_eq!(search_first(&options).await.expect("search starts"), None);
}

#[tokio::test]
async fn stop_ends_the_stream() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let options =
        loopback_options(silent.local_addr().expect("address")).scan_time(Duration::from_secs(30));
    let mut search = search_with(&options).await.expect("search starts");
    search.stop();
    let ended = tokio::time::timeout(Duration::from_secs(2), search.next_response()).await;
    assert_eq!(ended.expect("ends at once"), None);
}

#[tokio::test]
async fn the_stream_trait_yields_the_same_answers() {
    use std::future::poll_fn;

    use futures_core::Stream;

    let (responder, _device) = fake_responder(Duration::ZERO).await;
    let mut search = search_with(&loopback_options(responder))
        .await
        .expect("search starts");
    let mut count = 0;
    while let Some(response) = poll_fn(|cx| Pin::new(&mut search).poll_next(cx)).await {
        assert!(response.source.ip().is_loopback());
        count += 1;
    }
    assert_eq!(count, 2);
}

#[tokio::test]
async fn invalid_options_are_refused_before_anything_is_sent() {
    let options = SearchOptions::default().multicast(false);
    assert!(matches!(
        search_with(&options).await,
        Err(Error::InvalidOptions { .. })
    ));
}
