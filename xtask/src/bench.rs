//! `cargo xtask bench`: natctl against the reference C tools, in one lab and one run.
//!
//! Each case is a pair of whole processes run on the LAN host through the same
//! `ip netns exec` wrapper: ours (the release build of natctl) and the reference (`natpmpc`
//! for NAT-PMP/PCP, `upnpc` for UPnP IGD).
//! Runs alternate between the two so drift hits both alike; the report gives medians and the
//! ratio ours / reference.
//!
//! Then the facade: a release-built `bench-worker` on the LAN host holds 1,000 persistent
//! mappings over two refresh cycles while this process samples its RSS and CPU time from
//! /proc, and the time to the first public assignment is compared for auto and each single
//! technique.
//!
//! `--only peers` (igd-next and crab_nat as libraries, `bench_peers`), `--only rtt`,
//! `--only loss` and `--only stop` (`bench_net`) run on their own.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use natlab::{Host, Lab, LabConfig};

use crate::shell::{build_binary, say, step};

/// One comparison: a natctl invocation and the reference tool's equivalent.
struct Case {
    name: &'static str,
    ours: Vec<String>,
    reference: (&'static str, Vec<String>),
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

fn natpmp_cases() -> Vec<Case> {
    let natpmpc_ip = ("natpmpc", words("-g 192.168.77.1"));
    let natpmpc_map = ("natpmpc", words("-g 192.168.77.1 -a 6001 6001 tcp 3600"));
    vec![
        Case {
            name: "external-ip via pmp  vs natpmpc -g",
            ours: words("external-ip --via pmp"),
            reference: natpmpc_ip.clone(),
        },
        Case {
            name: "external-ip via pcp  vs natpmpc -g",
            ours: words("external-ip --via pcp"),
            reference: natpmpc_ip,
        },
        Case {
            name: "map via pmp          vs natpmpc -a",
            ours: words("map tcp 6000 --external 6000 --lifetime 3600 --via pmp"),
            reference: natpmpc_map.clone(),
        },
        Case {
            name: "map via pcp          vs natpmpc -a",
            ours: words("map tcp 6002 --external 6002 --lifetime 3600 --via pcp"),
            reference: natpmpc_map,
        },
    ]
}

fn upnp_cases() -> Vec<Case> {
    vec![
        Case {
            name: "external-ip via upnp vs upnpc -s",
            ours: words("external-ip --via upnp"),
            reference: ("upnpc", words("-s")),
        },
        Case {
            name: "map via upnp         vs upnpc -a",
            ours: words("map tcp 6100 --external 6100 --lifetime 3600 --via upnp"),
            reference: ("upnpc", words("-a 192.168.77.10 6101 6101 TCP 3600")),
        },
    ]
}

/// Reads a process's resident set size (kB) and CPU time (user + system) from /proc.
fn rss_and_cpu(pid: u32) -> Result<(u64, Duration)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Ok((rss_kb, Duration::from_millis(ticks * 10)))
}

/// The facade: 1,000 persistent mappings held over two refresh cycles, and the time to the
/// first public assignment for auto against each single technique.
fn facade(lab: &Lab, count: u16, first_runs: usize) -> Result<()> {
    step("building the facade bench worker (release)");
    let worker = build_binary("xtask", "bench-worker", true)?;
    let worker = worker.to_string_lossy();

    step("time to the first public assignment (medians)");
    let techniques = ["auto", "pcp", "nat-pmp", "upnp"];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); techniques.len()];
    for _ in 0..first_runs {
        for (index, technique) in techniques.iter().enumerate() {
            let output = lab
                .lan()
                .command(&worker)
                .args(["first", technique])
                .output()?;
            if !output.status.success() {
                bail!(
                    "bench-worker first {technique}: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            let micros: u64 = String::from_utf8_lossy(&output.stdout).trim().parse()?;
            samples[index].push(Duration::from_micros(micros));
        }
    }
    let medians: Vec<Duration> = samples.iter_mut().map(|s| median(s)).collect();
    for (technique, value) in techniques.iter().zip(&medians) {
        say(&format!("{technique:<8} {:>9.2} ms", millis(*value)));
    }
    let fastest_single = medians[1..].iter().min().copied().unwrap_or_default();
    say(&format!(
        "auto - fastest single technique: {:+.2} ms (target: within 2 ms)",
        millis(medians[0]) - millis(fastest_single)
    ));

    hold(lab, &worker, count, "pcp")
}

/// The first of the worker's internal ports (`bench-worker hold` maps from here up).
const WORKER_FIRST_PORT: u16 = 20000;

/// Holds `count` persistent mappings (60 s lifetimes) through `technique` on the lab's LAN
/// host over two refresh cycles, sampling the worker's RSS and CPU time.
fn hold(lab: &Lab, worker: &str, count: u16, technique: &str) -> Result<()> {
    use std::io::{BufRead, BufReader};
    step(&format!(
        "{count} persistent mappings via {technique} against miniupnpd, 60 s lifetimes, two refresh cycles"
    ));
    let mut child = lab
        .lan()
        .command(worker)
        .args(["hold", &count.to_string(), "60", technique])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().context("worker stdout")?).lines();
    let ready = lines.next().context("the worker said nothing")??;
    say(&format!("worker: {ready} (ms to map all)"));
    let (rss_start, cpu_start) = rss_and_cpu(pid)?;
    let window_start = Instant::now();
    let mut peak_rss = rss_start;
    // What the router holds, checked as the window goes: a mapping refreshed late lapses
    // there first.
    let mut fewest_held = usize::MAX;
    let worker_ports = WORKER_FIRST_PORT..WORKER_FIRST_PORT + count;
    // Refresh at half the 60 s lifetime: two cycles take 60 s; watch a little longer.
    while window_start.elapsed() < Duration::from_secs(65) {
        std::thread::sleep(Duration::from_secs(1));
        peak_rss = peak_rss.max(rss_and_cpu(pid)?.0);
        let held = lab.redirections()?;
        let ours = held
            .iter()
            .filter(|r| worker_ports.contains(&r.internal_port));
        fewest_held = fewest_held.min(ours.count());
    }
    let (_, cpu_end) = rss_and_cpu(pid)?;
    let wall = window_start.elapsed();
    drop(child.stdin.take());
    let stopped = lines.next().transpose()?.unwrap_or_default();
    let _ = child.wait();
    let cpu_share = (cpu_end - cpu_start).as_secs_f64() / wall.as_secs_f64() * 100.0;
    say(&format!(
        "RSS {:.1} MB at ready, {:.1} MB peak (target < 20 MB); CPU {:.2}% of one core over {:.0} s (target < 1%)",
        rss_start as f64 / 1024.0,
        peak_rss as f64 / 1024.0,
        cpu_share,
        wall.as_secs_f64()
    ));
    say(&format!(
        "mappings still public at the end: {} of {count}; fewest the router held in the window: {fewest_held}",
        stopped.trim_start_matches("stopped ")
    ));
    Ok(())
}

/// Runs the benchmarks. `--runs N` sets the runs per command (default 50).
pub(crate) fn run_bench(args: &[String]) -> Result<()> {
    let mut runs = 50usize;
    let mut mappings = 1000u16;
    let mut only: Option<String> = None;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().context("a flag needs a value")?;
        match flag.as_str() {
            "--runs" => runs = value.parse()?,
            "--mappings" => mappings = value.parse()?,
            "--only" => only = Some(value.clone()),
            _ => bail!(
                "usage: cargo xtask bench [--runs N] [--mappings N] [--only natctl|facade|rtt|loss|peers|stop]"
            ),
        }
    }
    if only.as_deref() == Some("peers") {
        return crate::bench_peers::peers(runs.min(30));
    }
    step("building natctl (release)");
    let natctl = build_binary("natkit-natctl", "natctl", true)?;
    match only.as_deref() {
        Some("rtt") => return crate::bench_net::round_trips(&natctl, runs.min(9)),
        Some("loss") => return crate::bench_net::loss(&natctl, runs.min(20)),
        Some("stop") => return crate::bench_net::stop(&natctl, 100),
        _ => {}
    }
    step("starting the lab");
    // PCP grants at least min_lifetime: 60 s, so the facade bench refreshes every 30 s.
    // miniupnpd runs as on a router, without the debug log that costs most of its time at
    // 1,000 rules (see LabConfig::router_debug_log).
    let config = LabConfig {
        min_lifetime: 60,
        router_debug_log: false,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test_with_tools(config, &["natpmpc", "upnpc"]) else {
        bail!("the benchmarks need the lab");
    };
    if only.as_deref() == Some("facade") {
        return facade(&lab, mappings, runs.min(15));
    }
    let mut rows = Vec::new();
    for case in natpmp_cases() {
        rows.push(measure(&lab, &natctl, &case, runs)?);
    }
    // upnpc waits out its 2 s discovery on every run: fewer runs keep the bench short.
    for case in upnp_cases() {
        rows.push(measure(&lab, &natctl, &case, runs.min(10))?);
    }
    step(&format!(
        "results ({runs} runs each, whole processes, medians)"
    ));
    say(&format!(
        "{:<38} {:>12} {:>12} {:>8}",
        "case", "natctl", "reference", "ratio"
    ));
    for (name, ours, reference) in &rows {
        say(&format!(
            "{:<38} {:>9.2} ms {:>9.2} ms {:>7.2}x",
            name,
            millis(*ours),
            millis(*reference),
            ours.as_secs_f64() / reference.as_secs_f64()
        ));
    }
    if only.as_deref() == Some("natctl") {
        return Ok(());
    }
    facade(&lab, mappings, runs.min(15))
}

fn measure(
    lab: &Lab,
    natctl: &Path,
    case: &Case,
    runs: usize,
) -> Result<(&'static str, Duration, Duration)> {
    let host = lab.lan();
    // One warm-up of each, so first-run page-cache effects do not count.
    time(host, &natctl.to_string_lossy(), &case.ours)?;
    time(host, case.reference.0, &case.reference.1)?;
    let mut ours = Vec::with_capacity(runs);
    let mut reference = Vec::with_capacity(runs);
    for _ in 0..runs {
        ours.push(time(host, &natctl.to_string_lossy(), &case.ours)?);
        reference.push(time(host, case.reference.0, &case.reference.1)?);
    }
    Ok((case.name, median(&mut ours), median(&mut reference)))
}

fn time(host: &Host, program: &str, args: &[String]) -> Result<Duration> {
    let mut command: Command = host.command(program);
    command.args(args);
    let started = Instant::now();
    let output = command.output()?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "{program} {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(elapsed)
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
