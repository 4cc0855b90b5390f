//! `cargo xtask lab`: a lab to play with by hand.
//!
//! `up` starts a lab named `manual` and leaves it running; `shell`, `exec` and `down` find it
//! again by that name. `demo` starts a throwaway lab and shows what `natctl` sees from its LAN.

use std::process::Command;

use anyhow::{Context, Result, bail};
use natlab::{Host, Lab, LabConfig};

use crate::shell::{cargo, root, run, say, step};

const NAME: &str = "manual";

pub(crate) fn run_lab(args: &[String]) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        bail!("usage: cargo xtask lab <up|down|shell|exec|demo>");
    };
    match command.as_str() {
        "up" => up(rest),
        "down" => {
            drop(Lab::attach(NAME)?);
            say("lab 'manual' is down");
            Ok(())
        }
        "shell" => {
            let lab = Lab::attach(NAME)?;
            let host = pick_host(&lab, rest.first().map(String::as_str).unwrap_or("lan"))?;
            let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/bash".into());
            let status = host.command(&shell).status()?;
            std::mem::forget(lab);
            if !status.success() {
                bail!("the shell exited with {status}");
            }
            Ok(())
        }
        "exec" => exec(rest),
        "demo" => demo(),
        other => bail!("unknown lab command {other:?}"),
    }
}

fn config_from(args: &[String]) -> Result<LabConfig> {
    let mut config = LabConfig {
        name: Some(NAME.into()),
        ..LabConfig::default()
    };
    for arg in args {
        match arg.as_str() {
            "--no-natpmp" => config.natpmp = false,
            "--no-upnp" => config.upnp = false,
            "--no-default-route" => config.lan_default_route = false,
            other => bail!("unknown lab option {other:?}"),
        }
    }
    Ok(config)
}

fn up(args: &[String]) -> Result<()> {
    let lab = Lab::start(config_from(args)?).context("starting the lab")?;
    say(&format!(
        "lab 'manual' is up:\n  LAN host  {} (netns {})\n  router    {} / 192.168.77.1 (netns {}), miniupnpd files in {}\n  WAN host  {} (netns {})\n\
         try: cargo xtask lab shell, cargo xtask lab exec -- natpmpc -g 192.168.77.1, cargo xtask lab down",
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

fn pick_host<'a>(lab: &'a Lab, name: &str) -> Result<&'a Host> {
    Ok(match name {
        "lan" => lab.lan(),
        "router" | "rtr" => lab.router(),
        "wan" => lab.wan(),
        other => bail!("unknown host {other:?}: lan, router or wan"),
    })
}

fn exec(args: &[String]) -> Result<()> {
    let (host, command) = match args {
        [flag, host, dashdash, command @ ..] if flag == "--host" && dashdash == "--" => {
            (host.as_str(), command)
        }
        [dashdash, command @ ..] if dashdash == "--" => ("lan", command),
        _ => bail!("usage: cargo xtask lab exec [--host lan|router|wan] -- CMD..."),
    };
    let Some((program, program_args)) = command.split_first() else {
        bail!("no command given");
    };
    let lab = Lab::attach(NAME)?;
    let result = run(pick_host(&lab, host)?.command(program).args(program_args));
    std::mem::forget(lab);
    result
}

fn demo() -> Result<()> {
    step("building natctl");
    run(cargo()
        .current_dir(root())
        .args(["build", "--quiet", "-p", "natkit-natctl"]))?;
    let natctl = root().join("target/debug/natctl");
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
