//! The NETLINK_ROUTE socket: sends one request built by the `netlink` codec to the kernel
//! and reads the answer, bounded in size, count and time, keeping only the messages that
//! answer this request (sequence number and port id checked, sender the kernel).
//!
//! The socket is never bound: the kernel gives it a port id on its first send (Android 11
//! and later refuse `bind(2)` on NETLINK_ROUTE sockets to apps, not sending). A socket
//! belongs to the network namespace of the thread that opens it, so a thread that entered
//! another namespace (`setns`) asks that namespace's routing table. This is the module's
//! only `unsafe` code: the socket calls, each wrapped and commented.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::netlink::{self, Body};

/// How long one request may take, its whole answer included.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// The receive buffer: the kernel sizes a dump's datagrams after the reader's buffer, and a
/// single answer is a few hundred bytes.
const DATAGRAM_CAPACITY: usize = 64 * 1024;
/// The most datagrams read for one request (a dump of a full-table router is some
/// hundreds), so a flood of foreign messages cannot hold the caller forever.
const MAX_DATAGRAMS: usize = 4096;

/// Sequence numbers shared by every socket of the process, so two answers are never
/// mistaken for each other.
static NEXT_SEQ: AtomicU32 = AtomicU32::new(1);

/// Why an exchange with the kernel failed.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// The socket could not be opened or the request not sent: no netlink here (a seccomp
    /// filter, an SELinux policy, a kernel or sandbox without it).
    Refused(io::Error),
    /// The kernel answered the request with this errno (positive).
    Kernel(i32),
    /// Reading the answer failed or timed out, or it was too large.
    Receive(io::Error),
    /// The answer was malformed.
    Malformed(Error),
}

/// A NETLINK_ROUTE socket of the calling thread's network namespace.
pub(crate) struct RouteSocket {
    fd: OwnedFd,
}

impl RouteSocket {
    /// Opens the socket with a receive timeout.
    #[allow(unsafe_code)]
    pub(crate) fn open() -> io::Result<RouteSocket> {
        // SAFETY: socket(2) takes no pointers; a non-negative result is a new descriptor
        // that nothing else owns.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let socket = RouteSocket { fd };
        socket.set_receive_timeout(ANSWER_TIMEOUT)?;
        Ok(socket)
    }

    /// A fresh sequence number for a request.
    pub(crate) fn next_seq() -> u32 {
        NEXT_SEQ.fetch_add(1, Ordering::Relaxed)
    }

    #[allow(unsafe_code)]
    fn set_receive_timeout(&self, timeout: Duration) -> io::Result<()> {
        let timeval = libc::timeval {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            // Whole seconds are enough for a bound; `suseconds_t` differs between targets.
            tv_usec: 0,
        };
        // SAFETY: the option value points to a live `timeval` of the length given.
        let result = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                std::ptr::from_ref(&timeval).cast(),
                socklen_of::<libc::timeval>(),
            )
        };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sends `request` (sequence number `seq`) and returns the routes, links or addresses
    /// answering it: the single one of a lookup, or every one of a dump (`dump`, read until
    /// `NLMSG_DONE`).
    pub(crate) fn exchange(
        &self,
        request: &[u8],
        seq: u32,
        dump: bool,
    ) -> Result<Vec<Body>, ExchangeError> {
        self.send(request).map_err(ExchangeError::Refused)?;
        let port_id = self.port_id().map_err(ExchangeError::Receive)?;
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let mut buffer = vec![0u8; DATAGRAM_CAPACITY];
        let mut answers = Vec::new();
        for _ in 0..MAX_DATAGRAMS {
            let Some(len) = self.receive(&mut buffer).map_err(ExchangeError::Receive)? else {
                continue;
            };
            let datagram = buffer.get(..len).unwrap_or_default();
            let messages = netlink::decode(datagram).map_err(ExchangeError::Malformed)?;
            // Another request's late answer, or a message for another socket: not ours.
            for message in messages
                .into_iter()
                .filter(|message| message.seq == seq && message.port_id == port_id)
            {
                match message.body {
                    Body::Error(errno) => return Err(ExchangeError::Kernel(errno)),
                    Body::Done | Body::Ack => return Ok(answers),
                    Body::Other(_) => {}
                    answer if dump => answers.push(answer),
                    answer => return Ok(vec![answer]),
                }
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        Err(ExchangeError::Receive(io::Error::new(
            io::ErrorKind::TimedOut,
            "the kernel's answer did not end in time",
        )))
    }

    #[allow(unsafe_code)]
    fn send(&self, request: &[u8]) -> io::Result<()> {
        let kernel = kernel_address();
        // SAFETY: the buffer and the address are live for the call, with the lengths given.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                request.as_ptr().cast(),
                request.len(),
                0,
                std::ptr::from_ref(&kernel).cast(),
                socklen_of::<libc::sockaddr_nl>(),
            )
        };
        match usize::try_from(sent) {
            Ok(sent) if sent == request.len() => Ok(()),
            Ok(sent) => Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", request.len()),
            )),
            Err(_) => Err(io::Error::last_os_error()),
        }
    }

    /// The port id the kernel gave the socket on its first send.
    #[allow(unsafe_code)]
    fn port_id(&self) -> io::Result<u32> {
        // SAFETY: an all-zero `sockaddr_nl` is a valid value.
        let mut address: libc::sockaddr_nl = unsafe { zeroed() };
        let mut len = socklen_of::<libc::sockaddr_nl>();
        // SAFETY: the address and its length are live and writable for the call.
        let result = unsafe {
            libc::getsockname(
                self.fd.as_raw_fd(),
                std::ptr::from_mut(&mut address).cast(),
                &mut len,
            )
        };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(address.nl_pid)
    }

    /// Receives one datagram into `buffer`: its length when it comes from the kernel, `None`
    /// when from another process. A datagram larger than the buffer is an error, not a
    /// truncated answer.
    #[allow(unsafe_code)]
    fn receive(&self, buffer: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            // SAFETY: an all-zero `sockaddr_nl` is a valid value.
            let mut sender: libc::sockaddr_nl = unsafe { zeroed() };
            let mut sender_len = socklen_of::<libc::sockaddr_nl>();
            // SAFETY: the buffer, the sender address and its length are live and writable
            // for the call, with the lengths given.
            let received = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    libc::MSG_TRUNC,
                    std::ptr::from_mut(&mut sender).cast(),
                    &mut sender_len,
                )
            };
            let Ok(len) = usize::try_from(received) else {
                let error = io::Error::last_os_error();
                match error.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no answer from the kernel in time",
                        ));
                    }
                    _ => return Err(error),
                }
            };
            if len > buffer.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "a datagram of {len} bytes exceeds the {}-byte buffer",
                        buffer.len()
                    ),
                ));
            }
            // Port id 0 is the kernel; anything else is another process.
            return Ok((sender.nl_pid == 0).then_some(len));
        }
    }
}

/// The kernel's address: port id 0, no multicast groups.
#[allow(unsafe_code)]
fn kernel_address() -> libc::sockaddr_nl {
    // SAFETY: an all-zero `sockaddr_nl` is a valid value.
    let mut address: libc::sockaddr_nl = unsafe { zeroed() };
    address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    address
}

fn socklen_of<T>() -> libc::socklen_t {
    // Socket address and option types are a few dozen bytes.
    libc::socklen_t::try_from(size_of::<T>()).unwrap_or(libc::socklen_t::MAX)
}
