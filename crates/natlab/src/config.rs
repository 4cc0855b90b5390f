//! [`LabConfig`]: how a lab is built (which protocols miniupnpd speaks, how many LAN hosts,
//! IPv6, an impairable link, a fixed name, a STUN server, the NAT's behaviour, a second NAT).

use std::ops::RangeInclusive;

use crate::behaviour::NatBehaviour;
use crate::outer_nat::OuterNat;

/// How a lab is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabConfig {
    /// miniupnpd answers NAT-PMP and PCP on port 5351.
    pub natpmp: bool,
    /// miniupnpd answers SSDP and UPnP IGD.
    pub upnp: bool,
    /// External ports LAN hosts may map (miniupnpd's `allow` rule).
    pub external_ports: RangeInclusive<u16>,
    /// Number of LAN hosts (at least one): 192.168.77.10, .11, ...
    pub lan_hosts: usize,
    /// Whether the LAN hosts get a default route via the router.
    pub lan_default_route: bool,
    /// Build the first LAN host's link as a userspace wire, so [`Lab::impair_lan`](crate::Lab::impair_lan) can add loss
    /// and delay (see the `wire` module for why not `tc netem`).
    pub impairable_lan: bool,
    /// miniupnpd's `min_lifetime` (the shortest PCP lifetime it grants, in seconds).
    pub min_lifetime: u32,
    /// miniupnpd runs in the foreground with debug logging (`-d`) into the lab's log file,
    /// which [`Lab::miniupnpd_log`](crate::Lab::miniupnpd_log) returns (the default). Off, it runs as the daemon it is
    /// on a router: detached, logging only notices, and only to syslog (so the lab's log
    /// stays empty). Its debug log writes lines for every rule on every request, which at
    /// 1,000 rules is most of its work (a request takes 60-100 ms instead of ~14 ms): the
    /// benchmarks turn it off.
    pub router_debug_log: bool,
    /// Dual stack: IPv6 on every link beside IPv4 (off by default; see
    /// [`LabConfig::dual_stack`]). LAN hosts get an address in [`LAN_PREFIX_V6`](crate::LAN_PREFIX_V6) and a default
    /// route via [`ROUTER_LAN_LINK_LOCAL_V6`](crate::ROUTER_LAN_LINK_LOCAL_V6); the router forwards IPv6 without NAT, and its
    /// firewall drops new connections from the WAN unless a pinhole (UPnP
    /// `WANIPv6FirewallControl` or PCP MAP over IPv6) lets them in.
    ///
    /// Off, the lab is what it always was: link-local IPv6 addresses only, and miniupnpd's
    /// configuration unchanged. It is off by default because with global IPv6 on the LAN
    /// miniupnpd also answers SSDP searches and sends NOTIFYs over IPv6, which IPv4-minded
    /// tests count as extra answers.
    pub ipv6: bool,
    /// More paths out of the first LAN host (a second uplink, bridges, a second IGD on the
    /// LAN); see [`PathsConfig`](crate::PathsConfig) and its builder methods.
    pub paths: crate::PathsConfig,
    /// A fixed lab name instead of a unique one (for `cargo xtask lab`); at most 8 characters.
    pub name: Option<String>,
    /// A STUN server (coturn, RFC 5780) on the WAN host (see [`LabConfig::with_stun`]).
    pub stun: bool,
    /// How the router's NAT maps and filters, and whether it hairpins (see
    /// [`LabConfig::with_nat`]).
    pub nat: NatBehaviour,
    /// A second NAT between the router and the WAN host (see [`LabConfig::with_outer_nat`]).
    pub outer_nat: Option<OuterNat>,
    /// miniupnpd asks the lab's STUN server for its public address at start
    /// (`ext_perform_stun`; see [`LabConfig::with_router_stun`]). Needs [`LabConfig::stun`].
    pub router_stun: bool,
    /// The router lets one LAN host delete another's mappings: miniupnpd with
    /// `secure_mode=no` (UPnP `DeletePortMapping` of any entry) and
    /// `pcp_allow_thirdparty=yes` (PCP's THIRD_PARTY option), as some routers are set up.
    /// Off (the default), it is as Debian ships it: each host may delete only its own.
    pub third_party_deletions: bool,
}

impl Default for LabConfig {
    fn default() -> LabConfig {
        LabConfig {
            natpmp: true,
            upnp: true,
            external_ports: 1024..=65535,
            lan_hosts: 1,
            lan_default_route: true,
            impairable_lan: false,
            min_lifetime: 120,
            router_debug_log: true,
            ipv6: false,
            paths: crate::PathsConfig::default(),
            name: None,
            stun: false,
            nat: NatBehaviour::default(),
            outer_nat: None,
            router_stun: false,
            third_party_deletions: false,
        }
    }
}

impl LabConfig {
    /// The default lab with IPv6 on every link beside IPv4 ([`LabConfig::ipv6`]).
    pub fn dual_stack() -> LabConfig {
        LabConfig {
            ipv6: true,
            ..LabConfig::default()
        }
    }

    /// This configuration with a router that lets one LAN host delete another's mappings
    /// ([`LabConfig::third_party_deletions`]).
    pub fn with_third_party_deletions(self) -> LabConfig {
        LabConfig {
            third_party_deletions: true,
            ..self
        }
    }

    /// This configuration with a STUN server on the WAN host: coturn, STUN only, answering
    /// on two addresses and two ports so that RFC 5780's OTHER-ADDRESS and CHANGE-REQUEST
    /// work ([`Lab::stun_server`](crate::Lab::stun_server)). Labs that do not ask run no
    /// coturn.
    pub fn with_stun(self) -> LabConfig {
        LabConfig { stun: true, ..self }
    }

    /// This configuration with the router's NAT behaving as `nat` says (mapping, filtering,
    /// hairpinning; the default is today's port-preserving masquerade, conntrack's filtering,
    /// and no hairpinning).
    pub fn with_nat(self, nat: NatBehaviour) -> LabConfig {
        LabConfig { nat, ..self }
    }

    /// This configuration with a STUN server ([`LabConfig::with_stun`]) that miniupnpd asks
    /// for its public address when it starts (`ext_perform_stun=yes`), as routers configured
    /// for a provider's NAT do. Behind an outer NAT, miniupnpd 2.3.1 then reports the outer
    /// NAT's public address to every protocol, yet still refuses every mapping (it finds the
    /// outer NAT filtering); see the `outer_nat` module.
    pub fn with_router_stun(self) -> LabConfig {
        LabConfig {
            stun: true,
            router_stun: true,
            ..self
        }
    }

    /// This configuration with a second NAT in front of the router (`outer`): the router's
    /// WAN address becomes a carrier-grade or private one, and the outer NAT holds the
    /// public 44.0.0.1 (see [`OuterNat`]). IPv4 only: not with [`LabConfig::ipv6`].
    pub fn with_outer_nat(self, outer: OuterNat) -> LabConfig {
        LabConfig {
            outer_nat: Some(outer),
            ..self
        }
    }
}
