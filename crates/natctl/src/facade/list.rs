//! `list`: the gateway's mapping table; with `-6`, the pinholes the facade recorded
//! (neither protocol can list pinholes).

use std::net::{IpAddr, SocketAddr};

use anyhow::Result;
use nat_traversal::{Nat, RecordedPinhole, TableEntry};
use serde::Serialize;

use super::{Target, at, lifetime, render_table, technique, techniques_label};
use crate::cli::{Family, Via};
use crate::output::Output;

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

fn entry_json(entry: &TableEntry) -> ListedJson {
    ListedJson {
        protocol: entry.protocol.as_str(),
        public_address: entry.public_address(),
        external_port: entry.external_port,
        internal_address: match entry.internal_address() {
            Some(address) => address.to_string(),
            None => format!("{}:{}", entry.internal_client, entry.internal_port),
        },
        lifetime: lifetime(entry.lifetime),
        description: entry.description.clone(),
        enabled: entry.enabled,
        remote_host: entry.remote_host.as_ref().map(ToString::to_string),
        technique: entry.technique.as_str(),
        on_default_gateway: entry.on_default_gateway,
    }
}

fn pinhole_json(pinhole: &RecordedPinhole) -> ListedJson {
    let address = SocketAddr::new(IpAddr::V6(pinhole.address), pinhole.port);
    ListedJson {
        protocol: pinhole.protocol.as_str(),
        public_address: Some(address),
        external_port: pinhole.port,
        internal_address: address.to_string(),
        lifetime: pinhole.remaining().map(|d| d.as_secs()),
        description: "recorded by natctl".to_owned(),
        enabled: true,
        remote_host: None,
        technique: pinhole.technique.as_str(),
        on_default_gateway: true,
    }
}

/// `list -6`: the pinholes recorded.
fn list_pinholes(out: &Output, nat: &Nat, via: Via) {
    let rows: Vec<ListedJson> = nat
        .recorded_pinholes()
        .iter()
        .filter(|p| technique(via).is_none_or(|t| t == p.technique))
        .map(pinhole_json)
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
    let nat = target.nat(via);
    if target.family == Family::V6 {
        list_pinholes(out, &nat, via);
        return Ok(());
    }
    out.progress().start(format!(
        "reading the mapping table {} ({})",
        at(&nat),
        techniques_label(via)
    ));
    let entries = nat.list().await?;
    out.progress().clear();
    let rows: Vec<ListedJson> = entries.iter().map(entry_json).collect();
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
