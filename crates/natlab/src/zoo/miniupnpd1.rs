//! An old miniupnpd 1.x (firmware of the late 2000s, still in service).
//!
//! Stands for IGD:1 with only `WANIPConnection:1` (no `AddAnyPortMapping`, no
//! `GetListOfPortMappings`: listing goes through `GetGenericPortMappingEntry`, ending in
//! 713), and leases ignored: mappings are reported with lease 0 (permanent). Publicly
//! recorded: in miniupnp/miniupnp#463 the maintainer notes that in almost all IGD1
//! implementations mappings were not time limited (duration 0); routers that report a
//! different duration than asked in miniupnp/miniupnp#398.

use super::{Profile, base};

pub(super) fn profile() -> Profile {
    let mut p = base(
        "miniupnpd-1",
        "Linux/2.6.22 UPnP/1.0 miniupnpd/1.0",
        "WANConnectionDevice",
        "2d4b1f2e-1dd2-11b2-8f5a-000c29000001",
    );
    p.http.port = 2555;
    p.soap.ignores_lease = true;
    p
}
