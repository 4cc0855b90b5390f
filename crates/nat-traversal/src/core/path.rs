//! The network path a `Nat` serves, chosen the way the kernel chooses it: the route it
//! picks for internet traffic (its interface, its gateway, this host's address there), or
//! the interface or gateway the program asked for; the other paths of the host, each with
//! why it was not taken; and this host's interface addresses.

use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::network::{NetworkPath, PassedOver, WhyNot};
use crate::options::NatOptions;

/// Which side of a dual-stack network a `Nat` works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// IPv4: port mappings at a NAT.
    V4,
    /// IPv6: pinholes in the gateway's firewall (PCP and UPnP WANIPv6FirewallControl).
    V6,
}

impl Family {
    /// The family of a gateway given (an IPv4-mapped IPv6 address is IPv4).
    pub(crate) fn of(gateway: Option<IpAddr>) -> Family {
        match gateway {
            Some(IpAddr::V6(gateway)) if gateway.to_ipv4_mapped().is_none() => Family::V6,
            _ => Family::V4,
        }
    }

    fn netinfo(self) -> netinfo::Family {
        match self {
            Family::V4 => netinfo::Family::V4,
            Family::V6 => netinfo::Family::V6,
        }
    }

    fn number(self) -> u8 {
        match self {
            Family::V4 => 4,
            Family::V6 => 6,
        }
    }
}

/// The path taken (or why none can be) and the ones passed over.
#[derive(Debug, Clone)]
pub(crate) struct Survey {
    pub(crate) taken: Result<NetworkPath>,
    pub(crate) passed_over: Vec<PassedOver>,
}

/// The default gateway of `family`: the gateway of the path the kernel picks for internet
/// traffic.
pub(crate) fn default_gateway(options: &NatOptions, family: Family) -> Result<IpAddr> {
    read(options, family).map(|path| path.gateway)
}

/// The path of `family`: toward the gateway given, on the interface asked for, or the one
/// the kernel picks for internet traffic.
pub(crate) fn read(options: &NatOptions, family: Family) -> Result<NetworkPath> {
    survey(options, family).taken
}

/// The path of `family` and the host's other default paths, each with why it was not taken.
pub(crate) fn survey(options: &NatOptions, family: Family) -> Survey {
    // The IPv6 side's options carry the IPv6 gateway given as their gateway.
    if let Some(gateway) = options.gateway() {
        return Survey {
            taken: toward(gateway),
            passed_over: Vec::new(),
        };
    }
    let defaults = match netinfo::default_paths(family.netinfo()) {
        Ok(paths) => paths,
        Err(error) => {
            tracing::debug!(%error, "cannot list the default routes");
            Vec::new()
        }
    };
    if let Some(asked) = options.interface() {
        return on_interface(asked, family, &defaults);
    }
    let internet = match netinfo::internet_path(family.netinfo()) {
        Ok(path) => path,
        Err(error) => {
            return Survey {
                taken: Err(error.into()),
                passed_over: Vec::new(),
            };
        }
    };
    let through_tunnel = internet.gateway.is_none() || internet.kind == netinfo::LinkKind::Tunnel;
    // The router of a non-tunnel default route: where a mapping would otherwise be made.
    let router = defaults.iter().find(|p| {
        p.gateway.is_some()
            && p.interface != internet.interface
            && p.kind != netinfo::LinkKind::Tunnel
    });
    match (through_tunnel, internet.gateway) {
        (true, gateway) if router.is_some() || gateway.is_none() => {
            let passed_over = defaults
                .iter()
                .filter(|p| p.interface != internet.interface)
                .map(|p| {
                    passed(
                        p,
                        WhyNot::TrafficLeavesThrough {
                            tunnel: internet.interface.clone(),
                        },
                    )
                })
                .collect();
            Survey {
                taken: Err(Error::TrafficThroughTunnel {
                    interface: internet.interface.clone(),
                    router: router.and_then(|p| p.gateway),
                    router_interface: router.map(|p| p.interface.clone()),
                }),
                passed_over,
            }
        }
        (_, Some(gateway)) => {
            let taken = NetworkPath {
                interface: Some(internet.interface.clone()),
                local_address: internet.local_address,
                gateway,
            };
            let taken_metric = defaults
                .iter()
                .find(|p| p.interface == internet.interface && p.gateway == Some(gateway))
                .and_then(|p| p.metric);
            let passed_over = defaults
                .iter()
                .filter(|p| !(p.interface == internet.interface && p.gateway == Some(gateway)))
                .map(|p| {
                    let why = if p.kind == netinfo::LinkKind::Tunnel {
                        WhyNot::NotTheInternetRoute
                    } else {
                        WhyNot::HigherMetric {
                            metric: p.metric,
                            taken: taken_metric,
                        }
                    };
                    passed(p, why)
                })
                .collect();
            Survey {
                taken: Ok(taken),
                passed_over,
            }
        }
        // A tunnel with no gateway and no other router: nothing to ask (a host on a
        // point-to-point uplink, or a VPN alone).
        (_, None) => Survey {
            taken: Err(Error::TrafficThroughTunnel {
                interface: internet.interface.clone(),
                router: None,
                router_interface: None,
            }),
            passed_over: Vec::new(),
        },
    }
}

/// The path through the default route of the interface `asked`.
fn on_interface(asked: &str, family: Family, defaults: &[netinfo::Path]) -> Survey {
    let chosen = defaults
        .iter()
        .find(|p| p.interface == asked && p.gateway.is_some());
    let passed_over = defaults
        .iter()
        .filter(|p| p.interface != asked)
        .map(|p| {
            passed(
                p,
                WhyNot::NotAsked {
                    asked: asked.to_owned(),
                },
            )
        })
        .collect();
    let taken = match chosen.and_then(|p| p.gateway.map(|gateway| (p, gateway))) {
        Some((path, gateway)) => Ok(NetworkPath {
            interface: Some(path.interface.clone()),
            local_address: path.local_address,
            gateway,
        }),
        None => Err(Error::NoGatewayOnInterface {
            interface: asked.to_owned(),
            family: family.number(),
        }),
    };
    Survey { taken, passed_over }
}

fn passed(path: &netinfo::Path, why: WhyNot) -> PassedOver {
    PassedOver {
        interface: path.interface.clone(),
        local_address: Some(path.local_address),
        gateway: path.gateway,
        why,
    }
}

/// The path toward a gateway given: the route the kernel picks toward it.
fn toward(gateway: IpAddr) -> Result<NetworkPath> {
    match netinfo::route_to(gateway) {
        Ok(route) => Ok(NetworkPath {
            interface: Some(route.interface),
            local_address: route.local_address,
            gateway,
        }),
        Err(error) => {
            tracing::debug!(%error, %gateway, "no route read toward the gateway given");
            Ok(NetworkPath {
                interface: None,
                local_address: netinfo::local_address_toward(gateway)?,
                gateway,
            })
        }
    }
}

/// Every address of every interface that is up; empty when they cannot be listed.
pub(crate) fn local_addresses() -> Vec<IpAddr> {
    match netinfo::interface_addresses() {
        Ok(mut addresses) => {
            addresses.sort();
            addresses.dedup();
            addresses
        }
        Err(error) => {
            tracing::warn!(%error, "cannot list the interface addresses");
            Vec::new()
        }
    }
}
