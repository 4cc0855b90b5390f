//! `check`: the reachability check, one facade call ([`Nat::check`] or
//! [`Nat::check_port`]) printed as one table (router techniques, the outside view, NAT
//! behaviour, hairpinning, double NAT, the verdict) or one JSON object (docs/CLI.md).
//! STUN servers are resolved here from `--stun HOST:PORT`; none is built in.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, Result};
use nat_traversal::{Nat, ProbeOutcome, Protocol, ReachabilityReport};
use serde::Serialize;

use super::{Target, at, render_table, techniques_label};
use crate::cli::Via;
use crate::output::{Output, duration, millis};

#[derive(Serialize)]
struct TechniqueJson {
    technique: &'static str,
    available: bool,
    external_ip: Option<IpAddr>,
    error: Option<String>,
}

#[derive(Serialize)]
struct PortJson {
    protocol: &'static str,
    port: u16,
    mapped: Option<SocketAddr>,
    technique: Option<&'static str>,
    error: Option<String>,
    verified: bool,
}

#[derive(Serialize)]
struct CheckJson {
    external_seen: Option<SocketAddr>,
    external_router: Option<IpAddr>,
    double_nat: bool,
    mapping: Option<&'static str>,
    filtering: Option<&'static str>,
    hairpinning: Option<bool>,
    unsolicited_arrived: Option<bool>,
    verdict: String,
    reachable: bool,
    stun_server: Option<SocketAddr>,
    stun_error: Option<String>,
    stun_requests: u32,
    stun_transmissions: u32,
    stun_round_trips: u32,
    hop_after_router: Option<IpAddr>,
    port: Option<PortJson>,
    techniques: Vec<TechniqueJson>,
    elapsed_ms: f64,
}

fn json(report: &ReachabilityReport) -> CheckJson {
    let techniques = report
        .probe
        .iter()
        .flat_map(|p| p.results())
        .map(|r| TechniqueJson {
            technique: r.technique.as_str(),
            available: r.external_address().is_some(),
            external_ip: r.external_address(),
            error: r.error().map(ToString::to_string),
        })
        .collect();
    let port = report.port.map(|(protocol, port)| {
        let mapping = report.port_mapping.as_ref();
        PortJson {
            protocol: protocol.as_str(),
            port,
            mapped: mapping.and_then(|m| m.as_ref().ok()).map(|m| m.external),
            technique: mapping
                .and_then(|m| m.as_ref().ok())
                .map(|m| m.technique.as_str()),
            error: mapping
                .and_then(|m| m.as_ref().err())
                .map(ToString::to_string),
            verified: report.assignment.is_some_and(|a| a.verified),
        }
    });
    CheckJson {
        external_seen: report.external_seen,
        external_router: report.external_router,
        double_nat: report.double_nat,
        mapping: report.mapping.map(|m| m.as_str()),
        filtering: report.filtering.map(|f| f.as_str()),
        hairpinning: report.hairpinning,
        unsolicited_arrived: report.unsolicited_arrived,
        verdict: report.verdict.to_string(),
        reachable: report.verdict.is_reachable(),
        stun_server: report.stun_server,
        stun_error: report.stun_error.as_ref().map(ToString::to_string),
        stun_requests: report.stun_requests,
        stun_transmissions: report.stun_transmissions,
        stun_round_trips: report.stun_round_trips,
        hop_after_router: report.hop_after_router,
        port,
        techniques,
        elapsed_ms: millis(report.elapsed),
    }
}

fn yes_no(value: Option<bool>) -> String {
    match value {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => "unknown".into(),
    }
}

fn text(report: &ReachabilityReport) -> String {
    let mut rows: Vec<[String; 2]> = Vec::new();
    for result in report.probe.iter().flat_map(|p| p.results()) {
        let value = match &result.outcome {
            ProbeOutcome::Answered {
                external_address, ..
            } => format!("yes, {external_address}"),
            ProbeOutcome::Failed { error, .. } => format!("no: {error}"),
            _ => "not awaited".into(),
        };
        rows.push([format!("router: {}", result.technique), value]);
    }
    if let Some(error) = &report.probe_error {
        rows.push(["router".into(), format!("not probed: {error}")]);
    }
    if let Some((protocol, port)) = report.port {
        let value = match &report.port_mapping {
            Some(Ok(m)) => format!("{} via {}", m.external, m.technique),
            Some(Err(e)) => format!("refused: {e}"),
            None => "-".into(),
        };
        rows.push([format!("mapping of {protocol} {port}"), value]);
    }
    let router = report
        .external_router
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "not reported".into());
    rows.push(["external address (router)".into(), router]);
    let seen = match (report.external_seen, &report.stun_error, report.stun_server) {
        (Some(seen), _, Some(server)) => format!("{seen} (STUN server {server})"),
        (Some(seen), _, None) => seen.to_string(),
        (None, Some(e), _) => format!("unknown: {e}"),
        (None, None, _) => "unknown: no STUN server named (--stun HOST:PORT)".into(),
    };
    rows.push(["external address (outside view)".into(), seen]);
    let behaviour = |name: Option<&'static str>| name.unwrap_or("unknown").to_owned();
    rows.push([
        "mapping behaviour".into(),
        behaviour(report.mapping.map(|m| m.as_str())),
    ]);
    rows.push([
        "filtering behaviour".into(),
        behaviour(report.filtering.map(|f| f.as_str())),
    ]);
    rows.push(["hairpinning".into(), yes_no(report.hairpinning)]);
    if report.unsolicited_arrived.is_some() {
        rows.push([
            "unsolicited datagram arrived".into(),
            yes_no(report.unsolicited_arrived),
        ]);
    }
    rows.push(["double NAT".into(), yes_no(Some(report.double_nat))]);
    rows.push(["verdict".into(), report.verdict.to_string()]);
    format!(
        "{}\n(checked in {}; {} STUN requests in {} round trips)",
        render_table(["CHECK", "RESULT"], &rows),
        duration(report.elapsed),
        report.stun_requests,
        report.stun_round_trips
    )
}

/// Resolves `HOST:PORT` (a name through the system's resolver; nothing else is asked).
async fn resolve(server: &str) -> Result<SocketAddr> {
    if let Ok(address) = server.parse() {
        return Ok(address);
    }
    tokio::net::lookup_host(server)
        .await
        .with_context(|| format!("cannot resolve STUN server {server:?} (HOST:PORT)"))?
        .next()
        .with_context(|| format!("STUN server {server:?} has no address"))
}

pub(crate) async fn check(
    out: &Output,
    target: &Target,
    via: Via,
    stun: &[String],
    port: Option<(Protocol, u16)>,
) -> Result<()> {
    let mut options = target.options(via);
    for server in stun {
        options = options.with_stun_server(resolve(server).await?);
    }
    let nat: Nat = target.nat_with(options);
    out.progress().start(format!(
        "checking {} {} and {} STUN server(s)",
        techniques_label(via),
        at(&nat),
        stun.len()
    ));
    let report = match port {
        Some((protocol, port)) => nat.check_port(protocol, port).await,
        None => nat.check().await,
    };
    out.progress().clear();
    out.print(&json(&report), || text(&report));
    Ok(())
}
