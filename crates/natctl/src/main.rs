//! `natctl`: the command-line tool over the NAT traversal crates.
//!
//! ```text
//! natctl gateway            # the default gateway, e.g. 192.168.77.1
//! natctl local-ip           # this host's address toward the gateway
//! natctl --json interfaces  # interfaces and addresses as JSON
//! ```
//!
//! Global flags: `--json` prints machine-readable output; `--timeout SECS` bounds every network
//! wait. Errors are one line on standard error and a non-zero exit status.
//!
//! # Layout
//! - `main.rs`: the command line (clap) and dispatch.
//! - `output.rs`: human and JSON printing.
//! - `net.rs`: `gateway`, `interfaces`, `local-ip` (netinfo).

mod net;
mod output;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use output::Output;

/// Learn your router's public address and keep ports forwarded, whatever protocol it speaks.
#[derive(Debug, Parser)]
#[command(name = "natctl", version, about)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,

    /// Give up on any network wait after this many seconds.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 5.0)]
    timeout: f64,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the default gateway (the router this host talks to).
    Gateway {
        /// Print the IPv6 default gateway instead of the IPv4 one.
        #[arg(long)]
        ipv6: bool,
    },
    /// List the network interfaces with their addresses.
    Interfaces,
    /// Print the local address this host uses toward its gateway.
    LocalIp,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NATCTL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let out = Output::new(cli.json);
    match run(&cli, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            out.error(&error);
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli, out: &Output) -> anyhow::Result<()> {
    let _timeout = timeout(cli.timeout)?;
    match &cli.command {
        Command::Gateway { ipv6 } => net::gateway(out, *ipv6),
        Command::Interfaces => net::interfaces(out),
        Command::LocalIp => net::local_ip(out),
    }
}

fn timeout(seconds: f64) -> anyhow::Result<Duration> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0) {
        anyhow::bail!("--timeout must be between 0 and 3600 seconds, not {seconds}");
    }
    Ok(Duration::from_secs_f64(seconds))
}
