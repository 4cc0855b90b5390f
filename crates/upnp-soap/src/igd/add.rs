//! Adding port mappings: [`Gateway::add_port_mapping`] with its retries after conflicts,
//! equal-port requirements and lease restrictions, and [`Gateway::add_any_port_mapping`].

use std::hash::{BuildHasher as _, RandomState};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::error::code;
use crate::soap::Arguments;

use super::{Gateway, IgdError, MAX_LEASE, MappingRequest, PortMapping, Result};

/// How many external ports `add_port_mapping` tries after conflicts (718).
const MAX_PORT_ATTEMPTS: usize = 6;

impl Gateway {
    /// Maps a port (`AddPortMapping`), working around conflicts and lease restrictions
    /// (see the module documentation).
    ///
    /// # Errors
    /// [`IgdError::Conflict`] after six conflicting external ports,
    /// [`IgdError::NotAuthorized`], [`IgdError::Control`] for other failures.
    pub async fn add_port_mapping(&self, request: &MappingRequest) -> Result<PortMapping> {
        self.bounded("AddPortMapping", self.add_port_mapping_unbounded(request))
            .await
    }

    async fn add_port_mapping_unbounded(&self, request: &MappingRequest) -> Result<PortMapping> {
        let internal_client = request.internal_client.unwrap_or(self.local_address);
        let mut lease = self.initial_lease(request.lease);
        let mut external_port = if request.external_port == 0 {
            request.internal_port
        } else {
            request.external_port
        };
        let mut tried = Vec::new();
        let mut same_ports_required = false;
        let mut tried_any = false;
        let random = RandomState::new();
        loop {
            let result = self
                .add_with_lease_fallback(
                    "AddPortMapping",
                    external_port,
                    request,
                    internal_client,
                    &mut lease,
                )
                .await;
            let fault = match result {
                Ok(_) => return Ok(self.granted(request, external_port, internal_client, lease)),
                Err(e) => match e.upnp_code() {
                    Some(code) => (code, e),
                    None => return Err(e),
                },
            };
            match fault {
                (code::SAME_PORT_VALUES_REQUIRED, _) if !same_ports_required => {
                    tracing::debug!(
                        port = request.internal_port,
                        "the gateway requires equal ports (724)"
                    );
                    same_ports_required = true;
                    tried.push(external_port);
                    external_port = request.internal_port;
                }
                (code::CONFLICT_IN_MAPPING_ENTRY | code::SAME_PORT_VALUES_REQUIRED, _) => {
                    tried.push(external_port);
                    tracing::debug!(port = external_port, "external port taken (718)");
                    if same_ports_required || tried.len() >= MAX_PORT_ATTEMPTS {
                        return Err(IgdError::Conflict {
                            url: Box::new(self.control_url().clone()),
                            tried,
                        });
                    }
                    if self.v2 && !tried_any {
                        tried_any = true;
                        match self
                            .add_any(request, external_port, internal_client, &mut lease)
                            .await
                        {
                            Ok(port) => {
                                return Ok(self.granted(request, port, internal_client, lease));
                            }
                            Err(e) if e.upnp_code().is_some_and(is_conflict) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    // A random unprivileged port not tried yet.
                    external_port = (0u32..)
                        .map(|salt| {
                            let hash = random.hash_one((request.internal_port, tried.len(), salt));
                            1024 + (hash % (65536 - 1024)) as u16
                        })
                        .find(|candidate| !tried.contains(candidate))
                        .unwrap_or(request.internal_port);
                }
                (code::ACTION_NOT_AUTHORIZED, _) => {
                    return Err(self.not_authorized("AddPortMapping"));
                }
                (_, e) => return Err(e),
            }
        }
    }

    /// Asks the gateway to pick a free external port (`AddAnyPortMapping`, v2 only),
    /// starting from `request.external_port` (or the internal port when that is 0). Lease
    /// restrictions are handled as in [`add_port_mapping`](Self::add_port_mapping).
    ///
    /// # Errors
    /// [`IgdError::NotSupported`] on a v1 service, [`IgdError::NotAuthorized`],
    /// [`IgdError::InvalidResponse`] when the reserved port does not parse, [`IgdError::Control`].
    pub async fn add_any_port_mapping(&self, request: &MappingRequest) -> Result<PortMapping> {
        self.bounded("AddAnyPortMapping", async {
            let internal_client = request.internal_client.unwrap_or(self.local_address);
            let mut lease = self.initial_lease(request.lease);
            let wanted = if request.external_port == 0 {
                request.internal_port
            } else {
                request.external_port
            };
            let port = self
                .add_any(request, wanted, internal_client, &mut lease)
                .await?;
            Ok(self.granted(request, port, internal_client, lease))
        })
        .await
    }

    /// One `AddPortMapping` or `AddAnyPortMapping`, retried once with lease 0 when the
    /// gateway refuses a finite lease (725, or 402 answering one).
    async fn add_with_lease_fallback(
        &self,
        action: &'static str,
        external_port: u16,
        request: &MappingRequest,
        internal_client: IpAddr,
        lease: &mut u32,
    ) -> Result<Arguments> {
        let first = self
            .add_once(action, external_port, request, internal_client, *lease)
            .await;
        match first {
            Err(e)
                if *lease != 0
                    && matches!(
                        e.upnp_code(),
                        Some(code::ONLY_PERMANENT_LEASES_SUPPORTED | code::INVALID_ARGS)
                    ) =>
            {
                tracing::debug!(%action, code = ?e.upnp_code(), "the gateway refuses a finite lease; retrying with a permanent one");
                let was = self.permanent_only.swap(true, Ordering::Relaxed);
                let asked = *lease;
                *lease = 0;
                let retry = self
                    .add_once(action, external_port, request, internal_client, 0)
                    .await;
                if retry
                    .as_ref()
                    .is_err_and(|e| e.upnp_code() == Some(code::INVALID_ARGS))
                {
                    // 402 again: the lease was not what it objected to.
                    self.permanent_only.store(was, Ordering::Relaxed);
                    *lease = asked;
                }
                retry
            }
            other => other,
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

    async fn add_any(
        &self,
        request: &MappingRequest,
        external_port: u16,
        internal_client: IpAddr,
        lease: &mut u32,
    ) -> Result<u16> {
        const ACTION: &str = "AddAnyPortMapping";
        if !self.v2 {
            return Err(self.not_supported(ACTION));
        }
        let reply = self
            .add_with_lease_fallback(ACTION, external_port, request, internal_client, lease)
            .await?;
        // The spec names it NewReservedPort; miniupnpd's SCPD calls it NewExternalPort.
        let reserved = reply
            .get("NewReservedPort")
            .or_else(|| reply.get("NewExternalPort"))
            .unwrap_or_default();
        match reserved.trim().parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            _ => Err(self.invalid(ACTION, "NewReservedPort", reserved)),
        }
    }

    fn initial_lease(&self, lease: Duration) -> u32 {
        if self.permanent_leases_only() || lease.is_zero() {
            return 0;
        }
        lease.min(MAX_LEASE).as_secs().max(1) as u32
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
            lease: Duration::from_secs(lease.into()),
            permanent: lease == 0,
        }
    }
}

fn is_conflict(code: u16) -> bool {
    matches!(
        code,
        code::CONFLICT_IN_MAPPING_ENTRY
            | code::NO_PORT_MAPS_AVAILABLE
            | code::CONFLICT_WITH_OTHER_MECHANISMS
    )
}
