//! The lab tests that must run: the checked-in list `xtask/lab-tests.txt`, its comparison
//! with a run's log (`NATLAB_RAN_LOG`), and `cargo xtask lab-tests [--update] [--log FILE]`.
//!
//! A lab test that cannot run (no root, a missing program) passes vacuously, so a test run
//! that skipped half the lab looks green. The list names every lab test by its test binary
//! (`package/target`) and name; `cargo xtask test` fails when one of them did not run (under
//! CI, and locally wherever the lab can run) and when one ran that is not listed, so the list
//! stays true. The log holds test names only (the name of the thread the test ran on), so the
//! binary of a newly seen name is found by listing each test binary's tests
//! (`--list --format terse`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::shell::{Usage, cargo, is_root, root, run, say, step};

/// The list, relative to the workspace root.
pub(crate) const LIST_PATH: &str = "xtask/lab-tests.txt";

/// What every lab needs (natlab's own prerequisites); tests naming more programs are
/// covered by `packages::ensure`, which installs them.
const LAB_TOOLS: [&str; 5] = ["ip", "nft", "miniupnpd", "unshare", "mount"];

const LIST_HEADER: &str = "\
# The lab tests `cargo xtask test` expects to run: one `PACKAGE/TEST-TARGET TEST-NAME` a line.
# `cargo xtask test` fails when a listed test did not run (under CI, and locally when the lab
# can run: Linux, root, iproute2, nftables, miniupnpd) or when an unlisted lab test ran.
# After adding, renaming or removing a lab test, regenerate it (runs every test, 5-10 minutes):
#   cargo xtask lab-tests --update
# or from the log an earlier `cargo xtask test` left in target/natlab-ran.log:
#   cargo xtask lab-tests --update --log target/natlab-ran.log
";

/// One expected lab test.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct LabTest {
    /// `package/target`, e.g. `natkit-natctl/lab`.
    pub(crate) binary: String,
    /// The test's name as libtest names it (and its thread), e.g. `natctl_maps_via_pmp`.
    pub(crate) name: String,
}

/// The comparison of a run with the list.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Report {
    /// Per binary: (expected, ran).
    pub(crate) counts: BTreeMap<String, (usize, usize)>,
    /// Listed tests that did not run.
    pub(crate) missing: Vec<LabTest>,
    /// Names that ran but are not listed.
    pub(crate) unexpected: Vec<String>,
}

impl Report {
    /// Whether the run matched the list exactly.
    pub(crate) fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }

    fn print(&self) {
        for (binary, (expected, ran)) in &self.counts {
            say(&format!("  {binary}: {ran} of {expected} ran"));
        }
        let ran: usize = self.counts.values().map(|(_, ran)| ran).sum();
        let expected: usize = self.counts.values().map(|(expected, _)| expected).sum();
        say(&format!(
            "lab tests ran: {ran} of {expected} listed in {LIST_PATH}"
        ));
        for test in &self.missing {
            say(&format!("  did not run: {} {}", test.binary, test.name));
        }
        for name in &self.unexpected {
            say(&format!("  ran but not listed: {name}"));
        }
    }
}

/// Reads the list (`# comments` and blank lines ignored).
pub(crate) fn parse_list(text: &str) -> Result<Vec<LabTest>> {
    let mut tests = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((binary, name)) = line.split_once(char::is_whitespace) else {
            bail!(
                "{LIST_PATH} line {}: {line:?} is not `PACKAGE/TARGET TEST-NAME`",
                index + 1
            );
        };
        tests.push(LabTest {
            binary: binary.to_owned(),
            name: name.trim().to_owned(),
        });
    }
    Ok(tests)
}

/// The distinct test names in a ran log (a test that built two labs is logged twice).
pub(crate) fn ran_names(log: &str) -> BTreeSet<String> {
    log.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Compares a run with the list. A name listed under two binaries counts as run for both
/// (the log cannot tell them apart).
pub(crate) fn compare(expected: &[LabTest], ran: &BTreeSet<String>) -> Report {
    let mut report = Report::default();
    for test in expected {
        let count = report.counts.entry(test.binary.clone()).or_default();
        count.0 += 1;
        if ran.contains(&test.name) {
            count.1 += 1;
        } else {
            report.missing.push(test.clone());
        }
    }
    let listed: BTreeSet<&str> = expected.iter().map(|t| t.name.as_str()).collect();
    report.unexpected = ran
        .iter()
        .filter(|name| !listed.contains(name.as_str()))
        .cloned()
        .collect();
    report
}

/// Whether lab tests can run on this machine, so that a skipped one is a failure here too.
pub(crate) fn lab_can_run() -> bool {
    cfg!(target_os = "linux")
        && is_root()
        && LAB_TOOLS
            .iter()
            .all(|tool| natlab::find_program(tool).is_some())
}

/// Where `cargo xtask test` leaves its run's log for `lab-tests --update`.
pub(crate) fn default_log_path() -> PathBuf {
    crate::package::target_dir(&root()).join("natlab-ran.log")
}

/// The end of `cargo xtask test`: the run's log against the list; fails on a difference
/// under CI or where the lab can run.
pub(crate) fn check_run(log: &str) -> Result<()> {
    step("lab tests");
    let expected = read_list()?;
    let report = compare(&expected, &ran_names(log));
    report.print();
    let strict = std::env::var_os("CI").is_some() || lab_can_run();
    if report.is_complete() {
        return Ok(());
    }
    if !strict {
        say("the lab cannot run here (needs Linux, root, ip, nft, miniupnpd): not a failure");
        return Ok(());
    }
    bail!(
        "the lab tests that ran differ from {LIST_PATH}: {} did not run, {} ran unlisted \
         (after adding or renaming lab tests: cargo xtask lab-tests --update)",
        report.missing.len(),
        report.unexpected.len()
    )
}

/// `cargo xtask lab-tests [--update] [--log FILE]`.
pub(crate) fn run_lab_tests(args: &[String]) -> Result<()> {
    let mut update = false;
    let mut log_path = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--update" => update = true,
            "--log" => {
                let path = args
                    .next()
                    .ok_or_else(|| Usage("--log needs a file".to_owned()))?;
                log_path = Some(PathBuf::from(path));
            }
            other => {
                return Err(Usage(format!(
                    "unknown lab-tests argument {other:?}\n\n\
                     cargo xtask lab-tests [--update] [--log FILE]"
                ))
                .into());
            }
        }
    }
    std::env::set_current_dir(root())?;
    let log_path = match log_path {
        Some(path) => path,
        None if update => {
            if !lab_can_run() {
                bail!("the lab cannot run here (needs Linux, root, ip, nft, miniupnpd)");
            }
            let path = default_log_path();
            step("cargo test --workspace, logging the lab tests that run");
            let _ = std::fs::remove_file(&path);
            run(cargo()
                .args(["test", "--workspace"])
                .env("NATLAB_RAN_LOG", &path))?;
            path
        }
        None => default_log_path(),
    };
    let log = std::fs::read_to_string(&log_path).with_context(|| {
        format!(
            "cannot read the ran log {} (cargo xtask test leaves one)",
            log_path.display()
        )
    })?;
    if !update {
        let report = compare(&read_list()?, &ran_names(&log));
        report.print();
        if !report.is_complete() {
            bail!("the run in {} differs from {LIST_PATH}", log_path.display());
        }
        return Ok(());
    }
    let ran = ran_names(&log);
    if ran.is_empty() {
        bail!("no lab test ran in {}", log_path.display());
    }
    let tests = attribute(&ran)?;
    let mut text = LIST_HEADER.to_owned();
    for test in &tests {
        text.push_str(&format!("{} {}\n", test.binary, test.name));
    }
    std::fs::write(root().join(LIST_PATH), text)
        .with_context(|| format!("cannot write {LIST_PATH}"))?;
    let report = compare(&tests, &ran);
    report.print();
    say(&format!("wrote {LIST_PATH}"));
    Ok(())
}

fn read_list() -> Result<Vec<LabTest>> {
    let path = root().join(LIST_PATH);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    parse_list(&text)
}

/// Finds each ran name's test binary by listing every test binary's tests.
fn attribute(ran: &BTreeSet<String>) -> Result<Vec<LabTest>> {
    step("listing each test binary's tests");
    let mut binaries: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (binary, executable, directory) in test_executables()? {
        let output = Command::new(&executable)
            .args(["--list", "--format", "terse"])
            .current_dir(&directory)
            .output()
            .with_context(|| format!("cannot run {}", executable.display()))?;
        if !output.status.success() {
            bail!("{} --list failed: {}", executable.display(), output.status);
        }
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if let Some(name) = line.strip_suffix(": test") {
                binaries
                    .entry(name.to_owned())
                    .or_default()
                    .push(binary.clone());
            }
        }
    }
    let mut tests = Vec::new();
    for name in ran {
        let Some(found) = binaries.get(name) else {
            bail!("the lab test {name:?} ran, but no test binary lists it (a stale log?)");
        };
        for binary in found {
            tests.push(LabTest {
                binary: binary.clone(),
                name: name.clone(),
            });
        }
    }
    tests.sort();
    tests.dedup();
    Ok(tests)
}

/// Every test executable of the workspace: (`package/target`, path, package directory).
fn test_executables() -> Result<Vec<(String, PathBuf, PathBuf)>> {
    let mut command = cargo();
    command
        .current_dir(root())
        .args([
            "test",
            "--workspace",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(std::process::Stdio::inherit());
    let output = command
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!("building the tests failed: {}", output.status);
    }
    let mut executables = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let (Some(executable), Some(target), Some(manifest)) = (
            message["executable"].as_str(),
            message["target"]["name"].as_str(),
            message["manifest_path"].as_str(),
        ) else {
            continue;
        };
        let directory = Path::new(manifest)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(root);
        let package = package_name(manifest)?;
        executables.push((
            format!("{package}/{target}"),
            PathBuf::from(executable),
            directory,
        ));
    }
    Ok(executables)
}

/// The package name in a member's manifest.
fn package_name(manifest: &str) -> Result<String> {
    let text =
        std::fs::read_to_string(manifest).with_context(|| format!("cannot read {manifest}"))?;
    text.lines()
        .skip_while(|l| l.trim() != "[package]")
        .find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "name").then(|| value.trim().trim_matches('"').to_owned())
        })
        .with_context(|| format!("{manifest} has no package name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(binary: &str, name: &str) -> LabTest {
        LabTest {
            binary: binary.to_owned(),
            name: name.to_owned(),
        }
    }

    #[test]
    fn the_list_reads_binaries_and_names_and_skips_comments() {
        let list = "# header\n\nnatkit-natctl/lab natctl_maps\n  natkit-ssdp/lab  finds_the_igd \n";
        assert_eq!(
            parse_list(list).unwrap(),
            [
                test("natkit-natctl/lab", "natctl_maps"),
                test("natkit-ssdp/lab", "finds_the_igd")
            ]
        );
        assert!(parse_list("just-one-word\n").is_err());
    }

    #[test]
    fn a_complete_run_matches_and_counts_per_binary() {
        let expected = [
            test("a/lab", "one"),
            test("a/lab", "two"),
            test("b/lab6", "three"),
        ];
        let report = compare(&expected, &ran_names("two\none\nthree\none\n"));
        assert!(report.is_complete(), "{report:?}");
        assert_eq!(report.counts["a/lab"], (2, 2));
        assert_eq!(report.counts["b/lab6"], (1, 1));
    }

    #[test]
    fn missing_and_unlisted_tests_are_named() {
        let expected = [test("a/lab", "one"), test("b/lab6", "three")];
        let report = compare(&expected, &ran_names("one\nfour\n"));
        assert!(!report.is_complete());
        assert_eq!(report.missing, [test("b/lab6", "three")]);
        assert_eq!(report.unexpected, ["four"]);
        assert_eq!(report.counts["b/lab6"], (1, 0));
    }

    #[test]
    fn the_checked_in_list_parses_and_names_no_test_twice_in_a_binary() {
        let tests = read_list().unwrap();
        assert!(!tests.is_empty());
        let distinct: BTreeSet<&LabTest> = tests.iter().collect();
        assert_eq!(distinct.len(), tests.len());
    }
}
