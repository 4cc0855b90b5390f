//! The router's NAT behaviour ([`NatBehaviour`]): how its nftables masquerade maps (RFC 4787
//! mapping behaviour), what it lets back in to a mapping (filtering behaviour), and whether
//! a LAN host reaches a mapping at the router's own external address (hairpinning).
//!
//! The lab's ruleset (`router::ruleset`) is the default: a port-preserving masquerade and
//! conntrack. Every other behaviour is added on top once the topology exists, in a table of
//! its own (`ip natlab_nat`) plus the few rules it needs in miniupnpd's table, so
//! miniupnpd's own chains and rules are untouched and go on working:
//!
//! - `random` / `fully-random` mapping: the masquerade rule is replaced by one with that flag.
//! - Looser filtering: a dynamic map learns, from every UDP datagram a LAN host sends out,
//!   which external port (for address-dependent filtering: external port and remote address)
//!   belongs to which LAN address and port; a `dnat` through that map lets a datagram from
//!   a new remote in, and a connection mark lets it through the forward chain.
//! - Hairpinning: a datagram or connection from the LAN to the router's own external address
//!   is routed out a veth pair that leads back into the router's WAN interface (which is then
//!   a bridge), source-NATed to the external address on its way. It comes back in on the WAN
//!   interface like a packet from the internet, so every mapping behaves for it as it does
//!   for a remote host: miniupnpd's redirections, native mappings through the filtering the
//!   lab was built with, and a socket reaching its own mapping (the reply direction of its
//!   own connection).

use crate::router::{LAN_BRIDGE, WAN_INTERFACE};
use crate::{Lab, LabError, ROUTER_LAN_ADDRESS, Result};

/// How the router's NAT behaves: mapping, filtering, hairpinning. The default is the lab as
/// it always was: port-preserving masquerade, conntrack's filtering, no hairpinning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NatBehaviour {
    /// How a LAN socket's traffic is given an external address and port.
    pub mapping: Mapping,
    /// What the router lets in to an existing mapping.
    pub filtering: Filtering,
    /// Whether a LAN host reaches a mapping (miniupnpd's or a native one) at the router's
    /// external address and port.
    pub hairpinning: bool,
}

/// The mapping behaviour (RFC 4787 section 4.1) of the router's masquerade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mapping {
    /// `masquerade`: the external port is the LAN socket's own port when free, the same for
    /// every destination: endpoint-independent mapping.
    #[default]
    PortPreserving,
    /// `masquerade random`: the external port is a hash of the connection's addresses and
    /// ports, so each destination address and port gets another one: address- and
    /// port-dependent mapping.
    Random,
    /// `masquerade fully-random`: a random external port for each new connection:
    /// address- and port-dependent mapping.
    FullyRandom,
}

/// The filtering behaviour (RFC 4787 section 5) of the router toward a UDP mapping.
///
/// TCP always has conntrack's filtering (address- and port-dependent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Filtering {
    /// Conntrack: only the address and port a LAN socket sent to may answer.
    #[default]
    AddressAndPortDependent,
    /// Any port of an address a LAN socket sent to may reach its mapping.
    AddressDependent,
    /// Any remote host may reach a mapping once the LAN socket sent anything out.
    EndpointIndependent,
}

impl Mapping {
    /// The masquerade statement's flag, `None` for the plain one.
    fn flag(self) -> Option<&'static str> {
        match self {
            Mapping::PortPreserving => None,
            Mapping::Random => Some("random"),
            Mapping::FullyRandom => Some("fully-random"),
        }
    }
}

/// The connection mark of an inbound connection let in by the looser filtering.
const FILTER_MARK: u32 = 0x4e41;
/// The packet mark of LAN traffic toward the router's own external address.
const HAIRPIN_MARK: u32 = 0x4850;
/// The routing table hairpinned traffic is looked up in.
const HAIRPIN_TABLE: &str = "77";
/// The router end of the hairpin loop (its peer is a port of the WAN bridge).
pub(crate) const HAIRPIN_OUT: &str = "hpa";
/// The end of the hairpin loop that is a port of the WAN bridge.
pub(crate) const HAIRPIN_IN: &str = "hpb";
/// The WAN bridge's port toward the WAN host (or the outer NAT) when hairpinning is on.
pub(crate) const WAN_PORT: &str = "wanp";
/// A gateway that exists only as a neighbour entry: hairpinned packets go to it, and so to
/// the WAN bridge's own MAC address, whatever the external address is.
const HAIRPIN_GATEWAY: &str = "169.254.77.1";
/// How long a learned UDP mapping stays open to the looser filtering without traffic out
/// (conntrack's timeout for a UDP flow that has seen replies).
const LEARNED_TIMEOUT: &str = "2m";

impl Lab {
    /// Applies the configured mapping and filtering (after the ruleset is loaded).
    pub(crate) fn apply_nat_behaviour(&self) -> Result<()> {
        let nat = self.config.nat;
        if let Some(flag) = nat.mapping.flag() {
            self.replace_masquerade(flag)?;
        }
        let table = behaviour_table(nat);
        if table.is_empty() {
            return Ok(());
        }
        let path = self.dir.join("nat-behaviour.nft");
        crate::topology::write_file(&path, &table)?;
        self.router.exec("nft", &["-f", &path.to_string_lossy()])?;
        if nat.filtering != Filtering::AddressAndPortDependent {
            self.router.exec(
                "nft",
                &[
                    "insert",
                    "rule",
                    "inet",
                    "filter",
                    "forward",
                    "iifname",
                    WAN_INTERFACE,
                    "ct",
                    "mark",
                    &format!("{FILTER_MARK:#x}"),
                    "accept",
                ],
            )?;
        }
        if nat.hairpinning {
            self.router.exec(
                "nft",
                &[
                    "insert",
                    "rule",
                    "inet",
                    "filter",
                    "forward",
                    "iifname",
                    LAN_BRIDGE,
                    "oifname",
                    HAIRPIN_OUT,
                    "accept",
                ],
            )?;
        }
        Ok(())
    }

    /// Replaces the ruleset's masquerade rule by one with `flag`.
    fn replace_masquerade(&self, flag: &str) -> Result<()> {
        let listing = self.router.exec(
            "nft",
            &["-a", "list", "chain", "inet", "filter", "postrouting"],
        )?;
        let listing = String::from_utf8_lossy(&listing.stdout);
        let handle = listing
            .lines()
            .find(|line| line.contains("masquerade"))
            .and_then(|line| line.rsplit_once("# handle "))
            .map(|(_, handle)| handle.trim().to_owned())
            .ok_or_else(|| {
                LabError::Invalid("the ruleset has no masquerade rule to replace".into())
            })?;
        self.router.exec(
            "nft",
            &[
                "replace",
                "rule",
                "inet",
                "filter",
                "postrouting",
                "handle",
                &handle,
                "meta",
                "nfproto",
                "ipv4",
                "oifname",
                WAN_INTERFACE,
                "masquerade",
                flag,
            ],
        )?;
        Ok(())
    }

    /// The hairpin loop's routing, once the WAN bridge and the veth pair exist: LAN traffic
    /// to a local address other than the router's LAN address is marked, and marked traffic
    /// from the LAN leaves through the loop. The `local` table's rule moves behind the
    /// hairpin rule, or the router would take such traffic for itself first.
    pub(crate) fn route_hairpin(&self) -> Result<()> {
        let bridge_mac = self
            .router
            .exec("cat", &[&format!("/sys/class/net/{WAN_INTERFACE}/address")])?;
        let bridge_mac = String::from_utf8_lossy(&bridge_mac.stdout)
            .trim()
            .to_owned();
        let mark = format!("{HAIRPIN_MARK:#x}");
        let commands: [&[&str]; 6] = [
            &["link", "set", HAIRPIN_OUT, "up"],
            &["rule", "add", "pref", "100", "lookup", "local"],
            &["rule", "del", "pref", "0"],
            &[
                "rule",
                "add",
                "pref",
                "50",
                "iif",
                LAN_BRIDGE,
                "fwmark",
                &mark,
                "lookup",
                HAIRPIN_TABLE,
            ],
            &[
                "route",
                "add",
                "default",
                "via",
                HAIRPIN_GATEWAY,
                "dev",
                HAIRPIN_OUT,
                "onlink",
                "table",
                HAIRPIN_TABLE,
            ],
            &[
                "neigh",
                "replace",
                HAIRPIN_GATEWAY,
                "lladdr",
                &bridge_mac,
                "dev",
                HAIRPIN_OUT,
                "nud",
                "permanent",
            ],
        ];
        for args in commands {
            self.router.exec("ip", args)?;
        }
        self.router.exec(
            "sh",
            &[
                "-c",
                &format!(
                    "echo 1 > /proc/sys/net/ipv4/conf/{WAN_INTERFACE}/accept_local; \
                     echo 0 > /proc/sys/net/ipv4/conf/{WAN_INTERFACE}/rp_filter; \
                     echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter"
                ),
            ],
        )?;
        Ok(())
    }
}

/// The `ip natlab_nat` table for `nat`, empty when the ruleset's defaults are all it needs.
fn behaviour_table(nat: NatBehaviour) -> String {
    let mut sets = String::new();
    let mut prerouting = String::new();
    let mut learn = String::new();
    let mut postrouting = String::new();
    let mut mark = String::new();
    let learned = |key: &str| {
        format!(
            "  map {key} {{\n    typeof udp sport . ip daddr : ip saddr . udp sport\n    \
             flags dynamic, timeout\n    timeout {LEARNED_TIMEOUT}\n  }}\n"
        )
    };
    match nat.filtering {
        Filtering::AddressAndPortDependent => {}
        Filtering::AddressDependent => {
            sets.push_str(&learned("learned_udp"));
            prerouting.push_str(&format!(
                "    iifname \"{WAN_INTERFACE}\" udp dport . ip saddr @learned_udp \
                 ct mark set {FILTER_MARK:#x} dnat ip to udp dport . ip saddr map @learned_udp\n"
            ));
            learn.push_str(&format!(
                "    oifname \"{WAN_INTERFACE}\" ct direction original meta l4proto udp \
                 update @learned_udp {{ udp sport . ip daddr : ct original ip saddr . ct original proto-src }}\n"
            ));
        }
        Filtering::EndpointIndependent => {
            sets.push_str(&format!(
                "  map learned_udp {{\n    typeof udp sport : ip saddr . udp sport\n    \
                 flags dynamic, timeout\n    timeout {LEARNED_TIMEOUT}\n  }}\n"
            ));
            prerouting.push_str(&format!(
                "    iifname \"{WAN_INTERFACE}\" udp dport @learned_udp \
                 ct mark set {FILTER_MARK:#x} dnat ip to udp dport map @learned_udp\n"
            ));
            learn.push_str(&format!(
                "    oifname \"{WAN_INTERFACE}\" ct direction original meta l4proto udp \
                 update @learned_udp {{ udp sport : ct original ip saddr . ct original proto-src }}\n"
            ));
        }
    }
    if nat.hairpinning {
        mark.push_str(&format!(
            "    iifname \"{LAN_BRIDGE}\" fib daddr type local ip daddr != {ROUTER_LAN_ADDRESS} \
             meta mark set {HAIRPIN_MARK:#x}\n"
        ));
        // The packet's destination is the external address it was sent to: as a mapping's
        // source it is what a remote host would see.
        postrouting.push_str(&format!(
            "    oifname \"{HAIRPIN_OUT}\" snat ip to ip daddr\n"
        ));
    }
    if sets.is_empty() && mark.is_empty() {
        return String::new();
    }
    let chain = |name: &str, hook: &str, body: &str| {
        if body.is_empty() {
            String::new()
        } else {
            format!("  chain {name} {{\n    type {hook}; policy accept;\n{body}  }}\n")
        }
    };
    // After miniupnpd's chains (a redirection wins over a learned mapping) and after the
    // masquerade (the learned port is the external one).
    format!(
        "table ip natlab_nat {{\n{sets}{}{}{}{}}}\n",
        chain(
            "hairpin_mark",
            "filter hook prerouting priority mangle",
            &mark
        ),
        chain(
            "prerouting",
            "nat hook prerouting priority dstnat + 1",
            &prerouting
        ),
        chain(
            "postrouting",
            "nat hook postrouting priority srcnat + 1",
            &postrouting
        ),
        chain(
            "learn",
            "filter hook postrouting priority srcnat + 1",
            &learn
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_adds_nothing() {
        assert!(behaviour_table(NatBehaviour::default()).is_empty());
        let random = NatBehaviour {
            mapping: Mapping::FullyRandom,
            ..NatBehaviour::default()
        };
        assert!(behaviour_table(random).is_empty());
    }

    #[test]
    fn looser_filtering_learns_and_lets_in() {
        let table = behaviour_table(NatBehaviour {
            filtering: Filtering::EndpointIndependent,
            ..NatBehaviour::default()
        });
        assert!(table.contains("typeof udp sport : ip saddr . udp sport"));
        assert!(table.contains("dnat ip to udp dport map @learned_udp"));
        assert!(!table.contains("hairpin"));
        let table = behaviour_table(NatBehaviour {
            filtering: Filtering::AddressDependent,
            hairpinning: true,
            ..NatBehaviour::default()
        });
        assert!(table.contains("dnat ip to udp dport . ip saddr map @learned_udp"));
        assert!(table.contains("meta mark set 0x4850"));
        assert!(table.contains("oifname \"hpa\" snat ip to ip daddr"));
    }
}
