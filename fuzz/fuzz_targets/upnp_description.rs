//! Fuzz target: the UPnP device description parser on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(location) = upnp_soap::parse_url("http://192.168.1.1:5000/rootDesc.xml") {
        if let Ok(description) = upnp_soap::Description::parse(data, &location) {
            // Walking the tree must terminate and stay consistent.
            assert!(description.devices().count() >= 1);
            let _ = description.services().count();
        }
    }
});
