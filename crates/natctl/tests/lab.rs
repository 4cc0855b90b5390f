//! Lab tests of natctl's network commands, run on a LAN host behind the real router.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::process::Output;
use std::time::{Duration, Instant};

use natlab::{Host, Lab, LabConfig};

fn natctl(host: &Host, args: &[&str]) -> Output {
    host.command(env!("CARGO_BIN_EXE_natctl"))
        .args(args)
        .output()
        .expect("natctl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn gateway_local_ip_and_interfaces_on_a_lan_host() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let gateway = natctl(lab.lan(), &["gateway"]);
    assert!(gateway.status.success(), "{gateway:?}");
    assert_eq!(stdout(&gateway), "192.168.77.1");

    let local = natctl(lab.lan(), &["local-ip"]);
    assert!(local.status.success(), "{local:?}");
    assert_eq!(stdout(&local), "192.168.77.10");

    let interfaces = natctl(lab.lan(), &["--json", "interfaces"]);
    assert!(interfaces.status.success(), "{interfaces:?}");
    let json: serde_json::Value = serde_json::from_slice(&interfaces.stdout).expect("valid JSON");
    let eth0 = json
        .as_array()
        .expect("a list")
        .iter()
        .find(|i| i["name"] == "eth0")
        .expect("eth0 is listed");
    assert!(
        eth0["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["address"] == "192.168.77.10" && a["prefix_len"] == 24),
        "{eth0}"
    );

    let json_gateway = natctl(lab.lan(), &["--json", "gateway"]);
    let json: serde_json::Value = serde_json::from_slice(&json_gateway.stdout).unwrap();
    assert_eq!(json["gateway"], "192.168.77.1");

    // NATCTL_LOG turns diagnostics on; a filter that does not parse is one clear line.
    let logged = lab
        .lan()
        .command(env!("CARGO_BIN_EXE_natctl"))
        .args(["external-ip", "--via", "pmp"])
        .env("NATCTL_LOG", "natpmp_proto=trace,info")
        .output()
        .unwrap();
    assert!(logged.status.success(), "{logged:?}");
    assert!(
        String::from_utf8_lossy(&logged.stderr).contains("TRACE"),
        "{logged:?}"
    );
    let bad = lab
        .lan()
        .command(env!("CARGO_BIN_EXE_natctl"))
        .arg("gateway")
        .env("NATCTL_LOG", "natpmp_proto=loud")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let message = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("NATCTL_LOG"), "{message}");
}

#[test]
fn gateway_fails_fast_without_a_default_route() {
    let config = LabConfig {
        lan_default_route: false,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test(config) else {
        return;
    };
    let started = Instant::now();
    let output = natctl(lab.lan(), &["gateway"]);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no default gateway found"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    // local-ip still answers with the best interface address.
    let local = natctl(lab.lan(), &["local-ip"]);
    assert!(local.status.success(), "{local:?}");
    assert_eq!(stdout(&local), "192.168.77.10");
}

#[test]
fn natctl_maps_and_unmaps_via_pmp_and_pcp() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    for (via, port) in [("pmp", 4300u16), ("pcp", 4310u16)] {
        let external_ip = natctl(lab.lan(), &["external-ip", "--via", via]);
        assert!(external_ip.status.success(), "{external_ip:?}");
        assert_eq!(stdout(&external_ip), "44.0.0.1");

        let port_text = port.to_string();
        let mapped = natctl(
            lab.lan(),
            &[
                "--json",
                "map",
                "tcp",
                &port_text,
                "--lifetime",
                "600",
                "--via",
                via,
            ],
        );
        assert!(mapped.status.success(), "{mapped:?}");
        let json: serde_json::Value = serde_json::from_slice(&mapped.stdout).unwrap();
        assert_eq!(json["public"], format!("44.0.0.1:{port}"));
        assert_eq!(json["lifetime_secs"], 600);
        assert!(
            lab.tcp_reaches(lab.lan(), port, lab.external_socket(port))
                .unwrap()
        );

        let udp = natctl(lab.lan(), &["map", "udp", &port_text, "--via", via]);
        assert!(udp.status.success(), "{udp:?}");
        assert!(stdout(&udp).starts_with(&format!("44.0.0.1:{port} -> 192.168.77.10:{port}")));
        assert!(
            lab.udp_reaches(lab.lan(), port, lab.external_socket(port))
                .unwrap()
        );

        // unmap from another process: PCP needs natctl's derived nonce for this.
        let unmapped = natctl(lab.lan(), &["unmap", "tcp", &port_text, "--via", via]);
        assert!(unmapped.status.success(), "{unmapped:?}");
        let unmapped = natctl(lab.lan(), &["unmap", "udp", &port_text, "--via", via]);
        assert!(unmapped.status.success(), "{unmapped:?}");
        assert!(lab.redirections().unwrap().is_empty(), "{via}");
        assert!(
            !lab.tcp_reaches(lab.lan(), port, lab.external_socket(port))
                .unwrap()
        );
    }
    // unmap-all via NAT-PMP removes every NAT-PMP mapping of the host.
    for port in ["4400", "4401"] {
        assert!(
            natctl(lab.lan(), &["map", "udp", port, "--via", "pmp"])
                .status
                .success()
        );
    }
    let all = natctl(lab.lan(), &["unmap-all", "udp", "--via", "pmp"]);
    assert!(all.status.success(), "{all:?}");
    assert!(lab.redirections().unwrap().is_empty());
}

#[test]
fn natctl_reports_a_router_without_nat_pmp_in_one_line() {
    let config = LabConfig {
        natpmp: false,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test(config) else {
        return;
    };
    let started = Instant::now();
    let output = natctl(lab.lan(), &["external-ip", "--via", "pmp"]);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("192.168.77.1:5351 does not speak NAT-PMP or PCP"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

fn upnp_only() -> LabConfig {
    LabConfig {
        natpmp: false,
        lan_hosts: 2,
        ..LabConfig::default()
    }
}

#[test]
fn natctl_discovers_and_drives_the_igd() {
    let Some(lab) = Lab::for_test(upnp_only()) else {
        return;
    };
    let found = natctl(lab.lan(), &["--json", "discover", "--scan-time", "1"]);
    assert!(found.status.success(), "{found:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&found.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert!(
        lines.iter().any(|r| r["st"]
            .as_str()
            .unwrap()
            .starts_with("urn:schemas-upnp-org:device:InternetGatewayDevice")
            && r["location"] == "http://192.168.77.1:5000/rootDesc.xml"),
        "{lines:?}"
    );

    let services = natctl(lab.lan(), &["upnp", "services"]);
    assert!(stdout(&services).contains("urn:schemas-upnp-org:service:WANIPConnection:2"));
    let wanip = "urn:schemas-upnp-org:service:WANIPConnection:2";
    let actions = natctl(lab.lan(), &["upnp", "actions", wanip]);
    assert!(
        stdout(&actions).contains("AddPortMapping(NewRemoteHost, NewExternalPort"),
        "{actions:?}"
    );
    let call = natctl(
        lab.lan(),
        &["--json", "upnp", "call", wanip, "GetExternalIPAddress"],
    );
    let json: serde_json::Value = serde_json::from_slice(&call.stdout).unwrap();
    assert_eq!(json["NewExternalIPAddress"], "44.0.0.1");
    let refused = natctl(
        lab.lan(),
        &["upnp", "call", wanip, "GetExternalIPAddress", "X=1"],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("\"X\""));

    let external_ip = natctl(lab.lan(), &["external-ip", "--via", "upnp"]);
    assert_eq!(stdout(&external_ip), "44.0.0.1");
}

#[test]
fn natctl_maps_lists_and_unmaps_via_upnp() {
    let Some(lab) = Lab::for_test_with_tools(upnp_only(), &["upnpc"]) else {
        return;
    };
    let tcp = natctl(
        lab.lan(),
        &["map", "tcp", "4600", "--lifetime", "600", "--via", "upnp"],
    );
    assert!(tcp.status.success(), "{tcp:?}");
    assert!(
        stdout(&tcp).starts_with("44.0.0.1:4600 -> 192.168.77.10:4600"),
        "{tcp:?}"
    );
    let udp = natctl(lab.lan(), &["map", "udp", "4601", "--via", "upnp"]);
    assert!(udp.status.success(), "{udp:?}");
    assert!(
        lab.tcp_reaches(lab.lan(), 4600, lab.external_socket(4600))
            .unwrap()
    );
    assert!(
        lab.udp_reaches(lab.lan(), 4601, lab.external_socket(4601))
            .unwrap()
    );

    // A mapping made by the reference client shows up in natctl's list next to ours.
    lab.lan()
        .exec(
            "upnpc",
            &["-a", "192.168.77.10", "4602", "4602", "TCP", "600"],
        )
        .unwrap();
    let list = natctl(lab.lan(), &["--json", "list"]);
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    let mut ports: Vec<(String, u64, String)> = entries
        .iter()
        .map(|e| {
            (
                e["protocol"].as_str().unwrap().to_owned(),
                e["external_port"].as_u64().unwrap(),
                e["description"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        vec![
            ("TCP".to_owned(), 4600, "natctl".to_owned()),
            ("TCP".to_owned(), 4602, "libminiupnpc".to_owned()),
            ("UDP".to_owned(), 4601, "natctl".to_owned()),
        ]
    );
    // And upnpc sees natctl's.
    let upnpc = lab.lan().exec("upnpc", &["-l"]).unwrap();
    assert!(String::from_utf8_lossy(&upnpc.stdout).contains("4600->192.168.77.10:4600"));

    let unmapped = natctl(lab.lan(), &["unmap", "tcp", "4600", "--via", "upnp"]);
    assert!(unmapped.status.success(), "{unmapped:?}");
    assert!(
        !lab.tcp_reaches(lab.lan(), 4600, lab.external_socket(4600))
            .unwrap()
    );
    let all = natctl(lab.lan(), &["unmap-all", "udp", "--via", "upnp"]);
    assert!(all.status.success(), "{all:?}");
    let remaining: Vec<u16> = lab
        .redirections()
        .unwrap()
        .iter()
        .map(|r| r.external_port)
        .collect();
    assert_eq!(remaining, vec![4602], "only upnpc's mapping is left");

    // Another LAN host holds 4700: natctl is granted a different port (718 handled).
    let other = &lab.lan_hosts()[1];
    lab.lan_hosts()[1]
        .exec(
            "upnpc",
            &[
                "-a",
                &other.address().to_string(),
                "4700",
                "4700",
                "TCP",
                "600",
            ],
        )
        .unwrap();
    let conflict = natctl(
        lab.lan(),
        &["--json", "map", "tcp", "4700", "--via", "upnp"],
    );
    assert!(conflict.status.success(), "{conflict:?}");
    let json: serde_json::Value = serde_json::from_slice(&conflict.stdout).unwrap();
    let public = json["public"].as_str().unwrap();
    assert_ne!(
        public, "44.0.0.1:4700",
        "the other host's port was taken over"
    );
    let granted: u16 = public.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        lab.tcp_reaches(lab.lan(), 4700, lab.external_socket(granted))
            .unwrap()
    );
    assert!(
        lab.redirections()
            .unwrap()
            .iter()
            .any(|r| r.external_port == 4700 && r.internal_address == other.address()),
        "the other host's mapping must survive"
    );
}

#[test]
fn natctl_probe_and_auto_pick_what_the_router_speaks() {
    let Some(full) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let probe = natctl(full.lan(), &["--json", "probe"]);
    assert!(probe.status.success(), "{probe:?}");
    let json: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    assert_eq!(json["selected"], "PCP");
    let techniques = json["techniques"].as_array().unwrap();
    assert_eq!(techniques.len(), 3);
    assert!(
        techniques
            .iter()
            .all(|t| t["available"] == true && t["external_ip"] == "44.0.0.1")
    );
    let mapped = natctl(full.lan(), &["map", "tcp", "4810"]);
    assert!(stdout(&mapped).ends_with("via PCP)"), "{mapped:?}");
    assert!(
        full.tcp_reaches(full.lan(), 4810, full.external_socket(4810))
            .unwrap()
    );
    assert!(
        natctl(full.lan(), &["unmap", "tcp", "4810"])
            .status
            .success()
    );
    assert!(full.redirections().unwrap().is_empty());
    drop(full);

    let Some(upnp) = Lab::for_test(LabConfig {
        natpmp: false,
        ..LabConfig::default()
    }) else {
        return;
    };
    let mapped = natctl(upnp.lan(), &["map", "udp", "4820"]);
    assert!(stdout(&mapped).ends_with("via UPnP IGD)"), "{mapped:?}");
    assert!(
        upnp.udp_reaches(upnp.lan(), 4820, upnp.external_socket(4820))
            .unwrap()
    );
    drop(upnp);

    let Some(none) = Lab::for_test(LabConfig {
        natpmp: false,
        upnp: false,
        ..LabConfig::default()
    }) else {
        return;
    };
    let started = Instant::now();
    let probe = natctl(none.lan(), &["--timeout", "2", "probe"]);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(!probe.status.success());
    assert!(
        String::from_utf8_lossy(&probe.stderr).contains("no technique available"),
        "{probe:?}"
    );
}

#[test]
fn natctl_map_keep_holds_the_mapping_until_sigterm_then_deletes_it() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let mut child = lab
        .lan()
        .command(env!("CARGO_BIN_EXE_natctl"))
        .args([
            "--json",
            "map",
            "tcp",
            "4830",
            "--lifetime",
            "120",
            "--keep",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lab.redirections().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        lab.tcp_reaches(lab.lan(), 4830, lab.external_socket(4830))
            .unwrap()
    );
    // A router reboot: the kept mapping comes back by itself.
    lab.reboot_router().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while lab.redirections().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        lab.tcp_reaches(lab.lan(), 4830, lab.external_socket(4830))
            .unwrap()
    );

    nix_kill(child.id(), "TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut text = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut text).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.first().unwrap()["public"], "44.0.0.1:4830", "{text}");
    assert_eq!(
        lines.last().unwrap()["note"],
        "deleted at the gateway",
        "{text}"
    );
    assert!(lab.redirections().unwrap().is_empty());
}

fn nix_kill(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
