//! natctl end to end against the router zoo: fixture routers that behave like real home
//! routers' UPnP stacks (no NAT-PMP/PCP daemon runs), each command as a user types it
//! (`discover`, `external-ip`, `map`, `list`, `unmap`), each mapping proven by a connection
//! from the WAN host; and with hostile LAN hosts (a rogue IGD, an SSDP flood).

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::process::Output;

use natlab::zoo::{Profile, ZooLab, ZooOptions};

const PORT: u16 = 4200;

/// natctl on the zoo's LAN host, its UPnP cache in the lab's own directory.
fn natctl(zoo: &ZooLab, args: &[&str]) -> Output {
    zoo.lan()
        .command(env!("CARGO_BIN_EXE_natctl"))
        .args(args)
        .env("XDG_CACHE_HOME", zoo.dir().join("cache"))
        .output()
        .expect("natctl runs")
}

fn json(output: &Output, zoo: &ZooLab) -> serde_json::Value {
    assert!(output.status.success(), "{output:?}\n{}", zoo.log());
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {output:?}\n{}", zoo.log()))
}

/// discover, external-ip, map (proven from the WAN), list, unmap (proven gone).
fn cycle(zoo: &ZooLab) {
    let found = natctl(zoo, &["--json", "discover", "--scan-time", "1"]);
    assert!(found.status.success(), "{found:?}");
    let responders = String::from_utf8_lossy(&found.stdout);
    assert!(
        responders
            .lines()
            .any(|l| l.contains("\"source\":\"192.168.77.1:")),
        "the router is not among the responders: {responders}"
    );

    let external = json(&natctl(zoo, &["--json", "external-ip"]), zoo);
    assert_eq!(external["technique"], "upnp", "{external}");
    assert_eq!(
        external["external_ip"],
        zoo.external_address().to_string(),
        "{external}"
    );
    assert_eq!(external["on_default_gateway"], true);

    let port = PORT.to_string();
    let mapped = json(
        &natctl(zoo, &["--json", "map", "tcp", &port, "--lifetime", "600"]),
        zoo,
    );
    assert_eq!(mapped["technique"], "upnp", "{mapped}");
    let public: std::net::SocketAddrV4 =
        mapped["public_address"].as_str().unwrap().parse().unwrap();
    assert!(
        zoo.tcp_reaches(zoo.lan(), PORT, public).unwrap(),
        "{mapped} does not forward\n{}",
        zoo.log()
    );

    let listed = json(&natctl(zoo, &["--json", "list"]), zoo);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["external_port"] == public.port()
                && e["internal_address"] == format!("{}:{PORT}", zoo.lan().address())),
        "{listed}\n{}",
        zoo.log()
    );

    let unmapped = json(&natctl(zoo, &["--json", "unmap", "tcp", &port]), zoo);
    assert_eq!(unmapped["removed"], true, "{unmapped}\n{}", zoo.log());
    assert!(zoo.redirections().unwrap().is_empty(), "{}", zoo.log());
    assert!(!zoo.tcp_reaches(zoo.lan(), PORT, public).unwrap());
    // Again: nothing to remove is a success that says so.
    let again = json(&natctl(zoo, &["--json", "unmap", "tcp", &port]), zoo);
    assert_eq!(again["removed"], false, "{again}");
}

macro_rules! zoo_tests {
    ($($name:ident => $profile:expr),* $(,)?) => {$(
        #[test]
        fn $name() {
            let Some(zoo) = ZooLab::for_test($profile) else {
                return;
            };
            cycle(&zoo);
        }
    )*};
}

zoo_tests! {
    natctl_on_dlink_dir890l => Profile::dlink_dir890l(),
    natctl_on_broadcom => Profile::broadcom(),
    natctl_on_cisco_cable_modem => Profile::cisco_cable_modem(),
    natctl_on_ddwrt => Profile::ddwrt(),
    natctl_on_old_miniupnpd_1 => Profile::miniupnpd1(),
    natctl_on_livebox => Profile::livebox(),
    natctl_on_dual_wan => Profile::dual_wan(),
    natctl_on_fritzbox => Profile::fritzbox(),
    natctl_on_list_only_router => Profile::list_only(),
    natctl_on_linksys_wrt120n => Profile::linksys_wrt120n(),
}

#[test]
fn natctl_uses_the_gateway_and_never_a_rogue_igd() {
    let Some(zoo) = ZooLab::for_test_with(
        Profile::slow_to_answer(),
        ZooOptions {
            rogue: true,
            ..ZooOptions::default()
        },
        &[],
    ) else {
        return;
    };
    cycle(&zoo);
    for args in [
        &["--json", "upnp", "services"][..],
        &["--json", "external-ip", "--via", "upnp"][..],
    ] {
        let output = natctl(&zoo, args);
        assert!(output.status.success(), "{args:?}: {output:?}");
    }
    let rogue = zoo.rogue().unwrap();
    assert_eq!(rogue.http_requests(), 0, "{}", rogue.log());
}

#[test]
fn natctl_finds_the_gateway_through_an_ssdp_flood() {
    let Some(zoo) = ZooLab::for_test_with(
        Profile::slow_to_answer(),
        ZooOptions {
            flood: Some(5000),
            ..ZooOptions::default()
        },
        &[],
    ) else {
        return;
    };
    cycle(&zoo);
    // `discover` lists the flood in bounded form and the gateway all the same.
    let found = natctl(&zoo, &["--json", "discover", "--scan-time", "1"]);
    assert!(found.status.success());
    let lines = String::from_utf8_lossy(&found.stdout).lines().count();
    assert!(lines < 200, "{lines} lines: the flood is not capped");
}

/// Behind double NAT or carrier-grade NAT every technique "works", yet nothing on the
/// internet can connect: natctl says so in every output that shows the address.
#[test]
fn natctl_says_when_a_mapping_cannot_be_reached_from_the_internet() {
    for (reported, reachability, words) in [
        ("10.0.0.2", "double-nat", "double NAT"),
        ("100.64.1.2", "cgnat", "carrier-grade NAT"),
    ] {
        let mut profile = Profile::miniupnpd1();
        profile.reports_external_address = Some(reported.parse().unwrap());
        let Some(zoo) = ZooLab::for_test(profile) else {
            return;
        };
        let external = json(&natctl(&zoo, &["--json", "external-ip"]), &zoo);
        assert_eq!(external["external_ip"], reported);
        assert_eq!(external["reachable"], false);
        assert_eq!(external["reachability"], reachability);
        let text = natctl(&zoo, &["external-ip"]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains(reported) && text.contains(words), "{text}");
        let mapped = natctl(&zoo, &["map", "udp", "4300", "--lifetime", "600"]);
        assert!(mapped.status.success(), "{mapped:?}");
        let mapped = String::from_utf8_lossy(&mapped.stdout);
        assert!(
            mapped.contains("not reachable from the internet") && mapped.contains(words),
            "{mapped}"
        );
        let probe = json(&natctl(&zoo, &["--json", "probe"]), &zoo);
        let upnp = probe["techniques"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["technique"] == "upnp")
            .unwrap();
        assert_eq!(upnp["reachability"], reachability, "{probe}");
    }
}

/// natctl on the zoo's LAN host, timed.
fn natctl_timed(zoo: &ZooLab, args: &[&str]) -> (Output, std::time::Duration) {
    let started = std::time::Instant::now();
    let output = natctl(zoo, args);
    (output, started.elapsed())
}

/// A pupnp gateway answers every search with an IGD:1 and an IGD:2 description in random
/// order: one device, so the version-2 service is found every time, by its full type or by
/// its short name, and a service it lacks is named with what it offers.
#[test]
fn natctl_calls_the_newest_service_of_a_gateway_with_two_root_devices() {
    let Some(zoo) = ZooLab::for_test(Profile::pupnp_two_roots()) else {
        return;
    };
    let external = zoo.external_address().to_string();
    for service in [
        "urn:schemas-upnp-org:service:WANIPConnection:2",
        "WANIPConnection",
    ] {
        for round in 0..30 {
            let output = natctl(
                &zoo,
                &["--json", "upnp", "call", service, "GetExternalIPAddress"],
            );
            assert!(
                output.status.success(),
                "{service}, round {round}: {output:?}\n{}",
                zoo.log()
            );
            let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(answer["NewExternalIPAddress"], external, "{answer}");
        }
    }
    let log = zoo.fixture().log();
    // The version-1 description came first in some of the 60 rounds (a coin each time).
    assert!(log.contains("GET /gatedesc1.xml"), "{log}");
    assert!(
        log.contains("POST /upnp/control/WANIPConn2 GetExternalIPAddress"),
        "{log}"
    );
    assert!(!log.contains("POST /upnp/control/WANIPConn1"), "{log}");
    let missing = natctl(
        &zoo,
        &["upnp", "call", "WANPPPConnection", "GetExternalIPAddress"],
    );
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        said.contains("no service WANPPPConnection")
            && said.contains("urn:schemas-upnp-org:service:WANIPConnection:2"),
        "{said}"
    );
}

/// The gateway answers, but what it points at must be refused: natctl ends within a second
/// of that answer (not at its --timeout) with exit status 1 and the reason.
#[test]
fn natctl_names_why_the_gateways_own_igd_answer_is_refused_within_a_second() {
    use natlab::zoo::Unusable;
    for reason in Unusable::all() {
        let named: &[&str] = match reason {
            Unusable::LocationOffGateway => &["192.168.77.250", "is not on 192.168.77.1"],
            Unusable::LocationNotHttp => &["is not an http:// url"],
            Unusable::HugeDescription => &["exceeds"],
            Unusable::MalformedDescription | Unusable::DescriptionWithDtd => &["malformed xml"],
            Unusable::ControlUrlOffGateway => &["192.168.77.250", "is not on 192.168.77.1"],
            Unusable::ControlUrlWithUserInfo => &["user or password"],
            Unusable::Redirect => &["redirects are not followed"],
            Unusable::DroppedConnection => &["http exchange with", "failed"],
            Unusable::ShortBody => &["cannot read the response body"],
        };
        let Some(zoo) = ZooLab::for_test(Profile::unusable(reason)) else {
            return;
        };
        // The gateway answered, unusably: both fail with its reason (1); exit 3 is kept for a
        // gateway that answered nothing.
        for (args, status) in [
            (
                &[
                    "--timeout",
                    "3",
                    "upnp",
                    "call",
                    "WANIPConnection",
                    "GetExternalIPAddress",
                ][..],
                1,
            ),
            (
                &[
                    "--timeout",
                    "3",
                    "--no-cache",
                    "external-ip",
                    "--via",
                    "upnp",
                ][..],
                1,
            ),
        ] {
            let (output, took) = natctl_timed(&zoo, args);
            let said = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(status),
                "{reason:?} {args:?}: {output:?}\n{}",
                zoo.log()
            );
            // The fixture answers 20 ms after the search; a second after that at most.
            assert!(
                took < std::time::Duration::from_millis(1100),
                "{reason:?} {args:?}: took {took:?}: {said}"
            );
            for words in named {
                assert!(said.contains(words), "{reason:?} {args:?}: {said}");
            }
        }
    }
}
