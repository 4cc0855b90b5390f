//! Codec tests: requests as bytes, responses through encode and decode, and the ways a
//! datagram is refused.

use super::*;
use crate::ChangeRequest;

fn id() -> TransactionId {
    TransactionId([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
}

#[test]
fn plain_request_is_a_bare_header() {
    let bytes = BindingRequest::new(id()).encode();
    assert_eq!(
        bytes,
        [
            0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
        ]
    );
    assert_eq!(incoming_request_id(&bytes), Some(id()));
    assert_eq!(frame_length(&bytes), Ok(Some(20)));
}

#[test]
fn change_request_is_carried() {
    let bytes = BindingRequest::new(id())
        .with_change(ChangeRequest::IP_AND_PORT)
        .encode();
    assert_eq!(bytes.len(), 28);
    assert_eq!(bytes[20..], [0x00, 0x03, 0x00, 0x04, 0, 0, 0, 0x06]);
}

#[test]
fn success_round_trips_with_rfc5780_attributes() {
    for (mapped, other) in [
        ("44.0.0.1:40000", "44.0.0.3:3479"),
        ("[2001:db8::1]:40000", "[2001:db8::3]:3479"),
    ] {
        let success = BindingSuccess {
            transaction_id: id(),
            mapped: mapped.parse().expect("address"),
            other_address: Some(other.parse().expect("address")),
            response_origin: Some(other.parse().expect("address")),
        };
        let bytes = BindingResponse::Success(success).encode();
        assert_eq!(
            BindingResponse::decode(&bytes),
            Ok(BindingResponse::Success(success))
        );
    }
}

#[test]
fn xor_mapped_address_is_unmasked() {
    // XOR-MAPPED-ADDRESS of 192.0.2.1:32853 (RFC 5769 §2.2): port ^ 0x2112, address ^
    // the magic cookie.
    let mut bytes = vec![
        0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];
    bytes.extend_from_slice(&[
        0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    ]);
    let Ok(BindingResponse::Success(s)) = BindingResponse::decode(&bytes) else {
        panic!("not decoded");
    };
    assert_eq!(s.mapped, "192.0.2.1:32853".parse().expect("address"));
    assert_eq!(s.other_address, None);
}

#[test]
fn error_response_gives_its_code() {
    let bytes = BindingResponse::Error {
        transaction_id: id(),
        code: 420,
    }
    .encode();
    assert_eq!(
        BindingResponse::decode(&bytes),
        Ok(BindingResponse::Error {
            transaction_id: id(),
            code: 420
        })
    );
}

#[test]
fn error_response_without_a_code_round_trips_as_zero() {
    // Found by the stun_decode fuzz target: a Binding error response with no attributes.
    let mut bytes = vec![0x01, 0x11, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    bytes.extend_from_slice(&[0, 0, 0xd1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0]);
    let decoded = BindingResponse::decode(&bytes).expect("an error response");
    assert!(matches!(decoded, BindingResponse::Error { code: 0, .. }));
    assert_eq!(BindingResponse::decode(&decoded.encode()), Ok(decoded));
}

#[test]
fn refusals_name_the_problem() {
    assert_eq!(
        BindingResponse::decode(&[0; 10]),
        Err(DecodeError::TooShort {
            len: 10,
            needed: 20
        })
    );
    let mut no_cookie = BindingRequest::new(id()).encode();
    no_cookie[4] = 0;
    assert_eq!(
        BindingResponse::decode(&no_cookie),
        Err(DecodeError::NotStun)
    );
    let request = BindingRequest::new(id()).encode();
    assert_eq!(
        BindingResponse::decode(&request),
        Err(DecodeError::NotBindingResponse {
            message_type: 0x0001
        })
    );
    let mut truncated = BindingResponse::Error {
        transaction_id: id(),
        code: 420,
    }
    .encode();
    truncated.truncate(24);
    assert!(matches!(
        BindingResponse::decode(&truncated),
        Err(DecodeError::TooShort { .. })
    ));
    // A success response without any address.
    let mut empty = request.clone();
    empty[0] = 0x01;
    empty[1] = 0x01;
    assert_eq!(
        BindingResponse::decode(&empty),
        Err(DecodeError::NoMappedAddress)
    );
    // OTHER-ADDRESS with an unknown family.
    let mut bad = BindingResponse::Success(BindingSuccess {
        transaction_id: id(),
        mapped: "44.0.0.1:1".parse().expect("address"),
        other_address: Some("44.0.0.3:3479".parse().expect("address")),
        response_origin: None,
    })
    .encode();
    let at = bad.len() - 7;
    bad[at] = 9;
    assert_eq!(
        BindingResponse::decode(&bad),
        Err(DecodeError::Attribute {
            attribute: "OTHER-ADDRESS"
        })
    );
}

proptest::proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let _ = BindingResponse::decode(&bytes);
        let _ = incoming_request_id(&bytes);
        let _ = frame_length(&bytes);
    }

    #[test]
    fn decode_never_panics_behind_a_valid_header(
        kind in 0u8..4,
        body in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
    ) {
        let mut bytes = vec![kind & 1, 0x01 | ((kind & 2) << 3), 0, 0, 0x21, 0x12, 0xa4, 0x42];
        bytes.extend_from_slice(&[0; 12]);
        let len = body.len() - body.len() % 4;
        bytes[3] = len as u8;
        bytes.extend_from_slice(&body[..len]);
        let _ = BindingResponse::decode(&bytes);
    }
}
