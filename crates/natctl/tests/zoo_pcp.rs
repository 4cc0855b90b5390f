//! natctl end to end against the PCP zoo (`natlab::pcp_zoo`): PCP servers that answer the
//! way real ones other than miniupnpd do, on the lab router's UDP 5351, no miniupnpd
//! running. Each command as a user types it; what natctl prints and its exit status are
//! checked against what the server answered.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::process::Output;
use std::time::{Duration, Instant};

use natlab::pcp_zoo::{PcpBehaviour, PcpZooLab, code};

/// natctl on the zoo's LAN host, its cache in the lab's own directory.
fn natctl(zoo: &PcpZooLab, args: &[&str]) -> Output {
    zoo.lan()
        .command(env!("CARGO_BIN_EXE_natctl"))
        .args(args)
        .env("XDG_CACHE_HOME", zoo.dir().join("cache"))
        .output()
        .expect("natctl runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn log(zoo: &PcpZooLab) -> String {
    zoo.fixture().log().join("\n")
}

/// A server refusing every MAP with `result`, putting the lab's external address in the
/// refusal: no command prints that address or succeeds, and each names the code in words.
fn refusals_are_refusals(result: u8, name: &str, meaning: &str) {
    let Some(zoo) = PcpZooLab::for_test(PcpBehaviour::RefuseMaps(result), false) else {
        return;
    };
    let external = zoo.external_address().to_string();
    let words = format!("{name} ({result}): {meaning}");

    let asked = natctl(
        &zoo,
        &["-4", "--timeout", "5", "external-ip", "--via", "pcp"],
    );
    assert_eq!(asked.status.code(), Some(1), "{asked:?}\n{}", log(&zoo));
    assert!(asked.stdout.is_empty(), "an address was printed: {asked:?}");
    assert!(!text(&asked).contains(&external), "{asked:?}");
    assert!(text(&asked).contains(&words), "{asked:?}");

    let probe = natctl(&zoo, &["-4", "--json", "--timeout", "5", "probe"]);
    let report: serde_json::Value = serde_json::from_slice(&probe.stdout)
        .unwrap_or_else(|e| panic!("{e}: {probe:?}\n{}", log(&zoo)));
    let pcp = report["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["technique"] == "pcp")
        .unwrap_or_else(|| panic!("no PCP row: {report}"))
        .clone();
    assert_eq!(pcp["available"], false, "{report}");
    assert_eq!(pcp["external_ip"], serde_json::Value::Null, "{report}");
    assert!(
        pcp["error"].as_str().unwrap_or("").contains(&words),
        "{report}"
    );
    assert_ne!(report["selected"], "pcp", "{report}");
    assert!(!report.to_string().contains(&external), "{report}");

    let mapped = natctl(
        &zoo,
        &["-4", "--timeout", "5", "map", "tcp", "4300", "--via", "pcp"],
    );
    assert_eq!(mapped.status.code(), Some(1), "{mapped:?}");
    assert!(!text(&mapped).contains(&external), "{mapped:?}");
    assert!(text(&mapped).contains(&words), "{mapped:?}");

    let unmapped = natctl(
        &zoo,
        &[
            "-4",
            "--timeout",
            "5",
            "unmap",
            "tcp",
            "4300",
            "--via",
            "pcp",
        ],
    );
    assert_eq!(
        unmapped.status.code(),
        Some(1),
        "refused, not 3: {unmapped:?}"
    );
    assert!(text(&unmapped).contains(&words), "{unmapped:?}");
}

#[test]
fn natctl_reports_a_pcp_network_failure_with_an_address_as_a_refusal() {
    refusals_are_refusals(
        code::NETWORK_FAILURE,
        "NETWORK_FAILURE",
        "the server or the device it controls has a network failure",
    );
}

#[test]
fn natctl_reports_a_pcp_cannot_provide_external_with_an_address_as_a_refusal() {
    refusals_are_refusals(
        code::CANNOT_PROVIDE_EXTERNAL,
        "CANNOT_PROVIDE_EXTERNAL",
        "the suggested external port or address cannot be provided",
    );
}

#[test]
fn natctl_reports_pcp_not_authorized_as_a_refusal() {
    refusals_are_refusals(
        code::NOT_AUTHORIZED,
        "NOT_AUTHORIZED",
        "the operation is disabled for this client",
    );
}

#[test]
fn natctl_names_a_pcp_version_1_server_at_once() {
    let Some(zoo) = PcpZooLab::for_test(PcpBehaviour::Version1Only, false) else {
        return;
    };
    for args in [
        &["-4", "--timeout", "5", "external-ip", "--via", "pcp"][..],
        &["-4", "--timeout", "5", "map", "udp", "4301", "--via", "pcp"],
    ] {
        let started = Instant::now();
        let output = natctl(&zoo, args);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "{args:?} took {took:?}");
        // Exit 3, "no technique available": the one technique asked for cannot be spoken
        // with this gateway, as with a closed port (docs/CLI.md).
        assert_eq!(
            output.status.code(),
            Some(3),
            "{args:?}: {output:?}\n{}",
            log(&zoo)
        );
        assert!(
            text(&output).contains("speaks PCP version 1 only; natkit speaks version 2"),
            "{args:?}: {output:?}"
        );
        assert!(output.stdout.is_empty(), "{output:?}");
    }
    // One request each: the answer ended the exchange, nothing was retransmitted.
    assert_eq!(zoo.fixture().log().len(), 2, "{}", log(&zoo));
}

#[test]
fn natctl_unmap_via_pcp_reports_each_deletion_answer_as_it_is() {
    let Some(zoo) = PcpZooLab::for_test(PcpBehaviour::Deletions(code::SUCCESS), false) else {
        return;
    };
    // SUCCESS: accepted, but RFC 6887 §15 answers the same whether or not there was one.
    let output = natctl(
        &zoo,
        &["-4", "--json", "unmap", "udp", "4302", "--via", "pcp"],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}\n{}", log(&zoo));
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("cannot_tell"), "{report}");
    assert!(!report.contains("\"removed\": true"), "{report}");
    drop(zoo);

    // miniupnpd's "nothing to remove" is any other server's refusal.
    let Some(zoo) = PcpZooLab::for_test(PcpBehaviour::Deletions(code::NO_RESOURCES), false) else {
        return;
    };
    let output = natctl(&zoo, &["-4", "unmap", "udp", "4302", "--via", "pcp"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}\n{}", log(&zoo));
    assert!(text(&output).contains("NO_RESOURCES (8)"), "{output:?}");
}

#[test]
fn natctl_map_6_via_pmp_is_a_usage_error_and_sends_nothing() {
    let Some(zoo) = PcpZooLab::for_test(PcpBehaviour::Deletions(code::SUCCESS), true) else {
        return;
    };
    let output = natctl(&zoo, &["-6", "map", "tcp", "4303", "--via", "pmp"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    // A request sent after it: once the fixture logged it, it has logged anything natctl
    // sent before it, and that must be nothing.
    let marker = natctl(&zoo, &["-4", "unmap", "udp", "4303", "--via", "pcp"]);
    assert_eq!(marker.status.code(), Some(0), "{marker:?}\n{}", log(&zoo));
    let lines = zoo.fixture().log();
    assert_eq!(lines.len(), 1, "map -6 --via pmp sent something: {lines:?}");
    assert!(lines[0].contains("version 2"), "{lines:?}");
}
