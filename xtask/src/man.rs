//! `cargo xtask man`: natctl's man page, generated from the same clap definition the binary
//! parses with (`crates/natctl/src/cli.rs`, compiled into xtask as a module).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::shell::{root, say};

#[allow(dead_code, unreachable_pub)]
#[path = "../../crates/natctl/src/cli.rs"]
mod natctl_cli;

/// Writes `target/man/natctl.1` (or under `CARGO_TARGET_DIR`) and says where.
pub(crate) fn write_man_page() -> Result<()> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("man");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("natctl.1");
    let mut page = Vec::new();
    clap_mangen::Man::new(natctl_cli::Cli::command()).render(&mut page)?;
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    say(&format!(
        "wrote {} (read it with: man {})",
        path.display(),
        path.display()
    ));
    Ok(())
}
