//! The facade (`nat-traversal`): a TCP listener kept publicly reachable.
//!
//! `cargo run -p natkit-examples --bin public_tcp_echo -- 0.0.0.0:8080`
//!
//! Listens on the given address (default `0.0.0.0:8080`; port 0 picks one), keeps the port
//! mapped at the default gateway with whatever it speaks (PCP, NAT-PMP or UPnP IGD), prints
//! where the listener can be reached, again whenever that changes, and echoes what every
//! connection sends. Ctrl-C or SIGTERM deletes the mapping and exits.
//!
//! This talks to your real router. To try it in the lab instead, build it
//! (`cargo build -p natkit-examples --bin public_tcp_echo`), start a lab (`cargo xtask lab up`) and
//! run it on the LAN host: `cargo xtask lab exec -- target/debug/public_tcp_echo 0.0.0.0:0`.

// Examples talk to the person running them.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;

use anyhow::Context as _;
use nat_traversal::PortAssignments;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = shutdown();
    tokio::pin!(shutdown);
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "0.0.0.0:8080".to_owned());
    let public = nat_traversal::tcp_listen_public(address.as_str())
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    if let Some(error) = public.mapping.last_error() {
        println!("not public yet (retrying in the background): {error}");
    }
    let mut changes = public.assignments();
    show(&changes.borrow_and_update());
    loop {
        tokio::select! {
            accepted = public.listener.accept() => {
                let (stream, peer) = accepted.context("accept failed")?;
                tokio::spawn(echo(stream, peer));
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

async fn echo(mut stream: TcpStream, peer: SocketAddr) {
    println!("{peer} connected");
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    println!("{peer} disconnected");
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
