//! Fuzz target: the SCPD parser on arbitrary bytes, then the argument check of each action.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(scpd) = upnp_soap::Scpd::parse(data) {
        for action in &scpd.actions {
            let arguments: Vec<(&str, &str)> = action.inputs().map(|a| (a.name.as_str(), "1")).collect();
            let _ = scpd.check_arguments("urn:fuzz:service:x:1", &action.name, &arguments);
        }
    }
});
