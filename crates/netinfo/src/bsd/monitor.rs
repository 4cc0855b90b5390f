//! macOS, iOS and the BSDs: the change monitor's socket, a `PF_ROUTE` socket, to which the
//! kernel copies every routing message: routes added, deleted or changed, addresses added
//! or deleted, interfaces changing state. Other processes' `RTM_GET` requests, cache
//! misses and resolutions are copied too, and are not changes.
//!
//! Reading never blocks (`MSG_DONTWAIT`); the caller waits for the descriptor to become
//! readable.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// The message types that are no change (`<net/route.h>`, the same numbers on every
/// BSD since 4.4BSD): `RTM_GET`, `RTM_LOSING`, `RTM_REDIRECT`, `RTM_MISS`, `RTM_LOCK`,
/// `RTM_RESOLVE`.
const NOT_CHANGES: [u8; 6] = [0x4, 0x5, 0x6, 0x7, 0x8, 0xb];
/// One routing message is at most a few hundred bytes.
const MESSAGE_CAPACITY: usize = 4096;
/// The most messages one drain reads.
const MAX_MESSAGES: usize = 1024;

/// True when a routing message of type `message_type` tells of a change.
pub(crate) fn is_change(message_type: u8) -> bool {
    !NOT_CHANGES.contains(&message_type)
}

/// The routing socket.
#[derive(Debug)]
pub(crate) struct Monitor {
    /// Shared with tokio's registration of it, which must not outlive the descriptor.
    fd: Arc<OwnedFd>,
}

impl Monitor {
    /// Opens the socket.
    #[allow(unsafe_code)]
    pub(crate) fn open() -> io::Result<Monitor> {
        // SAFETY: socket(2) takes no pointers; a non-negative result is a new descriptor
        // that nothing else owns.
        let fd = unsafe { libc::socket(libc::PF_ROUTE, libc::SOCK_RAW, libc::AF_UNSPEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Monitor { fd: Arc::new(fd) })
    }

    /// The descriptor, for a registration that keeps it open as long as it lives.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn shared_fd(&self) -> Arc<OwnedFd> {
        Arc::clone(&self.fd)
    }

    /// Reads the messages waiting: whether one tells of a change (or some were lost), and
    /// whether nothing is left to read.
    #[allow(unsafe_code)]
    pub(crate) fn drain(&self) -> io::Result<(bool, bool)> {
        let mut buffer = [0u8; MESSAGE_CAPACITY];
        let mut changed = false;
        for _ in 0..MAX_MESSAGES {
            // SAFETY: the buffer is live and writable for its length.
            let received = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            match usize::try_from(received) {
                Ok(len) if len >= 4 => changed |= is_change(buffer[3]),
                Ok(_) => {}
                Err(_) => {
                    let error = io::Error::last_os_error();
                    match error.kind() {
                        io::ErrorKind::WouldBlock => return Ok((changed, true)),
                        io::ErrorKind::Interrupted => {}
                        _ if error.raw_os_error() == Some(libc::ENOBUFS) => changed = true,
                        _ => return Err(error),
                    }
                }
            }
        }
        Ok((changed, false))
    }
}

impl AsRawFd for Monitor {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
