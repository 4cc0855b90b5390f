//! `bench-peers`: natkit against its peers as libraries, timed in-process on a lab's LAN host
//! (`cargo xtask bench --only peers` builds it and runs it there).
//!
//! ```text
//! bench-peers ITERATIONS GATEWAY CLIENT_ADDRESS
//! ```
//!
//! Each case makes one UDP mapping per iteration and times it from the first call to the
//! mapping granted; the mapping is then deleted, untimed, so the router's table stays the
//! same size for every iteration. Cases run one after another (never two at once), and
//! print one line each: `case<TAB>median_us<TAB>successes<TAB>first_error`.
//!
//! - igd-next (its tokio API): UPnP with discovery (`search_gateway` then `add_port`) and
//!   without (`add_port` on a gateway found once).
//! - crab_nat: a PCP MAP (`pcp::port_mapping`) and a NAT-PMP map (`natpmp::port_mapping`).
//! - natkit's facade: a new `Nat` and its first mapping with auto and with each technique
//!   alone; UPnP cold (SSDP discovery) and warm (the IGD read from the on-disk cache, as the
//!   next process would); and UPnP on a `Nat` kept across iterations (its IGD found once,
//!   like igd-next's reused gateway).
//!
//! What each call does differs a little: crab_nat and igd-next are handed the gateway's and
//! the client's addresses, natkit finds both itself (the default route and the source
//! address toward it); natkit's NAT-PMP map also asks for the external address (in the same
//! round trip), crab_nat's does not.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU16;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nat_traversal::{MapRequest, Nat, NatOptions, Protocol, Technique};

/// Lifetime of every mapping made here (deleted right away anyway).
const LIFETIME_SECS: u32 = 600;
/// Bound on one operation: a lost exchange fails the iteration, not the bench.
const OPERATION_LIMIT: Duration = Duration::from_secs(10);

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// The samples of one case.
#[derive(Default)]
struct Samples {
    times: Vec<Duration>,
    first_error: Option<String>,
}

impl Samples {
    fn record<T, E: std::fmt::Display>(
        &mut self,
        elapsed: Duration,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => {
                self.times.push(elapsed);
                Some(value)
            }
            Err(error) => {
                self.first_error.get_or_insert_with(|| error.to_string());
                None
            }
        }
    }

    fn report(mut self, name: &str) {
        self.times.sort_unstable();
        let median = self
            .times
            .get(self.times.len() / 2)
            .map_or(0, |d| d.as_micros());
        let error = self
            .first_error
            .unwrap_or_default()
            .replace(['\t', '\n'], " ");
        say(&format!("{name}\t{median}\t{}\t{error}", self.times.len()));
    }
}

/// Runs `operation` within [`OPERATION_LIMIT`] and returns its result and duration.
async fn timed<T, E, F>(operation: F) -> (Duration, Result<T, String>)
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let result = tokio::time::timeout(OPERATION_LIMIT, operation).await;
    let elapsed = started.elapsed();
    let result = match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no result within {OPERATION_LIMIT:?}")),
    };
    (elapsed, result)
}

struct Setup {
    iterations: usize,
    gateway: IpAddr,
    client: IpAddr,
    cache: PathBuf,
}

fn port(value: u16) -> Result<NonZeroU16> {
    NonZeroU16::new(value).context("port 0")
}

async fn igd_next_cases(setup: &Setup) -> Result<()> {
    use igd_next::PortMappingProtocol::UDP;
    use igd_next::SearchOptions;
    use igd_next::aio::tokio::search_gateway;
    let options = || SearchOptions {
        bind_addr: SocketAddr::new(setup.client, 0),
        timeout: Some(OPERATION_LIMIT),
        ..SearchOptions::default()
    };

    let internal = SocketAddr::new(setup.client, 41000);
    let mut samples = Samples::default();
    for _ in 0..setup.iterations {
        let (elapsed, result) = timed(async {
            let gateway = search_gateway(options()).await.map_err(|e| e.to_string())?;
            gateway
                .add_port(UDP, internal.port(), internal, LIFETIME_SECS, "bench")
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(gateway)
        })
        .await;
        if let Some(gateway) = samples.record(elapsed, result) {
            let _ = gateway.remove_port(UDP, internal.port()).await;
        }
    }
    samples.report("igd-next upnp, with discovery");

    let internal = SocketAddr::new(setup.client, 41100);
    let gateway = search_gateway(options())
        .await
        .context("igd-next found no gateway")?;
    let mut samples = Samples::default();
    for _ in 0..setup.iterations {
        let (elapsed, result) =
            timed(gateway.add_port(UDP, internal.port(), internal, LIFETIME_SECS, "bench")).await;
        if samples.record(elapsed, result).is_some() {
            let _ = gateway.remove_port(UDP, internal.port()).await;
        }
    }
    samples.report("igd-next upnp, gateway reused");
    Ok(())
}

async fn crab_nat_cases(setup: &Setup) -> Result<()> {
    use crab_nat::{InternetProtocol, PortMappingOptions};
    let options = PortMappingOptions {
        external_port: Some(port(41200)?),
        lifetime_seconds: Some(LIFETIME_SECS),
        timeout_config: None,
    };
    let mut samples = Samples::default();
    for _ in 0..setup.iterations {
        let base = crab_nat::pcp::BaseMapRequest::new(
            setup.gateway,
            setup.client,
            InternetProtocol::Udp,
            port(41200)?,
        );
        let (elapsed, result) = timed(crab_nat::pcp::port_mapping(base, None, None, options)).await;
        if let Some(mapping) = samples.record(elapsed, result) {
            let _ = mapping.try_drop().await;
        }
    }
    samples.report("crab_nat pcp");

    let options = PortMappingOptions {
        external_port: Some(port(41300)?),
        ..options
    };
    let mut samples = Samples::default();
    for _ in 0..setup.iterations {
        let (elapsed, result) = timed(crab_nat::natpmp::port_mapping(
            setup.gateway,
            InternetProtocol::Udp,
            port(41300)?,
            options,
        ))
        .await;
        if let Some(mapping) = samples.record(elapsed, result) {
            let _ = mapping.try_drop().await;
        }
    }
    samples.report("crab_nat nat-pmp");
    Ok(())
}

fn options(only: Option<Technique>) -> NatOptions {
    let options = NatOptions::default()
        .with_operation_timeout(OPERATION_LIMIT)
        .with_probe_timeout(OPERATION_LIMIT)
        .with_description("bench");
    match only {
        Some(technique) => options.only(technique),
        None => options,
    }
}

/// A new `Nat` per iteration (a new process's first mapping), then deletion.
async fn natkit_first(setup: &Setup, name: &str, options: NatOptions, internal_port: u16) {
    let request = MapRequest::new(Protocol::Udp, internal_port)
        .with_lifetime(Duration::from_secs(LIFETIME_SECS.into()));
    let mut samples = Samples::default();
    for _ in 0..setup.iterations {
        let nat = Nat::new(options.clone());
        let (elapsed, result) = timed(nat.map(&request)).await;
        if samples.record(elapsed, result).is_some() {
            let _ = nat.unmap_port(Protocol::Udp, internal_port).await;
        }
    }
    samples.report(name);
}

async fn natkit_cases(setup: &Setup) -> Result<()> {
    natkit_first(setup, "natkit auto", options(None), 42000).await;
    natkit_first(setup, "natkit pcp", options(Some(Technique::Pcp)), 42100).await;
    natkit_first(
        setup,
        "natkit nat-pmp",
        options(Some(Technique::NatPmp)),
        42200,
    )
    .await;
    natkit_first(
        setup,
        "natkit upnp, cold (discovery)",
        options(Some(Technique::Upnp)),
        42300,
    )
    .await;

    // Warm: the cache holds the IGD found by an earlier process (this warm-up).
    let _ = std::fs::remove_file(&setup.cache);
    let warm = options(Some(Technique::Upnp)).with_upnp_cache(&setup.cache);
    let nat = Nat::new(warm.clone());
    nat.external_address()
        .await
        .context("natkit's warm-up found no IGD")?;
    drop(nat);
    natkit_first(setup, "natkit upnp, warm (cache)", warm, 42400).await;

    // One `Nat` across iterations: the IGD it found is kept.
    let nat = Nat::new(options(Some(Technique::Upnp)));
    nat.external_address()
        .await
        .context("natkit found no IGD")?;
    let request =
        MapRequest::new(Protocol::Udp, 42500).with_lifetime(Duration::from_secs(LIFETIME_SECS.into()));
    let mut samples = Samples::default();
    for _ in 0..setup.iterations {
        let (elapsed, result) = timed(nat.map(&request)).await;
        if samples.record(elapsed, result).is_some() {
            let _ = nat.unmap_port(Protocol::Udp, 42500).await;
        }
    }
    samples.report("natkit upnp, Nat reused");
    Ok(())
}

async fn run(setup: Setup) -> Result<()> {
    // Peers and ours alternate by family so drift over the run hits both alike.
    crab_nat_cases(&setup).await?;
    natkit_cases(&setup).await?;
    igd_next_cases(&setup).await?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [iterations, gateway, client] = args.as_slice() else {
        bail!("usage: bench-peers ITERATIONS GATEWAY CLIENT_ADDRESS");
    };
    let setup = Setup {
        iterations: iterations.parse()?,
        gateway: gateway.parse()?,
        client: client.parse()?,
        cache: std::env::temp_dir().join(format!("bench-peers-cache-{}", std::process::id())),
    };
    let cache = setup.cache.clone();
    // One thread, as natctl and a CLI built on either peer would run.
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(setup));
    let _ = std::fs::remove_file(cache);
    result
}
