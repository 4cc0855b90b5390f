//! Lab tests of the lab's NAT behaviours, observed with plain UDP sockets and a hand-built
//! STUN Binding request: coturn answers with the address the internet sees and RFC 5780's
//! OTHER-ADDRESS, each mapping and filtering behaviour is what the configuration asked for,
//! hairpinning is on or off, miniupnpd's mappings still forward, and a router behind an
//! outer NAT refuses every mapping.

#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use natlab::{Lab, LabConfig};

/// A STUN Binding request (RFC 8489): the 20-byte header, and a CHANGE-REQUEST attribute
/// (RFC 5780) when `change` has flags (0x4 change IP, 0x2 change port).
fn binding_request(id: [u8; 12], change: u32) -> Vec<u8> {
    let mut message = vec![0x00, 0x01];
    let length: u16 = if change == 0 { 0 } else { 8 };
    message.extend_from_slice(&length.to_be_bytes());
    message.extend_from_slice(&0x2112_A442_u32.to_be_bytes());
    message.extend_from_slice(&id);
    if change != 0 {
        message.extend_from_slice(&[0x00, 0x03, 0x00, 0x04]);
        message.extend_from_slice(&change.to_be_bytes());
    }
    message
}

/// What a Binding success response said.
#[derive(Debug, Default)]
struct BindingResponse {
    xor_mapped: Option<SocketAddr>,
    other_address: Option<SocketAddr>,
    response_origin: Option<SocketAddr>,
}

/// Parses a Binding success response to transaction `id` (IPv4 attributes only).
fn parse_response(datagram: &[u8], id: [u8; 12]) -> Option<BindingResponse> {
    if datagram.len() < 20 || datagram[0..2] != [0x01, 0x01] || datagram[8..20] != id {
        return None;
    }
    let mut response = BindingResponse::default();
    let mut rest = &datagram[20..];
    while rest.len() >= 4 {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let length = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let value = rest.get(4..4 + length)?;
        if value.len() >= 8 && value[1] == 0x01 {
            let port = u16::from_be_bytes([value[2], value[3]]);
            let address = Ipv4Addr::new(value[4], value[5], value[6], value[7]);
            let plain = SocketAddr::from((address, port));
            match kind {
                0x0020 => {
                    let port = port ^ 0x2112;
                    let address = Ipv4Addr::from(u32::from(address) ^ 0x2112_A442);
                    response.xor_mapped = Some(SocketAddr::from((address, port)));
                }
                0x802C => response.other_address = Some(plain),
                0x802B => response.response_origin = Some(plain),
                _ => {}
            }
        }
        rest = rest.get(4 + length.div_ceil(4) * 4..).unwrap_or(&[]);
    }
    Some(response)
}

/// Sends a Binding request from `socket` to `server` (three tries) and returns the response
/// and where it came from; `None` if none came.
fn binding(
    socket: &UdpSocket,
    server: SocketAddr,
    change: u32,
) -> Option<(BindingResponse, SocketAddr)> {
    let id: [u8; 12] = std::array::from_fn(|i| (i as u8).wrapping_mul(31) ^ change as u8);
    socket
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut buffer = [0u8; 1500];
    for _ in 0..3 {
        socket
            .send_to(&binding_request(id, change), server)
            .unwrap();
        while let Ok((n, from)) = socket.recv_from(&mut buffer) {
            if let Some(response) = parse_response(&buffer[..n], id) {
                return Some((response, from));
            }
        }
    }
    None
}

#[test]
fn coturn_answers_with_the_routers_external_address_and_its_other_address() {
    let Some(lab) = Lab::for_test_with_tools(LabConfig::default().with_stun(), &["turnserver"])
    else {
        return;
    };
    let server = lab.stun_server().unwrap();
    let alternate = lab.stun_alternate().unwrap();
    assert_eq!(server, "44.0.0.2:3478".parse().unwrap());
    assert_eq!(alternate, "44.0.0.3:3479".parse().unwrap());
    let external = lab.external_address();
    let (response, from) = lab
        .lan()
        .run(move || {
            let socket = UdpSocket::bind("0.0.0.0:40000").unwrap();
            binding(&socket, server, 0)
        })
        .unwrap()
        .unwrap_or_else(|| panic!("no Binding response; coturn's log:\n{}", lab.stun_log()));
    assert_eq!(from, server);
    assert_eq!(
        response.xor_mapped,
        Some(SocketAddr::from((external, 40000)))
    );
    assert_eq!(response.other_address, Some(alternate));
    assert_eq!(response.response_origin, Some(server));
}
