//! `external-ip`: the gateway's external address through the facade, and without `-4`/`-6`
//! the IPv6 side too (one dual-stack call).

use std::net::IpAddr;

use anyhow::Result;
use nat_traversal::ExternalAddress;
use serde::Serialize;

use super::{Target, at, elsewhere_note, techniques_label};
use crate::cli::Via;
use crate::output::Output;

#[derive(Serialize)]
struct ExternalIpJson {
    external_ip: IpAddr,
    technique: &'static str,
    gateway: IpAddr,
    on_default_gateway: bool,
    reachability: &'static str,
    reachable: bool,
    /// Without `-4`/`-6`: the IPv6 side (this host's global address, where the gateway
    /// opens pinholes); absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv6: Option<Box<ExternalIpJson>>,
}

fn json(found: &ExternalAddress) -> ExternalIpJson {
    let reach = found.reachability();
    ExternalIpJson {
        external_ip: found.address,
        technique: found.technique.as_str(),
        gateway: found.gateway,
        on_default_gateway: found.on_default_gateway,
        reachability: reach.as_str(),
        reachable: reach.is_public(),
        ipv6: None,
    }
}

fn text(found: &ExternalAddress) -> String {
    let reach = found.reachability();
    let elsewhere = elsewhere_note(found.on_default_gateway, Some(found.gateway));
    if reach.is_public() {
        format!("{}{elsewhere}", found.address)
    } else {
        format!("{}{elsewhere} ({reach})", found.address)
    }
}

pub(crate) async fn external_ip(out: &Output, target: &Target, via: Via) -> Result<()> {
    let nat = target.nat(via);
    out.progress().start(format!(
        "asking {} {} for the external address",
        techniques_label(via),
        at(&nat)
    ));
    let (found, also) = if target.both() {
        let both = nat
            .dual_stack(|nat| async move { nat.external_address().await })
            .await;
        let also = both.ipv6.and_then(|r| {
            r.inspect_err(|error| tracing::debug!(%error, "no ipv6 address through the gateway"))
                .ok()
        });
        (both.ipv4?, also)
    } else {
        (nat.external_address().await?, None)
    };
    out.progress().clear();
    let mut document = json(&found);
    document.ipv6 = also.as_ref().map(|a| Box::new(json(a)));
    out.print(&document, || match &also {
        Some(v6) => format!("{}\n{} (IPv6)", text(&found), text(v6)),
        None => text(&found),
    });
    Ok(())
}
