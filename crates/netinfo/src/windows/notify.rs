//! Windows: the change monitor, three IP Helper notifications (`NotifyRouteChange2`,
//! `NotifyIpInterfaceChange`, `NotifyUnicastIpAddressChange`) whose callbacks, run on a
//! system thread, count the change and wake the waiters: a condition variable for
//! [`wait`](Monitor::wait), a tokio `Notify` for [`changed`](Monitor::changed).
//!
//! The callbacks get a pointer to the shared state, which lives in an `Arc` held by the
//! monitor; `CancelMibChangeNotify2`, called on drop before that `Arc` is released, waits
//! for any callback still running, so none sees freed state.

use std::ffi::c_void;
use std::io;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{HANDLE, NO_ERROR};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    CancelMibChangeNotify2, MIB_IPFORWARD_ROW2, MIB_IPINTERFACE_ROW, MIB_NOTIFICATION_TYPE,
    MIB_UNICASTIPADDRESS_ROW, NotifyIpInterfaceChange, NotifyRouteChange2,
    NotifyUnicastIpAddressChange,
};
use windows_sys::Win32::Networking::WinSock::AF_UNSPEC;

use crate::changes::{MAX_BURST, QUIET};
use crate::error::{Error, Result};

/// What the callbacks share with the waiters.
#[derive(Debug, Default)]
struct Shared {
    /// How many notifications came so far.
    count: Mutex<u64>,
    woken: Condvar,
    #[cfg(feature = "tokio")]
    notify: tokio::sync::Notify,
}

impl Shared {
    fn record(&self) {
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        *count = count.wrapping_add(1);
        self.woken.notify_all();
        #[cfg(feature = "tokio")]
        self.notify.notify_one();
    }

    #[cfg(feature = "tokio")]
    fn count(&self) -> u64 {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the count differs from `seen` or `timeout` passes; the count then.
    fn wait_past(&self, seen: u64, timeout: Duration) -> u64 {
        let count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        let (count, _) = self
            .woken
            .wait_timeout_while(count, timeout, |count| *count == seen)
            .unwrap_or_else(PoisonError::into_inner);
        *count
    }
}

/// The three subscriptions.
#[derive(Debug)]
pub(crate) struct Monitor {
    shared: Arc<Shared>,
    handles: Vec<Handle>,
    /// The count the last wait returned at.
    seen: Mutex<u64>,
}

/// A notification handle, cancelled on drop.
#[derive(Debug)]
struct Handle(HANDLE);

// The handle is only passed back to CancelMibChangeNotify2, from any thread.
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from a successful Notify* call and is cancelled once;
        // the call returns after any running callback has returned.
        unsafe { CancelMibChangeNotify2(self.0) };
    }
}

unsafe extern "system" fn on_route(
    context: *const c_void,
    _row: *const MIB_IPFORWARD_ROW2,
    _kind: MIB_NOTIFICATION_TYPE,
) {
    // SAFETY: the context is the `Shared` the monitor keeps alive until every handle is
    // cancelled.
    unsafe { &*context.cast::<Shared>() }.record();
}

unsafe extern "system" fn on_interface(
    context: *const c_void,
    _row: *const MIB_IPINTERFACE_ROW,
    _kind: MIB_NOTIFICATION_TYPE,
) {
    // SAFETY: as in `on_route`.
    unsafe { &*context.cast::<Shared>() }.record();
}

unsafe extern "system" fn on_address(
    context: *const c_void,
    _row: *const MIB_UNICASTIPADDRESS_ROW,
    _kind: MIB_NOTIFICATION_TYPE,
) {
    // SAFETY: as in `on_route`.
    unsafe { &*context.cast::<Shared>() }.record();
}

impl Monitor {
    /// Subscribes to the three notifications, for both families.
    pub(crate) fn open() -> Result<Monitor> {
        let shared = Arc::new(Shared::default());
        let context = Arc::as_ptr(&shared).cast::<c_void>();
        let mut monitor = Monitor {
            shared: Arc::clone(&shared),
            handles: Vec::with_capacity(3),
            seen: Mutex::new(0),
        };
        let check = |call: &'static str, status: u32, handle: HANDLE| {
            if status == NO_ERROR {
                Ok(Handle(handle))
            } else {
                Err(Error::Monitor {
                    call,
                    source: io::Error::from_raw_os_error(status as i32),
                })
            }
        };
        let mut handle: HANDLE = std::ptr::null_mut();
        // SAFETY: the callback matches the type the call expects; the context outlives
        // the subscription (see the module's doc); `handle` is a valid place.
        let status =
            unsafe { NotifyRouteChange2(AF_UNSPEC, Some(on_route), context, false, &mut handle) };
        monitor
            .handles
            .push(check("NotifyRouteChange2", status, handle)?);
        let mut handle: HANDLE = std::ptr::null_mut();
        // SAFETY: as above.
        let status = unsafe {
            NotifyIpInterfaceChange(AF_UNSPEC, Some(on_interface), context, false, &mut handle)
        };
        monitor
            .handles
            .push(check("NotifyIpInterfaceChange", status, handle)?);
        let mut handle: HANDLE = std::ptr::null_mut();
        // SAFETY: as above.
        let status = unsafe {
            NotifyUnicastIpAddressChange(AF_UNSPEC, Some(on_address), context, false, &mut handle)
        };
        monitor
            .handles
            .push(check("NotifyUnicastIpAddressChange", status, handle)?);
        Ok(monitor)
    }

    /// Blocks until a notification comes (then until the burst is over) or `timeout`
    /// passes.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let count = self.shared.wait_past(*seen, timeout);
        if count == *seen {
            return false;
        }
        let end = Instant::now() + MAX_BURST;
        let mut last = count;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let next = self.shared.wait_past(last, QUIET.min(left));
            if next == last {
                break;
            }
            last = next;
        }
        *seen = last;
        true
    }

    /// Waits until a notification comes, then until the burst is over.
    #[cfg(feature = "tokio")]
    pub(crate) async fn changed(&self) -> Result<()> {
        let seen = *self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        // A permit `notify_one` left from an earlier burst wakes without a new change:
        // the count says whether one came.
        while self.shared.count() == seen {
            let notified = self.shared.notify.notified();
            if self.shared.count() != seen {
                break;
            }
            notified.await;
        }
        let end = tokio::time::Instant::now() + MAX_BURST;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            if tokio::time::timeout(QUIET.min(left), self.shared.notify.notified())
                .await
                .is_err()
            {
                break;
            }
        }
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = self.shared.count();
        Ok(())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // Cancelled before `shared` (the callbacks' context) can be released.
        self.handles.clear();
    }
}
