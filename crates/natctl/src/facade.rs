//! `external-ip`, `map` (and `map --keep`), `unmap`, `unmap-all`, `list` and `probe`: each
//! one call on one `Nat` (the nat-traversal facade), restricted to the `--via` technique
//! when one is given. natctl holds no protocol knowledge of its own here: it chooses,
//! prints and waits.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Result;
use nat_traversal::{
    ExternalAddress, ListedMapping, MapRequest, Mapping, Nat, NatOptions, PortAssignments,
    ProbeOutcome, ProbeResult, Protocol, Reachability, Technique, UnmapReport, Unmapped,
};
use serde::Serialize;

use crate::cli::{Family, Transport, Via};
use crate::output::{Output, duration, millis};

/// Which gateway to ask, how long to wait, and which IGDs to trust.
pub(crate) struct Target {
    pub(crate) gateway: Option<IpAddr>,
    pub(crate) timeout: Duration,
    pub(crate) allow_other_igd: bool,
    pub(crate) cache: bool,
    /// `-4`, `-6` or neither.
    pub(crate) family: Family,
}

/// How long the IPv6 side of a command that shows both families may still take once the
/// IPv4 side answered: a network whose gateway ignores IPv6 requests must not hold up the
/// IPv4 answer for the whole `--timeout`.
const IPV6_GRACE: Duration = Duration::from_secs(1);

impl Target {
    /// The facade for one command: every technique, or only `via`; the IPv6 side with `-6`.
    pub(crate) fn nat(&self, via: Via) -> Nat {
        let nat = Nat::new(self.options(via));
        if self.family == Family::V6 {
            nat.ipv6()
        } else {
            nat
        }
    }

    /// The IPv6 side a command without `-4`/`-6` also shows.
    fn both(&self, nat: &Nat) -> Option<Nat> {
        (self.family == Family::Auto).then(|| nat.ipv6())
    }

    fn options(&self, via: Via) -> NatOptions {
        let mut options = NatOptions::default()
            .probe_timeout(self.timeout)
            .operation_timeout(self.timeout)
            .description("natctl");
        if let Some(gateway) = self.gateway {
            options = options.gateway(gateway);
        }
        if let Some(technique) = technique(via) {
            options = options.only(technique);
        }
        if self.cache {
            if let Some(path) = NatOptions::default_upnp_cache() {
                options = options.upnp_cache(path);
            }
        }
        options.allow_other_igd(self.allow_other_igd)
    }
}

/// `first`, and `second` when it finishes within [`IPV6_GRACE`] of `first` (or with it).
async fn with_ipv6<A, B>(
    first: impl std::future::Future<Output = A>,
    second: Option<impl std::future::Future<Output = B>>,
) -> (A, Option<B>) {
    let Some(second) = second else {
        return (first.await, None);
    };
    tokio::pin!(first);
    tokio::pin!(second);
    let first = tokio::select! {
        biased;
        first = &mut first => first,
        // The IPv6 side came first: wait for the IPv4 side as usual.
        b = &mut second => {
            return (first.await, Some(b));
        }
    };
    let second = tokio::time::timeout(IPV6_GRACE, second).await.ok();
    (first, second)
}

/// Notes a pinhole natctl opened, for `list -6` (see `record`).
fn record_pinhole(mapping: &Mapping, expires: u64) {
    let (Some(path), IpAddr::V6(address)) = (crate::record::path(), mapping.external.ip()) else {
        return;
    };
    crate::record::add(
        &path,
        crate::record::Pinhole {
            address,
            protocol: mapping.protocol,
            port: mapping.internal_port,
            technique: mapping.technique,
            expires,
        },
    );
}

/// Forgets the pinholes of `protocol` (and `port`) after the gateway was asked to remove
/// them.
fn forget_pinholes(protocol: Protocol, port: Option<u16>) {
    if let Some(path) = crate::record::path() {
        crate::record::remove(&path, protocol, port);
    }
}

/// The technique `--via` names; `None` for auto.
pub(crate) fn technique(via: Via) -> Option<Technique> {
    match via {
        Via::Auto => None,
        Via::Pcp => Some(Technique::Pcp),
        Via::Pmp => Some(Technique::NatPmp),
        Via::Upnp => Some(Technique::Upnp),
    }
}

impl From<Transport> for Protocol {
    fn from(transport: Transport) -> Protocol {
        match transport {
            Transport::Tcp => Protocol::Tcp,
            Transport::Udp => Protocol::Udp,
        }
    }
}

/// What `--via` covers, for the spinner: "PCP", "PCP, NAT-PMP and UPnP IGD".
fn techniques_label(via: Via) -> String {
    match technique(via) {
        Some(technique) => technique.to_string(),
        None => "PCP, NAT-PMP and UPnP IGD".to_owned(),
    }
}

/// "at 192.168.1.1", or "at the default gateway" when it cannot be read.
fn at(target: &Target) -> String {
    match target
        .gateway
        .or_else(|| netinfo::default_gateway().ok().map(IpAddr::V4))
    {
        Some(gateway) => format!("at {gateway}"),
        None => "at the default gateway".to_owned(),
    }
}

// The JSON schema (docs/CLI.md): the same names and spellings in every command.

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// A lifetime in whole seconds; `None` (JSON `null`) for a mapping without lease.
fn lifetime(lifetime: Duration) -> Option<u64> {
    (!lifetime.is_zero()).then_some(lifetime.as_secs())
}

/// " (IGD on 192.168.77.11, not the default gateway)" for an IGD elsewhere on the LAN.
fn elsewhere_note(on_default_gateway: bool, device: Option<IpAddr>) -> String {
    match (on_default_gateway, device) {
        (true, _) => String::new(),
        (false, Some(device)) => format!(" (IGD on {device}, not the default gateway)"),
        (false, None) => " (IGD not on the default gateway)".to_owned(),
    }
}

/// ", not reachable from the internet: double NAT (...)" for a non-public address.
fn reach_note(address: IpAddr) -> String {
    let reach = Reachability::of(address);
    if reach.is_public() {
        String::new()
    } else {
        format!("; {reach}")
    }
}

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

fn external_json(found: &ExternalAddress) -> ExternalIpJson {
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

fn external_text(found: &ExternalAddress) -> String {
    let reach = found.reachability();
    let elsewhere = elsewhere_note(found.on_default_gateway, Some(found.gateway));
    if reach.is_public() {
        format!("{}{elsewhere}", found.address)
    } else {
        format!("{}{elsewhere} ({reach})", found.address)
    }
}

pub(crate) async fn external_ip(out: &Output, target: &Target, via: Via) -> Result<()> {
    out.progress().start(format!(
        "asking {} {} for the external address",
        techniques_label(via),
        at(target)
    ));
    let nat = target.nat(via);
    let v6 = target.both(&nat);
    let (found, also) = with_ipv6(nat.external(), v6.as_ref().map(|n| n.external())).await;
    let found: ExternalAddress = found?;
    let also = also.and_then(|r| {
        r.inspect_err(|error| tracing::debug!(%error, "no ipv6 address through the gateway"))
            .ok()
    });
    out.progress().clear();
    let mut json = external_json(&found);
    json.ipv6 = also.as_ref().map(|a| Box::new(external_json(a)));
    out.print(&json, || match &also {
        Some(v6) => format!("{}\n{} (IPv6)", external_text(&found), external_text(v6)),
        None => external_text(&found),
    });
    Ok(())
}

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
        protocol: protocol_name(mapping.protocol),
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

pub(crate) struct MapArgs {
    pub(crate) protocol: Transport,
    pub(crate) internal_port: u16,
    pub(crate) external_port: u16,
    pub(crate) lifetime: u32,
}

impl MapArgs {
    fn request(&self) -> MapRequest {
        MapRequest::new(self.protocol.into(), self.internal_port)
            .external_port(self.external_port)
            .lifetime(Duration::from_secs(self.lifetime.into()))
    }
}

pub(crate) async fn map(out: &Output, target: &Target, via: Via, args: &MapArgs) -> Result<()> {
    out.progress().start(format!(
        "asking {} {} for {} port {}",
        techniques_label(via),
        at(target),
        Protocol::from(args.protocol),
        args.internal_port
    ));
    let nat = target.nat(via);
    let mapping = nat.map(&args.request()).await?;
    if nat.is_ipv6() {
        record_pinhole(
            &mapping,
            crate::record::now().saturating_add(mapping.lifetime.as_secs()),
        );
    }
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

fn unmapped_json(report: &UnmapReport) -> UnmappedJson {
    UnmappedJson {
        protocol: protocol_name(report.protocol),
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
                    Ok(Unmapped::Unverifiable) => ("unverifiable", None, None),
                    Ok(Unmapped::HeldElsewhere { reason }) => {
                        ("held_elsewhere", None, Some(reason.clone()))
                    }
                    Ok(Unmapped::Refused { reason }) => ("refused", None, Some(reason.clone())),
                    Ok(other) => ("other", None, Some(other.to_string())),
                    Err(error) => ("error", None, Some(error.clone())),
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
    out.progress().start(format!(
        "asking {} {} to remove {what}",
        techniques_label(via),
        at(target)
    ));
    let nat = target.nat(via);
    let v6 = target.both(&nat);
    let remove = |nat: &Nat| {
        let nat = nat.clone();
        async move {
            match internal_port {
                Some(port) => nat.unmap_port(protocol, port).await,
                None => nat.unmap_all(protocol).await,
            }
        }
    };
    let (report, also) = with_ipv6(remove(&nat), v6.as_ref().map(remove)).await;
    if (nat.is_ipv6() && report.is_ok()) || also.as_ref().is_some_and(Result::is_ok) {
        forget_pinholes(protocol, internal_port);
    }
    let report = report?;
    // The IPv6 side is shown when it removed something: a network without IPv6 pinholes
    // adds nothing to the answer.
    let also = also
        .and_then(|r| {
            r.inspect_err(|error| tracing::debug!(%error, "no ipv6 pinhole removed"))
                .ok()
        })
        .filter(UnmapReport::removed);
    out.progress().clear();
    let mut json = unmapped_json(&report);
    json.ipv6 = also.as_ref().map(|r| Box::new(unmapped_json(r)));
    out.print(&json, || match &also {
        Some(v6) => format!("{}\n{} (IPv6)", describe_unmap(&report), describe_unmap(v6)),
        None => describe_unmap(&report),
    });
    Ok(())
}

/// The human line for an unmap report.
fn describe_unmap(report: &UnmapReport) -> String {
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

#[derive(Serialize)]
struct ListedJson {
    protocol: &'static str,
    public_address: Option<SocketAddr>,
    external_port: u16,
    internal_address: String,
    lifetime: Option<u64>,
    description: String,
    enabled: bool,
    remote_host: Option<String>,
    technique: &'static str,
    on_default_gateway: bool,
}

fn listed_json(entry: &ListedMapping) -> ListedJson {
    let internal_address = match entry.internal_client.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, entry.internal_port).to_string(),
        Err(_) => format!("{}:{}", entry.internal_client, entry.internal_port),
    };
    ListedJson {
        protocol: protocol_name(entry.protocol),
        public_address: entry
            .external_address
            .map(|ip| SocketAddr::new(ip, entry.external_port)),
        external_port: entry.external_port,
        internal_address,
        lifetime: lifetime(entry.lifetime),
        description: entry.description.clone(),
        enabled: entry.enabled,
        remote_host: (!entry.remote_host.is_empty()).then(|| entry.remote_host.clone()),
        technique: entry.technique.as_str(),
        on_default_gateway: entry.on_default_gateway,
    }
}

/// `list -6`: the pinholes natctl recorded (the protocols cannot list them).
fn list_pinholes(out: &Output, via: Via) {
    let now = crate::record::now();
    let recorded = crate::record::path()
        .map(|path| crate::record::read(&path))
        .unwrap_or_default();
    let rows: Vec<ListedJson> = recorded
        .iter()
        .filter(|p| technique(via).is_none_or(|t| t == p.technique))
        .map(|p| ListedJson {
            protocol: protocol_name(p.protocol),
            public_address: Some(SocketAddr::new(IpAddr::V6(p.address), p.port)),
            external_port: p.port,
            internal_address: SocketAddr::new(IpAddr::V6(p.address), p.port).to_string(),
            lifetime: p.remaining(now).map(|d| d.as_secs()),
            description: "recorded by natctl".to_owned(),
            enabled: true,
            remote_host: None,
            technique: p.technique.as_str(),
            on_default_gateway: true,
        })
        .collect();
    out.print(&rows, || {
        let note = "IPv6 pinholes natctl opened on this host (PCP and UPnP cannot list them)";
        if rows.is_empty() {
            return format!("no IPv6 pinholes recorded ({note})");
        }
        let table: Vec<[String; 5]> = rows
            .iter()
            .map(|r| {
                [
                    r.protocol.to_uppercase(),
                    r.public_address.map(|a| a.to_string()).unwrap_or_default(),
                    r.lifetime
                        .map(|s| format!("{s} s left"))
                        .unwrap_or_else(|| "kept (map --keep)".into()),
                    r.technique.to_owned(),
                    r.description.clone(),
                ]
            })
            .collect();
        format!(
            "{note}\n{}",
            render_table(
                ["PROTO", "PUBLIC", "LIFETIME", "VIA", "DESCRIPTION"],
                &table
            )
        )
    });
}

pub(crate) async fn list(out: &Output, target: &Target, via: Via) -> Result<()> {
    if target.family == Family::V6 {
        list_pinholes(out, via);
        return Ok(());
    }
    out.progress().start(format!(
        "reading the mapping table {} ({})",
        at(target),
        techniques_label(via)
    ));
    let entries = target.nat(via).list().await?;
    out.progress().clear();
    let rows: Vec<ListedJson> = entries.iter().map(listed_json).collect();
    out.print(&rows, || {
        let elsewhere = if rows.iter().any(|r| !r.on_default_gateway) {
            "listed by an IGD that is not the default gateway\n"
        } else {
            ""
        };
        if rows.is_empty() {
            return format!("{elsewhere}no port mappings");
        }
        let table: Vec<[String; 6]> = rows
            .iter()
            .map(|r| {
                [
                    r.protocol.to_uppercase(),
                    r.public_address
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| format!("*:{}", r.external_port)),
                    r.internal_address.clone(),
                    r.lifetime
                        .map(|s| format!("{s} s"))
                        .unwrap_or_else(|| "permanent".into()),
                    if r.enabled { "yes" } else { "no" }.to_owned(),
                    r.description.clone(),
                ]
            })
            .collect();
        let table = render_table(
            [
                "PROTO",
                "PUBLIC",
                "INTERNAL",
                "LIFETIME",
                "ENABLED",
                "DESCRIPTION",
            ],
            &table,
        );
        format!("{elsewhere}{table}")
    });
    Ok(())
}

/// An aligned table with a header; the last column is not padded.
pub(crate) fn render_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut lines = vec![pad_row(&header.map(str::to_owned), &widths)];
    lines.extend(rows.iter().map(|row| pad_row(row, &widths)));
    lines.join("\n")
}

fn pad_row<const N: usize>(row: &[String; N], widths: &[usize; N]) -> String {
    let mut line = String::new();
    for (index, (cell, width)) in row.iter().zip(widths).enumerate() {
        if index + 1 == N {
            line.push_str(cell);
        } else {
            line.push_str(&format!("{cell:<width$}  "));
        }
    }
    line.trim_end().to_owned()
}

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

#[derive(Serialize)]
struct ProbeJson {
    gateway: IpAddr,
    selected: Option<&'static str>,
    elapsed_ms: f64,
    techniques: Vec<ProbeRowJson>,
    /// Without `-4`/`-6`: the IPv6 side's probe (pinholes); absent when there is no IPv6
    /// gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv6: Option<Box<ProbeJson>>,
}

fn probe_row(result: &ProbeResult) -> ProbeRowJson {
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
            ProbeOutcome::Failed { error, .. } => Some(error.clone()),
            ProbeOutcome::NotAwaited => Some("not awaited".into()),
            _ => None,
        },
    }
}

const PROBE_HEADER: [&str; 4] = ["TECHNIQUE", "AVAILABLE", "LATENCY", "EXTERNAL IP / ERROR"];
const PROBE_WIDTHS: [usize; 4] = [9, 9, 9, 0];

fn probe_text(result: &ProbeResult) -> [String; 4] {
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
        ProbeOutcome::Failed { error, .. } => error.clone(),
        ProbeOutcome::NotAwaited => "not awaited".into(),
    };
    [
        result.technique.as_str().to_owned(),
        if result.external_address().is_some() {
            "yes"
        } else {
            "no"
        }
        .to_owned(),
        result
            .latency()
            .map(duration_ms)
            .unwrap_or_else(|| "-".into()),
        detail,
    ]
}

fn duration_ms(latency: Duration) -> String {
    format!("{:.1} ms", millis(latency))
}

fn probe_json(report: &nat_traversal::ProbeReport) -> ProbeJson {
    ProbeJson {
        gateway: report.gateway,
        selected: report.selected.map(Technique::as_str),
        elapsed_ms: millis(report.elapsed),
        techniques: report.results.iter().map(probe_row).collect(),
        ipv6: None,
    }
}

fn probe_summary(report: &nat_traversal::ProbeReport) -> String {
    match report.selected {
        Some(technique) => format!(
            "selected {technique} at gateway {} (probed in {})",
            report.gateway,
            duration(report.elapsed)
        ),
        None => format!("nothing selected at gateway {}", report.gateway),
    }
}

pub(crate) async fn probe(out: &Output, target: &Target) -> Result<()> {
    let nat = target.nat(Via::Auto);
    let v6 = target.both(&nat);
    out.progress()
        .start(format!("probing PCP, NAT-PMP and UPnP IGD {}", at(target)));
    if target.family == Family::V6 {
        out.text("IPv6 pinholes:");
    }
    // Rows print as each technique finishes; the header first. The IPv6 side (without
    // -4/-6) is probed at the same time and printed after.
    out.text(&pad_row(&PROBE_HEADER.map(str::to_owned), &PROBE_WIDTHS));
    let (report, also) = tokio::join!(
        nat.probe_with(|result| {
            out.text(&pad_row(&probe_text(result), &PROBE_WIDTHS));
        }),
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
    let mut json = probe_json(&report);
    json.ipv6 = also.as_ref().map(|r| Box::new(probe_json(r)));
    if out.json() {
        out.print(&json, String::new);
    } else {
        out.text(&probe_summary(&report));
        if let Some(v6) = &also {
            out.text("IPv6 pinholes:");
            out.text(&pad_row(&PROBE_HEADER.map(str::to_owned), &PROBE_WIDTHS));
            for result in &v6.results {
                out.text(&pad_row(&probe_text(result), &PROBE_WIDTHS));
            }
            out.text(&probe_summary(v6));
        }
    }
    if report.selected.is_none() {
        return Err(report.no_technique_error().into());
    }
    Ok(())
}

#[derive(Serialize)]
struct AssignmentJson {
    address: SocketAddr,
    technique: Option<&'static str>,
}

#[derive(Serialize)]
struct KeepEventJson<'a> {
    event: &'a str,
    protocol: &'static str,
    internal_port: u16,
    internal_address: Option<SocketAddr>,
    public_address: Option<SocketAddr>,
    technique: Option<&'static str>,
    reachability: Option<&'static str>,
    assignments: Vec<AssignmentJson>,
    error: Option<&'a str>,
}

/// Holds a persistent mapping until SIGINT or SIGTERM, printing every change and every
/// failure, then deletes it at the gateway. Fails when nothing was ever mapped.
pub(crate) async fn keep(out: &Output, target: &Target, via: Via, args: &MapArgs) -> Result<()> {
    let nat = Nat::new(
        target
            .options(via)
            .lifetime(Duration::from_secs(args.lifetime.into())),
    );
    let ipv6 = target.family == Family::V6;
    let nat = if ipv6 { nat.ipv6() } else { nat };
    let protocol = Protocol::from(args.protocol);
    // Listening before the first request: a signal that comes while the mapping is being
    // made ends the wait below instead of killing the process with the mapping in place.
    let mut stop = Stop::new()?;
    out.progress().start(format!(
        "asking {} {} for {protocol} port {}",
        techniques_label(via),
        at(target),
        args.internal_port
    ));
    let local = if ipv6 {
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, args.internal_port))
    } else {
        SocketAddr::from(([0, 0, 0, 0], args.internal_port))
    };
    let mapping = nat
        .persistent(args.request())
        .local_address(local)
        .start()
        .await;
    out.progress().clear();
    let mut changes = mapping.assignments();
    let mut errors = mapping.errors();
    let print = |event: &str, assignments: &PortAssignments, error: Option<&str>| {
        let public = assignments.public().next();
        let json = KeepEventJson {
            event,
            protocol: protocol_name(protocol),
            internal_port: args.internal_port,
            internal_address: nat
                .local_address()
                .map(|ip| SocketAddr::new(ip, args.internal_port)),
            public_address: public.map(|a| a.address),
            technique: public.and_then(|a| a.technique).map(Technique::as_str),
            reachability: public
                .and_then(|a| a.reachability())
                .map(Reachability::as_str),
            assignments: assignments
                .iter()
                .map(|a| AssignmentJson {
                    address: a.address,
                    technique: a.technique.map(Technique::as_str),
                })
                .collect(),
            error,
        };
        let event = event.replace('_', " ");
        out.line(&json, || match (public, error) {
            (Some(public), _) => format!(
                "{event}: {} via {}{} (local: {})",
                public.address,
                public.technique.map(|t| t.to_string()).unwrap_or_default(),
                reach_note(public.address.ip()),
                assignments
                    .local_only()
                    .map(|a| a.address.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (None, Some(error)) => format!("{event}: {error}; retrying"),
            (None, None) => event,
        });
    };
    let mut ever_mapped = false;
    {
        let current = changes.borrow_and_update().clone();
        let error = errors.borrow_and_update().clone();
        if current.public_address().is_some() {
            ever_mapped = true;
            print("mapped", &current, None);
            if let (true, Some(held)) = (ipv6, mapping.mapping()) {
                record_pinhole(&held, 0);
            }
        } else {
            print(
                "not_mapped",
                &current,
                error.as_deref().or(Some("no answer yet")),
            );
        }
    }
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    break;
                }
                let current = changes.borrow_and_update().clone();
                if current.public_address().is_some() {
                    let event = if ever_mapped { "changed" } else { "mapped" };
                    ever_mapped = true;
                    print(event, &current, None);
                    if let (true, Some(held)) = (ipv6, mapping.mapping()) {
                        record_pinhole(&held, 0);
                    }
                } else if ever_mapped {
                    let error = mapping.last_error();
                    print("lost", &current, error.as_deref().or(Some("the mapping is gone")));
                }
            }
            changed = errors.changed() => {
                if changed.is_err() {
                    break;
                }
                let error = errors.borrow_and_update().clone();
                if let Some(error) = error {
                    let current = changes.borrow().clone();
                    print("not_mapped", &current, Some(&error));
                }
            }
            () = stop.wait() => break,
        }
    }
    let held = mapping.mapping().is_some();
    let stopped = mapping.stop().await;
    if held {
        stopped?;
        if ipv6 {
            forget_pinholes(protocol, Some(args.internal_port));
        }
        print("deleted", &PortAssignments::new(), None);
    } else {
        print("stopped", &PortAssignments::new(), None);
    }
    if !ever_mapped {
        anyhow::bail!(
            "nothing was ever mapped: the gateway refused or did not answer every attempt"
        );
    }
    Ok(())
}

/// SIGINT (Ctrl-C) everywhere, and SIGTERM where it exists. Each is one stream for the
/// process's whole wait: a signal that arrives while a change is being printed is kept for
/// the next `wait`, where a fresh `ctrl_c()` future would have missed it.
struct Stop {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Stop {
    fn new() -> Result<Stop> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Stop {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Stop {})
        }
    }

    async fn wait(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_aligned_under_their_header() {
        let table = render_table(
            ["A", "BB", "C"],
            &[
                ["xxx".into(), "y".into(), "last".into()],
                ["x".into(), "yyyy".into(), "z".into()],
            ],
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "A    BB    C");
        assert_eq!(lines[1], "xxx  y     last");
        assert_eq!(lines[2], "x    yyyy  z");
    }
}
