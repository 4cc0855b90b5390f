//! A miniupnpd box other than the lab's router: the second uplink's router, a second IGD on
//! the LAN, a container or VM answering behind a bridge. Each runs in a namespace of its own
//! with its own ruleset, configuration, lease and log files.

use std::fs::{self, OpenOptions};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use crate::daemon::MINIUPNPD_LAUNCH;
use crate::topology::write_file;
use crate::{Host, LabError, Pinhole, Redirection, Result, router, wait};

/// What an [`Igd`] is built from.
#[derive(Debug, Clone)]
pub(crate) struct IgdSpec {
    /// Its namespace (already created, interfaces addressed and up).
    pub(crate) host: Host,
    /// The interface miniupnpd listens on (`listening_ip`).
    pub(crate) lan_interface: &'static str,
    /// Its address on that interface.
    pub(crate) lan_address: Ipv4Addr,
    /// The interface miniupnpd takes as its WAN side (`ext_ifname`).
    pub(crate) wan_interface: &'static str,
    /// The address on that interface (what it reports as its external address).
    pub(crate) external_address: Ipv4Addr,
    /// The LAN prefix miniupnpd maps for (`allow` rule), e.g. `192.168.78.0/24`.
    pub(crate) allowed: String,
    /// NAT-PMP/PCP and UPnP switches, `min_lifetime`.
    pub(crate) natpmp: bool,
    pub(crate) upnp: bool,
    pub(crate) min_lifetime: u32,
    /// A directory of its own for its files.
    pub(crate) dir: PathBuf,
    /// Makes its UPnP UUID unique.
    pub(crate) uuid_suffix: u16,
}

/// A running (or stopped) extra miniupnpd box.
#[derive(Debug)]
pub(crate) struct Igd {
    pub(crate) spec: IgdSpec,
    daemon: Mutex<Option<Child>>,
}

impl Igd {
    /// Loads the ruleset, turns forwarding on, writes the configuration and starts miniupnpd.
    pub(crate) fn start(spec: IgdSpec) -> Result<Igd> {
        fs::create_dir_all(&spec.dir).map_err(|source| LabError::File {
            path: spec.dir.clone(),
            source,
        })?;
        let ruleset = spec.dir.join("ruleset.nft");
        write_file(
            &ruleset,
            &ruleset_for(spec.lan_interface, spec.wan_interface),
        )?;
        spec.host.exec("nft", &["-f", &ruleset.to_string_lossy()])?;
        spec.host
            .exec("sh", &["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])?;
        write_file(&spec.dir.join("miniupnpd.conf"), &conf_for(&spec))?;
        let igd = Igd {
            spec,
            daemon: Mutex::new(None),
        };
        igd.start_daemon()?;
        Ok(igd)
    }

    /// Starts miniupnpd (foreground, debug log into `miniupnpd.log`) and waits until it
    /// listens; a no-op while it runs.
    pub(crate) fn start_daemon(&self) -> Result<()> {
        if !self.spec.natpmp && !self.spec.upnp {
            return Ok(());
        }
        let mut daemon = self.lock()?;
        if daemon
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
        {
            return Ok(());
        }
        let log_path = self.spec.dir.join("miniupnpd.log");
        let open_log = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .map_err(|source| LabError::File {
                    path: log_path.clone(),
                    source,
                })
        };
        let log = open_log()?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0) as usize;
        let mut child = self
            .spec
            .host
            .command("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(MINIUPNPD_LAUNCH)
            .arg("miniupnpd")
            .arg("-d")
            .arg("-f")
            .arg(self.spec.dir.join("miniupnpd.conf"))
            .arg("-P")
            .arg(self.spec.dir.join("miniupnpd.pid"))
            .stdin(Stdio::null())
            .stdout(open_log()?)
            .stderr(log)
            .spawn()
            .map_err(|e| self.error(format!("cannot spawn: {e}")))?;
        let mut wanted = Vec::new();
        if self.spec.natpmp {
            wanted.push("Listening for NAT-PMP/PCP traffic");
        }
        if self.spec.upnp {
            wanted.push("HTTP listening on port");
        }
        let outcome = wait::poll(Duration::from_secs(10), || {
            let text = fs::read(&log_path).unwrap_or_default();
            let new = String::from_utf8_lossy(text.get(log_start..).unwrap_or(&[]));
            if wanted.iter().all(|w| new.contains(w)) {
                return Some(Ok(()));
            }
            child.try_wait().ok().flatten().map(Err)
        });
        match outcome {
            Some(Ok(())) => {
                *daemon = Some(child);
                Ok(())
            }
            Some(Err(status)) => Err(self.error(format!("it exited with {status}"))),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(self.error("it did not listen within 10 s".into()))
            }
        }
    }

    /// Stops miniupnpd (SIGTERM, then SIGKILL after 3 s); its rules stay.
    pub(crate) fn stop_daemon(&self) -> Result<()> {
        let mut daemon = self.lock()?;
        if let Some(mut child) = daemon.take() {
            stop_child(&mut child);
        }
        Ok(())
    }

    /// Lets miniupnpd outlive this value (a kept lab): the handle is dropped, the process
    /// left alone.
    pub(crate) fn forget_daemon(&self) {
        if let Ok(mut daemon) = self.daemon.lock() {
            daemon.take();
        }
    }

    /// Whether miniupnpd runs.
    pub(crate) fn running(&self) -> bool {
        self.lock()
            .map(|mut d| d.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None))))
            .unwrap_or(false)
    }

    /// The redirections it holds, from its nftables rules.
    pub(crate) fn redirections(&self) -> Result<Vec<Redirection>> {
        let output = self.spec.host.exec(
            "nft",
            &["list", "chain", "inet", "filter", "prerouting_miniupnpd"],
        )?;
        Ok(router::parse_redirections(&String::from_utf8_lossy(
            &output.stdout,
        )))
    }

    /// The IPv6 pinholes it holds (none in these IPv4-only boxes unless asked over IPv6).
    pub(crate) fn pinholes(&self) -> Result<Vec<Pinhole>> {
        let output = self
            .spec
            .host
            .exec("nft", &["list", "chain", "inet", "filter", "miniupnpd"])?;
        Ok(router::parse_pinholes(&String::from_utf8_lossy(
            &output.stdout,
        )))
    }

    /// What its miniupnpd logged.
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(self.spec.dir.join("miniupnpd.log")).unwrap_or_default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Option<Child>>> {
        self.daemon
            .lock()
            .map_err(|_| LabError::Invalid("a daemon lock is poisoned".into()))
    }

    fn error(&self, reason: String) -> LabError {
        LabError::Miniupnpd {
            namespace: self.spec.host.netns.clone(),
            reason,
            log: self.log(),
        }
    }
}

impl Drop for Igd {
    fn drop(&mut self) {
        if let Ok(mut daemon) = self.daemon.lock() {
            if let Some(mut child) = daemon.take() {
                stop_child(&mut child);
            }
        }
    }
}

/// SIGTERM (miniupnpd saves its leases), SIGKILL if it lingers; reaps the child. The child is
/// `ip netns exec` exec'd into `unshare`, itself exec'd into `sh` and then miniupnpd, so its
/// pid is miniupnpd's.
fn stop_child(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let gone = wait::poll(Duration::from_secs(3), || {
        child.try_wait().ok().flatten().map(|_| ())
    });
    if gone.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The tables and chains miniupnpd 2.3 (nftables build) fills, a masquerade rule toward the
/// WAN side and a forward policy letting LAN-initiated traffic out: the lab router's ruleset
/// (`router::ruleset`) with this box's interface names.
fn ruleset_for(lan: &str, wan: &str) -> String {
    format!(
        r#"table inet filter {{
  chain forward {{
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "{lan}" oifname "{lan}" accept
    jump miniupnpd
    iifname "{lan}" oifname "{wan}" accept
  }}
  chain miniupnpd {{
  }}
  chain prerouting {{
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }}
  chain postrouting {{
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    meta nfproto ipv4 oifname "{wan}" masquerade
  }}
  chain prerouting_miniupnpd {{
  }}
  chain postrouting_miniupnpd {{
  }}
}}
"#
    )
}

/// miniupnpd.conf for this box (the lab router's, with this box's interfaces and prefix).
fn conf_for(spec: &IgdSpec) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    format!(
        "ext_ifname={wan}\n\
         listening_ip={lan}\n\
         http_port=5000\n\
         enable_natpmp={natpmp}\n\
         enable_upnp={upnp}\n\
         secure_mode=yes\n\
         system_uptime=no\n\
         lease_file={lease}\n\
         uuid=6e61746c-6162-4000-8000-0000000{suffix:05x}\n\
         min_lifetime={min}\n\
         max_lifetime=86400\n\
         notify_interval=30\n\
         allow 1024-65535 {allowed} 1-65535\n\
         deny 0-65535 0.0.0.0/0 0-65535\n",
        wan = spec.wan_interface,
        lan = spec.lan_interface,
        natpmp = yes_no(spec.natpmp),
        upnp = yes_no(spec.upnp),
        lease = spec.dir.join("leases").to_string_lossy(),
        suffix = spec.uuid_suffix,
        min = spec.min_lifetime,
        allowed = spec.allowed,
    )
}
