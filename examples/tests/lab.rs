//! Lab tests of the example programs: each runs on a LAN host behind the real router
//! (miniupnpd), and what it claims is checked from outside (the WAN host, the router's rules).
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::net::SocketAddrV4;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use natlab::wait::Lines;
use natlab::{Lab, LabConfig};

/// How long a program may take to print what a step waits for: a mapping through the real
/// router takes milliseconds, an SSDP scan the few seconds asked for.
const STEP: Duration = Duration::from_secs(15);

/// Starts the program `path` on the lab's first LAN host with `args`, its stdin and stdout
/// on pipes.
fn start(lab: &Lab, path: &str, args: &[&str]) -> Child {
    lab.lan()
        .command(path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs the program `path` on the lab's first LAN host to its end.
fn run(lab: &Lab, path: &str, args: &[&str]) -> Output {
    let output = lab.lan().command(path).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{path} {args:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn terminate(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The public address in a `  44.0.0.1:4910 via PCP` line of the echo servers.
fn public_address(line: &str) -> SocketAddrV4 {
    let address = line.split_whitespace().next().unwrap_or_default();
    address
        .parse()
        .unwrap_or_else(|e| panic!("{e}: no public address in {line:?}"))
}

#[test]
fn pmp_client_maps_a_port_that_carries_a_connection_then_unmaps_it() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let mut child = start(
        &lab,
        env!("CARGO_BIN_EXE_pmp_client"),
        &["--hold", "tcp", "4900", "120"],
    );
    let mut stdout = Lines::new(child.stdout.take().unwrap());
    let external = stdout.expect_within("the external address", STEP, |l| {
        l.starts_with("external address:")
    });
    assert!(
        external.contains(&lab.external_address().to_string()),
        "{external}"
    );
    let mapped = stdout.expect_within("the mapping", STEP, |l| l.starts_with("mapped:"));
    let public = public_address(mapped.trim_start_matches("mapped:"));
    assert_eq!(*public.ip(), lab.external_address(), "{mapped}");
    assert!(
        lab.tcp_reaches(lab.lan(), 4900, public).unwrap(),
        "a connection from the WAN host did not come through {public}"
    );
    stdout.expect_within("the prompt to unmap", STEP, |l| l.starts_with("holding"));

    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    stdout.expect_within("the unmapping", STEP, |l| l.starts_with("unmapped:"));
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}: {:?}", stdout.seen());
    assert!(lab.redirections().unwrap().is_empty());
    assert!(!lab.tcp_reaches(lab.lan(), 4900, public).unwrap());
}

#[test]
fn public_tcp_echo_echoes_a_wan_hosts_bytes_and_unmaps_on_sigterm() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let mut child = start(
        &lab,
        env!("CARGO_BIN_EXE_public_tcp_echo"),
        &["0.0.0.0:4910"],
    );
    let mut stdout = Lines::new(child.stdout.take().unwrap());
    let line = stdout.expect_within("a public address", STEP, |l| l.contains(" via "));
    let public = public_address(&line);
    assert_eq!(*public.ip(), lab.external_address(), "{line}");
    let echoed = lab
        .wan()
        .run(move || natlab::wan_tcp_exchange(public, b"hello through the NAT"))
        .unwrap()
        .unwrap();
    assert_eq!(echoed, b"hello through the NAT");

    terminate(&child);
    let status = child.wait().unwrap();
    let lines = stdout.rest_within(STEP);
    assert!(status.success(), "{status}: {lines:?}");
    assert!(lines.iter().any(|l| l == "mapping deleted"), "{lines:?}");
    assert_eq!(lab.redirections().unwrap(), []);
}

#[test]
fn public_udp_echo_echoes_a_wan_hosts_datagram_and_unmaps_on_sigterm() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let mut child = start(
        &lab,
        env!("CARGO_BIN_EXE_public_udp_echo"),
        &["0.0.0.0:4911"],
    );
    let mut stdout = Lines::new(child.stdout.take().unwrap());
    let line = stdout.expect_within("a public address", STEP, |l| l.contains(" via "));
    let public = public_address(&line);
    assert_eq!(*public.ip(), lab.external_address(), "{line}");
    let echoed = lab
        .wan()
        .run(move || natlab::wan_udp_exchange(public, b"a datagram through the NAT"))
        .unwrap()
        .unwrap();
    assert_eq!(echoed, b"a datagram through the NAT");

    terminate(&child);
    let status = child.wait().unwrap();
    let lines = stdout.rest_within(STEP);
    assert!(status.success(), "{status}: {lines:?}");
    assert!(lines.iter().any(|l| l == "mapping deleted"), "{lines:?}");
    assert_eq!(lab.redirections().unwrap(), []);
}

#[test]
fn ssdp_browse_lists_the_routers_internet_gateway_device() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let output = run(&lab, env!("CARGO_BIN_EXE_ssdp_browse"), &["2"]);
    let text = String::from_utf8_lossy(&output.stdout);
    let router = natlab::ROUTER_LAN_ADDRESS.to_string();
    assert!(
        text.lines().any(|l| l.starts_with(&router)
            && l.contains("st=urn:schemas-upnp-org:device:InternetGatewayDevice:")
            && l.contains(&format!("location=http://{router}:"))),
        "{text}"
    );
    // `ssdp:all` brings every type the router offers, not only the one asked for by name.
    assert!(
        text.contains("st=urn:schemas-upnp-org:service:WANIPConnection:"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("from 1 responders"), "{text}");
}

#[test]
fn upnp_call_lists_the_igds_actions_and_calls_them() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let program = env!("CARGO_BIN_EXE_upnp_call");
    let listing = run(&lab, program, &[]);
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(
        text.contains("service urn:schemas-upnp-org:service:WANIPConnection:"),
        "{text}"
    );
    assert!(
        text.contains("GetExternalIPAddress(out NewExternalIPAddress)"),
        "{text}"
    );

    let answer = run(&lab, program, &["WANIPConnection", "GetExternalIPAddress"]);
    let text = String::from_utf8_lossy(&answer.stdout);
    assert!(
        text.lines()
            .any(|l| l == format!("NewExternalIPAddress={}", lab.external_address())),
        "{text}"
    );

    // Any action with arguments, here one that changes the router, from the LOCATION alone.
    let location = format!(
        "http://{}:{}/rootDesc.xml",
        natlab::ROUTER_LAN_ADDRESS,
        natlab::UPNP_HTTP_PORT
    );
    let internal_client = lab.lan().address().to_string();
    let internal_client = format!("NewInternalClient={internal_client}");
    run(
        &lab,
        program,
        &[
            "--location",
            &location,
            "urn:schemas-upnp-org:service:WANIPConnection:1",
            "AddPortMapping",
            "NewRemoteHost=",
            "NewExternalPort=4920",
            "NewProtocol=TCP",
            "NewInternalPort=4920",
            &internal_client,
            "NewEnabled=1",
            "NewPortMappingDescription=upnp_call",
            "NewLeaseDuration=600",
        ],
    );
    let redirections = lab.redirections().unwrap();
    assert_eq!(redirections.len(), 1, "{redirections:?}");
    assert_eq!(redirections[0].external_port, 4920);
    assert!(
        lab.tcp_reaches(lab.lan(), 4920, lab.external_socket(4920))
            .unwrap()
    );
    run(
        &lab,
        program,
        &[
            "--location",
            &location,
            "WANIPConnection",
            "DeletePortMapping",
            "NewRemoteHost=",
            "NewExternalPort=4920",
            "NewProtocol=TCP",
        ],
    );
    assert_eq!(lab.redirections().unwrap(), []);
}
