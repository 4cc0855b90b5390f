//! The facade (`nat-traversal`): a UDP socket kept publicly reachable.
//!
//! `cargo run -p natkit-examples --bin public_udp_echo -- 0.0.0.0:9000`
//!
//! Binds a UDP socket to the given address (default `0.0.0.0:9000`; port 0 picks one),
//! keeps the port mapped at the default gateway with whatever it speaks (PCP, NAT-PMP or
//! UPnP IGD), prints where the socket can be reached, again whenever that changes, and sends
//! every datagram back to its sender. Ctrl-C or SIGTERM deletes the mapping and exits.
//!
//! This talks to your real router. To try it in the lab instead, build it
//! (`cargo build -p natkit-examples --bin public_udp_echo`), start a lab (`cargo xtask lab up`) and
//! run it on the LAN host: `cargo xtask lab exec -- target/debug/public_udp_echo 0.0.0.0:0`.

// Examples talk to the person running them.
#![allow(clippy::print_stdout)]

use anyhow::Context as _;
use nat_traversal::PortAssignments;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = shutdown();
    tokio::pin!(shutdown);
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "0.0.0.0:9000".to_owned());
    let public = nat_traversal::udp_bind_public(address.as_str())
        .await
        .with_context(|| format!("cannot bind {address}"))?;
    if let Some(error) = public.mapping.last_error() {
        println!("not public yet (retrying in the background): {error}");
    }
    let mut changes = public.assignments();
    show(&changes.borrow_and_update());
    let mut buffer = [0u8; 65_536];
    loop {
        tokio::select! {
            received = public.socket.recv_from(&mut buffer) => {
                let (n, peer) = received.context("receive failed")?;
                println!("{n} bytes from {peer}");
                if let Err(error) = public.socket.send_to(&buffer[..n], peer).await {
                    println!("cannot answer {peer}: {error}");
                }
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    break;
                }
                show(&changes.borrow_and_update());
            }
            () = &mut shutdown => break,
        }
    }
    public.close().await.context("cannot delete the mapping")?;
    println!("mapping deleted");
    Ok(())
}

fn show(assignments: &PortAssignments) {
    println!("reachable at:");
    for assignment in assignments {
        println!("  {assignment}");
    }
}

/// Resolves on Ctrl-C, or on SIGTERM (how service managers and `kill` stop a program) where
/// there is one. The SIGTERM handler is installed here, at the call, so a SIGTERM that comes
/// before the first poll is not lost (nor fatal).
// Elsewhere nothing is installed before the first poll, and clippy would have it `async fn`.
#[cfg_attr(not(unix), allow(clippy::manual_async_fn))]
fn shutdown() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        #[cfg(unix)]
        match terminate {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
                return;
            }
            Err(error) => println!("cannot watch for SIGTERM ({error}); Ctrl-C still stops"),
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
