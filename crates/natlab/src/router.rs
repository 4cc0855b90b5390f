//! The router's configuration files and state: the nftables ruleset miniupnpd needs, its
//! configuration file, and the parser for the redirections it installs.

use std::fmt;
use std::net::Ipv4Addr;
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
pub(crate) fn ruleset() -> String {
    format!(
        r#"table inet filter {{
  chain forward {{
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "{LAN_BRIDGE}" oifname "{LAN_BRIDGE}" accept
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
    oifname "{WAN_INTERFACE}" masquerade
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
}

/// Renders miniupnpd.conf. The external address is not set: miniupnpd reads it from the WAN
/// interface, so changing that address (and signalling the daemon) changes what it reports.
pub(crate) fn miniupnpd_conf(config: &DaemonConfig<'_>) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    format!(
        "ext_ifname={WAN_INTERFACE}\n\
         listening_ip={LAN_BRIDGE}\n\
         http_port=5000\n\
         enable_natpmp={natpmp}\n\
         enable_upnp={upnp}\n\
         secure_mode=yes\n\
         system_uptime=no\n\
         lease_file={lease}\n\
         uuid={uuid}\n\
         min_lifetime={min}\n\
         max_lifetime=86400\n\
         notify_interval=30\n\
         allow {lo}-{hi} 192.168.77.0/24 1-65535\n\
         deny 0-65535 0.0.0.0/0 0-65535\n",
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
        });
        assert!(conf.contains("enable_natpmp=no\n"));
        assert!(conf.contains("enable_upnp=yes\n"));
        assert!(conf.contains("allow 2000-3000 192.168.77.0/24 1-65535\n"));
        assert!(conf.contains("min_lifetime=5\n"));
    }
}
