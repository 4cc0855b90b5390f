//! `unmap` and `unmap-all`: this host's mapping of a port, or every mapping, removed
//! whichever technique made it; without `-4`/`-6` the IPv6 side too (one dual-stack call).

use std::net::IpAddr;

use anyhow::Result;
use nat_traversal::{Nat, Protocol, UnmapReport, Unmapped};
use serde::Serialize;

use super::{Target, at, techniques_label};
use crate::cli::{Transport, Via};
use crate::output::Output;

#[derive(Serialize)]
struct TechniqueOutcomeJson {
    technique: &'static str,
    outcome: &'static str,
    count: Option<usize>,
    detail: Option<String>,
}

#[derive(Serialize)]
struct UnmappedJson {
    protocol: &'static str,
    internal_port: Option<u16>,
    removed: bool,
    removed_count: Option<usize>,
    gateway: IpAddr,
    techniques: Vec<TechniqueOutcomeJson>,
    /// Without `-4`/`-6`: what the IPv6 side removed; absent when it removed nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv6: Option<Box<UnmappedJson>>,
}

fn json(report: &UnmapReport) -> UnmappedJson {
    UnmappedJson {
        protocol: report.protocol.as_str(),
        internal_port: report.internal_port,
        removed: report.removed(),
        removed_count: report.removed_count(),
        gateway: report.gateway,
        techniques: report
            .results
            .iter()
            .map(|r| {
                let (outcome, count, detail) = match &r.outcome {
                    Ok(Unmapped::Removed { count }) => ("removed", *count, None),
                    Ok(Unmapped::NotThere) => ("not_there", Some(0), None),
                    Ok(Unmapped::CannotTell) => ("cannot_tell", None, None),
                    Ok(Unmapped::Refused { error }) => ("refused", None, Some(error.to_string())),
                    Ok(other) => ("other", None, Some(other.to_string())),
                    Err(error) if r.answered() => ("refused", None, Some(error.to_string())),
                    Err(error) => ("error", None, Some(error.to_string())),
                };
                TechniqueOutcomeJson {
                    technique: r.technique.as_str(),
                    outcome,
                    count,
                    detail,
                }
            })
            .collect(),
        ipv6: None,
    }
}

/// The human line for an unmap report.
fn text(report: &UnmapReport) -> String {
    let protocol = report.protocol;
    let details = report.to_string();
    let what = match report.internal_port {
        Some(port) => format!("{protocol} mapping of port {port}"),
        None => format!("{protocol} mappings of this host"),
    };
    if report.removed() {
        let removers: Vec<String> = report.removed_by().map(|t| t.to_string()).collect();
        return match (report.internal_port, report.removed_count()) {
            (Some(_), _) => format!("removed the {what} (via {})", removers.join(", ")),
            (None, Some(1)) => format!("removed 1 {protocol} mapping of this host ({details})"),
            (None, Some(count)) => {
                format!("removed {count} {protocol} mappings of this host ({details})")
            }
            (None, None) => format!("removed the {what} ({details})"),
        };
    }
    if report.verified() {
        format!("nothing to remove: no {what} ({details})")
    } else {
        format!(
            "asked to remove the {what}; the gateway does not say whether there was any ({details})"
        )
    }
}

pub(crate) async fn unmap(
    out: &Output,
    target: &Target,
    via: Via,
    protocol: Transport,
    internal_port: Option<u16>,
) -> Result<()> {
    let protocol = Protocol::from(protocol);
    let what = match internal_port {
        Some(port) => format!("the {protocol} mapping of port {port}"),
        None => format!("every {protocol} mapping of this host"),
    };
    let nat = target.nat(via);
    out.progress().start(format!(
        "asking {} {} to remove {what}",
        techniques_label(via),
        at(&nat)
    ));
    let remove = |nat: Nat| async move {
        match internal_port {
            Some(port) => nat.unmap_port(protocol, port).await,
            None => nat.unmap_all(protocol).await,
        }
    };
    let (report, also) = if target.both() {
        let both = nat.dual_stack(remove).await;
        // The IPv6 side is shown when it removed something or a technique accepted the
        // deletion: a network without IPv6 pinholes adds nothing to the answer.
        let also = both
            .ipv6
            .and_then(|r| {
                r.inspect_err(|error| tracing::debug!(%error, "no ipv6 pinhole removed"))
                    .ok()
            })
            .filter(|r| r.removed() || r.cannot_tell());
        (both.ipv4?, also)
    } else {
        (remove(nat).await?, None)
    };
    out.progress().clear();
    let mut document = json(&report);
    document.ipv6 = also.as_ref().map(|r| Box::new(json(r)));
    out.print(&document, || match &also {
        Some(v6) => format!("{}\n{} (IPv6)", text(&report), text(v6)),
        None => text(&report),
    });
    Ok(())
}
