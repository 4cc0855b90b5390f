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
