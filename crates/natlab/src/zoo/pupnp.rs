//! A pupnp (libupnp, "Portable SDK for UPnP devices") router that registers two root
//! devices, an `InternetGatewayDevice:2` and an `InternetGatewayDevice:1`, each with its own
//! description, UUID and WAN connection (`WANIPConnection:2` and `:1`), and answers every
//! search with both, in random order.
//!
//! Stands for the linux-igd/pupnp gateways that keep an IGD:1 root for old clients beside
//! the IGD:2 one: a search for `InternetGatewayDevice:1`, `WANIPConnection:1` or
//! `upnp:rootdevice` is answered once per root, so a client that takes the first answer
//! gets the version-1 service about half the time. Publicly recorded: routers answering an
//! IGD:1 search with an IGD:2 description and clients missing the version-2 service
//! (sbstp/rust-igd#12, #28 and #51; miniupnp/miniupnp#121 on telling IGD:1 from IGD:2), and
//! StevenLooman/async_upnp_client#206 (home-assistant/core#91488) adding
//! `WANIPConnection:2` to a client that only knew version 1.

use super::{Connection, Profile, base, connection};

pub(super) fn profile() -> Profile {
    let mut p = base(
        "pupnp-two-roots",
        "Linux/4.4, UPnP/1.0, Portable SDK for UPnP devices/1.14.18",
        "Gateway (IGD:2)",
        "2f0a1b2c-3d4e-4f50-8a6b-7c8d9e000002",
    );
    p.http.port = 49152;
    p.http.description_path = "/gatedesc2.xml";
    p.device.igd_version = 2;
    p.device.connections = vec![connection(
        "urn:schemas-upnp-org:device:WANConnectionDevice:2",
        "urn:schemas-upnp-org:service:WANIPConnection:2",
        "/gateconnSCPD2.xml",
        "/upnp/control/WANIPConn2",
    )];
    p.second_root = Some(SecondRoot {
        description_path: "/gatedesc1.xml",
        igd_version: 1,
        uuid: "2f0a1b2c-3d4e-4f50-8a6b-7c8d9e000001",
        connection: connection(
            "urn:schemas-upnp-org:device:WANConnectionDevice:1",
            "urn:schemas-upnp-org:service:WANIPConnection:1",
            "/gateconnSCPD1.xml",
            "/upnp/control/WANIPConn1",
        ),
    });
    p
}

/// A second root device served beside the profile's own: its own description, UUID and
/// one connection, sharing the fixture's mapping table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondRoot {
    /// The path of its description (its LOCATION's path).
    pub description_path: &'static str,
    /// The version of its `InternetGatewayDevice` and `WANDevice` (1 or 2).
    pub igd_version: u8,
    /// Its UUID (without `uuid:`).
    pub uuid: &'static str,
    /// Its one WAN connection.
    pub connection: Connection,
}
