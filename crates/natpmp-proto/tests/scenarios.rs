//! Scenario tests of the sans-IO core with simulated time: retransmission schedules,
//! response validation, outcomes, epoch tracking and version negotiation against fake
//! gateways built from the codec. No socket is opened; `Instant`s are computed.
//!
//! The file is long (over 900 lines) because it is one suite: its 25 scenarios drive the
//! same fake gateways and timeline helpers, each scenario spells out every datagram and
//! instant it checks, and one file keeps them comparable side by side. The demultiplexer's
//! own table-driven tests are in `src/demux/tests.rs`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use natpmp_proto::pcp::{self, IpProtocol, MapData, PeerData};
use natpmp_proto::{
    AnyRequest, AnyResultCode, DatagramVerdict, Decision, EpochCheck, EpochTracker, IgnoreReason,
    Nonce, Protocol, SERVER_PORT, Schedule, Transaction, TransactionError, Version,
    VersionNegotiator, natpmp,
};

const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 77, 10));
const EXTERNAL: Ipv4Addr = Ipv4Addr::new(44, 0, 0, 1);
const NONCE: Nonce = Nonce([7; 12]);

fn gateway() -> SocketAddr {
    SocketAddr::from((GATEWAY_IP, SERVER_PORT))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn pcp_map_request(protocol: Protocol, port: u16) -> pcp::Request {
    pcp::Request::map(CLIENT, MapData::new(NONCE, protocol, port, CLIENT), 7200)
}

/// Runs a transaction nobody answers; returns the send offsets and the outcome time.
fn run_unanswered(tx: &mut Transaction, t0: Instant, limit: usize) -> (Vec<Duration>, Instant) {
    let mut sends = Vec::new();
    let mut now = t0;
    for _ in 0..limit {
        while let Some(transmit) = tx.poll_transmit(now) {
            assert_eq!(transmit.destination, gateway());
            assert_eq!(transmit.attempt as usize, sends.len() + 1);
            sends.push(now - t0);
        }
        if tx.is_finished() {
            break;
        }
        now = tx
            .poll_timeout()
            .expect("a running transaction has a deadline");
        tx.handle_timeout(now);
    }
    (sends, now)
}

// --- NAT-PMP retransmission -------------------------------------------------------------

#[test]
fn natpmp_schedule_is_250ms_doubling_nine_tries() {
    let t0 = Instant::now();
    let mut tx = Transaction::new(
        natpmp::Request::external_address(),
        gateway(),
        Schedule::natpmp_rfc(),
        t0,
    )
    .unwrap();
    let (sends, end) = run_unanswered(&mut tx, t0, 100);
    let expected: Vec<Duration> = [0, 250, 750, 1750, 3750, 7750, 15750, 31750, 63750]
        .into_iter()
        .map(ms)
        .collect();
    assert_eq!(sends, expected);
    assert_eq!(end - t0, ms(127_750));
    match tx.poll_outcome() {
        Some(Err(TransactionError::TimedOut {
            gateway: g,
            waited,
            attempts,
        })) => {
            assert_eq!((g, waited, attempts), (gateway(), ms(127_750), 9));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(tx.poll_outcome(), None, "the outcome is handed out once");
    assert_eq!(tx.poll_timeout(), None);
    assert_eq!(tx.poll_transmit(end), None);
}

#[test]
fn nothing_happens_before_the_deadline() {
    let t0 = Instant::now();
    let mut tx = Transaction::new(
        natpmp::Request::external_address(),
        gateway(),
        Schedule::natpmp_rfc(),
        t0,
    )
    .unwrap();
    assert_eq!(
        tx.poll_timeout(),
        Some(t0),
        "the first attempt is due at once"
    );
    assert!(tx.poll_transmit(t0).is_some());
    assert_eq!(tx.poll_transmit(t0), None, "one datagram per attempt");
    tx.handle_timeout(t0 + ms(249));
    assert_eq!(tx.poll_transmit(t0 + ms(249)), None);
    tx.handle_timeout(t0 + ms(250));
    assert_eq!(tx.poll_timeout(), Some(t0 + ms(250)), "overdue until taken");
    let second = tx.poll_transmit(t0 + ms(260)).unwrap();
    assert_eq!(second.attempt, 2);
    // The wait counts from the actual send.
    assert_eq!(tx.poll_timeout(), Some(t0 + ms(760)));
    assert_eq!(tx.attempts(), 2);
}

#[test]
fn deletion_may_use_fewer_attempts() {
    let t0 = Instant::now();
    let mut tx = Transaction::new(
        natpmp::Request::unmap(Protocol::Udp, 5000),
        gateway(),
        Schedule::natpmp_rfc().with_max_attempts(2),
        t0,
    )
    .unwrap();
    let (sends, end) = run_unanswered(&mut tx, t0, 100);
    assert_eq!(sends, vec![ms(0), ms(250)]);
    assert_eq!(end - t0, ms(750));
}

// --- NAT-PMP validation -----------------------------------------------------------------

fn natpmp_map_reply(protocol: Protocol, internal_port: u16, result: natpmp::ResultCode) -> Vec<u8> {
    natpmp::Response {
        result,
        epoch: 1000,
        body: natpmp::ResponseBody::Map(natpmp::MapResponse {
            protocol,
            internal_port,
            external_port: if result.is_success() { 40000 } else { 0 },
            lifetime: if result.is_success() { 3600 } else { 0 },
        }),
    }
    .encode()
}

/// Over a slow link a mapping request is sent again before its answer comes; the answer to
/// that retransmission can arrive after the deletion of the same port was sent. It is the
/// mapping's answer (a lifetime granted), not the deletion's.
#[test]
fn a_deletion_ignores_a_late_answer_to_the_mapping_request() {
    let t0 = Instant::now();
    let request = natpmp::Request::map(Protocol::Tcp, 8080, 0, 0);
    let mut tx = Transaction::new(request, gateway(), Schedule::natpmp_rfc(), t0).unwrap();
    tx.poll_transmit(t0).unwrap();
    let t = t0 + ms(10);
    let late = natpmp_map_reply(Protocol::Tcp, 8080, natpmp::ResultCode::Success);
    assert_eq!(
        tx.handle_datagram(t, gateway(), &late),
        DatagramVerdict::Ignored(IgnoreReason::MappingMismatch)
    );
    assert!(!tx.is_finished());
    let deleted = natpmp::Response {
        result: natpmp::ResultCode::Success,
        epoch: 1000,
        body: natpmp::ResponseBody::Map(natpmp::MapResponse {
            protocol: Protocol::Tcp,
            internal_port: 8080,
            external_port: 0,
            lifetime: 0,
        }),
    }
    .encode();
    assert_eq!(
        tx.handle_datagram(t, gateway(), &deleted),
        DatagramVerdict::Accepted
    );
    assert!(tx.poll_outcome().unwrap().is_ok());
}

#[test]
fn natpmp_responses_are_validated_and_counted() {
    let t0 = Instant::now();
    let request = natpmp::Request::map(Protocol::Tcp, 8080, 8080, 7200);
    let mut tx = Transaction::new(request, gateway(), Schedule::natpmp_rfc(), t0).unwrap();
    tx.poll_transmit(t0).unwrap();
    let t = t0 + ms(10);
    let good = natpmp_map_reply(Protocol::Tcp, 8080, natpmp::ResultCode::Success);

    let cases: Vec<(SocketAddr, Vec<u8>, IgnoreReason)> = vec![
        // Right address, wrong port (the announcement port).
        (
            SocketAddr::from((GATEWAY_IP, 5350)),
            good.clone(),
            IgnoreReason::WrongSource,
        ),
        // Another host on the LAN.
        (
            SocketAddr::from((Ipv4Addr::new(192, 168, 77, 66), SERVER_PORT)),
            good.clone(),
            IgnoreReason::WrongSource,
        ),
        (gateway(), vec![0, 130, 0], IgnoreReason::Undecodable),
        // Our own request reflected back.
        (gateway(), request.encode(), IgnoreReason::Undecodable),
        (
            gateway(),
            natpmp::Response::new_external_address(1000, EXTERNAL).encode(),
            IgnoreReason::OpcodeMismatch,
        ),
        (
            gateway(),
            natpmp_map_reply(Protocol::Udp, 8080, natpmp::ResultCode::Success),
            IgnoreReason::OpcodeMismatch,
        ),
        (
            gateway(),
            natpmp_map_reply(Protocol::Tcp, 8081, natpmp::ResultCode::Success),
            IgnoreReason::MappingMismatch,
        ),
        // A PCP success does not answer a NAT-PMP request.
        (
            gateway(),
            pcp::Response::answering(
                &pcp_map_request(Protocol::Tcp, 8080),
                pcp::ResultCode::Success,
                7200,
                1,
            )
            .encode()
            .unwrap(),
            IgnoreReason::WrongVersion,
        ),
    ];
    for (source, bytes, reason) in &cases {
        assert_eq!(
            tx.handle_datagram(t, *source, bytes),
            DatagramVerdict::Ignored(*reason),
            "{source} {bytes:?}"
        );
        assert!(!tx.is_finished());
    }
    assert_eq!(tx.ignored().total(), cases.len() as u64);
    assert_eq!(tx.ignored().get(IgnoreReason::WrongSource), 2);
    assert_eq!(tx.ignored().get(IgnoreReason::OpcodeMismatch), 2);
    assert_eq!(tx.ignored().iter().count(), 5);

    assert_eq!(
        tx.handle_datagram(t, gateway(), &good),
        DatagramVerdict::Accepted
    );
    // A duplicate answer after the outcome is ignored too.
    assert_eq!(
        tx.handle_datagram(t, gateway(), &good),
        DatagramVerdict::Ignored(IgnoreReason::AfterOutcome)
    );
    let answer = tx.poll_outcome().unwrap().unwrap();
    let mapping = *answer.response.as_natpmp().unwrap().mapping().unwrap();
    assert_eq!((mapping.external_port, mapping.lifetime), (40000, 3600));
    assert_eq!(answer.received_at, t);
    assert_eq!(answer.attempts, 1);
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn an_ipv4_mapped_source_is_the_gateway() {
    let t0 = Instant::now();
    let mut tx = Transaction::new(
        natpmp::Request::external_address(),
        gateway(),
        Schedule::natpmp_rfc(),
        t0,
    )
    .unwrap();
    tx.poll_transmit(t0);
    let mapped = SocketAddr::from((GATEWAY_IP.to_ipv6_mapped(), SERVER_PORT));
    let reply = natpmp::Response::new_external_address(5, EXTERNAL).encode();
    assert_eq!(
        tx.handle_datagram(t0, mapped, &reply),
        DatagramVerdict::Accepted
    );
}

#[test]
fn natpmp_error_result_is_an_outcome() {
    let t0 = Instant::now();
    let mut tx = Transaction::new(
        natpmp::Request::map(Protocol::Udp, 5000, 5000, 7200),
        gateway(),
        Schedule::natpmp_rfc(),
        t0,
    )
    .unwrap();
    tx.poll_transmit(t0);
    let reply = natpmp_map_reply(Protocol::Udp, 5000, natpmp::ResultCode::OutOfResources);
    assert_eq!(
        tx.handle_datagram(t0 + ms(5), gateway(), &reply),
        DatagramVerdict::Accepted
    );
    let error = tx.poll_outcome().unwrap().unwrap_err();
    assert_eq!(
        error.result_code(),
        Some(AnyResultCode::NatPmp(natpmp::ResultCode::OutOfResources))
    );
    assert_eq!(
        error.to_string(),
        "gateway 192.168.77.1:5351 refused the request with result code \
         NAT-PMP out of resources (4)"
    );
    assert_eq!(error.answer().map(|a| a.response.epoch()), Some(1000));
}

#[test]
fn natpmp_header_only_unsupported_opcode_is_an_outcome() {
    let t0 = Instant::now();
    let mut tx = Transaction::new(
        natpmp::Request::map(Protocol::Tcp, 22, 22, 60),
        gateway(),
        Schedule::natpmp_rfc(),
        t0,
    )
    .unwrap();
    tx.poll_transmit(t0);
    // Header-only reply for another opcode: not ours.
    assert_eq!(
        tx.handle_datagram(t0, gateway(), &[0, 129, 0, 5, 0, 0, 0, 1]),
        DatagramVerdict::Ignored(IgnoreReason::OpcodeMismatch)
    );
    assert_eq!(
        tx.handle_datagram(t0, gateway(), &[0, 130, 0, 5, 0, 0, 0, 1]),
        DatagramVerdict::Accepted
    );
    assert!(matches!(
        tx.poll_outcome(),
        Some(Err(TransactionError::Rejected {
            result: AnyResultCode::NatPmp(natpmp::ResultCode::UnsupportedOpcode),
            ..
        }))
    ));
}

#[test]
fn port_unreachable_ends_the_transaction() {
    let t0 = Instant::now();
    let mut tx = Transaction::new(
        natpmp::Request::external_address(),
        gateway(),
        Schedule::natpmp_rfc(),
        t0,
    )
    .unwrap();
    tx.poll_transmit(t0);
    tx.handle_port_unreachable(t0 + ms(1));
    assert_eq!(
        tx.poll_outcome(),
        Some(Err(TransactionError::PortUnreachable {
            gateway: gateway(),
            attempts: 1
        }))
    );
    assert!(tx.is_finished());
}

// --- PCP retransmission -----------------------------------------------------------------

#[test]
fn pcp_schedule_has_jitter_doubling_and_a_cap() {
    let waits: Vec<Duration> = Schedule::pcp_rfc()
        .with_jitter(0.1, 0x5eed)
        .timeouts()
        .take(14)
        .collect();
    let mut previous: Option<Duration> = None;
    for wait in &waits {
        let base = previous.map_or(secs(3), |p| (p * 2).min(secs(1024)));
        let low = base.mul_f64(0.9);
        let high = base.mul_f64(1.1);
        assert!(
            *wait >= low && *wait <= high,
            "{wait:?} not in {low:?}..{high:?}"
        );
        previous = Some(*wait);
    }
    // Capped: never more than MRT * 1.1.
    assert!(waits.iter().all(|w| *w <= secs(1024).mul_f64(1.1)));
    assert!(waits[13] >= secs(1024).mul_f64(0.9));
    // Deterministic per seed, different across seeds.
    let again: Vec<Duration> = Schedule::pcp_rfc()
        .with_jitter(0.1, 0x5eed)
        .timeouts()
        .take(14)
        .collect();
    assert_eq!(waits, again);
    let other: Vec<Duration> = Schedule::pcp_rfc()
        .with_jitter(0.1, 1)
        .timeouts()
        .take(14)
        .collect();
    assert_ne!(waits, other);
    // Without jitter: 3, 6, 12, ... 768, 1024, 1024.
    let plain: Vec<u64> = Schedule::pcp_rfc()
        .with_jitter(0.0, 0)
        .timeouts()
        .take(11)
        .map(|d| d.as_secs())
        .collect();
    assert_eq!(plain, [3, 6, 12, 24, 48, 96, 192, 384, 768, 1024, 1024]);
}

#[test]
fn pcp_rfc_schedule_never_gives_up_by_itself() {
    let t0 = Instant::now();
    let mut tx = Transaction::new(
        pcp_map_request(Protocol::Udp, 5000),
        gateway(),
        Schedule::pcp_rfc().with_jitter(0.1, 3),
        t0,
    )
    .unwrap();
    let (sends, _) = run_unanswered(&mut tx, t0, 30);
    assert_eq!(sends.len(), 30);
    assert!(!tx.is_finished());
}

#[test]
fn pcp_max_attempts_and_max_duration_end_the_transaction() {
    let t0 = Instant::now();
    let schedule = Schedule::pcp_rfc().with_jitter(0.0, 0).with_max_attempts(3);
    let mut tx = Transaction::new(
        pcp_map_request(Protocol::Udp, 5000),
        gateway(),
        schedule,
        t0,
    )
    .unwrap();
    let (sends, end) = run_unanswered(&mut tx, t0, 100);
    assert_eq!(sends, vec![secs(0), secs(3), secs(9)]);
    assert_eq!(end - t0, secs(21));

    let schedule = Schedule::pcp_rfc()
        .with_jitter(0.1, 9)
        .with_max_duration(secs(12));
    let mut tx = Transaction::new(
        pcp_map_request(Protocol::Udp, 5000),
        gateway(),
        schedule,
        t0,
    )
    .unwrap();
    let (sends, end) = run_unanswered(&mut tx, t0, 100);
    // Sends at 0, 2.7–3.3 s and 7.6–10.6 s; the next would be after 16 s.
    assert_eq!(sends.len(), 3);
    assert_eq!(end - t0, secs(12), "MRD cuts the last wait short");
    assert!(matches!(
        tx.poll_outcome(),
        Some(Err(TransactionError::TimedOut { attempts: 3, waited, .. })) if waited == secs(12)
    ));
}

// --- PCP validation ---------------------------------------------------------------------

fn pcp_success(request: &pcp::Request) -> pcp::Response {
    let mut response = pcp::Response::answering(request, pcp::ResultCode::Success, 3600, 50);
    if let pcp::ResponseData::Map(map) = &mut response.data {
        map.external_port = 40000;
        map.external_address = IpAddr::V4(EXTERNAL);
    }
    response
}

#[test]
fn pcp_map_responses_must_echo_nonce_protocol_and_port() {
    let t0 = Instant::now();
    let request = pcp_map_request(Protocol::Udp, 5000);
    let mut tx = Transaction::new(
        request.clone(),
        gateway(),
        Schedule::pcp_rfc().with_max_attempts(3),
        t0,
    )
    .unwrap();
    tx.poll_transmit(t0);
    let good = pcp_success(&request);

    let mut wrong_nonce = good.clone();
    let mut wrong_protocol = good.clone();
    let mut wrong_port = good.clone();
    if let (pcp::ResponseData::Map(a), pcp::ResponseData::Map(b), pcp::ResponseData::Map(c)) = (
        &mut wrong_nonce.data,
        &mut wrong_protocol.data,
        &mut wrong_port.data,
    ) {
        a.nonce = Nonce([8; 12]);
        b.protocol = IpProtocol::Tcp;
        c.internal_port = 5001;
    }
    let announce = pcp::Response::answering(
        &pcp::Request::announce(CLIENT),
        pcp::ResultCode::Success,
        0,
        50,
    );
    let cases = [
        (wrong_nonce, IgnoreReason::NonceMismatch),
        (wrong_protocol, IgnoreReason::MappingMismatch),
        (wrong_port, IgnoreReason::MappingMismatch),
        (announce, IgnoreReason::OpcodeMismatch),
    ];
    for (response, reason) in cases {
        assert_eq!(
            tx.handle_datagram(t0, gateway(), &response.encode().unwrap()),
            DatagramVerdict::Ignored(reason)
        );
    }
    // A NAT-PMP success is not an answer to PCP.
    assert_eq!(
        tx.handle_datagram(
            t0,
            gateway(),
            &natpmp::Response::new_external_address(1, EXTERNAL).encode()
        ),
        DatagramVerdict::Ignored(IgnoreReason::WrongVersion)
    );
    assert_eq!(
        tx.handle_datagram(t0 + ms(4), gateway(), &good.encode().unwrap()),
        DatagramVerdict::Accepted
    );
    let answer = tx.poll_outcome().unwrap().unwrap();
    let map = *answer.response.as_pcp().unwrap().map().unwrap();
    assert_eq!(map.external_address, IpAddr::V4(EXTERNAL));
    assert_eq!(map.external_port, 40000);
    assert_eq!(answer.elapsed(), ms(4));
}

#[test]
fn pcp_peer_responses_must_echo_the_remote_peer() {
    let t0 = Instant::now();
    let peer = PeerData {
        nonce: NONCE,
        protocol: IpProtocol::Tcp,
        internal_port: 40000,
        external_port: 0,
        external_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        remote_peer_port: 443,
        remote_peer_address: IpAddr::V4(Ipv4Addr::new(44, 0, 0, 2)),
    };
    let request = pcp::Request::peer(CLIENT, peer, 600);
    let mut tx = Transaction::new(request.clone(), gateway(), Schedule::pcp_rfc(), t0).unwrap();
    tx.poll_transmit(t0);
    let mut other_peer = pcp::Response::answering(&request, pcp::ResultCode::Success, 600, 1);
    if let pcp::ResponseData::Peer(data) = &mut other_peer.data {
        data.remote_peer_port = 80;
    }
    assert_eq!(
        tx.handle_datagram(t0, gateway(), &other_peer.encode().unwrap()),
        DatagramVerdict::Ignored(IgnoreReason::MappingMismatch)
    );
    let good = pcp::Response::answering(&request, pcp::ResultCode::Success, 600, 1);
    assert_eq!(
        tx.handle_datagram(t0, gateway(), &good.encode().unwrap()),
        DatagramVerdict::Accepted
    );
}

#[test]
fn pcp_error_responses_are_outcomes() {
    let t0 = Instant::now();
    let request = pcp_map_request(Protocol::Tcp, 80);
    // The server's echo of the request with an error code.
    let echo = pcp::Response::answering(&request, pcp::ResultCode::NotAuthorized, 0, 9);
    // And a header-only MALFORMED_REQUEST.
    let header_only = pcp::Response {
        result: pcp::ResultCode::MalformedRequest,
        lifetime: 0,
        epoch: 9,
        data: pcp::ResponseData::HeaderOnly(pcp::Opcode::Map),
        options: vec![],
    };
    for (response, code) in [
        (echo, pcp::ResultCode::NotAuthorized),
        (header_only, pcp::ResultCode::MalformedRequest),
    ] {
        let mut tx = Transaction::new(request.clone(), gateway(), Schedule::pcp_rfc(), t0).unwrap();
        tx.poll_transmit(t0);
        assert_eq!(
            tx.handle_datagram(t0, gateway(), &response.encode().unwrap()),
            DatagramVerdict::Accepted
        );
        let error = tx.poll_outcome().unwrap().unwrap_err();
        assert_eq!(error.result_code(), Some(AnyResultCode::Pcp(code)));
    }
}

// --- Version negotiation ----------------------------------------------------------------

#[test]
fn natpmp_only_gateway_answers_pcp_with_unsupported_version() {
    let t0 = Instant::now();
    // miniupnpd's form (opcode 128 + 1) and RFC 6886's form (opcode 0).
    for reply in [[0u8, 129, 0, 1, 0, 0, 0, 7], [0, 0, 0, 1, 0, 0, 0, 7]] {
        let mut tx = Transaction::new(
            pcp_map_request(Protocol::Udp, 5000),
            gateway(),
            Schedule::pcp_rfc(),
            t0,
        )
        .unwrap();
        tx.poll_transmit(t0);
        assert_eq!(
            tx.handle_datagram(t0, gateway(), &[0, 130, 0, 1, 0, 0, 0, 7]),
            DatagramVerdict::Ignored(IgnoreReason::OpcodeMismatch)
        );
        assert_eq!(
            tx.handle_datagram(t0, gateway(), &reply),
            DatagramVerdict::Accepted
        );
        match tx.poll_outcome() {
            Some(Err(TransactionError::UnsupportedVersion {
                requested,
                answered,
                ..
            })) => assert_eq!((requested, answered), (Version::Pcp, Version::NatPmp)),
            other => panic!("expected unsupported version, got {other:?}"),
        }
    }
}

#[test]
fn pcp_only_gateway_answers_natpmp_with_unsupp_version() {
    let t0 = Instant::now();
    let mut tx = Transaction::new(
        natpmp::Request::map(Protocol::Udp, 5000, 5000, 7200),
        gateway(),
        Schedule::natpmp_rfc(),
        t0,
    )
    .unwrap();
    tx.poll_transmit(t0);
    // RFC 6887 §9: version 2 (the server's highest), R bit, the request's opcode byte (1),
    // UNSUPP_VERSION, header only.
    let mut reply = vec![2, 0x81, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3];
    reply.extend_from_slice(&[0; 12]);
    assert_eq!(
        tx.handle_datagram(t0, gateway(), &reply),
        DatagramVerdict::Accepted
    );
    let error = tx.poll_outcome().unwrap().unwrap_err();
    assert!(matches!(
        error,
        TransactionError::UnsupportedVersion {
            requested: Version::NatPmp,
            answered: Version::Pcp,
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "gateway 192.168.77.1:5351 does not speak NAT-PMP, it answered in PCP"
    );
}

#[test]
fn a_pcp_version_1_server_ends_the_exchange_at_its_first_answer() {
    let t0 = Instant::now();
    let mut tx = Transaction::new(
        pcp_map_request(Protocol::Udp, 5000),
        gateway(),
        Schedule::pcp_rfc(),
        t0,
    )
    .unwrap();
    tx.poll_transmit(t0);
    // RFC 6887 §9 from a draft-era server: version 1 (all it speaks), R + MAP,
    // UNSUPP_VERSION, lifetime 1800 s, epoch 5, reserved.
    let mut reply = vec![1, 0x81, 0, 1, 0, 0, 0x07, 0x08, 0, 0, 0, 5];
    reply.extend_from_slice(&[0; 12]);
    // An answer to another opcode is not this one's.
    let mut peer_reply = reply.clone();
    peer_reply[1] = 0x82;
    let t1 = t0 + ms(40);
    assert_eq!(
        tx.handle_datagram(t1, gateway(), &peer_reply),
        DatagramVerdict::Ignored(IgnoreReason::OpcodeMismatch)
    );
    assert_eq!(
        tx.handle_datagram(t1, gateway(), &reply),
        DatagramVerdict::Accepted
    );
    let outcome = tx.poll_outcome();
    let Some(Err(error)) = outcome else {
        panic!("expected a version error, got {outcome:?}");
    };
    assert_eq!(
        error,
        TransactionError::ServerVersion {
            gateway: gateway(),
            requested: Version::Pcp,
            server_version: 1,
            retry_after: Some(secs(1800)),
            attempts: 1,
        }
    );
    // Nothing to negotiate: no answer this crate could retry in.
    assert_eq!(
        VersionNegotiator::new().on_outcome(&Err(error)),
        Decision::GiveUp
    );
    assert!(tx.is_finished());
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn an_error_answer_with_an_address_is_a_rejection_with_a_retry_hint() {
    let t0 = Instant::now();
    let request = pcp_map_request(Protocol::Tcp, 8080);
    let mut tx = Transaction::new(request.clone(), gateway(), Schedule::pcp_rfc(), t0).unwrap();
    tx.poll_transmit(t0);
    let mut refusal =
        pcp::Response::answering(&request, pcp::ResultCode::CannotProvideExternal, 30, 77);
    if let pcp::ResponseData::Map(map) = &mut refusal.data {
        map.external_port = 8080;
        map.external_address = IpAddr::V4(EXTERNAL);
    }
    assert_eq!(
        tx.handle_datagram(t0 + ms(3), gateway(), &refusal.encode().unwrap()),
        DatagramVerdict::Accepted
    );
    let error = tx.poll_outcome().unwrap().unwrap_err();
    let TransactionError::Rejected { answer, result, .. } = &error else {
        panic!("expected a rejection, got {error:?}");
    };
    assert_eq!(
        *result,
        AnyResultCode::Pcp(pcp::ResultCode::CannotProvideExternal)
    );
    let response = answer.response.as_pcp().expect("a PCP answer");
    assert_eq!(response.granted_map(), None);
    assert_eq!(response.retry_after(), Some(secs(30)));
    assert!(response.result.is_short_lifetime_error());
}

/// A fake gateway speaking only `version`, answering from the codec the way miniupnpd does.
fn fake_gateway(version: Version, request: &[u8]) -> Vec<u8> {
    match (version, AnyRequest::decode(request)) {
        (Version::NatPmp, Ok(AnyRequest::NatPmp(natpmp::Request::Map(map)))) => {
            natpmp::Response::new_mapping(
                500,
                natpmp::MapResponse {
                    protocol: map.protocol,
                    internal_port: map.internal_port,
                    external_port: map.suggested_external_port,
                    lifetime: map.lifetime,
                },
            )
            .encode()
        }
        (Version::NatPmp, _) => {
            // Unsupported version: 128 + the request's second byte, header only.
            let opcode = 128 | (request[1] & 0x7f);
            natpmp::Response {
                result: natpmp::ResultCode::UnsupportedVersion,
                epoch: 500,
                body: natpmp::ResponseBody::HeaderOnly { opcode },
            }
            .encode()
        }
        (Version::Pcp, Ok(AnyRequest::Pcp(request))) => {
            pcp_success(&request).encode().expect("fits")
        }
        (Version::Pcp, _) => pcp::Response {
            result: pcp::ResultCode::UnsupportedVersion,
            lifetime: 0,
            epoch: 500,
            data: pcp::ResponseData::HeaderOnly(
                pcp::Opcode::from_code(request[1] & 0x7f).unwrap_or(pcp::Opcode::Map),
            ),
            options: vec![],
        }
        .encode()
        .expect("fits"),
    }
}

/// Runs one mapping request through negotiation against a gateway speaking `server`.
fn negotiate(server: Version, start: Version) -> (Decision, Vec<Version>) {
    let t0 = Instant::now();
    let mut negotiator = VersionNegotiator::starting_with(start);
    let mut spoken = Vec::new();
    loop {
        let version = negotiator.version();
        spoken.push(version);
        let request: AnyRequest = match version {
            Version::Pcp => pcp_map_request(Protocol::Udp, 5000).into(),
            Version::NatPmp => natpmp::Request::map(Protocol::Udp, 5000, 5000, 7200).into(),
        };
        let mut tx =
            Transaction::new(request, gateway(), Schedule::for_version(version), t0).expect("fits");
        let transmit = tx.poll_transmit(t0).expect("first attempt due");
        let reply = fake_gateway(server, &transmit.contents);
        assert_eq!(
            tx.handle_datagram(t0 + ms(1), gateway(), &reply),
            DatagramVerdict::Accepted
        );
        let outcome = tx.poll_outcome().expect("finished");
        match negotiator.on_outcome(&outcome) {
            Decision::Retry(next) => assert_eq!(next, negotiator.version()),
            decision => return (decision, spoken),
        }
        assert!(spoken.len() < 5, "negotiation loops");
    }
}

#[test]
fn negotiation_falls_back_to_natpmp_and_forward_to_pcp() {
    assert_eq!(
        negotiate(Version::NatPmp, Version::Pcp),
        (Decision::Accept, vec![Version::Pcp, Version::NatPmp])
    );
    assert_eq!(
        negotiate(Version::Pcp, Version::NatPmp),
        (Decision::Accept, vec![Version::NatPmp, Version::Pcp])
    );
    assert_eq!(
        negotiate(Version::Pcp, Version::Pcp),
        (Decision::Accept, vec![Version::Pcp])
    );
}

#[test]
fn negotiation_does_not_ping_pong() {
    let unsupported_natpmp: natpmp_proto::AnyResponse =
        natpmp::Response::unsupported_version(1).into();
    let unsupported_pcp: natpmp_proto::AnyResponse = pcp::Response {
        result: pcp::ResultCode::UnsupportedVersion,
        lifetime: 0,
        epoch: 1,
        data: pcp::ResponseData::Announce,
        options: vec![],
    }
    .into();
    let mut negotiator = VersionNegotiator::new();
    assert_eq!(
        negotiator.on_response(&unsupported_natpmp),
        Decision::Retry(Version::NatPmp)
    );
    assert_eq!(negotiator.on_response(&unsupported_pcp), Decision::GiveUp);
    // "Unsupported version" in the version asked cannot be resolved either.
    let mut negotiator = VersionNegotiator::new();
    assert_eq!(negotiator.on_response(&unsupported_pcp), Decision::GiveUp);
    // A timeout gives up.
    let timed_out = Err(TransactionError::TimedOut {
        gateway: gateway(),
        waited: secs(1),
        attempts: 1,
    });
    assert_eq!(
        VersionNegotiator::new().on_outcome(&timed_out),
        Decision::GiveUp
    );
}

// --- Epoch tracking ---------------------------------------------------------------------

#[test]
fn natpmp_epoch_rule_uses_seven_eighths_minus_two_seconds() {
    let t0 = Instant::now();
    let later = t0 + secs(80); // expected: 1000 + 70 = 1070, reset below 1068
    let mut tracker = EpochTracker::natpmp();
    assert_eq!(tracker.check(t0, 1000), EpochCheck::First);
    let mut probe = tracker.clone();
    assert_eq!(probe.check(later, 1068), EpochCheck::Consistent);
    let mut probe = tracker.clone();
    assert_eq!(
        probe.check(later, 1067),
        EpochCheck::Reset {
            previous: 1000,
            current: 1067
        }
    );
    // A fast server clock is fine for NAT-PMP.
    assert_eq!(tracker.check(later, 5000), EpochCheck::Consistent);
    // A reboot.
    let reset = tracker.check(later + secs(1), 3);
    assert!(reset.is_reset());
    // The new epoch is the reference from now on.
    assert_eq!(tracker.check(later + secs(11), 13), EpochCheck::Consistent);
    assert_eq!(tracker.last(), Some((later + secs(11), 13)));
    tracker.forget();
    assert_eq!(tracker.check(later, 1), EpochCheck::First);
}

#[test]
fn pcp_epoch_rule_checks_both_directions() {
    let t0 = Instant::now();
    let check = |elapsed: Duration, previous: u32, current: u32| {
        let mut tracker = EpochTracker::pcp();
        tracker.check(t0, previous);
        tracker.check(t0 + elapsed, current)
    };
    // Backwards by more than one second.
    assert!(check(secs(0), 1000, 998).is_reset());
    assert_eq!(check(secs(0), 1000, 999), EpochCheck::Consistent);
    // Server too slow: 100 s passed, server moved 90 s (92 s is within tolerance).
    assert!(check(secs(100), 1000, 1090).is_reset());
    assert_eq!(check(secs(100), 1000, 1092), EpochCheck::Consistent);
    // Server too fast: 100 s passed, server moved 110 s (108 s is within tolerance).
    assert!(check(secs(100), 1000, 1110).is_reset());
    assert_eq!(check(secs(100), 1000, 1108), EpochCheck::Consistent);
}

#[test]
fn transaction_answers_feed_the_epoch_tracker() {
    let t0 = Instant::now();
    let mut tracker = EpochTracker::for_version(Version::NatPmp);
    for (offset, epoch, expected) in [
        (secs(0), 100, EpochCheck::First),
        (secs(60), 160, EpochCheck::Consistent),
        (
            secs(120),
            2,
            EpochCheck::Reset {
                previous: 160,
                current: 2,
            },
        ),
    ] {
        let now = t0 + offset;
        let mut tx = Transaction::new(
            natpmp::Request::external_address(),
            gateway(),
            Schedule::natpmp_rfc(),
            now,
        )
        .unwrap();
        tx.poll_transmit(now);
        let reply = natpmp::Response::new_external_address(epoch, EXTERNAL).encode();
        tx.handle_datagram(now, gateway(), &reply);
        let answer = tx.poll_outcome().unwrap().unwrap();
        assert_eq!(
            tracker.check(answer.received_at, answer.response.epoch()),
            expected
        );
    }
}

// --- PCP over IPv6 ----------------------------------------------------------------------

/// A router known by its link-local address on interface 3, a host with a global address.
const ROUTER_V6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const CLIENT_V6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10);

fn gateway_v6() -> SocketAddr {
    SocketAddr::V6(std::net::SocketAddrV6::new(ROUTER_V6, SERVER_PORT, 0, 3))
}

#[test]
fn pcp_map_over_ipv6_carries_the_global_address_and_answers_a_pinhole() {
    let t0 = Instant::now();
    let client = IpAddr::V6(CLIENT_V6);
    let request = pcp::Request::map(
        client,
        MapData::new(NONCE, Protocol::Tcp, 8080, client),
        600,
    );
    let bytes = request.encode().unwrap();
    // Header: client address at 8..24, as it is (no IPv4 mapping); MAP's suggested
    // external address at 24 + 20 .. 24 + 36 is `::`, IPv6's "no preference".
    assert_eq!(bytes[8..24], CLIENT_V6.octets());
    assert_eq!(bytes[44..60], [0u8; 16]);

    let mut tx = Transaction::new(request.clone(), gateway_v6(), Schedule::pcp_rfc(), t0).unwrap();
    let transmit = tx.poll_transmit(t0).unwrap();
    assert_eq!(transmit.destination, gateway_v6());
    // No NAT: the pinhole's external address and port are the internal ones.
    let mut answer = pcp::Response::answering(&request, pcp::ResultCode::Success, 600, 1200);
    if let pcp::ResponseData::Map(map) = &mut answer.data {
        map.external_port = 8080;
        map.external_address = client;
    }
    let answer_bytes = answer.encode().unwrap();
    // Another router on the link is not the gateway.
    let stranger = SocketAddr::V6(std::net::SocketAddrV6::new(
        "fe80::2".parse().unwrap(),
        SERVER_PORT,
        0,
        3,
    ));
    assert_eq!(
        tx.handle_datagram(t0, stranger, &answer_bytes),
        DatagramVerdict::Ignored(IgnoreReason::WrongSource)
    );
    // The same router, as a socket reports it (scope id and all).
    assert_eq!(
        tx.handle_datagram(t0 + ms(2), gateway_v6(), &answer_bytes),
        DatagramVerdict::Accepted
    );
    let answer = tx.poll_outcome().unwrap().unwrap();
    let map = *answer.response.as_pcp().unwrap().map().unwrap();
    assert_eq!(map.external_address, client);
    assert_eq!(map.external_port, 8080);
    assert_eq!(map.nonce, NONCE);
}

#[test]
fn pcp_epochs_over_ipv6_detect_a_restart_from_an_unsolicited_announce() {
    let t0 = Instant::now();
    let mut tracker = EpochTracker::pcp();
    assert_eq!(tracker.check(t0, 1200), EpochCheck::First);
    // RFC 6887 §14.1.3: the restarted server multicasts ANNOUNCE with its new epoch.
    let announce = pcp::Response::answering(
        &pcp::Request::announce(IpAddr::V6(CLIENT_V6)),
        pcp::ResultCode::Success,
        0,
        3,
    );
    let decoded = pcp::Response::decode(&announce.encode().unwrap()).unwrap();
    assert!(matches!(decoded.data, pcp::ResponseData::Announce));
    assert_eq!(
        tracker.check(t0 + secs(30), decoded.epoch),
        EpochCheck::Reset {
            previous: 1200,
            current: 3
        }
    );
}
