//! Lab tests: inside a lab's namespaces, netinfo reads the namespace's own routes over
//! netlink (the kernel's pick toward a public address), from a thread that entered the
//! namespace with `setns`. Route lookups send nothing on the wire.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};

use natlab::{Lab, LabConfig};
use netinfo::{Error, Family};

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
