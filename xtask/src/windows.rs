//! `cargo xtask windows`: the workspace built for Windows (`x86_64-pc-windows-gnu`, with
//! MinGW-w64) and run under Wine: every crate's unit and doc tests that do not need the lab,
//! then the Windows lab suite (`windows/lab.rs`), natctl.exe on the LAN host of natlab labs.
//! `cargo xtask test` runs it after the Linux tests. It ends with how many Windows tests
//! ran; with `CI` set, a Windows test that cannot run (Wine or MinGW missing, not root)
//! fails the run instead of being skipped.
//!
//! Wine 8.0 (Debian 12's) lacks `bcryptprimitives.dll`, which Rust's standard library has
//! imported since 1.78: a stand-in built from `xtask/wine/bcryptprimitives.c` goes into the
//! test prefix's `system32`, nowhere else.

mod lab;
mod wine;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::shell::{cargo, is_root, root, say, step};
use wine::Wine;

/// The Windows target: GNU, because its linker (MinGW-w64) is a Debian package; the MSVC
/// target needs Microsoft's linker and libraries.
pub(crate) const TARGET: &str = "x86_64-pc-windows-gnu";

/// Tests left out under Wine, each for a reason of Wine's, not of the code under test
/// (docs/WINDOWS.md says the same).
const WINE_SKIPS: [(&str, &str); 3] = [
    (
        "a_thousand_persistent_mappings_share_one_client_and_never_lapse",
        "a load test: every socket call goes through wineserver, and 1,000 mappings with \
         3-second leases cannot be renewed in time",
    ),
    (
        "five_thousand_answers_from_another_host_never_crowd_out_the_gateway",
        "Wine sends from a socket bound to 127.0.0.2 with the source 127.0.0.1, so the \
         flood seems to come from the gateway",
    ),
    (
        "a_closed_port_is_reported_at_once",
        "Wine reports the ICMP port unreachable at the next send (about 0.75 s later), not \
         at the receive as Windows does; the error itself is the right one",
    ),
];

/// What ran under Wine.
#[derive(Debug, Default)]
struct Counts {
    unit: usize,
    doc: usize,
    lab: usize,
}

/// Runs the Windows tests. `--no-lab` leaves out the lab suite, `--no-unit` the unit and
/// doc tests; `--rounds N` sets how many times each Ctrl-C case of the lab suite runs
/// (default 10).
pub(crate) fn run_windows(args: &[String]) -> Result<()> {
    let no_lab = args.iter().any(|a| a == "--no-lab");
    let no_unit = args.iter().any(|a| a == "--no-unit");
    let rounds = match args.iter().position(|a| a == "--rounds") {
        Some(index) => args
            .get(index + 1)
            .context("--rounds needs a number")?
            .parse()
            .context("--rounds needs a number")?,
        None => lab::DEFAULT_ROUNDS,
    };
    std::env::set_current_dir(root())?;
    let ci = std::env::var_os("CI").is_some();
    let wine = match Wine::find() {
        Ok(wine) => wine,
        Err(missing) if ci => bail!("the Windows tests cannot run and CI is set: no {missing}"),
        Err(missing) => {
            say(&format!(
                "Windows tests skipped: no {missing} (cargo xtask test installs it as root)"
            ));
            return Ok(());
        }
    };
    crate::cross::ensure_targets(&[TARGET])?;
    let dir = crate::cross::side_target_dir("windows");
    step("Wine prefix and the stand-in bcryptprimitives.dll");
    let prefix = wine.prepare(&dir.join("wine"))?;

    let mut counts = Counts::default();
    let mut failures: Vec<String> = Vec::new();
    if no_unit {
        say("unit and doc tests under Wine skipped (--no-unit)");
    } else {
        unit_and_doc_tests(&wine, &prefix, &dir, &mut counts, &mut failures);
    }

    if no_lab {
        say("Windows lab suite skipped (--no-lab)");
    } else if !is_root() || natlab::find_program("miniupnpd").is_none() {
        let reason = "the lab needs root and miniupnpd";
        if ci {
            failures.push(format!(
                "the Windows lab suite cannot run and CI is set: {reason}"
            ));
        } else {
            say(&format!("Windows lab suite skipped: {reason}"));
        }
    } else {
        step("the Windows lab suite: natctl.exe under Wine on a lab's LAN host");
        let exe = build_natctl_exe(&dir)?;
        let linux = crate::shell::build_binary("natkit-natctl", "natctl", false)?;
        let outcome = lab::run_suite(&wine, &prefix, &dir, &exe, &linux, rounds);
        counts.lab = outcome.passed.len() + outcome.failed.len();
        for (name, error) in outcome.failed {
            failures.push(format!("windows lab {name}: {error}"));
        }
    }

    step("Windows tests under Wine");
    say(&format!(
        "{} unit tests, {} doc tests and {} lab tests ran under Wine ({TARGET})",
        counts.unit, counts.doc, counts.lab
    ));
    if !failures.is_empty() {
        bail!("Windows tests failed:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

/// Every crate's unit and doc tests but the Linux-only ones', built for [`TARGET`] and run
/// under Wine with `prefix`.
fn unit_and_doc_tests(
    wine: &Wine,
    prefix: &wine::Prefix,
    dir: &std::path::Path,
    counts: &mut Counts,
    failures: &mut Vec<String>,
) {
    for (test, why) in WINE_SKIPS {
        say(&format!("left out under Wine: {test} ({why})"));
    }
    // Two runs, so that each count is known: libtest's summaries do not say which kind of
    // test they sum up (cargo's headings go to standard error).
    let kinds: [(&str, &[&str]); 2] = [
        ("unit", &["--lib", "--bins", "--tests"]),
        ("doc", &["--doc"]),
    ];
    for (kind, selection) in kinds {
        step(&format!(
            "cargo test --target {TARGET} {}: {kind} tests under Wine",
            selection.join(" ")
        ));
        let mut command = cargo();
        command
            .args(["test", "--workspace", "--target", TARGET, "--no-fail-fast"])
            .args(selection)
            .args(
                crate::cross::LINUX_ONLY_PACKAGES
                    .iter()
                    .flat_map(|package| ["--exclude", package]),
            )
            .env("CARGO_TARGET_DIR", dir)
            .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER", wine.loader());
        // One test at a time: every socket call of every test goes through the one
        // wineserver, and the timing tests (deadlines of a few hundred milliseconds) must
        // not wait behind their neighbours'.
        command.args(["--", "--test-threads=1"]);
        for (test, _) in WINE_SKIPS {
            command.args(["--skip", test]);
        }
        prefix.apply(&mut command);
        match run_counting(&mut command) {
            Ok(ran) => {
                match kind {
                    "unit" => counts.unit = ran.tests,
                    _ => counts.doc = ran.tests,
                }
                failures.extend(ran.failure);
            }
            Err(error) => failures.push(format!("{error:#}")),
        }
    }
    // The unit tests' server runs in this namespace; the labs' prefixes are copies with
    // servers of their own.
    wine.stop_server(prefix);
}

/// natctl.exe, built for [`TARGET`] in `dir`.
fn build_natctl_exe(dir: &std::path::Path) -> Result<PathBuf> {
    crate::shell::run(
        cargo()
            .args([
                "build",
                "-p",
                "natkit-natctl",
                "--bin",
                "natctl",
                "--target",
                TARGET,
            ])
            .env("CARGO_TARGET_DIR", dir),
    )?;
    let exe = dir.join(TARGET).join("debug").join("natctl.exe");
    wine::must_exist(&exe)?;
    Ok(exe)
}

/// What a `cargo test` run reported.
#[derive(Debug, Default)]
struct Ran {
    tests: usize,
    failure: Option<String>,
}

/// Runs `command` (a `cargo test`), its output passed through, and adds up the tests that ran
/// from libtest's summaries ("test result: ok. 12 passed; 0 failed; 1 ignored; ..."): passed
/// and failed count, ignored and filtered do not.
fn run_counting(command: &mut Command) -> Result<Ran> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {command:?}"))?;
    let stdout = child.stdout.take().context("no standard output")?;
    let mut ran = Ran::default();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("cannot read cargo test's output")?;
        say(&line);
        ran.tests += tests_in_summary(&line);
    }
    let status = child.wait()?;
    if !status.success() {
        ran.failure = Some(format!(
            "cargo test --target {TARGET} under Wine failed: {status}"
        ));
    }
    Ok(ran)
}

/// How many tests a libtest summary line says ran (0 for any other line).
fn tests_in_summary(line: &str) -> usize {
    let Some(summary) = line.trim().strip_prefix("test result: ") else {
        return 0;
    };
    let count = |what: &str| {
        summary
            .split(['.', ';'])
            .map(str::trim)
            .find_map(|part| part.strip_suffix(what)?.trim().parse::<usize>().ok())
            .unwrap_or(0)
    };
    count(" passed") + count(" failed")
}

#[cfg(test)]
mod tests {
    use super::tests_in_summary;

    #[test]
    fn summaries_count_passed_and_failed() {
        let summary = "test result: ok. 12 passed; 1 failed; 3 ignored; 0 measured; 2 filtered out; finished in 0.5s";
        assert_eq!(tests_in_summary(summary), 13);
        assert_eq!(
            tests_in_summary("test result: FAILED. 0 passed; 2 failed; 0 ignored"),
            2
        );
        assert_eq!(tests_in_summary("test foo ... ok"), 0);
        assert_eq!(tests_in_summary("   Doc-tests natkit_ssdp"), 0);
    }
}
