//! Printing: plain text for people, JSON for programs (one document per command, JSON Lines
//! for streams), one-line errors, and the progress spinner on a terminal.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// How long a wait may last before the spinner shows.
const SPINNER_DELAY: Duration = Duration::from_millis(200);

/// The longest error line printed; longer ones are cut (a router's text can be long).
const MAX_ERROR_CHARS: usize = 300;

/// What kind of failure an error line reports (`"kind"` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorKind {
    /// Bad command line: nothing was sent.
    Usage,
    /// Failed at the network or at the gateway.
    Network,
    /// The gateway answered none of the techniques allowed.
    NoTechnique,
}

/// Where and how results are printed.
pub(crate) struct Output {
    json: bool,
    progress: Progress,
}

impl Output {
    /// `spinner`: whether a spinner may show (stderr is a terminal, no `--json`, no logs).
    pub(crate) fn new(json: bool, spinner: bool) -> Output {
        Output {
            json,
            progress: Progress::new(spinner && !json),
        }
    }

    /// Whether JSON is printed.
    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// The spinner.
    pub(crate) fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Prints `value` as JSON, or `text` for people.
    pub(crate) fn print<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        let line = if self.json {
            serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        } else {
            text()
        };
        self.stdout(&line);
    }

    /// Prints one item of a stream as it arrives: compact JSON on one line with `--json`
    /// (JSON Lines), or `text`.
    pub(crate) fn line<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        let line = if self.json {
            serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        } else {
            text()
        };
        self.stdout(&line);
    }

    /// Prints text for people only (nothing under `--json`).
    pub(crate) fn text(&self, text: &str) {
        if !self.json {
            self.stdout(text);
        }
    }

    fn stdout(&self, line: &str) {
        self.progress.suspend(|| {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
        });
    }

    /// Prints an error as one line on standard error (JSON with `--json`).
    pub(crate) fn error(&self, error: &anyhow::Error, kind: ErrorKind) {
        self.progress.clear();
        print_error(self.json, &one_line(error), kind);
    }
}

/// Prints an error line on standard error, before or without an [`Output`].
pub(crate) fn print_error(json: bool, message: &str, kind: ErrorKind) {
    let line = if json {
        serde_json::json!({ "error": message, "kind": kind }).to_string()
    } else {
        format!("natctl: error: {message}")
    };
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The error and its causes on one line, each cause once: a cause whose text the line
/// already holds (a wrapper that prints its source) is not repeated.
pub(crate) fn one_line(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || message.contains(text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(text);
    }
    let message: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if message.chars().count() > MAX_ERROR_CHARS {
        let cut: String = message.chars().take(MAX_ERROR_CHARS - 3).collect();
        return format!("{cut}...");
    }
    message
}

/// A duration as people read it: `3.0 s`, `250 ms`.
pub(crate) fn duration(duration: Duration) -> String {
    if duration >= Duration::from_secs(1) {
        format!("{:.1} s", duration.as_secs_f64())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// Milliseconds rounded to 0.1, as every JSON latency is.
pub(crate) fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 10_000.0).round() / 10.0
}

/// A spinner on standard error naming what natctl waits for; it shows only after
/// [`SPINNER_DELAY`] and only on a terminal, and is cleared when the wait ends.
#[derive(Clone)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    stage: Arc<Mutex<String>>,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        Progress {
            bar: enabled.then(|| {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar
            }),
            stage: Arc::new(Mutex::new(String::new())),
        }
    }

    /// Whether a spinner can show at all.
    pub(crate) fn enabled(&self) -> bool {
        self.bar.is_some()
    }

    /// Starts waiting for `stage` ("probing PCP, NAT-PMP and UPnP IGD at 192.168.1.1").
    /// Must be called inside the tokio runtime.
    pub(crate) fn start(&self, stage: impl Into<String>) {
        let Some(bar) = &self.bar else {
            return;
        };
        let stage = stage.into();
        bar.set_message(stage.clone());
        *self.stage.lock().unwrap_or_else(|p| p.into_inner()) = stage;
        let bar = bar.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SPINNER_DELAY).await;
            if !bar.is_finished() {
                bar.set_draw_target(ProgressDrawTarget::stderr());
                bar.enable_steady_tick(Duration::from_millis(100));
            }
        });
    }

    /// A detail of the current wait (a retransmission, a request), after the stage.
    pub(crate) fn detail(&self, detail: &str) {
        if let Some(bar) = &self.bar {
            let stage = self.stage.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if !stage.is_empty() {
                bar.set_message(format!("{stage}: {detail}"));
            }
        }
    }

    /// Ends the wait and clears the line.
    pub(crate) fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn suspend(&self, print: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

/// Whether standard error is a terminal that can redraw a spinner line.
pub(crate) fn stderr_is_interactive() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|term| term != "dumb")
}

/// Whether diagnostics may use colour: a terminal, and `NO_COLOR` unset.
pub(crate) fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("no default gateway found for IPv4")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read the network configuration: {0}")]
    struct Outer(#[source] Inner);

    #[test]
    fn each_cause_is_said_once() {
        let error = anyhow::Error::new(Outer(Inner));
        assert_eq!(
            one_line(&error),
            "cannot read the network configuration: no default gateway found for IPv4"
        );
        let error = anyhow::Error::new(Inner).context("probing");
        assert_eq!(
            one_line(&error),
            "probing: no default gateway found for IPv4"
        );
    }

    #[test]
    fn long_errors_are_cut_and_stay_on_one_line() {
        let error = anyhow::anyhow!("{}\nsecond", "x".repeat(1000));
        let line = one_line(&error);
        assert!(line.chars().count() <= MAX_ERROR_CHARS);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(duration(Duration::from_micros(3_001_826)), "3.0 s");
        assert_eq!(duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(millis(Duration::from_micros(1_234)), 1.2);
    }
}
