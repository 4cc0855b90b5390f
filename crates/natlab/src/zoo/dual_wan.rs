//! A router with both a WANIP and a WANPPP connection where only one is connected.
//!
//! Stands for DSL routers that list a `WANIPConnection:1` (down: `Disconnected`, external
//! address `0.0.0.0`, mappings refused) beside the `WANPPPConnection:1` that carries the
//! traffic. A client that takes the first connection service it finds maps nothing.
//! Publicly recorded: miniupnpc's "connected IGD" check (upnpc prints "Found a (not
//! connected?) IGD") and igd-next reports of routers with an unused WANIPConnection, as
//! the project's issue lists them.

use super::{Profile, base, connection};

pub(super) fn profile() -> Profile {
    let mut p = base(
        "dual-wan",
        "Linux/4.1 UPnP/1.0 Avalanche/1.0",
        "DSL Router",
        "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c000001",
    );
    p.http.port = 5431;
    let mut ip = connection(
        "urn:schemas-upnp-org:device:WANConnectionDevice:1",
        "urn:schemas-upnp-org:service:WANIPConnection:1",
        "/WANIPCn.xml",
        "/ctl/IPConn",
    );
    ip.connected = false;
    p.device.connections = vec![
        ip,
        connection(
            "urn:schemas-upnp-org:device:WANConnectionDevice:1",
            "urn:schemas-upnp-org:service:WANPPPConnection:1",
            "/WANPPPCn.xml",
            "/ctl/PPPConn",
        ),
    ];
    p
}
