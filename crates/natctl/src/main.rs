//! `natctl`: the command-line tool over the NAT traversal crates.
//!
//! ```text
//! natctl gateway            # the default gateway, e.g. 192.168.77.1
//! natctl local-ip           # this host's address toward the gateway
//! natctl --json interfaces  # interfaces and addresses as JSON
//! natctl probe                        # which techniques the gateway speaks, how fast
//! natctl check --stun 44.0.0.2:3478 udp 9000   # reachable from outside? NAT behaviour
//! natctl external-ip                  # --via auto: PCP, NAT-PMP or UPnP, whichever answers
//! natctl map tcp 8080 --keep          # keep it mapped until Ctrl-C, then delete it
//! natctl map tcp 8080 --external 8080 --lifetime 3600 --via pmp
//! natctl unmap tcp 8080               # whichever technique made it
//! natctl unmap-all udp
//! natctl list
//! natctl discover --scan-time 2
//! natctl upnp call urn:schemas-upnp-org:service:WANIPConnection:1 GetExternalIPAddress
//! natctl completions bash > /etc/bash_completion.d/natctl
//! ```
//!
//! Global flags: `--json` prints machine-readable output (the schema is in `docs/CLI.md`);
//! `--timeout SECS` bounds the whole command; `--gateway IP`; `--allow-other-igd`;
//! `--no-cache` (no UPnP IGD cache). Errors
//! are one line on standard error; the exit status is 0 (done), 1 (failed at the network or
//! the gateway), 2 (usage) or 3 (no technique available). `NATCTL_LOG=debug` (a level, or
//! `target=level` pairs such as `natpmp_proto=trace,info`) prints diagnostics on standard
//! error.
//!
//! # Layout
//! - `cli.rs`: the clap definition (also read by `cargo xtask man`).
//! - `main.rs`: parsing, exit statuses, dispatch, the whole-command deadline.
//! - `output.rs`: text and JSON printing, one-line errors, the spinner.
//! - `logging.rs`: `NATCTL_LOG`, and library events as spinner detail.
//! - `stop.rs`: what interrupts a command (Ctrl-C, SIGTERM; Ctrl-Break, console close,
//!   logoff and shutdown on Windows), listened for from the start.
//! - `net.rs`: `gateway`, `interfaces`, `local-ip` (netinfo).
//! - `facade.rs`: what the mapping commands share; `facade/`: `external-ip`, `map`,
//!   `map --keep`, `unmap` and `unmap-all`, `list`, `probe`, `check`, a small file each
//!   (the nat-traversal facade).
//! - `upnp.rs`: `discover`, `upnp services|actions|call` (ssdp and upnp-soap directly).

mod cli;
mod facade;
mod logging;
mod net;
mod output;
mod stop;
mod upnp;

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use cli::{Cli, Command, UpnpCommand, Via, exit};
use facade::{MapArgs, Target};
use nat_traversal::Protocol;
use output::{ErrorKind, Output, duration, print_error, stderr_is_interactive};
use stop::Stop;

/// Past `--timeout`, how long a command may still take to end before it is cut short (the
/// libraries' own deadlines should have fired first).
const DEADLINE_GRACE: Duration = Duration::from_millis(800);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    let logging = stderr_is_interactive() && std::env::var_os("NATCTL_LOG").is_none();
    let out = Output::new(cli.json, logging);
    if let Err(message) = logging::init(out.progress()) {
        print_error(cli.json, &message, ErrorKind::Usage);
        return ExitCode::from(exit::USAGE);
    }
    match run(&cli, &out) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(error) => {
            let kind = classify(&error);
            out.error(&error, kind);
            ExitCode::from(match kind {
                ErrorKind::Usage => exit::USAGE,
                ErrorKind::Network => exit::FAILED,
                ErrorKind::NoTechnique => exit::NO_TECHNIQUE,
            })
        }
    }
}

/// clap's own errors: help and version print as clap prints them; anything else is a usage
/// error, one JSON line under `--json`.
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind as Clap;
    if matches!(error.kind(), Clap::DisplayHelp | Clap::DisplayVersion)
        || matches!(error.kind(), Clap::DisplayHelpOnMissingArgumentOrSubcommand)
    {
        let _ = error.print();
        let code = if error.kind() == Clap::DisplayHelpOnMissingArgumentOrSubcommand {
            exit::USAGE
        } else {
            exit::OK
        };
        return ExitCode::from(code);
    }
    if std::env::args().any(|arg| arg == "--json") {
        let rendered = error.render().to_string();
        let first = rendered
            .lines()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("usage error")
            .trim_start_matches("error: ")
            .to_owned();
        print_error(true, &first, ErrorKind::Usage);
    } else {
        let _ = error.print();
    }
    ExitCode::from(exit::USAGE)
}

/// Which exit status an error gets.
fn classify(error: &anyhow::Error) -> ErrorKind {
    for cause in error.chain() {
        if let Some(error) = cause.downcast_ref::<nat_traversal::Error>() {
            return match error {
                // Exit 3 only when nothing answered; a refusal is the gateway's answer.
                nat_traversal::Error::NoTechniqueAvailable { .. } if error.nothing_answered() => {
                    ErrorKind::NoTechnique
                }
                nat_traversal::Error::Unsupported { .. } => ErrorKind::Usage,
                _ => ErrorKind::Network,
            };
        }
        if cause.downcast_ref::<Usage>().is_some() {
            return ErrorKind::Usage;
        }
    }
    ErrorKind::Network
}

/// A usage problem found after parsing (nothing was sent).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Usage(String);

fn run(cli: &Cli, out: &Output) -> anyhow::Result<()> {
    let target = Target {
        gateway: cli.gateway,
        interface: cli.interface.clone(),
        timeout: cli.timeout,
        allow_other_igd: cli.allow_other_igd,
        cache: !cli.no_cache,
        family: cli.family(),
    };
    // One single-threaded runtime: a CLI does one thing at a time, and starting worker
    // threads would cost more than the exchange itself.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Listening before anything is sent: an interruption at any point ends the command
    // through `until_stopped` (or `keep`'s own wait), never by killing the process with a
    // mapping in place.
    let mut stop = runtime.block_on(async { Stop::new() })?;
    let mut bounded = |future| {
        runtime.block_on(until_stopped(
            &mut stop,
            Box::pin(bounded(cli.timeout, future)),
        ))
    };
    match &cli.command {
        Command::Gateway => net::gateway(out, cli.ipv6),
        Command::Interfaces => net::interfaces(out),
        Command::LocalIp => net::local_ip(out),
        Command::Completions { shell } => completions(*shell),
        Command::ExternalIp { via } => bounded(Box::pin(facade::external_ip(out, &target, *via))),
        Command::Probe => bounded(Box::pin(facade::probe(out, &target))),
        Command::Check {
            stun,
            protocol,
            port,
            via,
        } => {
            let port = protocol.map(Protocol::from).zip(*port);
            let checked = bounded(Box::pin(facade::check(out, &target, *via, stun, port)));
            match (&checked, port) {
                // A port check maps the port: interrupted, it may have left that mapping.
                (Err(error), Some((protocol, port)))
                    if error.downcast_ref::<Interrupted>().is_some() =>
                {
                    runtime.block_on(undo_mapping(out, &target, *via, protocol, port))
                }
                _ => checked,
            }
        }
        Command::Map {
            protocol,
            internal_port,
            external,
            lifetime,
            keep,
            via,
        } => {
            let args = MapArgs {
                protocol: *protocol,
                internal_port: *internal_port,
                external_port: external.unwrap_or(*internal_port),
                lifetime: *lifetime,
            };
            if *keep {
                runtime.block_on(facade::keep(out, &target, *via, &args, &mut stop))
            } else {
                let map = bounded(Box::pin(facade::map(out, &target, *via, &args)));
                if let Err(error) = &map {
                    if error.downcast_ref::<Interrupted>().is_some() {
                        return runtime.block_on(undo_map(out, &target, *via, &args));
                    }
                }
                map
            }
        }
        Command::Unmap {
            protocol,
            internal_port,
            via,
        } => bounded(Box::pin(facade::unmap(
            out,
            &target,
            *via,
            *protocol,
            Some(*internal_port),
        ))),
        Command::UnmapAll { protocol, via } => {
            bounded(Box::pin(facade::unmap(out, &target, *via, *protocol, None)))
        }
        Command::List { via } => bounded(Box::pin(facade::list(out, &target, *via))),
        Command::Discover { targets, scan_time } => runtime.block_on(until_stopped(
            &mut stop,
            Box::pin(upnp::discover(out, &target, targets, *scan_time)),
        )),
        Command::Upnp { command } => match command {
            UpnpCommand::Services => bounded(Box::pin(upnp::services(out, &target))),
            UpnpCommand::Actions { service_type } => {
                bounded(Box::pin(upnp::actions(out, &target, service_type)))
            }
            UpnpCommand::Call {
                service_type,
                action,
                arguments,
            } => {
                if let Some(bad) = arguments.iter().find(|a| !a.contains('=')) {
                    return Err(Usage(format!("argument {bad:?} is not Name=Value")).into());
                }
                bounded(Box::pin(upnp::call(
                    out,
                    &target,
                    service_type,
                    action,
                    arguments,
                )))
            }
        },
    }
    .or_else(|error| {
        // Interrupted before it changed anything (or after `map` undid its mapping): the
        // user's choice, not a failure.
        if error.downcast_ref::<Interrupted>().is_some() {
            out.progress().clear();
            Ok(())
        } else {
            Err(error)
        }
    })
}

type Boxed<'a> = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

/// The whole command within `--timeout` (plus a little grace for the libraries' own
/// deadlines to report first, with a better message).
async fn bounded(timeout: Duration, command: Boxed<'_>) -> anyhow::Result<()> {
    match tokio::time::timeout(timeout + DEADLINE_GRACE, command).await {
        Ok(result) => result,
        Err(_) => anyhow::bail!(
            "gave up after {} (--timeout {})",
            duration(timeout + DEADLINE_GRACE),
            duration(timeout)
        ),
    }
}

/// The command, or [`Interrupted`] when `stop` fires first (the command is dropped).
async fn until_stopped(stop: &mut Stop, command: Boxed<'_>) -> anyhow::Result<()> {
    tokio::select! {
        // The command first: one that has finished (and printed) is not taken back.
        biased;
        result = command => result,
        () = stop.wait() => Err(Interrupted.into()),
    }
}

/// A command ended by Ctrl-C (or another interrupting event) before it finished.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
struct Interrupted;

/// After `map` was interrupted: its request may have reached the gateway (the answer was
/// not read), so the mapping is deleted, as `unmap` would, within `--timeout`. Further
/// interruptions are held by the listeners meanwhile, so the deletion is not cut short.
async fn undo_map(out: &Output, target: &Target, via: Via, args: &MapArgs) -> anyhow::Result<()> {
    let protocol = nat_traversal::Protocol::from(args.protocol);
    undo_mapping(out, target, via, protocol, args.internal_port).await
}

/// Deletes the mapping of `internal_port` an interrupted command may have made (`map`, or
/// `check` of a port), within `--timeout`.
async fn undo_mapping(
    out: &Output,
    target: &Target,
    via: Via,
    protocol: nat_traversal::Protocol,
    internal_port: u16,
) -> anyhow::Result<()> {
    out.progress().clear();
    let nat = target.nat(via);
    bounded(
        target.timeout,
        Box::pin(async move {
            let report = nat.unmap_port(protocol, internal_port).await?;
            tracing::debug!(%report, "interrupted map undone");
            Ok(())
        }),
    )
    .await
}

fn completions(shell: cli::Shell) -> anyhow::Result<()> {
    use clap_complete::Shell as S;
    let shell = match shell {
        cli::Shell::Bash => S::Bash,
        cli::Shell::Zsh => S::Zsh,
        cli::Shell::Fish => S::Fish,
        cli::Shell::Powershell => S::PowerShell,
        cli::Shell::Elvish => S::Elvish,
    };
    clap_complete::generate(shell, &mut Cli::command(), "natctl", &mut std::io::stdout());
    Ok(())
}
