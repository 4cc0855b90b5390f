//! Lab tests against the router zoo: discovery and the IGD client (external address, add,
//! list, delete) against fixture routers that behave like real home routers, each mapping
//! proven by traffic from the WAN host; and hostile LAN hosts (a rogue IGD, an SSDP flood).
//!
//! Every request goes to the lab's namespaces only: the client runs on the LAN host, whose
//! default gateway is the lab router.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::Duration;

use natlab::zoo::{Profile, ZooLab, ZooOptions};
use upnp_soap::DiscoverOptions;
use upnp_soap::igd::{Gateway, MappingRequest, Protocol};

const PORT: u16 = 4000;

fn router() -> IpAddr {
    IpAddr::V4(natlab::ROUTER_LAN_ADDRESS)
}

/// Discovers the gateway on the zoo's LAN host the way a caller that knows its gateway does.
fn discover(zoo: &ZooLab, options: DiscoverOptions) -> Gateway {
    let result = zoo
        .lan()
        .block_on(move || async move { upnp_soap::discover(&options).await })
        .unwrap();
    match result {
        Ok(gateway) => gateway,
        Err(e) => panic!("discovery failed: {e}\n{}", zoo.log()),
    }
}

fn options() -> DiscoverOptions {
    DiscoverOptions::default()
        .gateway(router())
        .scan_time(Duration::from_secs(3))
}

/// The whole IGD cycle against one profile: discover, external address, add (reached from
/// the WAN host), list, delete (no longer reached).
fn igd_cycle(profile: Profile) {
    let expected = profile.usable_connection().unwrap().service_type;
    let Some(zoo) = ZooLab::for_test(profile) else {
        return;
    };
    let gateway = discover(&zoo, options());
    assert_eq!(gateway.service_type(), expected, "{}", zoo.log());
    assert_eq!(
        gateway.control_url().host_str(),
        Some("192.168.77.1"),
        "{}",
        zoo.log()
    );

    let g = gateway.clone();
    let (external, mapping) = zoo
        .lan()
        .block_on(move || async move {
            let external = g.external_address().await;
            let mapping = g
                .add_port_mapping(&MappingRequest::new(
                    Protocol::Tcp,
                    PORT,
                    PORT,
                    Duration::from_secs(3600),
                ))
                .await;
            (external, mapping)
        })
        .unwrap();
    let log = zoo.log();
    assert_eq!(
        external.unwrap_or_else(|e| panic!("{e}\n{log}")),
        IpAddr::V4(zoo.external_address())
    );
    let mapping = mapping.unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert_eq!(mapping.external_port, PORT);
    assert_eq!(mapping.internal_client, IpAddr::V4(zoo.lan().address()));
    assert!(
        zoo.tcp_reaches(zoo.lan(), PORT, zoo.external_socket(PORT))
            .unwrap(),
        "the mapping does not forward\n{}",
        zoo.log()
    );
    assert_eq!(zoo.redirections().unwrap().len(), 1);

    let g = gateway.clone();
    let listed = zoo
        .lan()
        .block_on(move || async move {
            if g.is_v2() {
                g.list_port_mappings(Protocol::Tcp, 1, 65535, false, 0)
                    .await
            } else {
                g.port_mappings().await
            }
        })
        .unwrap()
        .unwrap_or_else(|e| panic!("listing failed: {e}\n{}", zoo.log()));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].external_port, PORT);
    assert_eq!(listed[0].internal_port, PORT);
    assert_eq!(listed[0].internal_client, "192.168.77.10");

    let g = gateway.clone();
    zoo.lan()
        .block_on(move || async move { g.delete_port_mapping(Protocol::Tcp, PORT).await })
        .unwrap()
        .unwrap_or_else(|e| panic!("delete failed: {e}\n{}", zoo.log()));
    assert!(zoo.redirections().unwrap().is_empty());
    assert!(
        !zoo.tcp_reaches(zoo.lan(), PORT, zoo.external_socket(PORT))
            .unwrap()
    );
}

#[test]
fn dlink_dir890l_url_base_with_port_query_control_urls_uuid_st_two_ports() {
    igd_cycle(Profile::dlink_dir890l());
}

#[test]
fn broadcom_rootdevice_only_colon_path_http10_without_length_m_prefix() {
    igd_cycle(Profile::broadcom());
}

#[test]
fn cisco_cable_modem_other_source_port_scpd_comments_402_end() {
    igd_cycle(Profile::cisco_cable_modem());
}

#[test]
fn ddwrt_mixed_case_headers_and_stray_cr() {
    igd_cycle(Profile::ddwrt());
}

#[test]
fn old_miniupnpd_1_igd1_only() {
    igd_cycle(Profile::miniupnpd1());
}

#[test]
fn livebox_igd2_wanpppconnection2_without_root_services() {
    igd_cycle(Profile::livebox());
}

#[test]
fn dual_wan_takes_the_connected_ppp_service() {
    igd_cycle(Profile::dual_wan());
}

#[test]
fn fritzbox_skips_the_dslforum_service_that_wants_authentication() {
    igd_cycle(Profile::fritzbox());
}

#[test]
fn list_only_router_lists_through_get_list_of_port_mappings() {
    igd_cycle(Profile::list_only());
}

#[test]
fn linksys_wrt120n_soapaction_matched_case_sensitively() {
    igd_cycle(Profile::linksys_wrt120n());
}

/// `port_mappings()` is what callers (natctl list and unmap) use to read the table; on a
/// router without `GetGenericPortMappingEntry` it has to take the v2 listing.
#[test]
fn list_only_router_port_mappings_uses_the_v2_listing() {
    let Some(zoo) = ZooLab::for_test(Profile::list_only()) else {
        return;
    };
    let gateway = discover(&zoo, options());
    let g = gateway.clone();
    let listed = zoo
        .lan()
        .block_on(move || async move {
            g.add_port_mapping(&MappingRequest::new(
                Protocol::Udp,
                PORT,
                PORT,
                Duration::from_secs(600),
            ))
            .await
            .unwrap();
            g.port_mappings().await
        })
        .unwrap()
        .unwrap_or_else(|e| panic!("listing failed: {e}\n{}", zoo.log()));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0].protocol, listed[0].external_port),
        (Protocol::Udp, PORT)
    );
}

#[test]
fn a_rogue_igd_on_the_lan_is_not_used() {
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
    // The default options: the caller names no gateway; the routing table's is used.
    let gateway = discover(&zoo, DiscoverOptions::default());
    assert_eq!(
        gateway.control_url().host_str(),
        Some("192.168.77.1"),
        "{}",
        zoo.log()
    );
    let g = gateway.clone();
    let mapping = zoo
        .lan()
        .block_on(move || async move {
            g.add_port_mapping(&MappingRequest::new(
                Protocol::Tcp,
                PORT,
                PORT,
                Duration::from_secs(600),
            ))
            .await
        })
        .unwrap()
        .unwrap();
    assert_eq!(mapping.external_port, PORT);
    assert!(
        zoo.tcp_reaches(zoo.lan(), PORT, zoo.external_socket(PORT))
            .unwrap()
    );
}

#[test]
fn the_gateway_is_found_through_a_flood_of_5000_fake_answers() {
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
    let gateway = discover(&zoo, DiscoverOptions::default());
    assert_eq!(
        gateway.control_url().host_str(),
        Some("192.168.77.1"),
        "{}",
        zoo.log()
    );
    assert!(
        zoo.flood().unwrap().searches() > 0,
        "the flood never answered"
    );
}
