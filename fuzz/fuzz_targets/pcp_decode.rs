//! PCP decode → encode → decode (see `natkit_fuzz::pcp_decode`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| natkit_fuzz::pcp_decode(data));
