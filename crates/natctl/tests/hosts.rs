//! Lab tests of natctl on hosts with more than one path: `probe` names the path it took and
//! the ones it did not, and a full-tunnel VPN makes `map` fail with a message that names the
//! tunnel and the router it would have used.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::process::Output;

use natlab::{Host, Lab, LabConfig, VpnMode};

/// natctl on `host`, its UPnP cache kept apart per lab.
fn natctl(host: &Host, args: &[&str]) -> Output {
    let cache = std::env::temp_dir().join(format!("natctl-cache-{}", host.netns()));
    host.command(env!("CARGO_BIN_EXE_natctl"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .output()
        .expect("natctl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

#[test]
fn probe_shows_the_path_taken_and_the_uplink_passed_over() {
    let Some(lab) = Lab::for_test(LabConfig::default().with_second_uplink()) else {
        return;
    };
    let probe = natctl(lab.lan(), &["-4", "probe"]);
    assert!(probe.status.success(), "{probe:?}");
    let out = text(&probe.stdout);
    assert!(
        out.lines()
            .any(|l| l == "path: eth0: 192.168.77.10 via gateway 192.168.77.1"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with(
            "not taken: eth1: 192.168.78.10 via gateway 192.168.78.1 (its default route's metric 600"
        )),
        "{out}"
    );

    let probe = natctl(lab.lan(), &["-4", "--json", "probe"]);
    assert!(probe.status.success(), "{probe:?}");
    let json: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    assert_eq!(json["path"]["interface"], "eth0", "{json}");
    assert_eq!(json["path"]["local_address"], "192.168.77.10");
    assert_eq!(json["path"]["gateway"], "192.168.77.1");
    assert_eq!(json["passed_over"][0]["interface"], "eth1", "{json}");
    assert_eq!(json["passed_over"][0]["gateway"], "192.168.78.1");
    assert_eq!(json["gateway"], "192.168.77.1");

    // With the first uplink down, the second one is the path.
    lab.set_uplink(1, false).unwrap();
    let probe = natctl(lab.lan(), &["-4", "--json", "probe"]);
    assert!(probe.status.success(), "{probe:?}");
    let json: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    assert_eq!(json["path"]["interface"], "eth1", "{json}");
    assert_eq!(json["path"]["gateway"], "192.168.78.1");
    assert_eq!(json["techniques"][0]["external_ip"], "45.0.0.1", "{json}");
}

#[test]
fn map_behind_a_full_tunnel_vpn_exits_1_naming_the_tunnel_and_the_router() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    lab.vpn_up(VpnMode::FullTunnel).unwrap();
    let mapped = natctl(lab.lan(), &["map", "tcp", "4400"]);
    assert_eq!(mapped.status.code(), Some(1), "{mapped:?}");
    let message = text(&mapped.stderr);
    assert!(
        message.contains(natlab::VPN_INTERFACE)
            && message.contains("192.168.77.1")
            && message.contains("--interface eth0"),
        "{message}"
    );
    assert!(lab.redirections().unwrap().is_empty());

    let probe = natctl(lab.lan(), &["-4", "probe"]);
    assert_eq!(probe.status.code(), Some(1), "{probe:?}");
    let out = text(&probe.stdout);
    assert!(
        out.lines().any(|l| l.starts_with("not taken: eth0: 192.168.77.10 via gateway 192.168.77.1 (internet traffic leaves through tun0")),
        "{out}"
    );
    let probe = natctl(lab.lan(), &["-4", "--json", "probe"]);
    let json: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    assert!(json["path"].is_null(), "{json}");
    assert_eq!(json["passed_over"][0]["interface"], "eth0", "{json}");
    assert!(json["error"].as_str().unwrap().contains("tun0"), "{json}");

    // Asked for explicitly, the LAN router's path is used.
    let forced = natctl(lab.lan(), &["--interface", "eth0", "map", "tcp", "4401"]);
    assert!(forced.status.success(), "{forced:?}");
    assert_eq!(lab.redirections().unwrap().len(), 1);
    let removed = natctl(lab.lan(), &["--interface", "eth0", "unmap", "tcp", "4401"]);
    assert!(removed.status.success(), "{removed:?}");
    assert!(lab.redirections().unwrap().is_empty());
}
