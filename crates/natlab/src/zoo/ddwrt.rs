//! DD-WRT-like (DD-WRT's own UPnP daemon).
//!
//! Stands for mixed-case header names in SSDP and HTTP answers, documents with CRLF line
//! ends that end in a stray `\r`, and control URLs with a query string
//! (`/control?WANIPConnection`). Publicly recorded: a DD-WRT description with
//! `controlURL`s `/control?Layer3Forwarding` on port 1780 in ofekp/TinyUPnP#9; the header
//! case and the stray `\r` as the project's issue lists them.

use super::{HeaderCase, Profile, base};

pub(super) fn profile() -> Profile {
    let mut p = base(
        "ddwrt",
        "DD-WRT UPnP/1.0 v24",
        "DD-WRT Router",
        "1663857c-d3a1-6002-475e-05a68f000001",
    );
    p.ssdp.header_case = HeaderCase::Mixed;
    p.http.port = 1781;
    p.http.description_path = "/InternetGatewayDevice.xml";
    p.http.header_case = HeaderCase::Mixed;
    p.http.crlf_stray_cr = true;
    p.device.connections[0].scpd_path = "/x_wanipconnection.xml";
    p.device.connections[0].control_path = "/control?WANIPConnection";
    p
}
