//! Lab tests of `natctl check` against coturn on the lab's WAN host: the table and the
//! JSON object for a mapped port, double NAT, and a capture (tcpdump on the LAN host)
//! showing that with no STUN server named no packet goes anywhere but the gateway.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use natlab::wait::poll;

use natlab::{Filtering, Host, Lab, LabConfig, Mapping, NatBehaviour, OuterNat};
use serde_json::Value;

fn natctl(host: &Host, args: &[&str]) -> Output {
    let cache = std::env::temp_dir().join(format!("natctl-cache-{}", host.netns()));
    host.command(env!("CARGO_BIN_EXE_natctl"))
        .args(["--gateway", "192.168.77.1", "--timeout", "3"])
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .output()
        .expect("natctl runs")
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "natctl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

fn stun(lab: &Lab) -> String {
    lab.stun_server().unwrap().to_string()
}

#[test]
fn check_prints_one_table_and_one_json_object_for_a_mapped_port() {
    let Some(lab) = Lab::for_test_with_tools(LabConfig::default().with_stun(), &["turnserver"])
    else {
        return;
    };
    let server = stun(&lab);
    let value = json(&natctl(
        lab.lan(),
        &["--json", "check", "--stun", &server, "udp", "9500"],
    ));
    let public = format!("{}:9500", lab.public_address());
    assert_eq!(value["external_seen"], Value::from(public.clone()));
    assert_eq!(
        value["external_router"],
        Value::from(lab.public_address().to_string())
    );
    assert_eq!(value["double_nat"], Value::from(false));
    assert_eq!(value["mapping"], Value::from("endpoint-independent"));
    assert_eq!(
        value["filtering"],
        Value::from("address-and-port-dependent")
    );
    assert_eq!(value["hairpinning"], Value::from(false));
    assert_eq!(value["unsolicited_arrived"], Value::from(true));
    assert_eq!(value["port"]["verified"], Value::from(true));
    assert_eq!(
        value["verdict"],
        Value::from(format!(
            "reachable at {public} (UDP via PCP, seen from outside)"
        ))
    );
    assert_eq!(value["stun_round_trips"], Value::from(2));

    let table = natctl(lab.lan(), &["check", "--stun", &server]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{text}");
    for line in [
        "router: PCP",
        "external address (outside view)",
        "mapping behaviour",
        "filtering behaviour",
        "hairpinning",
        "double NAT",
        "verdict",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    assert!(
        text.contains(&format!(
            "port mapping available at {} via PCP (seen from outside)",
            lab.public_address()
        )),
        "{text}"
    );
}

#[test]
fn check_names_each_configured_nat_behaviour_and_hairpinning() {
    let cases = [
        (
            Mapping::PortPreserving,
            Filtering::AddressAndPortDependent,
            false,
        ),
        (Mapping::PortPreserving, Filtering::AddressDependent, true),
        (
            Mapping::PortPreserving,
            Filtering::EndpointIndependent,
            false,
        ),
        // Hairpinning on, but a symmetric NAT gives the hairpinned datagram another
        // external port, which address-and-port-dependent filtering drops: what a peer
        // behind the same NAT would meet too.
        (Mapping::Random, Filtering::AddressAndPortDependent, false),
        (Mapping::FullyRandom, Filtering::EndpointIndependent, true),
    ];
    for (mapping, filtering, hairpinning) in cases {
        let nat = NatBehaviour {
            mapping,
            filtering,
            hairpinning: hairpinning || mapping == Mapping::Random,
        };
        let config = LabConfig::default().with_stun().with_nat(nat);
        let Some(lab) = Lab::for_test_with_tools(config, &["turnserver"]) else {
            return;
        };
        let value = json(&natctl(
            lab.lan(),
            &["--json", "check", "--stun", &stun(&lab)],
        ));
        let expected_mapping = match mapping {
            Mapping::PortPreserving => "endpoint-independent",
            _ => "address-and-port-dependent",
        };
        let expected_filtering = match filtering {
            Filtering::AddressAndPortDependent => "address-and-port-dependent",
            Filtering::AddressDependent => "address-dependent",
            Filtering::EndpointIndependent => "endpoint-independent",
        };
        assert_eq!(
            value["mapping"],
            Value::from(expected_mapping),
            "{nat:?}: {value}"
        );
        assert_eq!(
            value["filtering"],
            Value::from(expected_filtering),
            "{nat:?}: {value}"
        );
        assert_eq!(
            value["hairpinning"],
            Value::from(hairpinning),
            "{nat:?}: {value}"
        );
        assert_eq!(value["double_nat"], Value::from(false), "{nat:?}: {value}");
    }
}

#[test]
fn check_tells_a_second_nat() {
    let config = LabConfig::default()
        .with_stun()
        .with_outer_nat(OuterNat::CarrierGrade);
    let Some(lab) = Lab::for_test_with_tools(config, &["turnserver"]) else {
        return;
    };
    let value = json(&natctl(
        lab.lan(),
        &[
            "--json",
            "check",
            "--stun",
            &stun(&lab),
            "--via",
            "pcp",
            "tcp",
            "9501",
        ],
    ));
    assert_eq!(value["double_nat"], Value::from(true), "{value}");
    // miniupnpd's PCP refusal carries no address the facade reads: the verdict names what
    // the internet sees, and the hop after the router is the carrier-grade NAT's.
    assert_eq!(
        value["verdict"],
        Value::from(
            "behind a second NAT (the internet sees 44.0.0.1): mappings at your router \
             cannot be reached"
        ),
        "{value}"
    );
    assert_eq!(
        value["hop_after_router"],
        Value::from("100.64.0.1"),
        "{value}"
    );
    assert_eq!(
        value["external_seen"]
            .as_str()
            .map(|s| s.starts_with("44.0.0.1:")),
        Some(true),
        "{value}"
    );
}

/// tcpdump on the LAN host's interface, writing what leaves the host to a file.
struct Capture {
    child: Child,
    file: std::path::PathBuf,
}

impl Capture {
    /// Starts tcpdump and returns once it listens (its "listening on" line on stderr).
    fn start(lab: &Lab) -> Capture {
        let host = lab.lan();
        let file = lab.dir().join("check.pcap");
        let mut child = host
            .command("tcpdump")
            .args(["-n", "-U", "--immediate-mode", "-i", host.interface(), "-w"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump starts");
        let stderr = child.stderr.take().unwrap();
        let mut banner = String::new();
        BufReader::new(stderr).read_line(&mut banner).unwrap();
        assert!(banner.contains("listening on"), "tcpdump: {banner}");
        Capture { child, file }
    }

    /// The packets captured so far, one line each.
    fn packets(&self, host: &Host) -> Vec<String> {
        let file = self.file.to_string_lossy().into_owned();
        let read = host.exec("tcpdump", &["-n", "-r", &file]).unwrap();
        String::from_utf8_lossy(&read.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Sends a marker datagram to the gateway's discard port, waits until the capture
    /// holds it (so everything sent before is in), stops tcpdump and returns the packets
    /// before the marker.
    fn stop(mut self, host: &Host) -> Vec<String> {
        const MARKER: &str = "192.168.77.1.9:";
        host.run(|| {
            let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            socket.send_to(b"end of capture", "192.168.77.1:9").unwrap();
        })
        .unwrap();
        let lines = poll(Duration::from_secs(5), || {
            let lines = self.packets(host);
            lines.iter().any(|l| l.contains(MARKER)).then_some(lines)
        })
        .expect("the marker reaches the capture");
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        lines
            .into_iter()
            .take_while(|l| !l.contains(MARKER))
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn without_a_stun_server_nothing_goes_beyond_the_gateway() {
    let Some(lab) =
        Lab::for_test_with_tools(LabConfig::default().with_stun(), &["turnserver", "tcpdump"])
    else {
        return;
    };
    let capture = Capture::start(&lab);
    let value = json(&natctl(lab.lan(), &["--json", "check", "udp", "9502"]));
    assert_eq!(value["external_seen"], Value::Null);
    assert_eq!(value["stun_requests"], Value::from(0));
    let lines = capture.stop(lab.lan());
    // What the LAN host sent: IPv4 from its address (ARP carries no port; IPv6 here is
    // the kernel's own link-local neighbour and multicast traffic).
    let sent: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" IP 192.168.77.10."))
        .collect();
    assert!(
        !sent.is_empty(),
        "the capture saw the check's own packets: {lines:?}"
    );
    for line in sent {
        // "12:00:00.000000 IP 192.168.77.10.40000 > 192.168.77.1.5351: UDP, length 60"
        let destination = line.split(" > ").nth(1).unwrap_or_default();
        // The gateway, or SSDP's multicast group on the LAN (UPnP's discovery).
        let on_lan =
            destination.starts_with("192.168.77.1.") || destination.starts_with("239.255.255.250.");
        assert!(on_lan, "a packet beyond the gateway: {line}");
    }
    for line in lines.iter().filter(|l| l.contains(" IP6 ")) {
        let destination = line.split(" > ").nth(1).unwrap_or_default();
        assert!(
            destination.starts_with("ff02:") || destination.starts_with("fe80:"),
            "an IPv6 packet beyond the link: {line}"
        );
    }

    // The same capture with a STUN server named sees the check's STUN datagrams: as many
    // as the report counts, in at most two round trips.
    let capture = Capture::start(&lab);
    let server = lab.stun_server().unwrap().to_string();
    let value = json(&natctl(
        lab.lan(),
        &["--json", "check", "--stun", &server, "udp", "9503"],
    ));
    let lines = capture.stop(lab.lan());
    let to_stun = lines
        .iter()
        .filter(|l| l.contains(" IP 192.168.77.10."))
        .filter(|l| {
            let destination = l.split(" > ").nth(1).unwrap_or_default();
            destination.starts_with("44.0.0.2.") || destination.starts_with("44.0.0.3.")
        })
        .count();
    assert_eq!(
        Value::from(to_stun),
        value["stun_transmissions"],
        "{lines:#?}"
    );
    assert_eq!(value["stun_requests"], Value::from(6), "{value}");
    assert_eq!(value["stun_round_trips"], Value::from(2), "{value}");
}
