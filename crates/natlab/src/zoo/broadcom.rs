//! Broadcom-stack router (the Broadcom reference UPnP daemon in many ISP boxes).
//!
//! Stands for a stack that answers only `upnp:rootdevice` searches (not the IGD or WAN
//! service types), whose LOCATION path holds colons and has no `.xml`
//! (`/dyndev/uuid:...`), which answers HTTP/1.0 without `Content-Length` (the body ends
//! when the connection closes), and whose SOAP responses use the `m:` prefix. Publicly
//! recorded: devices that answer only `upnp:rootdevice` in openhab/openhab-core#3933 and in
//! miniupnpc's search list (it ends with `upnp:rootdevice` for such devices, see
//! dariusc93/rust-igd#29); the other quirks as the project's issue lists them.

use super::{Answers, Profile, base};

pub(super) fn profile() -> Profile {
    let mut p = base(
        "broadcom",
        "Linux/2.6.36, UPnP/1.0, Portable SDK for UPnP devices/1.6.18",
        "Broadcom IGD",
        "5f9ec1b3-ed59-4f6b-9b0c-00904c000001",
    );
    p.ssdp.answers = Answers::RootDeviceOnly;
    p.http.port = 1780;
    p.http.description_path = "/dyndev/uuid:5f9ec1b3-ed59-4f6b-9b0c-00904c000001";
    p.http.http10_without_length = true;
    p.soap.prefix = "m";
    p.device.connections[0].scpd_path = "/dynsvc/WANIPConnection:1.xml";
    p.device.connections[0].control_path = "/control/WANIPConnection";
    p
}
