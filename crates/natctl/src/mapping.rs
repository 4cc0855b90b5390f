//! `external-ip`, `map`, `unmap`, `unmap-all`: port mappings at the gateway, over NAT-PMP or
//! PCP (natpmp-proto's tokio client).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result};
use natpmp_proto::tokio::{Client, ClientConfig, VersionChoice};
use natpmp_proto::{Nonce, Protocol};
use serde::Serialize;

use crate::output::Output;

/// The protocol to talk to the gateway with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Via {
    /// Whichever the gateway speaks, preferring PCP, then NAT-PMP, then UPnP IGD.
    Auto,
    /// NAT-PMP (RFC 6886).
    Pmp,
    /// PCP (RFC 6887).
    Pcp,
    /// UPnP IGD (WANIPConnection / WANPPPConnection).
    Upnp,
}

impl Via {
    fn label(self) -> &'static str {
        match self {
            Via::Auto => "auto",
            Via::Pmp => "NAT-PMP",
            Via::Pcp => "PCP",
            Via::Upnp => "UPnP IGD",
        }
    }
}

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl From<Transport> for Protocol {
    fn from(transport: Transport) -> Protocol {
        match transport {
            Transport::Tcp => Protocol::Tcp,
            Transport::Udp => Protocol::Udp,
        }
    }
}

/// `via`, with `auto` replaced by the technique the facade selects at this gateway.
async fn resolve(target: &Target, via: Via) -> Result<Via> {
    match via {
        Via::Auto => crate::auto::resolve(target).await,
        other => Ok(other),
    }
}

/// Which gateway to ask, and how long to wait.
pub(crate) struct Target {
    pub(crate) gateway: Option<IpAddr>,
    pub(crate) timeout: Duration,
}

async fn client(target: &Target, via: Via) -> Result<Client> {
    let gateway = match target.gateway {
        Some(gateway) => gateway,
        None => IpAddr::V4(netinfo::default_gateway()?),
    };
    let config = ClientConfig {
        version: match via {
            Via::Pmp => VersionChoice::NatPmp,
            Via::Pcp | Via::Upnp | Via::Auto => VersionChoice::Pcp,
        },
        ..ClientConfig::interactive(target.timeout)
    };
    Client::with_config(gateway, config)
        .await
        .with_context(|| format!("cannot talk to gateway {gateway}"))
}

#[derive(Serialize)]
struct ExternalIp {
    external_ip: IpAddr,
    via: Via,
}

pub(crate) async fn external_ip(out: &Output, target: &Target, via: Via) -> Result<()> {
    let via = resolve(target, via).await?;
    let address = match via {
        Via::Upnp => crate::upnp::external_ip(target).await?,
        Via::Pmp | Via::Pcp | Via::Auto => client(target, via).await?.external_address().await?,
    };
    out.print(
        &ExternalIp {
            external_ip: address,
            via,
        },
        || address.to_string(),
    );
    Ok(())
}

#[derive(Serialize)]
struct Mapped {
    public: SocketAddr,
    protocol: Transport,
    internal_port: u16,
    lifetime_secs: u64,
    epoch: u32,
    via: Via,
}

pub(crate) async fn map(
    out: &Output,
    target: &Target,
    via: Via,
    protocol: Transport,
    internal_port: u16,
    external_port: u16,
    lifetime: u32,
) -> Result<()> {
    let via = resolve(target, via).await?;
    if via == Via::Upnp {
        let mapped =
            crate::upnp::map(target, protocol, internal_port, external_port, lifetime).await?;
        let report = Mapped {
            public: mapped.public,
            protocol,
            internal_port,
            lifetime_secs: mapped.lease.as_secs(),
            epoch: 0,
            via,
        };
        out.print(&report, || {
            let lease = if mapped.permanent {
                "permanent: delete it with natctl unmap".to_owned()
            } else {
                format!("lifetime {} s", mapped.lease.as_secs())
            };
            format!(
                "{} -> {} ({}, {lease}, via {})",
                mapped.public,
                mapped.internal,
                Protocol::from(protocol),
                via.label()
            )
        });
        return Ok(());
    }
    let client = client(target, via).await?;
    let nonce = stable_nonce(client.client_address(), protocol, internal_port);
    let mapping = client
        .map_with_nonce(
            protocol.into(),
            internal_port,
            external_port,
            Duration::from_secs(lifetime.into()),
            nonce,
        )
        .await?;
    let mapped = Mapped {
        public: SocketAddr::new(mapping.external_address, mapping.external_port),
        protocol,
        internal_port,
        lifetime_secs: mapping.lifetime.as_secs(),
        epoch: mapping.epoch,
        via,
    };
    out.print(&mapped, || {
        format!(
            "{} -> {}:{internal_port} ({}, lifetime {} s, via {})",
            mapped.public,
            client.client_address(),
            Protocol::from(protocol),
            mapped.lifetime_secs,
            via.label()
        )
    });
    Ok(())
}

#[derive(Serialize)]
struct Unmapped {
    protocol: Transport,
    /// `null` for unmap-all.
    internal_port: Option<u16>,
    via: Via,
}

pub(crate) async fn unmap(
    out: &Output,
    target: &Target,
    via: Via,
    protocol: Transport,
    internal_port: Option<u16>,
) -> Result<()> {
    let via = resolve(target, via).await?;
    // How many were removed, when the protocol can tell (UPnP reads the table first).
    let removed = if via == Via::Upnp {
        Some(crate::upnp::unmap(target, protocol, internal_port).await?)
    } else {
        let client = client(target, via).await?;
        match internal_port {
            Some(port) => {
                let nonce = stable_nonce(client.client_address(), protocol, port);
                client
                    .unmap_with_nonce(protocol.into(), port, nonce)
                    .await?
            }
            None => client
                .unmap_all(protocol.into())
                .await
                .with_context(|| match via {
                    Via::Pcp => "PCP can delete all of a host's mappings only where the server \
                                 accepts protocol 0 / port 0 (miniupnpd does not); remove PCP \
                                 mappings one by one with `natctl unmap`"
                        .to_owned(),
                    Via::Pmp | Via::Upnp | Via::Auto => {
                        "cannot remove the host's mappings".to_owned()
                    }
                })?,
        }
        None
    };
    let unmapped = Unmapped {
        protocol,
        internal_port,
        via,
    };
    let protocol = Protocol::from(protocol);
    out.print(&unmapped, || match (internal_port, removed) {
        (Some(port), _) => format!("removed the {protocol} mapping of port {port}"),
        (None, Some(count)) => format!("removed {count} {protocol} mapping(s) of this host"),
        (None, None) => format!("removed every {protocol} mapping of this host"),
    });
    Ok(())
}

/// The PCP nonce natctl uses for this host's mapping of `protocol`/`port`.
///
/// A PCP server lets only the nonce that made a mapping delete it, and `natctl map` and
/// `natctl unmap` are separate processes, so the nonce is derived from what both know: the
/// machine's id (`/etc/machine-id`, else the host name), the client address, the protocol and
/// the port. Someone who can read the machine id can delete natctl's mappings; on a LAN they
/// could also just watch the request go by.
fn stable_nonce(client: IpAddr, protocol: Transport, port: u16) -> Nonce {
    let machine = std::fs::read_to_string("/etc/machine-id")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let material = format!(
        "natctl-pcp-nonce|{}|{client}|{protocol:?}|{port}",
        machine.trim()
    );
    let first = fnv1a(0xcbf2_9ce4_8422_2325, material.as_bytes());
    let second = fnv1a(first ^ 0x9e37_79b9_7f4a_7c15, material.as_bytes());
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&first.to_le_bytes());
    bytes[8..].copy_from_slice(&second.to_le_bytes()[..4]);
    Nonce::new(bytes)
}

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_nonce_is_stable_and_distinct_per_port_and_protocol() {
        let client: IpAddr = "192.168.77.10".parse().unwrap();
        let a = stable_nonce(client, Transport::Tcp, 4000);
        assert_eq!(a, stable_nonce(client, Transport::Tcp, 4000));
        assert_ne!(a, stable_nonce(client, Transport::Tcp, 4001));
        assert_ne!(a, stable_nonce(client, Transport::Udp, 4000));
        assert_ne!(
            a,
            stable_nonce("192.168.77.11".parse().unwrap(), Transport::Tcp, 4000)
        );
    }
}
