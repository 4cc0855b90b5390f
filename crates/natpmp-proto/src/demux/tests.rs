//! Table-driven tests of the demultiplexer: datagrams in, deliveries and outcomes out, with
//! simulated time and no socket.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::natpmp::{self, MapResponse};
use crate::pcp::{MapData, ResultCode};
use crate::{Nonce, Protocol, Schedule, TransactionError};

const GATEWAY: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)), 5351);
const STRANGER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 66)), 5351);
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
const EXTERNAL: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const NONCE: Nonce = Nonce([7; 12]);

fn natpmp_map() -> natpmp::Request {
    natpmp::Request::map(Protocol::Udp, 4000, 4000, 3600)
}

fn pcp_map(nonce: Nonce) -> crate::pcp::Request {
    crate::pcp::Request::map(
        CLIENT,
        MapData::new(nonce, Protocol::Udp, 4000, CLIENT),
        3600,
    )
}

fn natpmp_mapping_reply(internal_port: u16) -> Vec<u8> {
    natpmp::Response::new_mapping(
        100,
        MapResponse {
            protocol: Protocol::Udp,
            internal_port,
            external_port: 4001,
            lifetime: 3600,
        },
    )
    .encode()
}

fn natpmp_address_reply() -> Vec<u8> {
    natpmp::Response::new_external_address(100, EXTERNAL).encode()
}

fn pcp_reply(nonce: Nonce, result: ResultCode) -> Vec<u8> {
    crate::pcp::Response::answering(&pcp_map(nonce), result, 3600, 100)
        .encode()
        .unwrap_or_default()
}

fn pcp_announce(result: ResultCode, epoch: u32) -> Vec<u8> {
    crate::pcp::Response::answering(&crate::pcp::Request::announce(CLIENT), result, 0, epoch)
        .encode()
        .unwrap_or_default()
}

/// NAT-PMP's map and external address requests at once, as the client sends them.
fn natpmp_pair(now: Instant) -> Demultiplexer {
    let transactions = vec![
        Transaction::new(natpmp_map(), GATEWAY, Schedule::natpmp_rfc(), now).unwrap(),
        Transaction::new(
            natpmp::Request::external_address(),
            GATEWAY,
            Schedule::natpmp_rfc(),
            now,
        )
        .unwrap(),
    ];
    let mut demux = Demultiplexer::new(transactions, now, None);
    while demux.poll_transmit(now).is_some() {}
    demux
}

fn pcp_single(now: Instant) -> Demultiplexer {
    let transaction = Transaction::new(pcp_map(NONCE), GATEWAY, Schedule::pcp_rfc(), now).unwrap();
    let mut demux = Demultiplexer::new(vec![transaction], now, None);
    while demux.poll_transmit(now).is_some() {}
    demux
}

#[test]
fn each_datagram_goes_to_its_transaction_or_is_dropped_for_a_reason() {
    struct Case {
        name: &'static str,
        exchange: fn(Instant) -> Demultiplexer,
        source: SocketAddr,
        datagram: Vec<u8>,
        delivery: Delivery,
        unusable: bool,
    }
    let cases = [
        Case {
            name: "natpmp mapping answer goes to the map request",
            exchange: natpmp_pair,
            source: GATEWAY,
            datagram: natpmp_mapping_reply(4000),
            delivery: Delivery::Answered { index: 0 },
            unusable: false,
        },
        Case {
            name: "natpmp address answer goes to the address request",
            exchange: natpmp_pair,
            source: GATEWAY,
            datagram: natpmp_address_reply(),
            delivery: Delivery::Answered { index: 1 },
            unusable: false,
        },
        Case {
            name: "wrong source",
            exchange: natpmp_pair,
            source: STRANGER,
            datagram: natpmp_address_reply(),
            delivery: Delivery::Dropped(IgnoreReason::WrongSource),
            unusable: false,
        },
        Case {
            name: "another port of the gateway",
            exchange: natpmp_pair,
            source: SocketAddr::new(GATEWAY.ip(), 5350),
            datagram: natpmp_address_reply(),
            delivery: Delivery::Dropped(IgnoreReason::WrongSource),
            unusable: false,
        },
        Case {
            name: "mapping of another internal port: the map request's reason wins over the \
                   address request's opcode mismatch",
            exchange: natpmp_pair,
            source: GATEWAY,
            datagram: natpmp_mapping_reply(4444),
            delivery: Delivery::Dropped(IgnoreReason::MappingMismatch),
            unusable: true,
        },
        Case {
            name: "too short",
            exchange: natpmp_pair,
            source: GATEWAY,
            datagram: vec![0, 128, 0],
            delivery: Delivery::Dropped(IgnoreReason::Undecodable),
            unusable: true,
        },
        Case {
            name: "empty",
            exchange: pcp_single,
            source: GATEWAY,
            datagram: vec![],
            delivery: Delivery::Dropped(IgnoreReason::Undecodable),
            unusable: true,
        },
        Case {
            name: "a pcp answer to a natpmp request that is not unsupported-version",
            exchange: natpmp_pair,
            source: GATEWAY,
            datagram: pcp_reply(NONCE, ResultCode::Success),
            delivery: Delivery::Dropped(IgnoreReason::WrongVersion),
            unusable: true,
        },
        Case {
            name: "pcp answer with the right nonce",
            exchange: pcp_single,
            source: GATEWAY,
            datagram: pcp_reply(NONCE, ResultCode::Success),
            delivery: Delivery::Answered { index: 0 },
            unusable: false,
        },
        Case {
            name: "pcp refusal with the right nonce is still the answer",
            exchange: pcp_single,
            source: GATEWAY,
            datagram: pcp_reply(NONCE, ResultCode::NotAuthorized),
            delivery: Delivery::Answered { index: 0 },
            unusable: false,
        },
        Case {
            name: "wrong nonce",
            exchange: pcp_single,
            source: GATEWAY,
            datagram: pcp_reply(Nonce([8; 12]), ResultCode::Success),
            delivery: Delivery::Dropped(IgnoreReason::NonceMismatch),
            unusable: true,
        },
        Case {
            name: "natpmp answer to a pcp request",
            exchange: pcp_single,
            source: GATEWAY,
            datagram: natpmp_address_reply(),
            delivery: Delivery::Dropped(IgnoreReason::WrongVersion),
            unusable: true,
        },
        Case {
            name: "unsolicited announce from the gateway",
            exchange: pcp_single,
            source: GATEWAY,
            datagram: pcp_announce(ResultCode::Success, 3),
            delivery: Delivery::Announce { epoch: 3 },
            unusable: false,
        },
        Case {
            name: "announce while speaking natpmp",
            exchange: natpmp_pair,
            source: GATEWAY,
            datagram: pcp_announce(ResultCode::Success, 9),
            delivery: Delivery::Announce { epoch: 9 },
            unusable: false,
        },
        Case {
            name: "announce from a stranger",
            exchange: pcp_single,
            source: STRANGER,
            datagram: pcp_announce(ResultCode::Success, 3),
            delivery: Delivery::Dropped(IgnoreReason::WrongSource),
            unusable: false,
        },
        Case {
            name: "failed announce is a stray answer",
            exchange: pcp_single,
            source: GATEWAY,
            datagram: pcp_announce(ResultCode::NetworkFailure, 3),
            delivery: Delivery::Dropped(IgnoreReason::OpcodeMismatch),
            unusable: true,
        },
    ];
    for case in cases {
        let now = Instant::now();
        let mut exchange = (case.exchange)(now);
        let delivery = exchange.handle_datagram(now, case.source, &case.datagram);
        assert_eq!(delivery, case.delivery, "{}", case.name);
        let expected_unusable = match case.delivery {
            Delivery::Dropped(reason) if case.unusable => Some((1, reason)),
            _ => None,
        };
        assert_eq!(exchange.unusable(), expected_unusable, "{}", case.name);
        let dropped = u64::from(matches!(case.delivery, Delivery::Dropped(_)));
        assert_eq!(exchange.dropped().total(), dropped, "{}", case.name);
    }
}

#[test]
fn the_exchange_ends_with_every_answer_in_request_order() {
    let now = Instant::now();
    let mut exchange = natpmp_pair(now);
    let later = now + Duration::from_millis(5);
    assert_eq!(
        exchange.handle_datagram(later, GATEWAY, &natpmp_address_reply()),
        Delivery::Answered { index: 1 }
    );
    assert!(exchange.poll_outcome().is_none());
    // The same address answer again belongs to nobody: the address request is done.
    assert_eq!(
        exchange.handle_datagram(later, GATEWAY, &natpmp_address_reply()),
        Delivery::Dropped(IgnoreReason::OpcodeMismatch)
    );
    assert_eq!(
        exchange.handle_datagram(later, GATEWAY, &natpmp_mapping_reply(4000)),
        Delivery::Answered { index: 0 }
    );
    let answers = exchange.poll_outcome().expect("over").expect("answered");
    let kinds: Vec<_> = answers
        .iter()
        .map(|answer| matches!(answer.response, crate::AnyResponse::NatPmp(ref r) if r.body == natpmp::ResponseBody::ExternalAddress { external_address: EXTERNAL }))
        .collect();
    assert_eq!(kinds, [false, true]);
    assert!(exchange.is_finished());
    assert!(exchange.poll_outcome().is_none());
    assert_eq!(exchange.poll_timeout(), None);
    assert_eq!(
        exchange.handle_datagram(later, GATEWAY, &natpmp_mapping_reply(4000)),
        Delivery::Dropped(IgnoreReason::AfterOutcome)
    );
    assert_eq!(exchange.unusable(), Some((1, IgnoreReason::OpcodeMismatch)));
}

#[test]
fn a_refusal_ends_the_whole_exchange() {
    let now = Instant::now();
    let mut exchange = natpmp_pair(now);
    let refusal = natpmp::Response::error(&natpmp_map(), natpmp::ResultCode::NotAuthorized, 100);
    assert_eq!(
        exchange.handle_datagram(now, GATEWAY, &refusal.encode()),
        Delivery::Answered { index: 0 }
    );
    let outcome = exchange.poll_outcome().expect("over");
    assert!(
        matches!(outcome, Err(TransactionError::Rejected { .. })),
        "{outcome:?}"
    );
    assert_eq!(exchange.poll_transmit(now), None);
}

#[test]
fn retransmissions_follow_each_schedule_and_the_deadline_ends_the_exchange() {
    let start = Instant::now();
    let deadline = start + Duration::from_millis(600);
    let transactions =
        vec![Transaction::new(natpmp_map(), GATEWAY, Schedule::natpmp_rfc(), start).unwrap()];
    let mut exchange = Demultiplexer::new(transactions, start, Some(deadline));
    let mut attempts = Vec::new();
    let mut now = start;
    loop {
        while let Some((index, transmit)) = exchange.poll_transmit(now) {
            attempts.push((index, transmit.attempt, now - start));
        }
        if let Some(outcome) = exchange.poll_outcome() {
            let Err(TransactionError::TimedOut {
                gateway,
                waited,
                attempts,
            }) = outcome
            else {
                panic!("expected a timeout, got {outcome:?}");
            };
            assert_eq!(
                (gateway, waited, attempts),
                (GATEWAY, Duration::from_millis(600), 2)
            );
            break;
        }
        now = exchange.poll_timeout().expect("waiting");
        exchange.handle_timeout(now);
    }
    assert_eq!(
        attempts,
        [(0, 1, Duration::ZERO), (0, 2, Duration::from_millis(250))]
    );
}

#[test]
fn a_port_unreachable_ends_the_exchange_at_once() {
    let now = Instant::now();
    let mut exchange = natpmp_pair(now);
    exchange.handle_port_unreachable(now);
    let outcome = exchange.poll_outcome().expect("over");
    assert!(
        matches!(
            outcome,
            Err(TransactionError::PortUnreachable {
                gateway: GATEWAY,
                attempts: 1
            })
        ),
        "{outcome:?}"
    );
}

#[test]
fn unusable_datagrams_are_counted_with_the_last_reason() {
    let now = Instant::now();
    let mut exchange = pcp_single(now);
    for datagram in [
        vec![2, 0x81],
        pcp_reply(Nonce([9; 12]), ResultCode::Success),
    ] {
        exchange.handle_datagram(now, GATEWAY, &datagram);
    }
    exchange.handle_datagram(now, STRANGER, &pcp_reply(NONCE, ResultCode::Success));
    assert_eq!(exchange.unusable(), Some((2, IgnoreReason::NonceMismatch)));
    assert_eq!(exchange.dropped().total(), 3);
    assert_eq!(exchange.dropped().get(IgnoreReason::WrongSource), 1);
}

#[test]
fn no_transaction_is_no_answer() {
    let now = Instant::now();
    let mut exchange = Demultiplexer::new(Vec::new(), now, None);
    assert_eq!(exchange.poll_outcome(), Some(Ok(Vec::new())));
    assert_eq!(exchange.poll_transmit(now), None);
}
