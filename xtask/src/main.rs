//! `cargo xtask`: the project's automation, one module per subcommand.
//!
//! - `cargo xtask test`: system packages, formatting, clippy (also for the other desktop
//!   targets and on the MSRV), unit and lab tests, fuzz smoke runs, docs; ends with the
//!   number of lab tests that ran.
//! - `cargo xtask cross [TARGET...]`: clippy for Windows, macOS and FreeBSD.
//! - `cargo xtask msrv`: clippy on the declared minimum Rust version.
//! - `cargo xtask lab up|down|shell|exec|demo`: a lab to play with by hand.
//! - `cargo xtask bench`: natctl against the reference C tools in one lab, as ratios.
//! - `cargo xtask fuzz [SECONDS]`: every fuzz target for a while.

mod bench;
mod cross;
mod lab;
mod msrv;
mod packages;
mod shell;
mod test;
#[cfg(test)]
mod tidy;

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        bail!(
            "usage: cargo xtask <test|cross|msrv|lab|bench|fuzz> ...\n\n{}",
            HELP
        );
    };
    match command.as_str() {
        "test" => test::run_all(rest),
        "lab" => lab::run_lab(rest),
        "bench" => bench::run_bench(rest),
        "cross" => cross::run_cross(rest),
        "msrv" => msrv::run_msrv(),
        "fuzz" => {
            let seconds = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(60);
            test::fuzz(seconds)
        }
        "help" | "--help" | "-h" => {
            shell::say(HELP);
            Ok(())
        }
        other => bail!("unknown xtask command {other:?}\n\n{HELP}"),
    }
}

const HELP: &str = "\
cargo xtask test              packages, fmt, clippy (+ cross, msrv), tests (lab included),
                              fuzz smoke, docs; --no-fuzz, --no-cross, --no-msrv skip steps
cargo xtask cross [TARGET...] clippy for windows, macos (x86_64, aarch64) and freebsd
cargo xtask msrv              clippy with the declared minimum rust version (1.85)
cargo xtask lab up            start a lab named 'manual' and leave it running
cargo xtask lab down          tear the 'manual' lab down
cargo xtask lab shell [HOST]  a shell on lan (default), router or wan
cargo xtask lab exec [--host HOST] -- CMD...
cargo xtask lab demo          start a lab and show what natctl sees from its LAN
cargo xtask bench [--runs N]  natctl against natpmpc/upnpc in one lab (medians, ratios)
cargo xtask fuzz [SECONDS]    run every fuzz target for SECONDS each (default 60)";
