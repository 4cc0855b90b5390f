//! The choice of the WAN connection service: [`connection_rank`] orders the service types,
//! and [`Gateway::from_root`] picks, among a device tree's candidates, one that is connected
//! and has a public external address.

use std::sync::Arc;

use crate::control::{RootDevice, ServiceClient};
use crate::description::Service;

use super::{Gateway, IgdError, Result};

/// The WAN connection service types, most preferred first. A later version of any of them
/// is accepted too (see [`connection_rank`]).
pub const CONNECTION_SERVICE_TYPES: [&str; 6] = [
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:2",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
    "urn:dslforum-org:service:WANIPConnection:1",
    "urn:dslforum-org:service:WANPPPConnection:1",
];

/// The most WAN connection services [`Gateway::from_root`] fetches an SCPD for and asks
/// for their status.
pub const MAX_CONNECTION_CANDIDATES: usize = 4;

impl Gateway {
    /// Picks the WAN connection service of `root`, anywhere in its tree, and fetches its
    /// SCPD. A service whose SCPD cannot be fetched or parsed is still used, unchecked.
    /// With several services, asks each for its status and external address and takes the
    /// first connected one with a public address (else the first connected one, else the
    /// first).
    ///
    /// # Errors
    /// [`IgdError::NoConnectionService`]; [`IgdError::Control`] with [`crate::Error::OffHost`]
    /// when every candidate points off the responder; [`IgdError::LocalAddress`].
    pub async fn from_root(root: &RootDevice) -> Result<Gateway> {
        let bound = root.http().config().operation_bound();
        match tokio::time::timeout(bound, Gateway::choose(root)).await {
            Ok(result) => result,
            Err(_) => Err(IgdError::OperationTimeout {
                operation: "choosing the wan connection service",
                url: Box::new(root.description().location.clone()),
                timeout: bound,
            }),
        }
    }

    async fn choose(root: &RootDevice) -> Result<Gateway> {
        let description = root.description();
        let mut candidates: Vec<(usize, &Service)> = description
            .services()
            .filter_map(|s| connection_rank(&s.service_type).map(|rank| (rank, s)))
            .collect();
        candidates.sort_by_key(|(rank, _)| *rank);
        if candidates.len() > MAX_CONNECTION_CANDIDATES {
            tracing::debug!(
                offered = candidates.len(),
                kept = MAX_CONNECTION_CANDIDATES,
                "more wan connection services than are looked at"
            );
            candidates.truncate(MAX_CONNECTION_CANDIDATES);
        }
        if candidates.is_empty() {
            return Err(IgdError::NoConnectionService {
                location: Box::new(description.location.clone()),
            });
        }
        let responder = root.http().responder();
        let local_address =
            netinfo::local_address_toward(responder).map_err(|source| IgdError::LocalAddress {
                gateway: responder,
                source: Arc::new(source),
            })?;

        let mut gateways = Vec::new();
        let mut refused = None;
        for (_, service) in candidates {
            if let Err(e) = root.http().check_url(&service.control_url) {
                refused = Some(e);
                continue;
            }
            // The IGD actions and their arguments are the standard's: no SCPD fetch (one
            // round trip less). A device without an action answers 401 Invalid Action, and
            // the methods that can fall back do (listing with GetListOfPortMappings).
            let client = ServiceClient::unchecked(root.http().clone(), service.clone());
            let mut gateway = Gateway::new(client, local_address);
            gateway.on_default_gateway = root.on_default_gateway();
            gateways.push(gateway);
        }
        if gateways.len() <= 1 {
            return match (gateways.pop(), refused) {
                (Some(gateway), _) => Ok(gateway),
                (None, Some(e)) => Err(e.into()),
                (None, None) => Err(IgdError::NoConnectionService {
                    location: Box::new(description.location.clone()),
                }),
            };
        }
        let mut best = (0, 0);
        for (index, gateway) in gateways.iter().enumerate() {
            let connected = gateway.status_info().await.is_ok_and(|s| s.is_connected());
            let public = gateway.external_address().await.is_ok();
            let score = 2 * usize::from(connected) + usize::from(public);
            tracing::debug!(service_type = %gateway.service_type(), connected, public, "candidate wan connection");
            if score > best.1 {
                best = (index, score);
            }
        }
        Ok(gateways.swap_remove(best.0))
    }
}

/// The preference rank of a WAN connection service type (0 is best), `None` for others:
/// `WANIPConnection` version 2 or later, version 1, `WANPPPConnection` version 2 or later,
/// version 1, then the `urn:dslforum-org` `WANIPConnection` and `WANPPPConnection` of any
/// version.
pub fn connection_rank(service_type: &str) -> Option<usize> {
    let (family, version) = crate::description::split_type(service_type.trim())?;
    let later = usize::from(version < 2);
    match family {
        "urn:schemas-upnp-org:service:WANIPConnection" => Some(later),
        "urn:schemas-upnp-org:service:WANPPPConnection" => Some(2 + later),
        "urn:dslforum-org:service:WANIPConnection" => Some(4),
        "urn:dslforum-org:service:WANPPPConnection" => Some(5),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_services_are_ranked() {
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:WANIPConnection:2"),
            Some(0)
        );
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:WANPPPConnection:1"),
            Some(3)
        );
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:WANPPPConnection:2"),
            Some(2)
        );
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:WANIPConnection:3"),
            Some(0)
        );
        assert_eq!(
            connection_rank("urn:dslforum-org:service:WANIPConnection:1"),
            Some(4)
        );
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:WANIPConnection"),
            None
        );
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:WANIPConnection:x"),
            None
        );
        for (rank, service_type) in CONNECTION_SERVICE_TYPES.iter().enumerate() {
            assert_eq!(connection_rank(service_type), Some(rank));
        }
        assert_eq!(
            connection_rank("urn:schemas-upnp-org:service:Layer3Forwarding:1"),
            None
        );
    }
}
