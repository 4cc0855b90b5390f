//! `cargo xtask bench`: natctl against the reference C tools, in one lab and one run.
//!
//! Each case is a pair of whole processes run on the LAN host through the same
//! `ip netns exec` wrapper: ours (the release build of natctl) and the reference (`natpmpc`
//! for NAT-PMP/PCP, `upnpc` for UPnP IGD).
//! Runs alternate between the two so drift hits both alike; the report gives medians and the
//! ratio ours / reference.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use natlab::{Host, Lab, LabConfig};

use crate::shell::{cargo, root, run, say, step};

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

/// Runs the benchmarks. `--runs N` sets the runs per command (default 50).
pub(crate) fn run_bench(args: &[String]) -> Result<()> {
    let runs = match args {
        [flag, n] if flag == "--runs" => n.parse()?,
        [] => 50usize,
        _ => bail!("usage: cargo xtask bench [--runs N]"),
    };
    step("building natctl (release)");
    run(cargo()
        .current_dir(root())
        .args(["build", "--release", "--quiet", "-p", "natctl"]))?;
    let natctl = root().join("target/release/natctl");
    step("starting the lab");
    let Some(lab) = Lab::for_test_with_tools(LabConfig::default(), &["natpmpc", "upnpc"]) else {
        bail!("the benchmarks need the lab");
    };
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
    Ok(())
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
