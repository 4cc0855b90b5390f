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

/// The answers of WANIPv6FirewallControl: a SOAP response parsed as each action's answer,
/// then each out argument's parser; whatever parses, written back in a response envelope in
/// its canonical form, parses to the same value.
pub fn upnp_pinhole(data: &[u8]) {
    use upnp_soap::pinhole;
    use upnp_soap::soap::{Reply, parse_response};

    fn answer(action: &str, arguments: &[(&str, String)]) -> upnp_soap::Arguments {
        let values: String = arguments
            .iter()
            .map(|(n, v)| format!("<{n}>{v}</{n}>"))
            .collect::<Vec<_>>()
            .concat();
        let body = format!(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
             <u:{action}Response xmlns:u=\"{}\">{values}</u:{action}Response></s:Body></s:Envelope>",
            pinhole::SERVICE_TYPE
        );
        match parse_response(body.as_bytes(), action) {
            Ok(Reply::Success(arguments)) => arguments,
            other => panic!("a canonical {action} answer does not parse: {other:?}"),
        }
    }

    let reply = |action: &str| match parse_response(data, action) {
        Ok(Reply::Success(arguments)) => Some(arguments),
        _ => None,
    };
    if let Some(status) =
        reply("GetFirewallStatus").and_then(|r| pinhole::parse_firewall_status(&r).ok())
    {
        let again = answer(
            "GetFirewallStatus",
            &[
                (
                    "FirewallEnabled",
                    u8::from(status.firewall_enabled).to_string(),
                ),
                (
                    "InboundPinholeAllowed",
                    u8::from(status.inbound_pinhole_allowed).to_string(),
                ),
            ],
        );
        assert_eq!(pinhole::parse_firewall_status(&again), Ok(status));
    }
    if let Some(id) = reply("AddPinhole").and_then(|r| pinhole::parse_unique_id(&r).ok()) {
        let again = answer("AddPinhole", &[("UniqueID", id.to_string())]);
        assert_eq!(pinhole::parse_unique_id(&again), Ok(id));
    }
    if let Some(timeout) = reply("GetOutboundPinholeTimeout")
        .and_then(|r| pinhole::parse_outbound_pinhole_timeout(&r).ok())
    {
        let again = answer(
            "GetOutboundPinholeTimeout",
            &[("OutboundPinholeTimeout", timeout.as_secs().to_string())],
        );
        assert_eq!(pinhole::parse_outbound_pinhole_timeout(&again), Ok(timeout));
    }
    if let Some(packets) =
        reply("GetPinholePackets").and_then(|r| pinhole::parse_pinhole_packets(&r).ok())
    {
        let again = answer(
            "GetPinholePackets",
            &[("PinholePackets", packets.to_string())],
        );
        assert_eq!(pinhole::parse_pinhole_packets(&again), Ok(packets));
    }
    if let Some(working) =
        reply("CheckPinholeWorking").and_then(|r| pinhole::parse_is_working(&r).ok())
    {
        let again = answer(
            "CheckPinholeWorking",
            &[("IsWorking", u8::from(working).to_string())],
        );
        assert_eq!(pinhole::parse_is_working(&again), Ok(working));
    }
}

/// STUN (natkit-stun): a decoded Binding response re-encodes to bytes that decode to the
/// same value; a request ID and a TCP frame length are read without panicking; a discovery
/// fed the bytes as a datagram from its server neither panics nor ends early.
pub fn stun_decode(data: &[u8]) {
    if let Ok(response) = stun::BindingResponse::decode(data) {
        let again = stun::BindingResponse::decode(&response.encode());
        assert_eq!(again, Ok(response), "STUN response unstable: {data:?}");
    }
    let _ = stun::incoming_request_id(data);
    if let Ok(Some(len)) = stun::frame_length(data) {
        assert!(len <= stun::MAX_MESSAGE_LEN, "frame past the bound: {data:?}");
    }
    let server = std::net::SocketAddr::from(([44, 0, 0, 2], 3478));
    let now = std::time::Instant::now();
    let mut discovery = stun::Discovery::new(server, stun::DiscoveryConfig::default(), now);
    while discovery.poll_transmit(now).is_some() {}
    let _ = discovery.handle_datagram(stun::Socket::Main, server, data, now);
    let _ = discovery.handle_datagram(stun::Socket::Filtering, server, data, now);
    assert!(!discovery.is_done(), "a stranger's datagram ended the discovery: {data:?}");
}
