//! `cargo xtask test`: everything CI checks, in the order a failure is cheapest to find.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::shell::{cargo, root, run, say, step};

/// Seconds each fuzz target runs in the smoke run.
const SMOKE_SECONDS: u32 = 10;

/// Runs the whole test suite. `--no-fuzz`, `--no-cross`, `--no-msrv` and `--no-windows`
/// skip the fuzz smoke runs, the other targets' checks, the MSRV check and the Windows
/// tests under Wine (handy locally).
pub(crate) fn run_all(args: &[String]) -> Result<()> {
    let skip = |flag: &str| args.iter().any(|a| a == flag);
    let skip_fuzz = skip("--no-fuzz");
    let root = root();
    std::env::set_current_dir(&root)?;
    crate::packages::ensure()?;

    step("cargo fmt --check");
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;

    step("cargo clippy (warnings denied)");
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;

    feature_subsets()?;
    if skip("--no-cross") {
        say("other targets' checks skipped (--no-cross)");
    } else {
        crate::cross::run_cross(&[])?;
    }
    if skip("--no-msrv") {
        say("MSRV check skipped (--no-msrv)");
    } else {
        crate::msrv::run_msrv()?;
    }

    step("cargo test --workspace (unit, doc and lab tests)");
    // Kept after the run, for `cargo xtask lab-tests --update --log` to read.
    let ran_log = crate::lab_tests::default_log_path();
    let _ = std::fs::remove_file(&ran_log);
    run(cargo()
        .args(["test", "--workspace"])
        .env("NATLAB_RAN_LOG", &ran_log))?;
    let ran = std::fs::read_to_string(&ran_log).unwrap_or_default();

    if skip("--no-windows") {
        say("Windows tests under Wine skipped (--no-windows)");
    } else {
        crate::windows::run_windows(&[])?;
    }

    crate::package::package_workspace()?;

    if skip_fuzz {
        say("fuzz smoke runs skipped (--no-fuzz)");
    } else {
        fuzz(SMOKE_SECONDS)?;
    }

    step("cargo doc (warnings denied)");
    run(cargo()
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;

    if ran.trim().is_empty() && std::env::var_os("CI").is_some() {
        bail!("no lab test ran, and CI is set: the lab must run in CI");
    }
    crate::lab_tests::check_run(&ran)
}

/// Crates alone with fewer features than the workspace build unifies to: each must still
/// compile cleanly and pass its tests (an unused import or a gated item used outside its
/// gate shows only here). Each example program alone with its own feature, too: it must
/// build with no more than its story's crates.
const FEATURE_SUBSETS: [&[&str]; 9] = [
    &["-p", "natkit-ssdp", "--no-default-features"],
    &["-p", "natkit-natpmp-proto"],
    &["-p", "natkit-netinfo"],
    &[
        "-p",
        "natkit-nat-traversal",
        "--no-default-features",
        "--features",
        "pcp",
    ],
    &[
        "-p",
        "natkit-nat-traversal",
        "--no-default-features",
        "--features",
        "upnp",
    ],
    &[
        "-p",
        "natkit-examples",
        "--no-default-features",
        "--features",
        "natpmp",
    ],
    &[
        "-p",
        "natkit-examples",
        "--no-default-features",
        "--features",
        "facade",
    ],
    &[
        "-p",
        "natkit-examples",
        "--no-default-features",
        "--features",
        "ssdp",
    ],
    &[
        "-p",
        "natkit-examples",
        "--no-default-features",
        "--features",
        "upnp",
    ],
];

fn feature_subsets() -> Result<()> {
    step("crates with fewer features (clippy and tests)");
    for subset in FEATURE_SUBSETS {
        run(cargo()
            .arg("clippy")
            .args(subset)
            .args(["--all-targets", "--", "-D", "warnings"]))?;
        run(cargo().arg("test").args(subset))?;
    }
    Ok(())
}

/// Runs every fuzz target for `seconds` each (installing cargo-fuzz if needed).
pub(crate) fn fuzz(seconds: u32) -> Result<()> {
    let fuzz_dir = root().join("fuzz");
    if !fuzz_dir.join("Cargo.toml").exists() {
        say("no fuzz crate yet");
        return Ok(());
    }
    step(&format!("fuzz targets, {seconds} s each"));
    ensure_cargo_fuzz()?;
    let targets = fuzz_targets(&fuzz_dir)?;
    if targets.is_empty() {
        bail!("the fuzz crate has no targets");
    }
    for target in targets {
        say(&format!("fuzzing {target}"));
        run(cargo()
            .current_dir(root())
            .args(["fuzz", "run", "--fuzz-dir", "fuzz", &target, "--"])
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1")
            .env("RUSTC_BOOTSTRAP", "1"))?;
    }
    Ok(())
}

fn ensure_cargo_fuzz() -> Result<()> {
    let present = cargo()
        .args(["fuzz", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !present {
        say("installing cargo-fuzz from crates.io");
        run(cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

fn fuzz_targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root())
        .args(["fuzz", "list", "--fuzz-dir"])
        .arg(fuzz_dir)
        .output()
        .context("cannot list fuzz targets")?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}
