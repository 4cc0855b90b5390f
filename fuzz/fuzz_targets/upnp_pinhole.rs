//! Fuzz target: the WANIPv6FirewallControl answer parsers on arbitrary SOAP responses.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| natkit_fuzz::upnp_pinhole(data));
