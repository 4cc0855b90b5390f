//! Cisco cable-modem-like (the UPnP stack of DOCSIS gateways handed out by cable ISPs).
//!
//! Stands for a gateway whose search answers come from a source port other than 1900,
//! whose SCPDs have comments between the XML declaration and `<scpd>`, and whose generic
//! port mapping listing ends with 402 (Invalid Args) instead of 713. Publicly recorded:
//! answers from other source ports in cybergarage/mupnp#18 and
//! ghitchens/nerves_ssdp_server#5 (clients that expect 1900 miss them); the comment and
//! the 402 as the project's issue lists them from miniupnpc reports.

use super::{HeaderCase, Profile, base};

pub(super) fn profile() -> Profile {
    let mut p = base(
        "cisco-cable-modem",
        "Cisco/1.0 UPnP/1.0 DPC3848",
        "Cisco DPC3848",
        "a1b2c3d4-0000-4000-8000-c15c0cab1e01",
    );
    p.ssdp.source_ports = vec![49300];
    p.ssdp.header_case = HeaderCase::Title;
    p.http.port = 2869;
    p.http.description_path = "/IGatewayDeviceDescDoc";
    p.http.comment_before_scpd = true;
    p.soap.end_of_listing = 402;
    p.device.connections[0].scpd_path = "/WANIPConnectionServiceDescDoc";
    p.device.connections[0].control_path = "/upnp/control/WANIPConnection";
    p
}
