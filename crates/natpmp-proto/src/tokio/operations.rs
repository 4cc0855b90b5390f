//! The operations of a [`Client`]: the external address, mapping, refreshing, deleting,
//! PEER and THIRD_PARTY mappings, with version negotiation and the epoch checks of their
//! answers.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::client::{Client, Failure, Mapping, Operation, lifetime_secs, random_nonce};
use super::config::VersionChoice;
use super::error::ClientError;
use crate::pcp::{self, PeerData};
use crate::{
    Answer, AnyResponse, Decision, Nonce, Protocol, TransactionError, Version, VersionNegotiator,
    natpmp,
};

impl Client {
    /// The gateway's external address.
    ///
    /// NAT-PMP asks for it directly (opcode 0). PCP has no such request: the client first
    /// sends a MAP deletion (lifetime 0) for its own UDP port, which creates nothing, and
    /// takes the external address of a SUCCESS answer. An error answer grants nothing and
    /// its address fields answer no question (RFC 6887 §7.2), whatever a server puts there
    /// (miniupnpd puts its external address in its NO_RESOURCES answer to that deletion).
    /// Without a successful answer carrying an address, the client maps its port for a
    /// moment, reads the assigned address, and deletes the mapping; a refusal of that
    /// mapping is the answer, as [`ClientError::Refused`].
    pub async fn external_address(&self) -> Result<IpAddr, ClientError> {
        // Auto starts with PCP (RFC 6887 §9) and remembers what worked.
        if self.version().unwrap_or(Version::Pcp) == Version::NatPmp {
            return self.natpmp_external_address().await;
        }
        let port = self.local_addr()?.port();
        let probe = Operation::Map {
            protocol: Protocol::Udp,
            internal_port: port,
            suggested_external_port: 0,
            lifetime: 0,
            nonce: random_nonce(),
            third_party: None,
        };
        let answer = match self.exchange(probe, Version::Pcp).await {
            Ok(answer) => answer,
            Err(Failure::Transaction(TransactionError::Rejected { answer, result, .. })) => {
                tracing::debug!(gateway = %self.gateway, %result, "the address probe was refused; its address fields are not an answer");
                *answer
            }
            Err(Failure::Transaction(TransactionError::UnsupportedVersion { .. }))
                if self.config.version == VersionChoice::Auto && self.natpmp_allowed() =>
            {
                tracing::debug!(gateway = %self.gateway, "no PCP here; asking with NAT-PMP");
                self.set_version(Version::NatPmp);
                return self.natpmp_external_address().await;
            }
            Err(Failure::Transaction(error)) => {
                return Err(self.translate(error, &Operation::ExternalAddress, Version::Pcp));
            }
            Err(Failure::Client(error)) => return Err(error),
        };
        self.set_version(Version::Pcp);
        self.check_epoch(&answer);
        if let Some(granted) = answer
            .response
            .as_pcp()
            .and_then(pcp::Response::granted_map)
        {
            let address = pcp::canonical(granted.external_address);
            if !address.is_unspecified() {
                return Ok(address);
            }
        }
        let (answer, _) = self
            .perform_in_checked(Operation::ExternalAddress, Version::Pcp)
            .await?;
        let AnyResponse::Pcp(response) = &answer.response else {
            return Err(self.bad_answer(&Operation::ExternalAddress, "answered in NAT-PMP"));
        };
        let pcp::ResponseData::Map(data) = response.data else {
            return Err(self.bad_answer(&Operation::ExternalAddress, "no MAP data"));
        };
        let delete = Operation::Map {
            protocol: Protocol::Udp,
            internal_port: data.internal_port,
            suggested_external_port: 0,
            lifetime: 0,
            nonce: data.nonce,
            third_party: None,
        };
        if let Err(error) = self.perform_in(delete, Version::Pcp).await {
            tracing::debug!(%error, "could not delete the PCP address probe mapping");
        }
        self.usable_address(pcp::canonical(data.external_address), Version::Pcp)
    }

    /// The external address as reported, unless it is unspecified (no WAN connection).
    /// Private and shared addresses are returned as they are: classifying double NAT and
    /// CGNAT is the caller's business.
    fn usable_address(&self, address: IpAddr, version: Version) -> Result<IpAddr, ClientError> {
        if address.to_canonical().is_unspecified() {
            return Err(ClientError::NoExternalAddress {
                gateway: self.gateway,
                version,
                reported: address,
            });
        }
        Ok(address)
    }

    /// Refuses a "successful" mapping that maps nothing: external port 0, lifetime 0 when
    /// a lifetime was asked for, or no external address.
    fn check_granted(
        &self,
        operation: &Operation,
        mapping: Mapping,
        asked_lifetime: u32,
    ) -> Result<Mapping, ClientError> {
        let version = mapping.version;
        self.usable_address(mapping.external_address, version)?;
        if mapping.external_port == 0 {
            return Err(self.bad_answer(
                operation,
                &format!("{version} success with external port 0"),
            ));
        }
        if asked_lifetime > 0 && mapping.lifetime.is_zero() {
            return Err(self.bad_answer(operation, &format!("{version} success with lifetime 0")));
        }
        Ok(mapping)
    }

    async fn natpmp_external_address(&self) -> Result<IpAddr, ClientError> {
        let (answer, _) = self
            .perform_in_checked(Operation::ExternalAddress, Version::NatPmp)
            .await?;
        match &answer.response {
            AnyResponse::NatPmp(natpmp::Response {
                body: natpmp::ResponseBody::ExternalAddress { external_address },
                ..
            }) => self.usable_address(IpAddr::V4(*external_address), Version::NatPmp),
            _ => Err(self.bad_answer(&Operation::ExternalAddress, "no address in the answer")),
        }
    }

    /// NAT-PMP is IPv4 only: never negotiated down to over IPv6.
    fn natpmp_allowed(&self) -> bool {
        self.gateway.is_ipv4()
    }

    /// Asks for a mapping of `internal_port` (on this host) for `lifetime`, preferring
    /// `suggested_external_port` (0: no preference).
    pub async fn map(
        &self,
        protocol: Protocol,
        internal_port: u16,
        suggested_external_port: u16,
        lifetime: Duration,
    ) -> Result<Mapping, ClientError> {
        self.map_with_nonce(
            protocol,
            internal_port,
            suggested_external_port,
            lifetime,
            random_nonce(),
        )
        .await
    }

    /// Renews `mapping` for `lifetime`, asking for the same external port (and, for PCP, with
    /// the same nonce). The answer may carry a different port if the gateway restarted.
    pub async fn refresh(
        &self,
        mapping: &Mapping,
        lifetime: Duration,
    ) -> Result<Mapping, ClientError> {
        self.map_with_nonce(
            mapping.protocol,
            mapping.internal_port,
            mapping.external_port,
            lifetime,
            mapping.nonce.unwrap_or_else(random_nonce),
        )
        .await
    }

    /// Deletes `mapping` at the gateway (a request with lifetime 0).
    pub async fn delete(&self, mapping: &Mapping) -> Result<(), ClientError> {
        self.perform_in(deletion(mapping, None), mapping.version)
            .await
            .map(|_| ())
    }

    /// Deletes `mapping`, made for `internal_address` (another LAN address, or one this host
    /// had before it was renumbered), as a third party: a PCP request with lifetime 0, the
    /// mapping's nonce and the THIRD_PARTY option (RFC 6887 §13.1).
    ///
    /// Servers commonly refuse it (UNSUPP_OPTION or NOT_AUTHORIZED) unless configured to
    /// allow it; the refusal comes back as [`ClientError::Refused`] with the result code.
    /// A NAT-PMP mapping cannot be deleted this way (NAT-PMP has no third party): such a
    /// request goes out in PCP all the same, and a NAT-PMP-only server answers it
    /// UNSUPP_VERSION.
    pub async fn delete_for(
        &self,
        internal_address: IpAddr,
        mapping: &Mapping,
    ) -> Result<(), ClientError> {
        self.perform_in(deletion(mapping, Some(internal_address)), Version::Pcp)
            .await
            .map(|_| ())
    }

    /// Deletes this host's mapping of `internal_port`, wherever it came from (lifetime 0).
    ///
    /// PCP servers may insist on the nonce that created the mapping; when such a server
    /// refuses (NOT_AUTHORIZED), the client asks again with NAT-PMP, whose deletion is by
    /// port alone, if the configuration allows NAT-PMP.
    pub async fn unmap(&self, protocol: Protocol, internal_port: u16) -> Result<(), ClientError> {
        let operation = Operation::Map {
            protocol,
            internal_port,
            suggested_external_port: 0,
            lifetime: 0,
            nonce: random_nonce(),
            third_party: None,
        };
        self.perform_with_natpmp_fallback(operation).await
    }

    /// Deletes this host's mapping of `internal_port` made with `nonce` (see
    /// [`Client::map_with_nonce`]); NAT-PMP ignores the nonce.
    pub async fn unmap_with_nonce(
        &self,
        protocol: Protocol,
        internal_port: u16,
        nonce: Nonce,
    ) -> Result<(), ClientError> {
        let operation = Operation::Map {
            protocol,
            internal_port,
            suggested_external_port: 0,
            lifetime: 0,
            nonce,
            third_party: None,
        };
        self.perform(operation).await.map(|_| ())
    }

    /// Deletes all of this host's mappings of `protocol` (internal port 0, lifetime 0; RFC
    /// 6886 §3.4, RFC 6887 §11.1). Falls back to NAT-PMP like [`Client::unmap`].
    pub async fn unmap_all(&self, protocol: Protocol) -> Result<(), ClientError> {
        self.unmap(protocol, 0).await
    }

    /// Asks for a PCP mapping on behalf of another LAN host (the THIRD_PARTY option, RFC 6887
    /// §13.1). Servers commonly refuse it (UNSUPP_OPTION or NOT_AUTHORIZED) unless configured
    /// to allow it; the refusal comes back as [`ClientError::Refused`] with the result code.
    pub async fn map_third_party(
        &self,
        internal_address: IpAddr,
        protocol: Protocol,
        internal_port: u16,
        suggested_external_port: u16,
        lifetime: Duration,
    ) -> Result<Mapping, ClientError> {
        let lifetime = lifetime_secs(lifetime);
        let nonce = random_nonce();
        let operation = Operation::Map {
            protocol,
            internal_port,
            suggested_external_port,
            lifetime,
            nonce,
            third_party: Some(internal_address),
        };
        let (answer, epoch_reset) = self.perform_in_checked(operation, Version::Pcp).await?;
        let mapping = self.pcp_mapping(&operation, &answer, epoch_reset)?;
        self.check_granted(&operation, mapping, lifetime)
    }

    /// Asks for a PCP PEER mapping: the external port and address this host's flow from
    /// `internal_port` to `remote` uses (RFC 6887 §12), kept for `lifetime`.
    pub async fn peer(
        &self,
        protocol: Protocol,
        internal_port: u16,
        remote: SocketAddr,
        lifetime: Duration,
    ) -> Result<Mapping, ClientError> {
        let lifetime = lifetime_secs(lifetime);
        let data = PeerData {
            nonce: random_nonce(),
            protocol: protocol.into(),
            internal_port,
            external_port: 0,
            external_address: pcp::unspecified_like(self.client_address),
            remote_peer_port: remote.port(),
            remote_peer_address: remote.ip(),
        };
        let operation = Operation::Peer { data, lifetime };
        let (answer, epoch_reset) = self.perform_in_checked(operation, Version::Pcp).await?;
        self.pcp_mapping(&operation, &answer, epoch_reset)
    }

    /// The [`Mapping`] a PCP MAP or PEER answer grants.
    fn pcp_mapping(
        &self,
        operation: &Operation,
        answer: &Answer,
        epoch_reset: bool,
    ) -> Result<Mapping, ClientError> {
        let AnyResponse::Pcp(response) = &answer.response else {
            return Err(self.bad_answer(operation, "answered in NAT-PMP"));
        };
        let (protocol, internal_port, external_port, external_address, nonce) = match response.data
        {
            pcp::ResponseData::Map(granted) => (
                granted.protocol,
                granted.internal_port,
                granted.external_port,
                granted.external_address,
                granted.nonce,
            ),
            pcp::ResponseData::Peer(granted) => (
                granted.protocol,
                granted.internal_port,
                granted.external_port,
                granted.external_address,
                granted.nonce,
            ),
            _ => return Err(self.bad_answer(operation, "no MAP or PEER data")),
        };
        let protocol = match (protocol, operation) {
            (pcp::IpProtocol::Tcp, _) => Protocol::Tcp,
            (pcp::IpProtocol::Udp, _) => Protocol::Udp,
            (_, Operation::Map { protocol, .. }) => *protocol,
            _ => return Err(self.bad_answer(operation, "neither TCP nor UDP")),
        };
        Ok(Mapping {
            protocol,
            internal_port,
            external_port,
            external_address: pcp::canonical(external_address),
            lifetime: Duration::from_secs(response.lifetime.into()),
            epoch: response.epoch,
            version: Version::Pcp,
            nonce: Some(nonce),
            epoch_reset,
        })
    }

    /// Like [`Client::map`], with the PCP mapping nonce chosen by the caller (ignored by
    /// NAT-PMP). A PCP server lets only the same nonce refresh or delete a mapping, so a
    /// program that must delete its mapping from another process (like `natctl unmap`) can
    /// derive the nonce instead of storing it.
    pub async fn map_with_nonce(
        &self,
        protocol: Protocol,
        internal_port: u16,
        suggested_external_port: u16,
        lifetime: Duration,
        nonce: Nonce,
    ) -> Result<Mapping, ClientError> {
        let lifetime = lifetime_secs(lifetime);
        let operation = Operation::Map {
            protocol,
            internal_port,
            suggested_external_port,
            lifetime,
            nonce,
            third_party: None,
        };
        let mapping = self.map_once(operation, protocol, internal_port).await?;
        let mapping = match mapping {
            Ok(mapping) => mapping,
            Err(reset_between) => {
                // The gateway restarted between the mapping and the next answer of the
                // same operation: the mapping is gone. Map again, once.
                tracing::info!(gateway = %self.gateway, "the gateway restarted during the mapping; mapping again");
                let mut again = match self.map_once(operation, protocol, internal_port).await? {
                    Ok(mapping) | Err(mapping) => mapping,
                };
                again.epoch_reset |= reset_between.epoch_reset;
                again
            }
        };
        self.check_granted(&operation, mapping, lifetime)
    }

    /// One mapping exchange (two for NAT-PMP, which asks for the address after). `Err`
    /// holds a mapping that the epoch of the second answer showed lost.
    async fn map_once(
        &self,
        operation: Operation,
        protocol: Protocol,
        internal_port: u16,
    ) -> Result<Result<Mapping, Mapping>, ClientError> {
        // NAT-PMP's mapping answer has no address: when the gateway is known to speak
        // NAT-PMP, both requests go out at once (one round trip, not two).
        let speaks_natpmp =
            self.config.version == VersionChoice::NatPmp || self.version() == Some(Version::NatPmp);
        let (answer, epoch_reset, version, address) = if speaks_natpmp {
            let answers = match self
                .exchange_all(&[operation, Operation::ExternalAddress], Version::NatPmp)
                .await
            {
                Ok(answers) => answers,
                Err(Failure::Transaction(error)) => {
                    return Err(self.translate(error, &operation, Version::NatPmp));
                }
                Err(Failure::Client(error)) => return Err(error),
            };
            let mut answers = answers.into_iter();
            let (Some(answer), Some(address)) = (answers.next(), answers.next()) else {
                return Err(self.bad_answer(&operation, "no answer"));
            };
            self.set_version(Version::NatPmp);
            let reset = self.check_epoch(&answer);
            (answer, reset, Version::NatPmp, Some(address))
        } else {
            let (answer, reset, version) = self.perform(operation).await?;
            (answer, reset, version, None)
        };
        match &answer.response {
            AnyResponse::NatPmp(response) => {
                let natpmp::ResponseBody::Map(granted) = response.body else {
                    return Err(self.bad_answer(&operation, "no mapping in the answer"));
                };
                let (address_answer, reset_after) = match address {
                    Some(address) => {
                        let reset = self.check_epoch(&address);
                        (address, reset)
                    }
                    None => {
                        self.perform_in_checked(Operation::ExternalAddress, version)
                            .await?
                    }
                };
                let external_address = match address_answer.response {
                    AnyResponse::NatPmp(natpmp::Response {
                        body: natpmp::ResponseBody::ExternalAddress { external_address },
                        ..
                    }) => IpAddr::V4(external_address),
                    _ => return Err(self.bad_answer(&operation, "no external address")),
                };
                let mapping = Mapping {
                    protocol,
                    internal_port,
                    external_port: granted.external_port,
                    external_address,
                    lifetime: Duration::from_secs(granted.lifetime.into()),
                    epoch: response.epoch,
                    version: Version::NatPmp,
                    nonce: None,
                    epoch_reset: epoch_reset || reset_after,
                };
                Ok(if reset_after {
                    Err(mapping)
                } else {
                    Ok(mapping)
                })
            }
            AnyResponse::Pcp(_) => Ok(Ok(self.pcp_mapping(&operation, &answer, epoch_reset)?)),
        }
    }

    async fn perform_with_natpmp_fallback(&self, operation: Operation) -> Result<(), ClientError> {
        match self.perform(operation).await {
            Ok(_) => Ok(()),
            Err(ClientError::Refused {
                code: crate::AnyResultCode::Pcp(pcp::ResultCode::NotAuthorized),
                ..
            }) if self.config.version != VersionChoice::Pcp && self.natpmp_allowed() => {
                tracing::debug!(
                    "PCP refused the deletion without the mapping's nonce; trying NAT-PMP"
                );
                self.perform_in(operation, Version::NatPmp)
                    .await
                    .map(|_| ())
            }
            Err(other) => Err(other),
        }
    }

    /// Performs `operation` in the current version, negotiating when allowed.
    async fn perform(&self, operation: Operation) -> Result<(Answer, bool, Version), ClientError> {
        let known = self.version();
        let mut negotiator = match (self.config.version, known) {
            (_, Some(version)) => VersionNegotiator::starting_with(version),
            (_, None) => VersionNegotiator::new(),
        };
        loop {
            let version = negotiator.version();
            match self.exchange(operation, version).await {
                Ok(answer) => {
                    self.set_version(version);
                    let reset = self.check_epoch(&answer);
                    return Ok((answer, reset, version));
                }
                Err(Failure::Transaction(error)) => {
                    let decision = match error.answer() {
                        Some(answer) => negotiator.on_response(&answer.response),
                        None => Decision::GiveUp,
                    };
                    match decision {
                        Decision::Retry(next)
                            if self.config.version == VersionChoice::Auto
                                && (next == Version::Pcp || self.natpmp_allowed()) =>
                        {
                            tracing::debug!(from = %version, to = %next, "gateway asked for another version");
                        }
                        Decision::Retry(_) | Decision::GiveUp | Decision::Accept => {
                            return Err(self.translate(error, &operation, version));
                        }
                    }
                }
                Err(Failure::Client(error)) => return Err(error),
            }
        }
    }

    /// Performs `operation` in `version` only.
    async fn perform_in(
        &self,
        operation: Operation,
        version: Version,
    ) -> Result<Answer, ClientError> {
        self.perform_in_checked(operation, version)
            .await
            .map(|(answer, _)| answer)
    }

    async fn perform_in_checked(
        &self,
        operation: Operation,
        version: Version,
    ) -> Result<(Answer, bool), ClientError> {
        match self.exchange(operation, version).await {
            Ok(answer) => {
                let reset = self.check_epoch(&answer);
                Ok((answer, reset))
            }
            Err(Failure::Transaction(error)) => Err(self.translate(error, &operation, version)),
            Err(Failure::Client(error)) => Err(error),
        }
    }
}

/// The request that deletes `mapping` (lifetime 0, its nonce), for this host or, with
/// `third_party`, for that address.
fn deletion(mapping: &Mapping, third_party: Option<IpAddr>) -> Operation {
    Operation::Map {
        protocol: mapping.protocol,
        internal_port: mapping.internal_port,
        suggested_external_port: 0,
        lifetime: 0,
        nonce: mapping.nonce.unwrap_or_else(random_nonce),
        third_party,
    }
}
