//! A real STUN server on the WAN host: coturn (`turnserver`), STUN only, set up for RFC 5780
//! NAT behaviour discovery, started with a lab that asks for it ([`LabConfig::with_stun`](crate::LabConfig::with_stun))
//! and stopped with the lab.
//!
//! coturn answers CHANGE-REQUEST and sends OTHER-ADDRESS only when it listens on two
//! addresses of one family and on an alternate port, so the WAN host gets a second address
//! ([`STUN_ALTERNATE_ADDRESS`], and [`STUN_ALTERNATE_ADDRESS_V6`] in a dual-stack lab) and
//! coturn listens on [`STUN_PORT`] and [`STUN_ALTERNATE_PORT`] on both. Its configuration,
//! user database (empty: no TURN), pid and log files live in the lab's directory; no TLS,
//! DTLS, CLI or relay.

use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::topology::write_file;
use crate::{Lab, LabError, Result, WAN_HOST_ADDRESS, WAN_HOST_ADDRESS_V6};

/// The STUN port coturn listens on (on both of the WAN host's addresses).
pub const STUN_PORT: u16 = 3478;
/// coturn's alternate port (RFC 5780), where CHANGE-REQUEST's "change port" answers come
/// from.
pub const STUN_ALTERNATE_PORT: u16 = 3479;
/// The WAN host's second IPv4 address, where CHANGE-REQUEST's "change IP" answers come from
/// (OTHER-ADDRESS of a request to [`WAN_HOST_ADDRESS`]).
pub const STUN_ALTERNATE_ADDRESS: Ipv4Addr = Ipv4Addr::new(44, 0, 0, 3);
/// The WAN host's second IPv6 address in a dual-stack lab (`2001:db8:77::3`).
pub const STUN_ALTERNATE_ADDRESS_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 0, 0, 0, 0, 3);

/// How long coturn may take to open its sockets.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The running coturn; killed and reaped when dropped.
#[derive(Debug)]
pub(crate) struct StunServer {
    child: Child,
}

impl Drop for StunServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Lab {
    /// The STUN server's main address, `44.0.0.2:3478` (the WAN host), or `None` in a lab
    /// built without [`LabConfig::with_stun`](crate::LabConfig::with_stun). A Binding response
    /// from it carries OTHER-ADDRESS [`Lab::stun_alternate`].
    pub fn stun_server(&self) -> Option<SocketAddr> {
        self.config
            .stun
            .then_some(SocketAddr::from((WAN_HOST_ADDRESS, STUN_PORT)))
    }

    /// The STUN server's other address and port (RFC 5780 OTHER-ADDRESS),
    /// `44.0.0.3:3479`, or `None` without [`LabConfig::with_stun`](crate::LabConfig::with_stun).
    pub fn stun_alternate(&self) -> Option<SocketAddr> {
        self.config.stun.then_some(SocketAddr::from((
            STUN_ALTERNATE_ADDRESS,
            STUN_ALTERNATE_PORT,
        )))
    }

    /// The STUN server's IPv6 address, `[2001:db8:77::2]:3478`, in a dual-stack lab with a
    /// STUN server; `None` otherwise. There is no NAT on IPv6: it sees the LAN host's own
    /// address.
    pub fn stun_server_v6(&self) -> Option<SocketAddr> {
        (self.config.stun && self.config.ipv6)
            .then_some(SocketAddr::from((WAN_HOST_ADDRESS_V6, STUN_PORT)))
    }

    /// The STUN server's other IPv6 address and port, `[2001:db8:77::3]:3479`, in a
    /// dual-stack lab with a STUN server; `None` otherwise.
    pub fn stun_alternate_v6(&self) -> Option<SocketAddr> {
        (self.config.stun && self.config.ipv6).then_some(SocketAddr::from((
            STUN_ALTERNATE_ADDRESS_V6,
            STUN_ALTERNATE_PORT,
        )))
    }

    /// What coturn has logged so far (for failure messages); empty without a STUN server.
    pub fn stun_log(&self) -> String {
        fs::read_to_string(self.dir.join("turnserver.log")).unwrap_or_default()
    }

    /// Whether coturn is running.
    pub fn stun_running(&self) -> bool {
        self.stun.lock().is_ok_and(|mut server| {
            server
                .as_mut()
                .is_some_and(|server| matches!(server.child.try_wait(), Ok(None)))
        })
    }

    /// Stops coturn (a STUN server that stopped answering); [`Lab::start_stun_server`]
    /// starts it again. Does nothing when it is not running.
    pub fn stop_stun_server(&self) -> Result<()> {
        let stopped = self
            .stun
            .lock()
            .map_err(|_| LabError::Invalid("the STUN server lock is poisoned".into()))?
            .take();
        // Dropping it kills and reaps it.
        drop(stopped);
        Ok(())
    }

    /// Starts coturn again after [`Lab::stop_stun_server`] and waits until it listens on
    /// every address and port. Does nothing when it runs; fails in a lab built without
    /// [`LabConfig::with_stun`](crate::LabConfig::with_stun).
    pub fn start_stun_server(&self) -> Result<()> {
        if !self.config.stun {
            return Err(LabError::Invalid(
                "start_stun_server needs a lab built with_stun".into(),
            ));
        }
        let mut slot = self
            .stun
            .lock()
            .map_err(|_| LabError::Invalid("the STUN server lock is poisoned".into()))?;
        if slot
            .as_mut()
            .is_some_and(|server| matches!(server.child.try_wait(), Ok(None)))
        {
            return Ok(());
        }
        *slot = Some(self.spawn_stun_server()?);
        Ok(())
    }

    /// The addresses coturn listens on: both of the WAN host's IPv4 addresses, and both
    /// IPv6 ones in a dual-stack lab.
    fn stun_addresses(&self) -> Vec<IpAddr> {
        let mut addresses = vec![
            IpAddr::V4(WAN_HOST_ADDRESS),
            IpAddr::V4(STUN_ALTERNATE_ADDRESS),
        ];
        if self.config.ipv6 {
            addresses.push(IpAddr::V6(WAN_HOST_ADDRESS_V6));
            addresses.push(IpAddr::V6(STUN_ALTERNATE_ADDRESS_V6));
        }
        addresses
    }

    /// Gives the WAN host its second address(es), writes coturn's configuration and starts
    /// it, when the configuration asks for a STUN server.
    pub(crate) fn set_up_stun_server(&self) -> Result<()> {
        if !self.config.stun {
            return Ok(());
        }
        let interface = self.wan.interface.as_str();
        self.wan.exec(
            "ip",
            &[
                "addr",
                "add",
                &format!("{STUN_ALTERNATE_ADDRESS}/24"),
                "dev",
                interface,
            ],
        )?;
        if self.config.ipv6 {
            self.wan.exec(
                "ip",
                &[
                    "-6",
                    "addr",
                    "add",
                    &format!("{STUN_ALTERNATE_ADDRESS_V6}/64"),
                    "dev",
                    interface,
                    "nodad",
                ],
            )?;
        }
        let log_path = self.dir.join("turnserver.log");
        let userdb = self.dir.join("turndb");
        let pid_file = self.dir.join("turnserver.pid");
        write_file(
            &self.dir.join("turnserver.conf"),
            &turnserver_conf(
                &self.stun_addresses(),
                &userdb.to_string_lossy(),
                &log_path.to_string_lossy(),
                &pid_file.to_string_lossy(),
            ),
        )?;
        self.start_stun_server()
    }

    /// Spawns coturn with the lab's configuration and waits until it listens on every
    /// address and port.
    fn spawn_stun_server(&self) -> Result<StunServer> {
        let conf_path = self.dir.join("turnserver.conf");
        let addresses = self.stun_addresses();
        let stray = self.dir.join("turnserver.out");
        let out = fs::File::create(&stray).map_err(|source| LabError::File {
            path: stray.clone(),
            source,
        })?;
        let err = out.try_clone().map_err(|source| LabError::File {
            path: stray.clone(),
            source,
        })?;
        let mut child = self
            .wan
            .command("turnserver")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| self.stun_error(format!("cannot spawn turnserver: {e}")))?;
        let pid = child.id();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(self.stun_error(format!("turnserver exited with {status}")));
            }
            if listens_on_all(pid, &addresses) {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(self.stun_error("turnserver did not listen within 10 s".into()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        tracing::debug!(lab = %self.id, pid, "coturn is up");
        Ok(StunServer { child })
    }

    /// Appends miniupnpd's STUN options to its configuration file, with
    /// [`LabConfig::router_stun`](crate::LabConfig::router_stun).
    pub(crate) fn configure_router_stun(&self) -> Result<()> {
        if !self.config.router_stun {
            return Ok(());
        }
        if !self.config.stun {
            return Err(LabError::Invalid(
                "router_stun needs a STUN server in the lab (stun)".into(),
            ));
        }
        let path = self.dir.join("miniupnpd.conf");
        let mut conf = fs::read_to_string(&path).map_err(|source| LabError::File {
            path: path.clone(),
            source,
        })?;
        conf.push_str(&format!(
            "ext_perform_stun=yes\next_stun_host={WAN_HOST_ADDRESS}\next_stun_port={STUN_PORT}\n"
        ));
        write_file(&path, &conf)
    }

    fn stun_error(&self, reason: String) -> LabError {
        let stray = fs::read_to_string(self.dir.join("turnserver.out")).unwrap_or_default();
        LabError::Invalid(format!(
            "the STUN server did not start in {}: {reason}; its log:\n{}{stray}",
            self.wan.netns,
            self.stun_log()
        ))
    }
}

/// coturn's configuration: STUN only on every address at both ports, nothing else.
fn turnserver_conf(addresses: &[IpAddr], userdb: &str, log: &str, pid_file: &str) -> String {
    let mut conf = String::new();
    for address in addresses {
        conf.push_str(&format!("listening-ip={address}\n"));
    }
    conf.push_str(&format!(
        "listening-port={STUN_PORT}\n\
         alt-listening-port={STUN_ALTERNATE_PORT}\n\
         stun-only\n\
         no-tls\n\
         no-dtls\n\
         no-cli\n\
         no-tcp-relay\n\
         userdb={userdb}\n\
         log-file={log}\n\
         simple-log\n\
         no-stdout-log\n\
         pidfile={pid_file}\n"
    ));
    conf
}

/// Whether process `pid` has a UDP socket bound to every address at both ports (read from
/// the socket tables of its namespace).
fn listens_on_all(pid: u32, addresses: &[IpAddr]) -> bool {
    let udp = fs::read_to_string(format!("/proc/{pid}/net/udp")).unwrap_or_default();
    let udp6 = fs::read_to_string(format!("/proc/{pid}/net/udp6")).unwrap_or_default();
    let bound: Vec<String> = udp
        .lines()
        .chain(udp6.lines())
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1).map(str::to_owned))
        .collect();
    addresses.iter().all(|address| {
        [STUN_PORT, STUN_ALTERNATE_PORT].iter().all(|port| {
            let wanted = format!("{}:{port:04X}", proc_hex(*address));
            bound.contains(&wanted)
        })
    })
}

/// An address as `/proc/net/udp{,6}` prints it: the network-order bytes read as native
/// 32-bit words.
fn proc_hex(address: IpAddr) -> String {
    let words: Vec<[u8; 4]> = match address {
        IpAddr::V4(v4) => vec![v4.octets()],
        IpAddr::V6(v6) => v6
            .octets()
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect(),
    };
    words.iter().fold(String::new(), |mut hex, word| {
        let _ = write!(hex, "{:08X}", u32::from_ne_bytes(*word));
        hex
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_listens_everywhere_for_stun_only() {
        let conf = turnserver_conf(
            &[
                IpAddr::V4(WAN_HOST_ADDRESS),
                IpAddr::V4(STUN_ALTERNATE_ADDRESS),
            ],
            "/tmp/x/turndb",
            "/tmp/x/turnserver.log",
            "/tmp/x/turnserver.pid",
        );
        assert!(conf.contains("listening-ip=44.0.0.2\nlistening-ip=44.0.0.3\n"));
        assert!(conf.contains("alt-listening-port=3479\n"));
        assert!(conf.contains("stun-only\n"));
        assert!(conf.contains("no-tls\nno-dtls\nno-cli\n"));
    }

    #[test]
    fn proc_hex_matches_the_kernels_format() {
        if cfg!(target_endian = "little") {
            assert_eq!(proc_hex(IpAddr::V4(WAN_HOST_ADDRESS)), "0200002C");
            assert_eq!(
                proc_hex(IpAddr::V6(WAN_HOST_ADDRESS_V6)),
                "B80D0120000077000000000002000000"
            );
        }
    }
}
