//! Every public handle and future of the facade is `Send + Sync`, checked at compile time: a
//! program may hold them in any task, share them between threads, and keep them in structs
//! that must themselves be `Sync`.

use std::future::Future;
use std::net::SocketAddr;

use nat_traversal::{
    DualStack, Error, ExternalAddress, MapRequest, Mapping, MappingEvent, MappingEvents, Nat,
    NatEvent, NatOptions, PersistentMapping, PersistentMappingBuilder, ProbeReport, Protocol,
    PublicTcpListener, PublicUdpSocket, RecordedPinhole, TableEntry, TechniqueEvents, UnmapReport,
};

fn handle<T: Send + Sync>() {}

fn future<F: Future + Send + Sync>(_: &F) {}

#[test]
fn handles_are_send_and_sync() {
    handle::<Nat>();
    handle::<NatOptions>();
    handle::<MapRequest>();
    handle::<Mapping>();
    handle::<Error>();
    handle::<ProbeReport>();
    handle::<ExternalAddress>();
    handle::<UnmapReport>();
    handle::<TableEntry>();
    handle::<RecordedPinhole>();
    handle::<DualStack<ExternalAddress>>();
    handle::<NatEvent>();
    handle::<MappingEvent>();
    handle::<MappingEvents>();
    handle::<TechniqueEvents>();
    handle::<PersistentMapping>();
    handle::<PersistentMappingBuilder>();
    handle::<PublicTcpListener>();
    handle::<PublicUdpSocket>();
}

/// Never run: it only has to compile. Each future is made and checked, never awaited.
#[allow(dead_code, unused_must_use, clippy::unwrap_used)]
fn futures_are_send_and_sync(
    nat: Nat,
    mut mapping_events: MappingEvents,
    mut technique_events: TechniqueEvents,
    mapping: PersistentMapping,
    tcp: PublicTcpListener,
    udp: PublicUdpSocket,
) {
    let request = MapRequest::new(Protocol::Tcp, 8080);
    let address: SocketAddr = "0.0.0.0:8080".parse().unwrap();
    future(&nat.probe());
    future(&nat.probe_with(|_| {}));
    future(&nat.selected_technique());
    future(&nat.external_address());
    future(&nat.map(&request));
    future(&nat.unmap_port(Protocol::Tcp, 8080));
    future(&nat.unmap_all(Protocol::Udp));
    future(&nat.list());
    future(&nat.dual_stack(|nat| async move { nat.external_address().await }));
    future(&nat.tcp_listen_public(address));
    future(&nat.udp_bind_public(address));
    future(&nat_traversal::tcp_listen_public(address));
    future(&nat_traversal::udp_bind_public(address));
    future(&nat.persistent(request.clone()).start());
    future(&mapping_events.next());
    future(&technique_events.next());
    future(&mapping.stop());
    future(&tcp.close());
    future(&udp.close());
}
