//! `cargo xtask bench --only rtt` and `--only loss`: natctl on a slow and on a lossy LAN
//! link (the lab's userspace wire between the first LAN host and the router).
//!
//! - `rtt`: 100 ms each way; the median time of each mapping command in round trips
//!   (200 ms each): PCP, NAT-PMP and auto (one exchange each is the floor), UPnP cold (SSDP
//!   discovery, `--no-cache`) and warm (the IGD cache).
//! - `loss`: 20 % and 40 % loss each way; how many of 20 `map` commands succeed with
//!   `--timeout 5`, per technique, and how many `map --keep` stops leave nothing behind.
//! - `stop`: 100 `map --keep` processes per technique stopped together (no impairment).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use natlab::{Lab, LabConfig};

use crate::shell::{say, step};

fn impaired_lab() -> Result<Lab> {
    let config = LabConfig {
        impairable_lan: true,
        router_debug_log: false,
        ..LabConfig::default()
    };
    match Lab::for_test(config) {
        Some(lab) => Ok(lab),
        None => bail!("the network benchmarks need the lab"),
    }
}

/// natctl on the LAN host, with its own cache directory.
fn natctl(lab: &Lab, natctl: &Path, home: &Path, args: &[&str]) -> Command {
    let mut command = lab.lan().command(&natctl.to_string_lossy());
    command
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_CACHE_HOME");
    command
}

fn run_timed(mut command: Command) -> Result<(bool, Duration)> {
    let started = Instant::now();
    let output = command.output()?;
    Ok((output.status.success(), started.elapsed()))
}

/// Round trips of each mapping command under 100 ms of delay each way.
pub(crate) fn round_trips(natctl_path: &Path, runs: usize) -> Result<()> {
    let lab = impaired_lab()?;
    let home = lab.dir().join("bench-home");
    let round_trip = Duration::from_millis(200);
    lab.impair_lan(0.0, round_trip / 2)?;
    step("natctl under 100 ms each way (medians, in round trips of 200 ms)");
    let cases: [(&str, &[&str]); 5] = [
        ("map via pcp", &["map", "tcp", "6100", "--via", "pcp"]),
        ("map via pmp", &["map", "tcp", "6101", "--via", "pmp"]),
        ("map via auto", &["map", "tcp", "6102"]),
        (
            "map via upnp, cold (--no-cache)",
            &["--no-cache", "map", "tcp", "6103", "--via", "upnp"],
        ),
        (
            "map via upnp, warm (cache)",
            &["map", "tcp", "6104", "--via", "upnp"],
        ),
    ];
    // One warm-up run fills the UPnP cache for the warm case.
    let _ = run_timed(natctl(&lab, natctl_path, &home, cases[4].1));
    for (name, args) in cases {
        let mut samples = Vec::new();
        for _ in 0..runs {
            let (ok, elapsed) = run_timed(natctl(&lab, natctl_path, &home, args))?;
            if ok {
                samples.push(elapsed);
            }
        }
        samples.sort_unstable();
        let Some(median) = samples.get(samples.len() / 2) else {
            say(&format!("  {name:<34} every run failed"));
            continue;
        };
        say(&format!(
            "  {name:<34} {:>7.1} ms  {:>4.2} round trips  ({} of {runs} succeeded)",
            median.as_secs_f64() * 1000.0,
            median.as_secs_f64() / round_trip.as_secs_f64(),
            samples.len()
        ));
    }
    Ok(())
}

/// Successes out of `tries` under loss, per technique.
pub(crate) fn loss(natctl_path: &Path, tries: usize) -> Result<()> {
    let lab = impaired_lab()?;
    let home = lab.dir().join("bench-home");
    for percent in [20.0, 40.0] {
        lab.impair_lan(percent, Duration::from_millis(1))?;
        step(&format!(
            "natctl map under {percent:.0} % loss each way, --timeout 5"
        ));
        let techniques = [
            ("pcp", "pcp"),
            ("nat-pmp", "pmp"),
            ("auto", "auto"),
            ("upnp", "upnp"),
        ];
        for (index, (name, via)) in techniques.into_iter().enumerate() {
            let mut succeeded = 0;
            let mut slowest = Duration::ZERO;
            let mut failures = Vec::new();
            for attempt in 0..tries {
                // Ports of their own per technique: no mapping of another is in the way.
                let port = (6200 + 100 * index + attempt).to_string();
                let args = [
                    "--no-cache",
                    "--timeout",
                    "5",
                    "map",
                    "udp",
                    &port,
                    "--via",
                    via,
                    "--lifetime",
                    "120",
                ];
                let started = Instant::now();
                let output = natctl(&lab, natctl_path, &home, &args).output()?;
                if output.status.success() {
                    succeeded += 1;
                    slowest = slowest.max(started.elapsed());
                } else {
                    failures.push(String::from_utf8_lossy(&output.stderr).trim().to_owned());
                }
            }
            say(&format!(
                "  {name:<8} {succeeded:>2} of {tries} succeeded (slowest success {:.1} s)",
                slowest.as_secs_f64()
            ));
            for failure in failures.iter().take(3) {
                say(&format!(
                    "           {}",
                    failure.chars().take(200).collect::<String>()
                ));
            }
        }
        // Clean up without loss for the next round.
        lab.impair_lan(0.0, Duration::from_millis(1))?;
        let _ = run_timed(natctl(&lab, natctl_path, &home, &["unmap-all", "udp"]));
    }
    Ok(())
}

/// `--only stop`: `count` `natctl map --keep` processes per technique on the LAN host, all
/// mapped, then one SIGINT each at once: how many exit 0, how long until the last one has,
/// and how many rules the router still holds.
pub(crate) fn stop(natctl_path: &Path, count: u16) -> Result<()> {
    use std::process::Stdio;
    let config = LabConfig {
        router_debug_log: false,
        ..LabConfig::default()
    };
    let Some(lab) = Lab::for_test(config) else {
        bail!("the stop benchmark needs the lab");
    };
    let home = lab.dir().join("bench-home");
    // The UPnP keepers find the IGD in the cache, as every natctl run after the first does.
    let _ = run_timed(natctl(
        &lab,
        natctl_path,
        &home,
        &["external-ip", "--via", "upnp"],
    ));
    step(&format!(
        "{count} `natctl map --keep` per technique, stopped by one SIGINT each at once"
    ));
    for (index, via) in ["upnp", "pcp", "pmp"].into_iter().enumerate() {
        let first = 31000 + 1000 * index as u16;
        let ports = first..first + count;
        let started = Instant::now();
        let mut children = Vec::new();
        for port in ports.clone() {
            let port = port.to_string();
            let args = [
                "map",
                "udp",
                &port,
                "--lifetime",
                "600",
                "--keep",
                "--via",
                via,
            ];
            children.push(
                natctl(&lab, natctl_path, &home, &args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()?,
            );
        }
        let held = |lab: &Lab| -> Result<usize> {
            Ok(lab
                .redirections()?
                .iter()
                .filter(|r| ports.contains(&r.internal_port))
                .count())
        };
        while held(&lab)? < usize::from(count) && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mapped = held(&lab)?;
        let mapped_in = started.elapsed();
        let stopping = Instant::now();
        let status = Command::new("kill")
            .arg("-INT")
            .args(children.iter().map(|c| c.id().to_string()))
            .status()?;
        if !status.success() {
            bail!("kill -INT failed");
        }
        let mut exited_0 = 0;
        for child in &mut children {
            if child.wait()?.success() {
                exited_0 += 1;
            }
        }
        let stopped_in = stopping.elapsed();
        say(&format!(
            "  {via:<5} {mapped} of {count} mapped in {:.2} s; stopped in {:.2} s; {exited_0} exited 0; {} rules left",
            mapped_in.as_secs_f64(),
            stopped_in.as_secs_f64(),
            held(&lab)?
        ));
    }
    Ok(())
}
