//! Byte-vector tests of the NAT-PMP codec, assembled by hand from the packet figures of
//! RFC 6886 §3.2–§3.5 and from what miniupnpd 2.3 sends.

use std::net::Ipv4Addr;

use super::*;

/// (value, bytes) pairs that must encode to the bytes and decode back to the value.
fn request_vectors() -> Vec<(Request, Vec<u8>)> {
    vec![
        // §3.2: external address request.
        (
            Request::ExternalAddress,
            vec![
                0, // version
                0, // opcode 0
            ],
        ),
        // §3.3: map UDP 5000 -> suggested 5000 for 7200 s.
        (
            Request::map(Protocol::Udp, 5000, 5000, 7200),
            vec![
                0, 1, // version, opcode 1 (UDP)
                0, 0, // reserved
                0x13, 0x88, // internal port 5000
                0x13, 0x88, // suggested external port 5000
                0, 0, 0x1c, 0x20, // requested lifetime 7200 s
            ],
        ),
        // §3.3: map TCP 8080, any external port, one hour.
        (
            Request::map(Protocol::Tcp, 8080, 0, 3600),
            vec![
                0, 2, // version, opcode 2 (TCP)
                0, 0, // reserved
                0x1f, 0x90, // internal port 8080
                0, 0, // suggested external port 0: gateway's choice
                0, 0, 0x0e, 0x10, // requested lifetime 3600 s
            ],
        ),
        // §3.4: delete the TCP mapping of port 8080.
        (
            Request::unmap(Protocol::Tcp, 8080),
            vec![
                0, 2, // version, opcode 2
                0, 0, // reserved
                0x1f, 0x90, // internal port 8080
                0, 0, // suggested external port: must be 0
                0, 0, 0, 0, // lifetime 0: delete
            ],
        ),
        // §3.4: delete all UDP mappings of this client.
        (
            Request::unmap_all(Protocol::Udp),
            vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]
}

fn response_vectors() -> Vec<(Response, Vec<u8>)> {
    vec![
        // §3.2: external address response.
        (
            Response::new_external_address(3600, Ipv4Addr::new(44, 0, 0, 1)),
            vec![
                0, 128, // version, opcode 128 + 0
                0, 0, // result code 0: success
                0, 0, 0x0e, 0x10, // seconds since start of epoch: 3600
                44, 0, 0, 1, // external IPv4 address
            ],
        ),
        // §3.3: UDP mapping granted on another external port, shorter lifetime.
        (
            Response::new_mapping(
                77,
                MapResponse {
                    protocol: Protocol::Udp,
                    internal_port: 5000,
                    external_port: 5001,
                    lifetime: 3600,
                },
            ),
            vec![
                0, 129, // version, opcode 128 + 1
                0, 0, // success
                0, 0, 0, 77, // epoch 77
                0x13, 0x88, // internal port 5000
                0x13, 0x89, // mapped external port 5001
                0, 0, 0x0e, 0x10, // lifetime 3600 s
            ],
        ),
        // §3.5: a failed TCP mapping: internal port kept, external port and lifetime 0.
        (
            Response::error(
                &Request::map(Protocol::Tcp, 22, 22, 7200),
                ResultCode::NotAuthorized,
                12,
            ),
            vec![
                0, 130, // version, opcode 128 + 2
                0, 2, // result code 2: not authorized/refused
                0, 0, 0, 12, // epoch 12
                0, 22, // internal port 22
                0, 0, // external port 0
                0, 0, 0, 0, // lifetime 0
            ],
        ),
        // §3.5: failed external address request: address 0.0.0.0.
        (
            Response::error(&Request::ExternalAddress, ResultCode::NetworkFailure, 1),
            vec![0, 128, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0],
        ),
        // §3.5: the RFC's "Unsupported Version" reply, opcode 0, header only.
        (
            Response::unsupported_version(9),
            vec![
                0, 0, // version 0, opcode 0
                0, 1, // result code 1: unsupported version
                0, 0, 0, 9, // epoch 9
            ],
        ),
        // miniupnpd's answer to a PCP MAP request: opcode 128 + 1, header only.
        (
            Response {
                result: ResultCode::UnsupportedVersion,
                epoch: 300,
                body: ResponseBody::HeaderOnly { opcode: 129 },
            },
            vec![0, 129, 0, 1, 0, 0, 0x01, 0x2c],
        ),
        // miniupnpd's answer to opcode 3: unsupported opcode, header only.
        (
            Response {
                result: ResultCode::UnsupportedOpcode,
                epoch: 5,
                body: ResponseBody::HeaderOnly { opcode: 131 },
            },
            vec![0, 131, 0, 5, 0, 0, 0, 5],
        ),
        // A result code RFC 6886 does not define is kept.
        (
            Response {
                result: ResultCode::Unknown(0x0100),
                epoch: 0,
                body: ResponseBody::ExternalAddress {
                    external_address: Ipv4Addr::UNSPECIFIED,
                },
            },
            vec![0, 128, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]
}

#[test]
fn requests_encode_and_decode() {
    for (request, bytes) in request_vectors() {
        assert_eq!(request.encode(), bytes, "encoding {request:?}");
        assert_eq!(Request::decode(&bytes), Ok(request), "decoding {bytes:?}");
    }
}

#[test]
fn responses_encode_and_decode() {
    for (response, bytes) in response_vectors() {
        assert_eq!(response.encode(), bytes, "encoding {response:?}");
        assert_eq!(Response::decode(&bytes), Ok(response), "decoding {bytes:?}");
    }
}

#[test]
fn reserved_field_is_ignored() {
    let bytes = [0, 1, 0xab, 0xcd, 0x13, 0x88, 0, 0, 0, 0, 0x1c, 0x20];
    assert_eq!(
        Request::decode(&bytes),
        Ok(Request::map(Protocol::Udp, 5000, 0, 7200))
    );
}

#[test]
fn result_codes_round_trip_and_keep_unknown_values() {
    for code in 0..=u16::MAX {
        let result = ResultCode::from_u16(code);
        assert_eq!(result.to_u16(), code);
        assert_eq!(matches!(result, ResultCode::Unknown(_)), code > 5);
    }
    assert_eq!(
        ResultCode::OutOfResources.to_string(),
        "out of resources (4)"
    );
    assert_eq!(ResultCode::Unknown(77).to_string(), "unknown (77)");
}

#[test]
fn request_decode_errors_name_the_field() {
    let cases: Vec<(&[u8], DecodeError)> = vec![
        (
            &[],
            DecodeError::TooShort {
                what: "NAT-PMP request header",
                needed: 1,
                got: 0,
            },
        ),
        (
            &[0],
            DecodeError::TooShort {
                what: "NAT-PMP request header",
                needed: 2,
                got: 1,
            },
        ),
        (
            &[2, 1, 0, 0],
            DecodeError::UnsupportedVersion {
                version: 2,
                expected: 0,
            },
        ),
        (
            &[0, 128],
            DecodeError::Malformed {
                field: "opcode",
                offset: 1,
                reason: "response opcode in a request",
            },
        ),
        (&[0, 3], DecodeError::UnknownOpcode { opcode: 3 }),
        (
            &[0, 0, 0],
            DecodeError::Malformed {
                field: "length",
                offset: 2,
                reason: "trailing bytes after the request",
            },
        ),
        (
            &[0, 1, 0, 0, 0x13, 0x88, 0, 0, 0, 0, 0x1c],
            DecodeError::TooShort {
                what: "NAT-PMP mapping request",
                needed: 12,
                got: 11,
            },
        ),
        (
            &[0, 2, 0, 0, 0x13, 0x88, 0, 0, 0, 0, 0x1c, 0x20, 0],
            DecodeError::Malformed {
                field: "length",
                offset: 12,
                reason: "trailing bytes after the request",
            },
        ),
    ];
    for (bytes, error) in cases {
        assert_eq!(Request::decode(bytes), Err(error), "decoding {bytes:?}");
    }
}

#[test]
fn response_decode_errors_name_the_field() {
    let cases: Vec<(&[u8], DecodeError)> = vec![
        (
            &[0, 128, 0],
            DecodeError::TooShort {
                what: "NAT-PMP response header",
                needed: 4,
                got: 3,
            },
        ),
        (
            &[2, 129, 0, 1],
            DecodeError::UnsupportedVersion {
                version: 2,
                expected: 0,
            },
        ),
        // A success cannot be header-only.
        (
            &[0, 128, 0, 0, 0, 0, 0, 1],
            DecodeError::TooShort {
                what: "NAT-PMP external address response",
                needed: 12,
                got: 8,
            },
        ),
        (
            &[0, 129, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1],
            DecodeError::TooShort {
                what: "NAT-PMP mapping response",
                needed: 16,
                got: 12,
            },
        ),
        (
            &[0, 0, 0, 0, 0, 0, 0, 1],
            DecodeError::Malformed {
                field: "result code",
                offset: 2,
                reason: "an 8-byte reply with opcode 0 must carry an error",
            },
        ),
        // A request is not a response.
        (
            &[0, 1, 0, 0, 0x13, 0x88, 0, 0, 0, 0, 0x1c, 0x20],
            DecodeError::Malformed {
                field: "opcode",
                offset: 1,
                reason: "request opcode in a response",
            },
        ),
        (
            &[0, 128, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5],
            DecodeError::Malformed {
                field: "length",
                offset: 12,
                reason: "trailing bytes after the response",
            },
        ),
        (
            &[0, 135, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4],
            DecodeError::UnknownOpcode { opcode: 7 },
        ),
    ];
    for (bytes, error) in cases {
        assert_eq!(Response::decode(bytes), Err(error), "decoding {bytes:?}");
    }
}

#[test]
fn error_messages_are_lowercase_and_name_the_field() {
    let error = Response::decode(&[0, 128, 0, 0, 0, 0, 0, 1]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "NAT-PMP external address response too short: needed 12 bytes, got 8"
    );
    let error = Request::decode(&[0, 0, 0]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "malformed length at offset 2: trailing bytes after the request"
    );
}

#[test]
fn accessors() {
    let response = Response::new_external_address(1, Ipv4Addr::new(44, 0, 0, 1));
    assert_eq!(
        response.external_address(),
        Some(Ipv4Addr::new(44, 0, 0, 1))
    );
    assert_eq!(response.mapping(), None);
    assert_eq!(response.opcode(), 128);
    assert_eq!(Request::map(Protocol::Tcp, 1, 1, 1).opcode(), 2);
}
