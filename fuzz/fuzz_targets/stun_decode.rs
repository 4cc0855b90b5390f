//! STUN Binding response decode → encode → decode, and a discovery fed the bytes (see
//! `natkit_fuzz::stun_decode`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| natkit_fuzz::stun_decode(data));
