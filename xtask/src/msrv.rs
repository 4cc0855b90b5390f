//! `cargo xtask msrv`: clippy with warnings denied on the declared minimum Rust version
//! (`rust-version` in the workspace's `Cargo.toml`), so neither the code, nor a lint
//! attribute, nor `Cargo.lock` needs a newer compiler than the one promised.

use std::process::Command;

use anyhow::{Context, Result};

use crate::cross::side_target_dir;
use crate::shell::{root, run, step};

/// The workspace's `rust-version`, as a rustup toolchain name.
pub(crate) const MSRV: &str = "1.85.0";

/// Installs the toolchain when missing, then runs clippy on the whole workspace with it.
pub(crate) fn run_msrv() -> Result<()> {
    std::env::set_current_dir(root())?;
    let output = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .context("cannot run rustup, which the MSRV check needs")?;
    let installed = String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|line| line.starts_with(&format!("{MSRV}-")));
    if !installed {
        step(&format!("rustup toolchain install {MSRV}"));
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            MSRV,
            "--profile",
            "minimal",
            "--component",
            "clippy",
        ]))?;
    }
    step(&format!(
        "cargo +{MSRV} clippy --workspace --all-targets (warnings denied)"
    ));
    // `rustup run` rather than `$CARGO +1.85.0`: the cargo running xtask is the
    // toolchain's own binary, which does not take a `+toolchain` argument.
    run(Command::new("rustup")
        .args([
            "run",
            MSRV,
            "cargo",
            "clippy",
            "--workspace",
            "--all-targets",
        ])
        .args(["--", "-D", "warnings"])
        .env("CARGO_TARGET_DIR", side_target_dir("msrv")))
}
