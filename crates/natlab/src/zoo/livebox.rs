//! LiveBox-like (Orange's LiveBox and other Sagemcom IGD:2 boxes).
//!
//! Stands for an `InternetGatewayDevice:2` root with no service list at the root, a
//! `WANConnectionDevice:2`, and the connection as `WANPPPConnection:2` (a type the IGD:2
//! specification does not define, yet that is what these boxes list). Publicly recorded:
//! the WANPPPConnection:2 LiveBox as the project's issue lists it from igd-next and aioupnp
//! reports; Sagemcom boxes answering with uuid targets in tailscale/tailscale#3557.

use super::{Profile, base, connection};

pub(super) fn profile() -> Profile {
    let mut p = base(
        "livebox",
        "Linux/3.4 UPnP/1.0 Sagemcom/1.0",
        "Livebox",
        "7b5c6d1e-2a3f-4b4c-9d5e-6f7a8b000001",
    );
    p.http.port = 49152;
    p.http.description_path = "/gatedesc.xml";
    p.device.igd_version = 2;
    p.device.root_services = false;
    p.device.connections = vec![connection(
        "urn:schemas-upnp-org:device:WANConnectionDevice:2",
        "urn:schemas-upnp-org:service:WANPPPConnection:2",
        "/WANPPPConn.xml",
        "/upnp/control/WANPPPConn1",
    )];
    p
}
