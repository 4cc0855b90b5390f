//! `probe`: every technique at once, each row printed as it answers; without `-4`/`-6`,
//! the IPv6 side probed at the same time and printed after.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Result;
use nat_traversal::{
    NetworkPath, PassedOver, ProbeOutcome, ProbeReport, ProbeResult, Reachability, Technique,
};
use serde::Serialize;

use super::{Target, at, elsewhere_note, pad_row, reach_note};
use crate::cli::{Family, Via};
use crate::output::{Output, duration, millis};

#[derive(Serialize)]
struct ProbeRowJson {
    technique: &'static str,
    available: bool,
    latency_ms: Option<f64>,
    external_ip: Option<IpAddr>,
    reachability: Option<&'static str>,
    on_default_gateway: Option<bool>,
    error: Option<String>,
}

/// The path probed: `probe --json`'s `path` object.
#[derive(Serialize)]
struct PathJson {
    interface: Option<String>,
    local_address: IpAddr,
    gateway: IpAddr,
}

impl From<&NetworkPath> for PathJson {
    fn from(path: &NetworkPath) -> PathJson {
        PathJson {
            interface: path.interface.clone(),
            local_address: path.local_address,
            gateway: path.gateway,
        }
    }
}

/// A path not taken, and why.
#[derive(Serialize)]
struct PassedOverJson {
    interface: String,
    local_address: Option<IpAddr>,
    gateway: Option<IpAddr>,
    why: String,
}

impl From<&PassedOver> for PassedOverJson {
    fn from(other: &PassedOver) -> PassedOverJson {
        PassedOverJson {
            interface: other.interface.clone(),
            local_address: other.local_address,
            gateway: other.gateway,
            why: other.why.to_string(),
        }
    }
}

/// `probe --json` when no path can be used (a full-tunnel VPN): the paths and why.
#[derive(Serialize)]
struct NoPathJson {
    path: Option<PathJson>,
    passed_over: Vec<PassedOverJson>,
    error: String,
}

#[derive(Serialize)]
struct ProbeJson {
    path: Option<PathJson>,
    passed_over: Vec<PassedOverJson>,
    gateway: IpAddr,
    selected: Option<&'static str>,
    elapsed_ms: f64,
    techniques: Vec<ProbeRowJson>,
    /// Without `-4`/`-6`: the IPv6 side's probe (pinholes); absent when there is no IPv6
    /// gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv6: Option<Box<ProbeJson>>,
}

fn row_json(result: &ProbeResult) -> ProbeRowJson {
    let external = result.external_address();
    ProbeRowJson {
        technique: result.technique.as_str(),
        available: external.is_some(),
        latency_ms: result.latency().map(millis),
        external_ip: external,
        reachability: external.map(|ip| Reachability::of(ip).as_str()),
        on_default_gateway: match result.outcome {
            ProbeOutcome::Answered {
                on_default_gateway, ..
            } => Some(on_default_gateway),
            _ => None,
        },
        error: match &result.outcome {
            ProbeOutcome::Failed { error, .. } => Some(error.to_string()),
            ProbeOutcome::NotAwaited => Some("not awaited".into()),
            _ => None,
        },
    }
}

const HEADER: [&str; 4] = ["TECHNIQUE", "AVAILABLE", "LATENCY", "EXTERNAL IP / ERROR"];
const WIDTHS: [usize; 4] = [9, 9, 9, 0];

fn row_text(result: &ProbeResult) -> String {
    let detail = match &result.outcome {
        ProbeOutcome::Answered {
            external_address,
            on_default_gateway,
            ..
        } => format!(
            "{external_address}{}{}",
            elsewhere_note(*on_default_gateway, None),
            reach_note(*external_address)
        ),
        ProbeOutcome::Failed { error, .. } => error.to_string(),
        _ => "not awaited".into(),
    };
    let cells = [
        result.technique.as_str().to_owned(),
        if result.external_address().is_some() {
            "yes"
        } else {
            "no"
        }
        .to_owned(),
        result
            .latency()
            .map(|latency: Duration| format!("{:.1} ms", millis(latency)))
            .unwrap_or_else(|| "-".into()),
        detail,
    ];
    pad_row(&cells, &WIDTHS)
}

fn header() -> String {
    pad_row(&HEADER.map(str::to_owned), &WIDTHS)
}

fn json(report: &ProbeReport) -> ProbeJson {
    ProbeJson {
        path: report.path().map(PathJson::from),
        passed_over: report
            .passed_over()
            .iter()
            .map(PassedOverJson::from)
            .collect(),
        gateway: report.gateway(),
        selected: report.selected().map(Technique::as_str),
        elapsed_ms: millis(report.elapsed()),
        techniques: report.results().iter().map(row_json).collect(),
        ipv6: None,
    }
}

fn summary(report: &ProbeReport) -> String {
    match report.selected() {
        Some(technique) => format!(
            "selected {technique} at gateway {} (probed in {})",
            report.gateway(),
            duration(report.elapsed())
        ),
        None => format!("nothing selected at gateway {}", report.gateway()),
    }
}

/// The path line and the lines of the paths not taken.
fn path_lines(path: Option<&NetworkPath>, passed_over: &[PassedOver]) -> Vec<String> {
    let mut lines: Vec<String> = path.map(|p| format!("path: {p}")).into_iter().collect();
    lines.extend(
        passed_over
            .iter()
            .map(|other| format!("not taken: {other}")),
    );
    lines
}

pub(crate) async fn probe(out: &Output, target: &Target) -> Result<()> {
    let nat = target.nat(Via::Auto);
    // The path first: which interface, address and gateway are probed, and why the host's
    // other paths are not; with no usable path (a full-tunnel VPN) that is the answer.
    let path = match nat.network_path() {
        Ok(path) => path,
        Err(error) => {
            let passed_over = nat.passed_over();
            if out.json() {
                let document = NoPathJson {
                    path: None,
                    passed_over: passed_over.iter().map(PassedOverJson::from).collect(),
                    error: error.to_string(),
                };
                out.print(&document, String::new);
            } else {
                for line in path_lines(None, &passed_over) {
                    out.text(&line);
                }
            }
            return Err(error.into());
        }
    };
    if !out.json() {
        for line in path_lines(Some(&path), &nat.passed_over()) {
            out.text(&line);
        }
    }
    let v6 = target.both().then(|| nat.ipv6());
    out.progress()
        .start(format!("probing PCP, NAT-PMP and UPnP IGD {}", at(&nat)));
    if target.family == Family::V6 {
        out.text("IPv6 pinholes:");
    }
    // Rows print as each technique finishes; the header first. The IPv6 side (without
    // -4/-6) is probed in full at the same time, and printed after.
    out.text(&header());
    let (report, also) = tokio::join!(
        nat.probe_with(|result| out.text(&row_text(result))),
        async {
            match &v6 {
                Some(v6) => Some(v6.probe().await),
                None => None,
            }
        }
    );
    let report = report?;
    let also = also.and_then(|r| {
        r.inspect_err(|error| tracing::debug!(%error, "no ipv6 probe"))
            .ok()
    });
    out.progress().clear();
    let mut document = json(&report);
    document.ipv6 = also.as_ref().map(|r| Box::new(json(r)));
    if out.json() {
        out.print(&document, String::new);
    } else {
        out.text(&summary(&report));
        if let Some(v6) = &also {
            out.text("IPv6 pinholes:");
            out.text(&header());
            for result in v6.results() {
                out.text(&row_text(result));
            }
            out.text(&summary(v6));
        }
    }
    match report.to_error() {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}
