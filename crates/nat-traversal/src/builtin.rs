//! [`Clients`]: the built-in techniques of one gateway, made once and shared, each present
//! only when its crate feature is (`pcp` for PCP and NAT-PMP, `upnp` for UPnP IGD).

use std::net::IpAddr;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::options::NatOptions;
#[cfg(feature = "pcp")]
use crate::pmp::PmpTechnique;
use crate::technique::{NatTechnique, Technique};
#[cfg(feature = "upnp")]
use crate::upnp::UpnpTechnique;

/// The built-in clients made so far for the current gateway.
#[derive(Debug, Default)]
pub(crate) struct Clients {
    #[cfg(feature = "pcp")]
    pcp: Option<Arc<PmpTechnique>>,
    #[cfg(feature = "pcp")]
    nat_pmp: Option<Arc<PmpTechnique>>,
    #[cfg(feature = "upnp")]
    upnp: Option<Arc<UpnpTechnique>>,
    /// UPnP on an IPv6 `Nat`: the IGD's IPv6 firewall control.
    #[cfg(feature = "upnp")]
    pinhole: Option<Arc<crate::pinhole::PinholeTechnique>>,
    /// The UPnP client came from the cache and has not been confirmed by an answer yet.
    #[cfg(feature = "upnp")]
    upnp_from_cache: bool,
}

/// A NAT-PMP/PCP client's epoch events, which the watcher follows (none without `pcp`).
#[cfg(feature = "pcp")]
pub(crate) type EpochEvents = tokio::sync::broadcast::Receiver<natpmp_proto::tokio::Event>;

impl Clients {
    /// The client of `kind` for `gateway`, if one was made.
    pub(crate) fn get(&self, kind: Technique, gateway: IpAddr) -> Option<Arc<dyn NatTechnique>> {
        let found: Option<Arc<dyn NatTechnique>> = match kind {
            #[cfg(feature = "pcp")]
            Technique::Pcp => self.pcp.clone().map(|t| t as Arc<dyn NatTechnique>),
            #[cfg(feature = "pcp")]
            Technique::NatPmp => self.nat_pmp.clone().map(|t| t as Arc<dyn NatTechnique>),
            #[cfg(feature = "upnp")]
            Technique::Upnp if gateway.is_ipv6() => {
                self.pinhole.clone().map(|t| t as Arc<dyn NatTechnique>)
            }
            #[cfg(feature = "upnp")]
            Technique::Upnp => self.upnp.clone().map(|t| t as Arc<dyn NatTechnique>),
            #[allow(unreachable_patterns)]
            _ => None,
        };
        found.filter(|t| t.gateway() == gateway)
    }

    /// Drops every client (the network changed).
    pub(crate) fn clear(&mut self) {
        *self = Clients::default();
    }

    /// Drops the client of `kind` (it stopped answering; UPnP is searched for again).
    pub(crate) fn forget(&mut self, kind: Technique) {
        match kind {
            #[cfg(feature = "upnp")]
            Technique::Upnp => {
                self.upnp = None;
                self.pinhole = None;
                self.upnp_from_cache = false;
            }
            _ => {}
        }
    }

    /// Whether the client of `kind` came from the cache, unconfirmed: when it does not
    /// answer, discovery should run instead of reporting the technique gone.
    pub(crate) fn is_from_cache(&self, kind: Technique) -> bool {
        match kind {
            #[cfg(feature = "upnp")]
            Technique::Upnp => self.upnp_from_cache,
            _ => false,
        }
    }

    /// The client of `kind` answered: whatever came from the cache is confirmed.
    pub(crate) fn confirm(&mut self, kind: Technique) {
        match kind {
            #[cfg(feature = "upnp")]
            Technique::Upnp => self.upnp_from_cache = false,
            _ => {}
        }
    }

    /// The control URL of the UPnP client at `gateway`, if one is in use.
    #[cfg(feature = "upnp")]
    pub(crate) fn upnp_control_url(&self, gateway: IpAddr) -> Option<upnp_soap::Url> {
        self.upnp
            .as_ref()
            .filter(|t| t.igd().service_client().http().responder() == gateway)
            .map(|t| t.igd().control_url().clone())
    }

    /// The NAT-PMP and PCP clients' epoch events.
    #[cfg(feature = "pcp")]
    pub(crate) fn epoch_events(&self) -> Vec<EpochEvents> {
        [&self.pcp, &self.nat_pmp]
            .into_iter()
            .flatten()
            .map(|t| t.client().subscribe())
            .collect()
    }
}

/// Makes the built-in technique of `kind` for `gateway`; `keep` stores it when the gateway
/// is still the current one.
///
/// `fresh` skips the UPnP cache (its entry did not answer).
pub(crate) async fn make(
    kind: Technique,
    gateway: IpAddr,
    options: &NatOptions,
    fresh: bool,
    keep: impl FnOnce(&mut dyn FnMut(&mut Clients)),
) -> Result<Arc<dyn NatTechnique>> {
    match kind {
        #[cfg(feature = "pcp")]
        Technique::Pcp | Technique::NatPmp => {
            let timeout = options.operation_timeout;
            let made = Arc::new(match kind {
                Technique::Pcp => PmpTechnique::pcp(gateway, timeout).await?,
                _ => PmpTechnique::nat_pmp(gateway, timeout).await?,
            });
            let stored = Arc::clone(&made);
            keep(&mut |clients| {
                let slot = if kind == Technique::Pcp {
                    &mut clients.pcp
                } else {
                    &mut clients.nat_pmp
                };
                *slot = Some(Arc::clone(&stored));
            });
            Ok(made)
        }
        #[cfg(feature = "upnp")]
        Technique::Upnp if gateway.is_ipv6() => {
            let made = Arc::new(
                crate::pinhole::PinholeTechnique::discover(gateway, options.probe_timeout)
                    .await?
                    .with_description(options.description.clone()),
            );
            let stored = Arc::clone(&made);
            keep(&mut |clients| clients.pinhole = Some(Arc::clone(&stored)));
            Ok(made)
        }
        #[cfg(feature = "upnp")]
        Technique::Upnp => {
            let local = netinfo::local_address_toward(gateway).ok();
            let cached = match (&options.upnp_cache, local, fresh) {
                (Some(path), Some(local), false) => crate::cache::load(path, gateway, local)
                    .and_then(|entry| {
                        UpnpTechnique::resume(
                            gateway,
                            options.probe_timeout,
                            &entry.service_type,
                            &entry.control_url,
                        )
                        .inspect_err(|error| tracing::debug!(%error, "unusable cache entry"))
                        .ok()
                    }),
                _ => None,
            };
            let mut from_cache = cached.is_some();
            let technique = match cached {
                Some(technique) => {
                    tracing::debug!(%gateway, "upnp igd from the cache");
                    technique
                }
                None => {
                    // A fresh search after a failed guess reads the description.
                    let (found, guessed) = UpnpTechnique::search(
                        gateway,
                        options.probe_timeout,
                        options.allow_other_igd,
                        !fresh,
                    )
                    .await?;
                    from_cache = guessed;
                    if let (Some(path), Some(local), true) =
                        (&options.upnp_cache, local, found.on_default_gateway())
                    {
                        crate::cache::store(
                            path,
                            &crate::cache::Entry {
                                gateway,
                                local,
                                service_type: found.igd().service_type().to_owned(),
                                control_url: found.igd().control_url().to_string(),
                            },
                        );
                    }
                    found
                }
            };
            let made = Arc::new(technique.with_description(options.description.clone()));
            let stored = Arc::clone(&made);
            keep(&mut |clients| {
                clients.upnp = Some(Arc::clone(&stored));
                clients.upnp_from_cache = from_cache;
            });
            Ok(made)
        }
        #[allow(unreachable_patterns)]
        _ => {
            let _ = (gateway, options, fresh, keep);
            Err(Error::Unsupported {
                technique: kind,
                what: format!(
                    "be used: this build of nat-traversal leaves it out (enable the `{}` feature)",
                    if kind == Technique::Upnp {
                        "upnp"
                    } else {
                        "pcp"
                    }
                ),
            })
        }
    }
}

/// The techniques built in, in the default order of preference.
pub(crate) fn available() -> Vec<Technique> {
    Technique::ALL
        .into_iter()
        .filter(|kind| match kind {
            Technique::Pcp | Technique::NatPmp => cfg!(feature = "pcp"),
            Technique::Upnp => cfg!(feature = "upnp"),
        })
        .collect()
}
