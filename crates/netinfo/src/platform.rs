//! The platform backend, chosen in this one place: netlink on Linux and Android (`linux`),
//! `sysctl` and the routing socket on macOS, iOS and the BSDs (`bsd`), IP Helper on Windows
//! (`windows`), and `platform/unsupported.rs` on any other system. Every backend gives
//! `default_route`, `route_to`, `default_paths` and a change `Monitor`; the public
//! functions in `route.rs`, `path.rs` and `changes.rs` call them through here.

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use crate::linux::{default_paths, default_route, monitor::Monitor, route_to};

#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
))]
pub(crate) use crate::bsd::{default_paths, default_route, monitor::Monitor, route_to};

#[cfg(windows)]
pub(crate) use crate::windows::{default_paths, default_route, notify::Monitor, route_to};

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
mod unsupported;

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
pub(crate) use unsupported::{Monitor, default_paths, default_route, route_to};
