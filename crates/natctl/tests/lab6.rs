//! Lab tests of natctl's IPv6 side (`-6`) in natlab's dual-stack lab, against the real
//! miniupnpd: pinholes through PCP and UPnP proven from the WAN host's IPv6 address,
//! removed by `unmap`, both families in `external-ip`, and a kept pinhole restored after a
//! router restart.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::process::Output;
use std::time::Duration;

use natlab::wait::{poll, wait_until};
use natlab::{Host, Lab, LabConfig};

/// natctl on `host`, its cache directory (the UPnP cache, the pinhole record) kept apart per
/// lab.
fn natctl(host: &Host, args: &[&str]) -> Output {
    host.command(env!("CARGO_BIN_EXE_natctl"))
        .arg("--no-cache")
        .args(args)
        .env("XDG_CACHE_HOME", cache_dir(host))
        .output()
        .expect("natctl runs")
}

fn cache_dir(host: &Host) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("natctl-cache-{}", host.netns()))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

#[test]
fn natctl_opens_ipv6_pinholes_via_pcp_and_upnp_and_unmap_closes_them() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    let lan6 = lab.lan().address_v6().unwrap();
    for (via, port) in [("pcp", "8080"), ("upnp", "8081")] {
        let mapped = natctl(lab.lan(), &["map", "tcp", port, "-6", "--via", via]);
        assert!(
            mapped.status.success(),
            "{via}: {}\n{}",
            stderr(&mapped),
            lab.miniupnpd_log()
        );
        let text = stdout(&mapped);
        assert!(
            text.starts_with(&format!("[{lan6}]:{port} -> ")),
            "{via}: {text}"
        );
        let listed = natctl(lab.lan(), &["list", "-6"]);
        assert!(
            stdout(&listed).contains(&format!("[{lan6}]:{port}")),
            "{via}: {}",
            stdout(&listed)
        );
        let port: u16 = port.parse().unwrap();
        assert!(
            lab.tcp_reaches_v6(lab.lan(), port).unwrap(),
            "{via}: {text}"
        );
        assert!(
            !lab.udp_reaches_v6(lab.lan(), port).unwrap(),
            "{via}: udp is not opened"
        );
        let unmapped = natctl(
            lab.lan(),
            &["unmap", "tcp", &port.to_string(), "-6", "--via", via],
        );
        assert!(unmapped.status.success(), "{via}: {}", stderr(&unmapped));
        // UPnP deletes the pinhole by its recorded id and its answer says so; PCP's SUCCESS
        // is the same whether or not there was one, and natctl says that.
        let said = stdout(&unmapped);
        assert!(
            said.starts_with("removed") || (via == "pcp" && said.contains("does not say")),
            "{via}: {said}"
        );
        assert!(
            !lab.tcp_reaches_v6(lab.lan(), port).unwrap(),
            "{via}: still open after unmap"
        );
        let listed = natctl(lab.lan(), &["--json", "list", "-6"]);
        let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
        assert_eq!(rows, serde_json::json!([]), "{via}: forgotten after unmap");
    }
    // Without -6, unmap removes the pinhole too (and says so on its IPv6 line).
    let mapped = natctl(lab.lan(), &["map", "udp", "8082", "-6"]);
    assert!(mapped.status.success(), "{}", stderr(&mapped));
    assert!(lab.udp_reaches_v6(lab.lan(), 8082).unwrap());
    let unmapped = natctl(lab.lan(), &["--json", "unmap", "udp", "8082"]);
    assert!(unmapped.status.success(), "{}", stderr(&unmapped));
    let json: serde_json::Value = serde_json::from_slice(&unmapped.stdout).unwrap();
    // The pinhole was made through PCP, whose SUCCESS cannot tell: the IPv6 line says what
    // was done, without claiming a removal.
    let pcp = json["ipv6"]["techniques"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["technique"] == "pcp"))
        .cloned();
    assert!(
        json["ipv6"]["removed"] == true || pcp.is_some_and(|t| t["outcome"] == "cannot_tell"),
        "{json}"
    );
    assert!(!lab.udp_reaches_v6(lab.lan(), 8082).unwrap());
    assert!(lab.pinholes().unwrap().is_empty());
}

#[test]
fn natctl_external_ip_shows_both_families() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    let lan6 = lab.lan().address_v6().unwrap().to_string();
    let both = natctl(lab.lan(), &["external-ip"]);
    assert!(both.status.success(), "{}", stderr(&both));
    let text = stdout(&both);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], lab.external_address().to_string());
    assert_eq!(lines[1], format!("{lan6} (IPv6)"));
    let json = natctl(lab.lan(), &["--json", "external-ip"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["external_ip"], lab.external_address().to_string());
    assert_eq!(json["ipv6"]["external_ip"], lan6, "{json}");
    let only6 = natctl(lab.lan(), &["external-ip", "-6"]);
    assert_eq!(stdout(&only6), lan6);
    let only4 = natctl(lab.lan(), &["-4", "external-ip"]);
    assert_eq!(stdout(&only4), lab.external_address().to_string());
    let probe = natctl(lab.lan(), &["probe"]);
    assert!(probe.status.success(), "{}", stderr(&probe));
    assert!(
        stdout(&probe).contains("IPv6 pinholes:"),
        "{}",
        stdout(&probe)
    );
}

#[test]
fn natctl_keep_restores_a_pinhole_after_a_router_restart() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    let mut child = lab
        .lan()
        .command(env!("CARGO_BIN_EXE_natctl"))
        .args(["--no-cache", "map", "tcp", "8083", "-6", "--keep"])
        .env("XDG_CACHE_HOME", cache_dir(lab.lan()))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(lab.dir().join("keep6.log")).unwrap())
        .spawn()
        .unwrap();
    wait_until(
        "the pinhole in the router's firewall",
        Duration::from_secs(5),
        || !lab.pinholes().unwrap().is_empty(),
    );
    assert!(lab.tcp_reaches_v6(lab.lan(), 8083).unwrap());
    // A deliberate passage of time, not a wait for an event: miniupnpd's epoch and boot id
    // count whole seconds, so a restart within the first second would look like no restart.
    std::thread::sleep(Duration::from_millis(1100));
    lab.reboot_router().unwrap();
    let restored = poll(Duration::from_secs(2), || {
        (!lab.pinholes().unwrap().is_empty()).then_some(())
    });
    assert!(
        restored.is_some(),
        "not restored within 2 s:\n{}\n{}",
        lab.miniupnpd_log(),
        std::fs::read_to_string(lab.dir().join("keep6.log")).unwrap_or_default()
    );
    assert!(lab.tcp_reaches_v6(lab.lan(), 8083).unwrap());
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());
    assert!(lab.pinholes().unwrap().is_empty());
}

/// `-6` is honoured by `discover` and the `upnp` commands: the search goes over IPv6, the
/// IGD's description and its actions are asked at the router's IPv6 address.
#[test]
fn natctl_upnp_commands_talk_to_the_igd_over_ipv6_with_dash_6() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    let services = natctl(lab.lan(), &["-6", "--json", "upnp", "services"]);
    assert!(services.status.success(), "{}", stderr(&services));
    let rows: serde_json::Value = serde_json::from_slice(&services.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let control = row["control_url"].as_str().unwrap();
        assert!(control.starts_with("http://["), "{control} is not on ipv6");
    }
    for service in [
        "WANIPv6FirewallControl",
        "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1",
    ] {
        let called = natctl(
            lab.lan(),
            &["-6", "--json", "upnp", "call", service, "GetFirewallStatus"],
        );
        assert!(called.status.success(), "{service}: {}", stderr(&called));
        assert!(
            stdout(&called).contains("FirewallEnabled"),
            "{}",
            stdout(&called)
        );
    }
    let found = natctl(lab.lan(), &["-6", "--json", "discover", "--scan-time", "1"]);
    assert!(found.status.success(), "{}", stderr(&found));
    let lines = stdout(&found);
    assert!(!lines.is_empty());
    for line in lines.lines() {
        assert!(
            line.contains("\"source\":\"["),
            "{line} is not an ipv6 responder"
        );
    }
}
