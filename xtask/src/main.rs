//! `cargo xtask`: the project's automation, one module per subcommand.
//!
//! - `cargo xtask test`: system packages, formatting, clippy (also for the other desktop
//!   targets and on the MSRV), unit and lab tests, `cargo package --workspace` with
//!   verification, fuzz smoke runs, docs; ends by comparing the lab tests that ran with
//!   `xtask/lab-tests.txt` (a missing or an unlisted one fails under CI and wherever the lab
//!   can run).
//! - `cargo xtask lab-tests [--update] [--log FILE]`: that comparison for a run's log, or the
//!   list rewritten from one.
//! - `cargo xtask cross [TARGET...]`: clippy for Windows, macOS and FreeBSD.
//! - `cargo xtask msrv`: clippy on the declared minimum Rust version.
//! - `cargo xtask windows [--no-lab] [--rounds N]`: the workspace's tests and the Windows
//!   lab suite, built for Windows and run under Wine (also a step of `cargo xtask test`).
//! - `cargo xtask lab up|down|shell|exec|demo`: a lab to play with by hand.
//! - `cargo xtask bench`: natctl against the reference C tools in one lab, as ratios.
//! - `cargo xtask fuzz [SECONDS]`: every fuzz target for a while.
//! - `cargo xtask man`: natctl's man page, generated from its clap definition.

mod bench;
mod bench_net;
mod bench_peers;
mod cross;
mod lab;
mod lab_tests;
mod man;
mod msrv;
mod package;
mod packages;
mod shell;
mod test;
#[cfg(test)]
mod tidy;
mod windows;

use std::process::ExitCode;

use anyhow::Result;

use shell::Usage;

/// Errors print as one line (causes after colons), never with a backtrace; a usage error
/// exits with 2, any other failure with 1.
#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    match dispatch() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.downcast_ref::<Usage>().is_some() => {
            eprintln!("cargo xtask: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("cargo xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        return Err(Usage(format!("usage: cargo xtask <command> ...\n\n{HELP}")).into());
    };
    match command.as_str() {
        "test" => test::run_all(rest),
        "lab" => lab::run_lab(rest),
        "lab-tests" => lab_tests::run_lab_tests(rest),
        "man" => man::write_man_page(),
        "bench" => bench::run_bench(rest),
        "cross" => cross::run_cross(rest),
        "msrv" => msrv::run_msrv(),
        "windows" => windows::run_windows(rest),
        "fuzz" => {
            let seconds = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(60);
            test::fuzz(seconds)
        }
        "help" | "--help" | "-h" => {
            shell::say(HELP);
            Ok(())
        }
        other => Err(Usage(format!("unknown xtask command {other:?}\n\n{HELP}")).into()),
    }
}

const HELP: &str = "\
cargo xtask test              packages, fmt, clippy (+ cross, msrv), tests (lab included),
                              windows tests under wine, cargo package, fuzz smoke, docs;
                              --no-fuzz, --no-cross, --no-msrv, --no-windows
cargo xtask cross [TARGET...] clippy for windows, macos (x86_64, aarch64) and freebsd
cargo xtask msrv              clippy with the declared minimum rust version (1.85)
cargo xtask windows [--no-lab] [--rounds N]
                              unit and doc tests built for windows and run under wine, then
                              natctl.exe in labs (N rounds of each ctrl-c case, default 10)
cargo xtask lab up [--name N]  start a lab (default name 'manual') and leave it running
cargo xtask lab down [--name N]
cargo xtask lab shell [--name N] [HOST]   a shell on lan (default), router or wan
cargo xtask lab exec [--name N] [--host HOST] -- CMD...
cargo xtask lab demo          start a lab and show what natctl sees from its LAN
cargo xtask lab --help        the lab commands in full
cargo xtask lab-tests [--update] [--log FILE]
                              compare the last run's lab tests (target/natlab-ran.log) with
                              xtask/lab-tests.txt; --update rewrites the list from a full
                              test run (or from FILE)
cargo xtask man               natctl's man page, from its clap definition (target/man/natctl.1)
cargo xtask bench [--runs N] [--only natctl|facade|rtt|loss|peers|stop]
                              natctl against natpmpc/upnpc, the facade, igd-next and
                              crab_nat, round trips, loss, 100 stops (medians, ratios)
cargo xtask fuzz [SECONDS]    run every fuzz target for SECONDS each (default 60)";
