//! Lab tests of the lab itself: the router forwards what the reference client `natpmpc` maps,
//! and every fault knob does what it says.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use natlab::{Lab, LabConfig, Redirection, Transport};

fn natpmpc_map(lab: &Lab, port: u16, transport: &str) {
    let port = port.to_string();
    let output = lab
        .lan()
        .exec(
            "natpmpc",
            &["-g", "192.168.77.1", "-a", &port, &port, transport, "60"],
        )
        .expect("natpmpc runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("Mapped public port"), "natpmpc said: {text}");
}

#[test]
fn natpmpc_mapping_forwards_tcp_and_udp_from_the_wan() {
    let Some(lab) = Lab::for_test_with_tools(LabConfig::default(), &["natpmpc"]) else {
        return;
    };
    // Before any mapping, the WAN host cannot reach the LAN.
    assert!(
        !lab.tcp_reaches(lab.lan(), 4000, lab.external_socket(4000))
            .unwrap()
    );

    natpmpc_map(&lab, 4000, "tcp");
    natpmpc_map(&lab, 4001, "udp");
    assert!(
        lab.tcp_reaches(lab.lan(), 4000, lab.external_socket(4000))
            .unwrap()
    );
    assert!(
        lab.udp_reaches(lab.lan(), 4001, lab.external_socket(4001))
            .unwrap()
    );

    let mut redirections = lab.redirections().unwrap();
    redirections.sort_by_key(|r| r.external_port);
    assert_eq!(
        redirections,
        vec![
            Redirection {
                transport: Transport::Tcp,
                external_port: 4000,
                internal_address: lab.lan().address(),
                internal_port: 4000
            },
            Redirection {
                transport: Transport::Udp,
                external_port: 4001,
                internal_address: lab.lan().address(),
                internal_port: 4001
            },
        ]
    );
}

#[test]
fn reboot_wipes_mappings_and_stop_start_works() {
    let Some(lab) = Lab::for_test_with_tools(LabConfig::default(), &["natpmpc"]) else {
        return;
    };
    natpmpc_map(&lab, 4100, "tcp");
    assert_eq!(lab.redirections().unwrap().len(), 1);
    lab.reboot_router().unwrap();
    assert!(lab.router_running());
    assert!(lab.redirections().unwrap().is_empty());
    assert!(
        !lab.tcp_reaches(lab.lan(), 4100, lab.external_socket(4100))
            .unwrap()
    );

    lab.stop_router().unwrap();
    assert!(!lab.router_running());
    let refused = lab
        .lan()
        .exec("natpmpc", &["-g", "192.168.77.1"])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    assert!(
        refused.is_err() || !refused.as_ref().unwrap().contains("Public IP address"),
        "a stopped router answered: {refused:?}"
    );
    lab.start_router().unwrap();
    natpmpc_map(&lab, 4101, "tcp");
    assert!(
        lab.tcp_reaches(lab.lan(), 4101, lab.external_socket(4101))
            .unwrap()
    );
}

#[test]
fn external_address_change_is_reported_by_the_router() {
    let Some(lab) = Lab::for_test_with_tools(LabConfig::default(), &["natpmpc"]) else {
        return;
    };
    let new = "44.0.0.9".parse().unwrap();
    lab.set_external_address(new).unwrap();
    assert_eq!(lab.external_address(), new);
    let output = lab.lan().exec("natpmpc", &["-g", "192.168.77.1"]).unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("Public IP address : 44.0.0.9"),
        "natpmpc said: {text}"
    );
    natpmpc_map(&lab, 4200, "udp");
    assert!(
        lab.udp_reaches(lab.lan(), 4200, lab.external_socket(4200))
            .unwrap()
    );
}

/// Sends `count` UDP datagrams from the LAN host to an echo socket on the router, one at a
/// time, and returns how many came back and the slowest round trip.
fn udp_round_trips(lab: &Lab, count: usize, wait: Duration) -> (usize, Duration) {
    let echo = lab
        .router()
        .run(|| std::net::UdpSocket::bind("192.168.77.1:0").unwrap())
        .unwrap();
    let echo_address = echo.local_addr().unwrap();
    echo.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_echo = stop.clone();
    let server = std::thread::spawn(move || {
        let mut buffer = [0u8; 64];
        while !stop_echo.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok((n, from)) = echo.recv_from(&mut buffer) {
                let _ = echo.send_to(&buffer[..n], from);
            }
        }
    });
    let result = lab
        .lan()
        .run(move || {
            let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            socket.set_read_timeout(Some(wait)).unwrap();
            let (mut answered, mut slowest) = (0, Duration::ZERO);
            let mut buffer = [0u8; 64];
            for i in 0..count as u32 {
                let started = Instant::now();
                socket.send_to(&i.to_be_bytes(), echo_address).unwrap();
                while let Ok((n, _)) = socket.recv_from(&mut buffer) {
                    if buffer[..n] == i.to_be_bytes() {
                        answered += 1;
                        slowest = slowest.max(started.elapsed());
                        break;
                    }
                }
            }
            (answered, slowest)
        })
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    server.join().unwrap();
    result
}

#[test]
fn impaired_link_drops_and_delays() {
    let config = LabConfig {
        impairable_lan: true,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test(config) else {
        return;
    };
    let (answered, _) = udp_round_trips(&lab, 20, Duration::from_millis(300));
    assert_eq!(answered, 20, "a clean wire loses nothing");

    lab.impair_lan(0.0, Duration::from_millis(50)).unwrap();
    let (answered, slowest) = udp_round_trips(&lab, 3, Duration::from_millis(400));
    assert_eq!(answered, 3);
    assert!(
        slowest >= Duration::from_millis(100),
        "round trip {slowest:?}"
    );

    lab.impair_lan(50.0, Duration::ZERO).unwrap();
    let (answered, _) = udp_round_trips(&lab, 60, Duration::from_millis(100));
    // Each datagram crosses the wire twice: 15 of 60 expected back.
    assert!((3..=33).contains(&answered), "{answered} of 60 came back");
}

#[test]
fn lan_host_without_default_route_and_more_hosts() {
    let config = LabConfig {
        lan_hosts: 2,
        lan_default_route: false,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test(config) else {
        return;
    };
    assert_eq!(lab.lan_hosts().len(), 2);
    let routes = lab.lan_hosts()[1].exec("ip", &["route"]).unwrap();
    assert!(!String::from_utf8_lossy(&routes.stdout).contains("default"));
    // Without a default route the WAN is unreachable from the LAN.
    let reached = lab
        .lan()
        .run(|| {
            std::net::TcpStream::connect_timeout(
                &"44.0.0.2:9".parse().unwrap(),
                Duration::from_millis(300),
            )
        })
        .unwrap();
    assert!(reached.is_err());
}

#[test]
fn a_thread_in_a_lan_host_sees_that_hosts_default_gateway() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    // netinfo asks the kernel over a netlink socket the thread opens after setns (or, where
    // netlink is refused, reads /proc/thread-self), so a setns'd thread sees its namespace's
    // routes, not the test process's.
    let gateway = lab.lan().run(netinfo::default_gateway).unwrap().unwrap();
    assert_eq!(gateway, natlab::ROUTER_LAN_ADDRESS);
    let wan_gateway = lab.wan().run(netinfo::default_gateway).unwrap();
    assert!(
        wan_gateway.is_err(),
        "the WAN host has no default route: {wan_gateway:?}"
    );
}

/// miniupnpd's syslog falls back to the console; the lab sends that to /dev/null in a mount
/// namespace of miniupnpd's own, and leaves the host's /dev/console alone.
#[test]
fn miniupnpd_runs_with_its_console_silenced_and_the_host_untouched() {
    use std::os::unix::fs::MetadataExt;
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    if !std::path::Path::new("/dev/console").exists() {
        return; // Nothing to silence: syslog's fallback fails at once.
    }
    let null = std::fs::metadata("/dev/null").unwrap().rdev();
    let pid = std::fs::read_to_string(lab.dir().join("miniupnpd.pid")).unwrap();
    // /proc/PID/root resolves paths in miniupnpd's mount namespace.
    let theirs = std::fs::metadata(format!("/proc/{}/root/dev/console", pid.trim())).unwrap();
    assert_eq!(theirs.rdev(), null, "miniupnpd's console is /dev/null");
    let ours = std::fs::metadata("/dev/console").unwrap();
    assert_ne!(ours.rdev(), null, "the host's console is untouched");
}

/// The benchmarks' router: miniupnpd detached, without its debug log. The lab still finds
/// it listening, its mappings forward, and stop, reboot and start reach the right process.
#[test]
fn a_detached_router_without_its_debug_log_maps_reboots_and_stops() {
    let config = LabConfig {
        router_debug_log: false,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test_with_tools(config, &["natpmpc"]) else {
        return;
    };
    assert!(lab.router_running());
    natpmpc_map(&lab, 4200, "tcp");
    assert!(
        lab.tcp_reaches(lab.lan(), 4200, lab.external_socket(4200))
            .unwrap()
    );
    let first = std::fs::read_to_string(lab.dir().join("miniupnpd.pid")).unwrap();
    lab.reboot_router().unwrap();
    assert!(lab.router_running());
    let second = std::fs::read_to_string(lab.dir().join("miniupnpd.pid")).unwrap();
    assert_ne!(first, second, "a new process after the reboot");
    assert!(lab.redirections().unwrap().is_empty());
    natpmpc_map(&lab, 4201, "udp");
    assert!(
        lab.udp_reaches(lab.lan(), 4201, lab.external_socket(4201))
            .unwrap()
    );
    lab.stop_router().unwrap();
    assert!(!lab.router_running());
    // SIGTERM reached the daemon, not a parent: it saved its leases on the way out.
    let leases = std::fs::read_to_string(lab.dir().join("leases")).unwrap_or_default();
    assert!(leases.contains(":4201:"), "leases: {leases:?}");
    assert!(
        !lab.miniupnpd_log().contains("Listening for NAT-PMP"),
        "no debug log"
    );
}
