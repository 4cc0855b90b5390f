//! What interrupts a command, listened for from the start of every command: SIGINT (Ctrl-C)
//! and SIGTERM on Unix; Ctrl-C, Ctrl-Break, the console closing, logoff and shutdown on
//! Windows. Without a listener each of these ends the process at once, and a mapping being
//! made or kept would stay at the router; with one, the command stops, deletes what it
//! mapped, and natctl exits 0.
//!
//! On Windows the listeners must exist for the whole command, not only while something
//! awaits them: tokio's console handler answers an event for the process only while a
//! receiver of that kind is alive, and otherwise lets the default handler kill it. For the
//! close, logoff and shutdown events Windows ends the process once the handler returns; tokio's
//! handler does not return, so the process has until Windows' own deadline (5 s for close and
//! logoff, about 20 s at shutdown) to delete its mappings.

use std::io;

/// The listeners, each one stream for the whole command: an event that arrives while the
/// command is busy elsewhere is kept for the next [`Stop::wait`].
pub(crate) struct Stop {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(windows)]
    ctrl_c: tokio::signal::windows::CtrlC,
    #[cfg(windows)]
    ctrl_break: tokio::signal::windows::CtrlBreak,
    #[cfg(windows)]
    close: tokio::signal::windows::CtrlClose,
    #[cfg(windows)]
    logoff: tokio::signal::windows::CtrlLogoff,
    #[cfg(windows)]
    shutdown: tokio::signal::windows::CtrlShutdown,
}

impl Stop {
    /// Starts listening (on the current tokio runtime, which must enable I/O on Unix).
    pub(crate) fn new() -> io::Result<Stop> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Stop {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(windows)]
        {
            use tokio::signal::windows;
            Ok(Stop {
                ctrl_c: windows::ctrl_c()?,
                ctrl_break: windows::ctrl_break()?,
                close: windows::ctrl_close()?,
                logoff: windows::ctrl_logoff()?,
                shutdown: windows::ctrl_shutdown()?,
            })
        }
        #[cfg(not(any(unix, windows)))]
        {
            Ok(Stop {})
        }
    }

    /// Returns at the next interrupting event (at once for one that came since the last
    /// call).
    pub(crate) async fn wait(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(windows)]
        {
            tokio::select! {
                _ = self.ctrl_c.recv() => {}
                _ = self.ctrl_break.recv() => {}
                _ = self.close.recv() => {}
                _ = self.logoff.recv() => {}
                _ = self.shutdown.recv() => {}
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
