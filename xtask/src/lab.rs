//! `cargo xtask lab`: a lab to play with by hand.
//!
//! `up` starts a lab (named `manual` unless `--name` says otherwise) and leaves it running;
//! `shell`, `exec` and `down` find it again by that name. `demo` starts a throwaway lab and
//! shows what `natctl` sees from its LAN.

use std::process::Command;

use anyhow::{Context, Result, bail};
use natlab::{Host, Lab, LabConfig};

use crate::shell::{Usage, build_binary, run, say, step};

const DEFAULT_NAME: &str = "manual";

const HELP: &str = "\
cargo xtask lab up [--name N] [--no-natpmp] [--no-upnp] [--no-default-route] [--no-ipv6]
                               start a lab and leave it running (default name: manual;
                               dual-stack: IPv6 beside IPv4 unless --no-ipv6)
cargo xtask lab down [--name N]
                               tear it down
cargo xtask lab shell [--name N] [lan|router|wan]
                               a shell on a host of the lab (default lan)
cargo xtask lab exec [--name N] [--host lan|router|wan] -- CMD...
                               run a command on a host of the lab
cargo xtask lab demo           start a throwaway lab and show what natctl sees from its LAN";

const HOSTS: [&str; 4] = ["lan", "router", "rtr", "wan"];

pub(crate) fn run_lab(args: &[String]) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        return Err(Usage(format!("which lab command?\n\n{HELP}")).into());
    };
    match command.as_str() {
        "up" => up(rest),
        "down" => {
            let (name, rest) = take_name(rest)?;
            no_more(rest)?;
            drop(Lab::attach(&name)?);
            say(&format!("lab {name:?} is down"));
            Ok(())
        }
        "shell" => {
            let (name, rest) = take_name(rest)?;
            let host = match rest {
                [] => "lan",
                [host] => checked_host(host)?,
                _ => return Err(Usage(format!("shell takes one host name\n\n{HELP}")).into()),
            };
            let lab = attached(&name)?;
            let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/bash".into());
            let status = pick_host(&lab, host).command(&shell).status()?;
            if !status.success() {
                bail!("the shell exited with {status}");
            }
            Ok(())
        }
        "exec" => exec(rest),
        "demo" => demo(),
        "help" | "--help" | "-h" => {
            say(HELP);
            Ok(())
        }
        other => Err(Usage(format!("unknown lab command {other:?}\n\n{HELP}")).into()),
    }
}

/// A lab that stays up when this handle goes away (only `down` tears one down).
struct Attached(Option<Lab>);

impl std::ops::Deref for Attached {
    type Target = Lab;

    fn deref(&self) -> &Lab {
        self.0.as_ref().expect("attached until dropped")
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        if let Some(lab) = self.0.take() {
            lab.keep();
        }
    }
}

fn attached(name: &str) -> Result<Attached> {
    Ok(Attached(Some(Lab::attach(name).with_context(|| {
        format!("no lab named {name:?} is up (start one with cargo xtask lab up --name {name})")
    })?)))
}

/// `--name N` anywhere among the arguments; the rest in order.
fn take_name(args: &[String]) -> Result<(String, &[String])> {
    match args {
        [flag, name, rest @ ..] if flag == "--name" => {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                || name.len() > 12
            {
                return Err(Usage(format!(
                    "lab names are 1 to 12 letters, digits, - or _, not {name:?}"
                ))
                .into());
            }
            Ok((name.clone(), rest))
        }
        [flag] if flag == "--name" => Err(Usage("--name needs a value".into()).into()),
        rest => Ok((DEFAULT_NAME.to_owned(), rest)),
    }
}

fn no_more(args: &[String]) -> Result<()> {
    match args.first() {
        None => Ok(()),
        Some(extra) => Err(Usage(format!("unexpected {extra:?}\n\n{HELP}")).into()),
    }
}

fn checked_host(name: &str) -> Result<&str> {
    if HOSTS.contains(&name) {
        Ok(name)
    } else {
        Err(Usage(format!("unknown host {name:?}: lan, router or wan")).into())
    }
}

fn pick_host<'a>(lab: &'a Lab, name: &str) -> &'a Host {
    match name {
        "router" | "rtr" => lab.router(),
        "wan" => lab.wan(),
        _ => lab.lan(),
    }
}

fn up(args: &[String]) -> Result<()> {
    let (name, rest) = take_name(args)?;
    // The manual lab is dual-stack unless told otherwise (tests opt in).
    let mut config = LabConfig {
        name: Some(name.clone()),
        ..LabConfig::dual_stack()
    };
    for arg in rest {
        match arg.as_str() {
            "--no-natpmp" => config.natpmp = false,
            "--no-upnp" => config.upnp = false,
            "--no-default-route" => config.lan_default_route = false,
            "--no-ipv6" => config.ipv6 = false,
            other => return Err(Usage(format!("unknown lab option {other:?}\n\n{HELP}")).into()),
        }
    }
    let lab = Lab::start(config).context("starting the lab")?;
    let with_name = if name == DEFAULT_NAME {
        String::new()
    } else {
        format!(" --name {name}")
    };
    let ipv6 = match (lab.lan().address_v6(), lab.router_lan_address_v6()) {
        (Some(lan), Some(router_lan)) => format!(
            "  IPv6      LAN host {lan}, router {router_lan} / {} on the LAN and {} on the WAN, WAN host {}\n",
            lab.router_link_local_v6()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            lab.wan_address_v6()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            lab.wan()
                .address_v6()
                .map(|a| a.to_string())
                .unwrap_or_default(),
        ),
        _ => String::new(),
    };
    say(&format!(
        "lab {name:?} is up:\n  LAN host  {} (netns {})\n  router    {} / 192.168.77.1 (netns {}), miniupnpd files in {}\n  WAN host  {} (netns {})\n{ipv6}\
         try: cargo xtask lab shell{with_name}, cargo xtask lab exec{with_name} -- natpmpc -g 192.168.77.1, cargo xtask lab down{with_name}",
        lab.lan().address(),
        lab.lan().netns(),
        lab.external_address(),
        lab.router().netns(),
        lab.dir().display(),
        lab.wan().address(),
        lab.wan().netns(),
    ));
    lab.keep();
    Ok(())
}

fn exec(args: &[String]) -> Result<()> {
    let (name, args) = take_name(args)?;
    let (host, command) = match args {
        [flag, host, dashdash, command @ ..] if flag == "--host" && dashdash == "--" => {
            (checked_host(host)?, command)
        }
        [dashdash, command @ ..] if dashdash == "--" => ("lan", command),
        _ => return Err(Usage(format!("usage:\n{HELP}")).into()),
    };
    let Some((program, program_args)) = command.split_first() else {
        return Err(Usage("no command given after --".into()).into());
    };
    let lab = attached(&name)?;
    run(pick_host(&lab, host).command(program).args(program_args))
}

fn demo() -> Result<()> {
    step("building natctl (cargo's progress below)");
    let natctl = build_binary("natkit-natctl", "natctl", false)?;
    step("starting a lab (LAN 192.168.77.10 behind miniupnpd at 192.168.77.1, WAN 44.0.0.1)");
    let lab = Lab::start(LabConfig::default())?;
    for args in [
        vec!["gateway"],
        vec!["local-ip"],
        vec!["interfaces"],
        vec!["--json", "gateway"],
        vec!["probe"],
        vec!["external-ip"],
        vec!["map", "tcp", "8080", "--lifetime", "600"],
        vec!["list"],
    ] {
        step(&format!("natctl {} (on the LAN host)", args.join(" ")));
        let mut command: Command = lab.lan().command(&natctl.to_string_lossy());
        command.args(&args);
        if let Err(e) = run(&mut command) {
            say(&format!("  -> {e}"));
        }
    }
    step("from the WAN host (44.0.0.2): connecting to 44.0.0.1:8080 reaches the LAN host?");
    let reached = lab.tcp_reaches(lab.lan(), 8080, lab.external_socket(8080))?;
    say(&format!("  {}", if reached { "yes" } else { "no" }));
    let mut unmap: Command = lab.lan().command(&natctl.to_string_lossy());
    unmap.args(["unmap", "tcp", "8080"]);
    step("natctl unmap tcp 8080 (on the LAN host)");
    run(&mut unmap)?;
    step("tearing the lab down");
    Ok(())
}
