//! The built-in techniques, made for a gateway: PCP and NAT-PMP ([`PmpTechnique`], feature
//! `pcp`), UPnP IGD ([`UpnpTechnique`], or [`PinholeTechnique`] on IPv6; feature `upnp`).
//! This is the one place outside the technique folders that names the protocols.

use std::net::IpAddr;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::options::NatOptions;
#[cfg(feature = "pcp")]
use crate::pcp::PmpTechnique;
use crate::technique::{NatTechnique, Technique};
#[cfg(feature = "upnp")]
use crate::upnp::{PinholeTechnique, UpnpTechnique, cache};

/// A technique made, and whether it is only a guess not yet confirmed by an answer (a UPnP
/// IGD from the cache, or known from a search answer alone): when such a technique fails in
/// a way that [`Error::may_be_stale`] covers, it is made again afresh.
pub(crate) struct Made {
    pub(crate) technique: Arc<dyn NatTechnique>,
    pub(crate) provisional: bool,
}

/// Makes the built-in technique of `kind` for `gateway`. `fresh` skips every shortcut (the
/// UPnP cache, the search answer alone): the last guess did not answer.
pub(crate) async fn make(
    kind: Technique,
    gateway: IpAddr,
    options: &NatOptions,
    fresh: bool,
) -> Result<Made> {
    match kind {
        #[cfg(feature = "pcp")]
        Technique::Pcp | Technique::NatPmp => {
            let timeout = options.operation_timeout();
            let technique = match kind {
                Technique::Pcp => PmpTechnique::pcp(gateway, timeout).await?,
                _ => PmpTechnique::nat_pmp(gateway, timeout).await?,
            };
            Ok(Made {
                technique: Arc::new(technique),
                provisional: false,
            })
        }
        #[cfg(feature = "upnp")]
        Technique::Upnp if gateway.is_ipv6() => {
            let recorded = options
                .pinhole_record()
                .map(|path| crate::pinholes::PinholeRecord::new(path).upnp_ids())
                .unwrap_or_default();
            let technique = PinholeTechnique::discover(gateway, options.probe_timeout())
                .await?
                .with_description(options.description())
                .with_known_pinholes(recorded);
            Ok(Made {
                technique: Arc::new(technique),
                provisional: false,
            })
        }
        #[cfg(feature = "upnp")]
        Technique::Upnp => upnp(gateway, options, fresh).await,
        _ => {
            let _ = (gateway, options, fresh);
            Err(Error::Unsupported {
                technique: kind,
                what: match kind {
                    Technique::Other(_) => {
                        "be made by the facade: it is not a built-in technique".to_owned()
                    }
                    _ => format!(
                        "be used: this build of nat-traversal leaves it out (enable the `{}` feature)",
                        if kind == Technique::Upnp {
                            "upnp"
                        } else {
                            "pcp"
                        }
                    ),
                },
            })
        }
    }
}

/// The UPnP IGD of `gateway`: from the cache when it has one (nothing sent), else searched
/// for (using a search answer alone when it says enough, unless `fresh`), and cached.
#[cfg(feature = "upnp")]
async fn upnp(gateway: IpAddr, options: &NatOptions, fresh: bool) -> Result<Made> {
    let local = netinfo::local_address_toward(gateway).ok();
    let cached = match (options.upnp_cache(), local, fresh) {
        (Some(path), Some(local), false) => cache::load(path, gateway, local).and_then(|entry| {
            UpnpTechnique::resume(
                gateway,
                options.probe_timeout(),
                &entry.service_type,
                &entry.control_url,
            )
            .inspect_err(|error| tracing::debug!(%error, "unusable cache entry"))
            .ok()
        }),
        _ => None,
    };
    let (technique, provisional) = match cached {
        Some(technique) => {
            tracing::debug!(%gateway, "upnp igd from the cache");
            (technique, true)
        }
        None => {
            let (found, guessed) = UpnpTechnique::search(
                gateway,
                options.probe_timeout(),
                options.allow_other_igd(),
                !fresh,
            )
            .await?;
            if let (Some(path), Some(local), true) =
                (options.upnp_cache(), local, found.on_default_gateway())
            {
                cache::store(
                    path,
                    &cache::Entry {
                        gateway,
                        local,
                        service_type: found.igd().service_type().to_owned(),
                        control_url: found.igd().control_url().to_string(),
                    },
                );
            }
            (found, guessed)
        }
    };
    Ok(Made {
        technique: Arc::new(technique.with_description(options.description())),
        provisional,
    })
}

/// A provisional technique of `kind` did not answer: whatever made it a guess is dropped
/// (the UPnP cache entry).
pub(crate) fn forget_guess(kind: Technique, gateway: IpAddr, options: &NatOptions) {
    #[cfg(feature = "upnp")]
    if kind == Technique::Upnp {
        if let (Some(path), Ok(local)) =
            (options.upnp_cache(), netinfo::local_address_toward(gateway))
        {
            cache::forget(path, gateway, local);
        }
    }
    let _ = (kind, gateway, options);
}
