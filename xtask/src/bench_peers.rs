//! `cargo xtask bench --only peers`: natkit against igd-next and crab_nat as libraries, in
//! one lab and one run.
//!
//! The peers live in `xtask/peers`, a package outside the workspace with its own lockfile,
//! built here through `--manifest-path` into a target directory of its own: no published
//! crate depends on them and `cargo clippy --workspace` never compiles them. Its
//! `bench-peers` binary times each library call in-process on a LAN host (see its docs).
//!
//! Two LAN hosts: the second talks to the router over a plain veth link, the first over
//! the lab's userspace wire with 100 ms added each way, where each time is also given in
//! round trips (200 ms).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use natlab::{Host, Lab, LabConfig};

use crate::shell::{cargo, root, say, step};

/// One case's result from the worker.
struct Row {
    median: Duration,
    successes: usize,
    error: String,
}

/// Builds `bench-peers` (release) and returns its path.
fn build_worker() -> Result<PathBuf> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("peers");
    let manifest = root().join("xtask").join("peers").join("Cargo.toml");
    // Not `--locked`: the lockfile pins the peers' versions, and cargo changes only the
    // entries our own crates' dependencies need when those change.
    let status = cargo()
        .args(["build", "--release", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("building the peers' bench worker failed: {status}");
    }
    Ok(target_dir.join("release").join("bench-peers"))
}

/// Runs the worker on `host` and reads its rows.
fn run_worker(
    worker: &std::path::Path,
    host: &Host,
    iterations: usize,
) -> Result<Vec<(String, Row)>> {
    let output = host
        .command(&worker.to_string_lossy())
        .args([
            iterations.to_string(),
            "192.168.77.1".to_owned(),
            host.address().to_string(),
        ])
        .output()?;
    if !output.status.success() {
        bail!(
            "bench-peers failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let mut rows = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, micros, successes, error] = fields.as_slice() else {
            bail!("bench-peers printed {line:?}");
        };
        rows.push((
            (*name).to_owned(),
            Row {
                median: Duration::from_micros(micros.parse()?),
                successes: successes.parse()?,
                error: (*error).to_owned(),
            },
        ));
    }
    Ok(rows)
}

/// The comparisons printed as ratios: (ours, peer).
const PAIRS: [(&str, &str); 5] = [
    ("natkit pcp", "crab_nat pcp"),
    ("natkit nat-pmp", "crab_nat nat-pmp"),
    (
        "natkit upnp, cold (discovery)",
        "igd-next upnp, with discovery",
    ),
    ("natkit upnp, warm (cache)", "igd-next upnp, with discovery"),
    ("natkit upnp, Nat reused", "igd-next upnp, gateway reused"),
];

/// Runs the peer benchmarks: `runs` iterations per case on the plain link, fewer on the
/// delayed one.
pub(crate) fn peers(runs: usize) -> Result<()> {
    step("building the peers' bench worker (release, xtask/peers)");
    let worker = build_worker()?;
    step("starting the lab (two LAN hosts, the first behind a delayable wire)");
    let config = LabConfig {
        lan_hosts: 2,
        impairable_lan: true,
        router_debug_log: false,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test(config) else {
        bail!("the benchmarks need the lab");
    };
    let plain = lab.lan_hosts().get(1).context("the second LAN host")?;
    step(&format!(
        "library calls on a plain link ({runs} iterations, medians)"
    ));
    let rows: BTreeMap<String, Row> = run_worker(&worker, plain, runs)?.into_iter().collect();
    print_rows(&rows, None);
    print_ratios(&rows);

    let round_trip = Duration::from_millis(200);
    lab.impair_lan(0.0, round_trip / 2)?;
    let delayed_runs = runs.min(5);
    step(&format!(
        "library calls under 100 ms each way ({delayed_runs} iterations, medians, round trips of 200 ms)"
    ));
    let delayed: BTreeMap<String, Row> = run_worker(&worker, lab.lan(), delayed_runs)?
        .into_iter()
        .collect();
    print_rows(&delayed, Some(round_trip));
    Ok(())
}

fn print_rows(rows: &BTreeMap<String, Row>, round_trip: Option<Duration>) {
    for (name, row) in rows {
        let trips = round_trip
            .map(|rt| {
                format!(
                    "  {:>5.2} round trips",
                    row.median.as_secs_f64() / rt.as_secs_f64()
                )
            })
            .unwrap_or_default();
        let error = if row.error.is_empty() {
            String::new()
        } else {
            format!("  (first error: {})", row.error)
        };
        say(&format!(
            "  {name:<32} {:>9.2} ms{trips}  {} ok{error}",
            row.median.as_secs_f64() * 1000.0,
            row.successes
        ));
    }
}

fn print_ratios(rows: &BTreeMap<String, Row>) {
    step("ratios natkit / peer");
    for (ours, peer) in PAIRS {
        let (Some(a), Some(b)) = (rows.get(ours), rows.get(peer)) else {
            continue;
        };
        if b.median.is_zero() {
            continue;
        }
        say(&format!(
            "  {ours:<32} / {peer:<32} {:>6.2}x",
            a.median.as_secs_f64() / b.median.as_secs_f64()
        ));
    }
}
