//! The Windows lab suite: natctl.exe under Wine on the LAN host of natlab labs, each result
//! checked as the Linux lab tests check natctl's: every mapping proven by traffic from the
//! WAN host, the router's rules read back, `--json` output compared in shape with the Linux
//! natctl's in the same lab, a router without NAT-PMP reported as on Linux, and `map --keep`
//! interrupted by Ctrl-C before the first answer, during the keep and during the final
//! delete (Wine turns SIGINT to a console program into `CTRL_C_EVENT`).
//!
//! Driven from xtask rather than a Cargo test target: it needs natctl.exe, Wine and a prefix
//! per lab, which a plain `cargo test --workspace` has none of, and a test there would have
//! to skip. Each case is counted; a failing case fails `cargo xtask windows`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use natlab::wait::{Lines, poll};
use natlab::{Lab, LabConfig};
use serde_json::Value;

use super::wine::{LabPrefix, Prefix, Wine};
use crate::shell::say;

/// How many times each Ctrl-C case runs.
pub(crate) const DEFAULT_ROUNDS: usize = 10;

/// How long one natctl run may take before the case fails (Wine starts in well under a
/// second; the exchanges are local).
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// The one-way delay on the LAN link during the Ctrl-C cases: long enough that an
/// interruption sent when the request leaves lands before the answer.
const LAN_DELAY: Duration = Duration::from_millis(300);

/// The cases that passed and those that failed, with why.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) passed: Vec<String>,
    pub(crate) failed: Vec<(String, String)>,
}

impl Outcome {
    /// Runs one case, catching a panic (natlab's waits panic on their deadline) as a failure.
    fn case(&mut self, name: &str, body: impl FnOnce() -> Result<()>) {
        let started = Instant::now();
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "panicked".to_owned());
                Err(anyhow::anyhow!(message))
            });
        let took = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                say(&format!("windows lab {name} ... ok ({took:.1} s)"));
                self.passed.push(name.to_owned());
            }
            Err(error) => {
                say(&format!(
                    "windows lab {name} ... FAILED ({took:.1} s): {error:#}"
                ));
                self.failed.push((name.to_owned(), format!("{error:#}")));
            }
        }
    }
}

/// One lab with natctl.exe ready on its first LAN host.
struct Bench<'a> {
    lab: Lab,
    prefix: LabPrefix<'a>,
    exe: &'a Path,
    linux: &'a Path,
}

impl Bench<'_> {
    /// natctl.exe's command on the LAN host.
    fn windows_command(&self, args: &[&str]) -> Command {
        let mut command = self.prefix.command(self.lab.lan(), self.exe);
        command.args(args).env_remove("NATCTL_LOG");
        command
    }

    /// Runs natctl.exe to its end.
    fn windows(&self, args: &[&str]) -> Result<Output> {
        finish(self.windows_command(args), args)
    }

    /// Runs the Linux natctl to its end, on the same host.
    fn linux(&self, args: &[&str]) -> Result<Output> {
        let mut command = self.lab.lan().command(&self.linux.to_string_lossy());
        command
            .args(args)
            .env_remove("NATCTL_LOG")
            .env("XDG_CACHE_HOME", self.lab.dir().join("linux-cache"));
        finish(command, args)
    }

    /// natctl.exe's standard output, failing unless it exits 0.
    fn windows_ok(&self, args: &[&str]) -> Result<String> {
        let output = self.windows(args)?;
        ensure!(
            output.status.success(),
            "natctl.exe {args:?}: {}: {}",
            output.status,
            text(&output.stderr)
        );
        Ok(text(&output.stdout))
    }
}

/// Runs `command` with a deadline, its output collected.
fn finish(mut command: Command, args: &[&str]) -> Result<Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start natctl {args:?}"))?;
    let stdout = reader(&mut child, true);
    let stderr = reader(&mut child, false);
    let status = wait(&mut child, COMMAND_LIMIT)?;
    // A Wine helper process that inherited a pipe would keep it open past the exit: the
    // output read until then is all natctl.exe wrote.
    let rest = |pipe: mpsc::Receiver<Vec<u8>>| pipe.recv_timeout(PIPE_GRACE).unwrap_or_default();
    Ok(Output {
        status,
        stdout: rest(stdout),
        stderr: rest(stderr),
    })
}

/// How long a pipe may stay open after its process exited.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// Reads one of `child`'s pipes to its end on a thread, whose result comes on the channel.
fn reader(child: &mut Child, stdout: bool) -> mpsc::Receiver<Vec<u8>> {
    let pipe: Option<Box<dyn Read + Send>> = if stdout {
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>)
    } else {
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>)
    };
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = sender.send(bytes);
    });
    receiver
}

/// Waits for `child` to exit; kills it and fails after `limit`.
fn wait(child: &mut Child, limit: Duration) -> Result<ExitStatus> {
    match poll(limit, || child.try_wait().ok().flatten()) {
        Some(status) => Ok(status),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("still running after {limit:?}: killed")
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

/// Starts a lab and natctl.exe's prefix in it.
fn bench<'a>(
    wine: &'a Wine,
    template: &Prefix,
    dir: &Path,
    name: &str,
    config: LabConfig,
    exe: &'a Path,
    linux: &'a Path,
) -> Result<Bench<'a>> {
    let lab = Lab::start(config).context("the lab did not start")?;
    let prefix = wine.lab_prefix(template, &dir.join(format!("prefix-{name}")), lab.lan())?;
    Ok(Bench {
        lab,
        prefix,
        exe,
        linux,
    })
}

/// Runs every case; labs that do not start count as failed cases.
pub(crate) fn run_suite(
    wine: &Wine,
    template: &Prefix,
    dir: &Path,
    exe: &Path,
    linux: &Path,
    rounds: usize,
) -> Outcome {
    let mut outcome = Outcome::default();
    let dir: PathBuf = dir.join("labs");
    let _ = std::fs::create_dir_all(&dir);

    match bench(
        wine,
        template,
        &dir,
        "full",
        LabConfig::default(),
        exe,
        linux,
    ) {
        Ok(bench) => commands(&mut outcome, &bench),
        Err(error) => outcome
            .failed
            .push(("lab (full)".into(), format!("{error:#}"))),
    }
    let no_natpmp = LabConfig {
        natpmp: false,
        ..LabConfig::default()
    };
    match bench(wine, template, &dir, "nopmp", no_natpmp, exe, linux) {
        Ok(bench) => refusal(&mut outcome, &bench),
        Err(error) => outcome
            .failed
            .push(("lab (no NAT-PMP)".into(), format!("{error:#}"))),
    }
    let impairable = LabConfig {
        impairable_lan: true,
        ..LabConfig::default()
    };
    match bench(wine, template, &dir, "slow", impairable, exe, linux) {
        Ok(bench) => interruptions(&mut outcome, &bench, rounds),
        Err(error) => outcome
            .failed
            .push(("lab (slow link)".into(), format!("{error:#}"))),
    }
    outcome
}

/// Every IPv4 command in a router speaking everything.
fn commands(outcome: &mut Outcome, bench: &Bench<'_>) {
    let lab = &bench.lab;
    for command in ["gateway", "local-ip", "external-ip"] {
        outcome.case(&format!("{command} as on Linux"), || {
            let windows = bench.windows_ok(&[command])?;
            let linux = text(&bench.linux(&[command])?.stdout);
            ensure!(
                windows == linux,
                "natctl.exe says {windows:?}, natctl {linux:?}"
            );
            ensure!(!windows.is_empty(), "nothing printed");
            Ok(())
        });
    }
    outcome.case("external-ip is the router's", || {
        let windows = bench.windows_ok(&["external-ip"])?;
        ensure!(windows == lab.external_address().to_string(), "{windows}");
        Ok(())
    });
    outcome.case("interfaces shows the LAN address", || {
        let windows = bench.windows_ok(&["interfaces"])?;
        let address = format!("{}/24", lab.lan().address());
        ensure!(windows.contains(&address), "no {address} in:\n{windows}");
        Ok(())
    });
    outcome.case("probe finds every technique", || {
        let windows = bench.windows_ok(&["probe"])?;
        for technique in ["nat-pmp", "pcp", "upnp"] {
            ensure!(
                windows
                    .lines()
                    .any(|l| l.starts_with(technique) && l.contains(" yes ")),
                "{technique} not available:\n{windows}"
            );
        }
        Ok(())
    });
    let vias = ["pmp", "pcp", "upnp", "auto"];
    for (index, via) in vias.iter().enumerate() {
        for (offset, protocol) in ["tcp", "udp"].iter().enumerate() {
            let port = 4100 + (index * 2 + offset) as u16;
            outcome.case(
                &format!("map {protocol} --via {via}, proven from the WAN"),
                || map_proven(bench, protocol, port, via),
            );
        }
    }
    outcome.case("list shows a mapping", || {
        bench.windows_ok(&["map", "tcp", "4200", "--via", "upnp"])?;
        let listed = bench.windows_ok(&["list"]);
        let unmapped = bench.windows_ok(&["unmap", "tcp", "4200"]);
        let listed = listed?;
        unmapped?;
        ensure!(listed.contains(":4200"), "no port 4200 in:\n{listed}");
        Ok(())
    });
    outcome.case("discover finds the router", || {
        let found = bench.windows_ok(&["discover", "--scan-time", "2"])?;
        ensure!(found.contains("192.168.77.1"), "{found}");
        Ok(())
    });
    outcome.case("upnp services", || {
        let services = bench.windows_ok(&["upnp", "services"])?;
        ensure!(services.contains("WANIPConnection"), "{services}");
        Ok(())
    });
    let same_shape: [&[&str]; 9] = [
        &["gateway"],
        &["local-ip"],
        &["interfaces"],
        &["probe"],
        &["external-ip"],
        &["list"],
        &["discover", "--scan-time", "2"],
        &["upnp", "services"],
        &["unmap", "udp", "4300"],
    ];
    for args in same_shape {
        outcome.case(&format!("--json {} as on Linux", args.join(" ")), || {
            json_alike(bench, args, args)
        });
    }
    outcome.case("--json map as on Linux", || {
        let result = json_alike(
            bench,
            &["map", "tcp", "4301", "--via", "pcp"],
            &["map", "tcp", "4302", "--via", "pcp"],
        );
        let _ = bench.windows(&["unmap", "tcp", "4301"]);
        let _ = bench.linux(&["unmap", "tcp", "4302"]);
        result
    });
}

/// `map` then `unmap` with one technique: the mapping carries the WAN host's traffic to
/// the LAN host, and the router's rule is gone after.
fn map_proven(bench: &Bench<'_>, protocol: &str, port: u16, via: &str) -> Result<()> {
    let lab = &bench.lab;
    let port_text = port.to_string();
    let mapped = bench.windows_ok(&["map", protocol, &port_text, "--via", via])?;
    let external = lab.external_socket(port);
    ensure!(mapped.contains(&external.to_string()), "{mapped}");
    let reached = if protocol == "tcp" {
        lab.tcp_reaches(lab.lan(), port, external)
    } else {
        lab.udp_reaches(lab.lan(), port, external)
    }
    .context("the forwarding check did not run")?;
    let unmapped = bench.windows_ok(&["unmap", protocol, &port_text, "--via", via]);
    ensure!(
        reached,
        "traffic from the WAN host to {external} did not arrive"
    );
    unmapped?;
    let left: Vec<_> = lab
        .redirections()?
        .into_iter()
        .filter(|r| r.internal_port == port)
        .collect();
    ensure!(left.is_empty(), "still at the router after unmap: {left:?}");
    Ok(())
}

/// natctl.exe's and natctl's `--json` output: the same status, and the same keys with the
/// same kinds of values, line by line.
fn json_alike(bench: &Bench<'_>, windows_args: &[&str], linux_args: &[&str]) -> Result<()> {
    let windows = bench.windows(&with_json(windows_args))?;
    let linux = bench.linux(&with_json(linux_args))?;
    ensure!(
        windows.status.code() == linux.status.code(),
        "natctl.exe {}, natctl {}",
        windows.status,
        linux.status
    );
    // One document (pretty-printed over several lines) or JSON Lines: a stream either way.
    let shapes = |output: &Output| -> Result<Vec<Value>> {
        let stdout = text(&output.stdout);
        serde_json::Deserializer::from_str(&stdout)
            .into_iter::<Value>()
            .map(|value| {
                Ok(shape(
                    &value.with_context(|| format!("not JSON: {stdout}"))?,
                ))
            })
            .collect()
    };
    let (windows, linux) = (shapes(&windows)?, shapes(&linux)?);
    ensure!(!linux.is_empty(), "natctl printed nothing");
    ensure!(
        windows == linux,
        "shapes differ:\nnatctl.exe {}\nnatctl     {}",
        Value::from(windows),
        Value::from(linux)
    );
    Ok(())
}

/// `args` after `--json`.
fn with_json<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    all
}

/// A JSON value's shape: objects keep their keys, arrays the distinct shapes of their
/// elements, scalars become their kind.
fn shape(value: &Value) -> Value {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(items) => {
            let mut shapes: Vec<Value> = items.iter().map(shape).collect();
            shapes.sort_by_key(Value::to_string);
            shapes.dedup();
            Value::Array(shapes)
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
    }
}

/// A router without NAT-PMP and PCP: port 5351 answers with ICMP port unreachable, which a
/// Windows socket reports as a reset.
fn refusal(outcome: &mut Outcome, bench: &Bench<'_>) {
    for args in [
        &["external-ip", "--via", "pmp"][..],
        &["map", "udp", "4400", "--via", "pcp"],
    ] {
        outcome.case(&format!("{} refused as on Linux", args.join(" ")), || {
            let started = Instant::now();
            let windows = bench.windows(args)?;
            let took = started.elapsed();
            let linux = bench.linux(args)?;
            let message = text(&windows.stderr);
            ensure!(
                message.contains("does not speak NAT-PMP or PCP"),
                "{}: {message}",
                windows.status
            );
            ensure!(
                message == text(&linux.stderr),
                "natctl says {}",
                text(&linux.stderr)
            );
            ensure!(
                windows.status.code() == linux.status.code(),
                "{}",
                windows.status
            );
            // Told by the ICMP message, not by a timeout.
            ensure!(took < Duration::from_secs(5), "took {took:?}");
            Ok(())
        });
    }
}

/// When the interruption comes in `map --keep`.
#[derive(Debug, Clone, Copy)]
enum When {
    BeforeTheFirstAnswer,
    DuringTheKeep,
    DuringTheFinalDelete,
}

/// `map --keep` interrupted by Ctrl-C at each point, `rounds` times each, over a slow link.
fn interruptions(outcome: &mut Outcome, bench: &Bench<'_>, rounds: usize) {
    if let Err(error) = bench.lab.impair_lan(0.0, LAN_DELAY) {
        outcome
            .failed
            .push(("slow link".into(), format!("{error:#}")));
        return;
    }
    let whens = [
        When::BeforeTheFirstAnswer,
        When::DuringTheKeep,
        When::DuringTheFinalDelete,
    ];
    for (index, when) in whens.into_iter().enumerate() {
        outcome.case(
            &format!("map --keep, Ctrl-C {when:?}, {rounds} rounds"),
            || {
                for round in 0..rounds {
                    let port = 4500 + (index * 100 + round) as u16;
                    interrupted_keep(bench, port, when)
                        .with_context(|| format!("round {}", round + 1))?;
                }
                Ok(())
            },
        );
    }
    outcome.case(
        &format!("map without --keep, Ctrl-C before the answer, {rounds} rounds"),
        || {
            for round in 0..rounds {
                interrupted_map(bench, 4900 + round as u16)
                    .with_context(|| format!("round {}", round + 1))?;
            }
            Ok(())
        },
    );
}

/// A plain `map` interrupted while its request is on the way: the gateway makes the
/// mapping, so natctl must delete it; it exits 0 and no rule is left.
fn interrupted_map(bench: &Bench<'_>, port: u16) -> Result<()> {
    let port_text = port.to_string();
    let mut child = bench
        .windows_command(&["map", "udp", &port_text, "--via", "pmp"])
        .env("NATCTL_LOG", "natpmp_proto=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start natctl.exe")?;
    let stdout = Lines::new(child.stdout.take().context("no stdout")?);
    let mut stderr = Lines::new(child.stderr.take().context("no stderr")?);
    let mapping = format!("mapping of port {port}");
    let result = (|| {
        let (sent, _) = stderr
            .find_within(COMMAND_LIMIT, |l| {
                l.contains("sending") && l.contains(&mapping)
            })
            .context("the request was not sent")?;
        interrupt(&child)?;
        let late = sent.elapsed();
        ensure!(
            late < LAN_DELAY,
            "interrupted {late:?} after the request left"
        );
        wait(&mut child, COMMAND_LIMIT)
    })();
    if result.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let status = result?;
    let err = stderr.rest_within(PIPE_GRACE);
    let out = stdout.rest_within(PIPE_GRACE);
    ensure!(
        status.success(),
        "{status}; output:\n{}\nlog:\n{}",
        out.join("\n"),
        err.join("\n")
    );
    ensure!(
        err.iter()
            .any(|l| l.contains("sending") && l.contains("deletion")),
        "no deletion sent:\n{}",
        err.join("\n")
    );
    let left: Vec<_> = bench
        .lab
        .redirections()?
        .into_iter()
        .filter(|r| r.internal_port == port)
        .collect();
    ensure!(left.is_empty(), "left at the router: {left:?}");
    Ok(())
}

/// One `map --keep` interrupted `when`: exit 0, `deleted` last, no rule left.
fn interrupted_keep(bench: &Bench<'_>, port: u16, when: When) -> Result<()> {
    let port_text = port.to_string();
    let mut child = bench
        .windows_command(&["--json", "map", "udp", &port_text, "--keep", "--via", "pmp"])
        .args(["--lifetime", "600"])
        .env("NATCTL_LOG", "natpmp_proto=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start natctl.exe")?;
    let mut stdout = Lines::new(child.stdout.take().context("no stdout")?);
    let mut stderr = Lines::new(child.stderr.take().context("no stderr")?);
    let mapping = format!("mapping of port {port}");
    let deletion = format!("deletion of the UDP mapping of port {port}");
    let result = (|| {
        match when {
            When::BeforeTheFirstAnswer => {
                let (sent, _) = stderr
                    .find_within(COMMAND_LIMIT, |l| {
                        l.contains("sending") && l.contains(&mapping)
                    })
                    .context("the first request was not sent")?;
                interrupt(&child)?;
                // The answer needs twice the link's delay to come back.
                let late = sent.elapsed();
                ensure!(
                    late < LAN_DELAY,
                    "interrupted {late:?} after the request left"
                );
            }
            When::DuringTheKeep => {
                stdout.expect_within("mapped", COMMAND_LIMIT, |l| {
                    l.contains(r#""event":"mapped""#)
                });
                interrupt(&child)?;
            }
            When::DuringTheFinalDelete => {
                stdout.expect_within("mapped", COMMAND_LIMIT, |l| {
                    l.contains(r#""event":"mapped""#)
                });
                interrupt(&child)?;
                stderr.expect_within("the deletion", COMMAND_LIMIT, |l| {
                    l.contains("sending") && l.contains(&deletion)
                });
                interrupt(&child)?;
            }
        }
        wait(&mut child, COMMAND_LIMIT)
    })();
    if result.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let status = result?;
    let out = stdout.rest_within(Duration::from_secs(5));
    let err = stderr.rest_within(Duration::from_secs(5));
    let last = out.last().cloned().unwrap_or_default();
    ensure!(
        status.success(),
        "{status}; output:\n{}\nlog:\n{}",
        out.join("\n"),
        err.join("\n")
    );
    ensure!(last.contains(r#""event":"deleted""#), "last line: {last}");
    let left: Vec<_> = bench
        .lab
        .redirections()?
        .into_iter()
        .filter(|r| r.internal_port == port)
        .collect();
    ensure!(left.is_empty(), "left at the router: {left:?}");
    Ok(())
}

/// Ctrl-C as a Windows console program under Wine gets it: SIGINT to the process.
fn interrupt(child: &Child) -> Result<()> {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .context("cannot run kill")?;
    ensure!(status.success(), "kill -INT failed: {status}");
    Ok(())
}
