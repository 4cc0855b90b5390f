//! Waiting on events in lab tests: a condition polled until a deadline, the lines a child
//! process prints, read as they come, and the kernel's view of a host's sockets and
//! multicast groups (so a test can wait until a listener is really there).
//!
//! A test that sleeps "long enough" before looking is slow when the machine is fast and flaky
//! when it is loaded; these helpers return as soon as the thing itself is seen, and fail
//! with a message naming what never happened.

use std::io::{BufRead as _, BufReader, Read};
use std::net::Ipv4Addr;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use crate::Host;

/// How often [`wait_until`] and [`wait_for`] look again: short beside any lab deadline,
/// long enough not to busy a core that miniupnpd and the test share.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Polls `condition` until it holds, for at most `timeout`; panics naming `what` (e.g. "a
/// redirection for TCP 4830") if it never does.
///
/// The condition is checked once more at the deadline, so a condition that becomes true
/// during the last interval is not reported as a timeout.
#[track_caller]
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    wait_for(what, timeout, || condition().then_some(()));
}

/// Polls `probe` until it returns `Some`, for at most `timeout`, and returns its value;
/// panics naming `what` if it never does.
#[track_caller]
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    match poll(timeout, &mut probe) {
        Some(value) => value,
        None => panic!("timed out after {timeout:?} waiting for {what}"),
    }
}

/// Polls `probe` until it returns `Some` or `timeout` passes; `None` on the deadline. For
/// tests that assert on the timeout themselves (with their own diagnostics).
pub fn poll<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(POLL_INTERVAL.min(deadline - now));
    }
}

/// The lines a child process writes (its stdout or stderr), each with the moment it was read,
/// delivered by a reader thread so a test can wait for one with a timeout.
#[derive(Debug)]
pub struct Lines {
    received: Receiver<(Instant, String)>,
    seen: Vec<String>,
}

impl Lines {
    /// Starts reading `stream` (e.g. `child.stdout.take()`) line by line on a thread of its
    /// own; the thread ends at the stream's end.
    pub fn new(stream: impl Read + Send + 'static) -> Lines {
        let (sender, received) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if sender.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Lines {
            received,
            seen: Vec::new(),
        }
    }

    /// The next line, with when it was read; `None` if none comes within `timeout` or the
    /// stream ended.
    pub fn next_within(&mut self, timeout: Duration) -> Option<(Instant, String)> {
        match self.received.recv_timeout(timeout) {
            Ok((at, line)) => {
                self.seen.push(line.clone());
                Some((at, line))
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Reads lines until one satisfies `matches`, for at most `timeout`, and returns it with
    /// when it was read; `None` on the deadline or at the stream's end. Lines that do not
    /// match are kept for [`Lines::seen`].
    pub fn find_within(
        &mut self,
        timeout: Duration,
        mut matches: impl FnMut(&str) -> bool,
    ) -> Option<(Instant, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, line) = self.next_within(left)?;
            if matches(&line) {
                return Some((at, line));
            }
        }
    }

    /// Like [`Lines::find_within`], but panics naming `what` and showing the lines read so far
    /// when no line matches in time.
    #[track_caller]
    pub fn expect_within(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl FnMut(&str) -> bool,
    ) -> String {
        match self.find_within(timeout, matches) {
            Some((_, line)) => line,
            None => panic!(
                "timed out after {timeout:?} waiting for {what}; lines so far:\n{}",
                self.seen.join("\n")
            ),
        }
    }

    /// Every line read so far, in order.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Reads whatever is left until the stream ends (the child exited and closed it) or
    /// `timeout` passes, and returns every line read since the start.
    pub fn rest_within(mut self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if self.next_within(left).is_none() {
                break;
            }
        }
        self.seen
    }
}

/// Whether a UDP socket (IPv4 or IPv6) is bound to `port` on `host`: a listener a test
/// started on another thread is ready once this holds.
pub fn udp_port_bound(host: &Host, port: u16) -> bool {
    let suffix = format!(":{port:04X}");
    host.run(move || {
        // The thread's own namespace: `/proc/net` would follow the process's main thread.
        ["udp", "udp6"].iter().any(|table| {
            std::fs::read_to_string(format!("/proc/thread-self/net/{table}"))
                .unwrap_or_default()
                .lines()
                .skip(1)
                .filter_map(|line| line.split_whitespace().nth(1))
                .any(|local| local.ends_with(&suffix))
        })
    })
    .unwrap_or(false)
}

/// Whether some socket on `host` joined the IPv4 multicast `group` (e.g. SSDP's
/// 239.255.255.250): a multicast listener is ready once this holds.
pub fn multicast_joined(host: &Host, group: Ipv4Addr) -> bool {
    // The kernel prints the group's network-order bytes as a native-endian number.
    let hex = format!("{:08X}", u32::from_ne_bytes(group.octets()));
    host.run(move || {
        std::fs::read_to_string("/proc/thread-self/net/igmp")
            .unwrap_or_default()
            .lines()
            .any(|line| line.split_whitespace().next() == Some(hex.as_str()))
    })
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_for_returns_the_first_value() {
        let mut calls = 0;
        let value = wait_for("the third call", Duration::from_secs(5), || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(value, 3);
    }

    #[test]
    #[should_panic(expected = "waiting for something that never holds")]
    fn wait_until_panics_naming_what_never_happened() {
        wait_until(
            "something that never holds",
            Duration::from_millis(50),
            || false,
        );
    }

    #[test]
    fn lines_finds_a_matching_line_and_keeps_the_others() {
        let mut lines = Lines::new(&b"starting\nmapped 44.0.0.1:80\nmore\n"[..]);
        let line = lines.expect_within("a mapped line", Duration::from_secs(5), |l| {
            l.starts_with("mapped")
        });
        assert_eq!(line, "mapped 44.0.0.1:80");
        assert_eq!(lines.seen(), ["starting", "mapped 44.0.0.1:80"]);
        assert_eq!(
            lines.rest_within(Duration::from_secs(5)),
            ["starting", "mapped 44.0.0.1:80", "more"]
        );
    }

    #[test]
    fn lines_gives_none_at_the_end_of_the_stream() {
        let mut lines = Lines::new(&b"only\n"[..]);
        assert!(
            lines
                .find_within(Duration::from_secs(5), |l| l == "absent")
                .is_none()
        );
    }
}
