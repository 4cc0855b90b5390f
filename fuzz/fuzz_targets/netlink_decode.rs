//! Fuzz target: the NETLINK_ROUTE answer decoder must never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| netinfo::fuzz_netlink_decode(data));
