//! Property tests: every message type survives encode → decode unchanged, and decoding any
//! bytes never panics and re-encodes to something that decodes to the same value (the
//! fuzz targets' property, here on random and mutated datagrams).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use natpmp_proto::pcp::{self, IpProtocol, MapData, OpcodeData, PcpOption, PeerData, ResponseData};
use natpmp_proto::{AnyResponse, Nonce, Protocol, decode_any, natpmp};
use proptest::collection::vec;
use proptest::prelude::*;

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)]
}

fn natpmp_request() -> impl Strategy<Value = natpmp::Request> {
    prop_oneof![
        Just(natpmp::Request::ExternalAddress),
        (protocol(), any::<u16>(), any::<u16>(), any::<u32>()).prop_map(
            |(protocol, internal, suggested, lifetime)| {
                natpmp::Request::map(protocol, internal, suggested, lifetime)
            }
        ),
    ]
}

fn natpmp_response() -> impl Strategy<Value = natpmp::Response> {
    let full = (
        any::<u16>(),
        any::<u32>(),
        prop_oneof![
            any::<[u8; 4]>().prop_map(|octets| natpmp::ResponseBody::ExternalAddress {
                external_address: Ipv4Addr::from(octets),
            }),
            (protocol(), any::<u16>(), any::<u16>(), any::<u32>()).prop_map(
                |(protocol, internal_port, external_port, lifetime)| {
                    natpmp::ResponseBody::Map(natpmp::MapResponse {
                        protocol,
                        internal_port,
                        external_port,
                        lifetime,
                    })
                }
            ),
        ],
    )
        .prop_map(|(result, epoch, body)| natpmp::Response {
            result: natpmp::ResultCode::from_u16(result),
            epoch,
            body,
        });
    // Header-only replies carry an error and opcode 0 or 128..=255.
    let header_only = (
        1..=u16::MAX,
        any::<u32>(),
        prop_oneof![Just(0u8), 128..=u8::MAX],
    )
        .prop_map(|(result, epoch, opcode)| natpmp::Response {
            result: natpmp::ResultCode::from_u16(result),
            epoch,
            body: natpmp::ResponseBody::HeaderOnly { opcode },
        });
    prop_oneof![3 => full, 1 => header_only]
}

/// Addresses in the form decoding yields (IPv4-mapped IPv6 becomes IPv4).
fn address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| pcp::canonical(IpAddr::V6(Ipv6Addr::from(o)))),
        Just(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        Just(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
    ]
}

fn ip_protocol() -> impl Strategy<Value = IpProtocol> {
    any::<u8>().prop_map(IpProtocol::from_u8)
}

fn map_data() -> impl Strategy<Value = MapData> {
    (
        any::<[u8; 12]>(),
        ip_protocol(),
        any::<u16>(),
        any::<u16>(),
        address(),
    )
        .prop_map(
            |(nonce, protocol, internal_port, external_port, external_address)| MapData {
                nonce: Nonce(nonce),
                protocol,
                internal_port,
                external_port,
                external_address,
            },
        )
}

fn peer_data() -> impl Strategy<Value = PeerData> {
    (map_data(), any::<u16>(), address()).prop_map(|(map, remote_peer_port, remote)| PeerData {
        nonce: map.nonce,
        protocol: map.protocol,
        internal_port: map.internal_port,
        external_port: map.external_port,
        external_address: map.external_address,
        remote_peer_port,
        remote_peer_address: remote,
    })
}

fn option() -> impl Strategy<Value = PcpOption> {
    prop_oneof![
        address().prop_map(|internal_address| PcpOption::ThirdParty { internal_address }),
        Just(PcpOption::PreferFailure),
        (any::<u8>(), any::<u16>(), address()).prop_map(|(prefix_length, port, address)| {
            PcpOption::Filter {
                prefix_length,
                remote_peer_port: port,
                remote_peer_address: address,
            }
        }),
        (
            any::<u8>().prop_filter("known codes", |code| !(1..=3).contains(code)),
            vec(any::<u8>(), 0..40),
        )
            .prop_map(|(code, data)| PcpOption::Unknown { code, data }),
    ]
}

fn opcode_data() -> impl Strategy<Value = OpcodeData> {
    prop_oneof![
        Just(OpcodeData::Announce),
        map_data().prop_map(OpcodeData::Map),
        peer_data().prop_map(OpcodeData::Peer),
    ]
}

fn pcp_request() -> impl Strategy<Value = pcp::Request> {
    (any::<u32>(), address(), opcode_data(), vec(option(), 0..5)).prop_map(
        |(lifetime, client_address, data, options)| pcp::Request {
            lifetime,
            client_address,
            data,
            options,
        },
    )
}

fn pcp_response() -> impl Strategy<Value = pcp::Response> {
    let full = (
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
        opcode_data(),
        vec(option(), 0..5),
    )
        .prop_map(|(result, lifetime, epoch, data, options)| pcp::Response {
            result: pcp::ResultCode::from_u8(result),
            lifetime,
            epoch,
            data: data.into(),
            options,
        });
    let header_only = (
        1..=u8::MAX,
        any::<u32>(),
        any::<u32>(),
        prop_oneof![Just(pcp::Opcode::Map), Just(pcp::Opcode::Peer)],
    )
        .prop_map(|(result, lifetime, epoch, opcode)| pcp::Response {
            result: pcp::ResultCode::from_u8(result),
            lifetime,
            epoch,
            data: ResponseData::HeaderOnly(opcode),
            options: vec![],
        });
    prop_oneof![3 => full, 1 => header_only]
}

/// Decode → encode → decode; both decoded values must agree. Returns whether the bytes
/// decoded at all.
fn natpmp_stable(bytes: &[u8]) -> bool {
    let mut decoded = false;
    if let Ok(request) = natpmp::Request::decode(bytes) {
        assert_eq!(natpmp::Request::decode(&request.encode()), Ok(request));
        decoded = true;
    }
    if let Ok(response) = natpmp::Response::decode(bytes) {
        assert_eq!(natpmp::Response::decode(&response.encode()), Ok(response));
        decoded = true;
    }
    decoded
}

fn pcp_stable(bytes: &[u8]) -> bool {
    let mut decoded = false;
    if let Ok(request) = pcp::Request::decode(bytes) {
        let again = request.encode().expect("a decoded request fits 1100 bytes");
        assert_eq!(pcp::Request::decode(&again), Ok(request));
        decoded = true;
    }
    if let Ok(response) = pcp::Response::decode(bytes) {
        let again = response
            .encode()
            .expect("a decoded response fits 1100 bytes");
        assert_eq!(pcp::Response::decode(&again), Ok(response));
        decoded = true;
    }
    decoded
}

proptest! {
    #[test]
    fn natpmp_request_round_trips(request in natpmp_request()) {
        prop_assert_eq!(natpmp::Request::decode(&request.encode()), Ok(request));
    }

    #[test]
    fn natpmp_response_round_trips(response in natpmp_response()) {
        let bytes = response.encode();
        prop_assert_eq!(natpmp::Response::decode(&bytes), Ok(response));
        prop_assert_eq!(decode_any(&bytes), Ok(AnyResponse::NatPmp(response)));
    }

    #[test]
    fn pcp_request_round_trips(request in pcp_request()) {
        let bytes = request.encode().unwrap();
        prop_assert!(bytes.len() % 4 == 0 && bytes.len() <= pcp::MAX_MESSAGE_LEN);
        prop_assert_eq!(pcp::Request::decode(&bytes), Ok(request));
    }

    #[test]
    fn pcp_response_round_trips(response in pcp_response()) {
        let bytes = response.encode().unwrap();
        prop_assert!(bytes.len() % 4 == 0 && bytes.len() <= pcp::MAX_MESSAGE_LEN);
        prop_assert_eq!(decode_any(&bytes), Ok(AnyResponse::Pcp(response.clone())));
        prop_assert_eq!(pcp::Response::decode(&bytes), Ok(response));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..128)) {
        natpmp_stable(&bytes);
        pcp_stable(&bytes);
        let _ = decode_any(&bytes);
    }

    #[test]
    fn mutated_natpmp_messages_are_stable(
        response in natpmp_response(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..3),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = response.encode();
        for (index, value) in flips {
            let i = index.index(bytes.len());
            bytes[i] = value;
        }
        natpmp_stable(&bytes);
        natpmp_stable(&bytes[..cut.index(bytes.len() + 1)]);
    }

    #[test]
    fn mutated_pcp_messages_are_stable(
        request in pcp_request(),
        response in pcp_response(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        for mut bytes in [request.encode().unwrap(), response.encode().unwrap()] {
            for &(index, value) in &flips {
                let i = index.index(bytes.len());
                bytes[i] = value;
            }
            pcp_stable(&bytes);
        }
    }
}
