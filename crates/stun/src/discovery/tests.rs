//! Scenario tests of [`Discovery`] with simulated time: an in-memory RFC 5780 server
//! behind a model NAT of each mapping and filtering behaviour, with and without
//! hairpinning, a server without RFC 5780, and a silent one.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::message::{BindingSuccess, incoming_request_id};

const CLIENT: &str = "192.168.1.10:5000";
const EXTERNAL_IP: &str = "44.0.0.1";
const PRIMARY: &str = "44.0.0.2:3478";
const ALTERNATE: &str = "44.0.0.3:3479";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// A NAT of one behaviour in front of one client, and an RFC 5780 server.
struct World {
    mapping: MappingBehaviour,
    filtering: FilteringBehaviour,
    hairpinning: bool,
    rfc5780: bool,
    silent: bool,
    /// External port of each mapping key.
    mappings: HashMap<Option<SocketAddr>, u16>,
    /// Destinations sent to, per external port.
    sent_to: HashMap<u16, HashSet<SocketAddr>>,
    /// Requests the server received.
    server_requests: u32,
}

impl World {
    fn new(mapping: MappingBehaviour, filtering: FilteringBehaviour, hairpinning: bool) -> World {
        World {
            mapping,
            filtering,
            hairpinning,
            rfc5780: true,
            silent: false,
            mappings: HashMap::new(),
            sent_to: HashMap::new(),
            server_requests: 0,
        }
    }

    fn external_port(&mut self, destination: SocketAddr) -> u16 {
        let key = match self.mapping {
            MappingBehaviour::EndpointIndependent => None,
            MappingBehaviour::AddressDependent => Some(SocketAddr::new(destination.ip(), 0)),
            MappingBehaviour::AddressAndPortDependent => Some(destination),
        };
        let next = 40_000 + self.mappings.len() as u16;
        let port = *self.mappings.entry(key).or_insert(next);
        self.sent_to.entry(port).or_default().insert(destination);
        port
    }

    fn inbound_allowed(&self, from: SocketAddr, port: u16) -> bool {
        let Some(sent) = self.sent_to.get(&port) else {
            return false;
        };
        match self.filtering {
            FilteringBehaviour::EndpointIndependent => true,
            FilteringBehaviour::AddressDependent => sent.iter().any(|s| s.ip() == from.ip()),
            FilteringBehaviour::AddressAndPortDependent => sent.contains(&from),
        }
    }

    /// Routes one datagram from the client; returns what comes back to it.
    fn route(&mut self, transmit: &Transmit) -> Option<(SocketAddr, Vec<u8>)> {
        let ext_ip: IpAddr = EXTERNAL_IP.parse().expect("address");
        if transmit.destination.ip() == ext_ip {
            let port = transmit.destination.port();
            let mapped = self.sent_to.contains_key(&port);
            return (self.hairpinning && mapped)
                .then(|| (transmit.destination, transmit.payload.clone()));
        }
        let port = self.external_port(transmit.destination);
        let source = SocketAddr::new(ext_ip, port);
        let (primary, alternate) = (addr(PRIMARY), addr(ALTERNATE));
        let receiving = transmit.destination;
        if ![primary.ip(), alternate.ip()].contains(&receiving.ip()) {
            return None;
        }
        self.server_requests += 1;
        if self.silent {
            return None;
        }
        let id = incoming_request_id(&transmit.payload)?;
        let flags = match transmit.payload.get(20..22) {
            Some([0, 3]) => transmit.payload.get(27).copied().unwrap_or(0),
            _ => 0,
        };
        if flags != 0 && !self.rfc5780 {
            let error = BindingResponse::Error {
                transaction_id: id,
                code: 420,
            };
            return Some((receiving, error.encode()));
        }
        let swap_ip = |ip: IpAddr| {
            if ip == primary.ip() {
                alternate.ip()
            } else {
                primary.ip()
            }
        };
        let swap_port = |p: u16| {
            if p == primary.port() {
                alternate.port()
            } else {
                primary.port()
            }
        };
        let from = SocketAddr::new(
            if flags & 4 != 0 {
                swap_ip(receiving.ip())
            } else {
                receiving.ip()
            },
            if flags & 2 != 0 {
                swap_port(receiving.port())
            } else {
                receiving.port()
            },
        );
        let success = BindingSuccess {
            transaction_id: id,
            mapped: source,
            other_address: self.rfc5780.then_some(alternate),
            response_origin: Some(from),
        };
        self.inbound_allowed(from, port)
            .then(|| (from, BindingResponse::Success(success).encode()))
    }
}

fn run(world: &mut World, config: DiscoveryConfig) -> Result<DiscoveryReport, DiscoveryError> {
    let t0 = Instant::now();
    let mut now = t0;
    let mut discovery = Discovery::new(addr(PRIMARY), config, now);
    for _ in 0..10_000 {
        while let Some(transmit) = discovery.poll_transmit(now) {
            if let Some((from, bytes)) = world.route(&transmit) {
                // A hairpinned request or an answer, both "1 ms later".
                let _ = discovery.handle_datagram(from, &bytes, now + Duration::from_millis(1));
            }
        }
        let Some(next) = discovery.poll_timeout() else {
            break;
        };
        now = next.max(now);
        discovery.handle_timeout(now);
    }
    assert!(discovery.is_done(), "discovery ends");
    assert!(now - t0 <= config.budget, "within the budget");
    discovery.report()
}

#[test]
fn every_mapping_and_filtering_behaviour_is_told() {
    use FilteringBehaviour as F;
    use MappingBehaviour as M;
    for mapping in [
        M::EndpointIndependent,
        M::AddressDependent,
        M::AddressAndPortDependent,
    ] {
        for filtering in [
            F::EndpointIndependent,
            F::AddressDependent,
            F::AddressAndPortDependent,
        ] {
            for hairpinning in [false, true] {
                let mut world = World::new(mapping, filtering, hairpinning);
                let report = run(&mut world, DiscoveryConfig::default()).expect("answered");
                let case = format!("{mapping} / {filtering} / hairpin {hairpinning}");
                assert_eq!(report.mapping, Some(mapping), "{case}");
                assert_eq!(report.filtering, Some(filtering), "{case}");
                assert_eq!(report.hairpinning, Some(hairpinning), "{case}");
                assert_eq!(
                    report.unsolicited_arrived,
                    Some(filtering == F::EndpointIndependent),
                    "{case}"
                );
                assert_eq!(report.mapped, addr("44.0.0.1:40000"), "{case}");
                assert_eq!(report.other_address, Some(addr(ALTERNATE)), "{case}");
                // Two rounds: test I with the two filtering tests, then tests II and III.
                assert_eq!(report.round_trips, 2, "{case}");
                assert_eq!(world.server_requests, report.requests, "{case}");
                assert!(report.requests >= 5, "{case}");
            }
        }
    }
}

#[test]
fn answered_rounds_send_five_requests_and_end_quickly() {
    let mut world = World::new(
        MappingBehaviour::EndpointIndependent,
        FilteringBehaviour::EndpointIndependent,
        true,
    );
    let report = run(&mut world, DiscoveryConfig::default()).expect("answered");
    assert_eq!(report.requests, 5);
    assert!(
        report.elapsed < Duration::from_millis(50),
        "{:?}",
        report.elapsed
    );
}

#[test]
fn server_without_rfc5780_gives_the_address_only() {
    let mut world = World::new(
        MappingBehaviour::EndpointIndependent,
        FilteringBehaviour::AddressAndPortDependent,
        false,
    );
    world.rfc5780 = false;
    let report = run(&mut world, DiscoveryConfig::default()).expect("answered");
    assert_eq!(report.mapped, addr("44.0.0.1:40000"));
    assert_eq!((report.mapping, report.filtering), (None, None));
    assert_eq!(report.round_trips, 1);
    assert_eq!(report.requests, 3);
}

#[test]
fn address_only_sends_one_request() {
    let mut world = World::new(
        MappingBehaviour::AddressAndPortDependent,
        FilteringBehaviour::AddressAndPortDependent,
        false,
    );
    let report = run(&mut world, DiscoveryConfig::address_only()).expect("answered");
    assert_eq!((report.requests, report.round_trips), (1, 1));
    assert_eq!(report.hairpinning, None);
    assert_eq!(world.server_requests, 1);
}

#[test]
fn silent_server_is_an_error_within_the_budget() {
    let mut world = World::new(
        MappingBehaviour::EndpointIndependent,
        FilteringBehaviour::EndpointIndependent,
        false,
    );
    world.silent = true;
    let config = DiscoveryConfig::default().with_budget(Duration::from_millis(500));
    let error = run(&mut world, config).expect_err("no answer");
    assert!(error.is_no_answer(), "{error}");
    assert!(error.to_string().contains("44.0.0.2:3478"), "{error}");
}

#[test]
fn stray_datagrams_are_refused_without_harm() {
    let now = Instant::now();
    let mut discovery = Discovery::new(addr(PRIMARY), DiscoveryConfig::default(), now);
    assert!(discovery.poll_transmit(now).is_some());
    assert!(
        discovery
            .handle_datagram(addr(PRIMARY), b"hello", now)
            .is_err()
    );
    let stranger = BindingResponse::Error {
        transaction_id: TransactionId([0; 12]),
        code: 400,
    };
    assert!(
        discovery
            .handle_datagram(addr(PRIMARY), &stranger.encode(), now)
            .is_ok()
    );
    assert!(!discovery.is_done());
    let _ = addr(CLIENT);
}
