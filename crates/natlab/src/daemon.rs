//! miniupnpd on the router: its configuration file, starting it (in the foreground with its
//! debug log, or detached as on a real router) and waiting until it listens, signals,
//! stopping, restarting and the simulated reboot.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::router::{self, MINIUPNPD_CHAINS};
use crate::topology::write_file;
use crate::{Lab, LabError, NATPMP_PORT, Result, UPNP_HTTP_PORT, error};

/// Starts miniupnpd with the console silenced in a mount namespace of its own.
///
/// miniupnpd opens syslog with `LOG_CONS`; with no syslog daemon listening on `/dev/log`
/// (the usual case on a test machine), glibc writes every message to `/dev/console` as
/// well, which is a serial port on many virtual machines. In debug mode miniupnpd logs a
/// line per rule on every request, so a router holding 100 redirections spent over half a
/// second per request on the console. Binding `/dev/null` over `/dev/console` for this one
/// process (private propagation: the host's `/dev` is untouched) keeps its log on stderr,
/// where the lab reads it, and makes requests cost what miniupnpd's own code costs.
pub(crate) const MINIUPNPD_LAUNCH: &str = "if [ -e /dev/console ]; then mount --bind /dev/null /dev/console || exit 125; fi; exec miniupnpd \"$@\"";

impl Lab {
    /// What miniupnpd has logged so far (for failure messages).
    pub fn miniupnpd_log(&self) -> String {
        fs::read_to_string(self.dir.join("miniupnpd.log")).unwrap_or_default()
    }

    /// Whether miniupnpd is running.
    pub fn router_running(&self) -> bool {
        self.daemon
            .lock()
            .map(|mut d| d.as_mut().is_some_and(Daemon::running))
            .unwrap_or(false)
    }

    /// Stops miniupnpd cleanly (SIGTERM: it saves its leases to the lease file; the nftables
    /// rules it made stay in place).
    pub fn stop_router(&self) -> Result<()> {
        self.signal_and_reap(Signal::SIGTERM)
    }

    /// Starts miniupnpd again (it reloads its lease file) and waits until it listens.
    pub fn start_router(&self) -> Result<()> {
        self.start_daemon()
    }

    /// Simulates a router reboot: miniupnpd killed, every mapping and lease wiped, then started
    /// again with a new epoch.
    pub fn reboot_router(&self) -> Result<()> {
        self.signal_and_reap(Signal::SIGKILL)?;
        for chain in MINIUPNPD_CHAINS {
            self.router
                .exec("nft", &["flush", "chain", "inet", "filter", chain])?;
        }
        let _ = fs::remove_file(self.dir.join("leases"));
        self.start_daemon()
    }

    /// Writes miniupnpd's configuration file into the lab's directory.
    pub(crate) fn write_daemon_conf(&self) -> Result<()> {
        let ipv6 = self.config.ipv6;
        let lease_file = self.dir.join("leases").to_string_lossy().into_owned();
        let uuid = format!(
            "6e61746c-6162-4000-8000-{:012x}",
            fnv1a(self.id.as_bytes()) & 0xffff_ffff_ffff
        );
        let conf = router::miniupnpd_conf(&router::DaemonConfig {
            natpmp: self.config.natpmp,
            upnp: self.config.upnp,
            external_ports: self.config.external_ports.clone(),
            min_lifetime: self.config.min_lifetime,
            lease_file: &lease_file,
            uuid: &uuid,
            ipv6,
            third_party: self.config.third_party_deletions,
        });
        write_file(&self.dir.join("miniupnpd.conf"), &conf)?;
        Ok(())
    }

    pub(crate) fn start_daemon(&self) -> Result<()> {
        if !self.config.natpmp && !self.config.upnp {
            // A router with every protocol off runs no daemon at all.
            return Ok(());
        }
        let mut daemon = self
            .daemon
            .lock()
            .map_err(|_| LabError::Invalid("the daemon lock is poisoned".into()))?;
        if daemon.as_mut().is_some_and(Daemon::running) {
            return Ok(());
        }
        let log_path = self.dir.join("miniupnpd.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| LabError::File {
                path: log_path.clone(),
                source,
            })?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log_err = log.try_clone().map_err(|source| LabError::File {
            path: log_path.clone(),
            source,
        })?;
        let conf = self.dir.join("miniupnpd.conf");
        let pid_file = self.dir.join("miniupnpd.pid");
        let _ = fs::remove_file(&pid_file);
        let debug = self.config.router_debug_log;
        let mut command = self.router.command("unshare");
        command
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(MINIUPNPD_LAUNCH)
            .arg("miniupnpd");
        if debug {
            command.arg("-d");
        } else {
            let mut note = &log;
            let _ = writeln!(
                note,
                "natlab: miniupnpd runs detached without its debug log (router_debug_log is off)"
            );
        }
        let mut child = command
            .arg("-f")
            .arg(&conf)
            .arg("-P")
            .arg(&pid_file)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| self.daemon_error(format!("cannot spawn: {e}")))?;

        // With `ext_perform_stun`, miniupnpd waits out its STUN requests' timeouts (about 9 s
        // behind a filtering NAT) before it listens.
        let limit = Duration::from_secs(if self.config.router_stun { 30 } else { 10 });
        let deadline = Instant::now() + limit;
        let up = if debug {
            let mut wanted = Vec::new();
            if self.config.natpmp {
                wanted.push("Listening for NAT-PMP/PCP traffic");
            }
            if self.config.upnp {
                wanted.push("HTTP listening on port");
            }
            // Ok: it said it listens; Err: it exited first.
            let outcome = poll_until(deadline, || {
                let text = fs::read(&log_path).unwrap_or_default();
                let new = String::from_utf8_lossy(text.get(log_start as usize..).unwrap_or(&[]));
                if wanted.iter().all(|w| new.contains(w)) {
                    return Some(Ok(()));
                }
                child.try_wait().ok().flatten().map(Err)
            });
            match outcome {
                Some(Ok(())) => Daemon::Foreground(child),
                Some(Err(status)) => {
                    return Err(self.daemon_error(format!("it exited with {status}")));
                }
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(self.daemon_error(format!("it did not listen within {limit:?}")));
                }
            }
        } else {
            // The process we started forks the daemon and exits; the daemon writes its pid.
            let Some(status) = poll_until(deadline, || child.try_wait().ok().flatten()) else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(self.daemon_error(format!("it did not detach within {limit:?}")));
            };
            if !status.success() {
                return Err(self.daemon_error(format!("it exited with {status}")));
            }
            let written = || {
                fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|text| text.trim().parse::<i32>().ok())
                    .map(Pid::from_raw)
            };
            match poll_until(deadline, || {
                written().filter(|&pid| self.daemon_listens(pid))
            }) {
                Some(pid) => Daemon::Detached(pid),
                None => {
                    if let Some(pid) = written() {
                        let _ = kill(pid, Signal::SIGKILL);
                    }
                    return Err(self.daemon_error(format!("it did not listen within {limit:?}")));
                }
            }
        };
        tracing::debug!(lab = %self.id, pid = %up.pid(), "miniupnpd is up");
        *daemon = Some(up);
        Ok(())
    }

    /// Whether `pid` is alive and has its NAT-PMP/PCP and HTTP sockets open, as the config
    /// asks (read from the kernel's socket tables of its network namespace).
    fn daemon_listens(&self, pid: Pid) -> bool {
        if !process_alive(pid) {
            return false;
        }
        let has = |table: &str, port: u16, listening: bool| {
            // IPv4 and IPv6 tables: miniupnpd's HTTP socket is a dual-stack IPv6 one.
            let text = [table, &format!("{table}6")]
                .iter()
                .map(|t| fs::read_to_string(format!("/proc/{pid}/net/{t}")).unwrap_or_default())
                .collect::<String>();
            text.lines().any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = fields
                    .get(1)
                    .and_then(|local| local.rsplit(':').next())
                    .and_then(|hex| u16::from_str_radix(hex, 16).ok());
                local_port == Some(port) && (!listening || fields.get(3) == Some(&"0A"))
            })
        };
        (!self.config.natpmp || has("udp", NATPMP_PORT, false))
            && (!self.config.upnp || has("tcp", UPNP_HTTP_PORT, true))
    }

    fn daemon_error(&self, reason: String) -> LabError {
        LabError::Miniupnpd {
            namespace: self.router.netns.clone(),
            reason,
            log: self.miniupnpd_log(),
        }
    }

    pub(crate) fn signal(&self, signal: Signal) -> Result<()> {
        let daemon = self
            .daemon
            .lock()
            .map_err(|_| LabError::Invalid("the daemon lock is poisoned".into()))?;
        match daemon.as_ref() {
            Some(running) => kill(running.pid(), signal).map_err(|e| {
                error::io_err(format!("cannot signal miniupnpd ({signal})"))(e.into())
            }),
            None => Err(LabError::Invalid("miniupnpd is not running".into())),
        }
    }

    pub(crate) fn signal_and_reap(&self, signal: Signal) -> Result<()> {
        let mut daemon = self
            .daemon
            .lock()
            .map_err(|_| LabError::Invalid("the daemon lock is poisoned".into()))?;
        if let Some(mut running) = daemon.take() {
            let _ = kill(running.pid(), signal);
            if !running.exited_within(Duration::from_secs(3)) {
                let _ = kill(running.pid(), Signal::SIGKILL);
                running.exited_within(Duration::from_secs(3));
            }
        }
        Ok(())
    }
}

/// The running miniupnpd.
#[derive(Debug)]
pub(crate) enum Daemon {
    /// Started with `-d`: our child, logging into the lab's log file.
    Foreground(Child),
    /// Detached by its own fork; known by the pid it wrote.
    Detached(Pid),
}

impl Daemon {
    fn pid(&self) -> Pid {
        match self {
            Daemon::Foreground(child) => Pid::from_raw(child.id() as i32),
            Daemon::Detached(pid) => *pid,
        }
    }

    pub(crate) fn running(&mut self) -> bool {
        match self {
            Daemon::Foreground(child) => matches!(child.try_wait(), Ok(None)),
            Daemon::Detached(pid) => process_alive(*pid),
        }
    }

    /// Waits up to `limit` for the process to end (reaping it if it is our child).
    fn exited_within(&mut self, limit: Duration) -> bool {
        poll_until(Instant::now() + limit, || (!self.running()).then_some(())).is_some()
    }
}

/// Calls `check` every 5 ms until it answers, or until `deadline` has passed (`None`).
fn poll_until<T>(deadline: Instant, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    loop {
        if let Some(answer) = check() {
            return Some(answer);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `pid` names a live process: not gone, and not a zombie its parent (for a
/// detached daemon, init) has yet to reap.
fn process_alive(pid: Pid) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !matches!(rest.trim_start().chars().next(), Some('Z' | 'X')))
    })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
