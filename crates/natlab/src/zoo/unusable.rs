//! Gateways whose own IGD answer a client must refuse, one per reason ([`Unusable`]): the
//! router is the default gateway and answers the search, but what it points at cannot be
//! used safely. A client should end with the reason soon after that answer, not wait out
//! its whole timeout.
//!
//! Each stands for behaviour seen in the field and recorded publicly:
//! - LOCATION on another host, or not `http://`: devices advertising descriptions they do
//!   not serve, or serve elsewhere (flyte/upnpclient#8; syncthing/syncthing#1542, where a
//!   second responder's description hung discovery for 30 s); Tailscale's portmapper and
//!   miniupnpc only talk to the gateway that answered.
//! - a huge, malformed, or DTD-carrying description: XML parsers of embedded stacks are
//!   fed whatever the router sends (billion-laughs entity expansion is why parsers refuse
//!   DTDs; aioupnp and async_upnp_client reject them); miniupnp/miniupnp#253 shows a
//!   description clients could not read as an IGD.
//! - a control URL on another host or with user info: descriptions with absolute control
//!   URLs (home-assistant/core#76383 lists one on the router's own address; a URL on any
//!   other host, or with credentials in it, must not be followed).
//! - a redirect, a dropped connection, a body shorter than its `Content-Length`: web
//!   servers of routers answering description requests with a 30x to their login page,
//!   resetting the connection, or cutting the body (ofekp/TinyUPnP#14 and #19 record
//!   501 pages and resets from such servers).

use super::{Profile, base};

pub(super) fn profile(reason: Unusable) -> Profile {
    let name = match reason {
        Unusable::LocationOffGateway => "unusable-location-off-gateway",
        Unusable::LocationNotHttp => "unusable-location-not-http",
        Unusable::HugeDescription => "unusable-huge-description",
        Unusable::MalformedDescription => "unusable-malformed-description",
        Unusable::DescriptionWithDtd => "unusable-description-with-dtd",
        Unusable::ControlUrlOffGateway => "unusable-control-url-off-gateway",
        Unusable::ControlUrlWithUserInfo => "unusable-control-url-with-user-info",
        Unusable::Redirect => "unusable-redirect",
        Unusable::DroppedConnection => "unusable-dropped-connection",
        Unusable::ShortBody => "unusable-short-body",
    };
    let mut p = base(
        name,
        "Linux/3.10 UPnP/1.0 hostile/1.0",
        "Unusable Gateway",
        "dead0000-0000-4000-8000-000000000017",
    );
    p.unusable = Some(reason);
    p
}

/// Why a hostile gateway's own IGD answer cannot be used: each stands for a real router
/// behaviour a client has to refuse (see `unusable.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// The LOCATION names another host than the one answering.
    LocationOffGateway,
    /// The LOCATION is not `http://` (`https://`).
    LocationNotHttp,
    /// The description is larger than any client reads (2 MiB).
    HugeDescription,
    /// The description is not well-formed XML.
    MalformedDescription,
    /// The description carries a document type declaration (entity expansion).
    DescriptionWithDtd,
    /// The WAN connection's control URL names another host.
    ControlUrlOffGateway,
    /// The WAN connection's control URL carries user info (`http://admin:admin@...`).
    ControlUrlWithUserInfo,
    /// The description is answered with a redirect.
    Redirect,
    /// The description's connection is closed without an answer.
    DroppedConnection,
    /// The description's body is shorter than its `Content-Length`.
    ShortBody,
}

impl Unusable {
    /// Every reason, one hostile gateway each.
    pub fn all() -> [Unusable; 10] {
        [
            Unusable::LocationOffGateway,
            Unusable::LocationNotHttp,
            Unusable::HugeDescription,
            Unusable::MalformedDescription,
            Unusable::DescriptionWithDtd,
            Unusable::ControlUrlOffGateway,
            Unusable::ControlUrlWithUserInfo,
            Unusable::Redirect,
            Unusable::DroppedConnection,
            Unusable::ShortBody,
        ]
    }
}
