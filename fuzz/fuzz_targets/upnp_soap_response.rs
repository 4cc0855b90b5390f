//! Fuzz target: the SOAP response parser and the IGD port listing parser on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = upnp_soap::soap::parse_response(data, "GetExternalIPAddress");
    let _ = upnp_soap::igd::parse_port_listing(data);
});
