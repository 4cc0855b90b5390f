//! Fuzz target: the BSD routing table dump parser must never panic, with any layout.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| netinfo::fuzz_route_dump(data));
