//! `map --keep`: a persistent mapping held until interrupted (Ctrl-C; SIGTERM on Unix;
//! Ctrl-Break, the console closing, logoff or shutdown on Windows: see `stop.rs`), its
//! facade events printed as they come, then deleted at the gateway.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use nat_traversal::{MappingEvent, PortAssignments, Protocol, Reachability, Technique};
use serde::Serialize;

use super::{MapArgs, Target, at, reach_note, techniques_label};
use crate::cli::{Family, Via};
use crate::output::Output;
use crate::stop::Stop;

#[derive(Serialize)]
struct AssignmentJson {
    address: SocketAddr,
    technique: Option<&'static str>,
}

#[derive(Serialize)]
struct KeepEventJson<'a> {
    event: &'a str,
    protocol: &'static str,
    internal_port: u16,
    internal_address: Option<SocketAddr>,
    public_address: Option<SocketAddr>,
    technique: Option<&'static str>,
    reachability: Option<&'static str>,
    assignments: Vec<AssignmentJson>,
    error: Option<String>,
}

/// One printed event: its name, the assignments to show, and the error or reason.
struct Line<'a> {
    event: &'a str,
    assignments: PortAssignments,
    error: Option<String>,
}

/// The line an event prints. Only an event the gateway's state backs shows a public
/// address: `not_mapped` and `lost` show none.
fn line_of(event: &MappingEvent, current: &PortAssignments) -> Line<'static> {
    let local: PortAssignments = current.local_only().copied().collect();
    match event {
        MappingEvent::Mapped { .. } => Line {
            event: "mapped",
            assignments: current.clone(),
            error: None,
        },
        MappingEvent::Changed { reason, .. } => Line {
            event: "changed",
            assignments: current.clone(),
            error: Some(reason.to_string()),
        },
        MappingEvent::RenewalFailed { error, .. } => Line {
            event: "renewal_failed",
            assignments: current.clone(),
            error: Some(error.to_string()),
        },
        MappingEvent::Lost { reason, .. } => Line {
            event: "lost",
            assignments: local,
            error: Some(reason.to_string()),
        },
        MappingEvent::NotMapped { error } => Line {
            event: "not_mapped",
            assignments: local,
            error: Some(error.to_string()),
        },
        _ => Line {
            event: "other",
            assignments: current.clone(),
            error: None,
        },
    }
}

/// Holds a persistent mapping until `stop` fires, printing every event, then deletes it at
/// the gateway. Fails when nothing was ever mapped.
pub(crate) async fn keep(
    out: &Output,
    target: &Target,
    via: Via,
    args: &MapArgs,
    stop: &mut Stop,
) -> Result<()> {
    let options = target
        .options(via)
        .with_lifetime(Duration::from_secs(args.lifetime.into()));
    let nat = target.nat_with(options);
    let ipv6 = target.family == Family::V6;
    let protocol = Protocol::from(args.protocol);
    out.progress().start(format!(
        "asking {} {} for {protocol} port {}",
        techniques_label(via),
        at(&nat),
        args.internal_port
    ));
    let local = if ipv6 {
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, args.internal_port))
    } else {
        SocketAddr::from(([0, 0, 0, 0], args.internal_port))
    };
    // An interruption during the first attempt is kept by `stop` and ends the loop below
    // at once: dropping the attempt instead could leave a mapping the router made after
    // the request was sent, unknown to the task that would delete it.
    let mapping = nat
        .persistent(args.request())
        .local_address(local)
        .start()
        .await?;
    out.progress().clear();
    let print = |line: Line<'_>| {
        let public = line.assignments.public().next();
        let json = KeepEventJson {
            event: line.event,
            protocol: protocol.as_str(),
            internal_port: args.internal_port,
            internal_address: nat
                .local_address()
                .map(|ip| SocketAddr::new(ip, args.internal_port)),
            public_address: public.map(|a| a.address),
            technique: public.and_then(|a| a.technique).map(Technique::as_str),
            reachability: public
                .and_then(|a| a.reachability())
                .map(Reachability::as_str),
            assignments: line
                .assignments
                .iter()
                .map(|a| AssignmentJson {
                    address: a.address,
                    technique: a.technique.map(Technique::as_str),
                })
                .collect(),
            error: line.error.clone(),
        };
        let event = line.event.replace('_', " ");
        out.line(&json, || match (public, &line.error) {
            (Some(public), error) if line.event != "renewal_failed" || error.is_none() => {
                format!(
                    "{event}: {} via {}{} (local: {})",
                    public.address,
                    public.technique.map(|t| t.to_string()).unwrap_or_default(),
                    reach_note(public.address.ip()),
                    line.assignments
                        .local_only()
                        .map(|a| a.address.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            (_, Some(error)) => format!("{event}: {error}; retrying"),
            (_, None) => event,
        });
    };
    let mut events = mapping.events();
    let mut ever_mapped = false;
    loop {
        tokio::select! {
            // Events first: one already there (the first attempt's `mapped`) is printed
            // before an interruption that came during the attempt ends the loop.
            biased;
            event = events.next() => {
                let Some(event) = event else {
                    break;
                };
                if matches!(event, MappingEvent::Mapped { .. } | MappingEvent::Changed { .. }) {
                    ever_mapped = true;
                }
                print(line_of(&event, &mapping.current()));
            }
            () = stop.wait() => break,
        }
    }
    let held = mapping.mapping().is_some();
    let stopped = mapping.stop().await;
    let end = Line {
        event: if held { "deleted" } else { "stopped" },
        assignments: PortAssignments::new(),
        error: None,
    };
    if held {
        stopped?;
    }
    print(end);
    // `held` too: an interruption during the first attempt may end the loop before the
    // `mapped` event is read, and what was deleted had been mapped.
    if !ever_mapped && !held {
        anyhow::bail!(
            "nothing was ever mapped: the gateway refused or did not answer every attempt"
        );
    }
    Ok(())
}
