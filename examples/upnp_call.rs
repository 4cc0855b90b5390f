//! The generic UPnP dispatcher (`upnp-soap` over `ssdp`): any action of any service of any
//! device, its arguments checked against the service's description.
//!
//! `cargo run -p natkit-examples --bin upnp_call -- [--location URL] [SERVICE ACTION [NAME=VALUE...]]`
//!
//! Finds a device (the first root device that answers an SSDP search, or the one whose
//! description is at `--location`), then, without SERVICE and ACTION, lists its services and
//! each service's actions with their arguments; with them, calls ACTION of the SERVICE (a
//! service type such as `urn:schemas-upnp-org:service:WANIPConnection:1`, its short name
//! `WANIPConnection`, or a service id) with the NAME=VALUE arguments and prints every out
//! argument of the answer. For example:
//! `upnp_call WANIPConnection GetExternalIPAddress`.
//!
//! This talks to devices on your real LAN. To try it in the lab instead, build it
//! (`cargo build -p natkit-examples --bin upnp_call`), start a lab (`cargo xtask lab up`) and
//! run it on the LAN host:
//! `cargo xtask lab exec -- target/debug/upnp_call WANIPConnection GetExternalIPAddress`.

// Examples talk to the person running them.
#![allow(clippy::print_stdout)]

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use upnp_soap::{Config, Direction, RootDevice, Service, Url};

/// What the command line asked for.
struct Request {
    location: Option<String>,
    scan_time: Duration,
    call: Option<Call>,
}

/// An action to call.
struct Call {
    service: String,
    action: String,
    arguments: Vec<(String, String)>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let request = parse_args(std::env::args().skip(1))?;
    let (location, responder) = match &request.location {
        Some(text) => {
            let url =
                upnp_soap::parse_url(text).with_context(|| format!("bad --location {text:?}"))?;
            // Requests go only to the host that described itself, which must be an address.
            let responder = upnp_soap::host_ip(&url)
                .with_context(|| format!("--location {text:?} does not name an IP address"))?;
            (url, responder)
        }
        None => find_device(request.scan_time).await?,
    };
    let root = RootDevice::fetch(&location, responder, Config::default())
        .await
        .with_context(|| format!("cannot read the description at {location}"))?;
    let device = root.description().devices().next();
    println!(
        "device: {} ({}) at {location}",
        device.map_or("?", |d| d.friendly_name.as_str()),
        device.map_or("?", |d| d.device_type.as_str()),
    );
    match &request.call {
        None => list(&root).await,
        Some(call) => invoke(&root, call).await,
    }
}

/// The first root device that answers a search, and the address it answered from.
async fn find_device(scan_time: Duration) -> anyhow::Result<(Url, IpAddr)> {
    let options = ssdp::SearchOptions::new(ssdp::ROOT_DEVICE).scan_time(scan_time);
    let response = ssdp::search_first(&options)
        .await
        .context("cannot search")?
        .with_context(|| format!("no UPnP device answered within {scan_time:?}"))?;
    let location = upnp_soap::parse_url(&response.location)
        .with_context(|| format!("{} sent a bad LOCATION", response.source))?;
    Ok((location, response.source.ip()))
}

/// Every service with its actions and their arguments.
async fn list(root: &RootDevice) -> anyhow::Result<()> {
    for service in root.description().services() {
        println!("service {} ({})", service.service_type, service.service_id);
        match root.service_client(service).await {
            Ok(client) => {
                for action in client.actions() {
                    let arguments: Vec<String> = action
                        .arguments
                        .iter()
                        .map(|a| match a.direction {
                            Direction::In => format!("in {}", a.name),
                            Direction::Out => format!("out {}", a.name),
                        })
                        .collect();
                    println!("  {}({})", action.name, arguments.join(", "));
                }
            }
            Err(error) => println!("  (no actions: {error})"),
        }
    }
    Ok(())
}

/// Calls one action and prints its out arguments.
async fn invoke(root: &RootDevice, call: &Call) -> anyhow::Result<()> {
    let service = find_service(root, &call.service)?;
    let client = root
        .service_client(service)
        .await
        .with_context(|| format!("cannot read the description of {}", service.service_type))?;
    let arguments: Vec<(&str, &str)> = call
        .arguments
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let reply = client
        .call(&call.action, &arguments)
        .await
        .with_context(|| format!("{} {} failed", service.service_type, call.action))?;
    println!(
        "{} {}: {} out arguments",
        service.service_type,
        call.action,
        reply.len()
    );
    for (name, value) in reply.iter() {
        println!("{name}={value}");
    }
    Ok(())
}

/// The service named by its full type (or an earlier version of it), its id, or its short
/// name (`WANIPConnection` for `urn:schemas-upnp-org:service:WANIPConnection:2`).
fn find_service<'a>(root: &'a RootDevice, name: &str) -> anyhow::Result<&'a Service> {
    let description = root.description();
    if let Some(service) = description.find_service(name) {
        return Ok(service);
    }
    let short = format!(":{name}:");
    description
        .services()
        .find(|s| s.service_id == name || s.service_type.contains(&short))
        .with_context(|| {
            let offered: Vec<&str> = description
                .services()
                .map(|s| s.service_type.as_str())
                .collect();
            format!("no service {name:?}; the device offers {offered:?}")
        })
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Request> {
    let mut request = Request {
        location: None,
        scan_time: Duration::from_secs(3),
        call: None,
    };
    let mut positional = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--location" => request.location = Some(args.next().context("--location needs a URL")?),
            "--scan" => {
                let value = args.next().context("--scan needs a number of seconds")?;
                let seconds: u64 = value
                    .parse()
                    .ok()
                    .filter(|s| (1..=3600).contains(s))
                    .with_context(|| format!("--scan {value:?} is not 1 to 3600 seconds"))?;
                request.scan_time = Duration::from_secs(seconds);
            }
            "-h" | "--help" => {
                println!(
                    "usage: upnp_call [--location URL] [--scan SECONDS] [SERVICE ACTION [NAME=VALUE...]]"
                );
                std::process::exit(0);
            }
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    if let Some(service) = positional.next() {
        let action = positional
            .next()
            .with_context(|| format!("an action of {service} is needed"))?;
        let mut arguments = Vec::new();
        for pair in positional {
            let Some((name, value)) = pair.split_once('=') else {
                bail!("argument {pair:?} is not NAME=VALUE");
            };
            arguments.push((name.to_owned(), value.to_owned()));
        }
        request.call = Some(Call {
            service,
            action,
            arguments,
        });
    }
    Ok(request)
}
