//! System packages the lab needs, installed with apt-get when missing.

use std::process::Command;

use anyhow::{Result, bail};

use crate::shell::{is_root, run, say, step};

/// (program, Debian package). miniupnpd comes as `miniupnpd-nftables`: the `miniupnpd`
/// package only adds an init script and debconf questions, and its nftables backend is what
/// the lab's ruleset is written for.
/// `wine`, `wine64` and `mingw-w64` are for the Windows tests (`cargo xtask windows`):
/// Debian puts the 64-bit loader in /usr/lib/wine, off `PATH`, so the server (which `wine`
/// links onto `PATH`) stands for it.
const NEEDED: [(&str, &str); 11] = [
    ("ip", "iproute2"),
    ("nft", "nftables"),
    ("miniupnpd", "miniupnpd-nftables"),
    ("upnpc", "miniupnpc"),
    ("natpmpc", "natpmpc"),
    ("tc", "iproute2"),
    // The STUN server of labs built `with_stun` (RFC 5780 NAT behaviour discovery).
    ("turnserver", "coturn"),
    ("wine", "wine"),
    ("wineserver", "wine64"),
    ("x86_64-w64-mingw32-gcc", "mingw-w64"),
    // natctl's check test captures what leaves the LAN host.
    ("tcpdump", "tcpdump"),
];

/// Installs what is missing, when root on a Debian-like system; otherwise says what is missing.
pub(crate) fn ensure() -> Result<()> {
    step("system packages");
    let mut missing: Vec<&str> = NEEDED
        .iter()
        .filter(|(program, _)| natlab::find_program(program).is_none())
        .map(|(_, package)| *package)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        say(
            "all present: iproute2, nftables, miniupnpd, miniupnpc, natpmpc, coturn, tcpdump, \
             wine64, mingw-w64",
        );
        return Ok(());
    }
    if !is_root() || natlab::find_program("apt-get").is_none() {
        say(&format!(
            "missing {missing:?}; not root on a Debian-like system, so the lab tests will skip \
             (or fail with CI set)"
        ));
        return Ok(());
    }
    say(&format!("installing {missing:?}"));
    let install = || {
        let mut command = Command::new("apt-get");
        command
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut command)
    };
    if install().is_err() {
        say("install failed; running apt-get update first");
        run(Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        install()?;
    }
    let still: Vec<&str> = NEEDED
        .iter()
        .filter(|(program, _)| natlab::find_program(program).is_none())
        .map(|(program, _)| *program)
        .collect();
    if !still.is_empty() {
        bail!("after installing, still missing: {still:?}");
    }
    Ok(())
}
