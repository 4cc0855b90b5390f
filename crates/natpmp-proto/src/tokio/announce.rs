//! [`AnnouncementListener`]: the gateway's unsolicited messages on 224.0.0.1:5350 and, for
//! an IPv6 gateway, on `[ff02::1]:5350`.
//!
//! A NAT-PMP gateway multicasts its external address after a restart or an address change
//! (RFC 6886 §3.2.1); a PCP server sends an unsolicited ANNOUNCE when it restarts (RFC 6887
//! §14.1.3), to the all-hosts group of each family (and may unicast it to each client's
//! own port, which [`Client`](super::Client) reads). miniupnpd 2.3.1 multicasts its ANNOUNCE
//! on both. Only datagrams from the gateway's address are accepted, and for an IPv6 gateway
//! also those from port 5351 of any link-local address on the joined link: a router sends to
//! `ff02::1` from the link-local address the kernel picks, which need not be the one its
//! route names (in the lab, miniupnpd's ANNOUNCE comes from `br0`'s EUI-64 address, not from
//! `fe80::1`, the LAN hosts' gateway), and from a link-local one when the hosts know it by
//! a global address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use tokio::net::UdpSocket;

use super::error::{ClientError, io, local_address};
use crate::{AnyResponse, EpochCheck, EpochTracker, Version, decode_any, natpmp, pcp};

/// A first announcement with an epoch below this many seconds is taken as a restart.
const YOUNG_EPOCH_SECS: u32 = 60;

/// One announcement from the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// NAT-PMP (address announcement) or PCP (ANNOUNCE).
    pub version: Version,
    /// The gateway's epoch in the announcement.
    pub epoch: u32,
    /// The external address, for NAT-PMP announcements.
    pub external_address: Option<Ipv4Addr>,
    /// The gateway lost its state: the epoch went back since the previous announcement, or
    /// this first one has an epoch under a minute, or it is a PCP ANNOUNCE (which a server
    /// sends only when it restarted).
    pub epoch_reset: bool,
    /// The external address differs from the previous announcement's.
    pub address_changed: bool,
}

/// Listens for a gateway's announcements.
#[derive(Debug)]
pub struct AnnouncementListener {
    socket: UdpSocket,
    gateway: IpAddr,
    /// For an IPv6 gateway, the interface index the group was joined on.
    scope_id: u32,
    natpmp_epoch: EpochTracker,
    pcp_epoch: EpochTracker,
    last_address: Option<Ipv4Addr>,
    ignored: u64,
}

impl AnnouncementListener {
    /// Listens for `gateway`'s announcements on port 5350: for an IPv4 gateway, joins
    /// 224.0.0.1 on the interface that leads to it; for an IPv6 one, joins `ff02::1` on the
    /// interface that leads to it (a link-local gateway's is that of the IPv6 default route
    /// through it, see [`AnnouncementListener::bind_v6`] to name it). The port is shared
    /// with other listeners on this host (SO_REUSEADDR and SO_REUSEPORT).
    ///
    /// # Errors
    /// [`ClientError::LocalAddress`] when the interface toward an IPv6 gateway is unknown;
    /// [`ClientError::Io`] when the socket cannot be set up.
    pub async fn bind(gateway: IpAddr) -> Result<AnnouncementListener, ClientError> {
        let gateway_v6 = match gateway.to_canonical() {
            IpAddr::V4(gateway_v4) => return AnnouncementListener::bind_v4(gateway_v4).await,
            IpAddr::V6(gateway_v6) => gateway_v6,
        };
        let scope_id = match netinfo::scope_id_toward(gateway_v6).map_err(local_address(gateway))? {
            0 => {
                // A global gateway: the interface that holds our address toward it.
                let local = netinfo::local_ipv6_address_toward(gateway_v6, 0)
                    .map_err(local_address(gateway))?;
                netinfo::global_ipv6_addresses()
                    .map_err(local_address(gateway))?
                    .iter()
                    .find(|candidate| candidate.address == local)
                    .map_or(0, |candidate| candidate.index)
            }
            scope_id => scope_id,
        };
        AnnouncementListener::bind_v6(gateway_v6, scope_id).await
    }

    /// Listens for the PCP ANNOUNCEs of IPv6 `gateway` on `[ff02::1]:5350`, joined on the
    /// interface with index `scope_id` (0: the system's choice).
    ///
    /// # Errors
    /// [`ClientError::Io`] when the socket cannot be set up.
    pub async fn bind_v6(
        gateway: Ipv6Addr,
        scope_id: u32,
    ) -> Result<AnnouncementListener, ClientError> {
        let socket = shared_socket(socket2::Domain::IPV6)?;
        socket
            .set_only_v6(true)
            .map_err(io("cannot set IPV6_V6ONLY"))?;
        let bind = SocketAddr::from((Ipv6Addr::UNSPECIFIED, crate::ANNOUNCE_PORT));
        socket
            .bind(&bind.into())
            .map_err(io(format!("cannot bind {bind} for announcements")))?;
        socket
            .join_multicast_v6(&crate::ANNOUNCE_GROUP_V6, scope_id)
            .map_err(io(format!(
                "cannot join {} on interface {scope_id}",
                crate::ANNOUNCE_GROUP_V6
            )))?;
        AnnouncementListener::from_socket(socket, IpAddr::V6(gateway), scope_id)
    }

    async fn bind_v4(gateway: Ipv4Addr) -> Result<AnnouncementListener, ClientError> {
        let interface = local_address_toward(gateway)?;
        let socket = shared_socket(socket2::Domain::IPV4)?;
        let bind = SocketAddr::from((Ipv4Addr::UNSPECIFIED, crate::ANNOUNCE_PORT));
        socket
            .bind(&bind.into())
            .map_err(io(format!("cannot bind {bind} for announcements")))?;
        socket
            .join_multicast_v4(&crate::ANNOUNCE_GROUP_V4, &interface)
            .map_err(io(format!(
                "cannot join {} on {interface}",
                crate::ANNOUNCE_GROUP_V4
            )))?;
        AnnouncementListener::from_socket(socket, IpAddr::V4(gateway), 0)
    }

    fn from_socket(
        socket: socket2::Socket,
        gateway: IpAddr,
        scope_id: u32,
    ) -> Result<AnnouncementListener, ClientError> {
        let socket = UdpSocket::from_std(socket.into())
            .map_err(io("cannot register the socket with tokio"))?;
        Ok(AnnouncementListener {
            socket,
            gateway,
            scope_id,
            natpmp_epoch: EpochTracker::natpmp(),
            pcp_epoch: EpochTracker::pcp(),
            last_address: None,
            ignored: 0,
        })
    }

    /// How many datagrams were ignored (other sources, malformed, not announcements).
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Waits for the next announcement from the gateway. Wrap it in `tokio::time::timeout`
    /// to bound the wait.
    pub async fn next(&mut self) -> Result<Announcement, ClientError> {
        let mut buffer = vec![0u8; 1500];
        loop {
            let (length, source) = self
                .socket
                .recv_from(&mut buffer)
                .await
                .map_err(io("cannot receive announcements"))?;
            let now = Instant::now();
            if !self.is_from_gateway(source) {
                self.ignored += 1;
                tracing::debug!(%source, "ignored an announcement from another host");
                continue;
            }
            match decode_any(buffer.get(..length).unwrap_or(&[])) {
                Ok(AnyResponse::NatPmp(natpmp::Response {
                    result,
                    epoch,
                    body: natpmp::ResponseBody::ExternalAddress { external_address },
                })) if result.is_success() => {
                    let reset = match self.natpmp_epoch.check(now, epoch) {
                        EpochCheck::Reset { .. } => true,
                        // Gateways announce after a restart or an address change; with no
                        // earlier announcement to compare, a young epoch means a restart.
                        EpochCheck::First => epoch < YOUNG_EPOCH_SECS,
                        EpochCheck::Consistent => false,
                    };
                    let address_changed = self
                        .last_address
                        .is_some_and(|last| last != external_address);
                    self.last_address = Some(external_address);
                    return Ok(Announcement {
                        version: Version::NatPmp,
                        epoch,
                        external_address: Some(external_address),
                        epoch_reset: reset,
                        address_changed,
                    });
                }
                Ok(AnyResponse::Pcp(response))
                    if matches!(response.data, pcp::ResponseData::Announce)
                        && response.result.is_success() =>
                {
                    let _ = self.pcp_epoch.check(now, response.epoch);
                    return Ok(Announcement {
                        version: Version::Pcp,
                        epoch: response.epoch,
                        external_address: None,
                        epoch_reset: true,
                        address_changed: false,
                    });
                }
                Ok(_) | Err(_) => {
                    self.ignored += 1;
                    tracing::debug!(%source, "ignored a datagram that is not an announcement");
                }
            }
        }
    }
}

impl AnnouncementListener {
    /// The gateway's own address; for an IPv6 gateway, also port 5351 of a link-local
    /// address on the joined interface, where a router's `ff02::1` datagrams come from
    /// (see the module documentation). Anyone on the link can forge either: an
    /// announcement only makes the client ask again.
    fn is_from_gateway(&self, source: SocketAddr) -> bool {
        is_from_gateway(self.gateway, self.scope_id, source)
    }
}

/// See [`AnnouncementListener::is_from_gateway`].
fn is_from_gateway(gateway: IpAddr, scope_id: u32, source: SocketAddr) -> bool {
    if source.ip().to_canonical() == gateway {
        return true;
    }
    match (source, gateway) {
        (SocketAddr::V6(source), IpAddr::V6(_)) => {
            is_link_local(*source.ip())
                && (scope_id == 0 || source.scope_id() == scope_id)
                && source.port() == crate::SERVER_PORT
        }
        _ => false,
    }
}

fn is_link_local(address: Ipv6Addr) -> bool {
    (address.segments()[0] & 0xffc0) == 0xfe80
}

/// A non-blocking UDP socket of `domain` whose port other listeners may share.
fn shared_socket(domain: socket2::Domain) -> Result<socket2::Socket, ClientError> {
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))
        .map_err(io("cannot create the announcement socket"))?;
    socket
        .set_reuse_address(true)
        .map_err(io("cannot set SO_REUSEADDR"))?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    socket
        .set_reuse_port(true)
        .map_err(io("cannot set SO_REUSEPORT"))?;
    socket
        .set_nonblocking(true)
        .map_err(io("cannot make the socket non-blocking"))?;
    Ok(socket)
}

fn local_address_toward(gateway: Ipv4Addr) -> Result<Ipv4Addr, ClientError> {
    let probe = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .map_err(io("cannot bind a probe socket"))?;
    probe
        .connect((gateway, crate::SERVER_PORT))
        .map_err(io(format!("no route to gateway {gateway}")))?;
    match probe
        .local_addr()
        .map_err(io("cannot read the probe's address"))?
        .ip()
    {
        IpAddr::V4(address) => Ok(address),
        IpAddr::V6(_) => Ok(Ipv4Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_are_taken_from_the_gateway_and_its_link_local_addresses() {
        let source = |text: &str| text.parse::<SocketAddr>().unwrap();
        let v4: IpAddr = "192.168.1.1".parse().unwrap();
        assert!(is_from_gateway(v4, 0, source("192.168.1.1:5351")));
        assert!(is_from_gateway(v4, 0, source("[::ffff:192.168.1.1]:5351")));
        assert!(!is_from_gateway(v4, 0, source("192.168.1.66:5351")));

        let link_local: IpAddr = "fe80::1".parse().unwrap();
        let global: IpAddr = "2001:db8::1".parse().unwrap();
        for gateway in [link_local, global] {
            assert!(is_from_gateway(gateway, 2, source("[fe80::1%2]:5351")));
            // The router's other link-local address, as miniupnpd sends from it.
            assert!(is_from_gateway(
                gateway,
                2,
                source("[fe80::342f:3cff:fecd:9593%2]:5351")
            ));
            // Another link, another port, a global stranger: no.
            assert!(!is_from_gateway(gateway, 2, source("[fe80::9%3]:5351")));
            assert!(!is_from_gateway(gateway, 2, source("[fe80::9%2]:40000")));
            assert!(!is_from_gateway(gateway, 2, source("[2001:db8::66]:5351")));
        }
        assert!(is_from_gateway(global, 2, source("[2001:db8::1]:5351")));
    }
}
