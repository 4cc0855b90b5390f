//! Adding port mappings: [`Gateway::add_port_mapping`] and [`Gateway::add_any_port_mapping`]
//! perform the attempts the fault policy ([`AddMapping`], in `policy`) decides, one by one,
//! and bound the whole in time.

use std::hash::{BuildHasher as _, RandomState};
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use crate::soap::Arguments;

use super::policy::{AddAction, AddMapping, Attempt, Failure, Outcome, Step};
use super::{Gateway, IgdError, MappingRequest, PortMapping, Result};

impl Gateway {
    /// Maps a port (`AddPortMapping`), working around conflicts and lease restrictions
    /// (see the module documentation).
    ///
    /// # Errors
    /// [`IgdError::Conflict`] after six conflicting external ports,
    /// [`IgdError::NotAuthorized`], [`IgdError::Control`] for other failures.
    pub async fn add_port_mapping(&self, request: &MappingRequest) -> Result<PortMapping> {
        // Unpredictable across runs, so two hosts in conflict do not walk the same ports.
        let seed = RandomState::new().hash_one(request.internal_port);
        let plan = AddMapping::port_mapping(
            request.internal_port,
            request.external_port,
            request.lease,
            self.v2,
            self.permanent_leases_only(),
            seed,
        );
        self.bounded("AddPortMapping", self.perform(plan, request))
            .await
    }

    /// Asks the gateway to pick a free external port (`AddAnyPortMapping`, v2 only),
    /// starting from `request.external_port` (or the internal port when that is 0). Lease
    /// restrictions are handled as in [`add_port_mapping`](Self::add_port_mapping).
    ///
    /// # Errors
    /// [`IgdError::NotSupported`] on a v1 service, [`IgdError::NotAuthorized`],
    /// [`IgdError::InvalidResponse`] when the reserved port does not parse, [`IgdError::Control`].
    pub async fn add_any_port_mapping(&self, request: &MappingRequest) -> Result<PortMapping> {
        let plan = AddMapping::any_port_mapping(
            request.internal_port,
            request.external_port,
            request.lease,
            self.v2,
            self.permanent_leases_only(),
        );
        self.bounded("AddAnyPortMapping", self.perform(plan, request))
            .await
    }

    /// Makes the attempts `plan` asks for until it grants or fails, and remembers what it
    /// learnt about permanent leases.
    async fn perform(&self, mut plan: AddMapping, request: &MappingRequest) -> Result<PortMapping> {
        let internal_client = request.internal_client.unwrap_or(self.local_address);
        let mut step = plan.start();
        loop {
            match step {
                Step::Send(attempt) => {
                    let outcome = self.attempt(attempt, request, internal_client).await;
                    let believed = plan.permanent_only();
                    step = plan.handle(outcome);
                    if plan.permanent_only() != believed {
                        self.permanent_only
                            .store(plan.permanent_only(), Ordering::Relaxed);
                    }
                }
                Step::Granted {
                    external_port,
                    lease,
                } => return Ok(self.granted(request, external_port, internal_client, lease)),
                Step::Failed(failure) => {
                    return Err(match failure {
                        Failure::Conflict { tried } => IgdError::Conflict {
                            url: Box::new(self.control_url().clone()),
                            tried,
                        },
                        Failure::NotAuthorized(action) => self.not_authorized(action.as_str()),
                        Failure::NotSupported(action) => self.not_supported(action.as_str()),
                        Failure::Error(error) => error,
                    });
                }
            }
        }
    }

    /// One attempt, its answer read as the policy's [`Outcome`].
    async fn attempt(
        &self,
        attempt: Attempt,
        request: &MappingRequest,
        internal_client: IpAddr,
    ) -> Outcome<IgdError> {
        let action = attempt.action.as_str();
        let reply = match self
            .add_once(
                action,
                attempt.external_port,
                request,
                internal_client,
                attempt.lease,
            )
            .await
        {
            Ok(reply) => reply,
            Err(error) => {
                return match error.upnp_code() {
                    Some(code) => Outcome::Fault { code, error },
                    None => Outcome::Failed(error),
                };
            }
        };
        if attempt.action == AddAction::AddPortMapping {
            return Outcome::Accepted {
                external_port: attempt.external_port,
            };
        }
        // The spec names it NewReservedPort; miniupnpd's SCPD calls it NewExternalPort.
        let reserved = reply
            .get("NewReservedPort")
            .or_else(|| reply.get("NewExternalPort"))
            .unwrap_or_default();
        match reserved.trim().parse::<u16>() {
            Ok(port) if port != 0 => Outcome::Accepted {
                external_port: port,
            },
            _ => Outcome::Failed(self.invalid(action, "NewReservedPort", reserved)),
        }
    }

    async fn add_once(
        &self,
        action: &'static str,
        external_port: u16,
        request: &MappingRequest,
        internal_client: IpAddr,
        lease: u32,
    ) -> Result<Arguments> {
        let external = external_port.to_string();
        let internal = request.internal_port.to_string();
        let client = internal_client.to_string();
        let lease = lease.to_string();
        self.call(
            action,
            &[
                ("NewRemoteHost", ""),
                ("NewExternalPort", &external),
                ("NewProtocol", request.protocol.as_str()),
                ("NewInternalPort", &internal),
                ("NewInternalClient", &client),
                ("NewEnabled", "1"),
                ("NewPortMappingDescription", &request.description),
                ("NewLeaseDuration", &lease),
            ],
        )
        .await
    }

    fn granted(
        &self,
        request: &MappingRequest,
        external_port: u16,
        internal_client: IpAddr,
        lease: u32,
    ) -> PortMapping {
        PortMapping {
            protocol: request.protocol,
            external_port,
            internal_client,
            internal_port: request.internal_port,
            description: request.description.clone(),
            lease: std::time::Duration::from_secs(lease.into()),
            permanent: lease == 0,
        }
    }
}
