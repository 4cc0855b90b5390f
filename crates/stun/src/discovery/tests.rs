//! Scenario tests of [`Discovery`] with simulated time: an in-memory RFC 5780 server
//! behind a model NAT of each mapping and filtering behaviour, with and without
//! hairpinning, a server without RFC 5780, and a silent one.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::message::{BindingSuccess, incoming_request_id};
use std::net::IpAddr;

const CLIENT: &str = "192.168.1.10:5000";
const EXTERNAL_IP: &str = "44.0.0.1";
const PRIMARY: &str = "44.0.0.2:3478";
const ALTERNATE: &str = "44.0.0.3:3479";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// A NAT of one behaviour in front of the discovery's two sockets, and an RFC 5780
/// server. Like a Linux router, an inbound datagram the NAT drops leaves state behind: a
/// later datagram from the same mapping to that sender gets another external port.
struct World {
    mapping: MappingBehaviour,
    filtering: FilteringBehaviour,
    hairpinning: bool,
    rfc5780: bool,
    silent: bool,
    /// The main socket's external port is forwarded (a port mapping): inbound passes.
    port_mapped: bool,
    /// External port of each mapping key (socket, destination key).
    mappings: HashMap<(Socket, Option<SocketAddr>), u16>,
    owner: HashMap<u16, Socket>,
    /// Destinations sent to, per external port.
    sent_to: HashMap<u16, HashSet<SocketAddr>>,
    /// (external port, sender) of dropped inbound datagrams.
    dropped: HashSet<(u16, SocketAddr)>,
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
            port_mapped: false,
            mappings: HashMap::new(),
            owner: HashMap::new(),
            sent_to: HashMap::new(),
            dropped: HashSet::new(),
            server_requests: 0,
        }
    }

    fn allocate(&mut self, key: (Socket, Option<SocketAddr>)) -> u16 {
        let next = 40_000 + self.mappings.len() as u16;
        let port = *self.mappings.entry(key).or_insert(next);
        self.owner.insert(port, key.0);
        port
    }

    fn external_port(&mut self, socket: Socket, destination: SocketAddr) -> u16 {
        if let Some(port) = self.mappings.get(&(socket, Some(destination))) {
            return *port;
        }
        let key = match self.mapping {
            MappingBehaviour::EndpointIndependent => None,
            MappingBehaviour::AddressDependent => Some(SocketAddr::new(destination.ip(), 0)),
            MappingBehaviour::AddressAndPortDependent => Some(destination),
        };
        let mut port = self.allocate((socket, key));
        if self.dropped.contains(&(port, destination)) {
            port = self.allocate((socket, Some(destination)));
        }
        self.sent_to.entry(port).or_default().insert(destination);
        port
    }

    fn inbound_allowed(&mut self, from: SocketAddr, port: u16) -> bool {
        if self.port_mapped && self.owner.get(&port) == Some(&Socket::Main) {
            return true;
        }
        let sent = self.sent_to.get(&port).cloned().unwrap_or_default();
        let allowed = match self.filtering {
            FilteringBehaviour::EndpointIndependent => !sent.is_empty(),
            FilteringBehaviour::AddressDependent => sent.iter().any(|s| s.ip() == from.ip()),
            FilteringBehaviour::AddressAndPortDependent => sent.contains(&from),
        };
        if !allowed {
            self.dropped.insert((port, from));
        }
        allowed
    }

    /// Routes one datagram from the discovery; returns what comes back, and to which
    /// socket.
    fn route(&mut self, transmit: &Transmit) -> Option<(Socket, SocketAddr, Vec<u8>)> {
        let ext_ip: IpAddr = EXTERNAL_IP.parse().expect("address");
        if transmit.destination.ip() == ext_ip {
            let owner = self.owner.get(&transmit.destination.port()).copied();
            return owner
                .filter(|_| self.hairpinning)
                .map(|to| (to, transmit.destination, transmit.payload.clone()));
        }
        let port = self.external_port(transmit.socket, transmit.destination);
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
            return Some((transmit.socket, receiving, error.encode()));
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
        let to = *self.owner.get(&port)?;
        self.inbound_allowed(from, port)
            .then(|| (to, from, BindingResponse::Success(success).encode()))
    }
}

fn run(world: &mut World, config: DiscoveryConfig) -> Result<DiscoveryReport, DiscoveryError> {
    let t0 = Instant::now();
    let mut now = t0;
    let mut discovery = Discovery::new(addr(PRIMARY), config, now);
    for _ in 0..10_000 {
        while let Some(transmit) = discovery.poll_transmit(now) {
            if let Some((socket, from, bytes)) = world.route(&transmit) {
                // A hairpinned request or an answer, both "1 ms later".
                let later = now + Duration::from_millis(1);
                let _ = discovery.handle_datagram(socket, from, &bytes, later);
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
                assert_eq!(report.unsolicited_arrived, None, "{case}");
                assert_eq!(report.mapped, addr("44.0.0.1:40000"), "{case}");
                assert_eq!(report.other_address, Some(addr(ALTERNATE)), "{case}");
                // Two rounds: test I with the two filtering tests, then tests II and III.
                assert_eq!(report.round_trips, 2, "{case}");
                assert_eq!(world.server_requests, report.transmissions, "{case}");
                assert_eq!(report.requests, 5, "{case}");
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
            .handle_datagram(Socket::Main, addr(PRIMARY), b"hello", now)
            .is_err()
    );
    let stranger = BindingResponse::Error {
        transaction_id: TransactionId([0; 12]),
        code: 400,
    };
    assert!(
        discovery
            .handle_datagram(Socket::Main, addr(PRIMARY), &stranger.encode(), now)
            .is_ok()
    );
    assert!(!discovery.is_done());
    let _ = addr(CLIENT);
}

#[test]
fn unsolicited_datagram_test_tells_a_forwarded_port_from_a_filtered_one() {
    use FilteringBehaviour as F;
    use MappingBehaviour as M;
    for mapping in [
        M::EndpointIndependent,
        M::AddressDependent,
        M::AddressAndPortDependent,
    ] {
        for port_mapped in [false, true] {
            let mut world = World::new(mapping, F::AddressAndPortDependent, false);
            world.port_mapped = port_mapped;
            let config = DiscoveryConfig::default().with_unsolicited(true);
            let report = run(&mut world, config).expect("answered");
            let case = format!("{mapping} / port mapped {port_mapped}");
            assert_eq!(report.unsolicited_arrived, Some(port_mapped), "{case}");
            assert_eq!(report.mapping, Some(mapping), "{case}");
            assert_eq!(report.filtering, Some(F::AddressAndPortDependent), "{case}");
            assert_eq!(report.round_trips, 2, "{case}");
            assert_eq!(world.server_requests, report.transmissions, "{case}");
        }
    }
}

#[test]
fn filtering_tests_on_the_main_socket_would_have_misread_the_mapping() {
    // The reason for the second socket: in this model (like a Linux router) a dropped
    // answer from the other address makes the main socket's next request there leave
    // from another port.
    let mut world = World::new(
        MappingBehaviour::EndpointIndependent,
        FilteringBehaviour::AddressAndPortDependent,
        false,
    );
    let main = Transmit {
        socket: Socket::Main,
        destination: addr(PRIMARY),
        payload: BindingRequest::new(TransactionId([3; 12])).encode(),
        attempt: 1,
    };
    assert!(world.route(&main).is_some());
    assert!(!world.inbound_allowed(addr(ALTERNATE), 40_000));
    let again = Transmit {
        destination: addr(ALTERNATE),
        ..main
    };
    let answer = world.route(&again).expect("answered");
    let Ok(BindingResponse::Success(s)) = BindingResponse::decode(&answer.2) else {
        panic!("not a success");
    };
    assert_ne!(s.mapped.port(), 40_000);
}
