//! The command line: natctl's clap definition, and nothing else, so that `cargo xtask man`
//! and the shell completions are generated from the very same definition.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit statuses, as `--help` and the README list them.
pub(crate) mod exit {
    /// Done.
    pub(crate) const OK: u8 = 0;
    /// Failed at the network or at the gateway (refused, unusable answer, timeout).
    pub(crate) const FAILED: u8 = 1;
    /// Usage error: nothing was sent.
    pub(crate) const USAGE: u8 = 2;
    /// No technique available: the gateway answered none of the techniques allowed.
    pub(crate) const NO_TECHNIQUE: u8 = 3;
}

const AFTER_HELP: &str = "\
Exit status:
  0  done
  1  failed at the network or at the gateway
  2  usage error (nothing was sent)
  3  no technique available: the gateway answered none of the techniques allowed

Environment:
  NATCTL_LOG  diagnostics on standard error: a level (debug) or target=level pairs
              (natpmp_proto=trace,info)
  NO_COLOR    no colour in diagnostics";

/// Learn your router's public address and keep ports forwarded, whatever protocol it speaks
/// (PCP, NAT-PMP or UPnP IGD).
#[derive(Debug, Parser)]
#[command(name = "natctl", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    /// Print machine-readable JSON instead of text (JSON Lines for streams).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Give up after this many seconds (0.1 to 3600); bounds the whole command.
    #[arg(long, global = true, value_name = "SECS", default_value = "5", value_parser = parse_timeout)]
    pub(crate) timeout: Duration,

    /// Ask this gateway instead of the default one.
    #[arg(long, global = true, value_name = "IP")]
    pub(crate) gateway: Option<IpAddr>,

    /// Work on this interface's path (its default route's gateway) instead of the path the
    /// kernel picks for internet traffic: for a host whose traffic leaves through a
    /// full-tunnel VPN that still wants a mapping at its LAN router.
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) interface: Option<String>,

    /// Also accept a UPnP IGD on another LAN host when none answers on the gateway (it is
    /// labelled as such in every output).
    #[arg(long, global = true)]
    pub(crate) allow_other_igd: bool,

    /// Do not use or update the cache of the UPnP IGD found at each gateway (by default the
    /// next run talks to it at once, without waiting for its SSDP answer).
    #[arg(long, global = true)]
    pub(crate) no_cache: bool,

    /// IPv4 only: port mappings at the NAT.
    #[arg(short = '4', long = "ipv4", global = true, conflicts_with = "ipv6")]
    pub(crate) ipv4: bool,

    /// IPv6 only: pinholes in the gateway's firewall for this host's global IPv6 address
    /// (PCP or UPnP; NAT-PMP is IPv4 only).
    #[arg(short = '6', long = "ipv6", global = true)]
    pub(crate) ipv6: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

impl Cli {
    /// The family the flags ask for.
    pub(crate) fn family(&self) -> Family {
        match (self.ipv4, self.ipv6) {
            (true, _) => Family::V4,
            (_, true) => Family::V6,
            _ => Family::Auto,
        }
    }
}

/// Which side of a dual-stack network a command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// No flag: IPv4, and IPv6 too where the command shows both (`external-ip`, `probe`,
    /// `unmap`).
    Auto,
    /// `-4`.
    V4,
    /// `-6`.
    V6,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the default gateway (the router this host talks to).
    /// With `-6`, the IPv6 default gateway.
    Gateway,
    /// List the network interfaces with their addresses.
    Interfaces,
    /// Print the local address this host uses toward its gateway.
    LocalIp,
    /// Probe every technique (PCP, NAT-PMP, UPnP IGD) and show which answered, how fast,
    /// and with which external address.
    Probe,
    /// Check reachability from outside: the router's techniques, the address STUN servers
    /// see, the NAT's mapping and filtering behaviour, hairpinning, double NAT, and a
    /// verdict. With PROTO PORT, that port is mapped for the check and deleted after.
    Check {
        /// A STUN server, HOST:PORT (repeatable, asked in order). None is built in: without
        /// one, nothing is sent beyond the gateway.
        #[arg(long = "stun", value_name = "HOST:PORT")]
        stun: Vec<String>,
        /// tcp or udp: check this port (needs PORT).
        #[arg(value_enum, requires = "port")]
        protocol: Option<Transport>,
        /// The port on this host (1-65535).
        #[arg(value_parser = parse_port)]
        port: Option<u16>,
        /// The technique to map with.
        #[arg(long, value_enum, default_value = "auto")]
        via: Via,
    },
    /// Print the gateway's public (external) IP address; and, unless -4, the IPv6 address
    /// WAN hosts reach this host at when the gateway opens pinholes.
    ExternalIp {
        /// The technique to ask with.
        #[arg(long, value_enum, default_value = "auto")]
        via: Via,
    },
    /// Forward a port on the gateway's public address to a port on this host; with -6,
    /// open a pinhole for this host's global IPv6 address instead.
    Map {
        /// tcp or udp.
        #[arg(value_enum)]
        protocol: Transport,
        /// The port on this host (1-65535).
        #[arg(value_parser = parse_port)]
        internal_port: u16,
        /// The public port to ask for (default: the internal port; 0: any).
        #[arg(long, value_name = "PORT")]
        external: Option<u16>,
        /// How long the gateway keeps the mapping, in seconds (at least 1).
        #[arg(long, value_name = "SECS", default_value = "7200", value_parser = parse_lifetime)]
        lifetime: u32,
        /// Keep the mapping alive (refreshing it, following gateway restarts and address
        /// changes) until Ctrl-C (SIGINT or SIGTERM on Unix; Ctrl-C, Ctrl-Break, closing the console,
        /// logoff or shutdown on Windows), printing every change; then delete it.
        #[arg(long)]
        keep: bool,
        /// The technique to ask with.
        #[arg(long, value_enum, default_value = "auto")]
        via: Via,
    },
    /// Remove this host's mapping of a port, whichever technique made it (and its IPv6
    /// pinhole, unless -4).
    Unmap {
        /// tcp or udp.
        #[arg(value_enum)]
        protocol: Transport,
        /// The port on this host (1-65535).
        #[arg(value_parser = parse_port)]
        internal_port: u16,
        /// The technique to ask with (auto: every technique that answers).
        #[arg(long, value_enum, default_value = "auto")]
        via: Via,
    },
    /// Remove all of this host's mappings of a protocol.
    UnmapAll {
        /// tcp or udp.
        #[arg(value_enum)]
        protocol: Transport,
        /// The technique to ask with (auto: every technique that answers).
        #[arg(long, value_enum, default_value = "auto")]
        via: Via,
    },
    /// List the gateway's port mappings (UPnP IGD: NAT-PMP and PCP cannot list).
    List {
        /// The technique to ask with.
        #[arg(long, value_enum, default_value = "auto")]
        via: Via,
    },
    /// Search the LAN with SSDP and print every responder as it answers.
    Discover {
        /// Search target (repeatable); default ssdp:all.
        #[arg(long = "st", value_name = "TARGET")]
        targets: Vec<String>,
        /// How long to listen for answers, in seconds (0.1 to 3600).
        #[arg(long, value_name = "SECS", default_value = "2", value_parser = parse_timeout)]
        scan_time: Duration,
    },
    /// Talk to the gateway's UPnP services directly.
    Upnp {
        #[command(subcommand)]
        command: UpnpCommand,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// `natctl upnp ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum UpnpCommand {
    /// List the gateway's devices and services.
    Services,
    /// List a service's actions with their arguments.
    Actions {
        /// The service: its type (urn:schemas-upnp-org:service:WANIPConnection:1) or a
        /// short name (WANIPConnection) for the newest version the device offers.
        service_type: String,
    },
    /// Call an action with Name=Value arguments (checked against the service description)
    /// and print its out arguments.
    Call {
        /// The service: its type or a short name (WANIPConnection, WANIPv6FirewallControl)
        /// for the newest version the device offers.
        service_type: String,
        /// The action, e.g. GetExternalIPAddress.
        action: String,
        /// Arguments as Name=Value.
        arguments: Vec<String>,
    },
}

/// The technique to talk to the gateway with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Via {
    /// Whichever the gateway speaks, preferring PCP, then NAT-PMP, then UPnP IGD.
    Auto,
    /// NAT-PMP (RFC 6886).
    #[value(alias = "nat-pmp", alias = "natpmp")]
    Pmp,
    /// PCP (RFC 6887).
    Pcp,
    /// UPnP IGD (WANIPConnection / WANPPPConnection).
    #[value(alias = "igd")]
    Upnp,
}

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "lower")]
pub(crate) enum Transport {
    /// TCP.
    #[value(alias = "TCP")]
    Tcp,
    /// UDP.
    #[value(alias = "UDP")]
    Udp,
}

/// The shells completions are made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Shell {
    /// bash.
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
    /// PowerShell.
    Powershell,
    /// elvish.
    Elvish,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds (0.1 to 3600)"))?;
    if !(seconds.is_finite() && (0.1..=3600.0).contains(&seconds)) {
        return Err(format!("{text} is out of range: give 0.1 to 3600 seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(0) => Err(
            "port 0 cannot be mapped: give the port your socket is bound to \
                      (1-65535)"
                .into(),
        ),
        Ok(port) => Ok(port),
        Err(_) => Err(format!("{text:?} is not a port: give 1 to 65535")),
    }
}

fn parse_lifetime(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(0) => Err(
            "a lifetime of 0 would delete the mapping: use `natctl unmap` to \
                      delete, or give at least 1 second"
                .into(),
        ),
        Ok(seconds) => Ok(seconds),
        Err(_) => Err(format!(
            "{text:?} is not a number of seconds (1 to 4294967295)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn validation_says_what_to_use_instead() {
        assert!(parse_port("0").unwrap_err().contains("1-65535"));
        assert_eq!(parse_port("8080"), Ok(8080));
        assert!(parse_lifetime("0").unwrap_err().contains("natctl unmap"));
        assert!(parse_timeout("0").unwrap_err().contains("0.1 to 3600"));
        assert!(parse_timeout("nan").unwrap_err().contains("0.1 to 3600"));
        assert_eq!(parse_timeout("2.5"), Ok(Duration::from_millis(2500)));
    }
}
