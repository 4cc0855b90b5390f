//! A router that lists mappings only through `GetListOfPortMappings`.
//!
//! Stands for IGD:2 stacks with `WANIPConnection:2` whose SCPD leaves out
//! `GetGenericPortMappingEntry` (and which answer it with 401 Invalid Action): a client
//! must list with the v2 action. Publicly recorded as the project's issue lists it from
//! igd-next and miniupnpc reports.

use super::{Profile, base, connection};

pub(super) fn profile() -> Profile {
    let mut p = base(
        "list-only",
        "Linux/4.9 UPnP/2.0 IGD2/1.0",
        "IGD2 Router",
        "4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e000001",
    );
    p.device.igd_version = 2;
    p.device.connections = vec![connection(
        "urn:schemas-upnp-org:device:WANConnectionDevice:2",
        "urn:schemas-upnp-org:service:WANIPConnection:2",
        "/WANIPCn.xml",
        "/ctl/IPConn",
    )];
    p.soap.generic_listing = false;
    p
}
