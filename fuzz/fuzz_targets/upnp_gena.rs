//! GENA `NOTIFY` heads and property sets (see `natkit_fuzz::upnp_gena`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| natkit_fuzz::upnp_gena(data));
