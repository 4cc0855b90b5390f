//! Hostile LAN hosts: a rogue IGD that answers searches faster than the router, and a host
//! that floods every M-SEARCH with thousands of fake answers.
//!
//! Both stand for what a client meets on shared LANs: another device (a second router in
//! access-point mode, a NAS, malware) claiming to be the gateway, and a device whose SSDP
//! stack answers far too much. A client must keep using the default gateway's IGD.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::ssdp::{bind_group, response, search_target};
use super::{FixtureRouter, HeaderCase, Placement, Profile};
use crate::error::{LabError, Result, io_err};
use crate::{Host, ROUTER_LAN_ADDRESS};

/// The public address a rogue IGD claims to have.
pub const ROGUE_EXTERNAL_ADDRESS: Ipv4Addr = Ipv4Addr::new(44, 0, 0, 99);

/// A rogue IGD on a LAN host: a well-formed IGD:1 that answers every search at once and
/// accepts every mapping, but forwards nothing (it is not the router). Its description,
/// SCPD and control URLs are on its own address.
#[derive(Debug)]
pub struct RogueIgd {
    fixture: FixtureRouter,
}

impl RogueIgd {
    /// The rogue's profile: miniupnpd-like, answering without delay.
    pub fn profile() -> Profile {
        let mut profile = super::base(
            "rogue-igd",
            "Linux/5.10 UPnP/1.1 rogue/1.0",
            "Totally The Gateway",
            "0badc0de-0000-4000-8000-000000000001",
        );
        profile.ssdp.delay = Duration::ZERO;
        profile
    }

    /// Starts the rogue on `host` (a LAN host of the lab).
    ///
    /// # Errors
    /// As [`FixtureRouter::start`].
    pub fn start(host: &Host) -> Result<RogueIgd> {
        let fixture = FixtureRouter::start_at(
            Placement {
                host: host.clone(),
                address: host.address(),
                external: ROGUE_EXTERNAL_ADDRESS,
                forwards: false,
            },
            RogueIgd::profile(),
        )?;
        Ok(RogueIgd { fixture })
    }

    /// Its address (a LAN host's).
    pub fn address(&self) -> Ipv4Addr {
        self.fixture.address()
    }

    /// Its LOCATION.
    pub fn location(&self) -> String {
        self.fixture.location()
    }

    /// What it served: a client that keeps to the gateway sends it no HTTP request.
    pub fn log(&self) -> String {
        self.fixture.log()
    }

    /// How many HTTP requests (GET or POST) it received.
    pub fn http_requests(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.starts_with("GET ") || l.starts_with("POST "))
            .count()
    }
}

/// A LAN host that answers each M-SEARCH with `count` distinct fake responses (LOCATIONs
/// on its own address, where nothing listens), as fast as it can send them.
#[derive(Debug)]
pub struct SsdpFlood {
    address: Ipv4Addr,
    searches: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<Result<()>>>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl SsdpFlood {
    /// Starts the flood on `host`.
    ///
    /// # Errors
    /// [`LabError::Io`] when its socket cannot be opened.
    pub fn start(host: &Host, count: usize) -> Result<SsdpFlood> {
        let address = host.address();
        let searches = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, is_ready) = std::sync::mpsc::channel();
        let thread = {
            let searches = searches.clone();
            let log = log.clone();
            let netns = host.netns.clone();
            host.spawn(move || -> Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(io_err(format!("cannot build a tokio runtime in {netns}")))?;
                runtime.block_on(async move {
                    let socket = match bind_group(address).await {
                        Ok(socket) => {
                            let _ = ready.send(Ok(()));
                            socket
                        }
                        Err(e) => {
                            let _ = ready.send(Err(LabError::Invalid(e.to_string())));
                            return Err(e);
                        }
                    };
                    tokio::select! {
                        () = flood(socket, address, count, searches, log) => {}
                        _ = stopped => {}
                    }
                    Ok(())
                })
            })
        };
        match is_ready.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(SsdpFlood {
                address,
                searches,
                stop: Some(stop),
                thread: Some(thread),
                log,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(LabError::Invalid(
                "the SSDP flood did not start within 10 s".into(),
            )),
        }
    }

    /// Its address.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// How many M-SEARCHes it has answered (each with the whole flood).
    pub fn searches(&self) -> usize {
        self.searches.load(Ordering::Relaxed)
    }

    /// One line per search it answered.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

impl Drop for SsdpFlood {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn flood(
    socket: UdpSocket,
    address: Ipv4Addr,
    count: usize,
    searches: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<String>>>,
) {
    let mut buffer = vec![0u8; 8 * 1024];
    let mut round = 0usize;
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buffer).await else {
            continue;
        };
        let Some(st) = search_target(&buffer[..n]) else {
            continue;
        };
        // The router's own searches (none in the lab) and our echoes are not answered.
        if from.ip() == std::net::IpAddr::V4(address)
            || from.ip() == std::net::IpAddr::V4(ROUTER_LAN_ADDRESS)
        {
            continue;
        }
        round += 1;
        searches.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut log) = log.lock() {
            log.push(format!("M-SEARCH {st} from {from}: {count} fake answers"));
        }
        let target = SocketAddrV4::new(
            match from.ip() {
                std::net::IpAddr::V4(ip) => ip,
                std::net::IpAddr::V6(_) => continue,
            },
            from.port(),
        );
        for i in 0..count {
            let datagram = response(
                HeaderCase::Upper,
                &format!(
                    "http://{address}:{}/fake/{round}/{i}.xml",
                    20000 + (i % 1000)
                ),
                "Linux UPnP/1.0 flood/1.0",
                &st,
                &format!("uuid:f100d000-0000-4000-8000-{i:012x}::{st}"),
            );
            let _ = socket.send_to(datagram.as_bytes(), target).await;
        }
    }
}
