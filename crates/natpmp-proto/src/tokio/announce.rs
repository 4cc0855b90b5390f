//! [`AnnouncementListener`]: the gateway's unsolicited messages on 224.0.0.1:5350.
//!
//! A NAT-PMP gateway multicasts its external address after a restart or an address change
//! (RFC 6886 §3.2.1); a PCP server sends an unsolicited ANNOUNCE when it restarts (RFC 6887
//! §14.1.3). miniupnpd does both. Only datagrams from the gateway's address are accepted.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use tokio::net::UdpSocket;

use super::error::{ClientError, io};
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
    natpmp_epoch: EpochTracker,
    pcp_epoch: EpochTracker,
    last_address: Option<Ipv4Addr>,
    ignored: u64,
}

impl AnnouncementListener {
    /// Joins 224.0.0.1 on port 5350, on the interface that leads to `gateway` (an IPv4
    /// address). The port is shared with other listeners on this host (SO_REUSEADDR and
    /// SO_REUSEPORT).
    pub async fn bind(gateway: IpAddr) -> Result<AnnouncementListener, ClientError> {
        let IpAddr::V4(gateway_v4) = gateway else {
            return Err(ClientError::Io {
                what: format!("announcements from IPv6 gateway {gateway}"),
                source: std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "only IPv4 gateways announce on 224.0.0.1",
                ),
            });
        };
        let interface = local_address_toward(gateway_v4)?;
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )
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
        let socket = UdpSocket::from_std(socket.into())
            .map_err(io("cannot register the socket with tokio"))?;
        Ok(AnnouncementListener {
            socket,
            gateway,
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
            if source.ip() != self.gateway {
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
