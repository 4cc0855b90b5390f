//! The IGD client's public value types: [`Protocol`], [`MappingRequest`], [`PortMapping`],
//! [`PortMappingEntry`], [`StatusInfo`] and [`Deleted`].

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

#[cfg(doc)]
use super::Gateway;

/// The longest lease asked for: `PortMappingLeaseDuration`'s maximum in WANIPConnection:2.
pub const MAX_LEASE: Duration = Duration::from_secs(604_800);

/// What [`Gateway::remove_port_mapping`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The gateway deleted the mapping.
    Removed,
    /// The gateway holds no such mapping (error 714, `NoSuchEntryInArray`): nothing to do.
    NotThere,
}

/// A transport protocol, written upper case on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `TCP`.
    Tcp,
    /// `UDP`.
    Udp,
}

impl Protocol {
    /// `"TCP"` or `"UDP"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;

    /// Parses `TCP` or `UDP`, in any case (devices differ).
    fn from_str(text: &str) -> std::result::Result<Protocol, String> {
        match text.trim() {
            t if t.eq_ignore_ascii_case("TCP") => Ok(Protocol::Tcp),
            t if t.eq_ignore_ascii_case("UDP") => Ok(Protocol::Udp),
            other => Err(format!("unknown protocol {other:?}")),
        }
    }
}

/// What to map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRequest {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port on the internal client.
    pub internal_port: u16,
    /// The external port wanted; 0 for any (the internal port is asked for first).
    pub external_port: u16,
    /// The LAN host to forward to; `None` for this host's address toward the gateway.
    pub internal_client: Option<IpAddr>,
    /// `NewPortMappingDescription`, shown in the router's UI.
    pub description: String,
    /// The lease asked for, at most [`MAX_LEASE`]; zero asks for a permanent mapping.
    pub lease: Duration,
}

impl MappingRequest {
    /// A request forwarding `external_port` to `internal_port` on this host for `lease`.
    pub fn new(
        protocol: Protocol,
        internal_port: u16,
        external_port: u16,
        lease: Duration,
    ) -> MappingRequest {
        MappingRequest {
            protocol,
            internal_port,
            external_port,
            internal_client: None,
            description: "upnp-soap".to_owned(),
            lease,
        }
    }
}

/// A mapping the gateway granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The external port granted (may differ from the one asked for after a conflict).
    pub external_port: u16,
    /// The LAN host traffic goes to.
    pub internal_client: IpAddr,
    /// The port on the LAN host.
    pub internal_port: u16,
    /// The description sent.
    pub description: String,
    /// The lease asked for and accepted; zero for a permanent mapping.
    pub lease: Duration,
    /// The mapping has no lease (the gateway only supports permanent leases, or one was
    /// asked for): it stays until deleted with [`Gateway::delete_port_mapping`].
    pub permanent: bool,
}

/// A mapping as the gateway lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMappingEntry {
    /// `NewRemoteHost`: the only remote host allowed, empty for any.
    pub remote_host: String,
    /// `NewExternalPort`.
    pub external_port: u16,
    /// `NewProtocol`.
    pub protocol: Protocol,
    /// `NewInternalPort`.
    pub internal_port: u16,
    /// `NewInternalClient`, as the gateway wrote it (an address, normally).
    pub internal_client: String,
    /// `NewEnabled`.
    pub enabled: bool,
    /// `NewPortMappingDescription` (`NewDescription` in a port listing).
    pub description: String,
    /// The remaining lease (`NewLeaseDuration` / `NewLeaseTime`); zero for permanent.
    pub lease_duration: Duration,
}

/// The connection's state (`GetStatusInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInfo {
    /// `NewConnectionStatus`: `Connected`, `Disconnected`, `Unconfigured`, ...
    pub connection_status: String,
    /// `NewLastConnectionError`, e.g. `ERROR_NONE`.
    pub last_connection_error: String,
    /// `NewUptime`, when it parses.
    pub uptime: Option<Duration>,
}

impl StatusInfo {
    /// Whether the status is `Connected`.
    pub fn is_connected(&self) -> bool {
        self.connection_status.eq_ignore_ascii_case("Connected")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_are_upper_case_on_the_wire() {
        assert_eq!(Protocol::Tcp.to_string(), "TCP");
        assert_eq!(Protocol::Udp.as_str(), "UDP");
        assert_eq!("tcp".parse::<Protocol>(), Ok(Protocol::Tcp));
        assert!("sctp".parse::<Protocol>().is_err());
    }
}
