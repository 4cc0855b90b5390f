//! NAT-PMP decode → encode → decode (see `natkit_fuzz::natpmp_decode`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| natkit_fuzz::natpmp_decode(data));
