//! FRITZ!Box-like (AVM).
//!
//! Stands for a box that lists legacy `urn:dslforum-org` (TR-064) services beside the IGD
//! ones: a dslforum `WANPPPConnection:1` that answers every unauthenticated call with 606,
//! listed before the working `urn:schemas-upnp-org` `WANIPConnection:1`. The description is
//! `/igddesc.xml` on port 49000, as on AVM's boxes. Publicly recorded: the dslforum
//! services and their authentication as the project's issue lists them from aioupnp and
//! igd-next reports.

use super::{Profile, base, connection};

pub(super) fn profile() -> Profile {
    let mut p = base(
        "fritzbox",
        "FRITZ!Box 7590 UPnP/1.0 AVM FRITZ!Box 7590 154.07.57",
        "FRITZ!Box 7590",
        "75802409-bccb-40e7-8e6c-3431c2000001",
    );
    p.http.port = 49000;
    p.http.description_path = "/igddesc.xml";
    let mut tr064 = connection(
        "urn:dslforum-org:device:WANConnectionDevice:1",
        "urn:dslforum-org:service:WANPPPConnection:1",
        "/wanpppconnSCPD.xml",
        "/upnp/control/wanpppconn1",
    );
    tr064.needs_authentication = true;
    p.device.connections = vec![
        tr064,
        connection(
            "urn:schemas-upnp-org:device:WANConnectionDevice:1",
            "urn:schemas-upnp-org:service:WANIPConnection:1",
            "/igdconnSCPD.xml",
            "/igdupnp/control/WANIPConn1",
        ),
    ];
    p
}
