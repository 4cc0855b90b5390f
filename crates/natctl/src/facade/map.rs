//! `map` (without `--keep`): one mapping, one call; the facade records an IPv6 pinhole for
//! `list -6`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Result;
use nat_traversal::{MapRequest, Mapping, Nat, Protocol, Reachability};
use serde::Serialize;

use super::{Target, at, elsewhere_note, lifetime, reach_note, techniques_label};
use crate::cli::{Transport, Via};
use crate::output::Output;

#[derive(Serialize)]
struct MappedJson {
    protocol: &'static str,
    internal_address: Option<SocketAddr>,
    public_address: SocketAddr,
    technique: &'static str,
    lifetime: Option<u64>,
    gateway: Option<IpAddr>,
    on_default_gateway: bool,
    reachability: &'static str,
    reachable: bool,
}

fn mapped_json(nat: &Nat, mapping: &Mapping) -> MappedJson {
    let reach = Reachability::of(mapping.external.ip());
    MappedJson {
        protocol: mapping.protocol.as_str(),
        internal_address: nat
            .local_address()
            .map(|ip| SocketAddr::new(ip, mapping.internal_port)),
        public_address: mapping.external,
        technique: mapping.technique.as_str(),
        lifetime: lifetime(mapping.lifetime),
        gateway: nat.gateway(),
        on_default_gateway: mapping.on_default_gateway,
        reachability: reach.as_str(),
        reachable: reach.is_public(),
    }
}

/// What `map` was asked for.
pub(crate) struct MapArgs {
    pub(crate) protocol: Transport,
    pub(crate) internal_port: u16,
    pub(crate) external_port: u16,
    pub(crate) lifetime: u32,
}

impl MapArgs {
    pub(super) fn request(&self) -> MapRequest {
        MapRequest::new(self.protocol.into(), self.internal_port)
            .with_external_port(self.external_port)
            .with_lifetime(Duration::from_secs(self.lifetime.into()))
    }
}

pub(crate) async fn map(out: &Output, target: &Target, via: Via, args: &MapArgs) -> Result<()> {
    let nat = target.nat(via);
    out.progress().start(format!(
        "asking {} {} for {} port {}",
        techniques_label(via),
        at(&nat),
        Protocol::from(args.protocol),
        args.internal_port
    ));
    let mapping = nat.map(&args.request()).await?;
    out.progress().clear();
    let json = mapped_json(&nat, &mapping);
    out.print(&json, || {
        let internal = json
            .internal_address
            .map(|a| a.to_string())
            .unwrap_or_else(|| format!("port {}", mapping.internal_port));
        let lease = match json.lifetime {
            Some(seconds) => format!("lifetime {seconds} s"),
            None => "permanent: delete it with natctl unmap".to_owned(),
        };
        format!(
            "{} -> {internal} ({}, {lease}, via {}{}){}",
            mapping.external,
            mapping.protocol,
            mapping.technique,
            elsewhere_note(mapping.on_default_gateway, None),
            reach_note(mapping.external.ip())
        )
    });
    Ok(())
}
