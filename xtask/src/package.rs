//! `cargo package --workspace` with verification, as `cargo xtask test` runs it: every
//! published crate must build from its `.crate` file, against the other crates' `.crate`
//! files (cargo 1.90+ packages them together through a local overlay registry), and none
//! may mention natlab, the unpublished test harness.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::shell::{cargo, root, run, say, step};

/// Removes what an earlier `cargo package` left of our own crates in cargo's registry
/// directories. The verification build takes each sibling crate from a local overlay
/// registry, and cargo reuses a copy already unpacked there under the same name and version
/// (the overlay's directory name does not change between runs): without this, the crates
/// would be verified against the sources of an earlier run. Nothing else is touched: these
/// names exist nowhere but here.
fn forget_unpacked_copies(members: &[Member]) -> Result<()> {
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".cargo"),
            None => return Ok(()),
        },
    };
    for kind in ["src", "cache"] {
        let Ok(registries) = std::fs::read_dir(cargo_home.join("registry").join(kind)) else {
            continue;
        };
        for registry in registries.flatten() {
            for member in members.iter().filter(|m| m.published) {
                let stem = format!("{}-{}", member.name, member.version);
                for name in [stem.clone(), format!("{stem}.crate")] {
                    let path = registry.path().join(name);
                    let removed = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else if path.is_file() {
                        std::fs::remove_file(&path)
                    } else {
                        continue;
                    };
                    removed.with_context(|| format!("cannot remove {}", path.display()))?;
                    say(&format!("removed an earlier run's {}", path.display()));
                }
            }
        }
    }
    Ok(())
}

/// Packages and verifies every workspace member that is published.
pub(crate) fn package_workspace() -> Result<()> {
    step("cargo package --workspace (verification included)");
    let root = root();
    let members = members(&root)?;
    let mut command = cargo();
    command.current_dir(&root).args(["package", "--workspace"]);
    let mut published = Vec::new();
    for member in &members {
        if member.published {
            published.push(member);
        } else {
            command.args(["--exclude", &member.name]);
        }
    }
    if std::env::var_os("CI").is_none() {
        // A developer's tree has uncommitted work; CI's checkout must be clean.
        command.arg("--allow-dirty");
    }
    forget_unpacked_copies(&members)?;
    run(&mut command)?;

    let package_dir = target_dir(&root).join("package");
    for member in published {
        let unpacked = package_dir.join(format!("{}-{}", member.name, member.version));
        let manifest = std::fs::read_to_string(unpacked.join("Cargo.toml"))
            .with_context(|| format!("cannot read the packaged manifest of {}", member.name))?;
        if manifest.contains("natlab") {
            bail!("the packaged {} still depends on natlab", member.name);
        }
        if unpacked.join("tests/lab.rs").exists() {
            bail!("the packaged {} contains tests/lab.rs", member.name);
        }
        for license in ["LICENSE-MIT", "LICENSE-APACHE", "README.md"] {
            if !unpacked.join(license).exists() {
                bail!("the packaged {} has no {license}", member.name);
            }
        }
        say(&format!(
            "  {} {}: packaged and verified",
            member.name, member.version
        ));
    }
    Ok(())
}

/// One workspace member as its manifest names it.
#[derive(Debug, PartialEq, Eq)]
struct Member {
    name: String,
    version: String,
    published: bool,
}

/// The members under `crates/` and `xtask/`, read from their manifests.
fn members(root: &Path) -> Result<Vec<Member>> {
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .context("cannot list crates/")?
        .flatten()
        .map(|entry| entry.path().join("Cargo.toml"))
        .filter(|path| path.exists())
        .collect();
    manifests.push(root.join("examples/Cargo.toml"));
    manifests.push(root.join("xtask/Cargo.toml"));
    manifests.sort();
    manifests
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            parse_member(&text, &workspace_version(root)?)
                .with_context(|| format!("{} has no package name", path.display()))
        })
        .collect()
}

/// The `[workspace.package]` version the members inherit.
fn workspace_version(root: &Path) -> Result<String> {
    let text = std::fs::read_to_string(root.join("Cargo.toml"))?;
    table_value(&text, "[workspace.package]", "version")
        .context("the workspace manifest has no [workspace.package] version")
}

/// Name, version and publication of a member manifest (a line-based reading of the few
/// keys this needs, so xtask needs no TOML parser).
fn parse_member(manifest: &str, workspace_version: &str) -> Option<Member> {
    let name = table_value(manifest, "[package]", "name")?;
    let version = table_value(manifest, "[package]", "version")
        .unwrap_or_else(|| workspace_version.to_owned());
    let published = table_value(manifest, "[package]", "publish").as_deref() != Some("false");
    Some(Member {
        name,
        version,
        published,
    })
}

/// The value of `key = value` inside `table`, without quotes.
fn table_value(manifest: &str, table: &str, key: &str) -> Option<String> {
    let mut inside = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == table;
            continue;
        }
        if !inside {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if name.trim() == key {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// Where cargo writes: `CARGO_TARGET_DIR` or the workspace's `target/`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_read_from_their_manifests() {
        let published = "[package]\nname = \"natkit-ssdp\"\nversion.workspace = true\n\n\
                         [features]\npublish = \"not this table\"\n";
        assert_eq!(
            parse_member(published, "0.1.0"),
            Some(Member {
                name: "natkit-ssdp".to_owned(),
                version: "0.1.0".to_owned(),
                published: true,
            })
        );
        let unpublished = "[package]\nname = \"natlab\"\nversion = \"0.2.0\"\npublish = false\n";
        assert_eq!(
            parse_member(unpublished, "0.1.0"),
            Some(Member {
                name: "natlab".to_owned(),
                version: "0.2.0".to_owned(),
                published: false,
            })
        );
        assert_eq!(parse_member("[workspace]\n", "0.1.0"), None);
    }

    #[test]
    fn this_workspace_publishes_seven_natkit_packages_and_not_natlab_examples_or_xtask() {
        let members = members(&root()).unwrap();
        let mut published: Vec<&str> = members
            .iter()
            .filter(|m| m.published)
            .map(|m| m.name.as_str())
            .collect();
        published.sort_unstable();
        assert_eq!(
            published,
            [
                "natkit-nat-traversal",
                "natkit-natctl",
                "natkit-natpmp-proto",
                "natkit-netinfo",
                "natkit-ssdp",
                "natkit-stun",
                "natkit-upnp-soap",
            ]
        );
        let unpublished: Vec<&str> = members
            .iter()
            .filter(|m| !m.published)
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(unpublished, ["natlab", "natkit-examples", "xtask"]);
    }
}
