//! The router's WAN side when it is not the plain veth to the WAN host: a second NAT in
//! front of the router ([`OuterNat`], carrier-grade or private), and the WAN bridge the
//! hairpin loop needs (see the `behaviour` module).
//!
//! With an outer NAT the lab is
//!
//! ```text
//!  LAN hosts --- router wan0 100.64.0.2/10 --- int0 100.64.0.1/10 | outer NAT | ext0 44.0.0.1 --- WAN host 44.0.0.2
//!                (default via 100.64.0.1)                           masquerade
//! ```
//!
//! The router's own external address ([`Lab::external_address`]) is then the carrier-grade
//! (or private) one, what miniupnpd reports; the internet sees the outer NAT's 44.0.0.1
//! ([`Lab::public_address`]).
//!
//! # What miniupnpd 2.3.1 does behind an outer NAT
//!
//! With a reserved address on its WAN interface (100.64.0.0/10 and RFC 1918 alike) it logs
//! "Reserved / private IP address 100.64.0.2 on ext interface wan0: Port forwarding is
//! impossible" at start and then refuses every mapping, whatever the protocol (recorded by
//! the lab test `a_router_behind_an_outer_nat_refuses_every_mapping`):
//!
//! - NAT-PMP: result 3 (network failure) to the public address request (address 0.0.0.0)
//!   and to every mapping request.
//! - PCP MAP: NO_RESOURCES, lifetime 30, the external address field naming the router's own
//!   100.64.0.2 (or 10.0.0.2).
//! - UPnP: `GetStatusInfo` says `Connected`; `GetExternalIPAddress` answers an empty
//!   `NewExternalIPAddress`; `AddPortMapping` fails with 501 ActionFailed.
//!
//! With `ext_perform_stun=yes` ([`LabConfig::with_router_stun`](crate::LabConfig::with_router_stun)) it asks the lab's STUN server at
//! start, logs "STUN: ext interface wan0 with private IP address 100.64.0.2 is now behind
//! restrictive or symmetric NAT with public IP address 44.0.0.1 which does not support port
//! forwarding", and then reports 44.0.0.1 (NAT-PMP result 0, PCP's external address field,
//! UPnP `GetExternalIPAddress`) while still refusing every mapping as above: the address a
//! router reports then matches the one a STUN server sees, and only the refusals tell.
//!
//! The lab's default is without STUN, as it is what a home router behind a provider's NAT does:
//! miniupnpd's `ext_perform_stun` (ask a STUN server whether the outer NAT is a 1:1 one and
//! allow mappings if so) is off by default, and 2.3.1 has no option that allows a private
//! external address anyway (besides `ext_ip`, which refuses one too). A client has to tell the
//! double NAT from these refusals, or from a STUN server's view
//! ([`Lab::public_address`]), not from a grant.

use std::net::Ipv4Addr;

use crate::behaviour::{HAIRPIN_IN, HAIRPIN_OUT, WAN_PORT};
use crate::netns::ip;
use crate::router::WAN_INTERFACE;
use crate::topology::{LAN_PREFIX_V6, ROUTER_WAN_ADDRESS_V6, WAN_HOST_ADDRESS_V6};
use crate::{Host, Lab, LabError, ROUTER_WAN_ADDRESS, Result, WAN_HOST_ADDRESS};

/// A NAT between the router and the WAN host, as a provider's carrier-grade NAT or a second
/// home router would be. It masquerades (port-preserving, conntrack's filtering) to the
/// public 44.0.0.1 and runs no port mapping protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OuterNat {
    /// A provider's carrier-grade NAT: the router's WAN address is 100.64.0.2/10 (RFC 6598
    /// shared address space), the outer NAT's inside address 100.64.0.1.
    CarrierGrade,
    /// A second NAT router: the router's WAN address is 10.0.0.2/24 (RFC 1918), the outer
    /// NAT's inside address 10.0.0.1.
    Private,
}

impl OuterNat {
    /// The router's WAN address behind this outer NAT.
    pub fn router_address(self) -> Ipv4Addr {
        match self {
            OuterNat::CarrierGrade => Ipv4Addr::new(100, 64, 0, 2),
            OuterNat::Private => Ipv4Addr::new(10, 0, 0, 2),
        }
    }

    /// The outer NAT's address toward the router (the router's default gateway).
    pub fn inside_address(self) -> Ipv4Addr {
        match self {
            OuterNat::CarrierGrade => Ipv4Addr::new(100, 64, 0, 1),
            OuterNat::Private => Ipv4Addr::new(10, 0, 0, 1),
        }
    }

    /// The prefix length of the link between the router and the outer NAT.
    pub fn prefix_len(self) -> u8 {
        match self {
            OuterNat::CarrierGrade => 10,
            OuterNat::Private => 24,
        }
    }
}

/// The outer NAT's interface toward the router.
const OUTER_INSIDE: &str = "int0";
/// The outer NAT's interface toward the WAN host.
const OUTER_OUTSIDE: &str = "ext0";

impl Lab {
    /// The outer NAT's namespace, when the lab has one ([`LabConfig::with_outer_nat`](crate::LabConfig::with_outer_nat)); its
    /// address is the public 44.0.0.1.
    pub fn outer_nat(&self) -> Option<&Host> {
        self.outer.as_ref()
    }

    /// The address the internet (the WAN host, the STUN server) sees the LAN's traffic come
    /// from: the outer NAT's 44.0.0.1 behind an outer NAT, else the router's external address
    /// ([`Lab::external_address`]).
    pub fn public_address(&self) -> Ipv4Addr {
        match &self.outer {
            Some(outer) => outer.address,
            None => self.external_address(),
        }
    }

    /// Rebuilds the router's WAN link when the configuration asks for an outer NAT or for
    /// hairpinning (the plain veth that `build_topology` made is replaced). Called before
    /// miniupnpd starts, since it reads its WAN interface at start.
    pub(crate) fn rebuild_wan(&mut self) -> Result<()> {
        let outer = self.config.outer_nat;
        let hairpin = self.config.nat.hairpinning;
        if outer.is_none() && !hairpin {
            return Ok(());
        }
        if outer.is_some() && self.config.ipv6 {
            return Err(LabError::Invalid(
                "an outer NAT is IPv4 only: not with ipv6".into(),
            ));
        }
        let rtr = self.router.netns.clone();
        let wan = self.wan.clone();
        // Deleting the veth deletes its peer too, the WAN host's eth0.
        ip(&["-n", &rtr, "link", "del", WAN_INTERFACE])?;

        // The router's side of the new link, its peer, and the peer's namespace.
        let (peer_ns, peer_name) = match outer {
            Some(_) => {
                let outer_host = Host {
                    netns: format!("natlab-{}-out", self.id),
                    address: ROUTER_WAN_ADDRESS,
                    address_v6: None,
                    interface: OUTER_OUTSIDE.to_owned(),
                };
                ip(&["netns", "add", &outer_host.netns])?;
                ip(&["-n", &outer_host.netns, "link", "set", "lo", "up"])?;
                let netns = outer_host.netns.clone();
                self.outer = Some(outer_host);
                (netns, OUTER_INSIDE)
            }
            None => (wan.netns.clone(), "eth0"),
        };
        let router_end = if hairpin { WAN_PORT } else { WAN_INTERFACE };
        ip(&[
            "-n", &rtr, "link", "add", router_end, "type", "veth", "peer", "name", peer_name,
            "netns", &peer_ns,
        ])?;
        if hairpin {
            ip(&["-n", &rtr, "link", "add", WAN_INTERFACE, "type", "bridge"])?;
            ip(&["-n", &rtr, "link", "set", WAN_PORT, "master", WAN_INTERFACE])?;
            ip(&["-n", &rtr, "link", "set", WAN_PORT, "up"])?;
            ip(&[
                "-n",
                &rtr,
                "link",
                "add",
                HAIRPIN_OUT,
                "type",
                "veth",
                "peer",
                "name",
                HAIRPIN_IN,
            ])?;
            ip(&[
                "-n",
                &rtr,
                "link",
                "set",
                HAIRPIN_IN,
                "master",
                WAN_INTERFACE,
            ])?;
            ip(&["-n", &rtr, "link", "set", HAIRPIN_IN, "up"])?;
        }
        let (router_address, prefix) = match outer {
            Some(outer) => (outer.router_address(), outer.prefix_len()),
            None => (ROUTER_WAN_ADDRESS, 24),
        };
        ip(&[
            "-n",
            &rtr,
            "addr",
            "add",
            &format!("{router_address}/{prefix}"),
            "dev",
            WAN_INTERFACE,
        ])?;
        if self.config.ipv6 {
            ip(&[
                "-n",
                &rtr,
                "-6",
                "addr",
                "add",
                &format!("{ROUTER_WAN_ADDRESS_V6}/64"),
                "dev",
                WAN_INTERFACE,
                "nodad",
            ])?;
        }
        ip(&["-n", &rtr, "link", "set", WAN_INTERFACE, "up"])?;
        self.router.address = router_address;
        if let Ok(mut current) = self.external_address.lock() {
            *current = router_address;
        }

        if let (Some(outer), Some(outer_host)) = (outer, self.outer.clone()) {
            let ns = outer_host.netns.as_str();
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{}/{}", outer.inside_address(), outer.prefix_len()),
                "dev",
                OUTER_INSIDE,
            ])?;
            ip(&["-n", ns, "link", "set", OUTER_INSIDE, "up"])?;
            ip(&[
                "-n",
                &rtr,
                "route",
                "add",
                "default",
                "via",
                &outer.inside_address().to_string(),
            ])?;
            ip(&[
                "-n",
                ns,
                "link",
                "add",
                OUTER_OUTSIDE,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &wan.netns,
            ])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{ROUTER_WAN_ADDRESS}/24"),
                "dev",
                OUTER_OUTSIDE,
            ])?;
            ip(&["-n", ns, "link", "set", OUTER_OUTSIDE, "up"])?;
            outer_host.exec("sh", &["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])?;
            let ruleset = format!(
                "table ip outer_nat {{\n  chain postrouting {{\n    \
                 type nat hook postrouting priority srcnat; policy accept;\n    \
                 oifname \"{OUTER_OUTSIDE}\" masquerade\n  }}\n}}\n"
            );
            let path = self.dir.join("outer-nat.nft");
            crate::topology::write_file(&path, &ruleset)?;
            outer_host.exec("nft", &["-f", &path.to_string_lossy()])?;
        }

        // The WAN host's eth0 is new: its addresses and route again.
        let ns = wan.netns.as_str();
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{WAN_HOST_ADDRESS}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        if self.config.ipv6 {
            ip(&[
                "-n",
                ns,
                "-6",
                "addr",
                "add",
                &format!("{WAN_HOST_ADDRESS_V6}/64"),
                "dev",
                "eth0",
                "nodad",
            ])?;
            ip(&[
                "-n",
                ns,
                "-6",
                "route",
                "add",
                &format!("{LAN_PREFIX_V6}/64"),
                "via",
                &ROUTER_WAN_ADDRESS_V6.to_string(),
            ])?;
        }
        if hairpin {
            self.route_hairpin()?;
        }
        Ok(())
    }
}
