//! The on-disk cache of UPnP IGDs: for each (gateway, local address), the WAN connection
//! service's type and control URL found by the last discovery, so the next process can
//! talk to the IGD at once instead of waiting for its SSDP answer (miniupnpd waits at least
//! 50 ms before it answers a search; many routers longer).
//!
//! A line per entry (`gateway local-address service-type control-url`) in the facade's
//! bounded, atomic [`LineStore`]. A cached URL gets the same checks as a
//! fresh one (an IP literal on the gateway itself, `http` only), and the facade goes back
//! to SSDP discovery when the cached service does not answer.

use std::net::IpAddr;
use std::path::Path;

use crate::store::{Line, LineStore, is_field};

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

impl Line for Entry {
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

    fn line(&self) -> Option<String> {
        (is_field(&self.service_type) && is_field(&self.control_url)).then(|| {
            format!(
                "{} {} {} {}",
                self.gateway, self.local, self.service_type, self.control_url
            )
        })
    }
}

fn store_at(path: &Path) -> LineStore {
    LineStore::new(path, MAX_ENTRIES)
}

/// The entry for `gateway` seen from `local`, if the file has one.
pub(crate) fn load(path: &Path, gateway: IpAddr, local: IpAddr) -> Option<Entry> {
    store_at(path)
        .read::<Entry>()
        .into_iter()
        .find(|e| e.gateway == gateway && e.local == local)
}

/// Records `entry` first (replacing the one for the same gateway and local address), best
/// effort.
pub(crate) fn store(path: &Path, entry: &Entry) {
    if entry.line().is_none() {
        return;
    }
    store_at(path).update(|entries: &mut Vec<Entry>| {
        entries.retain(|e| !(e.gateway == entry.gateway && e.local == entry.local));
        entries.insert(0, entry.clone());
    });
}

/// Removes the entry for `gateway` seen from `local` (it did not answer), best effort.
pub(crate) fn forget(path: &Path, gateway: IpAddr, local: IpAddr) {
    store_at(path).update(|entries: &mut Vec<Entry>| {
        entries.retain(|e| !(e.gateway == gateway && e.local == local));
    });
}

#[cfg(test)]
fn read_all(path: &Path) -> Vec<Entry> {
    store_at(path).read()
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
                good.line().expect("a line") + "\n"
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
