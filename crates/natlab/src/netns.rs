//! Hosts of the lab: a network namespace each, commands run in it, and threads that enter it.
//!
//! A thread enters a namespace with `setns(2)`; every socket it opens afterwards, and every
//! thread it spawns, lives in that namespace. That is how async test code runs "on" a lab host:
//! [`Host::block_on`] starts a thread, enters the namespace, then builds its own tokio runtime.

use std::fs::File;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;

use nix::sched::{CloneFlags, setns};

use crate::error::{LabError, Result, io_err};

/// One host of the lab: a network namespace with one interface toward the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub(crate) netns: String,
    pub(crate) address: Ipv4Addr,
    pub(crate) address_v6: Option<Ipv6Addr>,
    pub(crate) interface: String,
}

impl Host {
    /// The namespace's name (as `ip netns` knows it).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The host's IPv4 address on its link toward the router (the router's WAN address for the
    /// router host).
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The host's global IPv6 address on its link toward the router (the router's WAN-side
    /// IPv6 address for the router host), or `None` in a lab built without IPv6
    /// ([`LabConfig::ipv6`](crate::LabConfig::ipv6)).
    ///
    /// A LAN host's address is in [`LAN_PREFIX_V6`](crate::LAN_PREFIX_V6)`/64`: the address the
    /// WAN host connects to once a pinhole is open (there is no IPv6 NAT in the lab).
    pub fn address_v6(&self) -> Option<Ipv6Addr> {
        self.address_v6
    }

    /// The name of the host's interface toward the router (inside its namespace).
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// A [`Command`] that runs `program` inside this host's namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.netns, program]);
        command
    }

    /// Runs `program args...` in the namespace and returns its output, failing on a non-zero
    /// exit with the command line and its standard error.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<Output> {
        let mut command = self.command(program);
        command.args(args);
        run_checked(&mut command)
    }

    /// Runs `f` on a new thread inside this host's namespace and returns its handle.
    ///
    /// Sockets opened by `f` (and threads it spawns) live in the namespace.
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<Result<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let netns = self.netns.clone();
        std::thread::spawn(move || {
            enter(&netns)?;
            Ok(f())
        })
    }

    /// Runs `f` inside this host's namespace and waits for it. A panic in `f` is re-raised here.
    pub fn run<F, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.spawn(f).join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Runs the future made by `f` to completion on a fresh tokio runtime (multi-threaded, two
    /// workers, all drivers) whose threads all live in this host's namespace.
    pub fn block_on<F, Fut>(&self, f: F) -> Result<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future,
        Fut::Output: Send + 'static,
    {
        let netns = self.netns.clone();
        self.run(move || -> Result<Fut::Output> {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(io_err(format!("cannot build a tokio runtime in {netns}")))?;
            Ok(runtime.block_on(f()))
        })?
    }
}

/// Moves the calling thread into the named network namespace.
pub(crate) fn enter(netns: &str) -> Result<()> {
    let path = format!("/run/netns/{netns}");
    let file = File::open(&path).map_err(|source| LabError::File {
        path: path.clone().into(),
        source,
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET)
        .map_err(|errno| io_err(format!("setns into {netns}"))(errno.into()))
}

/// Runs a command, capturing its output; a non-zero exit becomes [`LabError::Command`].
pub(crate) fn run_checked(command: &mut Command) -> Result<Output> {
    let line = describe(command);
    tracing::trace!(command = %line, "natlab runs");
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command {
            command: line.clone(),
            detail: e.to_string(),
        })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(LabError::Command {
            command: line,
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}

/// Runs `ip ARGS...` in the root namespace's `ip` binary (its `-n` flag targets a namespace).
pub(crate) fn ip(args: &[&str]) -> Result<Output> {
    run_checked(Command::new("ip").args(args))
}

fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}
