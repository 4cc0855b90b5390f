//! `cargo xtask cross`: clippy with warnings denied for the other desktop systems and for
//! Android, so code that compiles only on Linux is caught here rather than by a user on a
//! Mac or a phone.
//!
//! Clippy only checks, so no linker or system library of the target is needed: the
//! target's standard library (`rustup target add`) is enough. The Linux-only packages
//! (the network-namespace lab and this tool) are left out. The checks share one target
//! directory of their own, so the host build is not invalidated and build scripts and
//! proc-macros are built once for all targets.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::shell::{cargo, root, run, say, step};

/// The targets checked: Windows, macOS on Intel and Apple silicon, FreeBSD, and Android on
/// ARM and Intel (netinfo's netlink path without the `/proc` fallback Linux has).
pub(crate) const TARGETS: [&str; 6] = [
    "x86_64-pc-windows-msvc",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-unknown-freebsd",
    "aarch64-linux-android",
    "x86_64-linux-android",
];

/// Packages that build only on Linux, left out of the cross checks (by package name).
pub(crate) const LINUX_ONLY_PACKAGES: [&str; 2] = ["natlab", "xtask"];

/// Checks every target in [`TARGETS`], or those given as arguments; reports every
/// failing target, not only the first.
pub(crate) fn run_cross(args: &[String]) -> Result<()> {
    let targets: Vec<&str> = if args.is_empty() {
        TARGETS.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    std::env::set_current_dir(root())?;
    ensure_targets(&targets)?;
    let target_dir = side_target_dir("cross");
    let mut failed = Vec::new();
    for target in &targets {
        step(&format!("cargo clippy --target {target} (warnings denied)"));
        let mut command = cargo();
        // --keep-going: one broken package must not hide the others' errors.
        command.args(["clippy", "--keep-going", "--target", target, "--workspace"]);
        for package in LINUX_ONLY_PACKAGES {
            command.args(["--exclude", package]);
        }
        command
            .args(["--all-targets", "--", "-D", "warnings"])
            .env("CARGO_TARGET_DIR", &target_dir);
        if let Err(error) = run(&mut command) {
            say(&format!("{target}: {error:#}"));
            failed.push(*target);
        }
    }
    if !failed.is_empty() {
        bail!("clippy failed for {}", failed.join(", "));
    }
    Ok(())
}

/// Installs the standard library of each missing target.
pub(crate) fn ensure_targets(targets: &[&str]) -> Result<()> {
    let output = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("cannot run rustup: cross checks need it to add the targets' standard library")?;
    let installed = String::from_utf8_lossy(&output.stdout);
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|target| !installed.lines().any(|line| line.trim() == *target))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    step(&format!("rustup target add {}", missing.join(" ")));
    run(Command::new("rustup")
        .args(["target", "add"])
        .args(&missing))
}

/// A target directory beside the usual one (`$CARGO_TARGET_DIR/<name>`, or
/// `target/<name>`), for builds that would otherwise invalidate the host's.
pub(crate) fn side_target_dir(name: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join(name)
}
