//! `probe`, `--via auto`, and `map --keep`: the nat-traversal facade.
//!
//! `--via auto` probes every technique and then runs the same command through the one the
//! facade selects (PCP, then NAT-PMP, then UPnP), so that what `natctl map --via auto` made,
//! `natctl unmap --via auto` (or `--via` that technique) can find and delete again.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Result, bail};
use nat_traversal::{
    MapRequest, Nat, NatOptions, PortAssignments, ProbeOutcome, ProbeReport, Protocol, Technique,
};
use serde::Serialize;

use crate::mapping::{Target, Transport, Via};
use crate::output::Output;

fn options(target: &Target) -> NatOptions {
    let mut options = NatOptions::default()
        .probe_timeout(target.timeout)
        .operation_timeout(target.timeout)
        .description("natctl");
    if let Some(gateway) = target.gateway {
        options = options.gateway(gateway);
    }
    options
}

fn via_of(technique: Technique) -> Via {
    match technique {
        Technique::Pcp => Via::Pcp,
        Technique::NatPmp => Via::Pmp,
        Technique::Upnp => Via::Upnp,
    }
}

fn technique_of(via: Via) -> Option<Technique> {
    match via {
        Via::Auto => None,
        Via::Pcp => Some(Technique::Pcp),
        Via::Pmp => Some(Technique::NatPmp),
        Via::Upnp => Some(Technique::Upnp),
    }
}

/// The technique `--via auto` stands for at this gateway right now.
pub(crate) async fn resolve(target: &Target) -> Result<Via> {
    let nat = Nat::new(options(target));
    let technique = nat.technique().await?;
    Ok(via_of(technique.kind()))
}

#[derive(Serialize)]
struct ProbeRow {
    technique: String,
    available: bool,
    latency_ms: Option<f64>,
    external_ip: Option<IpAddr>,
    error: Option<String>,
    selected: bool,
}

#[derive(Serialize)]
struct ProbeJson {
    gateway: IpAddr,
    selected: Option<String>,
    elapsed_ms: f64,
    techniques: Vec<ProbeRow>,
}

pub(crate) async fn probe(out: &Output, target: &Target) -> Result<()> {
    let nat = Nat::new(options(target));
    let report: ProbeReport = nat.probe().await?;
    let rows: Vec<ProbeRow> = report
        .results
        .iter()
        .map(|result| {
            let (latency, error) = match &result.outcome {
                ProbeOutcome::Answered { latency, .. } => (Some(*latency), None),
                ProbeOutcome::Failed { error, latency } => (Some(*latency), Some(error.clone())),
                _ => (None, Some("not awaited".to_owned())),
            };
            ProbeRow {
                technique: result.technique.to_string(),
                available: result.external_address().is_some(),
                latency_ms: latency.map(|l| l.as_secs_f64() * 1000.0),
                external_ip: result.external_address(),
                error,
                selected: report.selected == Some(result.technique),
            }
        })
        .collect();
    let json = ProbeJson {
        gateway: report.gateway,
        selected: report.selected.map(|t| t.to_string()),
        elapsed_ms: report.elapsed.as_secs_f64() * 1000.0,
        techniques: rows,
    };
    out.print(&json, || {
        let mut text = format!(
            "gateway {}\n{:<10} {:<10} {:>10}  {}\n",
            json.gateway, "technique", "available", "latency", "external IP"
        );
        for row in &json.techniques {
            let latency = row
                .latency_ms
                .map(|ms| format!("{ms:.1} ms"))
                .unwrap_or_else(|| "-".into());
            let detail = match (&row.external_ip, &row.error) {
                (Some(ip), _) if row.selected => format!("{ip} (selected)"),
                (Some(ip), _) => ip.to_string(),
                (None, Some(error)) => error.clone(),
                (None, None) => "-".into(),
            };
            text.push_str(&format!(
                "{:<10} {:<10} {:>10}  {}\n",
                row.technique,
                if row.available { "yes" } else { "no" },
                latency,
                detail
            ));
        }
        text.trim_end().to_owned()
    });
    if json.selected.is_none() {
        bail!(report.no_technique_error());
    }
    Ok(())
}

impl From<Transport> for Protocol {
    fn from(transport: Transport) -> Protocol {
        match transport {
            Transport::Tcp => Protocol::Tcp,
            Transport::Udp => Protocol::Udp,
        }
    }
}

#[derive(Serialize)]
struct Change<'a> {
    assignments: Vec<String>,
    public: Option<String>,
    technique: Option<String>,
    note: &'a str,
}

/// Holds a persistent mapping until SIGINT or SIGTERM, printing every change, then deletes
/// it at the gateway.
pub(crate) async fn keep(
    out: &Output,
    target: &Target,
    via: Via,
    protocol: Transport,
    internal_port: u16,
    external_port: u16,
    lifetime: u32,
) -> Result<()> {
    let mut options = options(target).lifetime(Duration::from_secs(lifetime.into()));
    if let Some(technique) = technique_of(via) {
        options = options.only(technique);
    }
    let nat = Nat::new(options);
    let request = MapRequest::new(protocol.into(), internal_port)
        .external_port(external_port)
        .lifetime(Duration::from_secs(lifetime.into()));
    // Local assignments: every interface address, as for a socket bound to the wildcard.
    let local = std::net::SocketAddr::from(([0, 0, 0, 0], internal_port));
    let mapping = nat.persistent(request).local_address(local).start().await;
    let mut changes = mapping.assignments();
    let print = |assignments: &PortAssignments, note: &str| {
        let change = Change {
            assignments: assignments.iter().map(|a| a.to_string()).collect(),
            public: assignments.public_address().map(|a| a.to_string()),
            technique: assignments
                .public()
                .next()
                .and_then(|a| a.technique)
                .map(|t| t.to_string()),
            note,
        };
        out.line(&change, || {
            if assignments.is_empty() {
                note.to_owned()
            } else {
                format!("{note}: {assignments}")
            }
        });
    };
    print(&changes.borrow_and_update(), "mapped");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    break;
                }
                let current = changes.borrow_and_update().clone();
                print(&current, "changed");
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
    }
    mapping.stop().await?;
    print(&PortAssignments::new(), "deleted at the gateway");
    Ok(())
}
