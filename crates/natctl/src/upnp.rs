//! `discover` and `upnp services|actions|call`: SSDP and the generic UPnP dispatcher, for
//! any device and service (ssdp and upnp-soap directly; port mappings go through the
//! facade in `facade.rs`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use upnp_soap::{DiscoverOptions, RootDevice};

use crate::cli::{Family, Via};
use crate::facade::Target;
use crate::output::{Output, duration};

fn options(target: &Target) -> DiscoverOptions {
    let http = upnp_soap::Config {
        connect_timeout: target.timeout.min(Duration::from_secs(3)),
        timeout: target.timeout,
        ..upnp_soap::Config::default()
    }
    .with_operation_timeout(target.timeout)
    .with_deadline(std::time::Instant::now() + target.timeout);
    let mut options = DiscoverOptions::default()
        .scan_time(target.timeout.min(Duration::from_secs(2)))
        .operation_timeout(target.timeout)
        .http(http)
        .allow_other_igd(target.allow_other_igd)
        .ipv6(target.family == Family::V6);
    if let Ok(gateway) = target.nat(Via::Upnp).gateway_to_ask() {
        options = options.gateway(gateway);
    }
    options
}

async fn root(target: &Target) -> Result<RootDevice> {
    Ok(upnp_soap::discover_root(&options(target)).await?)
}

#[derive(Serialize)]
struct Responder {
    source: SocketAddr,
    location: String,
    st: String,
    usn: Option<String>,
    server: Option<String>,
}

/// Prints every SSDP responder the moment it answers.
pub(crate) async fn discover(
    out: &Output,
    target: &Target,
    targets: &[String],
    scan_time: Duration,
) -> Result<()> {
    let mut options = ssdp::SearchOptions::default().scan_time(scan_time);
    if !targets.is_empty() {
        options = options.targets(targets.iter().cloned());
    }
    let ipv6 = target.family == Family::V6;
    options = options.ipv6(target.family != Family::V4);
    // A link-local gateway needs its interface, which a bare address lacks: the multicast
    // search reaches it.
    let gateway = target.nat(Via::Upnp).gateway_to_ask().ok();
    if let Some(gateway) =
        gateway.filter(|g| !matches!(g, IpAddr::V6(v6) if v6.is_unicast_link_local()))
    {
        options = options.unicast(SocketAddr::new(gateway, ssdp::PORT));
    }
    let mut search = ssdp::search_with(&options).await?;
    let mut count = 0usize;
    while let Some(response) = search.next_response().await {
        // `-6` lists the IPv6 responders only (the multicast search also asks over IPv4).
        if ipv6 && response.source.is_ipv4() {
            continue;
        }
        count += 1;
        let responder = Responder {
            source: response.source,
            location: response.location,
            st: response.st,
            usn: response.usn,
            server: response.server,
        };
        out.line(&responder, || {
            format!(
                "{}  ST: {}\n    LOCATION: {}\n    USN: {}\n    SERVER: {}",
                responder.source,
                responder.st,
                responder.location,
                responder.usn.as_deref().unwrap_or("-"),
                responder.server.as_deref().unwrap_or("-")
            )
        });
    }
    if count == 0 {
        bail!("no SSDP responder answered within {}", duration(scan_time));
    }
    Ok(())
}

#[derive(Serialize)]
struct ServiceRow {
    device_type: String,
    friendly_name: String,
    service_type: String,
    service_id: String,
    control_url: String,
    scpd_url: String,
}

pub(crate) async fn services(out: &Output, target: &Target) -> Result<()> {
    let root = root(target).await?;
    let description = root.description();
    let mut rows = Vec::new();
    for device in description.devices() {
        for service in &device.services {
            rows.push(ServiceRow {
                device_type: device.device_type.clone(),
                friendly_name: device.friendly_name.clone(),
                service_type: service.service_type.clone(),
                service_id: service.service_id.clone(),
                control_url: service.control_url.to_string(),
                scpd_url: service.scpd_url.to_string(),
            });
        }
    }
    let elsewhere = if root.on_default_gateway() {
        ""
    } else {
        " (IGD not on the default gateway)"
    };
    out.print(&rows, || {
        let mut text = format!("{}{elsewhere}\n", description.location);
        for row in &rows {
            text.push_str(&format!(
                "{}\n    in {} ({})\n    control {}\n",
                row.service_type, row.device_type, row.friendly_name, row.control_url
            ));
        }
        text.trim_end().to_owned()
    });
    Ok(())
}

/// The client of the service `name` names: a full service type, or a short name such as
/// `WANIPConnection` for the newest version the device offers.
async fn service_client(target: &Target, name: &str) -> Result<upnp_soap::ServiceClient> {
    let root = root(target).await?;
    let description = root.description();
    let service = description
        .find_service_named(name)
        .with_context(|| {
            format!(
                "the device at {} offers no service {name}; it offers {}",
                description.location,
                description.service_types().join(", ")
            )
        })?
        .clone();
    Ok(root.service_client(&service).await?)
}

#[derive(Serialize)]
struct ActionRow {
    name: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

pub(crate) async fn actions(out: &Output, target: &Target, service_type: &str) -> Result<()> {
    let client = service_client(target, service_type).await?;
    let rows: Vec<ActionRow> = client
        .actions()
        .iter()
        .map(|action| ActionRow {
            name: action.name.clone(),
            inputs: action.inputs().map(|a| a.name.clone()).collect(),
            outputs: action.outputs().map(|a| a.name.clone()).collect(),
        })
        .collect();
    if rows.is_empty() {
        bail!("{service_type} lists no actions (its SCPD could not be read)");
    }
    out.print(&rows, || {
        rows.iter()
            .map(|r| {
                format!(
                    "{}({}) -> ({})",
                    r.name,
                    r.inputs.join(", "),
                    r.outputs.join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub(crate) async fn call(
    out: &Output,
    target: &Target,
    service_type: &str,
    action: &str,
    arguments: &[String],
) -> Result<()> {
    let pairs: Vec<(&str, &str)> = arguments
        .iter()
        .map(|a| {
            a.split_once('=')
                .with_context(|| format!("argument {a:?} is not Name=Value"))
        })
        .collect::<Result<_>>()?;
    let client = service_client(target, service_type).await?;
    let outputs = client.call(action, &pairs).await?;
    let map: BTreeMap<&str, &str> = outputs.iter().collect();
    out.print(&map, || {
        if outputs.is_empty() {
            return "done".to_owned();
        }
        outputs
            .iter()
            .map(|(name, value)| format!("{name} = {value}"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}
