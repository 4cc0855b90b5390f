//! Counting what reaches the "internet": an nftables counter on the WAN host's input, so a
//! test can prove that a program sent nothing beyond the gateway (e.g. no STUN request
//! when no STUN server was named) without a packet capture.

use crate::{Lab, LabError, Result};

/// The WAN host's table holding the counter.
const TABLE: &str = "natlab_wan";

impl Lab {
    /// Starts counting the packets the WAN host receives (IPv4 and IPv6, any protocol, to any
    /// of its addresses; neighbour discovery and multicast listener messages, which are the
    /// link's business, not a program's, are left out). Calling it again resets the count
    /// to zero.
    pub fn count_wan_packets(&self) -> Result<()> {
        let ruleset = format!(
            "table inet {TABLE} {{\n  counter received {{ }}\n  chain input {{\n    \
             type filter hook input priority 0; policy accept;\n    \
             icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, \
             nd-router-advert, mld-listener-query, mld-listener-report, mld-listener-done, \
             mld2-listener-report }} accept\n    counter name received\n  }}\n}}\n"
        );
        // Replacing the table resets the counter.
        let _ = self.wan.exec("nft", &["delete", "table", "inet", TABLE]);
        let path = self.dir.join("wan-counter.nft");
        crate::topology::write_file(&path, &ruleset)?;
        self.wan.exec("nft", &["-f", &path.to_string_lossy()])?;
        Ok(())
    }

    /// How many packets the WAN host received since [`Lab::count_wan_packets`].
    pub fn wan_packets(&self) -> Result<u64> {
        let output = self
            .wan
            .exec("nft", &["list", "counter", "inet", TABLE, "received"])?;
        parse_packets(&String::from_utf8_lossy(&output.stdout))
            .ok_or_else(|| LabError::Invalid("the WAN host's counter shows no packet count".into()))
    }
}

/// The `packets N` of an `nft list counter` listing.
fn parse_packets(listing: &str) -> Option<u64> {
    let words: Vec<&str> = listing.split_whitespace().collect();
    words
        .iter()
        .position(|w| *w == "packets")
        .and_then(|i| words.get(i + 1))
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_packet_count() {
        let listing =
            "table inet natlab_wan {\n\tcounter received {\n\t\tpackets 12 bytes 840\n\t}\n}\n";
        assert_eq!(parse_packets(listing), Some(12));
        assert_eq!(parse_packets("table inet natlab_wan {\n}"), None);
    }
}
