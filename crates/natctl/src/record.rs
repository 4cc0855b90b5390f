//! The IPv6 pinholes natctl opened, recorded so a later `natctl list -6` can show them:
//! neither PCP nor UPnP's `WANIPv6FirewallControl` has a request that lists pinholes, so a
//! new process cannot ask the gateway.
//!
//! One small text file beside the facade's UPnP cache (the platform's cache directory,
//! `natkit/natctl-pinholes`): a line per pinhole, `address protocol port technique
//! expires`, `expires` in Unix seconds (0: kept by a running `map --keep`, until it says
//! otherwise). Written whole through a temporary file and a rename; an unreadable file or
//! line is ignored; at most [`MAX_ENTRIES`] lines and [`MAX_FILE`] bytes are read. A record
//! is a note, not the truth: a gateway may have dropped a pinhole (a restart) or another
//! program may have deleted it.

use std::io::Read as _;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nat_traversal::{Protocol, Technique};

/// The most bytes read from the file.
const MAX_FILE: u64 = 64 * 1024;
/// The most lines kept.
const MAX_ENTRIES: usize = 256;

/// One recorded pinhole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pinhole {
    pub(crate) address: Ipv6Addr,
    pub(crate) protocol: Protocol,
    pub(crate) port: u16,
    pub(crate) technique: Technique,
    /// Unix seconds; 0 while a `map --keep` holds it.
    pub(crate) expires: u64,
}

impl Pinhole {
    fn parse(line: &str) -> Option<Pinhole> {
        let mut fields = line.split_ascii_whitespace();
        let pinhole = Pinhole {
            address: fields.next()?.parse().ok()?,
            protocol: match fields.next()? {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                _ => return None,
            },
            port: fields.next()?.parse().ok().filter(|&p| p != 0)?,
            technique: fields.next()?.parse().ok()?,
            expires: fields.next()?.parse().ok()?,
        };
        fields.next().is_none().then_some(pinhole)
    }

    fn line(&self) -> String {
        let protocol = match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        format!(
            "{} {protocol} {} {} {}\n",
            self.address,
            self.port,
            self.technique.as_str(),
            self.expires
        )
    }

    /// How long it has left: `None` while kept, zero once expired.
    pub(crate) fn remaining(&self, now: u64) -> Option<Duration> {
        (self.expires != 0).then(|| Duration::from_secs(self.expires.saturating_sub(now)))
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The record's file, `None` when the platform's cache directory cannot be told.
pub(crate) fn path() -> Option<PathBuf> {
    nat_traversal::NatOptions::default_upnp_cache()
        .and_then(|cache| cache.parent().map(|dir| dir.join("natctl-pinholes")))
}

/// The pinholes recorded and not expired.
pub(crate) fn read(path: &Path) -> Vec<Pinhole> {
    let now = now();
    read_all(path)
        .into_iter()
        .filter(|p| p.remaining(now) != Some(Duration::ZERO))
        .collect()
}

fn read_all(path: &Path) -> Vec<Pinhole> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let mut text = String::new();
    if file.take(MAX_FILE).read_to_string(&mut text).is_err() {
        return Vec::new();
    }
    text.lines()
        .filter_map(Pinhole::parse)
        .take(MAX_ENTRIES)
        .collect()
}

/// Rewrites the record with `change` applied to its live entries; failures are only
/// logged (the record is a convenience).
fn update(path: &Path, change: impl FnOnce(&mut Vec<Pinhole>)) {
    let mut entries = read(path);
    change(&mut entries);
    entries.truncate(MAX_ENTRIES);
    let text: String = entries.iter().map(Pinhole::line).collect();
    let written = (|| {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, path)
    })();
    if let Err(error) = written {
        tracing::debug!(path = %path.display(), %error, "cannot write the pinhole record");
    }
}

/// Records `pinhole`, replacing an entry of the same address, protocol and port.
pub(crate) fn add(path: &Path, pinhole: Pinhole) {
    update(path, |entries| {
        entries.retain(|p| {
            (p.address, p.protocol, p.port) != (pinhole.address, pinhole.protocol, pinhole.port)
        });
        entries.push(pinhole);
    });
}

/// Forgets the pinholes of `protocol` (and `port`, when given).
pub(crate) fn remove(path: &Path, protocol: Protocol, port: Option<u16>) {
    update(path, |entries| {
        entries.retain(|p| p.protocol != protocol || port.is_some_and(|port| p.port != port));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pinhole(port: u16, expires: u64) -> Pinhole {
        Pinhole {
            address: "2001:db8::10".parse().unwrap_or(Ipv6Addr::LOCALHOST),
            protocol: Protocol::Tcp,
            port,
            technique: Technique::Pcp,
            expires,
        }
    }

    #[test]
    fn lines_round_trip_and_bad_ones_are_skipped() {
        let kept = pinhole(8080, 0);
        assert_eq!(Pinhole::parse(kept.line().trim()), Some(kept));
        for bad in [
            "",
            "2001:db8::10 tcp 8080 pcp",
            "2001:db8::10 sctp 8080 pcp 5",
            "2001:db8::10 tcp 0 pcp 5",
            "2001:db8::10 tcp 8080 smtp 5",
            "10.0.0.1 tcp 8080 pcp 5",
            "2001:db8::10 tcp 8080 pcp 5 extra",
        ] {
            assert_eq!(Pinhole::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_record_adds_replaces_expires_and_removes() {
        let dir = std::env::temp_dir().join(format!("natctl-record-{}", std::process::id()));
        let path = dir.join("natctl-pinholes");
        let _ = std::fs::remove_file(&path);
        let later = now() + 600;
        add(&path, pinhole(8080, later));
        add(&path, pinhole(8080, 0));
        add(&path, pinhole(8081, 1));
        add(&path, pinhole(8082, later));
        let ports: Vec<(u16, u64)> = read(&path).iter().map(|p| (p.port, p.expires)).collect();
        assert_eq!(
            ports,
            [(8080, 0), (8082, later)],
            "replaced, and 8081 expired"
        );
        remove(&path, Protocol::Tcp, Some(8080));
        assert_eq!(read(&path).len(), 1);
        remove(&path, Protocol::Udp, None);
        assert_eq!(read(&path).len(), 1, "another protocol stays");
        remove(&path, Protocol::Tcp, None);
        assert!(read(&path).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
