//! `discover`, `upnp services|actions|call`, `list`, and the UPnP IGD side of `external-ip`,
//! `map` and `unmap` (ssdp and upnp-soap).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use upnp_soap::igd::{self, Gateway, MappingRequest};
use upnp_soap::{DiscoverOptions, RootDevice};

use crate::mapping::{Target, Transport};
use crate::output::Output;

/// The description natctl gives its UPnP mappings (shown in router UIs).
const DESCRIPTION: &str = "natctl";

fn options(target: &Target) -> DiscoverOptions {
    let http = upnp_soap::Config {
        connect_timeout: target.timeout.min(Duration::from_secs(3)),
        timeout: target.timeout,
        ..upnp_soap::Config::default()
    };
    let mut options = DiscoverOptions::default()
        .scan_time(target.timeout.min(Duration::from_secs(2)))
        .http(http);
    if let Some(gateway) = target.gateway {
        options = options.gateway(gateway);
    }
    options
}

pub(crate) async fn gateway(target: &Target) -> Result<Gateway> {
    Ok(upnp_soap::discover(&options(target)).await?)
}

async fn root(target: &Target) -> Result<RootDevice> {
    Ok(upnp_soap::discover_root(&options(target)).await?)
}

impl From<Transport> for igd::Protocol {
    fn from(transport: Transport) -> igd::Protocol {
        match transport {
            Transport::Tcp => igd::Protocol::Tcp,
            Transport::Udp => igd::Protocol::Udp,
        }
    }
}

pub(crate) async fn external_ip(target: &Target) -> Result<IpAddr> {
    let gateway = gateway(target).await?;
    Ok(gateway.external_address().await?)
}

/// What `map --via upnp` reports.
pub(crate) struct Mapped {
    pub(crate) public: SocketAddr,
    pub(crate) internal: SocketAddr,
    pub(crate) lease: Duration,
    pub(crate) permanent: bool,
}

pub(crate) async fn map(
    target: &Target,
    protocol: Transport,
    internal_port: u16,
    external_port: u16,
    lifetime: u32,
) -> Result<Mapped> {
    let gateway = gateway(target).await?;
    let mut request = MappingRequest::new(
        protocol.into(),
        internal_port,
        external_port,
        Duration::from_secs(lifetime.into()),
    );
    request.description = DESCRIPTION.to_owned();
    let (external, mapping) = tokio::try_join!(
        gateway.external_address(),
        gateway.add_port_mapping(&request)
    )?;
    Ok(Mapped {
        public: SocketAddr::new(external, mapping.external_port),
        internal: SocketAddr::new(mapping.internal_client, mapping.internal_port),
        lease: mapping.lease,
        permanent: mapping.permanent,
    })
}

/// Deletes this host's mapping of `internal_port` (found in the gateway's table, since UPnP
/// deletes by external port), or every mapping of `protocol` to this host.
pub(crate) async fn unmap(
    target: &Target,
    protocol: Transport,
    internal_port: Option<u16>,
) -> Result<usize> {
    let gateway = gateway(target).await?;
    let me = gateway.local_address().to_string();
    let protocol: igd::Protocol = protocol.into();
    let mine: Vec<u16> = gateway
        .port_mappings()
        .await?
        .into_iter()
        .filter(|entry| {
            entry.protocol == protocol
                && entry.internal_client == me
                && internal_port.is_none_or(|port| entry.internal_port == port)
        })
        .map(|entry| entry.external_port)
        .collect();
    if mine.is_empty() {
        match internal_port {
            Some(port) => bail!(
                "gateway {} holds no {protocol} mapping of port {port} for {me}",
                gateway.control_url()
            ),
            None => return Ok(0),
        }
    }
    for external_port in &mine {
        gateway
            .delete_port_mapping(protocol, *external_port)
            .await?;
    }
    Ok(mine.len())
}

#[derive(Serialize)]
struct Entry {
    protocol: String,
    external_port: u16,
    internal_client: String,
    internal_port: u16,
    description: String,
    lease_secs: u64,
    enabled: bool,
    remote_host: String,
}

pub(crate) async fn list(out: &Output, target: &Target) -> Result<()> {
    let gateway = gateway(target).await?;
    let entries: Vec<Entry> = gateway
        .port_mappings()
        .await?
        .into_iter()
        .map(|e| Entry {
            protocol: e.protocol.to_string(),
            external_port: e.external_port,
            internal_client: e.internal_client,
            internal_port: e.internal_port,
            description: e.description,
            lease_secs: e.lease_duration.as_secs(),
            enabled: e.enabled,
            remote_host: e.remote_host,
        })
        .collect();
    out.print(&entries, || {
        if entries.is_empty() {
            return "no port mappings".to_owned();
        }
        entries
            .iter()
            .map(|e| {
                format!(
                    "{:<3} {:>5} -> {}:{:<5} lease {:>6} s  {}",
                    e.protocol,
                    e.external_port,
                    e.internal_client,
                    e.internal_port,
                    e.lease_secs,
                    e.description
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
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
    let unicast = target
        .gateway
        .or_else(|| netinfo::default_gateway().ok().map(IpAddr::V4));
    if let Some(gateway) = unicast {
        options = options.unicast(SocketAddr::new(gateway, ssdp::PORT));
    }
    let mut search = ssdp::search_with(&options).await?;
    let mut count = 0usize;
    while let Some(response) = search.next_response().await {
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
        bail!("no SSDP responder answered within {scan_time:?}");
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
    out.print(&rows, || {
        let mut text = format!("{}\n", description.location);
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

async fn service_client(target: &Target, service_type: &str) -> Result<upnp_soap::ServiceClient> {
    let root = root(target).await?;
    let service = root
        .description()
        .find_service(service_type)
        .with_context(|| {
            format!(
                "the gateway at {} has no service {service_type}",
                root.description().location
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
        outputs
            .iter()
            .map(|(name, value)| format!("{name} = {value}"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}
