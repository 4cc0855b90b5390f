//! The facade side of `cargo xtask bench`, run on a lab's LAN host (release build).
//!
//! - `bench-worker hold COUNT LIFETIME_SECS TECHNIQUE`: keeps COUNT persistent UDP mappings
//!   (ports 20000 and up) through TECHNIQUE (`auto`, `pcp`, `nat-pmp`, `upnp`), prints
//!   `ready MILLIS` once every one has a public assignment, then holds them until standard
//!   input closes, stops them all and prints `stopped`. xtask samples this process's RSS and
//!   CPU time in between.
//! - `bench-worker first TECHNIQUE`: prints the microseconds from creating the `Nat` to the
//!   first public assignment of one persistent mapping, then deletes it.

use std::io::BufRead;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nat_traversal::{MapRequest, Nat, NatOptions, Protocol, Technique};

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

fn options(technique: &str, lifetime: Duration) -> Result<NatOptions> {
    let options = NatOptions::default()
        .with_lifetime(lifetime)
        .with_probe_timeout(Duration::from_secs(3))
        .with_description("natctl bench");
    Ok(match technique {
        "auto" => options,
        other => options.only(other.parse::<Technique>()?),
    })
}

async fn wait_public(mapping: &nat_traversal::PersistentMapping) -> Result<()> {
    let mut changes = mapping.assignments();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if changes.borrow_and_update().public_address().is_some() {
                return Ok(());
            }
            changes.changed().await.context("the mapping ended")?;
        }
    })
    .await
    .context("no public assignment within 30 s")?
}

async fn hold(count: u16, lifetime: u64, technique: &str) -> Result<()> {
    let started = Instant::now();
    let nat = Nat::new(options(technique, Duration::from_secs(lifetime))?);
    let mut mappings = Vec::with_capacity(count.into());
    for index in 0..count {
        let request = MapRequest::new(Protocol::Udp, 20000 + index)
            .with_lifetime(Duration::from_secs(lifetime));
        mappings.push(nat.persistent(request).start().await?);
    }
    for mapping in &mappings {
        wait_public(mapping).await?;
    }
    say(&format!("ready {}", started.elapsed().as_millis()));
    // Hold until xtask closes our standard input.
    tokio::task::spawn_blocking(|| {
        let stdin = std::io::stdin();
        for _ in stdin.lock().lines() {}
    })
    .await?;
    let alive = mappings
        .iter()
        .filter(|m| m.current().public_address().is_some())
        .count();
    for mapping in mappings {
        mapping.stop().await?;
    }
    say(&format!("stopped {alive}"));
    Ok(())
}

async fn first(technique: &str) -> Result<()> {
    let started = Instant::now();
    let nat = Nat::new(options(technique, Duration::from_secs(120))?);
    let mapping = nat
        .persistent(MapRequest::new(Protocol::Udp, 19999).with_lifetime(Duration::from_secs(120)))
        .start()
        .await?;
    wait_public(&mapping).await?;
    let elapsed = started.elapsed();
    mapping.stop().await?;
    say(&format!("{}", elapsed.as_micros()));
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["hold", count, lifetime, technique] => {
            runtime.block_on(hold(count.parse()?, lifetime.parse()?, technique))
        }
        ["first", technique] => runtime.block_on(first(technique)),
        _ => bail!("usage: bench-worker hold COUNT LIFETIME_SECS TECHNIQUE | first TECHNIQUE"),
    }
}
