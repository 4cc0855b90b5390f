//! The Internet Gateway Device client: finds the WAN connection service anywhere in a
//! device tree and maps ports through it, handling the well-known error codes.
//!
//! Services, in order of preference: `WANIPConnection` (version 2 or later first, then
//! version 1), `WANPPPConnection` (any version: an Orange LiveBox offers only
//! `WANPPPConnection:2`), then the `urn:dslforum-org` variants (FRITZ!Box TR-064). Types
//! are matched by family and version, never as an exact list: UPnP versions are backward
//! compatible, so a `:3` is used like a `:2`. With several, the gateway prefers one that is
//! connected (`GetStatusInfo`) and has a public external address; at most
//! [`MAX_CONNECTION_CANDIDATES`] are looked at, so a description listing a thousand
//! services costs a handful of requests.
//!
//! Every public operation is bounded as a whole by [`Config::operation_bound`]: retries
//! after conflicts, lease fallbacks and table listings included.
//!
//! Error codes handled by [`Gateway::add_port_mapping`] (decided by [`policy::AddMapping`]):
//! - 718 `ConflictInMappingEntry`: another client holds the port. `AddAnyPortMapping` is
//!   tried on a v2 service, then a few other external ports; nobody's mapping is deleted.
//! - 724 `SamePortValuesRequired`: retried with the external port equal to the internal one.
//! - 725 `OnlyPermanentLeasesSupported`, and 402 `InvalidArgs` answering a finite lease:
//!   retried with lease 0, and remembered for later calls. Such a mapping outlives us unless
//!   deleted; it comes back with [`PortMapping::permanent`] set.
//! - 606 `ActionNotAuthorized`: [`IgdError::NotAuthorized`].
//!
//! # Layout
//!
//! - `error`: [`IgdError`], with [`Result`].
//! - `types`: [`Protocol`], [`MappingRequest`], [`PortMapping`], [`PortMappingEntry`],
//!   [`StatusInfo`], [`Deleted`], [`MAX_LEASE`].
//! - `choose`: [`connection_rank`] and the choice of the WAN connection service.
//! - [`policy`]: the fault policy of adding a mapping, a sans-IO state machine
//!   ([`policy::AddMapping`]): which fault leads to which next attempt.
//! - `add`: adding mappings, performing what the policy decides.
//! - `listing`: reading the mapping table, [`parse_port_listing`].

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::Url;
use crate::control::{RootDevice, ServiceClient};
use crate::description::Service;
use crate::error::code;
use crate::http::Config;
use crate::http::HttpClient;
use crate::soap::Arguments;

mod add;
mod choose;
mod error;
mod listing;
pub mod policy;
mod types;

pub use choose::{CONNECTION_SERVICE_TYPES, MAX_CONNECTION_CANDIDATES, connection_rank};
pub use error::{IgdError, Result};
pub use listing::parse_port_listing;
pub use types::{
    Deleted, MAX_LEASE, MappingRequest, PortMapping, PortMappingEntry, Protocol, StatusInfo,
};

/// A WAN connection service of an Internet Gateway Device, ready to map ports.
///
/// Cloning is cheap and clones share what was learnt about the gateway (that it only
/// accepts permanent leases).
#[derive(Debug, Clone)]
pub struct Gateway {
    client: ServiceClient,
    local_address: IpAddr,
    v2: bool,
    permanent_only: Arc<AtomicBool>,
    on_default_gateway: bool,
}

impl Gateway {
    /// Fetches the description at `location` from `responder` and picks its WAN connection
    /// service (see [`from_root`](Self::from_root)).
    ///
    /// # Errors
    /// Those of [`RootDevice::fetch`] and [`from_root`](Self::from_root).
    pub async fn connect(location: &Url, responder: IpAddr, config: Config) -> Result<Gateway> {
        let root = RootDevice::fetch(location, responder, config).await?;
        Gateway::from_root(&root).await
    }

    /// A gateway over a WAN connection service known from an earlier discovery (a cache of
    /// its type and control URL), without fetching anything: the first call shows whether it
    /// is still there. The control URL must be on `responder`, like every URL a device gives.
    ///
    /// # Errors
    /// [`IgdError::Control`] with [`crate::Error::OffHost`] or
    /// [`crate::Error::UnsupportedScheme`] for a URL not on `responder`;
    /// [`IgdError::NoConnectionService`] for a type that is not a WAN connection service;
    /// [`IgdError::LocalAddress`].
    pub fn resume(
        responder: IpAddr,
        config: Config,
        service_type: &str,
        control_url: &Url,
    ) -> Result<Gateway> {
        let http = HttpClient::new(responder, config);
        http.check_url(control_url)?;
        if connection_rank(service_type).is_none() {
            return Err(IgdError::NoConnectionService {
                location: Box::new(control_url.clone()),
            });
        }
        let local_address =
            netinfo::local_address_toward(responder).map_err(|source| IgdError::LocalAddress {
                gateway: responder,
                source: Arc::new(source),
            })?;
        let service = Service::resumed(service_type, control_url);
        let mut gateway = Gateway::new(ServiceClient::unchecked(http, service), local_address);
        gateway.on_default_gateway = true;
        Ok(gateway)
    }

    /// A gateway over a service client, mapping to `local_address` by default.
    pub fn new(client: ServiceClient, local_address: IpAddr) -> Gateway {
        let v2 = client.has_action("AddAnyPortMapping").unwrap_or_else(|| {
            crate::description::split_type(&client.service().service_type)
                .is_some_and(|(_, version)| version >= 2)
        });
        Gateway {
            client,
            local_address,
            v2,
            permanent_only: Arc::new(AtomicBool::new(false)),
            on_default_gateway: false,
        }
    }

    /// Whether the device answering is this host's default gateway. An IGD elsewhere on the
    /// LAN is used only when the caller allowed it ([`DiscoverOptions::allow_other_igd`](
    /// crate::DiscoverOptions::allow_other_igd)), and callers should say so in their output:
    /// any LAN host can claim to be a gateway.
    pub fn on_default_gateway(&self) -> bool {
        self.on_default_gateway
    }

    /// Marks the gateway as being (or not) on the default gateway (for gateways built with
    /// [`new`](Self::new)).
    pub fn set_on_default_gateway(&mut self, on_default_gateway: bool) {
        self.on_default_gateway = on_default_gateway;
    }

    /// Runs one operation within [`Config::operation_bound`].
    async fn bounded<T>(
        &self,
        operation: &'static str,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let bound = self.client.http().config().operation_bound();
        match tokio::time::timeout(bound, work).await {
            Ok(result) => result,
            Err(_) => Err(IgdError::OperationTimeout {
                operation,
                url: Box::new(self.control_url().clone()),
                timeout: bound,
            }),
        }
    }

    /// The service client (for calling other actions through the generic dispatcher).
    pub fn service_client(&self) -> &ServiceClient {
        &self.client
    }

    /// The service type, e.g. `urn:schemas-upnp-org:service:WANIPConnection:2`.
    pub fn service_type(&self) -> &str {
        &self.client.service().service_type
    }

    /// The control URL.
    pub fn control_url(&self) -> &Url {
        &self.client.service().control_url
    }

    /// Whether the service offers the WANIPConnection:2 actions (`AddAnyPortMapping`,
    /// `GetListOfPortMappings`).
    pub fn is_v2(&self) -> bool {
        self.v2
    }

    /// This host's address toward the gateway, the default internal client.
    pub fn local_address(&self) -> IpAddr {
        self.local_address
    }

    /// Whether the gateway was found to accept only permanent leases.
    pub fn permanent_leases_only(&self) -> bool {
        self.permanent_only.load(Ordering::Relaxed)
    }

    /// The gateway's external address (`GetExternalIPAddress`), public only.
    ///
    /// # Errors
    /// [`IgdError::NoExternalAddress`] for an empty or `0.0.0.0` answer (no WAN connection),
    /// [`IgdError::PrivateExternalAddress`] for a private one (double NAT or CGNAT; the error
    /// carries it, and [`reported_external_address`](Self::reported_external_address)
    /// returns it for callers that classify it themselves), [`IgdError::InvalidResponse`] when
    /// it does not parse.
    pub async fn external_address(&self) -> Result<IpAddr> {
        let address = self.reported_external_address().await?;
        if !netinfo::is_public(address) {
            return Err(IgdError::PrivateExternalAddress {
                url: Box::new(self.control_url().clone()),
                address,
            });
        }
        Ok(address)
    }

    /// The external address as the gateway reports it, private or shared (CGNAT) ones
    /// included: what a caller needs to classify double NAT itself.
    ///
    /// # Errors
    /// [`IgdError::NoExternalAddress`] for an empty or `0.0.0.0` answer (no WAN connection),
    /// [`IgdError::InvalidResponse`] when it does not parse, [`IgdError::OperationTimeout`].
    pub async fn reported_external_address(&self) -> Result<IpAddr> {
        const ACTION: &str = "GetExternalIPAddress";
        let reply = self.bounded(ACTION, self.call(ACTION, &[])).await?;
        let reported = reply.get("NewExternalIPAddress").unwrap_or_default().trim();
        if reported.is_empty() {
            return Err(self.no_external_address(reported));
        }
        let address: IpAddr = reported
            .parse()
            .map_err(|_| self.invalid(ACTION, "NewExternalIPAddress", reported))?;
        if netinfo::is_wildcard(address) {
            return Err(self.no_external_address(reported));
        }
        Ok(address)
    }

    /// The connection's status (`GetStatusInfo`).
    ///
    /// # Errors
    /// [`IgdError::Control`] when the call fails.
    pub async fn status_info(&self) -> Result<StatusInfo> {
        let reply = self
            .bounded("GetStatusInfo", self.call("GetStatusInfo", &[]))
            .await?;
        Ok(StatusInfo {
            connection_status: reply
                .get("NewConnectionStatus")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            last_connection_error: reply
                .get("NewLastConnectionError")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            uptime: reply
                .get("NewUptime")
                .and_then(|u| u.trim().parse().ok())
                .map(Duration::from_secs),
        })
    }

    /// Deletes a mapping (`DeletePortMapping`).
    ///
    /// # Errors
    /// [`IgdError::NotAuthorized`]; [`IgdError::Control`] with code 714 when there is no such
    /// mapping.
    pub async fn delete_port_mapping(&self, protocol: Protocol, external_port: u16) -> Result<()> {
        const ACTION: &str = "DeletePortMapping";
        let port = external_port.to_string();
        self.bounded(
            ACTION,
            self.call(
                ACTION,
                &[
                    ("NewRemoteHost", ""),
                    ("NewExternalPort", &port),
                    ("NewProtocol", protocol.as_str()),
                ],
            ),
        )
        .await
        .map(|_| ())
    }

    /// Deletes a mapping (`DeletePortMapping`) directly, without looking for it in the
    /// table first, and says whether it was there: 714 (`NoSuchEntryInArray`) is
    /// [`Deleted::NotThere`], not an error.
    ///
    /// # Errors
    /// [`IgdError::NotAuthorized`], [`IgdError::OperationTimeout`], [`IgdError::Control`] for other
    /// failures.
    pub async fn remove_port_mapping(
        &self,
        protocol: Protocol,
        external_port: u16,
    ) -> Result<Deleted> {
        match self.delete_port_mapping(protocol, external_port).await {
            Ok(()) => Ok(Deleted::Removed),
            Err(e) if e.upnp_code() == Some(code::NO_SUCH_ENTRY_IN_ARRAY) => Ok(Deleted::NotThere),
            Err(e) => Err(e),
        }
    }

    /// Calls an action through the service client, turning 606 into
    /// [`IgdError::NotAuthorized`].
    async fn call(&self, action: &'static str, arguments: &[(&str, &str)]) -> Result<Arguments> {
        match self.client.call(action, arguments).await {
            Ok(reply) => Ok(reply),
            Err(e) if e.upnp_code() == Some(code::ACTION_NOT_AUTHORIZED) => {
                Err(self.not_authorized(action))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn invalid(&self, action: &'static str, argument: &'static str, value: &str) -> IgdError {
        IgdError::InvalidResponse {
            action,
            url: Box::new(self.control_url().clone()),
            argument,
            value: value.to_owned(),
        }
    }

    fn not_authorized(&self, action: &'static str) -> IgdError {
        IgdError::NotAuthorized {
            action,
            url: Box::new(self.control_url().clone()),
        }
    }

    fn not_supported(&self, action: &'static str) -> IgdError {
        IgdError::NotSupported {
            action,
            url: Box::new(self.control_url().clone()),
            service_type: self.service_type().to_owned(),
        }
    }

    fn no_external_address(&self, reported: &str) -> IgdError {
        IgdError::NoExternalAddress {
            url: Box::new(self.control_url().clone()),
            reported: reported.to_owned(),
        }
    }
}
