//! The on-disk cache of UPnP IGDs: for each (gateway, local address), the WAN connection
//! service's type and control URL found by the last discovery, so the next process can
//! talk to the IGD at once instead of waiting for its SSDP answer (miniupnpd waits at least
//! 50 ms before it answers a search; many routers longer).
//!
//! One small text file, a line per entry (`gateway local-address service-type
//! control-url`), written atomically (a temporary file renamed over it), read with bounds,
//! and ignored whole or by line when unreadable. A cached URL gets the same checks as a
//! fresh one (an IP literal on the gateway itself, `http` only), and the facade goes back
//! to SSDP discovery when the cached service does not answer.

use std::io::Read as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The most bytes read from the file.
const MAX_FILE: u64 = 64 * 1024;
/// The most entries kept (one per network a machine moves between).
const MAX_ENTRIES: usize = 32;

/// What the cache says of one gateway, seen from one local address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) gateway: IpAddr,
    pub(crate) local: IpAddr,
    pub(crate) service_type: String,
    pub(crate) control_url: String,
}

impl Entry {
    fn parse(line: &str) -> Option<Entry> {
        let mut fields = line.split_ascii_whitespace();
        let entry = Entry {
            gateway: fields.next()?.parse().ok()?,
            local: fields.next()?.parse().ok()?,
            service_type: fields.next()?.to_owned(),
            control_url: fields.next()?.to_owned(),
        };
        fields.next().is_none().then_some(entry)
    }

    fn line(&self) -> String {
        format!(
            "{} {} {} {}\n",
            self.gateway, self.local, self.service_type, self.control_url
        )
    }

    fn is_writable(&self) -> bool {
        [&self.service_type, &self.control_url]
            .iter()
            .all(|f| !f.is_empty() && f.len() <= 2048 && f.bytes().all(|b| b.is_ascii_graphic()))
    }
}

/// The platform's cache directory for natkit, `None` when it cannot be told (no home).
pub(crate) fn default_path() -> Option<PathBuf> {
    let base = if cfg!(windows) {
        std::env::var_os("LOCALAPPDATA").map(PathBuf::from)
    } else if cfg!(any(target_os = "macos", target_os = "ios")) {
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join("Library/Caches"))
    } else {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
    };
    base.map(|base| base.join("natkit").join("upnp-igd"))
}

fn read_all(path: &Path) -> Vec<Entry> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let mut text = String::new();
    if file.take(MAX_FILE).read_to_string(&mut text).is_err() {
        tracing::debug!(path = %path.display(), "the upnp cache is unreadable; ignoring it");
        return Vec::new();
    }
    text.lines()
        .filter_map(Entry::parse)
        .take(MAX_ENTRIES)
        .collect()
}

/// The entry for `gateway` seen from `local`, if the file has one.
pub(crate) fn load(path: &Path, gateway: IpAddr, local: IpAddr) -> Option<Entry> {
    read_all(path)
        .into_iter()
        .find(|e| e.gateway == gateway && e.local == local)
}

/// Records `entry` (replacing the one for the same gateway and local address), best effort.
pub(crate) fn store(path: &Path, entry: &Entry) {
    if !entry.is_writable() {
        return;
    }
    let mut entries = read_all(path);
    if entries.first() == Some(entry) {
        return;
    }
    entries.retain(|e| !(e.gateway == entry.gateway && e.local == entry.local));
    entries.insert(0, entry.clone());
    entries.truncate(MAX_ENTRIES);
    let text: String = entries.iter().map(Entry::line).collect();
    let written = (|| {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temporary);
        })
    })();
    if let Err(error) = written {
        tracing::debug!(path = %path.display(), %error, "cannot write the upnp cache");
    }
}

/// Removes the entry for `gateway` seen from `local` (it did not answer), best effort.
pub(crate) fn forget(path: &Path, gateway: IpAddr, local: IpAddr) {
    let entries = read_all(path);
    if !entries
        .iter()
        .any(|e| e.gateway == gateway && e.local == local)
    {
        return;
    }
    let text: String = entries
        .iter()
        .filter(|e| !(e.gateway == gateway && e.local == local))
        .map(Entry::line)
        .collect();
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&temporary, text).is_ok() && std::fs::rename(&temporary, path).is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(gateway: &str, url: &str) -> Entry {
        Entry {
            gateway: gateway.parse().expect("address"),
            local: "192.168.1.5".parse().expect("address"),
            service_type: "urn:schemas-upnp-org:service:WANIPConnection:2".into(),
            control_url: url.into(),
        }
    }

    #[test]
    fn entries_are_stored_replaced_and_forgotten() {
        let dir = std::env::temp_dir().join(format!("natkit-cache-test-{}", std::process::id()));
        let path = dir.join("upnp-igd");
        let first = entry("192.168.1.1", "http://192.168.1.1:5000/ctl/IPConn");
        store(&path, &first);
        assert_eq!(load(&path, first.gateway, first.local), Some(first.clone()));
        let moved = entry("192.168.1.1", "http://192.168.1.1:5001/ctl/IPConn");
        store(&path, &moved);
        store(&path, &entry("10.0.0.1", "http://10.0.0.1/ctl"));
        assert_eq!(load(&path, first.gateway, first.local), Some(moved.clone()));
        assert_eq!(read_all(&path).len(), 2);
        forget(&path, moved.gateway, moved.local);
        assert_eq!(load(&path, moved.gateway, moved.local), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn junk_is_ignored_line_by_line() {
        let dir = std::env::temp_dir().join(format!("natkit-cache-junk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("upnp-igd");
        let good = entry("192.168.1.1", "http://192.168.1.1:5000/ctl");
        std::fs::write(
            &path,
            format!(
                "garbage\n\u{0}\u{1}\n1.2.3.4 x y z\n{}too many fields here x\n",
                good.line()
            ),
        )
        .expect("write");
        assert_eq!(load(&path, good.gateway, good.local), Some(good));
        // A value with a space or a control character is never written.
        store(&path, &entry("192.168.1.2", "http://192.168.1.2/a b"));
        assert_eq!(read_all(&path).len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
