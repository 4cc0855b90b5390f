//! Lab tests of the IPv6 firewall control client against the real miniupnpd 2.3.1 of a
//! dual-stack natlab router: pinholes opened, refreshed and closed from a LAN host over IPv6,
//! proven by TCP connections and UDP datagrams from the WAN host; miniupnpd's refusals as
//! typed errors; a gateway found over IPv4 reached at its IPv6 address.
//!
//! Every request goes to the lab router from inside a LAN namespace.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use natlab::{Host, Lab, LabConfig, ROUTER_LAN_ADDRESS_V6, Transport, UPNP_HTTP_PORT};
use upnp_soap::pinhole::{
    Deleted, FirewallControl, FirewallStatus, PinholeRequest, Protocol, Refusal,
};
use upnp_soap::{Config, Url, parse_url};

fn location_v6() -> Url {
    parse_url(&format!(
        "http://[{ROUTER_LAN_ADDRESS_V6}]:{UPNP_HTTP_PORT}/rootDesc.xml"
    ))
    .unwrap()
}

fn location_v4() -> Url {
    parse_url(&format!(
        "http://{}:{UPNP_HTTP_PORT}/rootDesc.xml",
        natlab::ROUTER_LAN_ADDRESS
    ))
    .unwrap()
}

fn lab(lan_hosts: usize) -> Option<Lab> {
    Lab::for_test(LabConfig {
        natpmp: false,
        lan_hosts,
        ..LabConfig::dual_stack()
    })
}

/// The firewall control service, found from `host` over IPv6.
fn connect(host: &Host) -> FirewallControl {
    host.block_on(|| async {
        FirewallControl::connect(
            &location_v6(),
            IpAddr::V6(ROUTER_LAN_ADDRESS_V6),
            Config::default(),
        )
        .await
    })
    .unwrap()
    .unwrap()
}

/// Runs `f` with a clone of `firewall` on `host`'s runtime.
fn on<T, F, Fut>(host: &Host, firewall: &FirewallControl, f: F) -> T
where
    F: FnOnce(FirewallControl) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let firewall = firewall.clone();
    host.block_on(move || f(firewall)).unwrap()
}

fn request(host: &Host, port: u16, protocol: Protocol) -> PinholeRequest {
    PinholeRequest::new(
        host.address_v6().unwrap(),
        port,
        protocol,
        Duration::from_secs(3600),
    )
}

fn lan_pinhole(host: &Host, transport: Transport, port: u16) -> natlab::Pinhole {
    natlab::Pinhole {
        transport,
        remote_address: None,
        remote_port: None,
        internal_address: host.address_v6().unwrap(),
        internal_port: port,
    }
}

#[test]
fn pinholes_open_refresh_and_close_the_ipv6_firewall() {
    let Some(lab) = lab(1) else { return };
    let lan = lab.lan();
    assert!(!lab.tcp_reaches_v6(lan, 4000).unwrap());
    assert!(!lab.udp_reaches_v6(lan, 4001).unwrap());

    let firewall = connect(lan);
    assert_eq!(
        firewall.control_url().as_str(),
        format!("http://[{ROUTER_LAN_ADDRESS_V6}]:{UPNP_HTTP_PORT}/ctl/IP6FCtl")
    );
    // The routing table's source address toward the router is the LAN host's global one.
    assert_eq!(
        lan.run({
            let f = firewall.clone();
            move || f.local_address()
        })
        .unwrap(),
        lan.address_v6()
    );
    let status = on(lan, &firewall, |f| async move { f.firewall_status().await });
    assert_eq!(
        status.unwrap(),
        FirewallStatus {
            firewall_enabled: true,
            inbound_pinhole_allowed: true
        }
    );

    let tcp_request = request(lan, 4000, Protocol::TCP);
    let udp_request = request(lan, 4001, Protocol::UDP);
    let (tcp, udp) = on(lan, &firewall, move |f| async move {
        (
            f.add_pinhole(&tcp_request).await.unwrap(),
            f.add_pinhole(&udp_request).await.unwrap(),
        )
    });
    assert_ne!(tcp.id, udp.id);
    assert_eq!(tcp.lease, Duration::from_secs(3600));
    let mut pinholes = lab.pinholes().unwrap();
    pinholes.sort_by_key(|p| p.internal_port);
    assert_eq!(
        pinholes,
        [
            lan_pinhole(lan, Transport::Tcp, 4000),
            lan_pinhole(lan, Transport::Udp, 4001)
        ]
    );
    assert!(lab.tcp_reaches_v6(lan, 4000).unwrap());
    assert!(lab.udp_reaches_v6(lan, 4001).unwrap());
    assert!(!lab.udp_reaches_v6(lan, 4000).unwrap());

    // Refreshed, the pinhole keeps its id and its rule.
    let refreshed = on(lan, &firewall, move |f| async move {
        f.update_pinhole(tcp.id, Duration::from_secs(7200)).await
    })
    .unwrap();
    assert_eq!(refreshed.id, tcp.id);
    assert_eq!(refreshed.lease, Duration::from_secs(7200));
    assert!(lab.tcp_reaches_v6(lan, 4000).unwrap());

    // What miniupnpd says of the traffic. Its nftables rules count nothing (0 even after the
    // exchanges above); whatever the count, CheckPinholeWorking must agree with it.
    let (packets, working) = on(lan, &firewall, move |f| async move {
        (
            f.pinhole_packets(tcp.id).await.unwrap(),
            f.check_pinhole_working(tcp.id).await,
        )
    });
    match working {
        Ok(working) => assert!(working && packets > 0, "{packets} packets"),
        Err(e) => {
            assert_eq!(e.refusal(), Some(Refusal::NoPacketSent), "{e}");
            assert_eq!(packets, 0);
        }
    }

    let (first, second, again) = on(lan, &firewall, move |f| async move {
        (
            f.delete_pinhole(tcp.id).await,
            f.remove_pinhole(udp.id).await,
            f.delete_pinhole(tcp.id).await,
        )
    });
    first.unwrap();
    assert_eq!(second.unwrap(), Deleted::Removed);
    // miniupnpd answers 402 for an id it does not hold (the standard says 704).
    let e = again.unwrap_err();
    assert!(e.is_no_such_pinhole(), "{e}");
    assert!(lab.pinholes().unwrap().is_empty());
    assert!(!lab.tcp_reaches_v6(lan, 4000).unwrap());
    assert!(!lab.udp_reaches_v6(lan, 4001).unwrap());
}

#[test]
fn miniupnpd_refusals_are_typed() {
    let Some(lab) = lab(2) else { return };
    let lan = lab.lan();
    let other = lab.lan_hosts()[1].address_v6().unwrap();
    let firewall = connect(lan);
    let own = request(lan, 4400, Protocol::TCP);
    let results = on(lan, &firewall, move |f| async move {
        let with = |change: fn(&mut PinholeRequest, Ipv6Addr)| {
            let mut request = own.clone();
            change(&mut request, other);
            request
        };
        let add = |request: PinholeRequest| {
            let f = f.clone();
            async move { f.add_pinhole(&request).await.map(|_| ()) }
        };
        vec![
            (
                "for another host",
                add(with(|r, other| r.internal_client = other)).await,
            ),
            ("below 1024", add(with(|r, _| r.internal_port = 80)).await),
            (
                "any protocol",
                add(with(|r, _| r.protocol = Protocol::ANY)).await,
            ),
            ("sctp", add(with(|r, _| r.protocol = Protocol::SCTP)).await),
            (
                "update of a missing id",
                f.update_pinhole(999, Duration::from_secs(60))
                    .await
                    .map(|_| ()),
            ),
            ("delete of a missing id", f.delete_pinhole(999).await),
            (
                "packets of a missing id",
                f.pinhole_packets(999).await.map(|_| ()),
            ),
            (
                "check of a missing id",
                f.check_pinhole_working(999).await.map(|_| ()),
            ),
            (
                "outbound timeout",
                f.outbound_pinhole_timeout(&own).await.map(|_| ()),
            ),
        ]
    });
    let mut results = results.into_iter();
    let mut next = |what: &str| {
        let (name, result) = results.next().unwrap();
        assert_eq!(name, what);
        result.unwrap_err()
    };
    // Secure mode: another host's address, and ports below 1024, are not ours to open.
    for what in ["for another host", "below 1024"] {
        let e = next(what);
        assert_eq!(e.refusal(), Some(Refusal::NotAuthorized), "{what}: {e}");
        assert!(e.to_string().contains("upnp error 606"), "{e}");
    }
    assert_eq!(
        next("any protocol").refusal(),
        Some(Refusal::ProtocolWildcardingNotAllowed)
    );
    assert_eq!(next("sctp").refusal(), Some(Refusal::ProtocolNotSupported));
    for what in [
        "update of a missing id",
        "delete of a missing id",
        "packets of a missing id",
        "check of a missing id",
    ] {
        let e = next(what);
        assert!(e.is_no_such_pinhole(), "{what}: {e}");
    }
    // Not implemented by miniupnpd: a plain fault.
    let e = next("outbound timeout");
    assert!(
        matches!(
            e,
            upnp_soap::pinhole::PinholeError::Control(upnp_soap::Error::Fault { .. })
        ),
        "{e:?}"
    );
    assert_eq!(e.upnp_code(), Some(501));
    assert!(lab.pinholes().unwrap().is_empty());
}

#[test]
fn a_gateway_found_over_ipv4_is_reached_at_its_ipv6_address() {
    let Some(lab) = lab(1) else { return };
    let lan = lab.lan();
    let over_v4 = lan
        .block_on(|| async {
            FirewallControl::connect(
                &location_v4(),
                IpAddr::V4(natlab::ROUTER_LAN_ADDRESS),
                Config::default(),
            )
            .await
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        over_v4.control_url().as_str(),
        format!(
            "http://{}:{UPNP_HTTP_PORT}/ctl/IP6FCtl",
            natlab::ROUTER_LAN_ADDRESS
        )
    );
    // Over IPv4 miniupnpd cannot tell which IPv6 host asks: it refuses.
    let own = request(lan, 4500, Protocol::TCP);
    let e = on(
        lan,
        &over_v4,
        move |f| async move { f.add_pinhole(&own).await },
    )
    .unwrap_err();
    assert_eq!(e.refusal(), Some(Refusal::NotAuthorized), "{e}");
    assert!(lab.pinholes().unwrap().is_empty());

    // The same service at the router's IPv6 address, on the same port, accepts.
    let over_v6 = over_v4.over_ipv6(ROUTER_LAN_ADDRESS_V6).unwrap();
    let own = request(lan, 4500, Protocol::TCP);
    let pinhole = on(
        lan,
        &over_v6,
        move |f| async move { f.add_pinhole(&own).await },
    )
    .unwrap();
    assert_eq!(
        lab.pinholes().unwrap(),
        [lan_pinhole(lan, Transport::Tcp, 4500)]
    );
    assert!(lab.tcp_reaches_v6(lan, 4500).unwrap());
    let deleted = on(lan, &over_v6, move |f| async move {
        f.remove_pinhole(pinhole.id).await
    });
    assert_eq!(deleted.unwrap(), Deleted::Removed);
    assert!(!lab.tcp_reaches_v6(lan, 4500).unwrap());
}

/// One raw SOAP exchange with the router over IPv6 (the standard library's HTTP, so the
/// fixtures do not depend on this crate's client): the response body.
fn raw_soap(action: &str, arguments: &[(&str, String)]) -> String {
    use std::io::{Read, Write};
    let pairs: Vec<(&str, &str)> = arguments.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let body =
        upnp_soap::soap::request_body(upnp_soap::pinhole::SERVICE_TYPE, action, &pairs).unwrap();
    let router = std::net::SocketAddr::from((ROUTER_LAN_ADDRESS_V6, UPNP_HTTP_PORT));
    let mut stream = std::net::TcpStream::connect(router).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "POST /ctl/IP6FCtl HTTP/1.1\r\nHost: [{ROUTER_LAN_ADDRESS_V6}]:{UPNP_HTTP_PORT}\r\n\
         Content-Type: text/xml; charset=\"utf-8\"\r\nSOAPAction: \"{}#{action}\"\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        upnp_soap::pinhole::SERVICE_TYPE,
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8(response).unwrap();
    text.split_once("\r\n\r\n").unwrap().1.to_owned()
}

#[test]
#[ignore = "one-off: writes testdata/pinhole/ from a live lab"]
fn capture_miniupnpd_pinhole_answers() {
    let Some(lab) = lab(1) else { return };
    let client = lab.lan().address_v6().unwrap().to_string();
    let documents = lab
        .lan()
        .run(move || {
            let add = |port: &str| {
                vec![
                    ("RemoteHost", String::new()),
                    ("RemotePort", "0".to_owned()),
                    ("InternalClient", client.clone()),
                    ("InternalPort", port.to_owned()),
                    ("Protocol", "6".to_owned()),
                    ("LeaseTime", "3600".to_owned()),
                ]
            };
            let id = |id: &str| vec![("UniqueID", id.to_owned())];
            let added = raw_soap("AddPinhole", &add("4000"));
            let uid = added
                .split("<UniqueID>")
                .nth(1)
                .and_then(|rest| rest.split('<').next())
                .unwrap()
                .to_owned();
            vec![
                ("GetFirewallStatus", raw_soap("GetFirewallStatus", &[])),
                ("AddPinhole", added),
                ("AddPinhole-606", raw_soap("AddPinhole", &add("80"))),
                (
                    "UpdatePinhole",
                    raw_soap(
                        "UpdatePinhole",
                        &[
                            ("UniqueID", uid.clone()),
                            ("NewLeaseTime", "7200".to_owned()),
                        ],
                    ),
                ),
                (
                    "GetPinholePackets",
                    raw_soap("GetPinholePackets", &id(&uid)),
                ),
                (
                    "CheckPinholeWorking-709",
                    raw_soap("CheckPinholeWorking", &id(&uid)),
                ),
                ("DeletePinhole", raw_soap("DeletePinhole", &id(&uid))),
                ("DeletePinhole-402", raw_soap("DeletePinhole", &id(&uid))),
            ]
        })
        .unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/pinhole");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in documents {
        std::fs::write(dir.join(format!("{name}.xml")), body).unwrap();
    }
}
