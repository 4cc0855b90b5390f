//! Lab tests of natctl's network commands, run on a LAN host behind the real router.
//!
//! Longer than the ~700 lines a file should hold: every command is proven here against one
//! shared lab helper set (natctl run on the LAN host, its JSON read, the router's rules
//! counted), and splitting the commands into files would copy those helpers or hide them in
//! a module the single-file test binaries cannot share without a `mod` of their own.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::process::Output;
use std::time::{Duration, Instant};

use natlab::wait::{Lines, poll, wait_for, wait_until};
use natlab::{Host, Lab, LabConfig};

/// natctl on `host`, its UPnP cache kept apart per lab (not in the user's cache directory,
/// where one lab's entries would meet another's).
fn natctl(host: &Host, args: &[&str]) -> Output {
    let cache = std::env::temp_dir().join(format!("natctl-cache-{}", host.netns()));
    host.command(env!("CARGO_BIN_EXE_natctl"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .output()
        .expect("natctl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
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
        .env("NATCTL_LOG", "natpmp_proto=debug,info")
        .output()
        .unwrap();
    assert!(logged.status.success(), "{logged:?}");
    // Each exchange with the gateway shows, and no colour codes reach a pipe.
    let log = String::from_utf8_lossy(&logged.stderr);
    assert!(log.contains("sending") && log.contains("answer"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a pipe: {log}");
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
        assert_eq!(json["public_address"], format!("44.0.0.1:{port}"));
        assert_eq!(json["internal_address"], format!("192.168.77.10:{port}"));
        assert_eq!(json["lifetime"], 600);
        assert_eq!(json["protocol"], "tcp");
        assert_eq!(json["reachability"], "public");
        let technique = if via == "pmp" { "nat-pmp" } else { "pcp" };
        assert_eq!(json["technique"], technique);
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
    assert_eq!(output.status.code(), Some(3), "no technique available");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("192.168.77.1") && stderr.contains("does not speak NAT-PMP or PCP"),
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
            ("tcp".to_owned(), 4600, "natctl".to_owned()),
            ("tcp".to_owned(), 4602, "libminiupnpc".to_owned()),
            ("udp".to_owned(), 4601, "natctl".to_owned()),
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
    let public = json["public_address"].as_str().unwrap();
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
    assert_eq!(json["selected"], "pcp");
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
    assert_eq!(probe.status.code(), Some(3), "{probe:?}");
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
    let mut stdout = Lines::new(child.stdout.take().unwrap());
    // natctl prints its first event once the router has answered.
    stdout.expect_within("natctl's first event", Duration::from_secs(5), |_| true);
    assert!(
        lab.tcp_reaches(lab.lan(), 4830, lab.external_socket(4830))
            .unwrap()
    );
    // A router reboot: the kept mapping comes back by itself.
    lab.reboot_router().unwrap();
    wait_until(
        "the kept mapping back in the router's table",
        Duration::from_secs(10),
        || !lab.redirections().unwrap().is_empty(),
    );
    assert!(
        lab.tcp_reaches(lab.lan(), 4830, lab.external_socket(4830))
            .unwrap()
    );

    nix_kill(child.id(), "TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let text = stdout.rest_within(Duration::from_secs(5)).join("\n");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.first().unwrap()["event"], "mapped", "{text}");
    assert_eq!(
        lines.first().unwrap()["public_address"],
        "44.0.0.1:4830",
        "{text}"
    );
    assert_eq!(lines.last().unwrap()["event"], "deleted", "{text}");
    assert!(lab.redirections().unwrap().is_empty());
}

/// The length of miniupnpd's log once it has stopped growing (nothing logged for 300 ms),
/// so that what comes after is caused by what the test does next.
fn settled_log_len(lab: &Lab) -> usize {
    let mut last = (lab.miniupnpd_log().len(), Instant::now());
    wait_for("miniupnpd's log to settle", Duration::from_secs(10), || {
        let length = lab.miniupnpd_log().len();
        if length != last.0 {
            last = (length, Instant::now());
        }
        (last.1.elapsed() >= Duration::from_millis(300)).then_some(length)
    })
}

fn nix_kill(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn natctl_unmaps_whatever_technique_made_the_mapping() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    // Made with UPnP, removed by a plain `unmap` (auto): PCP cannot delete it, UPnP can.
    let mapped = natctl(lab.lan(), &["map", "tcp", "8095", "--via", "upnp"]);
    assert!(mapped.status.success(), "{mapped:?}");
    let unmapped = natctl(lab.lan(), &["--json", "unmap", "tcp", "8095"]);
    assert!(unmapped.status.success(), "{unmapped:?}");
    let report = json(&unmapped);
    assert_eq!(report["removed"], true, "{report}");
    assert!(lab.redirections().unwrap().is_empty());

    // Made with NAT-PMP, removed with --via auto.
    assert!(
        natctl(lab.lan(), &["map", "tcp", "8096", "--via", "pmp"])
            .status
            .success()
    );
    let unmapped = natctl(lab.lan(), &["unmap", "tcp", "8096", "--via", "auto"]);
    assert!(unmapped.status.success(), "{unmapped:?}");
    assert!(stdout(&unmapped).starts_with("removed"), "{unmapped:?}");
    assert!(lab.redirections().unwrap().is_empty());
    assert!(
        !lab.tcp_reaches(lab.lan(), 8096, lab.external_socket(8096))
            .unwrap()
    );

    // Nothing there: a success that says what the answers show, whatever the technique...
    for via in ["auto", "pmp", "upnp"] {
        let nothing = natctl(lab.lan(), &["unmap", "udp", "8097", "--via", via]);
        assert!(nothing.status.success(), "{via}: {nothing:?}");
        let text = stdout(&nothing);
        assert!(
            text.starts_with("nothing to remove") || text.contains("does not say"),
            "{via}: {text}"
        );
    }
    // ...except where the gateway refuses: miniupnpd answers a PCP deletion of a port it
    // holds nothing for with NO_RESOURCES, a refusal by RFC 6887, reported as one (exit 1,
    // the result code named), never read as "nothing to remove".
    let refused = natctl(lab.lan(), &["unmap", "udp", "8097", "--via", "pcp"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(stderr(&refused).contains("NO_RESOURCES"), "{refused:?}");

    // unmap-all (auto) removes what every technique made, and counts it.
    for (port, via) in [("9001", "pcp"), ("9002", "pmp"), ("9003", "upnp")] {
        let made = natctl(lab.lan(), &["map", "udp", port, "--via", via]);
        assert!(made.status.success(), "{made:?}");
    }
    assert!(
        natctl(lab.lan(), &["map", "tcp", "9004", "--via", "pcp"])
            .status
            .success()
    );
    let all = natctl(lab.lan(), &["--json", "unmap-all", "udp"]);
    assert!(all.status.success(), "{all:?}");
    assert_eq!(json(&all)["removed_count"], 3, "{all:?}");
    let left: Vec<u16> = lab
        .redirections()
        .unwrap()
        .iter()
        .map(|r| r.external_port)
        .collect();
    assert_eq!(left, vec![9004], "only the TCP mapping stays");
    assert!(
        natctl(lab.lan(), &["unmap", "tcp", "9004"])
            .status
            .success()
    );
}

#[test]
fn natctl_speaks_one_json_schema_and_exits_by_the_book() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let external = json(&natctl(lab.lan(), &["--json", "external-ip"]));
    let mapped = json(&natctl(
        lab.lan(),
        &["--json", "map", "udp", "7100", "--lifetime", "300"],
    ));
    let probe = json(&natctl(lab.lan(), &["--json", "probe"]));
    let list = json(&natctl(lab.lan(), &["--json", "list"]));
    for (name, value) in [
        ("external-ip technique", &external["technique"]),
        ("map technique", &mapped["technique"]),
        ("probe selected", &probe["selected"]),
        ("probe row", &probe["techniques"][0]["technique"]),
    ] {
        assert_eq!(value, "pcp", "{name}");
    }
    assert_eq!(external["external_ip"], "44.0.0.1");
    assert_eq!(probe["techniques"][0]["external_ip"], "44.0.0.1");
    assert_eq!(mapped["public_address"], "44.0.0.1:7100");
    assert_eq!(mapped["protocol"], "udp");
    assert_eq!(mapped["lifetime"], 300);
    let entry = &list.as_array().unwrap()[0];
    assert_eq!(entry["public_address"], "44.0.0.1:7100");
    assert_eq!(entry["internal_address"], "192.168.77.10:7100");
    assert_eq!(entry["protocol"], "udp");
    assert!(entry["lifetime"].as_u64().unwrap() <= 300);
    let latency = probe["techniques"][0]["latency_ms"].as_f64().unwrap();
    assert_eq!(
        (latency * 10.0).round() / 10.0,
        latency,
        "rounded to 0.1 ms"
    );

    // Usage errors: exit 2, nothing sent (the router logs every request it gets). The
    // probe's SSDP answers may still be logged a moment later: start once the log is quiet.
    let log_before = settled_log_len(&lab);
    for args in [
        &["map", "tcp", "0"][..],
        &["map", "tcp", "8080", "--lifetime", "0"],
        &["--timeout", "0", "external-ip"],
        &["map", "sctp", "8080"],
    ] {
        let refused = natctl(lab.lan(), args);
        assert_eq!(refused.status.code(), Some(2), "{args:?}: {refused:?}");
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let refused = natctl(lab.lan(), &with_json);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        let error: serde_json::Value = serde_json::from_slice(&refused.stderr).unwrap();
        assert_eq!(error["kind"], "usage", "{error}");
        assert!(!error["error"].as_str().unwrap().is_empty());
    }
    // One request that is sent, after them: once the router logged it, it has logged
    // anything the usage errors might have sent before it, and that must be nothing else.
    let marker = natctl(lab.lan(), &["external-ip", "--via", "pmp"]);
    assert!(marker.status.success(), "{marker:?}");
    let log = wait_for(
        "the router's log of the marker request",
        Duration::from_secs(5),
        || {
            let log = lab.miniupnpd_log();
            log[log_before.min(log.len())..]
                .contains("NAT-PMP public address request")
                .then_some(log)
        },
    );
    let sent = &log[log_before..];
    assert!(
        sent.matches("request received from").count() == 1
            && !sent.contains("SSDP M-SEARCH")
            && !sent.contains("HTTP REQUEST"),
        "a usage error sent a request: {sent}"
    );

    let completions = natctl(lab.lan(), &["completions", "bash"]);
    assert!(completions.status.success());
    assert!(stdout(&completions).contains("natctl"), "{completions:?}");
    assert!(
        natctl(lab.lan(), &["unmap", "udp", "7100"])
            .status
            .success()
    );
}

#[test]
fn natctl_keep_says_when_nothing_is_mapped_and_fails() {
    let Some(lab) = Lab::for_test(LabConfig {
        natpmp: false,
        ..LabConfig::default()
    }) else {
        return;
    };
    // External port 80 is outside the router's allowed range: every attempt is refused.
    let mut child = lab
        .lan()
        .command(env!("CARGO_BIN_EXE_natctl"))
        .args(["--json", "--timeout", "2", "map", "tcp", "80", "--keep"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = Lines::new(child.stdout.take().unwrap());
    let stderr = Lines::new(child.stderr.take().unwrap());
    stdout.expect_within("natctl's first event", Duration::from_secs(10), |_| true);
    nix_kill(child.id(), "TERM");
    let status = child.wait().unwrap();
    let stderr = stderr.rest_within(Duration::from_secs(5)).join("\n");
    assert_eq!(status.code(), Some(1), "{status:?}: {stderr}");
    let text = stdout.rest_within(Duration::from_secs(5)).join("\n");
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["event"], "not_mapped", "{text}");
    assert!(events[0]["error"].as_str().is_some(), "{text}");
    assert!(
        events.iter().all(|e| e["event"] != "mapped"),
        "never 'mapped' without a public address: {text}"
    );
    assert!(lab.redirections().unwrap().is_empty());
}

/// The UPnP IGD cache: written by the first run, used by the next, checked like a fresh
/// answer (an entry off the gateway is refused) and replaced when stale; `--no-cache`
/// neither reads nor writes it.
#[test]
fn natctl_keeps_the_igd_in_a_cache_it_checks() {
    let Some(lab) = Lab::for_test(upnp_only()) else {
        return;
    };
    let home = lab.dir().join("home");
    let cache = home.join(".cache/natkit/upnp-igd");
    let run = |args: &[&str]| {
        lab.lan()
            .command(env!("CARGO_BIN_EXE_natctl"))
            .args(args)
            .env("HOME", &home)
            .env_remove("XDG_CACHE_HOME")
            .output()
            .unwrap()
    };
    let uncached = run(&["--no-cache", "map", "tcp", "4900", "--via", "upnp"]);
    assert!(uncached.status.success(), "{uncached:?}");
    assert!(!cache.exists(), "--no-cache wrote the cache");

    let cold = run(&["map", "tcp", "4901", "--via", "upnp"]);
    assert!(cold.status.success(), "{cold:?}");
    let entry = std::fs::read_to_string(&cache).unwrap();
    assert!(
        entry.starts_with(
            "192.168.77.1 192.168.77.10 urn:schemas-upnp-org:service:WANIPConnection:"
        ) && entry.contains("http://192.168.77.1:5000/"),
        "{entry}"
    );
    let warm = run(&["map", "tcp", "4902", "--via", "upnp"]);
    assert!(warm.status.success(), "{warm:?}");
    assert!(
        lab.tcp_reaches(lab.lan(), 4902, lab.external_socket(4902))
            .unwrap()
    );

    // An entry pointing at another host is never used; a stale one is replaced.
    for poisoned in [
        "http://192.168.77.11:5000/ctl/IPConn",
        "http://192.168.77.1:5999/ctl/IPConn",
    ] {
        std::fs::write(
            &cache,
            format!(
                "192.168.77.1 192.168.77.10 urn:schemas-upnp-org:service:WANIPConnection:2 {poisoned}\n"
            ),
        )
        .unwrap();
        let external = run(&["external-ip", "--via", "upnp"]);
        assert!(external.status.success(), "{poisoned}: {external:?}");
        assert_eq!(stdout(&external), "44.0.0.1");
        let repaired = std::fs::read_to_string(&cache).unwrap();
        assert!(
            repaired.contains("http://192.168.77.1:5000/"),
            "{poisoned}: {repaired}"
        );
    }
    let all = run(&["unmap-all", "tcp", "--via", "upnp"]);
    assert!(all.status.success(), "{all:?}");
    assert!(lab.redirections().unwrap().is_empty());
}

/// `natctl --json map tcp PORT --keep --via upnp` on the first LAN host, its JSON Lines on a
/// pipe and its debug log in the lab's `keep.log`.
fn keep_via_upnp(lab: &Lab, port: &str) -> std::process::Child {
    lab.lan()
        .command(env!("CARGO_BIN_EXE_natctl"))
        .args([
            "--json",
            "--no-cache",
            "map",
            "tcp",
            port,
            "--lifetime",
            "3600",
            "--keep",
            "--via",
            "upnp",
        ])
        .env(
            "NATCTL_LOG",
            "nat_traversal=debug,upnp_soap=debug,ssdp=debug",
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(lab.dir().join("keep.log")).unwrap())
        .spawn()
        .unwrap()
}

/// A UPnP-only router restarting under `map --keep`: noticed from its SSDP announcement at
/// start (a new `BOOTID.UPNP.ORG`), not at the next refresh half an hour later.
#[test]
fn natctl_keep_follows_a_upnp_router_restart_at_once() {
    let Some(lab) = Lab::for_test(upnp_only()) else {
        return;
    };
    let mut child = keep_via_upnp(&lab, "4840");
    let mut stdout = Lines::new(child.stdout.take().unwrap());
    stdout.expect_within("natctl's first event", Duration::from_secs(5), |_| true);
    assert!(
        lab.tcp_reaches(lab.lan(), 4840, lab.external_socket(4840))
            .unwrap()
    );
    // A deliberate passage of time, not a wait for an event: miniupnpd's boot id is its
    // start time in seconds, a real reboot takes longer than one, and so must this one, or
    // the new daemon announces the old id.
    std::thread::sleep(Duration::from_millis(1100));
    // The reboot flushes the rules (they may be back before anyone looks).
    lab.reboot_router().unwrap();
    // miniupnpd announces itself as it starts; the refresh would come only after half an
    // hour. Allow 2 s.
    let restored = poll(Duration::from_secs(2), || {
        (!lab.redirections().unwrap().is_empty()).then_some(())
    });
    assert!(
        restored.is_some(),
        "not mapped again within 2 s of the restart:\n{}\n{}",
        lab.miniupnpd_log(),
        std::fs::read_to_string(lab.dir().join("keep.log")).unwrap_or_default()
    );
    assert!(
        lab.tcp_reaches(lab.lan(), 4840, lab.external_socket(4840))
            .unwrap()
    );
    nix_kill(child.id(), "TERM");
    assert!(child.wait().unwrap().success());
    assert!(lab.redirections().unwrap().is_empty());
}

/// A UPnP-only router's external address changing under `map --keep`: learnt from the IGD's
/// GENA event at once and printed, not at the next refresh half an hour later.
#[test]
fn natctl_keep_prints_a_upnp_routers_new_address_at_once() {
    let Some(lab) = Lab::for_test(upnp_only()) else {
        return;
    };
    let mut child = keep_via_upnp(&lab, "4841");
    let mut received = Lines::new(child.stdout.take().unwrap());
    let log = |lab: &Lab| std::fs::read_to_string(lab.dir().join("keep.log")).unwrap_or_default();
    let (_, first) = received
        .next_within(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no mapping printed:\n{}", log(&lab)));
    let old = lab.external_address().to_string();
    assert!(first.contains(&old), "{first}");
    // The subscription is made in the background once the mapping holds; the change must
    // come after it and after the subscription's initial event, so that it is the change's
    // event that is seen. natctl says nothing of the subscription; the router logs both.
    wait_until(
        "the router to take natctl's GENA subscription and send its initial event",
        Duration::from_secs(10),
        || {
            let log = lab.miniupnpd_log();
            log.contains("ProcessHTTPSubscribe") && log.contains("sending event notify message")
        },
    );
    let new = std::net::Ipv4Addr::new(44, 0, 0, 77);
    let changed = Instant::now();
    lab.set_external_address(new).unwrap();
    let printed = received
        .find_within(Duration::from_secs(3), |line| line.contains("44.0.0.77"))
        .map(|(at, _)| at);
    let printed =
        printed.unwrap_or_else(|| panic!("the new address was never printed:\n{}", log(&lab)));
    // The figure docs/BENCHMARKS.md quotes.
    eprintln!(
        "new external address printed {:?} after the change",
        printed.duration_since(changed)
    );
    assert!(
        printed.duration_since(changed) <= Duration::from_secs(2),
        "printed {:?} after the change:\n{}",
        printed.duration_since(changed),
        log(&lab)
    );
    assert!(
        lab.tcp_reaches(lab.lan(), 4841, lab.external_socket(4841))
            .unwrap()
    );
    nix_kill(child.id(), "TERM");
    assert!(child.wait().unwrap().success());
}
