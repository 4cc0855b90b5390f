//! [`PmpTechnique`]: PCP or NAT-PMP through natpmp-proto's tokio client, with its events
//! (announcements and epoch resets, `pcp/events.rs`) and its stable mapping nonces
//! (`pcp/nonce.rs`).

mod events;
mod nonce;

pub use nonce::stable_nonce;

use std::future::Future;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use sync_wrapper::SyncFuture;

use async_trait::async_trait;

use natpmp_proto::tokio::{Client, ClientConfig, ClientError, VersionChoice};
use natpmp_proto::{AnyResultCode, Nonce, Version, pcp};

use crate::error::{Error, Result};
use crate::technique::{
    MapRequest, Mapping, NatTechnique, Protocol, Technique, TechniqueEvents, Unmapped,
};

/// PCP (RFC 6887) or NAT-PMP (RFC 6886) at one gateway, over one UDP socket.
///
/// The client is fixed to one version, so probing PCP and NAT-PMP side by side reports each
/// on its own. Operations retransmit on NAT-PMP's schedule (250 ms, doubling) in both
/// versions and give up after the operation timeout.
///
/// PCP mapping nonces are derived, not drawn at random: a PCP gateway lets only the nonce
/// that made a mapping renew or delete it, and a program restarted after a crash, or
/// `natctl unmap` in another process, must be able to. The nonce of a mapping is a hash of
/// a secret of this machine (`/etc/machine-id` where there is one, else the host name),
/// this host's address toward the gateway, the protocol and the internal port: stable for
/// this host and port, unguessable to whoever cannot read the machine id (see
/// [`stable_nonce`]).
#[derive(Debug)]
pub struct PmpTechnique {
    client: Client,
    kind: Technique,
    /// What the client was made with, for a fresh client from this host's current address
    /// ([`NatTechnique::unmap_former`]).
    config: ClientConfig,
}

impl PmpTechnique {
    /// A PCP client for `gateway`, each operation bounded by `timeout`.
    pub fn pcp(
        gateway: IpAddr,
        timeout: Duration,
    ) -> impl Future<Output = Result<PmpTechnique>> + Send + Sync {
        SyncFuture::new(async move { PmpTechnique::new(gateway, Technique::Pcp, timeout).await })
    }

    /// A NAT-PMP client for `gateway`, each operation bounded by `timeout`.
    pub fn nat_pmp(
        gateway: IpAddr,
        timeout: Duration,
    ) -> impl Future<Output = Result<PmpTechnique>> + Send + Sync {
        SyncFuture::new(async move { PmpTechnique::new(gateway, Technique::NatPmp, timeout).await })
    }

    /// A client over an existing configuration (a fake server's port in tests, other
    /// schedules). `kind` must be [`Technique::Pcp`] or [`Technique::NatPmp`] and decides the
    /// version.
    pub fn with_config(
        gateway: IpAddr,
        kind: Technique,
        config: ClientConfig,
    ) -> impl Future<Output = Result<PmpTechnique>> + Send + Sync {
        SyncFuture::new(async move {
            let version = match kind {
                Technique::Pcp => VersionChoice::Pcp,
                Technique::NatPmp => VersionChoice::NatPmp,
                Technique::Upnp | Technique::Other(_) => {
                    return Err(Error::Unsupported {
                        technique: kind,
                        what: "be spoken by a NAT-PMP/PCP client".into(),
                    });
                }
            };
            let config = ClientConfig { version, ..config };
            let client = Client::with_config(gateway, config.clone()).await?;
            Ok(PmpTechnique {
                client,
                kind,
                config,
            })
        })
    }

    async fn new(gateway: IpAddr, kind: Technique, timeout: Duration) -> Result<PmpTechnique> {
        PmpTechnique::with_config(gateway, kind, ClientConfig::interactive(timeout)).await
    }

    /// The underlying client (for its counters).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn version(&self) -> Version {
        match self.kind {
            Technique::NatPmp => Version::NatPmp,
            _ => Version::Pcp,
        }
    }

    fn lower(&self, mapping: &Mapping) -> natpmp_proto::tokio::Mapping {
        natpmp_proto::tokio::Mapping {
            protocol: mapping.protocol.into(),
            internal_port: mapping.internal_port,
            external_port: mapping.external.port(),
            external_address: mapping.external.ip(),
            lifetime: mapping.lifetime,
            epoch: 0,
            version: self.version(),
            nonce: mapping.pcp_nonce,
            epoch_reset: false,
        }
    }

    fn lift(&self, protocol: Protocol, granted: natpmp_proto::tokio::Mapping) -> Mapping {
        Mapping {
            technique: self.kind,
            protocol,
            internal_port: granted.internal_port,
            external: SocketAddr::new(granted.external_address, granted.external_port),
            lifetime: granted.lifetime,
            epoch_reset: granted.epoch_reset,
            on_default_gateway: true,
            pcp_nonce: granted.nonce,
            pinhole_id: None,
        }
    }
}

#[async_trait]
impl NatTechnique for PmpTechnique {
    fn kind(&self) -> Technique {
        self.kind
    }

    fn gateway(&self) -> IpAddr {
        self.client.gateway().ip()
    }

    /// The gateway's announcements (a restart, a new external address) and the epoch resets
    /// the client sees in answers.
    fn events(&self) -> TechniqueEvents {
        events::follow(self.gateway(), self.client.subscribe())
    }

    async fn external_address(&self) -> Result<IpAddr> {
        Ok(self.client.external_address().await?)
    }

    async fn map(&self, request: &MapRequest) -> Result<Mapping> {
        let granted = self
            .client
            .map_with_nonce(
                request.protocol().into(),
                request.internal_port(),
                request.external_port(),
                request.lifetime(),
                self.nonce(request.protocol(), request.internal_port()),
            )
            .await?;
        Ok(self.lift(request.protocol(), granted))
    }

    async fn refresh(&self, mapping: &Mapping, lifetime: Duration) -> Result<Mapping> {
        let granted = self.client.refresh(&self.lower(mapping), lifetime).await?;
        Ok(self.lift(mapping.protocol, granted))
    }

    async fn unmap(&self, mapping: &Mapping) -> Result<()> {
        match self.client.delete(&self.lower(mapping)).await {
            // A deletion whose earlier attempt worked but whose answer was lost is answered
            // "no such mapping" (miniupnpd: NO_RESOURCES): it is gone, which was the point.
            Err(error) if already_deleted(&error) => Ok(()),
            other => Ok(other?),
        }
    }

    /// PCP only: a deletion with the THIRD_PARTY option naming `former`, sent by a fresh
    /// client (the technique's own socket may still be bound to `former`, which is gone).
    /// NAT-PMP has no way to do it.
    async fn unmap_former(&self, mapping: &Mapping, former: IpAddr) -> Result<()> {
        if self.kind != Technique::Pcp {
            return Err(Error::Unsupported {
                technique: self.kind,
                what: "delete a mapping made for another address (NAT-PMP has no third party)"
                    .into(),
            });
        }
        let config = ClientConfig {
            local_address: None,
            ..self.config.clone()
        };
        let client = Client::with_config(self.gateway(), config).await?;
        match client.delete_for(former, &self.lower(mapping)).await {
            Err(error) if already_deleted(&error) => Ok(()),
            other => Ok(other?),
        }
    }

    async fn unmap_port(&self, protocol: Protocol, internal_port: u16) -> Result<Unmapped> {
        let result = self
            .client
            .unmap_with_nonce(
                protocol.into(),
                internal_port,
                self.nonce(protocol, internal_port),
            )
            .await;
        self.deletion(result)
    }

    async fn unmap_all(&self, protocol: Protocol) -> Result<Unmapped> {
        let result = self
            .client
            .unmap_with_nonce(protocol.into(), 0, self.nonce(protocol, 0))
            .await;
        self.deletion(result)
    }
}

impl PmpTechnique {
    /// The PCP nonce of this host's mapping of `protocol`/`internal_port`.
    fn nonce(&self, protocol: Protocol, internal_port: u16) -> Nonce {
        stable_nonce(self.client.client_address(), protocol, internal_port)
    }

    /// What a deletion's answer says about the mapping, for any server: NAT-PMP's answer
    /// and PCP's SUCCESS are the same whether or not there was one (RFC 6886 §3.4, RFC 6887
    /// §15); a result code is a refusal, whatever a given server means by it (miniupnpd
    /// answers NO_RESOURCES when it holds no such mapping, and NOT_AUTHORIZED when it holds
    /// one made with another nonce: docs/ARCHITECTURE.md keeps such habits, and nothing
    /// here assumes them).
    fn deletion(&self, result: Result<(), ClientError>) -> Result<Unmapped> {
        match result {
            Ok(()) => Ok(Unmapped::CannotTell),
            Err(error) if error.result_code().is_some() => Ok(Unmapped::Refused {
                error: error.into(),
            }),
            Err(error) => Err(error.into()),
        }
    }
}

/// Whether a refusal of the deletion of a mapping this process holds means it is gone
/// already: miniupnpd answers NO_RESOURCES to a deletion whose earlier copy it carried out
/// (the answer was lost and the request sent again). Only for a mapping known to have
/// existed, where "gone" is what stopping it asks for.
fn already_deleted(error: &ClientError) -> bool {
    matches!(
        error.result_code(),
        Some(AnyResultCode::Pcp(pcp::ResultCode::NoResources))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_refused_repeat_deletion_of_a_held_mapping_reads_as_gone() {
        let refused = |code| ClientError::Refused {
            gateway: "192.168.77.1:5351".parse().expect("address"),
            operation: "deletion".into(),
            code: AnyResultCode::Pcp(code),
            retry_after: None,
        };
        assert!(already_deleted(&refused(pcp::ResultCode::NoResources)));
        assert!(!already_deleted(&refused(pcp::ResultCode::NotAuthorized)));
        assert!(!already_deleted(&refused(
            pcp::ResultCode::MalformedRequest
        )));
    }
}
