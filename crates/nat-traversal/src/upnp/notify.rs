//! Noticing a UPnP IGD's restart at once, from its SSDP notifications: a router announces
//! itself with `ssdp:alive` when it starts (with a new `BOOTID.UPNP.ORG` under UPnP 1.1, and
//! perhaps a new HTTP port in `LOCATION`) and says `ssdp:byebye` when it stops. Without
//! this, a UPnP-only router's restart is noticed only at the next refresh, up to half a
//! lease later.
//!
//! The tracking is pure ([`BootTracker`]); the technique's events feed it the notifications whose
//! source is the gateway itself (anyone on the LAN can send a NOTIFY; only the gateway's
//! count).

use std::net::IpAddr;

/// What a notification means for the mappings held at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Nothing changed.
    Same,
    /// The IGD restarted (or moved): its mappings are gone, its location may be new.
    Restarted,
}

/// The gateway's last known boot id and description location.
#[derive(Debug, Default)]
pub(super) struct BootTracker {
    boot_id: Option<String>,
    location: Option<String>,
    /// A byebye came: the next alive is a restart whatever it carries.
    said_goodbye: bool,
}

impl BootTracker {
    /// Starts from what the gateway answers now (its boot id and location), so that the
    /// first announcement after a restart without goodbye (a power cut) is told from a
    /// periodic one.
    pub(super) fn seeded(answer: &ssdp::Response) -> BootTracker {
        BootTracker {
            boot_id: answer
                .headers
                .get("BOOTID.UPNP.ORG")
                .map(|b| b.trim().to_owned()),
            location: Some(answer.location.clone()),
            said_goodbye: false,
        }
    }

    /// Reads one notification from the gateway.
    pub(super) fn observe(&mut self, notify: &ssdp::Notify) -> Verdict {
        match notify.nts {
            ssdp::NotificationSubType::ByeBye => {
                if notify.nt == "upnp:rootdevice" {
                    self.said_goodbye = true;
                }
                Verdict::Same
            }
            // A planned change of boot id (UPnP 1.1): the next one is announced, nothing is
            // lost.
            ssdp::NotificationSubType::Update => {
                if let Some(next) = notify.headers.get("NEXTBOOTID.UPNP.ORG") {
                    self.boot_id = Some(next.trim().to_owned());
                }
                Verdict::Same
            }
            ssdp::NotificationSubType::Alive => {
                let boot_id = notify
                    .headers
                    .get("BOOTID.UPNP.ORG")
                    .map(|b| b.trim().to_owned());
                let location = notify.location.clone();
                let changed_boot =
                    matches!((&self.boot_id, &boot_id), (Some(old), Some(new)) if old != new);
                let moved =
                    matches!((&self.location, &location), (Some(old), Some(new)) if old != new);
                let restarted = self.said_goodbye || changed_boot || moved;
                if boot_id.is_some() {
                    self.boot_id = boot_id;
                }
                if location.is_some() {
                    self.location = location;
                }
                self.said_goodbye = false;
                if restarted {
                    Verdict::Restarted
                } else {
                    Verdict::Same
                }
            }
            _ => Verdict::Same,
        }
    }
}

/// Whether a notification comes from `gateway` itself. An IPv6 router sends from a
/// link-local address of its own choosing, not always the one the default route names (seen
/// with miniupnpd, which answers from its interface's first link-local address): for a
/// link-local gateway, any link-local source on the link counts, as for PCP announcements.
pub(super) fn from_gateway(notify: &ssdp::Notify, gateway: IpAddr) -> bool {
    let source = notify.source.ip().to_canonical();
    match (source, gateway.to_canonical()) {
        (IpAddr::V6(source), IpAddr::V6(gateway)) if gateway.is_unicast_link_local() => {
            source.is_unicast_link_local()
        }
        (source, gateway) => source == gateway,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify(nts: &str, boot_id: &str, location: &str) -> ssdp::Notify {
        let text = format!(
            "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nNTS: {nts}\r\nUSN: uuid:x::upnp:rootdevice\r\nLOCATION: {location}\r\nBOOTID.UPNP.ORG: {boot_id}\r\nCACHE-CONTROL: max-age=120\r\n\r\n"
        );
        ssdp::parse_notify(text.as_bytes()).expect("a notify")
    }

    #[test]
    fn a_new_boot_id_or_location_or_a_goodbye_is_a_restart() {
        let mut tracker = BootTracker::default();
        let first = notify("ssdp:alive", "7", "http://192.168.1.1:5000/rootDesc.xml");
        assert_eq!(tracker.observe(&first), Verdict::Same, "first sight");
        assert_eq!(tracker.observe(&first), Verdict::Same, "a periodic alive");
        let rebooted = notify("ssdp:alive", "8", "http://192.168.1.1:5000/rootDesc.xml");
        assert_eq!(tracker.observe(&rebooted), Verdict::Restarted);
        let moved = notify("ssdp:alive", "8", "http://192.168.1.1:5001/rootDesc.xml");
        assert_eq!(tracker.observe(&moved), Verdict::Restarted);
        let bye = notify("ssdp:byebye", "8", "http://192.168.1.1:5001/rootDesc.xml");
        assert_eq!(tracker.observe(&bye), Verdict::Same);
        // Back with the same id (a router without BOOTID bookkeeping): still a restart.
        let back = notify("ssdp:alive", "8", "http://192.168.1.1:5001/rootDesc.xml");
        assert_eq!(tracker.observe(&back), Verdict::Restarted);
        assert_eq!(tracker.observe(&back), Verdict::Same);
    }

    #[test]
    fn a_seeded_tracker_knows_the_first_announcement_after_a_power_cut() {
        let answer = ssdp::parse_response(
            b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nUSN: uuid:x::upnp:rootdevice\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\nBOOTID.UPNP.ORG: 7\r\n\r\n",
        )
        .expect("an answer");
        let mut tracker = BootTracker::seeded(&answer);
        let periodic = notify("ssdp:alive", "7", "http://192.168.1.1:5000/rootDesc.xml");
        assert_eq!(tracker.observe(&periodic), Verdict::Same);
        let rebooted = notify("ssdp:alive", "9", "http://192.168.1.1:5000/rootDesc.xml");
        assert_eq!(tracker.observe(&rebooted), Verdict::Restarted);
    }
}
