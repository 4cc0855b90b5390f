//! Linksys WRT120N-like: a web server that matches the `SOAPAction` header name
//! case-sensitively.
//!
//! Stands for routers whose embedded HTTP server takes a POST as SOAP only when the header
//! is written `SOAPAction` (or `SOAPACTION`); with `Soapaction` the request falls through to
//! the web pages and the answer is `501 Not Implemented` (or the login page). HTTP header
//! names are case-insensitive, but the SOAP note spells the header `SOAPAction` and such
//! servers compare bytes. Publicly recorded: syncthing/syncthing#1696 (a WRT120N answering
//! `Soapaction` with "501 Not Implemented" and `SOAPACTION` with the SOAP response) and
//! jupnp/jupnp#120 (a router answering `Soapaction` with its login page).

use super::{Profile, base};

pub(super) fn profile() -> Profile {
    let mut p = base(
        "linksys-wrt120n",
        "WRT120N/1.0 UPnP/1.0 UPnP-Device-Host/1.0",
        "Linksys WRT120N",
        "0a799cee-258e-494f-be06-1c7ee5000001",
    );
    p.http.port = 80;
    p.http.description_path = "/rootDesc.xml";
    p.soap.soapaction_case_sensitive = true;
    p
}
