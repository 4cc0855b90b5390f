//! [`PmpTechnique`]: PCP or NAT-PMP through natpmp-proto's tokio client.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use natpmp_proto::Version;
use natpmp_proto::tokio::{Client, ClientConfig, VersionChoice};

use crate::error::{Error, Result};
use crate::technique::{MapRequest, Mapping, NatTechnique, Protocol, Technique};

/// PCP (RFC 6887) or NAT-PMP (RFC 6886) at one gateway, over one UDP socket.
///
/// The client is fixed to one version, so probing PCP and NAT-PMP side by side reports each
/// on its own. Operations retransmit on NAT-PMP's schedule (250 ms, doubling) in both
/// versions and give up after the operation timeout.
#[derive(Debug)]
pub struct PmpTechnique {
    client: Client,
    kind: Technique,
}

impl PmpTechnique {
    /// A PCP client for `gateway`, each operation bounded by `timeout`.
    pub async fn pcp(gateway: IpAddr, timeout: Duration) -> Result<PmpTechnique> {
        PmpTechnique::new(gateway, Technique::Pcp, timeout).await
    }

    /// A NAT-PMP client for `gateway`, each operation bounded by `timeout`.
    pub async fn nat_pmp(gateway: IpAddr, timeout: Duration) -> Result<PmpTechnique> {
        PmpTechnique::new(gateway, Technique::NatPmp, timeout).await
    }

    /// A client over an existing configuration (a fake server's port in tests, other
    /// schedules). `kind` must be [`Technique::Pcp`] or [`Technique::NatPmp`] and decides the
    /// version.
    pub async fn with_config(
        gateway: IpAddr,
        kind: Technique,
        config: ClientConfig,
    ) -> Result<PmpTechnique> {
        let version = match kind {
            Technique::Pcp => VersionChoice::Pcp,
            Technique::NatPmp => VersionChoice::NatPmp,
            Technique::Upnp => {
                return Err(Error::Unsupported {
                    technique: kind,
                    what: "be spoken by a NAT-PMP/PCP client".into(),
                });
            }
        };
        let client = Client::with_config(gateway, ClientConfig { version, ..config }).await?;
        Ok(PmpTechnique { client, kind })
    }

    async fn new(gateway: IpAddr, kind: Technique, timeout: Duration) -> Result<PmpTechnique> {
        PmpTechnique::with_config(gateway, kind, ClientConfig::interactive(timeout)).await
    }

    /// The underlying client (for its epoch-reset events and counters).
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
            pcp_nonce: granted.nonce,
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

    async fn external_address(&self) -> Result<IpAddr> {
        Ok(self.client.external_address().await?)
    }

    async fn map(&self, request: &MapRequest) -> Result<Mapping> {
        let granted = self
            .client
            .map(
                request.protocol.into(),
                request.internal_port,
                request.external_port,
                request.lifetime,
            )
            .await?;
        Ok(self.lift(request.protocol, granted))
    }

    async fn refresh(&self, mapping: &Mapping, lifetime: Duration) -> Result<Mapping> {
        let granted = self.client.refresh(&self.lower(mapping), lifetime).await?;
        Ok(self.lift(mapping.protocol, granted))
    }

    async fn unmap(&self, mapping: &Mapping) -> Result<()> {
        Ok(self.client.delete(&self.lower(mapping)).await?)
    }
}
