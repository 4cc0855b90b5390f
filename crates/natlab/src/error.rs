//! The lab's error type.

use std::path::PathBuf;

/// Everything that can go wrong while building, driving or tearing down a lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// The lab needs root (network namespaces, nftables, TAP devices).
    #[error("the lab needs root (running as uid {uid})")]
    NotRoot {
        /// The effective uid the process has.
        uid: u32,
    },
    /// A program the lab runs is not installed.
    #[error("`{program}` is not installed (cargo xtask test installs it)")]
    MissingTool {
        /// The program's name.
        program: &'static str,
    },
    /// A command the lab ran failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line, for the reader.
        command: String,
        /// Its exit status and standard error.
        detail: String,
    },
    /// miniupnpd did not come up.
    #[error("miniupnpd did not start in {namespace}: {reason}; its log:\n{log}")]
    Miniupnpd {
        /// The router namespace.
        namespace: String,
        /// What went wrong.
        reason: String,
        /// The daemon's own output.
        log: String,
    },
    /// A file of the lab could not be read or written.
    #[error("cannot use {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A socket or device operation inside a namespace failed.
    #[error("{what}: {source}")]
    Io {
        /// What the lab was doing.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A knob was used with a value the lab cannot honour.
    #[error("invalid lab request: {0}")]
    Invalid(String),
}

/// Result alias for lab operations.
pub type Result<T, E = LabError> = std::result::Result<T, E>;

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LabError {
    let what = what.into();
    move |source| LabError::Io { what, source }
}
