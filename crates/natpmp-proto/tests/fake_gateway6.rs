//! The client over IPv6 against small fake PCP servers on `[::1]`: what goes on the wire
//! (PCP only, the client's own address), pinholes, epochs and unsolicited ANNOUNCEs, and the
//! typed refusal of NAT-PMP. Skipped where the host has no IPv6 loopback.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use natpmp_proto::pcp::{self, ResultCode};
use natpmp_proto::tokio::{Client, ClientConfig, ClientError, Event, VersionChoice};
use natpmp_proto::{Protocol, Version};

const LOOPBACK: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// A server socket on `[::1]`, or `None` on a host without IPv6.
fn fake_gateway() -> Option<(UdpSocket, u16)> {
    let socket = UdpSocket::bind("[::1]:0").ok()?;
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    Some((socket, port))
}

fn config(port: u16, version: VersionChoice) -> ClientConfig {
    ClientConfig {
        server_port: port,
        version,
        ..ClientConfig::interactive(Duration::from_secs(3))
    }
}

/// Receives one PCP request; returns it, its raw bytes and where it came from.
fn receive(server: &UdpSocket) -> (pcp::Request, Vec<u8>, SocketAddr) {
    let mut buffer = [0u8; 1100];
    let (length, client) = server.recv_from(&mut buffer).unwrap();
    let bytes = buffer[..length].to_vec();
    (pcp::Request::decode(&bytes).unwrap(), bytes, client)
}

/// A pinhole, as a PCP server without NAT grants it: the internal address and port.
fn pinhole(request: &pcp::Request, lifetime: u32, epoch: u32) -> Vec<u8> {
    let mut answer = pcp::Response::answering(request, ResultCode::Success, lifetime, epoch);
    if let pcp::ResponseData::Map(data) = &mut answer.data {
        data.external_port = data.internal_port;
        data.external_address = request.client_address;
    }
    answer.encode().unwrap()
}

#[tokio::test]
async fn a_map_over_ipv6_is_pcp_from_the_clients_address_and_returns_the_pinhole() {
    let Some((server, port)) = fake_gateway() else {
        return;
    };
    let serve = std::thread::spawn(move || {
        let (request, bytes, client) = receive(&server);
        server
            .send_to(&pinhole(&request, 600, 4000), client)
            .unwrap();
        (request, bytes, client)
    });
    // Auto: PCP, and no NAT-PMP attempt anywhere.
    let client = Client::with_config(LOOPBACK, config(port, VersionChoice::Auto))
        .await
        .unwrap();
    assert_eq!(client.client_address(), LOOPBACK);
    assert!(matches!(client.gateway(), SocketAddr::V6(_)));
    let mapping = client
        .map(Protocol::Tcp, 7000, 7000, Duration::from_secs(600))
        .await
        .unwrap();
    let (request, bytes, source) = serve.join().unwrap();
    assert_eq!(bytes[0], 2, "PCP version byte");
    // The header's client address is the datagram's source (RFC 6887 §8.1), as is.
    assert_eq!(request.client_address, source.ip());
    assert_eq!(bytes[8..24], Ipv6Addr::LOCALHOST.octets());
    let pcp::OpcodeData::Map(data) = request.data else {
        panic!("not a MAP: {request:?}");
    };
    assert_eq!(data.internal_port, 7000);
    assert_eq!(data.external_address, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    assert_eq!(mapping.external_address, LOOPBACK);
    assert_eq!(mapping.external_port, 7000);
    assert_eq!(mapping.version, Version::Pcp);
    assert_eq!(mapping.nonce, Some(data.nonce));
    assert_eq!(mapping.epoch, 4000);
    assert_eq!(client.version(), Some(Version::Pcp));
}

#[tokio::test]
async fn the_external_address_over_ipv6_is_the_pinhole_address() {
    let Some((server, port)) = fake_gateway() else {
        return;
    };
    let serve = std::thread::spawn(move || {
        // The address probe: a deletion of the client's own UDP port.
        let (request, _, client) = receive(&server);
        server.send_to(&pinhole(&request, 0, 50), client).unwrap();
        request
    });
    let client = Client::with_config(LOOPBACK, config(port, VersionChoice::Pcp))
        .await
        .unwrap();
    let address = client.external_address().await.unwrap();
    let request = serve.join().unwrap();
    assert_eq!(address, LOOPBACK);
    assert_eq!(request.lifetime, 0);
    let pcp::OpcodeData::Map(data) = request.data else {
        panic!("not a MAP: {request:?}");
    };
    assert_eq!(data.internal_port, client.local_addr().unwrap().port());
}

#[tokio::test]
async fn natpmp_toward_an_ipv6_gateway_is_a_typed_error() {
    let Some((_server, port)) = fake_gateway() else {
        return;
    };
    let error = Client::with_config(LOOPBACK, config(port, VersionChoice::NatPmp))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::NatPmpOverIpv6 { gateway } if gateway.port() == port),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("gateway [::1]:{port} is an ipv6 address and nat-pmp works over ipv4 only")
    );
}

#[tokio::test]
async fn auto_never_falls_back_to_natpmp_over_ipv6() {
    let Some((server, port)) = fake_gateway() else {
        return;
    };
    let serve = std::thread::spawn(move || {
        // The client asks at once; a short wait shows that nothing else follows.
        server
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut versions = Vec::new();
        let mut buffer = [0u8; 1100];
        // Every request is answered as a NAT-PMP-only gateway would: version 0, result 1.
        while let Ok((length, client)) = server.recv_from(&mut buffer) {
            versions.push(buffer[0]);
            let opcode = 128 + (buffer[1] & 0x7f);
            server
                .send_to(&[0, opcode, 0, 1, 0, 0, 0, 42][..], client)
                .unwrap();
            if length == 0 || versions.len() >= 8 {
                break;
            }
        }
        versions
    });
    let client = Client::with_config(
        LOOPBACK,
        ClientConfig {
            timeout: Some(Duration::from_millis(800)),
            ..config(port, VersionChoice::Auto)
        },
    )
    .await
    .unwrap();
    let map = client
        .map(Protocol::Udp, 7001, 7001, Duration::from_secs(60))
        .await
        .unwrap_err();
    let address = client.external_address().await.unwrap_err();
    let unmap = client.unmap(Protocol::Udp, 7001).await.unwrap_err();
    drop(client);
    let versions = serve.join().unwrap();
    for error in [&map, &address, &unmap] {
        assert!(
            matches!(
                error,
                ClientError::VersionMismatch {
                    requested: Version::Pcp,
                    ..
                }
            ),
            "{error:?}"
        );
    }
    assert!(!versions.is_empty());
    assert!(versions.iter().all(|&v| v == 2), "{versions:?}");
}

#[tokio::test]
async fn an_epoch_that_goes_back_over_ipv6_is_a_reset_and_an_event() {
    let Some((server, port)) = fake_gateway() else {
        return;
    };
    let serve = std::thread::spawn(move || {
        for epoch in [5000, 3] {
            let (request, _, client) = receive(&server);
            server
                .send_to(&pinhole(&request, 600, epoch), client)
                .unwrap();
        }
    });
    let client = Client::with_config(LOOPBACK, config(port, VersionChoice::Pcp))
        .await
        .unwrap();
    let mut events = client.subscribe();
    let first = client
        .map(Protocol::Udp, 7002, 7002, Duration::from_secs(600))
        .await
        .unwrap();
    assert!(!first.epoch_reset);
    let again = client
        .refresh(&first, Duration::from_secs(600))
        .await
        .unwrap();
    serve.join().unwrap();
    assert!(again.epoch_reset);
    assert_eq!(again.nonce, first.nonce, "a refresh keeps the nonce");
    assert_eq!(
        events.try_recv().unwrap(),
        Event::EpochReset {
            version: Version::Pcp,
            previous: 5000,
            current: 3
        }
    );
}

#[tokio::test]
async fn an_unsolicited_announce_to_the_client_port_is_checked() {
    let Some((server, port)) = fake_gateway() else {
        return;
    };
    let serve = std::thread::spawn(move || {
        let (request, _, client) = receive(&server);
        server
            .send_to(&pinhole(&request, 600, 5000), client)
            .unwrap();
        // The server restarts and tells its client, unasked, on the client's own port.
        let announce = pcp::Response::answering(
            &pcp::Request::announce(client.ip()),
            ResultCode::Success,
            0,
            2,
        );
        server.send_to(&announce.encode().unwrap(), client).unwrap();
        // The next request's answer has an epoch consistent with the ANNOUNCE's.
        let (request, _, client) = receive(&server);
        server.send_to(&pinhole(&request, 600, 3), client).unwrap();
    });
    let client = Client::with_config(LOOPBACK, config(port, VersionChoice::Pcp))
        .await
        .unwrap();
    let mut events = client.subscribe();
    let first = client
        .map(Protocol::Tcp, 7003, 7003, Duration::from_secs(600))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = client
        .map(Protocol::Tcp, 7004, 7004, Duration::from_secs(600))
        .await
        .unwrap();
    serve.join().unwrap();
    assert!(!first.epoch_reset);
    // The reset came from the ANNOUNCE, not from this answer (3 follows 2).
    assert!(!second.epoch_reset);
    assert_eq!(
        events.try_recv().unwrap(),
        Event::EpochReset {
            version: Version::Pcp,
            previous: 5000,
            current: 2
        }
    );
    assert_eq!(
        client.ignored(),
        0,
        "an ANNOUNCE is not an unusable datagram"
    );
}

#[tokio::test]
async fn a_link_local_gateway_off_the_default_route_needs_a_scope() {
    // Not the next hop of any default route here (the test reads the table, sends nothing).
    let gateway: IpAddr = "fe80::5c:1e:e7:1".parse().unwrap();
    let error = Client::with_config(gateway, config(5351, VersionChoice::Pcp))
        .await
        .unwrap_err();
    match &error {
        ClientError::LocalAddress { gateway: asked, .. } => assert_eq!(*asked, gateway),
        other => panic!("{other:?}"),
    }
    assert!(
        error
            .to_string()
            .starts_with("cannot find this host's address toward gateway fe80::5c:1e:e7:1: "),
        "{error}"
    );
}

#[tokio::test]
async fn a_given_scope_and_local_address_are_used() {
    let Some((_server, port)) = fake_gateway() else {
        return;
    };
    // `::1` as the local address and a (meaningless for loopback) scope: the socket is bound
    // to the address given, which PCP then names.
    let client = Client::with_config(
        LOOPBACK,
        ClientConfig {
            local_address: Some(LOOPBACK),
            scope_id: Some(1),
            ..config(port, VersionChoice::Pcp)
        },
    )
    .await
    .unwrap();
    assert_eq!(client.local_addr().unwrap().ip(), LOOPBACK);
    assert_eq!(client.client_address(), LOOPBACK);
    let error = Client::with_config(
        LOOPBACK,
        ClientConfig {
            local_address: Some("127.0.0.1".parse().unwrap()),
            ..config(port, VersionChoice::Pcp)
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ClientError::Io { .. }), "{error:?}");
}

#[tokio::test]
async fn the_ipv6_announcement_listener_takes_pcp_announces_and_ignores_the_rest() {
    if fake_gateway().is_none() {
        return;
    }
    use natpmp_proto::tokio::AnnouncementListener;
    // Joined on the loopback interface; announcements come by unicast to port 5350 here
    // (the lab test covers ff02::1 on a real link).
    let loopback_index = netinfo::interfaces()
        .unwrap()
        .into_iter()
        .find(|i| i.is_loopback)
        .map(|i| i.index)
        .unwrap();
    let mut listener = AnnouncementListener::bind_v6(Ipv6Addr::LOCALHOST, loopback_index)
        .await
        .unwrap();
    let announce = |epoch| {
        pcp::Response::answering(
            &pcp::Request::announce(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            ResultCode::Success,
            0,
            epoch,
        )
        .encode()
        .unwrap()
    };
    let target = SocketAddr::from((Ipv6Addr::LOCALHOST, natpmp_proto::ANNOUNCE_PORT));
    let sender = UdpSocket::bind("[::1]:0").unwrap();
    // Not an announcement, then one: only the second counts.
    sender.send_to(&[2, 0x81, 0, 0], target).unwrap();
    sender.send_to(&announce(7), target).unwrap();
    let announcement = tokio::time::timeout(Duration::from_secs(5), listener.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(announcement.version, Version::Pcp);
    assert_eq!(announcement.epoch, 7);
    assert!(announcement.epoch_reset);
    assert_eq!(listener.ignored(), 1);
}
