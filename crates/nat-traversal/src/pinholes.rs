//! The pinhole record: the IPv6 pinholes this host's programs opened through the facade,
//! kept in a [`LineStore`] so that any later process can list and remove them, since
//! neither PCP nor UPnP's `WANIPv6FirewallControl` has a request that lists pinholes.
//!
//! A line per pinhole, `address protocol port technique expires [id]`, `expires` in Unix
//! seconds (0: kept by a running persistent mapping, until it says otherwise), `id` the UPnP
//! pinhole's `UniqueID`, which is how UPnP deletes it (it has no delete by port). A record is a note,
//! not the truth: a gateway may have dropped a pinhole (a restart), or another program may
//! have deleted it.

use std::net::Ipv6Addr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::store::{Line, LineStore};
use crate::technique::{Mapping, Protocol, Technique};

/// The most pinholes kept.
const MAX_RECORDS: usize = 256;

/// A pinhole the facade recorded opening.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedPinhole {
    /// This host's global address the pinhole lets through.
    pub address: Ipv6Addr,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port.
    pub port: u16,
    /// The technique that opened it.
    pub technique: Technique,
    /// When it expires unless refreshed; `None` while a persistent mapping keeps it.
    pub expires: Option<SystemTime>,
    /// The id UPnP's `WANIPv6FirewallControl` deletes it by (its `UniqueID`), for a UPnP
    /// pinhole.
    pub pinhole_id: Option<u16>,
}

impl RecordedPinhole {
    /// How long it has left: `None` while kept, zero once expired.
    pub fn remaining(&self) -> Option<Duration> {
        self.expires.map(|at| {
            at.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        })
    }
}

impl Line for RecordedPinhole {
    fn parse(line: &str) -> Option<RecordedPinhole> {
        let mut fields = line.split_ascii_whitespace();
        let address = fields.next()?.parse().ok()?;
        let protocol = match fields.next()? {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            _ => return None,
        };
        let port = fields.next()?.parse().ok().filter(|&p| p != 0)?;
        let technique = fields.next()?.parse().ok()?;
        let expires: u64 = fields.next()?.parse().ok()?;
        let pinhole_id = match fields.next() {
            Some(id) => Some(id.parse().ok()?),
            None => None,
        };
        fields.next().is_none().then_some(RecordedPinhole {
            address,
            protocol,
            port,
            technique,
            expires: (expires != 0).then(|| UNIX_EPOCH + Duration::from_secs(expires)),
            pinhole_id,
        })
    }

    fn line(&self) -> Option<String> {
        // Only the built-in kinds can be read back.
        if matches!(self.technique, Technique::Other(_)) {
            return None;
        }
        let expires = self.expires.map_or(0, |at| {
            at.duration_since(UNIX_EPOCH).map_or(1, |d| d.as_secs())
        });
        let id = self
            .pinhole_id
            .map(|id| format!(" {id}"))
            .unwrap_or_default();
        Some(format!(
            "{} {} {} {} {expires}{id}",
            self.address,
            self.protocol.as_str(),
            self.port,
            self.technique.as_str()
        ))
    }
}

/// The record at `path`.
#[derive(Debug, Clone)]
pub(crate) struct PinholeRecord(LineStore);

impl PinholeRecord {
    pub(crate) fn new(path: &Path) -> PinholeRecord {
        PinholeRecord(LineStore::new(path, MAX_RECORDS))
    }

    /// The pinholes recorded and not expired.
    pub(crate) fn read(&self) -> Vec<RecordedPinhole> {
        self.0
            .read::<RecordedPinhole>()
            .into_iter()
            .filter(|p| p.remaining() != Some(Duration::ZERO))
            .collect()
    }

    /// Records a pinhole granted as `mapping`; `kept` while a persistent mapping holds it.
    pub(crate) fn add(&self, mapping: &Mapping, kept: bool) {
        let std::net::IpAddr::V6(address) = mapping.external.ip() else {
            return;
        };
        let pinhole = RecordedPinhole {
            address,
            protocol: mapping.protocol,
            port: mapping.internal_port,
            technique: mapping.technique,
            expires: (!kept).then(|| SystemTime::now() + mapping.lifetime),
            pinhole_id: mapping.pinhole_id,
        };
        self.0.update(|records: &mut Vec<RecordedPinhole>| {
            records.retain(|p| {
                p.remaining() != Some(Duration::ZERO)
                    && (p.address, p.protocol, p.port)
                        != (pinhole.address, pinhole.protocol, pinhole.port)
            });
            records.push(pinhole);
        });
    }

    /// The UPnP pinholes recorded with their id: (protocol, port, id).
    #[cfg(feature = "upnp")]
    pub(crate) fn upnp_ids(&self) -> Vec<(Protocol, u16, u16)> {
        self.read()
            .into_iter()
            .filter(|p| p.technique == Technique::Upnp)
            .filter_map(|p| p.pinhole_id.map(|id| (p.protocol, p.port, id)))
            .collect()
    }

    /// Forgets the pinholes of `protocol` (and `port`, when given).
    pub(crate) fn remove(&self, protocol: Protocol, port: Option<u16>) {
        self.0.update(|records: &mut Vec<RecordedPinhole>| {
            records.retain(|p| p.protocol != protocol || port.is_some_and(|port| p.port != port));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn pinhole(port: u16, lifetime: u64) -> Mapping {
        Mapping::new(
            Technique::Pcp,
            Protocol::Tcp,
            port,
            SocketAddr::new("2001:db8::10".parse().expect("an address"), port),
            Duration::from_secs(lifetime),
        )
    }

    #[test]
    fn lines_round_trip_and_bad_ones_are_skipped() {
        let kept = "2001:db8::10 tcp 8080 pcp 0";
        let parsed = RecordedPinhole::parse(kept).expect("a record");
        assert_eq!(parsed.expires, None);
        assert_eq!(parsed.line().as_deref(), Some(kept));
        let upnp = "2001:db8::10 udp 9000 upnp 1800000000 7";
        let parsed = RecordedPinhole::parse(upnp).expect("a record");
        assert_eq!(parsed.pinhole_id, Some(7));
        assert_eq!(parsed.line().as_deref(), Some(upnp));
        for bad in [
            "",
            "2001:db8::10 tcp 8080 pcp",
            "2001:db8::10 sctp 8080 pcp 5",
            "2001:db8::10 tcp 0 pcp 5",
            "2001:db8::10 tcp 8080 smtp 5",
            "10.0.0.1 tcp 8080 pcp 5",
            "2001:db8::10 tcp 8080 upnp 5 notanid",
            "2001:db8::10 tcp 8080 upnp 5 7 extra",
        ] {
            assert_eq!(RecordedPinhole::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_record_adds_replaces_expires_and_removes() {
        let dir = std::env::temp_dir().join(format!("natkit-pinholes-{}", std::process::id()));
        let record = PinholeRecord::new(&dir.join("pinholes"));
        record.add(&pinhole(8080, 600), false);
        record.add(&pinhole(8080, 600), true);
        record.add(&pinhole(8081, 0), false);
        record.add(&pinhole(8082, 600), false);
        let ports: Vec<(u16, bool)> = record
            .read()
            .iter()
            .map(|p| (p.port, p.expires.is_none()))
            .collect();
        assert_eq!(
            ports,
            [(8080, true), (8082, false)],
            "replaced, and 8081 expired"
        );
        record.remove(Protocol::Tcp, Some(8080));
        assert_eq!(record.read().len(), 1);
        record.remove(Protocol::Udp, None);
        assert_eq!(record.read().len(), 1, "another protocol stays");
        record.remove(Protocol::Tcp, None);
        assert!(record.read().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
