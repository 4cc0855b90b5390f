//! SSDP alone (`ssdp`): every UPnP device on the LAN, of any type, printed as each answers.
//!
//! `cargo run -p natkit-examples --bin ssdp_browse -- [SECONDS]`
//!
//! Sends an `ssdp:all` M-SEARCH on every suitable interface and prints one line per distinct
//! answer (who answered, its search target, USN and description URL) the moment it arrives,
//! for the scan time (default 3 s), then how many answered.
//!
//! This multicasts on your real LAN. To try it in the lab instead, build it
//! (`cargo build -p natkit-examples --bin ssdp_browse`), start a lab (`cargo xtask lab up`)
//! and run it on the LAN host: `cargo xtask lab exec -- target/debug/ssdp_browse 2`.

// Examples talk to the person running them.
#![allow(clippy::print_stdout)]

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: f64 = match std::env::args().nth(1) {
        Some(text) => text
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 3600.0)
            .with_context(|| format!("scan time {text:?} is not a number of seconds up to 3600"))?,
        None => 3.0,
    };
    let scan_time = Duration::from_secs_f64(seconds);
    let mut search = ssdp::search(ssdp::ALL, scan_time)
        .await
        .context("cannot start the search")?;
    println!("searching for {scan_time:?}");
    let mut responders = BTreeSet::new();
    let mut answers = 0usize;
    while let Some(response) = search.next_response().await {
        answers += 1;
        responders.insert(response.source.ip());
        println!(
            "{}  st={}  usn={}  location={}{}",
            response.source,
            response.st,
            response.usn.as_deref().unwrap_or("-"),
            response.location,
            response
                .server
                .as_deref()
                .map(|server| format!("  server={server}"))
                .unwrap_or_default()
        );
    }
    let dropped = search.dropped();
    if dropped.answers > 0 {
        println!(
            "dropped {} answers over the caps from {:?}",
            dropped.answers, dropped.responders
        );
    }
    println!("{answers} answers from {} responders", responders.len());
    Ok(())
}
