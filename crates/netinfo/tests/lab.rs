//! Lab tests: inside a lab's namespaces, netinfo reads the namespace's own routes over
//! netlink (the kernel's pick toward a public address), from a thread that entered the
//! namespace with `setns`. Route lookups send nothing on the wire.
//!
//! The LAN host's namespace is also dressed up with `ip` as the hosts of issue 18 are: a
//! second uplink (a veth with a default route of higher metric), a full-tunnel VPN (a tun
//! device with `0.0.0.0/1` + `128.0.0.0/1`), a docker-like bridge; and `Changes` is waited
//! on in the namespace while `ip` changes addresses, links and routes there.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::mpsc;
use std::time::Duration;

use natlab::{Host, Lab, LabConfig};
use netinfo::{Changes, Error, Family, LinkKind};

/// A LAN address no host holds: a second router for a second default route.
const OTHER_ROUTER: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);

#[test]
fn a_lan_host_finds_the_router_and_its_own_address_toward_it() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let route = lab.lan().run(netinfo::default_route).unwrap().unwrap();
    assert_eq!(route.gateway, IpAddr::V4(natlab::ROUTER_LAN_ADDRESS));
    assert_eq!(route.interface, lab.lan().interface());
    let gateway = lab.lan().run(netinfo::default_gateway).unwrap().unwrap();
    assert_eq!(gateway, natlab::ROUTER_LAN_ADDRESS);
    let local = lab
        .lan()
        .run(|| netinfo::local_address_toward(IpAddr::V4(natlab::ROUTER_LAN_ADDRESS)))
        .unwrap()
        .unwrap();
    assert_eq!(local, IpAddr::V4(lab.lan().address()));
    // The WAN host's namespace has no default route: the socket asked that namespace.
    let wan = lab.wan().run(netinfo::default_gateway).unwrap();
    assert!(
        matches!(wan, Err(Error::NoDefaultGateway { family: Family::V4 })),
        "{wan:?}"
    );
}

#[test]
fn a_dual_stack_lan_host_finds_the_routers_link_local_address() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    let route = lab.lan().run(netinfo::default_route_v6).unwrap().unwrap();
    assert_eq!(route.gateway, IpAddr::V6(natlab::ROUTER_LAN_LINK_LOCAL_V6));
    assert_eq!(route.interface, lab.lan().interface());
    let gateway = lab.lan().run(netinfo::default_gateway_v6).unwrap().unwrap();
    assert_eq!(Some(gateway), lab.router_link_local_v6());
    let local = lab
        .lan()
        .run(move || netinfo::local_address_toward(IpAddr::V6(gateway)))
        .unwrap()
        .unwrap();
    assert_eq!(Some(local), lab.lan().address_v6().map(IpAddr::V6));
}

#[test]
fn a_lan_host_without_a_default_route_has_no_default_gateway() {
    let config = LabConfig {
        lan_default_route: false,
        ..LabConfig::dual_stack()
    };
    let Some(lab) = Lab::for_test(config) else {
        return;
    };
    let v4 = lab.lan().run(netinfo::default_gateway).unwrap();
    assert!(
        matches!(v4, Err(Error::NoDefaultGateway { family: Family::V4 })),
        "{v4:?}"
    );
    let v6 = lab.lan().run(netinfo::default_gateway_v6).unwrap();
    assert!(
        matches!(v6, Err(Error::NoDefaultGateway { family: Family::V6 })),
        "{v6:?}"
    );
    // The router stays reachable on its link, and the kernel names the source toward it.
    let local = lab
        .lan()
        .run(|| netinfo::local_address_toward(IpAddr::V4(natlab::ROUTER_LAN_ADDRESS)))
        .unwrap()
        .unwrap();
    assert_eq!(local, IpAddr::V4(lab.lan().address()));
}

#[test]
fn of_two_default_routes_the_lower_metric_wins() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lan = lab.lan();
    let via = |router: Ipv4Addr, metric: u32| {
        let (router, metric) = (router.to_string(), metric.to_string());
        let args = ["route", "add", "default", "via", &router, "metric", &metric];
        lan.exec("ip", &args).unwrap();
    };
    lan.exec("ip", &["route", "del", "default"]).unwrap();
    via(natlab::ROUTER_LAN_ADDRESS, 200);
    via(OTHER_ROUTER, 100);
    let route = lan.run(netinfo::default_route).unwrap().unwrap();
    assert_eq!(
        (route.gateway, route.metric),
        (IpAddr::V4(OTHER_ROUTER), 100)
    );

    // The other way round: the route added first loses to a lower metric added later.
    let other = OTHER_ROUTER.to_string();
    let args = ["route", "del", "default", "via", &other, "metric", "100"];
    lan.exec("ip", &args).unwrap();
    via(OTHER_ROUTER, 300);
    let route = lan.run(netinfo::default_route).unwrap().unwrap();
    assert_eq!(
        (route.gateway, route.metric),
        (IpAddr::V4(natlab::ROUTER_LAN_ADDRESS), 200)
    );
}

/// The second uplink's addresses: the LAN host's and its (absent) router's.
const SECOND_UPLINK_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 2);
const SECOND_UPLINK_ROUTER: Ipv4Addr = Ipv4Addr::new(192, 168, 88, 1);
/// The tunnel's address.
const TUNNEL_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 2);

fn ip(host: &Host, args: &str) {
    host.exec("ip", &args.split_whitespace().collect::<Vec<_>>())
        .unwrap();
}

/// A second uplink on the LAN host: a veth `up2` (its peer `up2p` stays in the namespace)
/// holding 192.168.88.2/24, with a default route via 192.168.88.1 at metric 500.
fn add_second_uplink(lan: &Host) {
    ip(lan, "link add up2 type veth peer name up2p");
    ip(lan, "addr add 192.168.88.2/24 dev up2");
    ip(lan, "link set up2p up");
    ip(lan, "link set up2 up");
    ip(lan, "route add default via 192.168.88.1 dev up2 metric 500");
}

/// A full-tunnel VPN as OpenVPN installs it: tun device `tun0` with 10.8.0.2/24 and the two
/// half routes through it, the default route left in place.
fn add_full_tunnel(lan: &Host) {
    ip(lan, "tuntap add mode tun dev tun0");
    ip(lan, "addr add 10.8.0.2/24 dev tun0");
    ip(lan, "link set tun0 up");
    ip(lan, "route add 0.0.0.0/1 dev tun0");
    ip(lan, "route add 128.0.0.0/1 dev tun0");
}

#[test]
fn the_internet_path_is_the_lan_router_until_a_full_tunnel_takes_it() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lan = lab.lan();
    let path = lan
        .run(|| netinfo::internet_path(Family::V4))
        .unwrap()
        .unwrap();
    assert_eq!(path.interface, lan.interface());
    assert_eq!(path.gateway, Some(IpAddr::V4(natlab::ROUTER_LAN_ADDRESS)));
    assert_eq!(path.local_address, IpAddr::V4(lan.address()));
    // The lab's LAN interface is one end of a veth pair.
    assert_eq!(path.kind, LinkKind::Virtual);
    assert!(!path.split_default);
    assert!(path.metric.is_some());
    let toward_wan = lan
        .run(|| netinfo::route_to(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))))
        .unwrap()
        .unwrap();
    assert_eq!(toward_wan, path);
    // The router itself is on the link: no next hop.
    let toward_router = lan
        .run(|| netinfo::route_to(IpAddr::V4(natlab::ROUTER_LAN_ADDRESS)))
        .unwrap()
        .unwrap();
    assert_eq!(toward_router.gateway, None);
    assert_eq!(toward_router.interface, lan.interface());

    add_full_tunnel(lan);
    let path = lan
        .run(|| netinfo::internet_path(Family::V4))
        .unwrap()
        .unwrap();
    assert_eq!(
        (path.interface.as_str(), path.kind, path.gateway),
        ("tun0", LinkKind::Tunnel, None)
    );
    assert_eq!(path.local_address, IpAddr::V4(TUNNEL_ADDRESS));
    assert!(path.split_default);
    // The LAN itself still goes to the LAN.
    let toward_router = lan
        .run(|| netinfo::route_to(IpAddr::V4(natlab::ROUTER_LAN_ADDRESS)))
        .unwrap()
        .unwrap();
    assert_eq!(toward_router.interface, lan.interface());

    // The ways out: the tunnel's pair first, then the default route it overrides.
    let paths = lan
        .run(|| netinfo::default_paths(Family::V4))
        .unwrap()
        .unwrap();
    let summary: Vec<_> = paths
        .iter()
        .map(|p| {
            (
                p.interface.as_str(),
                p.gateway,
                p.split_default,
                p.local_address,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("tun0", None, true, IpAddr::V4(TUNNEL_ADDRESS)),
            (
                lan.interface(),
                Some(IpAddr::V4(natlab::ROUTER_LAN_ADDRESS)),
                false,
                IpAddr::V4(lan.address())
            ),
        ]
    );

    // A split tunnel (one prefix) leaves the internet path on the LAN.
    ip(lan, "route del 0.0.0.0/1 dev tun0");
    ip(lan, "route del 128.0.0.0/1 dev tun0");
    ip(lan, "route add 198.51.100.0/24 dev tun0");
    let path = lan
        .run(|| netinfo::internet_path(Family::V4))
        .unwrap()
        .unwrap();
    assert_eq!(path.interface, lan.interface());
    let split = lan
        .run(|| netinfo::route_to(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))))
        .unwrap()
        .unwrap();
    assert_eq!(
        (split.interface.as_str(), split.split_default),
        ("tun0", false)
    );
}

#[test]
fn the_ipv6_internet_path_is_the_routers_link_local_address_and_the_global_source() {
    let Some(lab) = Lab::for_test(LabConfig::dual_stack()) else {
        return;
    };
    let lan = lab.lan();
    let path = lan
        .run(|| netinfo::internet_path(Family::V6))
        .unwrap()
        .unwrap();
    assert_eq!(path.family, Family::V6);
    assert_eq!(path.interface, lan.interface());
    assert_eq!(
        path.gateway,
        Some(IpAddr::V6(natlab::ROUTER_LAN_LINK_LOCAL_V6))
    );
    assert_eq!(Some(path.local_address), lan.address_v6().map(IpAddr::V6));
    let paths = lan
        .run(|| netinfo::default_paths(Family::V6))
        .unwrap()
        .unwrap();
    assert_eq!(paths.len(), 1, "{paths:?}");
    assert_eq!(
        (
            &paths[0].interface,
            paths[0].gateway,
            paths[0].local_address
        ),
        (&path.interface, path.gateway, path.local_address)
    );
    // The WAN host's namespace has no way out.
    let wan = lab
        .wan()
        .run(|| netinfo::internet_path(Family::V6))
        .unwrap();
    assert!(wan.as_ref().is_err_and(Error::is_no_route), "{wan:?}");
    let none = lab
        .wan()
        .run(|| netinfo::default_paths(Family::V4))
        .unwrap();
    assert_eq!(none.unwrap(), []);
}

#[test]
fn two_uplinks_are_listed_best_first_and_the_second_takes_over_when_the_first_goes_down() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lan = lab.lan();
    add_second_uplink(lan);
    let paths = lan
        .run(|| netinfo::default_paths(Family::V4))
        .unwrap()
        .unwrap();
    let summary: Vec<_> = paths
        .iter()
        .map(|p| (p.interface.as_str(), p.gateway, p.local_address))
        .collect();
    assert_eq!(
        summary,
        [
            (
                lan.interface(),
                Some(IpAddr::V4(natlab::ROUTER_LAN_ADDRESS)),
                IpAddr::V4(lan.address())
            ),
            (
                "up2",
                Some(IpAddr::V4(SECOND_UPLINK_ROUTER)),
                IpAddr::V4(SECOND_UPLINK_ADDRESS)
            ),
        ]
    );
    assert_eq!(paths[1].metric, Some(500));
    assert!(paths[0].metric < paths[1].metric);
    let chosen = lan
        .run(|| netinfo::internet_path(Family::V4))
        .unwrap()
        .unwrap();
    assert_eq!(chosen, paths[0]);

    // The preferred link goes down: its routes go with it.
    ip(lan, &format!("link set {} down", lan.interface()));
    let chosen = lan
        .run(|| netinfo::internet_path(Family::V4))
        .unwrap()
        .unwrap();
    assert_eq!(chosen.interface, "up2");
    assert_eq!(chosen.gateway, Some(IpAddr::V4(SECOND_UPLINK_ROUTER)));
    assert_eq!(chosen.local_address, IpAddr::V4(SECOND_UPLINK_ADDRESS));
    assert_eq!(chosen.metric, Some(500));
}

#[test]
fn interfaces_say_what_they_are() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lan = lab.lan();
    add_full_tunnel(lan);
    ip(lan, "link add docker0 type bridge");
    ip(lan, "addr add 172.17.0.1/16 dev docker0");
    ip(lan, "link set docker0 up");
    ip(lan, "link add vpeer0 type veth peer name vpeer1");
    let interfaces = lan.run(netinfo::interfaces).unwrap().unwrap();
    let kind_of = |name: &str| {
        interfaces
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.kind)
            .unwrap_or_else(|| panic!("no {name} in {interfaces:?}"))
    };
    assert_eq!(kind_of("lo"), LinkKind::Loopback);
    assert_eq!(kind_of(lan.interface()), LinkKind::Virtual);
    assert_eq!(kind_of("tun0"), LinkKind::Tunnel);
    assert_eq!(kind_of("docker0"), LinkKind::Bridge);
    assert_eq!(kind_of("vpeer1"), LinkKind::Virtual);
    let bridge = interfaces.iter().find(|i| i.name == "docker0").unwrap();
    assert!(
        bridge
            .addresses
            .iter()
            .any(|a| a.address == IpAddr::from([172, 17, 0, 1]) && a.prefix_len == 16)
    );
    // The bridge never becomes the internet path's local address.
    let path = lan
        .run(|| netinfo::internet_path(Family::V4))
        .unwrap()
        .unwrap();
    assert_eq!(path.interface, "tun0");
}

/// Subscribes in `lan`'s namespace, runs `ip args` there, and asserts the subscription
/// fires within a second of it.
fn changes_fire_within_a_second_of(lan: &Host, args: &str) {
    let (subscribed, ready) = mpsc::channel();
    let waiter = lan.spawn(move || {
        let mut changes = Changes::new().unwrap();
        subscribed.send(()).unwrap();
        changes.wait(Duration::from_secs(1))
    });
    ready.recv().unwrap();
    ip(lan, args);
    let fired = waiter.join().unwrap().unwrap().unwrap();
    assert!(fired, "no change reported within a second of `ip {args}`");
}

#[test]
fn changes_fire_on_an_address_a_link_and_a_route() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lan = lab.lan();
    let interface = lan.interface().to_owned();
    changes_fire_within_a_second_of(lan, &format!("addr add 192.168.99.5/24 dev {interface}"));
    changes_fire_within_a_second_of(lan, "route add 198.51.100.0/24 via 192.168.99.1");
    changes_fire_within_a_second_of(lan, "route replace default via 192.168.99.1");
    changes_fire_within_a_second_of(lan, &format!("link set {interface} down"));
    // Renumbering back and the link back up.
    changes_fire_within_a_second_of(lan, &format!("link set {interface} up"));
    changes_fire_within_a_second_of(lan, &format!("addr del 192.168.99.5/24 dev {interface}"));

    // Without a change a wait ends at its timeout, false.
    let quiet = lan
        .run(|| {
            let mut changes = Changes::new().unwrap();
            changes.wait(Duration::from_millis(300)).unwrap()
        })
        .unwrap();
    assert!(!quiet, "a change was reported where none was made");
}

#[cfg(feature = "tokio")]
#[test]
fn changed_wakes_an_async_waiter_once_per_change_even_after_a_cancelled_wait() {
    let Some(lab) = Lab::for_test(LabConfig::default()) else {
        return;
    };
    let lan = lab.lan();
    let interface = lan.interface().to_owned();
    let outcome = lan
        .block_on(move || async move {
            let mut changes = Changes::new().unwrap();
            // This thread is in the lab's namespace, and so is the `ip` it starts.
            let add = format!("addr add 192.168.99.5/24 dev {interface}");
            let status = std::process::Command::new("ip")
                .args(add.split_whitespace())
                .status()
                .unwrap();
            assert!(status.success());
            // Cancelled while it waits for the burst to end (a `select!` taking another
            // branch): it has drained the change already, and must not lose it.
            let cancelled = tokio::time::timeout(Duration::from_millis(1), changes.changed()).await;
            let first = tokio::time::timeout(Duration::from_secs(1), changes.changed()).await;
            // The burst of that one change was taken whole: nothing more comes.
            let second = tokio::time::timeout(Duration::from_millis(300), changes.changed()).await;
            (
                cancelled.is_err(),
                first.map(|changed| changed.is_ok()),
                second.is_err(),
            )
        })
        .unwrap();
    assert_eq!(outcome, (true, Ok(true), true));
    let shown = lan.exec("ip", &["-4", "addr", "show"]).unwrap();
    assert!(String::from_utf8_lossy(&shown.stdout).contains("192.168.99.5/24"));
}
