//! Fuzz target: the SSDP parsers must never panic on any datagram.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ssdp::parse_response(data);
    let _ = ssdp::parse_notify(data);
});
