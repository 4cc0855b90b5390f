//! `natctl`: the command-line tool over the NAT traversal crates.
//!
//! ```text
//! natctl gateway            # the default gateway, e.g. 192.168.77.1
//! natctl local-ip           # this host's address toward the gateway
//! natctl --json interfaces  # interfaces and addresses as JSON
//! natctl probe                       # which protocols the gateway speaks, how fast
//! natctl external-ip                  # --via auto: PCP, NAT-PMP or UPnP, whichever answers
//! natctl map tcp 8080 --keep          # keep it mapped until Ctrl-C, then delete it
//! natctl external-ip --via pcp
//! natctl map tcp 8080 --external 8080 --lifetime 3600 --via pmp
//! natctl unmap tcp 8080 --via pmp
//! natctl discover --scan-time 2
//! natctl upnp call urn:schemas-upnp-org:service:WANIPConnection:1 GetExternalIPAddress
//! natctl list --via upnp
//! ```
//!
//! Global flags: `--json` prints machine-readable output; `--timeout SECS` bounds every network
//! wait. Errors are one line on standard error and a non-zero exit status. `NATCTL_LOG=debug`
//! (a level, or `target=level` pairs such as `natpmp_proto=trace,info`) prints diagnostics on
//! standard error.
//!
//! # Layout
//! - `main.rs`: the command line (clap) and dispatch.
//! - `output.rs`: human and JSON printing.
//! - `net.rs`: `gateway`, `interfaces`, `local-ip` (netinfo).
//! - `mapping.rs`: `external-ip`, `map`, `unmap`, `unmap-all` over NAT-PMP, PCP or UPnP.
//! - `auto.rs`: `probe`, `--via auto` and `map --keep` (the nat-traversal facade).
//! - `upnp.rs`: `discover`, `upnp services|actions|call`, `list`, and the UPnP IGD side of
//!   the mapping commands.

mod auto;
mod mapping;
mod net;
mod output;
mod upnp;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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

    /// Ask this gateway instead of the default one.
    #[arg(long, global = true, value_name = "IP")]
    gateway: Option<std::net::IpAddr>,

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
    /// Probe every technique (PCP, NAT-PMP, UPnP IGD) and show which answered, how fast,
    /// and with which external address.
    Probe,
    /// Print the gateway's public (external) IP address.
    ExternalIp {
        /// The protocol to ask with.
        #[arg(long, value_enum, default_value = "auto")]
        via: mapping::Via,
    },
    /// Forward a port on the gateway's public address to a port on this host.
    Map {
        /// TCP or UDP.
        #[arg(value_enum)]
        protocol: mapping::Transport,
        /// The port on this host.
        internal_port: u16,
        /// The public port to ask for (default: the internal port).
        #[arg(long, value_name = "PORT")]
        external: Option<u16>,
        /// How long the gateway keeps the mapping, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 7200)]
        lifetime: u32,
        /// Keep the mapping alive (refreshing it, following gateway restarts and address
        /// changes) until SIGINT or SIGTERM, printing every change; then delete it.
        #[arg(long)]
        keep: bool,
        /// The protocol to ask with.
        #[arg(long, value_enum, default_value = "auto")]
        via: mapping::Via,
    },
    /// Remove this host's mapping of a port.
    Unmap {
        /// TCP or UDP.
        #[arg(value_enum)]
        protocol: mapping::Transport,
        /// The port on this host.
        internal_port: u16,
        /// The protocol to ask with.
        #[arg(long, value_enum, default_value = "auto")]
        via: mapping::Via,
    },
    /// Remove all of this host's mappings of a protocol.
    UnmapAll {
        /// TCP or UDP.
        #[arg(value_enum)]
        protocol: mapping::Transport,
        /// The protocol to ask with.
        #[arg(long, value_enum, default_value = "auto")]
        via: mapping::Via,
    },
    /// List the gateway's port mappings (UPnP IGD only: NAT-PMP and PCP cannot list).
    List {
        /// The protocol to ask with.
        #[arg(long, value_enum, default_value = "upnp")]
        via: mapping::Via,
    },
    /// Search the LAN with SSDP and print every responder as it answers.
    Discover {
        /// Search target (repeatable); default ssdp:all.
        #[arg(long = "st", value_name = "TARGET")]
        targets: Vec<String>,
        /// How long to listen for answers, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 2.0)]
        scan_time: f64,
    },
    /// Talk to the gateway's UPnP services directly.
    Upnp {
        #[command(subcommand)]
        command: UpnpCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UpnpCommand {
    /// List the gateway's devices and services.
    Services,
    /// List a service's actions with their arguments.
    Actions {
        /// The service type, e.g. urn:schemas-upnp-org:service:WANIPConnection:1.
        service_type: String,
    },
    /// Call an action with Name=Value arguments (checked against the service description)
    /// and print its out arguments.
    Call {
        /// The service type.
        service_type: String,
        /// The action, e.g. GetExternalIPAddress.
        action: String,
        /// Arguments as Name=Value.
        arguments: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.json);
    // Diagnostics only on request (NATCTL_LOG=debug, ...). `Targets` (a level, or
    // target=level pairs) needs no regex engine; EnvFilter's made the binary 3.5 MB, not 2.9.
    if let Some(spec) = std::env::var_os("NATCTL_LOG") {
        match spec.to_string_lossy().parse::<Targets>() {
            Ok(filter) => tracing_subscriber::registry()
                .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
                .with(filter)
                .init(),
            Err(error) => {
                out.error(&anyhow::anyhow!(
                    "NATCTL_LOG is not a filter like `debug` or `natpmp_proto=trace,info`: {error}"
                ));
                return ExitCode::FAILURE;
            }
        }
    }
    match run(&cli, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            out.error(&error);
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli, out: &Output) -> anyhow::Result<()> {
    let timeout = timeout(cli.timeout)?;
    let target = mapping::Target {
        gateway: cli.gateway,
        timeout,
    };
    match &cli.command {
        Command::Gateway { ipv6 } => net::gateway(out, *ipv6),
        Command::Interfaces => net::interfaces(out),
        Command::LocalIp => net::local_ip(out),
        Command::ExternalIp { via } => block_on(mapping::external_ip(out, &target, *via)),
        Command::Probe => block_on(auto::probe(out, &target)),
        Command::Map {
            protocol,
            internal_port,
            external,
            lifetime,
            via,
            keep: true,
        } => block_on(auto::keep(
            out,
            &target,
            *via,
            *protocol,
            *internal_port,
            external.unwrap_or(*internal_port),
            *lifetime,
        )),
        Command::Map {
            protocol,
            internal_port,
            external,
            lifetime,
            via,
            keep: false,
        } => block_on(mapping::map(
            out,
            &target,
            *via,
            *protocol,
            *internal_port,
            external.unwrap_or(*internal_port),
            *lifetime,
        )),
        Command::Unmap {
            protocol,
            internal_port,
            via,
        } => block_on(mapping::unmap(
            out,
            &target,
            *via,
            *protocol,
            Some(*internal_port),
        )),
        Command::UnmapAll { protocol, via } => {
            block_on(mapping::unmap(out, &target, *via, *protocol, None))
        }
        Command::List { via } => match via {
            mapping::Via::Upnp | mapping::Via::Auto => block_on(upnp::list(out, &target)),
            mapping::Via::Pmp | mapping::Via::Pcp => {
                anyhow::bail!("NAT-PMP and PCP have no request that lists mappings; use --via upnp")
            }
        },
        Command::Discover { targets, scan_time } => {
            let scan_time = self::timeout(*scan_time)?;
            block_on(upnp::discover(out, &target, targets, scan_time))
        }
        Command::Upnp { command } => match command {
            UpnpCommand::Services => block_on(upnp::services(out, &target)),
            UpnpCommand::Actions { service_type } => {
                block_on(upnp::actions(out, &target, service_type))
            }
            UpnpCommand::Call {
                service_type,
                action,
                arguments,
            } => block_on(upnp::call(out, &target, service_type, action, arguments)),
        },
    }
}

/// Runs a network command on a single-threaded runtime: a CLI does one thing at a time, and
/// starting worker threads would cost more than the exchange itself.
fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(future: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

fn timeout(seconds: f64) -> anyhow::Result<Duration> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0) {
        anyhow::bail!("--timeout must be between 0 and 3600 seconds, not {seconds}");
    }
    Ok(Duration::from_secs_f64(seconds))
}
