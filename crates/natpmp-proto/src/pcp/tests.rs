//! Byte-vector tests of the PCP codec, assembled by hand from the packet figures of
//! RFC 6887 §7.1–§7.3, §11.1, §12.1 and §13, and from what miniupnpd 2.3 sends.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

const NONCE: Nonce = Nonce([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 77, 10));
const EXTERNAL: IpAddr = IpAddr::V4(Ipv4Addr::new(44, 0, 0, 1));
const CLIENT_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10));

/// `::ffff:a.b.c.d`
fn mapped(a: u8, b: u8, c: u8, d: u8) -> Vec<u8> {
    vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d]
}

/// 2001:db8::10
fn v6_client() -> Vec<u8> {
    vec![
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ]
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn map_udp_5000() -> MapData {
    MapData {
        nonce: NONCE,
        protocol: IpProtocol::Udp,
        internal_port: 5000,
        external_port: 5000,
        external_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

/// §7.1 + §11.1: MAP request, UDP 5000, suggesting external port 5000, any address.
fn map_request_bytes() -> Vec<u8> {
    cat(&[
        &[2, 0x01, 0, 0],          // version 2, R=0 + opcode 1 (MAP), reserved
        &[0, 0, 0x1c, 0x20],       // requested lifetime 7200 s
        &mapped(192, 168, 77, 10), // PCP client's IP address
        &NONCE.0,                  // mapping nonce
        &[17, 0, 0, 0],            // protocol 17 (UDP), reserved
        &[0x13, 0x88, 0x13, 0x88], // internal port 5000, suggested external port 5000
        &mapped(0, 0, 0, 0),       // suggested external address: IPv4, no preference
    ])
}

fn request_vectors() -> Vec<(Request, Vec<u8>)> {
    let peer = PeerData {
        nonce: NONCE,
        protocol: IpProtocol::Tcp,
        internal_port: 40000,
        external_port: 0,
        external_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        remote_peer_port: 443,
        remote_peer_address: IpAddr::V4(Ipv4Addr::new(44, 0, 0, 2)),
    };
    vec![
        (
            Request::map(CLIENT, map_udp_5000(), 7200),
            map_request_bytes(),
        ),
        // §13.2: the same with PREFER_FAILURE.
        (
            Request::map(CLIENT, map_udp_5000(), 7200).with_option(PcpOption::PreferFailure),
            cat(&[
                &map_request_bytes(),
                &[2, 0, 0, 0], // option 2 (PREFER_FAILURE), reserved, length 0
            ]),
        ),
        // §13.1 and §13.3: THIRD_PARTY, then FILTER.
        (
            Request::map(CLIENT, map_udp_5000(), 7200)
                .with_option(PcpOption::ThirdParty {
                    internal_address: IpAddr::V4(Ipv4Addr::new(192, 168, 77, 20)),
                })
                .with_option(PcpOption::Filter {
                    prefix_length: 128,
                    remote_peer_port: 80,
                    remote_peer_address: IpAddr::V4(Ipv4Addr::new(44, 0, 0, 2)),
                }),
            cat(&[
                &map_request_bytes(),
                &[1, 0, 0, 16], // option 1 (THIRD_PARTY), reserved, length 16
                &mapped(192, 168, 77, 20), // internal IP address
                &[3, 0, 0, 20], // option 3 (FILTER), reserved, length 20
                &[0, 128, 0, 80], // reserved, prefix length 128, remote peer port 80
                &mapped(44, 0, 0, 2), // remote peer IP address
            ]),
        ),
        // §7.3: an unknown optional option (code 200) with 3 data bytes and 1 padding byte,
        // and an unknown mandatory one (code 99) with no data.
        (
            Request::map(CLIENT, map_udp_5000(), 7200)
                .with_option(PcpOption::Unknown {
                    code: 200,
                    data: vec![0xaa, 0xbb, 0xcc],
                })
                .with_option(PcpOption::Unknown {
                    code: 99,
                    data: vec![],
                }),
            cat(&[
                &map_request_bytes(),
                &[200, 0, 0, 3],        // option 200, reserved, length 3
                &[0xaa, 0xbb, 0xcc, 0], // data and one padding byte
                &[99, 0, 0, 0],         // option 99, reserved, length 0
            ]),
        ),
        // §7.1 + §12.1: PEER request, TCP 40000 to 44.0.0.2:443.
        (
            Request::peer(CLIENT, peer, 600),
            cat(&[
                &[2, 0x02, 0, 0],          // version 2, opcode 2 (PEER), reserved
                &[0, 0, 0x02, 0x58],       // requested lifetime 600 s
                &mapped(192, 168, 77, 10), // PCP client's IP address
                &NONCE.0,                  // mapping nonce
                &[6, 0, 0, 0],             // protocol 6 (TCP), reserved
                &[0x9c, 0x40, 0, 0],       // internal port 40000, suggested external port 0
                &mapped(0, 0, 0, 0),       // suggested external address
                &[0x01, 0xbb, 0, 0],       // remote peer port 443, reserved
                &mapped(44, 0, 0, 2),      // remote peer address
            ]),
        ),
        // §14.1: ANNOUNCE from an IPv6 client: header only.
        (
            Request::announce(CLIENT_V6),
            cat(&[
                &[2, 0x00, 0, 0], // version 2, opcode 0 (ANNOUNCE), reserved
                &[0, 0, 0, 0],    // requested lifetime 0
                &v6_client(),     // PCP client's IP address, native IPv6
            ]),
        ),
        // §11.1 + §15: delete all mappings of this client: protocol 0, port 0, lifetime 0.
        (
            Request::map(
                CLIENT,
                MapData {
                    nonce: NONCE,
                    protocol: IpProtocol::All,
                    internal_port: 0,
                    external_port: 0,
                    external_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                },
                0,
            ),
            cat(&[
                &[2, 1, 0, 0, 0, 0, 0, 0],
                &mapped(192, 168, 77, 10),
                &NONCE.0,
                &[0, 0, 0, 0], // protocol 0: all
                &[0, 0, 0, 0], // internal port 0, external port 0
                &mapped(0, 0, 0, 0),
            ]),
        ),
    ]
}

fn response_vectors() -> Vec<(Response, Vec<u8>)> {
    let granted = MapData {
        external_port: 5001,
        external_address: EXTERNAL,
        ..map_udp_5000()
    };
    vec![
        // §7.2 + §11.1: MAP success, external 44.0.0.1:5001.
        (
            Response {
                result: ResultCode::Success,
                lifetime: 7200,
                epoch: 3600,
                data: ResponseData::Map(granted),
                options: vec![],
            },
            cat(&[
                &[2, 0x81, 0, 0],          // version 2, R=1 + opcode 1, reserved, result 0
                &[0, 0, 0x1c, 0x20],       // lifetime 7200 s
                &[0, 0, 0x0e, 0x10],       // epoch time 3600
                &[0; 12],                  // reserved
                &NONCE.0,                  // mapping nonce
                &[17, 0, 0, 0],            // protocol 17, reserved
                &[0x13, 0x88, 0x13, 0x89], // internal port 5000, assigned external port 5001
                &mapped(44, 0, 0, 1),      // assigned external IP address
            ]),
        ),
        // miniupnpd's error response: the request echoed with result 8 (NO_RESOURCES),
        // lifetime 30 and the PREFER_FAILURE option.
        (
            Response {
                result: ResultCode::NoResources,
                lifetime: 30,
                epoch: 5,
                data: ResponseData::Map(map_udp_5000()),
                options: vec![PcpOption::PreferFailure],
            },
            cat(&[
                &[2, 0x81, 0, 8], // version 2, MAP response, reserved, result 8
                &[0, 0, 0, 30],   // lifetime 30 s: how long the error holds
                &[0, 0, 0, 5],    // epoch time 5
                &[0; 12],
                &NONCE.0,
                &[17, 0, 0, 0],
                &[0x13, 0x88, 0x13, 0x88],
                &mapped(0, 0, 0, 0),
                &[2, 0, 0, 0], // PREFER_FAILURE echoed
            ]),
        ),
        // §9: a PCP server's UNSUPP_VERSION answer to a request it could not parse (e.g. a
        // NAT-PMP mapping request): header only.
        (
            Response {
                result: ResultCode::UnsupportedVersion,
                lifetime: 0,
                epoch: 99,
                data: ResponseData::HeaderOnly(Opcode::Map),
                options: vec![],
            },
            cat(&[
                &[2, 0x81, 0, 1], // highest version 2, MAP response, result 1
                &[0, 0, 0, 0],    // lifetime 0
                &[0, 0, 0, 99],   // epoch time 99
                &[0; 12],
            ]),
        ),
        // §14.1.1: the server's unsolicited ANNOUNCE after a restart.
        (
            Response {
                result: ResultCode::Success,
                lifetime: 0,
                epoch: 0,
                data: ResponseData::Announce,
                options: vec![],
            },
            cat(&[&[2, 0x80, 0, 0], &[0; 4], &[0; 4], &[0; 12]]),
        ),
        // An unknown result code is kept.
        (
            Response {
                result: ResultCode::Unknown(200),
                lifetime: 0,
                epoch: 1,
                data: ResponseData::Announce,
                options: vec![],
            },
            cat(&[&[2, 0x80, 0, 200], &[0; 4], &[0, 0, 0, 1], &[0; 12]]),
        ),
    ]
}

#[test]
fn requests_encode_and_decode() {
    for (request, bytes) in request_vectors() {
        assert_eq!(
            request.encode().as_ref(),
            Ok(&bytes),
            "encoding {request:?}"
        );
        assert_eq!(Request::decode(&bytes), Ok(request), "decoding {bytes:?}");
    }
}

#[test]
fn responses_encode_and_decode() {
    for (response, bytes) in response_vectors() {
        assert_eq!(
            response.encode().as_ref(),
            Ok(&bytes),
            "encoding {response:?}"
        );
        assert_eq!(Response::decode(&bytes), Ok(response), "decoding {bytes:?}");
    }
}

#[test]
fn unknown_mandatory_options_are_reported() {
    let (with_unknown, _) = request_vectors().swap_remove(3);
    assert_eq!(with_unknown.unknown_mandatory_option(), Some(99));
    assert!(with_unknown.has_unknown_mandatory_option());
    let (plain, _) = request_vectors().swap_remove(1);
    assert_eq!(plain.unknown_mandatory_option(), None);
    assert!(is_mandatory_code(0) && is_mandatory_code(127));
    assert!(!is_mandatory_code(128) && !is_mandatory_code(255));

    let optional_only = Response {
        result: ResultCode::Success,
        lifetime: 0,
        epoch: 0,
        data: ResponseData::Announce,
        options: vec![PcpOption::Unknown {
            code: 128,
            data: vec![1],
        }],
    };
    assert!(!optional_only.has_unknown_mandatory_option());
}

#[test]
fn reserved_fields_and_padding_content_are_ignored() {
    let mut bytes = map_request_bytes();
    bytes[2] = 0xff; // header reserved
    bytes[3] = 0xee;
    bytes[24 + 13] = 0x55; // MAP reserved after protocol
    bytes.extend_from_slice(&[200, 0x77, 0, 1, 0xaa, 9, 9, 9]); // option reserved, padding
    let request = Request::decode(&bytes).unwrap();
    assert_eq!(request.data, OpcodeData::Map(map_udp_5000()));
    assert_eq!(
        request.options,
        vec![PcpOption::Unknown {
            code: 200,
            data: vec![0xaa]
        }]
    );
}

#[test]
fn addresses_map_between_ipv4_and_ipv4_mapped_ipv6() {
    let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(address_to_wire(v4).to_vec(), mapped(192, 0, 2, 1));
    assert_eq!(address_from_wire(address_to_wire(v4)), v4);
    assert_eq!(address_from_wire(address_to_wire(CLIENT_V6)), CLIENT_V6);
    // An IPv4-mapped IPv6 address in the API comes back as IPv4.
    let as_v6 = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
    assert_eq!(canonical(as_v6), v4);
    // The two "no preference" addresses stay apart.
    assert_eq!(
        address_from_wire([0; 16]),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    );
    assert_eq!(
        address_from_wire(address_to_wire(unspecified_like(v4))),
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    );
}

#[test]
fn request_decode_errors_name_the_field() {
    let long = cat(&[&map_request_bytes(), &vec![0u8; 1044]]);
    assert_eq!(long.len(), 1104);
    let mut r_bit = map_request_bytes();
    r_bit[1] |= 0x80;
    let mut opcode_3 = map_request_bytes();
    opcode_3[1] = 3;
    let option_past_end = cat(&[&map_request_bytes(), &[200, 0, 0, 5, 1, 2, 3, 4]]);
    let third_party_short = cat(&[&map_request_bytes(), &[1, 0, 0, 4, 1, 2, 3, 4]]);
    let prefer_failure_data = cat(&[&map_request_bytes(), &[2, 0, 0, 4, 1, 2, 3, 4]]);
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (
            vec![],
            DecodeError::TooShort {
                what: "PCP request header",
                needed: 24,
                got: 0,
            },
        ),
        (
            vec![0, 0],
            DecodeError::UnsupportedVersion {
                version: 0,
                expected: 2,
            },
        ),
        (
            map_request_bytes()[..20].to_vec(),
            DecodeError::TooShort {
                what: "PCP request header",
                needed: 24,
                got: 20,
            },
        ),
        (
            map_request_bytes()[..26].to_vec(),
            DecodeError::Malformed {
                field: "length",
                offset: 26,
                reason: "not a multiple of 4 bytes",
            },
        ),
        (
            long,
            DecodeError::Malformed {
                field: "length",
                offset: 1100,
                reason: "longer than 1100 bytes",
            },
        ),
        (
            r_bit,
            DecodeError::Malformed {
                field: "R bit",
                offset: 1,
                reason: "response bit set in a request",
            },
        ),
        (opcode_3, DecodeError::UnknownOpcode { opcode: 3 }),
        (
            map_request_bytes()[..24].to_vec(),
            DecodeError::TooShort {
                what: "PCP MAP opcode data",
                needed: 60,
                got: 24,
            },
        ),
        (
            option_past_end,
            DecodeError::Malformed {
                field: "option length",
                offset: 62,
                reason: "option data runs past the end of the message",
            },
        ),
        (
            third_party_short,
            DecodeError::Malformed {
                field: "THIRD_PARTY length",
                offset: 62,
                reason: "must be 16",
            },
        ),
        (
            prefer_failure_data,
            DecodeError::Malformed {
                field: "PREFER_FAILURE length",
                offset: 62,
                reason: "must be 0",
            },
        ),
    ];
    for (bytes, error) in cases {
        assert_eq!(Request::decode(&bytes), Err(error), "decoding {bytes:?}");
    }
}

#[test]
fn response_decode_errors_name_the_field() {
    let request = map_request_bytes();
    let mut success_header_only = cat(&[&[2, 0x81, 0, 0], &[0; 20]]);
    assert_eq!(
        Response::decode(&success_header_only),
        Err(DecodeError::TooShort {
            what: "PCP MAP opcode data",
            needed: 60,
            got: 24,
        })
    );
    // Error responses may omit the data, but not cut it short.
    success_header_only[3] = 8;
    success_header_only.extend_from_slice(&[0; 8]);
    assert_eq!(
        Response::decode(&success_header_only),
        Err(DecodeError::TooShort {
            what: "PCP MAP opcode data",
            needed: 60,
            got: 32,
        })
    );
    assert_eq!(
        Response::decode(&request),
        Err(DecodeError::Malformed {
            field: "R bit",
            offset: 1,
            reason: "response bit clear in a response",
        })
    );
}

#[test]
fn encode_refuses_messages_over_1100_bytes() {
    let request = Request::map(CLIENT, map_udp_5000(), 7200).with_option(PcpOption::Unknown {
        code: 200,
        data: vec![0; 1100 - 60 - 4],
    });
    assert_eq!(request.encode().map(|bytes| bytes.len()), Ok(1100));
    let request = request.with_option(PcpOption::PreferFailure);
    assert_eq!(
        request.encode(),
        Err(EncodeError::MessageTooLong {
            length: 1104,
            limit: 1100,
        })
    );
    let huge = Request::announce(CLIENT).with_option(PcpOption::Unknown {
        code: 200,
        data: vec![0; 70_000],
    });
    assert!(matches!(
        huge.encode(),
        Err(EncodeError::MessageTooLong { .. })
    ));
}

#[test]
fn answering_copies_the_request() {
    let request = Request::map(CLIENT, map_udp_5000(), 7200).with_option(PcpOption::PreferFailure);
    let response = Response::answering(&request, ResultCode::CannotProvideExternal, 0, 3);
    assert_eq!(response.map(), Some(&map_udp_5000()));
    assert_eq!(response.options, request.options);
    assert_eq!(response.nonce(), Some(NONCE));
    assert_eq!(
        response.result.to_string(),
        "CANNOT_PROVIDE_EXTERNAL (11): the suggested external port or address cannot be provided"
    );
}

/// An error answer to a MAP request that, like some CGN servers, fills in an external
/// address and port anyway: NETWORK_FAILURE, lifetime 30 s, epoch 9.
fn error_answer_with_address() -> Vec<u8> {
    cat(&[
        &[2, 0x81, 0, 7],          // version 2, R + MAP, reserved, NETWORK_FAILURE
        &[0, 0, 0, 30],            // lifetime 30 s: how long the error will last
        &[0, 0, 0, 9],             // epoch 9
        &[0; 12],                  // reserved
        &NONCE.0,                  // mapping nonce, echoed
        &[17, 0, 0, 0],            // UDP
        &[0x13, 0x88, 0x13, 0x88], // internal port 5000, "external" port 5000
        &mapped(44, 0, 0, 1),      // an address that is no answer
    ])
}

#[test]
fn an_error_answer_grants_nothing_and_its_lifetime_is_a_retry_hint() {
    let response = Response::decode(&error_answer_with_address()).expect("decodes");
    assert_eq!(response.result, ResultCode::NetworkFailure);
    // The fields are there as sent, but nothing is granted.
    assert_eq!(response.map().map(|m| m.external_address), Some(EXTERNAL));
    assert_eq!(response.granted_map(), None);
    assert_eq!(
        response.retry_after(),
        Some(std::time::Duration::from_secs(30))
    );
    // A success grants its data, and its lifetime is the mapping's, not a hint.
    let mut success = error_answer_with_address();
    success[3] = 0;
    let success = Response::decode(&success).expect("decodes");
    assert_eq!(
        success.granted_map().map(|m| m.external_address),
        Some(EXTERNAL)
    );
    assert_eq!(success.retry_after(), None);
    // An error with lifetime 0 gives no hint.
    let mut no_hint = error_answer_with_address();
    no_hint[7] = 0;
    assert_eq!(
        Response::decode(&no_hint).expect("decodes").retry_after(),
        None
    );
}

#[test]
fn every_defined_error_is_long_or_short_lifetime_as_rfc_6887_says() {
    let long = [1, 2, 3, 4, 5, 6, 9, 12, 13];
    let short = [7, 8, 10, 11];
    for code in 0..=u8::MAX {
        let result = ResultCode::from_u8(code);
        assert_eq!(
            result.is_long_lifetime_error(),
            long.contains(&code),
            "{result}"
        );
        assert_eq!(
            result.is_short_lifetime_error(),
            short.contains(&code),
            "{result}"
        );
        assert!(
            result
                .to_string()
                .starts_with(&format!("{} ({code}): ", result.name()))
        );
    }
    assert_eq!(
        ResultCode::NoResources.to_string(),
        "NO_RESOURCES (8): the server has insufficient resources to complete the operation at this time"
    );
}

#[test]
fn result_codes_and_protocols_round_trip() {
    for code in 0..=u8::MAX {
        let result = ResultCode::from_u8(code);
        assert_eq!(result.to_u8(), code);
        assert_eq!(matches!(result, ResultCode::Unknown(_)), code > 13);
        let protocol = IpProtocol::from_u8(code);
        assert_eq!(protocol.to_u8(), code);
    }
    assert_eq!(IpProtocol::from(Protocol::Udp), IpProtocol::Udp);
    assert_eq!(IpProtocol::Tcp.transport(), Some(Protocol::Tcp));
    assert_eq!(IpProtocol::All.transport(), None);
}
