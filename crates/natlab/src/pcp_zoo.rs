//! The PCP zoo: fixture PCP servers that answer the way real ones other than miniupnpd do,
//! run on the lab's router (UDP 5351) instead of miniupnpd's NAT-PMP/PCP.
//!
//! Each [`PcpBehaviour`] stands for servers met in the field:
//!
//! - [`PcpBehaviour::RefuseMaps`]: every MAP refused with one result code, the error answer
//!   still carrying a non-zero external address, port and lifetime. RFC 6887 §7.2 has an
//!   error answer copy the request's opcode data and grants nothing with it, but servers
//!   fill the address fields anyway: miniupnpd puts its external address in its error
//!   answers (natkit once read it from there), and issue 17 reports a PCP server answering
//!   NETWORK_FAILURE and CANNOT_PROVIDE_EXTERNAL with an address that `natctl external-ip`
//!   then printed. The lifetime is RFC 6887 §7.4's retry hint: 30 s for a short lifetime
//!   error, 30 min for a long one.
//! - [`PcpBehaviour::Version1Only`]: a server built on the PCP drafts before version 2.
//!   RFC 6886 §1.1 records that version 1 "was used by a vendor that shipped products" with
//!   a protocol incompatible with the standard, and the drafts bumped the number to 2 to
//!   tell those implementations apart (offbynull/portmapper issue 3 quotes the draft
//!   changelog and declines version 1 for that reason). Every request not in version 1 is
//!   answered UNSUPP_VERSION in version 1, the 24-byte header alone, as RFC 6887 §9 has a
//!   server name the version it speaks.
//! - [`PcpBehaviour::Deletions`]: deletions (MAP, lifetime 0) answered with one result code,
//!   SUCCESS by default: what an RFC 6887 §15 server answers whether or not it held the
//!   mapping. miniupnpd differs (NO_RESOURCES for a mapping it does not hold, NOT_AUTHORIZED
//!   for one made with another nonce, the subject of miniupnp issue 186), and these answers
//!   let a test prove natkit assumes neither. A MAP asking for a lifetime is refused
//!   NOT_AUTHORIZED: this fixture makes no mappings.
//!
//! A NAT-PMP request (version 0) is answered as a PCP-only server does (RFC 6887 §9): PCP
//! UNSUPP_VERSION, version 2 (tailscale issue 2563 logged such an answer from a router in
//! the field); by the version 1 server, in version 1.
//!
//! The answers are assembled byte by byte here, not with natpmp-proto's codec, so a codec
//! bug cannot hide itself. The fixture logs one line per datagram it receives
//! ([`PcpFixture::log`]); a test that must prove nothing was sent reads it.
//!
//! # Example
//!
//! ```no_run
//! use natlab::pcp_zoo::{PcpBehaviour, PcpZooLab};
//!
//! let Some(zoo) = PcpZooLab::for_test(PcpBehaviour::Version1Only, false) else { return };
//! // zoo derefs to the Lab: run natctl on zoo.lan(), then read zoo.fixture().log().
//! assert!(zoo.fixture().log().is_empty());
//! ```

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{LabError, Result, io_err};
use crate::{Lab, LabConfig, NATPMP_PORT};

/// PCP result codes the fixtures answer with (RFC 6887 §7.4).
pub mod code {
    /// SUCCESS.
    pub const SUCCESS: u8 = 0;
    /// UNSUPP_VERSION.
    pub const UNSUPP_VERSION: u8 = 1;
    /// NOT_AUTHORIZED (long lifetime).
    pub const NOT_AUTHORIZED: u8 = 2;
    /// NETWORK_FAILURE (short lifetime).
    pub const NETWORK_FAILURE: u8 = 7;
    /// NO_RESOURCES (short lifetime).
    pub const NO_RESOURCES: u8 = 8;
    /// CANNOT_PROVIDE_EXTERNAL (short lifetime).
    pub const CANNOT_PROVIDE_EXTERNAL: u8 = 11;
}

/// How a fixture PCP server answers; see the module documentation for the servers each
/// stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcpBehaviour {
    /// Every MAP (and PEER) answered with this error result code, with the lab's external
    /// address, the suggested (or internal) port and a retry lifetime in the answer.
    RefuseMaps(u8),
    /// Speaks PCP version 1 only: UNSUPP_VERSION in version 1 to everything else.
    Version1Only,
    /// Deletions answered with this result code (lifetime 0 on SUCCESS, else a retry
    /// lifetime); MAPs asking for a lifetime refused NOT_AUTHORIZED.
    Deletions(u8),
}

/// The lifetime an error answer carries: RFC 6887 §7.4's short lifetime errors (7, 8, 10,
/// 11) last 30 s, the others 30 min.
pub fn error_lifetime(code: u8) -> u32 {
    if matches!(code, 7 | 8 | 10 | 11) {
        30
    } else {
        1800
    }
}

/// A fixture PCP server on the lab's router, serving UDP 5351 on every router address
/// (IPv4 and, in a dual-stack lab, IPv6). Stops when dropped.
#[derive(Debug)]
pub struct PcpFixture {
    behaviour: PcpBehaviour,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<Result<()>>>>,
}

impl PcpFixture {
    /// Starts a server behaving as `behaviour` in the lab's router namespace. Run it on a
    /// lab without miniupnpd's NAT-PMP/PCP ([`LabConfig::natpmp`] off), which holds port
    /// 5351 otherwise.
    ///
    /// # Errors
    /// [`LabError::Io`] when the port cannot be bound in the router namespace.
    pub fn start(lab: &Lab, behaviour: PcpBehaviour) -> Result<PcpFixture> {
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let external = lab.external_address();
        let (ready, is_ready) = std::sync::mpsc::channel();
        let thread = {
            let log = log.clone();
            let stop = stop.clone();
            lab.router().spawn(move || -> Result<()> {
                let socket = match bind() {
                    Ok(socket) => {
                        let _ = ready.send(Ok(()));
                        socket
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return Ok(());
                    }
                };
                serve(&socket, behaviour, external, &log, &stop)
            })
        };
        match is_ready.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(PcpFixture {
                behaviour,
                log,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                match thread.join() {
                    Ok(Ok(Err(e)) | Err(e)) => Err(e),
                    _ => Err(LabError::Invalid(
                        "the PCP fixture did not start within 10 s".into(),
                    )),
                }
            }
        }
    }

    /// How it answers.
    pub fn behaviour(&self) -> PcpBehaviour {
        self.behaviour
    }

    /// One line per datagram received so far: its source, size, version, opcode and
    /// lifetime, and the result code answered.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for PcpFixture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds UDP 5351 for both families when IPv6 is up in the namespace (a dual-stack
/// socket), else for IPv4 alone.
fn bind() -> Result<UdpSocket> {
    let socket = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, NATPMP_PORT))
        .or_else(|_| UdpSocket::bind((Ipv4Addr::UNSPECIFIED, NATPMP_PORT)))
        .map_err(io_err(format!(
            "cannot bind the PCP fixture to port {NATPMP_PORT}"
        )))?;
    // Wakes now and then to notice the stop flag.
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(io_err("cannot set the PCP fixture's read timeout"))?;
    Ok(socket)
}

fn serve(
    socket: &UdpSocket,
    behaviour: PcpBehaviour,
    external: Ipv4Addr,
    log: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) -> Result<()> {
    // The epoch: seconds since this server's mapping state began.
    let started = std::time::Instant::now();
    let mut buffer = [0u8; 1100];
    while !stop.load(Ordering::Relaxed) {
        let (length, source) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(io_err("the PCP fixture cannot receive")(e)),
        };
        let request = buffer.get(..length).unwrap_or(&[]);
        let epoch = u32::try_from(started.elapsed().as_secs()).unwrap_or(u32::MAX);
        let answer = answer(behaviour, request, external, epoch);
        let line = format!(
            "from {source}: {length} bytes, version {}, opcode {}, lifetime {} -> {}",
            request.first().copied().unwrap_or(0),
            request.get(1).map_or(0, |b| b & 0x7f),
            word(request, 4).unwrap_or(0),
            match &answer {
                Some(bytes) => format!(
                    "version {} result {}",
                    bytes.first().copied().unwrap_or(0),
                    bytes.get(3).copied().unwrap_or(0)
                ),
                None => "no answer".to_owned(),
            }
        );
        tracing::debug!("{line}");
        if let Ok(mut log) = log.lock() {
            log.push(line);
        }
        if let Some(bytes) = answer {
            send(socket, &bytes, source)?;
        }
    }
    Ok(())
}

fn send(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) -> Result<()> {
    socket
        .send_to(bytes, to)
        .map(|_| ())
        .map_err(io_err(format!("the PCP fixture cannot answer {to}")))
}

fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

/// The answer to `request`, or `None` for what is not a request at all (too short, a
/// response).
fn answer(
    behaviour: PcpBehaviour,
    request: &[u8],
    external: Ipv4Addr,
    epoch: u32,
) -> Option<Vec<u8>> {
    let (&version, &opcode) = (request.first()?, request.get(1)?);
    if opcode & 0x80 != 0 {
        return None;
    }
    if behaviour == PcpBehaviour::Version1Only {
        if version == 1 {
            // A version 1 request to the version 1 server: it has nothing to grant either.
            return Some(header(1, opcode, code::NOT_AUTHORIZED, 1800, epoch));
        }
        return Some(header(1, opcode, code::UNSUPP_VERSION, 1800, epoch));
    }
    if version != 2 || request.len() < 24 {
        // NAT-PMP or another version: this server speaks version 2 (RFC 6887 §9).
        return Some(header(2, opcode, code::UNSUPP_VERSION, 1800, epoch));
    }
    let lifetime = word(request, 4)?;
    let result = match (behaviour, opcode) {
        // ANNOUNCE: nothing to refuse.
        (_, 0) => code::SUCCESS,
        (PcpBehaviour::RefuseMaps(result), _) => result,
        (PcpBehaviour::Deletions(result), 1) if lifetime == 0 => result,
        (PcpBehaviour::Deletions(_), _) => code::NOT_AUTHORIZED,
        (PcpBehaviour::Version1Only, _) => code::UNSUPP_VERSION,
    };
    let answer_lifetime = if result == code::SUCCESS {
        0
    } else {
        error_lifetime(result)
    };
    // RFC 6887 §7.2: the request with the header changed, opcode data and options kept.
    let mut bytes = request.to_vec();
    bytes[..24].copy_from_slice(&header(2, opcode, result, answer_lifetime, epoch));
    if matches!(opcode, 1 | 2) && bytes.len() >= 60 {
        if let PcpBehaviour::RefuseMaps(_) = behaviour {
            // What a CGN puts there anyway: the port asked for (or the internal one) on
            // its external address. It grants nothing.
            let internal = [bytes[40], bytes[41]];
            if bytes[42..44] == [0, 0] {
                bytes[42..44].copy_from_slice(&internal);
            }
            let mut address = [0u8; 16];
            address[10] = 0xff;
            address[11] = 0xff;
            address[12..].copy_from_slice(&external.octets());
            bytes[44..60].copy_from_slice(&address);
        }
    }
    Some(bytes)
}

/// A 24-byte response header: version, R bit and opcode, reserved, result code, lifetime,
/// epoch, 12 reserved bytes. The layout versions 1 and 2 share.
fn header(version: u8, opcode: u8, result: u8, lifetime: u32, epoch: u32) -> Vec<u8> {
    let mut bytes = vec![version, 0x80 | (opcode & 0x7f), 0, result];
    bytes.extend_from_slice(&lifetime.to_be_bytes());
    bytes.extend_from_slice(&epoch.to_be_bytes());
    bytes.resize(24, 0);
    bytes
}

/// A lab whose router runs a [`PcpFixture`] and no miniupnpd at all (neither NAT-PMP/PCP nor
/// UPnP). It derefs to the [`Lab`]; the client host is [`Lab::lan`]. The fixture drops
/// before the lab.
#[derive(Debug)]
pub struct PcpZooLab {
    fixture: PcpFixture,
    lab: Lab,
}

impl PcpZooLab {
    /// Starts a lab (dual-stack when `ipv6`) with `behaviour` on the router, or skips as
    /// [`Lab::for_test`] does (`None`). Panics when the fixture cannot start although the
    /// prerequisites are met.
    pub fn for_test(behaviour: PcpBehaviour, ipv6: bool) -> Option<PcpZooLab> {
        let lab = Lab::for_test(LabConfig {
            natpmp: false,
            upnp: false,
            ipv6,
            ..LabConfig::default()
        })?;
        match PcpFixture::start(&lab, behaviour) {
            Ok(fixture) => Some(PcpZooLab { fixture, lab }),
            Err(e) => panic!("the PCP fixture did not start: {e}"),
        }
    }

    /// The lab.
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The fixture server.
    pub fn fixture(&self) -> &PcpFixture {
        &self.fixture
    }
}

impl Deref for PcpZooLab {
    type Target = Lab;

    fn deref(&self) -> &Lab {
        &self.lab
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXTERNAL: Ipv4Addr = Ipv4Addr::new(44, 0, 0, 1);

    /// A PCP MAP request for TCP 4200, lifetime 600 s, from 192.168.77.10.
    fn map_request(lifetime: u32) -> Vec<u8> {
        let mut bytes = vec![2, 1, 0, 0];
        bytes.extend_from_slice(&lifetime.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 77, 10]);
        bytes.extend_from_slice(&[7; 12]); // nonce
        bytes.extend_from_slice(&[6, 0, 0, 0, 0x10, 0x68, 0, 0]); // TCP, 4200, any port
        bytes.extend_from_slice(&[0; 16]);
        bytes
    }

    #[test]
    fn a_refusal_carries_an_address_and_a_retry_lifetime() {
        let answer = answer(
            PcpBehaviour::RefuseMaps(code::NETWORK_FAILURE),
            &map_request(600),
            EXTERNAL,
            5,
        )
        .unwrap();
        assert_eq!(answer.len(), 60);
        assert_eq!(answer[..4], [2, 0x81, 0, 7]);
        assert_eq!(word(&answer, 4), Some(30));
        assert_eq!(word(&answer, 8), Some(5));
        assert_eq!(answer[24..36], [7; 12]);
        assert_eq!(answer[42..44], [0x10, 0x68]);
        assert_eq!(answer[56..60], [44, 0, 0, 1]);
    }

    #[test]
    fn the_version_1_server_answers_every_version_in_its_own() {
        for request in [map_request(600), vec![0, 0]] {
            let answer = answer(PcpBehaviour::Version1Only, &request, EXTERNAL, 0).unwrap();
            assert_eq!(answer.len(), 24);
            assert_eq!(answer[0], 1);
            assert_eq!(answer[1], 0x80 | request[1]);
            assert_eq!(answer[3], code::UNSUPP_VERSION);
        }
    }

    #[test]
    fn deletions_get_the_chosen_code_and_maps_are_refused() {
        let behaviour = PcpBehaviour::Deletions(code::SUCCESS);
        let deleted = answer(behaviour, &map_request(0), EXTERNAL, 0).unwrap();
        assert_eq!((deleted[3], word(&deleted, 4)), (code::SUCCESS, Some(0)));
        let refused = answer(behaviour, &map_request(600), EXTERNAL, 0).unwrap();
        assert_eq!(refused[3], code::NOT_AUTHORIZED);
        // NAT-PMP gets PCP's UNSUPP_VERSION; a response is not answered.
        assert_eq!(
            answer(behaviour, &[0, 1, 0, 0], EXTERNAL, 0).unwrap()[..4],
            [2, 0x81, 0, 1]
        );
        assert_eq!(answer(behaviour, &[2, 0x81], EXTERNAL, 0), None);
    }
}
