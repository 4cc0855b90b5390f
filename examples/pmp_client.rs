//! NAT-PMP/PCP alone (`natpmp-proto`'s tokio client): the gateway's external address, a port
//! mapped, then unmapped, each answer printed.
//!
//! `cargo run -p natkit-examples --bin pmp_client -- [--gateway ADDR] [tcp|udp] [PORT] [SECONDS]`
//!
//! Defaults: the default gateway (from `netinfo`), TCP, port 8080, a 120 s lifetime. The
//! client speaks PCP where the gateway does and NAT-PMP otherwise. With `--hold`, it waits
//! for a line on stdin (or its end) between the mapping and the unmapping, so the mapping
//! can be tried from outside meanwhile.
//!
//! This talks to your real router. To try it in the lab instead, build it
//! (`cargo build -p natkit-examples --bin pmp_client`), start a lab (`cargo xtask lab up`) and
//! run it on the LAN host: `cargo xtask lab exec -- target/debug/pmp_client tcp 4000`.

// Examples talk to the person running them.
#![allow(clippy::print_stdout)]

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use natpmp_proto::Protocol;
use natpmp_proto::tokio::{Client, ClientConfig};
use tokio::io::AsyncBufReadExt as _;

/// What the command line asked for.
struct Request {
    gateway: Option<IpAddr>,
    protocol: Protocol,
    port: u16,
    lifetime: Duration,
    hold: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let request = parse_args(std::env::args().skip(1))?;
    let gateway = match request.gateway {
        Some(gateway) => gateway,
        None => IpAddr::V4(netinfo::default_gateway().context("no gateway to ask")?),
    };
    println!("gateway: {gateway}");
    // Every operation gives up after 10 s instead of PCP's minutes-long RFC schedule.
    let client = Client::with_config(gateway, ClientConfig::interactive(Duration::from_secs(10)))
        .await
        .with_context(|| format!("cannot reach {gateway}"))?;

    let external = client
        .external_address()
        .await
        .context("no external address")?;
    println!(
        "external address: {external} (spoken: {})",
        client
            .version()
            .map_or_else(|| "unknown".to_owned(), |v| format!("{v:?}"))
    );

    let mapping = client
        .map(
            request.protocol,
            request.port,
            request.port,
            request.lifetime,
        )
        .await
        .with_context(|| format!("cannot map {:?} {}", request.protocol, request.port))?;
    println!(
        "mapped: {}:{} -> local port {} ({:?}, {:?}, lifetime {} s, epoch {})",
        mapping.external_address,
        mapping.external_port,
        mapping.internal_port,
        mapping.protocol,
        mapping.version,
        mapping.lifetime.as_secs(),
        mapping.epoch
    );

    if request.hold {
        println!("holding: press Enter to unmap");
        let mut line = String::new();
        tokio::io::BufReader::new(tokio::io::stdin())
            .read_line(&mut line)
            .await
            .context("cannot read stdin")?;
    }

    client.delete(&mapping).await.with_context(|| {
        format!(
            "cannot unmap {:?} {}",
            mapping.protocol, mapping.internal_port
        )
    })?;
    println!("unmapped: {:?} {}", mapping.protocol, mapping.internal_port);
    Ok(())
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Request> {
    let mut request = Request {
        gateway: None,
        protocol: Protocol::Tcp,
        port: 8080,
        lifetime: Duration::from_secs(120),
        hold: false,
    };
    let mut positional = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--gateway" => {
                let value = args.next().context("--gateway needs an address")?;
                request.gateway = Some(
                    value
                        .parse()
                        .with_context(|| format!("--gateway {value:?} is not an IP address"))?,
                );
            }
            "--hold" => request.hold = true,
            "-h" | "--help" => {
                println!("usage: pmp_client [--gateway ADDR] [--hold] [tcp|udp] [PORT] [SECONDS]");
                std::process::exit(0);
            }
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    if let Some(protocol) = positional.next() {
        request.protocol = match protocol.as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            other => bail!("protocol {other:?} is neither tcp nor udp"),
        };
    }
    if let Some(port) = positional.next() {
        request.port = port
            .parse()
            .ok()
            .filter(|&p| p != 0)
            .with_context(|| format!("port {port:?} is not a number from 1 to 65535"))?;
    }
    if let Some(seconds) = positional.next() {
        let seconds: u64 =
            seconds.parse().ok().filter(|&s| s != 0).with_context(|| {
                format!("lifetime {seconds:?} is not a positive number of seconds")
            })?;
        request.lifetime = Duration::from_secs(seconds);
    }
    if let Some(extra) = positional.next() {
        bail!("unexpected argument {extra:?}");
    }
    Ok(request)
}
