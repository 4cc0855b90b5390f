//! The client against small fake gateways on loopback, for what miniupnpd never does: answers
//! with the wrong nonce or opcode, and silence.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use natpmp_proto::pcp::{self, ResultCode};
use natpmp_proto::tokio::{Client, ClientConfig, ClientError, VersionChoice};
use natpmp_proto::{Nonce, Protocol};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn fake_gateway() -> (UdpSocket, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

fn config(port: u16, version: VersionChoice) -> ClientConfig {
    ClientConfig {
        server_port: port,
        version,
        ..ClientConfig::interactive(Duration::from_secs(3))
    }
}

#[tokio::test]
async fn pcp_answers_with_a_wrong_nonce_are_ignored() {
    let (server, port) = fake_gateway();
    let serve = std::thread::spawn(move || {
        let mut buffer = [0u8; 1100];
        let (length, client) = server.recv_from(&mut buffer).unwrap();
        let request = pcp::Request::decode(&buffer[..length]).unwrap();
        let mut answer = pcp::Response::answering(&request, ResultCode::Success, 600, 77);
        if let pcp::ResponseData::Map(data) = &mut answer.data {
            data.external_port = 6000;
            data.external_address = "::ffff:44.0.0.1".parse().unwrap();
        }
        let mut forged = answer.clone();
        if let pcp::ResponseData::Map(data) = &mut forged.data {
            data.nonce = Nonce::new([9; 12]);
            data.external_address = "::ffff:6.6.6.6".parse().unwrap();
        }
        server.send_to(&forged.encode().unwrap(), client).unwrap();
        server.send_to(&answer.encode().unwrap(), client).unwrap();
    });
    let client = Client::with_config(LOOPBACK, config(port, VersionChoice::Pcp))
        .await
        .unwrap();
    let mapping = client
        .map(Protocol::Tcp, 6000, 6000, Duration::from_secs(600))
        .await
        .unwrap();
    serve.join().unwrap();
    assert_eq!(
        mapping.external_address,
        IpAddr::V4(Ipv4Addr::new(44, 0, 0, 1))
    );
    assert_eq!(mapping.epoch, 77);
    assert_eq!(client.ignored(), 1);
}

#[tokio::test]
async fn a_silent_gateway_times_out_within_the_configured_timeout() {
    let (_server, port) = fake_gateway();
    let client = Client::with_config(
        LOOPBACK,
        ClientConfig {
            timeout: Some(Duration::from_millis(600)),
            ..config(port, VersionChoice::NatPmp)
        },
    )
    .await
    .unwrap();
    let started = Instant::now();
    let error = client.external_address().await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(error, ClientError::TimedOut { attempts: 2.., .. }),
        "{error:?}"
    );
    assert!(elapsed >= Duration::from_millis(600) && elapsed < Duration::from_millis(1500));
    assert!(
        error
            .to_string()
            .contains(&format!("127.0.0.1:{port} did not answer"))
    );
}

#[tokio::test]
async fn an_error_result_code_is_typed_and_named() {
    let (server, port) = fake_gateway();
    let serve = std::thread::spawn(move || {
        let mut buffer = [0u8; 64];
        let (_, client) = server.recv_from(&mut buffer).unwrap();
        // NAT-PMP external address reply with result 3 (network failure).
        let reply = [0u8, 128, 0, 3, 0, 0, 0, 5, 0, 0, 0, 0];
        server.send_to(&reply, client).unwrap();
    });
    let client = Client::with_config(LOOPBACK, config(port, VersionChoice::NatPmp))
        .await
        .unwrap();
    let error = client.external_address().await.unwrap_err();
    serve.join().unwrap();
    assert!(error.result_code().is_some(), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("refused the external address request"),
        "{text}"
    );
}

#[tokio::test]
async fn a_closed_port_is_reported_at_once() {
    let port = {
        let (socket, port) = fake_gateway();
        drop(socket);
        port
    };
    let client = Client::with_config(LOOPBACK, config(port, VersionChoice::NatPmp))
        .await
        .unwrap();
    let started = Instant::now();
    let error = client.external_address().await.unwrap_err();
    assert!(
        matches!(error, ClientError::NotSupported { .. }),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(200));
}

/// One scripted reply: the request in, the reply out.
type Reply = Box<dyn Fn(&[u8]) -> Vec<u8> + Send>;

/// A NAT-PMP gateway that answers each request with the next of `answers` (given the
/// request, it returns the reply), then stops; it returns the requests' opcodes.
fn natpmp_gateway(answers: Vec<Reply>) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    let (server, port) = fake_gateway();
    let serve = std::thread::spawn(move || {
        let mut opcodes = Vec::new();
        for answer in answers {
            let mut buffer = [0u8; 64];
            let Ok((length, client)) = server.recv_from(&mut buffer) else {
                break;
            };
            opcodes.push(buffer[1]);
            server.send_to(&answer(&buffer[..length]), client).unwrap();
        }
        opcodes
    });
    (port, serve)
}

fn address_reply(epoch: u32, address: [u8; 4]) -> Reply {
    Box::new(move |_| {
        let mut reply = vec![0u8, 128, 0, 0];
        reply.extend_from_slice(&epoch.to_be_bytes());
        reply.extend_from_slice(&address);
        reply
    })
}

fn map_reply(epoch: u32, external_port: u16, lifetime: u32) -> Reply {
    Box::new(move |request| {
        let mut reply = vec![0u8, 128 + request[1], 0, 0];
        reply.extend_from_slice(&epoch.to_be_bytes());
        reply.extend_from_slice(&request[4..6]);
        reply.extend_from_slice(&external_port.to_be_bytes());
        reply.extend_from_slice(&lifetime.to_be_bytes());
        reply
    })
}

#[tokio::test]
async fn an_external_address_of_0_0_0_0_is_an_error_naming_it() {
    let (port, serve) = natpmp_gateway(vec![address_reply(10, [0, 0, 0, 0])]);
    let client = Client::with_config(LOOPBACK, config(port, VersionChoice::NatPmp))
        .await
        .unwrap();
    let error = client.external_address().await.unwrap_err();
    serve.join().unwrap();
    assert!(
        matches!(error, ClientError::NoExternalAddress { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("0.0.0.0") && text.contains("no wan connection"),
        "{text}"
    );
}

#[tokio::test]
async fn a_private_external_address_is_returned_for_the_caller_to_classify() {
    let (port, serve) = natpmp_gateway(vec![address_reply(10, [100, 64, 0, 7])]);
    let client = Client::with_config(LOOPBACK, config(port, VersionChoice::NatPmp))
        .await
        .unwrap();
    let address = client.external_address().await.unwrap();
    serve.join().unwrap();
    assert_eq!(address, IpAddr::V4(Ipv4Addr::new(100, 64, 0, 7)));
}

#[tokio::test]
async fn a_mapping_success_with_port_0_or_lifetime_0_or_no_address_is_an_error() {
    for (answers, expected) in [
        (
            vec![map_reply(10, 0, 600), address_reply(11, [44, 0, 0, 1])],
            "external port 0",
        ),
        (
            vec![map_reply(10, 6000, 0), address_reply(11, [44, 0, 0, 1])],
            "lifetime 0",
        ),
        (
            vec![map_reply(10, 6000, 600), address_reply(11, [0, 0, 0, 0])],
            "0.0.0.0",
        ),
    ] {
        let (port, serve) = natpmp_gateway(answers);
        let client = Client::with_config(LOOPBACK, config(port, VersionChoice::NatPmp))
            .await
            .unwrap();
        let error = client
            .map(Protocol::Tcp, 6000, 6000, Duration::from_secs(600))
            .await
            .unwrap_err();
        serve.join().unwrap();
        let text = error.to_string();
        assert!(text.contains(expected), "{expected}: {text}");
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    }
}

#[tokio::test]
async fn an_epoch_that_goes_back_within_a_mapping_maps_again() {
    // The gateway restarts between the mapping and the address answer (epoch 1000 -> 3):
    // the mapping is gone, so the client maps again.
    let (port, serve) = natpmp_gateway(vec![
        map_reply(1000, 6000, 600),
        address_reply(3, [44, 0, 0, 1]),
        map_reply(3, 6001, 600),
        address_reply(3, [44, 0, 0, 1]),
    ]);
    let client = Client::with_config(LOOPBACK, config(port, VersionChoice::NatPmp))
        .await
        .unwrap();
    let mapping = client
        .map(Protocol::Tcp, 6000, 6000, Duration::from_secs(600))
        .await
        .unwrap();
    let opcodes = serve.join().unwrap();
    assert_eq!(opcodes, [2, 0, 2, 0], "map, address, map again, address");
    assert_eq!(mapping.external_port, 6001);
    assert!(mapping.epoch_reset);
}

/// A NAT-PMP mapping answer carries no address, so the client asks for it too, in the same
/// round trip: both requests arrive before the gateway has answered either.
#[tokio::test]
async fn a_nat_pmp_map_asks_for_the_address_in_the_same_round_trip() {
    use natpmp_proto::natpmp;
    let (server, port) = fake_gateway();
    let serve = std::thread::spawn(move || {
        let mut buffer = [0u8; 64];
        let mut requests = Vec::new();
        let mut client = None;
        // Read both requests before answering anything.
        while requests.len() < 2 {
            let (length, from) = server.recv_from(&mut buffer).unwrap();
            client = Some(from);
            let request = natpmp::Request::decode(&buffer[..length]).unwrap();
            if !requests.contains(&request) {
                requests.push(request);
            }
        }
        let client = client.unwrap();
        for request in &requests {
            let answer = match request {
                natpmp::Request::ExternalAddress => {
                    natpmp::Response::new_external_address(5, Ipv4Addr::new(44, 0, 0, 1))
                }
                natpmp::Request::Map(map) => natpmp::Response::new_mapping(
                    5,
                    natpmp::MapResponse {
                        protocol: map.protocol,
                        internal_port: map.internal_port,
                        external_port: 7100,
                        lifetime: 600,
                    },
                ),
            };
            server.send_to(&answer.encode(), client).unwrap();
        }
        requests.len()
    });
    let client = Client::with_config(LOOPBACK, config(port, VersionChoice::NatPmp))
        .await
        .unwrap();
    let mapping = client
        .map(Protocol::Udp, 7100, 7100, Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(serve.join().unwrap(), 2);
    assert_eq!(mapping.external_port, 7100);
    assert_eq!(
        mapping.external_address,
        IpAddr::V4(Ipv4Addr::new(44, 0, 0, 1))
    );
    assert_eq!(
        client.ignored(),
        0,
        "neither answer was taken for the other's"
    );
}

#[tokio::test]
async fn an_error_answer_never_gives_the_external_address() {
    let (server, port) = fake_gateway();
    // Like some CGN servers: every MAP answered NETWORK_FAILURE (lifetime 30 s), with an
    // external address filled in anyway.
    let serve = std::thread::spawn(move || {
        let mut buffer = [0u8; 1100];
        for _ in 0..2 {
            let (length, client) = server.recv_from(&mut buffer).unwrap();
            let request = pcp::Request::decode(&buffer[..length]).unwrap();
            let mut answer = pcp::Response::answering(&request, ResultCode::NetworkFailure, 30, 9);
            if let pcp::ResponseData::Map(data) = &mut answer.data {
                data.external_port = 6000;
                data.external_address = "::ffff:44.0.0.1".parse().unwrap();
            }
            server.send_to(&answer.encode().unwrap(), client).unwrap();
        }
    });
    let client = Client::with_config(LOOPBACK, config(port, VersionChoice::Pcp))
        .await
        .unwrap();
    let error = client.external_address().await.unwrap_err();
    serve.join().unwrap();
    assert_eq!(
        error.result_code(),
        Some(natpmp_proto::AnyResultCode::Pcp(ResultCode::NetworkFailure))
    );
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    let text = error.to_string();
    assert!(!text.contains("44.0.0.1"), "{text}");
    assert!(text.contains("NETWORK_FAILURE (7): the server"), "{text}");
    assert!(!error.is_unreachable());
}

#[tokio::test]
async fn a_pcp_version_1_server_is_named_at_its_first_answer() {
    let (server, port) = fake_gateway();
    let serve = std::thread::spawn(move || {
        let mut buffer = [0u8; 1100];
        let (length, client) = server.recv_from(&mut buffer).unwrap();
        // Version 1, the request's opcode with the R bit, UNSUPP_VERSION, lifetime 1800 s.
        let mut reply = vec![1, 0x80 | buffer[1], 0, 1, 0, 0, 0x07, 0x08, 0, 0, 0, 3];
        reply.resize(24, 0);
        assert!(length >= 24);
        server.send_to(&reply, client).unwrap();
    });
    let client = Client::with_config(LOOPBACK, config(port, VersionChoice::Pcp))
        .await
        .unwrap();
    let started = Instant::now();
    let error = client.external_address().await.unwrap_err();
    serve.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        matches!(
            error,
            ClientError::ServerVersion {
                server_version: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_unreachable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1800)));
    assert!(
        error
            .to_string()
            .ends_with("speaks PCP version 1 only; natkit speaks version 2")
    );
}
