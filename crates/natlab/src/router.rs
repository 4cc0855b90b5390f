//! The router's configuration files and state: the nftables ruleset miniupnpd needs, its
//! configuration file, and the parsers for the redirections and pinholes it installs.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

/// The router's interface toward the LAN hosts (a bridge over one port per LAN host).
pub(crate) const LAN_BRIDGE: &str = "br0";
/// The router's interface toward the WAN host.
pub(crate) const WAN_INTERFACE: &str = "wan0";

/// The nftables ruleset: table `inet filter` with the chains miniupnpd 2.3 (nftables build)
/// fills, a masquerade rule toward the WAN, and a forward policy that lets LAN-initiated
/// traffic out and only what miniupnpd opened in.
///
/// Traffic between LAN hosts is accepted: where `br_netfilter` is loaded (as on hosts that
/// run containers), bridged frames pass the `forward` hook too, and its drop policy would
/// cut LAN hosts off from each other, multicast searches included.
///
/// The table is `inet`, so the same forward policy is the IPv6 firewall of a dual-stack lab:
/// IPv6 is routed without NAT (the masquerade rule is IPv4 only), new connections from the
/// WAN are dropped unless a pinhole rule of miniupnpd's in chain `miniupnpd` accepts them,
/// and ICMPv6 errors pass (RFC 4890; neighbour discovery is not forwarded traffic and the
/// ruleset has no input chain, so it is never filtered).
pub(crate) fn ruleset() -> String {
    format!(
        r#"table inet filter {{
  chain forward {{
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "{LAN_BRIDGE}" oifname "{LAN_BRIDGE}" accept
    icmpv6 type {{ destination-unreachable, packet-too-big, time-exceeded, parameter-problem }} accept
    jump miniupnpd
    iifname "{LAN_BRIDGE}" oifname "{WAN_INTERFACE}" accept
  }}
  chain miniupnpd {{
  }}
  chain prerouting {{
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }}
  chain postrouting {{
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    meta nfproto ipv4 oifname "{WAN_INTERFACE}" masquerade
  }}
  chain prerouting_miniupnpd {{
  }}
  chain postrouting_miniupnpd {{
  }}
}}
"#
    )
}

/// The chains miniupnpd writes to, flushed when the router "reboots".
pub(crate) const MINIUPNPD_CHAINS: [&str; 3] =
    ["miniupnpd", "prerouting_miniupnpd", "postrouting_miniupnpd"];

/// What goes into miniupnpd.conf.
#[derive(Debug, Clone)]
pub(crate) struct DaemonConfig<'a> {
    pub(crate) natpmp: bool,
    pub(crate) upnp: bool,
    pub(crate) external_ports: RangeInclusive<u16>,
    pub(crate) min_lifetime: u32,
    pub(crate) lease_file: &'a str,
    pub(crate) uuid: &'a str,
    pub(crate) ipv6: bool,
    /// `secure_mode=no` and `pcp_allow_thirdparty=yes` instead of `secure_mode=yes`.
    pub(crate) third_party: bool,
}

/// Renders miniupnpd.conf. The external address is not set: miniupnpd reads it from the WAN
/// interface, so changing that address (and signalling the daemon) changes what it reports.
///
/// With IPv6, `ipv6_listening_ip` stays unset: miniupnpd then gives UPnP control points
/// `br0`'s global address ([`crate::ROUTER_LAN_ADDRESS_V6`]) and answers PCP on `[::]:5351`,
/// so also at the router's link-local address, the LAN hosts' gateway. Set, it would bind
/// both its HTTP and its PCP socket to that one address, and a PCP request to the gateway
/// `fe80::1` would go unanswered. The IGDv2 description, which holds
/// `WANIPv6FirewallControl:1`, is what Debian's build serves anyway and is asked for
/// explicitly. The `allow`/`deny` rules are IPv4 only: miniupnpd 2.3.1 applies none of them
/// to pinholes (it refuses UPnP pinholes to ports below 1024 by a fixed check, PCP ones not).
pub(crate) fn miniupnpd_conf(config: &DaemonConfig<'_>) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    // Without IPv6 the file stays what it was before the lab was dual-stack.
    let ipv6 = if config.ipv6 {
        "force_igd_desc_v1=no\n"
    } else {
        ""
    };
    format!(
        "ext_ifname={WAN_INTERFACE}\n\
         listening_ip={LAN_BRIDGE}\n\
         http_port=5000\n\
         enable_natpmp={natpmp}\n\
         enable_upnp={upnp}\n\
         {secure}\
         system_uptime=no\n\
         lease_file={lease}\n\
         uuid={uuid}\n\
         min_lifetime={min}\n\
         max_lifetime=86400\n\
         notify_interval=30\n\
         {ipv6}\
         allow {lo}-{hi} 192.168.77.0/24 1-65535\n\
         deny 0-65535 0.0.0.0/0 0-65535\n",
        secure = if config.third_party {
            "secure_mode=no\npcp_allow_thirdparty=yes\n"
        } else {
            "secure_mode=yes\n"
        },
        natpmp = yes_no(config.natpmp),
        upnp = yes_no(config.upnp),
        lease = config.lease_file,
        uuid = config.uuid,
        min = config.min_lifetime,
        lo = config.external_ports.start(),
        hi = config.external_ports.end(),
    )
}

/// The transport protocol of a redirection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        })
    }
}

/// One IPv6 pinhole the router holds: a rule of miniupnpd's that lets new inbound
/// connections from the WAN through to a LAN host's own IPv6 address and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pinhole {
    /// TCP or UDP.
    pub transport: Transport,
    /// The only remote host let in, or `None` for any (UPnP `RemoteHost` empty, and every
    /// PCP MAP pinhole). miniupnpd 2.3.1 turns a `RemoteHost` of `::` into a rule matching
    /// the source address `::` (so nothing), which shows here as `Some(::)`.
    pub remote_address: Option<Ipv6Addr>,
    /// The only remote port let in, or `None` for any.
    pub remote_port: Option<u16>,
    /// The LAN host's IPv6 address.
    pub internal_address: Ipv6Addr,
    /// The port on the LAN host.
    pub internal_port: u16,
}

/// One port redirection the router holds (a DNAT rule miniupnpd installed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Redirection {
    /// TCP or UDP.
    pub transport: Transport,
    /// The port on the router's WAN address.
    pub external_port: u16,
    /// The LAN host the traffic goes to.
    pub internal_address: Ipv4Addr,
    /// The port on the LAN host.
    pub internal_port: u16,
}

/// Parses `nft list chain inet filter prerouting_miniupnpd` output into redirections.
///
/// miniupnpd 2.3 writes rules like
/// `iif "wan0" @nh,72,8 0x6 th dport 4000 dnat ip to 192.168.77.10:4000`; lines that are not
/// DNAT rules are skipped.
pub(crate) fn parse_redirections(listing: &str) -> Vec<Redirection> {
    listing.lines().filter_map(parse_rule).collect()
}

fn parse_rule(line: &str) -> Option<Redirection> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1))
            .copied()
    };
    // miniupnpd writes `@nh,72,8 0x6 th dport`; the zoo's fixtures `tcp dport`.
    let before_dport = words
        .iter()
        .position(|w| *w == "dport")
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| words.get(i))
        .copied();
    let protocol = after("@nh,72,8")
        .or_else(|| after("protocol"))
        .or(before_dport)?;
    let transport = match protocol {
        "0x6" | "6" | "tcp" => Transport::Tcp,
        "0x11" | "17" | "udp" => Transport::Udp,
        _ => return None,
    };
    let external_port = after("dport")?.parse().ok()?;
    let target = after("to")?;
    let (address, port) = target.rsplit_once(':')?;
    Some(Redirection {
        transport,
        external_port,
        internal_address: address.parse().ok()?,
        internal_port: port.parse().ok()?,
    })
}

/// Parses `nft list chain inet filter miniupnpd` output into pinholes.
///
/// miniupnpd 2.3 (nftables backend) matches IPv6 fields by raw offsets into the network
/// header: `@nh,192,128` is the destination address, `@nh,64,128` the source address (only
/// with a remote host), `@nh,48,8` the next header, e.g.
/// `iif "wan0" th dport 4000 @nh,192,128 0x20010db8007700010000000000000010 @nh,48,8 0x6 accept`.
/// Its IPv4 filter rules (`@nh,128,32`, `@nh,72,8`) in the same chain are skipped.
pub(crate) fn parse_pinholes(listing: &str) -> Vec<Pinhole> {
    listing.lines().filter_map(parse_pinhole).collect()
}

fn parse_pinhole(line: &str) -> Option<Pinhole> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1))
            .copied()
    };
    if !words.contains(&"accept") {
        return None;
    }
    let internal_address = after("@nh,192,128").and_then(parse_hex_v6)?;
    let transport = match after("@nh,48,8")? {
        "0x6" | "6" | "tcp" => Transport::Tcp,
        "0x11" | "17" | "udp" => Transport::Udp,
        _ => return None,
    };
    let remote_address = match after("@nh,64,128") {
        Some(hex) => Some(parse_hex_v6(hex)?),
        None => None,
    };
    let remote_port = match after("sport") {
        Some(port) => Some(port.parse().ok()?),
        None => None,
    };
    Some(Pinhole {
        transport,
        remote_address,
        remote_port,
        internal_address,
        internal_port: after("dport")?.parse().ok()?,
    })
}

/// `0x2001...` (nft prints a 128-bit payload match as hex without leading zeros).
fn parse_hex_v6(hex: &str) -> Option<Ipv6Addr> {
    let digits = hex.strip_prefix("0x")?;
    if digits.is_empty() || digits.len() > 32 {
        return None;
    }
    u128::from_str_radix(digits, 16).ok().map(Ipv6Addr::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_miniupnpd_rules() {
        let listing = r#"table inet filter {
	chain prerouting_miniupnpd {
		iif "wan0" @nh,72,8 0x6 th dport 4000 dnat ip to 192.168.77.10:4000
		iif "wan0" @nh,72,8 0x11 th dport 5001 dnat ip to 192.168.77.11:6001
		iif "wan0" @nh,96,32 0x2c000002 @nh,72,8 0x6 th dport 7000 dnat ip to 192.168.77.10:80
		iifname "wan0" udp dport 4100 dnat ip to 192.168.77.10:4200
	}
}"#;
        assert_eq!(
            parse_redirections(listing),
            vec![
                Redirection {
                    transport: Transport::Tcp,
                    external_port: 4000,
                    internal_address: Ipv4Addr::new(192, 168, 77, 10),
                    internal_port: 4000
                },
                Redirection {
                    transport: Transport::Udp,
                    external_port: 5001,
                    internal_address: Ipv4Addr::new(192, 168, 77, 11),
                    internal_port: 6001
                },
                Redirection {
                    transport: Transport::Tcp,
                    external_port: 7000,
                    internal_address: Ipv4Addr::new(192, 168, 77, 10),
                    internal_port: 80
                },
                Redirection {
                    transport: Transport::Udp,
                    external_port: 4100,
                    internal_address: Ipv4Addr::new(192, 168, 77, 10),
                    internal_port: 4200
                },
            ]
        );
    }

    #[test]
    fn empty_chain_has_no_redirections() {
        assert!(
            parse_redirections("table inet filter {\n chain prerouting_miniupnpd {\n }\n}")
                .is_empty()
        );
    }

    #[test]
    fn conf_carries_switches_and_range() {
        let conf = miniupnpd_conf(&DaemonConfig {
            natpmp: false,
            upnp: true,
            external_ports: 2000..=3000,
            min_lifetime: 5,
            lease_file: "/tmp/x/leases",
            uuid: "u",
            ipv6: true,
            third_party: false,
        });
        assert!(conf.contains("enable_natpmp=no\n"));
        assert!(conf.contains("enable_upnp=yes\n"));
        assert!(conf.contains("allow 2000-3000 192.168.77.0/24 1-65535\n"));
        assert!(conf.contains("min_lifetime=5\n"));
        assert!(conf.contains("force_igd_desc_v1=no\n"));
        assert!(!conf.contains("ipv6_listening_ip"));
    }

    /// The lab's default router, IPv4 only, with or without third-party deletions.
    fn ipv4_conf(third_party: bool) -> String {
        miniupnpd_conf(&DaemonConfig {
            natpmp: true,
            upnp: true,
            external_ports: 1024..=65535,
            min_lifetime: 120,
            lease_file: "/tmp/x/leases",
            uuid: "u",
            ipv6: false,
            third_party,
        })
    }

    #[test]
    fn ipv4_only_conf_is_unchanged() {
        let conf = ipv4_conf(false);
        assert!(!conf.contains("ipv6"));
        assert!(!conf.contains("force_igd_desc_v1"));
    }

    #[test]
    fn third_party_deletions_turn_secure_mode_off_and_allow_the_pcp_option() {
        let strict = ipv4_conf(false);
        assert!(strict.contains("secure_mode=yes\n"));
        assert!(!strict.contains("pcp_allow_thirdparty"));
        let open = ipv4_conf(true);
        assert!(open.contains("secure_mode=no\npcp_allow_thirdparty=yes\n"));
        assert!(!open.contains("secure_mode=yes"));
    }

    #[test]
    fn parses_miniupnpd_pinholes_and_skips_ipv4_rules() {
        // As miniupnpd 2.3.1 wrote them in the lab: UPnP AddPinhole with a remote host, with
        // none (as PCP MAP writes them too), with `::`, the filter rule of an IPv4 mapping, and
        // a pinhole for one remote host and port.
        let listing = r#"table inet filter {
	chain miniupnpd {
		iif "wan0" th dport 4000 @nh,192,128 0x20010db8007700010000000000000010 @nh,64,128 0x20010db8007700000000000000000002 @nh,48,8 0x6 accept
		iif "wan0" th dport 4001 @nh,192,128 0x20010db8007700010000000000000010 @nh,48,8 0x11 accept
		iif "wan0" th dport 4002 @nh,192,128 0x20010db8007700010000000000000011 @nh,64,128 0x0 @nh,48,8 0x11 accept
		iif "wan0" th dport 4500 @nh,128,32 0xc0a84d0a @nh,72,8 0x6 accept
		iif "wan0" th dport 4700 th sport 5555 @nh,192,128 0x20010db8007700010000000000000010 @nh,64,128 0x20010db8007700000000000000000002 @nh,48,8 0x11 accept
	}
}"#;
        let lan: Ipv6Addr = "2001:db8:77:1::10".parse().unwrap();
        assert_eq!(
            parse_pinholes(listing),
            vec![
                Pinhole {
                    transport: Transport::Tcp,
                    remote_address: Some("2001:db8:77::2".parse().unwrap()),
                    remote_port: None,
                    internal_address: lan,
                    internal_port: 4000,
                },
                Pinhole {
                    transport: Transport::Udp,
                    remote_address: None,
                    remote_port: None,
                    internal_address: lan,
                    internal_port: 4001,
                },
                Pinhole {
                    transport: Transport::Udp,
                    remote_address: Some(Ipv6Addr::UNSPECIFIED),
                    remote_port: None,
                    internal_address: "2001:db8:77:1::11".parse().unwrap(),
                    internal_port: 4002,
                },
                Pinhole {
                    transport: Transport::Udp,
                    remote_address: Some("2001:db8:77::2".parse().unwrap()),
                    remote_port: Some(5555),
                    internal_address: lan,
                    internal_port: 4700,
                },
            ]
        );
        assert!(parse_redirections(listing).is_empty());
    }

    #[test]
    fn malformed_pinhole_rules_are_skipped() {
        for line in [
            "iif \"wan0\" th dport 4000 @nh,192,128 0xzz @nh,48,8 0x6 accept",
            "iif \"wan0\" th dport 4000 @nh,192,128 0x1234567890123456789012345678901234 @nh,48,8 0x6 accept",
            "iif \"wan0\" th dport 99999 @nh,192,128 0x1 @nh,48,8 0x6 accept",
            "iif \"wan0\" th dport 4000 @nh,192,128 0x1 @nh,48,8 0x1 accept",
            "iif \"wan0\" th dport 4000 @nh,192,128 0x1 @nh,48,8",
        ] {
            assert!(parse_pinholes(line).is_empty(), "{line}");
        }
    }
}
