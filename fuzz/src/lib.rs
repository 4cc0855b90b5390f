//! Properties the fuzz targets check, one function per target so each target stays a
//! one-line wrapper (`fuzz_targets/*.rs`).
//!
//! The property of a decoder: decoding never panics, and whatever decodes re-encodes to
//! bytes that decode to the same value (decode → encode → decode, as hickory-dns does).

use natpmp_proto::{natpmp, pcp};

/// NAT-PMP requests and responses: decode → encode → decode must agree.
pub fn natpmp_decode(data: &[u8]) {
    if let Ok(request) = natpmp::Request::decode(data) {
        let again = natpmp::Request::decode(&request.encode());
        assert_eq!(again, Ok(request), "NAT-PMP request unstable: {data:?}");
    }
    if let Ok(response) = natpmp::Response::decode(data) {
        let again = natpmp::Response::decode(&response.encode());
        assert_eq!(again, Ok(response), "NAT-PMP response unstable: {data:?}");
    }
}

/// PCP requests and responses, and `decode_any`: decode → encode → decode must agree, and a
/// decoded message must re-encode within PCP's 1100-byte limit.
pub fn pcp_decode(data: &[u8]) {
    if let Ok(request) = pcp::Request::decode(data) {
        let bytes = request
            .encode()
            .unwrap_or_else(|e| panic!("decoded PCP request does not encode: {e}: {data:?}"));
        assert_eq!(
            pcp::Request::decode(&bytes),
            Ok(request),
            "PCP request unstable: {data:?}"
        );
    }
    if let Ok(response) = pcp::Response::decode(data) {
        let bytes = response
            .encode()
            .unwrap_or_else(|e| panic!("decoded PCP response does not encode: {e}: {data:?}"));
        assert_eq!(
            pcp::Response::decode(&bytes),
            Ok(response),
            "PCP response unstable: {data:?}"
        );
    }
    if let Ok(any) = natpmp_proto::decode_any(data) {
        let bytes = any
            .encode()
            .unwrap_or_else(|e| panic!("decoded response does not encode: {e}: {data:?}"));
        assert_eq!(
            natpmp_proto::decode_any(&bytes),
            Ok(any),
            "decode_any unstable: {data:?}"
        );
    }
}

/// GENA event notifications: a `NOTIFY` head and a property set parse or fail, never panic,
/// and what parses stays within the bounds.
pub fn upnp_gena(data: &[u8]) {
    if let Ok(head) = upnp_soap::gena::parse_notify_head(data) {
        assert!(!head.sid.is_empty() && head.sid.len() <= 256, "{data:?}");
    }
    if let Ok(properties) = upnp_soap::gena::parse_property_set(data) {
        assert!(properties.len() <= upnp_soap::gena::MAX_PROPERTIES);
    }
}
