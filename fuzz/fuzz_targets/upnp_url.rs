//! Fuzz target: upnp-soap's URL parser and reference resolution never panic, and the normal
//! form they produce parses back to the same URL.

#![no_main]

use libfuzzer_sys::fuzz_target;
use upnp_soap::Url;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(url) = Url::parse(text) {
        let again = Url::parse(url.as_str()).expect("a normal form parses");
        assert_eq!(again, url);
    }
    if let Ok(base) = Url::parse("http://192.168.1.1:5000/upnp/rootDesc.xml?x=1") {
        if let Ok(joined) = base.join(text) {
            let again = Url::parse(joined.as_str()).expect("a resolved url parses");
            assert_eq!(again, joined);
        }
    }
});
