//! Lab tests of stopping `natctl map --keep` under stress: a hundred processes per technique
//! stopped by one signal together, and stops whose exchanges cross a lossy link. Whatever
//! the router's load or the link's losses, a stop must leave no rule behind, and must say
//! it succeeded whenever the router holds nothing afterwards.
// natlab builds network namespaces: Linux only.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]
// The counts and times of each round are worth seeing in the test output.
#![allow(clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use natlab::wait::poll;
use natlab::{Host, Lab, LabConfig};

/// One `natctl --json map udp PORT --keep --via VIA` on `host`, its standard output read
/// line by line on a thread of its own: each line's `event` goes to `events` as it comes,
/// and the thread returns every line once the process closes its output.
struct Keeper {
    port: u16,
    child: Child,
    lines: Option<JoinHandle<Vec<String>>>,
}

fn keep(
    host: &Host,
    cache: &Path,
    via: &str,
    port: u16,
    events: &mpsc::Sender<(u16, String)>,
) -> Keeper {
    let mut child = host
        .command(env!("CARGO_BIN_EXE_natctl"))
        .args(["--json", "map", "udp", &port.to_string()])
        .args(["--lifetime", "600", "--keep", "--via", via])
        .env("XDG_CACHE_HOME", cache)
        .env_remove("NATCTL_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("natctl starts");
    let stdout = child.stdout.take().unwrap();
    let events = events.clone();
    let lines = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let event = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|json| json["event"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = events.send((port, event));
            lines.push(line);
        }
        lines
    });
    Keeper {
        port,
        child,
        lines: Some(lines),
    }
}

/// Waits until every keeper printed `mapped`, or panics after `limit` naming the missing.
fn wait_mapped(keepers: &[Keeper], events: &mpsc::Receiver<(u16, String)>, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut mapped = std::collections::BTreeSet::new();
    while mapped.len() < keepers.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok((port, event)) if event == "mapped" => {
                mapped.insert(port);
            }
            Ok(_) => {}
            Err(_) => {
                let missing: Vec<u16> = keepers
                    .iter()
                    .map(|k| k.port)
                    .filter(|p| !mapped.contains(p))
                    .collect();
                panic!(
                    "{} of {} mapped within {limit:?}; not: {missing:?}",
                    mapped.len(),
                    keepers.len()
                );
            }
        }
    }
}

/// Sends SIGINT to every keeper with one `kill` (one system call each, back to back).
fn interrupt_all(keepers: &[Keeper]) {
    let status = std::process::Command::new("kill")
        .arg("-INT")
        .args(keepers.iter().map(|k| k.child.id().to_string()))
        .status()
        .unwrap();
    assert!(status.success());
}

/// What one keeper did after the signal.
struct Stopped {
    port: u16,
    status: ExitStatus,
    last_event: String,
    stderr: String,
}

/// Waits for every keeper to exit (killing any still running after `limit`).
fn wait_all(keepers: Vec<Keeper>, limit: Duration) -> Vec<Stopped> {
    let deadline = Instant::now() + limit;
    keepers
        .into_iter()
        .map(|mut keeper| {
            let left = deadline.saturating_duration_since(Instant::now());
            let status = poll(left, || keeper.child.try_wait().unwrap()).unwrap_or_else(|| {
                let _ = keeper.child.kill();
                keeper.child.wait().unwrap()
            });
            let mut stderr = String::new();
            if let Some(mut pipe) = keeper.child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            let lines = keeper.lines.take().unwrap().join().unwrap();
            let last_event = lines
                .last()
                .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .and_then(|json| json["event"].as_str().map(str::to_owned))
                .unwrap_or_default();
            Stopped {
                port: keeper.port,
                status,
                last_event,
                stderr: stderr.trim().to_owned(),
            }
        })
        .collect()
}

/// The router's rules for internal ports in `ports`.
fn rules_in(lab: &Lab, ports: &std::ops::Range<u16>) -> Vec<u16> {
    lab.redirections()
        .unwrap()
        .iter()
        .filter(|r| ports.contains(&r.internal_port))
        .map(|r| r.internal_port)
        .collect()
}

fn cache_dir(lab: &Lab) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("natctl-cache-{}", lab.lan().netns()))
}

/// One round: `count` keepers through `via` on ports from `first`, all mapped, one SIGINT
/// each at once; then every one must have exited 0 after deleting its mapping, and the
/// router must hold none of them.
fn round(lab: &Lab, via: &str, first: u16, count: u16) {
    let cache = cache_dir(lab);
    let ports = first..first + count;
    let (sender, events) = mpsc::channel();
    let started = Instant::now();
    let keepers: Vec<Keeper> = ports
        .clone()
        .map(|port| keep(lab.lan(), &cache, via, port, &sender))
        .collect();
    wait_mapped(&keepers, &events, Duration::from_secs(30));
    let mapped_in = started.elapsed();
    assert_eq!(
        rules_in(lab, &ports).len(),
        usize::from(count),
        "the router holds every mapping"
    );
    let stopping = Instant::now();
    interrupt_all(&keepers);
    let stopped = wait_all(keepers, Duration::from_secs(30));
    let stopped_in = stopping.elapsed();
    let failed: Vec<String> = stopped
        .iter()
        .filter(|s| !s.status.success() || s.last_event != "deleted")
        .map(|s| format!("{}: {:?} {} {}", s.port, s.status, s.last_event, s.stderr))
        .collect();
    let left = rules_in(lab, &ports);
    eprintln!(
        "{via}: {count} mapped in {mapped_in:?}, stopped in {stopped_in:?}; {} failed, {} rules left",
        failed.len(),
        left.len()
    );
    assert!(failed.is_empty(), "{via}: {failed:#?}");
    assert!(left.is_empty(), "{via}: rules left for ports {left:?}");
}

/// miniupnpd as on a router (no debug log): the load is the requests, not the log.
fn router_config() -> LabConfig {
    LabConfig {
        router_debug_log: false,
        ..LabConfig::default()
    }
}

#[test]
fn a_hundred_keep_processes_per_technique_stopped_together_leave_no_rule() {
    let Some(lab) = Lab::for_test(router_config()) else {
        return;
    };
    // The UPnP keepers find the IGD in the cache, as a second natctl run would.
    let warm = lab
        .lan()
        .command(env!("CARGO_BIN_EXE_natctl"))
        .args(["external-ip", "--via", "upnp"])
        .env("XDG_CACHE_HOME", cache_dir(&lab))
        .output()
        .unwrap();
    assert!(warm.status.success(), "{warm:?}");
    round(&lab, "upnp", 31000, 100);
    round(&lab, "pcp", 32000, 100);
    round(&lab, "pmp", 33000, 100);
}

/// Keepers mapped on a clean link, stopped while it loses 20 % of the frames each way: a
/// deletion whose answer was lost and whose retry hears "no such mapping" is a success.
/// Each stop that left nothing behind exits 0.
#[test]
fn a_stop_under_loss_exits_0_when_the_router_holds_nothing() {
    let config = LabConfig {
        impairable_lan: true,
        ..router_config()
    };
    let Some(lab) = Lab::for_test(config) else {
        return;
    };
    let cache = cache_dir(&lab);
    let tries = 10u16;
    let mut report = Vec::new();
    for (via, first) in [("upnp", 34000u16), ("pcp", 34100), ("pmp", 34200)] {
        lab.impair_lan(0.0, Duration::from_millis(1)).unwrap();
        let ports = first..first + tries;
        let (sender, events) = mpsc::channel();
        let keepers: Vec<Keeper> = ports
            .clone()
            .map(|port| keep(lab.lan(), &cache, via, port, &sender))
            .collect();
        wait_mapped(&keepers, &events, Duration::from_secs(20));
        lab.impair_lan(20.0, Duration::from_millis(1)).unwrap();
        interrupt_all(&keepers);
        let stopped = wait_all(keepers, Duration::from_secs(30));
        lab.impair_lan(0.0, Duration::from_millis(1)).unwrap();
        let left = rules_in(&lab, &ports);
        let wrong: Vec<String> = stopped
            .iter()
            .filter(|s| !left.contains(&s.port) && !s.status.success())
            .map(|s| format!("{}: {:?} {}", s.port, s.status, s.stderr))
            .collect();
        assert!(
            wrong.is_empty(),
            "{via}: the router holds nothing for these, yet they failed: {wrong:#?}"
        );
        // Ten seconds of retries under 20 % loss: every deletion gets through.
        assert!(left.is_empty(), "{via}: rules left for ports {left:?}");
        report.push(format!(
            "{via}: {} of {tries} exited 0",
            stopped.iter().filter(|s| s.status.success()).count()
        ));
    }
    eprintln!("{}", report.join("; "));
}

/// Keepers interrupted while many are still making their mapping: the mapping each one made
/// is deleted before it exits, so the router holds nothing afterwards. A process the signal
/// reached before natctl listened for it dies of it, but it had sent nothing yet.
#[test]
fn keepers_interrupted_while_mapping_leave_no_rule() {
    let Some(lab) = Lab::for_test(router_config()) else {
        return;
    };
    let cache = cache_dir(&lab);
    for (via, first) in [("upnp", 35000u16), ("pcp", 35100)] {
        let ports = first..first + 50;
        let (sender, events) = mpsc::channel();
        let keepers: Vec<Keeper> = ports
            .clone()
            .map(|port| keep(lab.lan(), &cache, via, port, &sender))
            .collect();
        // The first answer: the others are on their way.
        let _ = events.recv_timeout(Duration::from_secs(10));
        interrupt_all(&keepers);
        let stopped = wait_all(keepers, Duration::from_secs(30));
        let left = rules_in(&lab, &ports);
        assert!(left.is_empty(), "{via}: rules left for ports {left:?}");
        let exited = stopped
            .iter()
            .filter(|s| s.status.code() == Some(0))
            .count();
        let killed_after_printing: Vec<u16> = stopped
            .iter()
            .filter(|s| s.status.code().is_none() && !s.last_event.is_empty())
            .map(|s| s.port)
            .collect();
        assert!(
            killed_after_printing.is_empty(),
            "{via}: killed by the signal although listening: {killed_after_printing:?}"
        );
        let killed = stopped.iter().filter(|s| s.status.code().is_none()).count();
        eprintln!("{via}: {exited} of 50 exited 0, {killed} died of the signal before listening");
    }
}

/// A plain `map` (no `--keep`) interrupted while its request crosses a slow link: the
/// router may still make the mapping after the signal, so natctl deletes what it asked for
/// before it exits 0, and the router holds nothing afterwards. Ten times per technique.
///
/// The signal is sent once the router holds the rule, while the answer is on its way back
/// (250 ms each way). On a loaded machine the rule may be seen only after natctl has read
/// the answer and printed the mapping: such a run finished before the signal, its mapping
/// is rightly kept (a finished command is not taken back), and it is deleted with `unmap`
/// and not counted. At least half of each technique's runs must have been interrupted.
#[test]
fn a_plain_map_interrupted_before_its_answer_leaves_no_rule() {
    let config = LabConfig {
        impairable_lan: true,
        ..router_config()
    };
    let Some(lab) = Lab::for_test(config) else {
        return;
    };
    let cache = cache_dir(&lab);
    lab.impair_lan(0.0, Duration::from_millis(250)).unwrap();
    let natctl = |args: &[&str]| {
        lab.lan()
            .command(env!("CARGO_BIN_EXE_natctl"))
            .args(args)
            .env("XDG_CACHE_HOME", &cache)
            .env_remove("NATCTL_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    for (via, first) in [("pcp", 36000u16), ("pmp", 36100), ("upnp", 36200)] {
        let ports = first..first + 10;
        let mut finished_first = Vec::new();
        for port in ports.clone() {
            let mut child = natctl(&["map", "udp", &port.to_string(), "--via", via]);
            // Wait for the router to have the mapping (or 4 s), then interrupt: the answer
            // is still on its way back.
            let _ = poll(Duration::from_secs(4), || {
                rules_in(&lab, &(port..port + 1)).first().copied()
            });
            let status = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            let exited = poll(Duration::from_secs(10), || child.try_wait().unwrap())
                .unwrap_or_else(|| {
                    let _ = child.kill();
                    panic!("{via} {port}: natctl did not exit after the interruption")
                });
            let mut stdout = String::new();
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stdout.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stdout);
            }
            if let Some(mut pipe) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            assert_eq!(exited.code(), Some(0), "{via} {port}: {stderr}");
            if !stdout.trim().is_empty() {
                finished_first.push(port);
            }
        }
        for &port in &finished_first {
            let undo = natctl(&["unmap", "udp", &port.to_string(), "--via", via])
                .wait_with_output()
                .unwrap();
            assert!(undo.status.success(), "{via} {port}: {undo:?}");
        }
        eprintln!(
            "{via}: {} of 10 interrupted before the answer, {} finished first",
            10 - finished_first.len(),
            finished_first.len()
        );
        assert!(
            finished_first.len() <= 5,
            "{via}: only {} of 10 runs were interrupted before the answer",
            10 - finished_first.len()
        );
        let left = poll(Duration::from_secs(2), || {
            let left = rules_in(&lab, &ports);
            left.is_empty().then_some(())
        });
        assert!(
            left.is_some(),
            "{via}: rules left for ports {:?}",
            rules_in(&lab, &ports)
        );
    }
}
