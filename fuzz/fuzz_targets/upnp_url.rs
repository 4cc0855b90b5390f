//! Fuzz target: upnp-soap's router-URL policy over `url` (parsing and reference
//! resolution) never panics, and the normal form it produces parses back to the same URL.

#![no_main]

use libfuzzer_sys::fuzz_target;
use upnp_soap::{join_url, parse_url};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(url) = parse_url(text) {
        let again = parse_url(url.as_str()).expect("a normal form parses");
        assert_eq!(again, url);
    }
    if let Ok(base) = parse_url("http://192.168.1.1:5000/upnp/rootDesc.xml?x=1") {
        if let Ok(joined) = join_url(&base, text) {
            let again = parse_url(joined.as_str()).expect("a resolved url parses");
            assert_eq!(again, joined);
        }
    }
});
