//! Lab tests: the IGD client and the generic dispatcher against the real miniupnpd of a
//! natlab router, with forwarding proven by traffic from the WAN host.
//!
//! Every request goes to the lab router (192.168.77.1) from inside a LAN namespace.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use natlab::{Lab, LabConfig, Transport};
use upnp_soap::igd::{Gateway, MappingRequest, Protocol};
use upnp_soap::{Config, Error, RootDevice, Url, parse_url};

const WAN_IP_CONNECTION_2: &str = "urn:schemas-upnp-org:service:WANIPConnection:2";

fn location() -> Url {
    parse_url("http://192.168.77.1:5000/rootDesc.xml").unwrap()
}

fn router() -> IpAddr {
    IpAddr::V4(natlab::ROUTER_LAN_ADDRESS)
}

fn lab(lan_hosts: usize) -> Option<Lab> {
    Lab::for_test(LabConfig {
        natpmp: false,
        lan_hosts,
        ..Default::default()
    })
}

fn connect(host: &natlab::Host) -> Gateway {
    host.block_on(|| async { Gateway::connect(&location(), router(), Config::default()).await })
        .unwrap()
        .unwrap()
}

#[test]
fn every_igd_operation_against_miniupnpd() {
    let Some(lab) = lab(1) else { return };
    let gateway = connect(lab.lan());
    assert_eq!(gateway.service_type(), WAN_IP_CONNECTION_2);
    assert!(gateway.is_v2());
    assert_eq!(gateway.local_address(), IpAddr::V4(lab.lan().address()));
    assert_eq!(
        gateway.control_url().as_str(),
        "http://192.168.77.1:5000/ctl/IPConn"
    );

    let g = gateway.clone();
    let (external, status, tcp, udp) = lab
        .lan()
        .block_on(move || async move {
            let external = g.external_address().await.unwrap();
            let status = g.status_info().await.unwrap();
            let tcp = g
                .add_port_mapping(&MappingRequest::new(
                    Protocol::Tcp,
                    4000,
                    4000,
                    Duration::from_secs(3600),
                ))
                .await
                .unwrap();
            let udp = g
                .add_port_mapping(&MappingRequest::new(
                    Protocol::Udp,
                    4000,
                    4000,
                    Duration::from_secs(3600),
                ))
                .await
                .unwrap();
            (external, status, tcp, udp)
        })
        .unwrap();
    assert_eq!(external, IpAddr::V4(lab.external_address()));
    assert!(status.is_connected(), "{status:?}");
    for (mapping, protocol) in [(&tcp, Protocol::Tcp), (&udp, Protocol::Udp)] {
        assert_eq!(mapping.protocol, protocol);
        assert_eq!(mapping.external_port, 4000);
        assert_eq!(mapping.internal_port, 4000);
        assert_eq!(mapping.internal_client, IpAddr::V4(lab.lan().address()));
        assert_eq!(mapping.lease, Duration::from_secs(3600));
        assert!(!mapping.permanent);
    }
    assert!(
        lab.tcp_reaches(lab.lan(), 4000, lab.external_socket(4000))
            .unwrap()
    );
    assert!(
        lab.udp_reaches(lab.lan(), 4000, lab.external_socket(4000))
            .unwrap()
    );
    let redirections = lab.redirections().unwrap();
    assert_eq!(redirections.len(), 2, "{redirections:?}");

    let g = gateway.clone();
    let (specific, generic, listed, udp_listed) = lab
        .lan()
        .block_on(move || async move {
            let specific = g.specific_port_mapping(Protocol::Tcp, 4000).await.unwrap();
            let generic = g.port_mappings().await.unwrap();
            let listed = g
                .list_port_mappings(Protocol::Tcp, 1, 65535, false, 0)
                .await
                .unwrap();
            let udp_listed = g
                .list_port_mappings(Protocol::Udp, 1, 65535, true, 10)
                .await
                .unwrap();
            (specific, generic, listed, udp_listed)
        })
        .unwrap();
    let specific = specific.unwrap();
    assert_eq!(specific.internal_client, "192.168.77.10");
    assert_eq!(specific.internal_port, 4000);
    assert!(specific.enabled);
    assert_eq!(specific.description, "upnp-soap");
    assert!(
        specific.lease_duration > Duration::from_secs(3500),
        "{specific:?}"
    );
    assert_eq!(generic.len(), 2, "{generic:?}");
    for protocol in [Protocol::Tcp, Protocol::Udp] {
        assert!(
            generic.iter().any(|e| e.protocol == protocol
                && e.external_port == 4000
                && e.internal_port == 4000
                && e.internal_client == "192.168.77.10"),
            "{generic:?}"
        );
    }
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0].protocol, listed[0].external_port),
        (Protocol::Tcp, 4000)
    );
    assert_eq!(listed[0].internal_client, "192.168.77.10");
    assert_eq!(udp_listed.len(), 1, "{udp_listed:?}");

    let g = gateway.clone();
    let (after, second_delete, empty_list) = lab
        .lan()
        .block_on(move || async move {
            g.delete_port_mapping(Protocol::Tcp, 4000).await.unwrap();
            g.delete_port_mapping(Protocol::Udp, 4000).await.unwrap();
            let after = g.specific_port_mapping(Protocol::Tcp, 4000).await.unwrap();
            let second = g.delete_port_mapping(Protocol::Tcp, 4000).await;
            let empty = g
                .list_port_mappings(Protocol::Tcp, 1, 65535, false, 0)
                .await
                .unwrap();
            (after, second, empty)
        })
        .unwrap();
    assert_eq!(after, None);
    // miniupnpd (nftables) answers a second delete with success; others say 714.
    if let Err(e) = second_delete {
        assert_eq!(e.upnp_code(), Some(714), "{e}");
    }
    assert!(empty_list.is_empty());
    assert!(lab.redirections().unwrap().is_empty());
    assert!(
        !lab.tcp_reaches(lab.lan(), 4000, lab.external_socket(4000))
            .unwrap()
    );

    // AddAnyPortMapping grants the port asked for when it is free.
    let g = gateway.clone();
    let any = lab
        .lan()
        .block_on(move || async move {
            let any = g
                .add_any_port_mapping(&MappingRequest::new(
                    Protocol::Tcp,
                    4100,
                    4100,
                    Duration::from_secs(600),
                ))
                .await
                .unwrap();
            assert_eq!(g.port_mappings().await.unwrap().len(), 1);
            any
        })
        .unwrap();
    assert_eq!(any.external_port, 4100);
    assert!(
        lab.tcp_reaches(lab.lan(), 4100, lab.external_socket(4100))
            .unwrap()
    );
    lab.lan()
        .block_on(move || async move {
            gateway
                .delete_port_mapping(Protocol::Tcp, 4100)
                .await
                .unwrap()
        })
        .unwrap();
    assert!(lab.redirections().unwrap().is_empty());
}

#[test]
fn a_port_held_by_another_lan_host_yields_another_external_port() {
    let Some(lab) = lab(2) else { return };
    let other = &lab.lan_hosts()[1];
    let other_gateway = connect(other);
    let held = other
        .block_on(move || async move {
            other_gateway
                .add_port_mapping(&MappingRequest::new(
                    Protocol::Tcp,
                    5000,
                    5000,
                    Duration::from_secs(3600),
                ))
                .await
        })
        .unwrap()
        .unwrap();
    assert_eq!(held.external_port, 5000);

    let gateway = connect(lab.lan());
    let g = gateway.clone();
    let mapping = lab
        .lan()
        .block_on(move || async move {
            g.add_port_mapping(&MappingRequest::new(
                Protocol::Tcp,
                5000,
                5000,
                Duration::from_secs(3600),
            ))
            .await
        })
        .unwrap()
        .unwrap();
    assert_ne!(mapping.external_port, 5000);
    assert_eq!(mapping.internal_client, IpAddr::V4(lab.lan().address()));
    assert!(
        lab.tcp_reaches(lab.lan(), 5000, lab.external_socket(mapping.external_port))
            .unwrap()
    );
    // The other host's mapping is untouched.
    let redirections = lab.redirections().unwrap();
    assert!(
        redirections.iter().any(|r| r.transport == Transport::Tcp
            && r.external_port == 5000
            && r.internal_address == Ipv4Addr::new(192, 168, 77, 11)),
        "{redirections:?}"
    );
    assert!(
        lab.tcp_reaches(other, 5000, lab.external_socket(5000))
            .unwrap()
    );

    // The same through a v1-only view of the service: no AddAnyPortMapping, so other
    // external ports are tried until one is free.
    let http = gateway.service_client().http().clone();
    let mut service = gateway.service_client().service().clone();
    service.service_type = "urn:schemas-upnp-org:service:WANIPConnection:1".to_owned();
    let v1 = Gateway::new(
        upnp_soap::ServiceClient::unchecked(http, service),
        gateway.local_address(),
    );
    assert!(!v1.is_v2());
    let mapping_v1 = lab
        .lan()
        .block_on(move || async move {
            v1.add_port_mapping(&MappingRequest::new(
                Protocol::Udp,
                5000,
                5000,
                Duration::from_secs(3600),
            ))
            .await
        })
        .unwrap();
    // The UDP port 5000 is free (the other host holds TCP only), so it is granted as is;
    // ask for the held TCP port to exercise the fallback.
    assert_eq!(mapping_v1.unwrap().external_port, 5000);
    let http = gateway.service_client().http().clone();
    let mut service = gateway.service_client().service().clone();
    service.service_type = "urn:schemas-upnp-org:service:WANIPConnection:1".to_owned();
    let v1 = Gateway::new(
        upnp_soap::ServiceClient::unchecked(http, service),
        gateway.local_address(),
    );
    let fallback = lab
        .lan()
        .block_on(move || async move {
            v1.add_port_mapping(&MappingRequest::new(
                Protocol::Tcp,
                5001,
                5000,
                Duration::from_secs(3600),
            ))
            .await
        })
        .unwrap()
        .unwrap();
    assert_ne!(fallback.external_port, 5000);
    assert!(
        lab.tcp_reaches(lab.lan(), 5001, lab.external_socket(fallback.external_port))
            .unwrap()
    );
}

#[test]
fn generic_dispatcher_lists_actions_and_calls_by_name() {
    let Some(lab) = lab(1) else { return };
    let external = lab.external_address();
    lab.lan()
        .block_on(move || async move {
            let root = RootDevice::fetch(&location(), router(), Config::default()).await.unwrap();
            assert_eq!(root.description().devices().count(), 3);
            // Every SCPD of the tree is fetched and parsed.
            for service in root.description().services() {
                let client = root.service_client(service).await.unwrap();
                assert!(!client.actions().is_empty(), "{}", service.service_type);
            }
            let service = root.description().find_service(WAN_IP_CONNECTION_2).unwrap();
            let client = root.service_client(service).await.unwrap();
            let names: Vec<_> = client.actions().iter().map(|a| a.name.as_str()).collect();
            assert!(names.contains(&"GetExternalIPAddress"), "{names:?}");
            assert!(names.contains(&"AddAnyPortMapping"), "{names:?}");

            let reply = client.call("GetExternalIPAddress", &[]).await.unwrap();
            assert_eq!(reply.get("NewExternalIPAddress"), Some(external.to_string().as_str()));
            let status = client.call("GetStatusInfo", &[]).await.unwrap();
            let order: Vec<_> = status.iter().map(|(n, _)| n).collect();
            assert_eq!(order, ["NewConnectionStatus", "NewLastConnectionError", "NewUptime"]);

            let wrong_name = client
                .call("DeletePortMapping", &[("NewRemoteHost", ""), ("NewExternalPort", "1"), ("NewProtocl", "TCP")])
                .await
                .unwrap_err();
            assert!(matches!(&wrong_name, Error::UnknownArgument { argument, .. } if argument == "NewProtocl"));
            assert!(wrong_name.is_refused_before_sending());
            let lower_case = client
                .call("DeletePortMapping", &[("NewRemoteHost", ""), ("NewExternalPort", "1"), ("NewProtocol", "tcp")])
                .await
                .unwrap_err();
            assert!(matches!(lower_case, Error::ValueNotAllowed { .. }));
            assert!(matches!(
                client.call("GetExternalIPAdress", &[]).await,
                Err(Error::UnknownAction { .. })
            ));

            // A fault from the router comes back typed, naming action, URL and code.
            let fault = client
                .call("GetGenericPortMappingEntry", &[("NewPortMappingIndex", "0")])
                .await
                .unwrap_err();
            assert_eq!(fault.upnp_code(), Some(713));
            let message = fault.to_string();
            assert!(
                message.contains("GetGenericPortMappingEntry")
                    && message.contains("http://192.168.77.1:5000/ctl/IPConn")
                    && message.contains("713"),
                "{message}"
            );
        })
        .unwrap();
}

#[test]
fn refused_mappings_are_a_not_authorized_error() {
    let Some(lab) = lab(2) else { return };
    let gateway = connect(lab.lan());
    let other = IpAddr::V4(lab.lan_hosts()[1].address());
    let (low_port, for_other) = lab
        .lan()
        .block_on(move || async move {
            // Outside the router's allowed external range (1024-65535).
            let low_port = gateway
                .add_port_mapping(&MappingRequest::new(
                    Protocol::Tcp,
                    4200,
                    80,
                    Duration::from_secs(60),
                ))
                .await;
            // secure_mode: a LAN host may only map to itself.
            let mut request =
                MappingRequest::new(Protocol::Tcp, 4200, 4200, Duration::from_secs(60));
            request.internal_client = Some(other);
            let for_other = gateway.add_port_mapping(&request).await;
            (low_port, for_other)
        })
        .unwrap();
    // Outside the allowed range miniupnpd answers 606 at once; for another host (secure
    // mode) it answers 718 to AddPortMapping and 606 to AddAnyPortMapping.
    for result in [low_port, for_other] {
        let error = result.unwrap_err();
        assert!(
            matches!(error, upnp_soap::igd::IgdError::NotAuthorized { .. }),
            "{error}"
        );
        assert_eq!(error.upnp_code(), Some(606));
        assert!(error.to_string().contains("not authorized"), "{error}");
    }
    assert!(lab.redirections().unwrap().is_empty());
}

/// A request the client gave up on must not act later. A router whose accept queue
/// overflowed holds the connection half-open and reads the request seconds later, after
/// requests sent since: an abandoned `AddPortMapping` would then make a mapping nobody
/// holds (and, at a program's stop, after its `DeletePortMapping`). The client resets such
/// a connection, so the router never reads it.
#[test]
fn a_request_abandoned_on_a_half_open_connection_never_acts_later() {
    let Some(lab) = lab(1) else { return };
    let config = Config {
        timeout: Duration::from_secs(1),
        ..Config::default()
    }
    .with_operation_timeout(Duration::from_secs(1));
    let gateway = lab
        .lan()
        .block_on(move || async move { Gateway::connect(&location(), router(), config).await })
        .unwrap()
        .unwrap();
    lab.hold_http_connections(true).unwrap();
    let abandoned = lab
        .lan()
        .block_on(move || async move {
            gateway
                .add_port_mapping(&MappingRequest::new(
                    Protocol::Udp,
                    4300,
                    4300,
                    Duration::from_secs(600),
                ))
                .await
        })
        .unwrap();
    lab.hold_http_connections(false).unwrap();
    let error = abandoned.unwrap_err();
    assert!(
        matches!(error, upnp_soap::igd::IgdError::OperationTimeout { .. }),
        "{error}"
    );
    // The router would read a request sent again by the client's TCP within its next
    // retransmissions (a few hundred milliseconds to 2 s after the release).
    let late = natlab::wait::poll(Duration::from_secs(4), || {
        let rules = lab.redirections().unwrap();
        rules.iter().find(|r| r.internal_port == 4300).cloned()
    });
    assert!(
        late.is_none(),
        "the abandoned request acted later: {late:?}"
    );
}

#[test]
fn mappings_agree_with_miniupnpc() {
    let Some(lab) = Lab::for_test_with_tools(
        LabConfig {
            natpmp: false,
            ..Default::default()
        },
        &["upnpc"],
    ) else {
        return;
    };
    let location = location().to_string();
    // A mapping made by upnpc is listed by us...
    lab.lan()
        .exec(
            "upnpc",
            &[
                "-u",
                &location,
                "-e",
                "by upnpc",
                "-a",
                "192.168.77.10",
                "4300",
                "4301",
                "UDP",
                "600",
            ],
        )
        .unwrap();
    let gateway = connect(lab.lan());
    let g = gateway.clone();
    let entries = lab
        .lan()
        .block_on(move || async move {
            g.add_port_mapping(&MappingRequest::new(
                Protocol::Tcp,
                4400,
                4401,
                Duration::from_secs(600),
            ))
            .await
            .unwrap();
            g.port_mappings().await.unwrap()
        })
        .unwrap();
    assert!(
        entries.iter().any(|e| e.protocol == Protocol::Udp
            && e.external_port == 4301
            && e.internal_port == 4300
            && e.description == "by upnpc"),
        "{entries:?}"
    );
    // ...and ours by upnpc.
    let listing = lab.lan().exec("upnpc", &["-u", &location, "-l"]).unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.lines().any(|l| l.contains("TCP")
            && l.contains("4401->192.168.77.10:4400")
            && l.contains("upnp-soap")),
        "{listing}"
    );
    assert!(
        listing.contains("ExternalIPAddress = 44.0.0.1"),
        "{listing}"
    );
}

/// Lets LAN hosts talk to each other as on a home LAN. With snooping on and no IGMP
/// querier, the lab's bridge forwarded 239.255.255.250 only toward the router's own
/// membership; and where the kernel passes bridged traffic through netfilter
/// (`br_netfilter`), the router's forward policy dropped LAN-to-LAN answers.
fn open_lan(lab: &Lab) {
    for (program, args) in [
        (
            "ip",
            &[
                "link",
                "set",
                "br0",
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ][..],
        ),
        (
            "nft",
            &[
                "insert",
                "rule",
                "inet",
                "filter",
                "forward",
                "ip",
                "saddr",
                "192.168.77.0/24",
                "accept",
            ][..],
        ),
    ] {
        let output = lab.router().exec(program, args).unwrap();
        assert!(output.status.success(), "{program}: {output:?}");
    }
}

/// Waits until a socket on `host` joined SSDP's multicast group (the rogue is listening).
fn wait_for_ssdp_group(host: &natlab::Host) {
    natlab::wait::wait_until(
        &format!("{} to join 239.255.255.250", host.netns()),
        Duration::from_secs(5),
        || natlab::wait::multicast_joined(host, Ipv4Addr::new(239, 255, 255, 250)),
    );
}

/// A rogue IGD on the second LAN host: it answers every M-SEARCH at once, first with
/// `flood` made-up answers (each its own USN and LOCATION), then with a LOCATION of its own
/// that serves a complete IGD description. It runs for `for_how_long`.
async fn rogue_igd(address: Ipv4Addr, flood: usize, for_how_long: Duration) -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let description = include_str!("../testdata/miniupnpd/rootDesc.xml");
    let http = tokio::net::TcpListener::bind((address, 8000))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = http.accept().await {
            let mut request = vec![0; 4096];
            let _ = stream.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{description}",
                description.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    let ssdp = tokio::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 1900))
        .await
        .unwrap();
    ssdp.join_multicast_v4(Ipv4Addr::new(239, 255, 255, 250), address)
        .unwrap();
    let answer = |location: &str, usn: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: {usn}\r\nLOCATION: {location}\r\nSERVER: rogue\r\n\r\n"
        )
    };
    let end = tokio::time::Instant::now() + for_how_long;
    let mut buffer = vec![0; 2048];
    let mut searches = 0;
    while let Ok(Ok((_, searcher))) =
        tokio::time::timeout_at(end, ssdp.recv_from(&mut buffer)).await
    {
        if searcher.ip() == IpAddr::V4(natlab::ROUTER_LAN_ADDRESS) {
            // miniupnpd's own searches.
            continue;
        }
        searches += 1;
        for i in 0..flood {
            let fake = answer(
                &format!("http://{address}:8000/fake{i}.xml"),
                &format!("uuid:fake-{i}::upnp:rootdevice"),
            );
            let _ = ssdp.send_to(fake.as_bytes(), searcher).await;
        }
        let real = answer(
            &format!("http://{address}:8000/rootDesc.xml"),
            "uuid:rogue::urn:schemas-upnp-org:device:InternetGatewayDevice:1",
        );
        let _ = ssdp.send_to(real.as_bytes(), searcher).await;
    }
    searches
}

/// The rogue answers first and floods 5,000 made-up answers; the gateway's IGD still wins,
/// within the scan time, labelled as on the default gateway.
#[test]
fn a_rogue_igd_and_a_flood_on_another_lan_host_never_win_over_the_gateway() {
    let Some(lab) = lab(2) else { return };
    open_lan(&lab);
    let rogue_host = &lab.lan_hosts()[1];
    let rogue_address = rogue_host.address();
    std::thread::scope(|scope| {
        let rogue = scope.spawn(|| {
            rogue_host
                .block_on(move || rogue_igd(rogue_address, 5000, Duration::from_secs(4)))
                .unwrap()
        });
        // The rogue must be in the SSDP group before the search.
        wait_for_ssdp_group(rogue_host);
        let (result, elapsed) = lab
            .lan()
            .block_on(|| async {
                let started = std::time::Instant::now();
                let options =
                    upnp_soap::DiscoverOptions::default().scan_time(Duration::from_secs(2));
                let gateway = upnp_soap::discover(&options).await;
                (gateway, started.elapsed())
            })
            .unwrap();
        let searches = rogue.join().unwrap();
        assert!(searches > 0, "the rogue saw no search");
        let gateway = result.unwrap();
        assert_eq!(gateway.service_client().http().responder(), router());
        assert!(gateway.on_default_gateway());
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    });
}

/// With the trusted gateway set to an address where nothing answers, the router's IGD and
/// the rogue are both "another LAN host": refused by default, used and labelled when allowed.
#[test]
fn an_igd_off_the_gateway_is_used_only_when_allowed_and_then_labelled() {
    let Some(lab) = lab(2) else { return };
    open_lan(&lab);
    let rogue_host = &lab.lan_hosts()[1];
    let rogue_address = rogue_host.address();
    std::thread::scope(|scope| {
        let rogue = scope.spawn(|| {
            rogue_host
                .block_on(move || rogue_igd(rogue_address, 0, Duration::from_secs(4)))
                .unwrap()
        });
        wait_for_ssdp_group(rogue_host);
        let (refused, allowed) = lab
            .lan()
            .block_on(|| async {
                let options = upnp_soap::DiscoverOptions::default()
                    .gateway(IpAddr::V4(Ipv4Addr::new(192, 168, 77, 99)))
                    .scan_time(Duration::from_secs(1));
                let refused = upnp_soap::discover_root(&options).await;
                let allowed = upnp_soap::discover_root(&options.allow_other_igd(true)).await;
                (refused, allowed)
            })
            .unwrap();
        let searches = rogue.join().unwrap();
        assert!(searches > 0, "the rogue saw no search");
        let error = refused.unwrap_err().to_string();
        assert!(
            error.contains("the gateway 192.168.77.99 did not answer")
                && error.contains("2 other LAN hosts answered"),
            "{error}"
        );
        assert!(error.len() < 320, "{error}");
        let root = allowed.unwrap();
        assert!(!root.on_default_gateway());
    });
}
