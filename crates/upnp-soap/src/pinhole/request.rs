//! What a pinhole is asked for ([`PinholeRequest`], [`Protocol`]), what the gateway grants
//! ([`Pinhole`]) and reports ([`FirewallStatus`]); the checks made before sending and the
//! in arguments as they go on the wire.

use std::fmt;
use std::net::Ipv6Addr;
use std::time::Duration;

use super::error::{PinholeError, Result};

/// The shortest lease `AddPinhole` and `UpdatePinhole` take (`A_ARG_TYPE_LeaseTime`).
pub const MIN_LEASE: Duration = Duration::from_secs(1);

/// The longest lease `AddPinhole` and `UpdatePinhole` take (`A_ARG_TYPE_LeaseTime`): a day.
pub const MAX_LEASE: Duration = Duration::from_secs(86_400);

/// The protocol of a pinhole: an IANA protocol number, or 65535 for any protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Protocol(u16);

impl Protocol {
    /// TCP (6).
    pub const TCP: Protocol = Protocol(6);
    /// UDP (17).
    pub const UDP: Protocol = Protocol(17);
    /// UDP-Lite (136).
    pub const UDP_LITE: Protocol = Protocol(136);
    /// SCTP (132).
    pub const SCTP: Protocol = Protocol(132);
    /// Any protocol (65535), which gateways may refuse (707 `ProtocolWildcardingNotAllowed`).
    pub const ANY: Protocol = Protocol(65_535);

    /// The protocol with IANA number `number`.
    pub const fn number(number: u8) -> Protocol {
        Protocol(number as u16)
    }

    /// The protocol as the service writes it (`A_ARG_TYPE_Protocol`): an IANA number up to
    /// 255, or 65535 for any; `None` for the values between.
    pub const fn from_wire(value: u16) -> Option<Protocol> {
        if value <= 255 || value == 65_535 {
            Some(Protocol(value))
        } else {
            None
        }
    }

    /// The value on the wire: 6, 17, ..., 65535.
    pub const fn to_wire(self) -> u16 {
        self.0
    }

    /// Whether this is the wildcard, any protocol.
    pub const fn is_any(self) -> bool {
        self.0 == 65_535
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Protocol::TCP => f.write_str("TCP"),
            Protocol::UDP => f.write_str("UDP"),
            Protocol::UDP_LITE => f.write_str("UDP-Lite"),
            Protocol::SCTP => f.write_str("SCTP"),
            Protocol::ANY => f.write_str("any protocol"),
            Protocol(n) => write!(f, "protocol {n}"),
        }
    }
}

impl From<crate::igd::Protocol> for Protocol {
    fn from(protocol: crate::igd::Protocol) -> Protocol {
        match protocol {
            crate::igd::Protocol::Tcp => Protocol::TCP,
            crate::igd::Protocol::Udp => Protocol::UDP,
        }
    }
}

/// A pinhole to open: traffic of `protocol` from `remote_host`:`remote_port` (each may be
/// the wildcard) to `internal_client`:`internal_port`, for `lease`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PinholeRequest {
    /// The only remote host let in; `None` for any (`RemoteHost` empty).
    pub remote_host: Option<Ipv6Addr>,
    /// The only remote port let in; 0 for any.
    pub remote_port: u16,
    /// The LAN host the pinhole lets traffic to. miniupnpd (secure mode) only opens
    /// pinholes for the address the request comes from, so send from this address.
    pub internal_client: Ipv6Addr,
    /// The port on the LAN host; never 0 (a pinhole to every port is refused before
    /// sending).
    pub internal_port: u16,
    /// The protocol.
    pub protocol: Protocol,
    /// The lease, [`MIN_LEASE`] to [`MAX_LEASE`]; fractions of a second are dropped.
    pub lease: Duration,
}

impl PinholeRequest {
    /// A pinhole letting any remote host and port reach `internal_client`:`internal_port`
    /// over `protocol` for `lease`.
    pub fn new(
        internal_client: Ipv6Addr,
        internal_port: u16,
        protocol: Protocol,
        lease: Duration,
    ) -> PinholeRequest {
        PinholeRequest {
            remote_host: None,
            remote_port: 0,
            internal_client,
            internal_port,
            protocol,
            lease,
        }
    }

    /// Only lets `remote_host` in (`None`: any host).
    pub fn with_remote_host(mut self, remote_host: Option<Ipv6Addr>) -> PinholeRequest {
        self.remote_host = remote_host;
        self
    }

    /// Only lets `remote_port` in (0: any port).
    pub fn with_remote_port(mut self, remote_port: u16) -> PinholeRequest {
        self.remote_port = remote_port;
        self
    }

    /// Checks the request as `AddPinhole` would send it.
    ///
    /// # Errors
    /// [`PinholeError::LeaseOutOfRange`], [`PinholeError::InternalPortWildcard`],
    /// [`PinholeError::InvalidInternalClient`] (unspecified, loopback, multicast, link-local or
    /// IPv4-mapped: no WAN host can reach those), [`PinholeError::InvalidRemoteHost`] (unspecified
    /// or multicast).
    pub fn check(&self) -> Result<()> {
        lease_seconds(self.lease)?;
        self.check_addresses()?;
        if self.internal_port == 0 {
            return Err(PinholeError::InternalPortWildcard {
                internal_client: self.internal_client,
            });
        }
        Ok(())
    }

    /// The addresses' checks, shared with `GetOutboundPinholeTimeout` (which allows
    /// wildcard ports and has no lease).
    pub(crate) fn check_addresses(&self) -> Result<()> {
        if let Some(reason) = unusable_internal_client(self.internal_client) {
            return Err(PinholeError::InvalidInternalClient {
                address: self.internal_client,
                reason,
            });
        }
        if let Some(address) = self.remote_host {
            let reason = if address.is_unspecified() {
                Some("unspecified")
            } else if address.is_multicast() {
                Some("multicast")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(PinholeError::InvalidRemoteHost { address, reason });
            }
        }
        Ok(())
    }

    /// The in arguments of `GetOutboundPinholeTimeout` (and the first five of
    /// `AddPinhole`), in the service's order.
    pub(crate) fn flow_arguments(&self) -> [(&'static str, String); 5] {
        [
            (
                "RemoteHost",
                self.remote_host.map(|a| a.to_string()).unwrap_or_default(),
            ),
            ("RemotePort", self.remote_port.to_string()),
            ("InternalClient", self.internal_client.to_string()),
            ("InternalPort", self.internal_port.to_string()),
            ("Protocol", self.protocol.to_wire().to_string()),
        ]
    }

    /// The in arguments of `AddPinhole`, in the service's order, after [`check`](Self::check).
    ///
    /// # Errors
    /// Those of [`check`](Self::check).
    pub fn add_pinhole_arguments(&self) -> Result<Vec<(&'static str, String)>> {
        self.check()?;
        let mut arguments = self.flow_arguments().to_vec();
        arguments.push(("LeaseTime", lease_seconds(self.lease)?.to_string()));
        Ok(arguments)
    }
}

/// Why `address` cannot be a pinhole's internal client, if it cannot.
fn unusable_internal_client(address: Ipv6Addr) -> Option<&'static str> {
    if address.is_unspecified() {
        Some("unspecified")
    } else if address.is_loopback() {
        Some("loopback")
    } else if address.is_multicast() {
        Some("multicast")
    } else if address.is_unicast_link_local() {
        Some("link-local")
    } else if address.to_ipv4_mapped().is_some() {
        Some("an ipv4-mapped address")
    } else {
        None
    }
}

/// The lease in whole seconds, within [`MIN_LEASE`] and [`MAX_LEASE`].
///
/// # Errors
/// [`PinholeError::LeaseOutOfRange`].
pub(crate) fn lease_seconds(lease: Duration) -> Result<u32> {
    let seconds = lease.as_secs();
    if (MIN_LEASE.as_secs()..=MAX_LEASE.as_secs()).contains(&seconds) {
        // Within 86400, so it fits.
        Ok(seconds as u32)
    } else {
        Err(PinholeError::LeaseOutOfRange { lease })
    }
}

/// A pinhole the gateway opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pinhole {
    /// The gateway's `UniqueID` for it: what [`update_pinhole`] and [`delete_pinhole`] take.
    ///
    /// [`update_pinhole`]: super::FirewallControl::update_pinhole
    /// [`delete_pinhole`]: super::FirewallControl::delete_pinhole
    pub id: u16,
    /// The lease asked for and accepted (whole seconds); the pinhole closes after it unless
    /// updated.
    pub lease: Duration,
}

/// The firewall's state (`GetFirewallStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FirewallStatus {
    /// `FirewallEnabled`: the IPv6 firewall filters inbound traffic. When it is off, inbound
    /// traffic is not filtered and pinholes are not managed (702 `FirewallDisabled`).
    pub firewall_enabled: bool,
    /// `InboundPinholeAllowed`: the policy lets control points open pinholes.
    pub inbound_pinhole_allowed: bool,
}

impl FirewallStatus {
    /// Whether `AddPinhole` can succeed: the firewall is on and allows inbound pinholes.
    pub fn pinholes_possible(self) -> bool {
        self.firewall_enabled && self.inbound_pinhole_allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> PinholeRequest {
        PinholeRequest::new(
            "2001:db8:77::10".parse().unwrap(),
            8080,
            Protocol::TCP,
            Duration::from_secs(3600),
        )
    }

    #[test]
    fn add_pinhole_arguments_in_the_services_order() {
        let arguments = request().add_pinhole_arguments().unwrap();
        let expected: Vec<(&str, String)> = [
            ("RemoteHost", ""),
            ("RemotePort", "0"),
            ("InternalClient", "2001:db8:77::10"),
            ("InternalPort", "8080"),
            ("Protocol", "6"),
            ("LeaseTime", "3600"),
        ]
        .into_iter()
        .map(|(n, v)| (n, v.to_owned()))
        .collect();
        assert_eq!(arguments, expected);

        let narrowed = request()
            .with_remote_host(Some("2001:db8:1::5".parse().unwrap()))
            .with_remote_port(443);
        let mut udp = narrowed.clone();
        udp.protocol = Protocol::UDP;
        udp.lease = Duration::from_millis(86_400_999);
        let arguments = udp.add_pinhole_arguments().unwrap();
        assert_eq!(arguments[0], ("RemoteHost", "2001:db8:1::5".to_owned()));
        assert_eq!(arguments[1], ("RemotePort", "443".to_owned()));
        assert_eq!(arguments[4], ("Protocol", "17".to_owned()));
        assert_eq!(arguments[5], ("LeaseTime", "86400".to_owned()));
    }

    #[test]
    fn the_envelope_carries_the_arguments_escaped_and_in_order() {
        let arguments = request().add_pinhole_arguments().unwrap();
        let pairs: Vec<(&str, &str)> = arguments.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let body =
            crate::soap::request_body(super::super::SERVICE_TYPE, "AddPinhole", &pairs).unwrap();
        assert!(
            body.contains(
                "<u:AddPinhole xmlns:u=\"urn:schemas-upnp-org:service:WANIPv6FirewallControl:1\">\
                 <RemoteHost></RemoteHost><RemotePort>0</RemotePort>\
                 <InternalClient>2001:db8:77::10</InternalClient><InternalPort>8080</InternalPort>\
                 <Protocol>6</Protocol><LeaseTime>3600</LeaseTime></u:AddPinhole>"
            ),
            "{body}"
        );
    }

    #[test]
    fn leases_outside_the_range_are_refused() {
        for lease in [
            Duration::ZERO,
            Duration::from_millis(999),
            Duration::from_secs(86_401),
            Duration::MAX,
        ] {
            let mut r = request();
            r.lease = lease;
            assert!(
                matches!(r.check(), Err(PinholeError::LeaseOutOfRange { lease: l }) if l == lease),
                "{lease:?}"
            );
        }
        for seconds in [1, 86_400] {
            assert_eq!(
                lease_seconds(Duration::from_secs(seconds)).unwrap(),
                seconds as u32
            );
        }
    }

    #[test]
    fn addresses_no_wan_host_reaches_are_refused() {
        for (address, reason) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("ff02::1", "multicast"),
            ("fe80::1", "link-local"),
            ("::ffff:192.168.1.2", "an ipv4-mapped address"),
        ] {
            let mut r = request();
            r.internal_client = address.parse().unwrap();
            match r.check() {
                Err(PinholeError::InvalidInternalClient { reason: got, .. }) => {
                    assert_eq!(got, reason)
                }
                other => panic!("{address}: {other:?}"),
            }
        }
        for address in ["::", "ff0e::1"] {
            let r = request().with_remote_host(Some(address.parse().unwrap()));
            assert!(
                matches!(r.check(), Err(PinholeError::InvalidRemoteHost { .. })),
                "{address}"
            );
        }
        let mut r = request();
        r.internal_port = 0;
        let e = r.check().unwrap_err();
        assert!(matches!(e, PinholeError::InternalPortWildcard { .. }));
        assert!(e.is_refused_before_sending());
        // A unique local address is fine.
        let mut r = request();
        r.internal_client = "fd77::10".parse().unwrap();
        assert!(r.check().is_ok());
    }

    #[test]
    fn protocols_are_iana_numbers() {
        assert_eq!(Protocol::TCP.to_wire(), 6);
        assert_eq!(Protocol::UDP.to_wire(), 17);
        assert_eq!(Protocol::ANY.to_wire(), 65_535);
        assert!(Protocol::ANY.is_any() && !Protocol::TCP.is_any());
        assert_eq!(Protocol::number(58).to_wire(), 58);
        assert_eq!(Protocol::from_wire(17), Some(Protocol::UDP));
        assert_eq!(Protocol::from_wire(65_535), Some(Protocol::ANY));
        assert_eq!(Protocol::from_wire(256), None);
        assert_eq!(Protocol::from(crate::igd::Protocol::Udp), Protocol::UDP);
        assert_eq!(Protocol::number(58).to_string(), "protocol 58");
        assert_eq!(Protocol::TCP.to_string(), "TCP");
    }
}
