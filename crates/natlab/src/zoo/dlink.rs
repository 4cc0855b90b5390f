//! D-Link DIR-890L-like.
//!
//! Stands for D-Link's own UPnP stack: the description carries a `URLBase` with the port
//! (`http://address:port`, no trailing slash) and control URLs with query strings
//! (`/soap.cgi?service=WANIPConn1`); an IGD search is answered with `ST: uuid:...` instead
//! of the searched type; and every answer comes twice, from two daemons on two source ports.
//! Publicly recorded: a D-Link description with `<URLBase>http://192.168.20.1:5556</URLBase>`
//! and `controlURL`s like `/ctrl?1` in home-assistant/core#76383; the uuid-ST and two-port
//! answers as described in the project's issue from miniupnpc and igd-next reports.

use std::time::Duration;

use super::{HeaderCase, Profile, base, connection};

pub(super) fn profile() -> Profile {
    let mut p = base(
        "dlink-dir890l",
        "Linux, UPnP/1.0, DIR-890L Ver 1.10",
        "D-Link DIR-890L",
        "9d2bc6f1-5b3e-4f0e-8a1d-d8fee3000001",
    );
    p.ssdp.uuid_st = true;
    p.ssdp.source_ports = vec![1900, 49153];
    p.ssdp.header_case = HeaderCase::Title;
    p.ssdp.delay = Duration::from_millis(30);
    p.http.port = 49152;
    p.http.description_path = "/rootDesc.xml";
    p.http.url_base = true;
    p.http.header_case = HeaderCase::Title;
    p.device.connections = vec![connection(
        "urn:schemas-upnp-org:device:WANConnectionDevice:1",
        "urn:schemas-upnp-org:service:WANIPConnection:1",
        "/WANIPConnection.xml",
        "/soap.cgi?service=WANIPConn1",
    )];
    p
}
