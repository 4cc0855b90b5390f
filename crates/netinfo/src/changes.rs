//! [`Changes`]: told by the operating system when routes, addresses or links change, so a
//! program re-reads the [`internet_path`](crate::internet_path) on a change instead of
//! polling every few seconds.
//!
//! - Linux and Android: a NETLINK_ROUTE socket in the notification groups of links, IPv4
//!   and IPv6 addresses and routes (`linux/monitor`), in the network namespace of the
//!   thread that made the [`Changes`].
//! - macOS, iOS and the BSDs: a `PF_ROUTE` socket, which every routing message goes to
//!   (`bsd/monitor`); requests and cache misses are not counted as changes.
//! - Windows: `NotifyRouteChange2`, `NotifyIpInterfaceChange` and
//!   `NotifyUnicastIpAddressChange`, whose callbacks wake the waiter (`windows/notify`).
//!
//! One change is usually a burst of messages (a link going down takes its addresses and
//! routes with it): a wait returns once the burst is over, [`QUIET`] without another
//! message (at most [`MAX_BURST`] after the first), so one change wakes the caller once.

use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

// Windows makes its errors in `windows/notify`.
#[cfg_attr(windows, allow(unused_imports))]
use crate::error::{Error, Result};

/// A burst of change messages is over once none came for this long.
pub const QUIET: Duration = Duration::from_millis(50);
/// A burst is cut off this long after its first message, however busy the system.
pub const MAX_BURST: Duration = Duration::from_millis(500);

use crate::platform::Monitor;

/// A subscription to the operating system's notifications of changed routes, addresses
/// and links.
///
/// ```no_run
/// use std::time::Duration;
///
/// let mut changes = netinfo::Changes::new()?;
/// loop {
///     if changes.wait(Duration::from_secs(60))? {
///         let path = netinfo::internet_path(netinfo::Family::V4);
///         println!("the network changed; the internet path is now {path:?}");
///     }
/// }
/// # Ok::<(), netinfo::Error>(())
/// ```
#[derive(Debug)]
pub struct Changes {
    // Dropped before the monitor, whose descriptor it watches.
    #[cfg(all(unix, feature = "tokio"))]
    registration: Option<tokio::io::unix::AsyncFd<unix::Descriptor>>,
    /// A change drained by a [`changed`](Changes::changed) that was cancelled before it
    /// returned, for the next call to report.
    #[cfg(all(unix, feature = "tokio"))]
    pending: bool,
    monitor: Monitor,
}

impl Changes {
    /// Subscribes. Only changes after this call are reported. On Linux and Android the
    /// subscription is to the calling thread's network namespace.
    ///
    /// # Errors
    /// [`Error::Monitor`] when the system refuses the socket or the notifications,
    /// [`Error::Unsupported`] on systems without either.
    pub fn new() -> Result<Changes> {
        Ok(Changes {
            #[cfg(all(unix, feature = "tokio"))]
            registration: None,
            #[cfg(all(unix, feature = "tokio"))]
            pending: false,
            monitor: open()?,
        })
    }

    /// Blocks until routes, addresses or links change (`true`, once the burst of
    /// notifications is over) or `timeout` passes without a change (`false`).
    ///
    /// # Errors
    /// [`Error::Monitor`] when reading the notifications fails.
    pub fn wait(&mut self, timeout: Duration) -> Result<bool> {
        wait(&self.monitor, timeout)
    }

    /// Waits until routes, addresses or links change, and returns once the burst of
    /// notifications is over. Needs a tokio runtime with its I/O and time drivers.
    ///
    /// Cancel safe: a change seen by a call dropped before it returned (a `select!` that
    /// took another branch) is reported by the next call.
    ///
    /// # Errors
    /// [`Error::Monitor`] when reading the notifications fails.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn changed(&mut self) -> Result<()> {
        #[cfg(unix)]
        {
            unix::changed(&mut self.registration, &mut self.pending, &self.monitor).await
        }
        #[cfg(windows)]
        {
            self.monitor.changed().await
        }
        #[cfg(not(any(unix, windows)))]
        {
            Err(unsupported())
        }
    }
}

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
))]
fn open() -> Result<Monitor> {
    Monitor::open().map_err(|source| Error::Monitor {
        call: unix::SOCKET_CALL,
        source,
    })
}

#[cfg(windows)]
fn open() -> Result<Monitor> {
    Monitor::open()
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    windows
)))]
fn open() -> Result<Monitor> {
    Monitor::open()
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    windows
)))]
fn unsupported() -> Error {
    Error::Unsupported {
        operation: "watching for network changes",
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    windows
)))]
fn wait(_monitor: &Monitor, _timeout: Duration) -> Result<bool> {
    Err(unsupported())
}

#[cfg(windows)]
fn wait(monitor: &Monitor, timeout: Duration) -> Result<bool> {
    Ok(monitor.wait(timeout))
}

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
))]
fn wait(monitor: &Monitor, timeout: Duration) -> Result<bool> {
    use std::os::fd::AsRawFd;

    let fd = monitor.as_raw_fd();
    let deadline = Instant::now() + timeout;
    loop {
        if unix::drain(monitor)?.changed {
            let end = Instant::now() + MAX_BURST;
            loop {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() || !unix::poll_readable(fd, QUIET.min(left))? {
                    return Ok(true);
                }
                unix::drain(monitor)?;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !unix::poll_readable(fd, left)? {
            return Ok(false);
        }
    }
}

/// The Unix side: `poll(2)` on the monitor's descriptor, and tokio's `AsyncFd`.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
))]
mod unix {
    use std::io;
    use std::os::fd::RawFd;
    use std::time::Duration;

    use super::Monitor;
    use crate::error::{Error, Result};

    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(super) const SOCKET_CALL: &str = "a NETLINK_ROUTE socket";
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub(super) const SOCKET_CALL: &str = "a PF_ROUTE socket";

    /// What one drain found.
    pub(super) struct Drained {
        /// A message told of a change.
        pub(super) changed: bool,
        /// Nothing is left to read.
        #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
        pub(super) empty: bool,
    }

    pub(super) fn drain(monitor: &Monitor) -> Result<Drained> {
        let (changed, empty) = monitor.drain().map_err(|source| Error::Monitor {
            call: SOCKET_CALL,
            source,
        })?;
        Ok(Drained { changed, empty })
    }

    /// Whether `fd` became readable within `timeout`.
    #[allow(unsafe_code)]
    pub(super) fn poll_readable(fd: RawFd, timeout: Duration) -> Result<bool> {
        let mut entry = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // Rounded up, so a short wait is not a busy loop of zero-timeout polls.
        let millis = timeout.as_micros().div_ceil(1000);
        let millis = libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX);
        loop {
            // SAFETY: one live, writable pollfd, as the count says.
            let ready = unsafe { libc::poll(&mut entry, 1, millis) };
            if ready >= 0 {
                return Ok(ready > 0);
            }
            let source = io::Error::last_os_error();
            if source.kind() != io::ErrorKind::Interrupted {
                return Err(Error::Monitor {
                    call: "poll",
                    source,
                });
            }
        }
    }

    /// The monitor's descriptor as tokio registers it: a share of its ownership, so it
    /// stays open as long as the registration lives.
    #[cfg(feature = "tokio")]
    #[derive(Debug)]
    pub(super) struct Descriptor(std::sync::Arc<std::os::fd::OwnedFd>);

    #[cfg(feature = "tokio")]
    impl std::os::fd::AsRawFd for Descriptor {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_raw_fd()
        }
    }

    #[cfg(feature = "tokio")]
    pub(super) async fn changed(
        registration: &mut Option<tokio::io::unix::AsyncFd<Descriptor>>,
        pending: &mut bool,
        monitor: &Monitor,
    ) -> Result<()> {
        use tokio::io::Interest;
        use tokio::io::unix::AsyncFd;

        let failed = |source| Error::Monitor {
            call: "tokio's AsyncFd",
            source,
        };
        let registration = match registration {
            Some(registration) => registration,
            // Deprecated in tokio 1.5x for an `unsafe` replacement that older tokio lacks;
            // the concern (the descriptor closed while registered) cannot arise here, as
            // the registration holds a share of the descriptor's ownership.
            #[allow(deprecated)]
            None => registration.insert(
                AsyncFd::with_interest(Descriptor(monitor.shared_fd()), Interest::READABLE)
                    .map_err(failed)?,
            ),
        };
        *pending |= drain(monitor)?.changed;
        while !*pending {
            let mut guard = registration.readable().await.map_err(failed)?;
            let drained = drain(monitor)?;
            if drained.empty {
                guard.clear_ready();
            }
            *pending = drained.changed;
        }
        let end = tokio::time::Instant::now() + super::MAX_BURST;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                *pending = false;
                return Ok(());
            }
            match tokio::time::timeout(super::QUIET.min(left), registration.readable()).await {
                Ok(guard) => {
                    let mut guard = guard.map_err(failed)?;
                    if drain(monitor)?.empty {
                        guard.clear_ready();
                    }
                }
                Err(_quiet) => {
                    *pending = false;
                    return Ok(());
                }
            }
        }
    }
}

/// Compile-time: the handle can move to and be shared with another thread or task.
const _: fn() = || {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Changes>();
};

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_system_times_out_without_a_change() {
        // A fresh namespace is not at hand here; the lab tests make changes. This one only
        // checks that a wait ends on time (on a busy host a change may come meanwhile).
        let mut changes = Changes::new().unwrap();
        let started = Instant::now();
        let changed = changes.wait(Duration::from_millis(100)).unwrap();
        if !changed {
            assert!(started.elapsed() >= Duration::from_millis(100));
        }
    }
}
