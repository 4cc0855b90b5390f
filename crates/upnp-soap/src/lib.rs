//! UPnP device descriptions, service descriptions (SCPD), a generic SOAP dispatcher, and an
//! Internet Gateway Device client that maps ports.
//!
//! It starts where SSDP ends: with the LOCATION URL of a search response and the address
//! that sent it. Every request goes to that address only (`http://`, IP literal, no
//! redirects), under a connect timeout, an exchange timeout and a body cap; every document
//! from the router is parsed within size and depth limits and without DTDs, so a hostile or
//! broken router yields a typed error, never a panic or an unbounded read.
//!
//! # Example
//!
//! Parsing needs no network (`cargo test -p natkit-upnp-soap --doc` runs this):
//!
//! ```
//! use upnp_soap::{Description, parse_url};
//!
//! let location = parse_url("http://192.168.1.1:5000/rootDesc.xml")?;
//! let xml = br#"<?xml version="1.0"?>
//! <root xmlns="urn:schemas-upnp-org:device-1-0">
//!   <device>
//!     <deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
//!     <friendlyName>Router</friendlyName>
//!     <deviceList><device>
//!       <deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
//!       <serviceList><service>
//!         <serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
//!         <serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
//!         <SCPDURL>/WANIPCn.xml</SCPDURL>
//!         <controlURL>ctl/IPConn</controlURL>
//!         <eventSubURL>/evt/IPConn</eventSubURL>
//!       </service></serviceList>
//!     </device></deviceList>
//!   </device>
//! </root>"#;
//! let description = Description::parse(xml, &location)?;
//! let service = description
//!     .find_service("urn:schemas-upnp-org:service:WANIPConnection:1")
//!     .expect("the embedded device's service is found");
//! assert_eq!(service.control_url.as_str(), "http://192.168.1.1:5000/ctl/IPConn");
//! assert_eq!(description.devices().count(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Talking to a gateway (the LOCATION and responder come from an SSDP search):
//!
//! ```no_run
//! use std::time::Duration;
//! use upnp_soap::igd::{Gateway, MappingRequest, Protocol};
//! use upnp_soap::{Config, RootDevice, parse_url};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let location = parse_url("http://192.168.1.1:5000/rootDesc.xml")?;
//! let responder = "192.168.1.1".parse()?;
//!
//! // The IGD client.
//! let gateway = Gateway::connect(&location, responder, Config::default()).await?;
//! let external = gateway.external_address().await?;
//! let request = MappingRequest::new(Protocol::Tcp, 8080, 8080, Duration::from_secs(3600));
//! let mapping = gateway.add_port_mapping(&request).await?;
//! println!("{external}:{} -> {}:{}", mapping.external_port, mapping.internal_client, mapping.internal_port);
//! gateway.delete_port_mapping(Protocol::Tcp, mapping.external_port).await?;
//!
//! // The generic dispatcher: any service, any action, checked against the SCPD.
//! let root = RootDevice::fetch(&location, responder, Config::default()).await?;
//! for service in root.description().services() {
//!     let client = root.service_client(service).await?;
//!     for action in client.actions() {
//!         println!("{} {}", service.service_type, action.name);
//!     }
//! }
//! let client = gateway.service_client();
//! let reply = client.call("GetExternalIPAddress", &[]).await?;
//! println!("{:?}", reply.get("NewExternalIPAddress"));
//! # Ok(())
//! # }
//! ```
//!
//! IPv6 pinholes (the gateway's firewall, not its NAT) go through [`pinhole`]; see its
//! documentation for why they are asked for over IPv6.
//!
//! # Feature flags
//!
//! None: the crate always needs tokio (it talks HTTP over tokio's TCP) and the `ssdp`
//! crate's search.
//!
//! # Dependencies
//!
//! [`Url`] is [`url::Url`] (the `url` crate with only its `std` feature), held to a strict
//! router-URL policy by [`parse_url`], [`join_url`] and [`check_router_url`]. `url` parses
//! internationalised domain names, so `idna` and the ICU Unicode tables come with it, though
//! router URLs are ASCII and the policy refuses anything else. Measured with `cargo tree -e
//! normal` on this crate: 71 lines and 33 unique crates with the crate's former own parser,
//! 140 lines and 61 crates with `url` (`--prefix none | sort -u` counts 44 and 81, as it
//! also counts the `(*)` repeats); natkit-nat-traversal went from 90 lines / 38 crates to
//! 159 / 66 (50 and 87 by `sort -u`). An application that pins `idna_adapter` 1.0 in its own
//! lock file (`cargo update -p idna_adapter --precise 1.0.0`, ASCII-only, enough for router
//! URLs) drops the ICU tables again: 80 lines / 40 crates for this crate.
//!
//! The package is published as `natkit-upnp-soap`; the library is `upnp_soap`.
//!
//! # Layout
//!
//! - `router_url`: the router-URL policy over [`Url`] ([`url::Url`]): [`parse_url`],
//!   [`join_url`], [`check_router_url`], [`router_url`], the [`host_ip`] and
//!   [`request_target`] helpers, and [`UrlError`].
//! - `error`: [`Error`] (HTTP, XML, URL, argument checks, faults), [`UpnpError`] (a
//!   device's `<UPnPError>`), and the well-known codes in [`code`]. The IGD client's
//!   [`IgdError`] and the firewall control's [`PinholeError`] wrap [`Error`] and are
//!   re-exported here.
//! - `http`: [`Config`] and [`HttpClient`], the hyper 1 client pinned to the responder.
//! - `xml` (private): bounded parsing of untrusted XML (size, depth, element count, no
//!   DTD) and the shared helpers; [`escape`].
//! - `description`: [`Description`], [`Device`], [`Service`], with URLs resolved against
//!   `URLBase` or the LOCATION.
//! - `scpd`: [`Scpd`], [`Action`], [`Argument`], [`StateVariable`], and the argument check.
//! - [`soap`]: the request envelope and the pure response parser ([`soap::parse_response`]).
//! - `control`: the generic dispatcher, [`RootDevice`] and [`ServiceClient`].
//! - [`igd`]: [`igd::Gateway`] over WANIPConnection, WANPPPConnection (any version) and their
//!   dslforum variants.
//! - [`gena`]: event subscriptions ([`gena::Subscription`]) and the callback server
//!   ([`gena::EventListener`]) that learns a router's new external address at once.
//! - [`pinhole`]: [`pinhole::FirewallControl`], IPv6 pinholes through an IGDv2's
//!   `WANIPv6FirewallControl:1` (open, refresh, delete, status), over IPv6 to the router.
//! - `discover`: [`discover`] and [`discover_root`], an SSDP search (the `ssdp` crate) for the
//!   IGD that returns on the gateway's first usable answer instead of waiting out the scan;
//!   an IGD on another LAN host only when allowed ([`DiscoverOptions::allow_other_igd`]),
//!   and then labelled ([`RootDevice::on_default_gateway`]).
//!
//! # HTTP details
//!
//! Header names go out in title case, except `SOAPAction`, which goes out exactly as the
//! UPnP Device Architecture spells it: some routers (a Linksys WRT120N among them) match
//! it byte for byte. Each request uses its own connection and says
//! `Connection: close`. Response bodies may be chunked; requests never are.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod control;
mod description;
mod discover;
mod error;
pub mod gena;
mod http;
pub mod igd;
pub mod pinhole;
mod router_url;
mod scpd;
pub mod soap;
mod xml;

pub use control::{RootDevice, ServiceClient};
pub use description::{Description, Device, Service, split_type, type_satisfies};
pub use discover::{
    DiscoverError, DiscoverOptions, Discovered, FIRST_SEARCH_TARGET, FIRST_STAGE,
    GATEWAY_SEARCH_TARGETS, MAX_DESCRIPTIONS, discover, discover_fast, discover_root,
};
pub use error::{Error, Result, UpnpError, code};
pub use http::{Config, HttpClient};
pub use igd::IgdError;
pub use pinhole::PinholeError;
pub use router_url::{
    MAX_URL_LEN, UrlError, check_router_url, host_ip, join_url, parse_url, request_target,
    router_url,
};
pub use scpd::{Action, AllowedRange, Argument, Direction, Scpd, StateVariable};
pub use soap::Arguments;
pub use url::Url;
pub use xml::escape;
