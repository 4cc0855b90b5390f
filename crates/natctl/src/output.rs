//! Printing results: plain text for people, JSON (one document per command) for programs.

use std::io::Write;

use serde::Serialize;

/// Where and how results are printed.
pub(crate) struct Output {
    json: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Output {
        Output { json }
    }

    /// Prints `value` as JSON, or `text` for people.
    pub(crate) fn print<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        let line = if self.json {
            serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        } else {
            text()
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    /// Prints one item of a stream as it arrives: compact JSON on one line with `--json`
    /// (JSON Lines), or `text`.
    pub(crate) fn line<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        let line = if self.json {
            serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        } else {
            text()
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    /// Prints an error as one line on standard error (JSON with `--json`).
    pub(crate) fn error(&self, error: &anyhow::Error) {
        let message = format!("{error:#}").replace('\n', " ");
        let line = if self.json {
            serde_json::json!({ "error": message }).to_string()
        } else {
            format!("natctl: error: {message}")
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}
