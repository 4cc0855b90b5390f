//! Teardown: a dropped [`Lab`] stops miniupnpd and deletes its namespaces and files (also
//! while a test panics); labs left behind by killed test processes are removed when the
//! next lab starts; a lab test that ran to the end is recorded for `cargo xtask test`.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Lab;
use crate::netns::{ip, run_checked};

impl Drop for Lab {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = self.signal_and_reap(Signal::SIGTERM);
        self.wire.take();
        self.paths.shutdown();
        destroy_namespaces(&self.id);
        let _ = fs::remove_dir_all(&self.dir);
        if !std::thread::panicking() {
            record_run();
        }
    }
}

/// Kills whatever still runs in a lab's namespaces and deletes them.
pub(crate) fn destroy_namespaces(id: &str) {
    let prefix = format!("natlab-{id}-");
    let Ok(entries) = fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&prefix) {
            continue;
        }
        if let Ok(output) = run_checked(Command::new("ip").args(["netns", "pids", &name])) {
            for pid in String::from_utf8_lossy(&output.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
        if let Err(e) = ip(&["netns", "del", &name]) {
            tracing::warn!(namespace = %name, error = %e, "cannot delete a lab namespace");
        }
    }
}

/// Removes labs left behind by test processes that were killed before their teardown ran.
pub(crate) fn cleanup_leftovers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = fs::read_dir("/run/netns") else {
            return;
        };
        let mut dead = std::collections::BTreeSet::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_prefix("natlab-")
                .and_then(|rest| rest.rsplit_once('-'))
                .map(|(id, _)| id.to_owned())
            else {
                continue;
            };
            let Some(pid) = id.split_once('x').and_then(|(p, _)| p.parse::<u32>().ok()) else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                dead.insert(id);
            }
        }
        for id in dead {
            tracing::info!(lab = %id, "removing a lab left behind by a killed run");
            destroy_namespaces(&id);
            let _ = fs::remove_dir_all(std::env::temp_dir().join(format!("natlab-{id}")));
        }
    });
}

fn record_run() {
    let Some(path) = std::env::var_os("NATLAB_RAN_LOG") else {
        return;
    };
    let name = std::thread::current()
        .name()
        .unwrap_or("unnamed lab test")
        .to_owned();
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(file, "{name}");
    }
}
