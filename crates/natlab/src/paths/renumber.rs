//! Renumbering and flaps: a LAN host's address changing as a DHCP client changes it, a link
//! going down and up, and the gateway changing its MAC address or its LAN address.

use std::net::Ipv4Addr;

use crate::{Host, Lab, LabError, ROUTER_LAN_ADDRESS, Result};

impl Lab {
    /// The router's current LAN address: [`ROUTER_LAN_ADDRESS`] (192.168.77.1) until
    /// [`Lab::move_gateway`] moves it.
    pub fn gateway(&self) -> Ipv4Addr {
        self.paths
            .gateway
            .lock()
            .ok()
            .and_then(|g| *g)
            .unwrap_or(ROUTER_LAN_ADDRESS)
    }

    /// Changes `host`'s IPv4 address on its LAN interface as a DHCP client would on a new
    /// lease: the old address removed, `address` added (same /24, within 192.168.77.3 to
    /// .254 and not another host's), and the default routes through that interface restored
    /// with their metrics. Returns the host with its new address; [`Lab::lan`] and
    /// [`Lab::lan_hosts`] keep describing it by its old one. The router's rules for the old
    /// address stay (as on a real router).
    pub fn renumber(&self, host: &Host, address: Ipv4Addr) -> Result<Host> {
        let [a, b, c, d] = address.octets();
        let [oa, ob, oc, _] = host.address.octets();
        let taken = self
            .lans
            .iter()
            .any(|h| h.address == address && h.netns != host.netns);
        if (a, b, c) != (oa, ob, oc) || d < 3 || d == 255 || taken || address == self.gateway() {
            return Err(LabError::Invalid(format!(
                "{address} is not a free address of {}'s /24 (3 to 254, not the gateway or \
                 another host)",
                host.address
            )));
        }
        let routes = default_routes(host, &host.interface)?;
        let interface = host.interface.as_str();
        host.exec(
            "ip",
            &[
                "addr",
                "del",
                &format!("{}/24", host.address),
                "dev",
                interface,
            ],
        )?;
        host.exec(
            "ip",
            &["addr", "add", &format!("{address}/24"), "dev", interface],
        )?;
        restore_routes(host, interface, &routes)?;
        Ok(Host {
            address,
            ..host.clone()
        })
    }

    /// Takes `host`'s LAN interface ([`Host::interface`]) down (`up` false) or up, as a cable
    /// pulled or Wi-Fi lost: down, the kernel drops the routes through it; up, the default
    /// routes it had are restored. IPv6 addresses are kept across (`keep_addr_on_down`).
    pub fn set_link(&self, host: &Host, up: bool) -> Result<()> {
        self.set_interface(host, &host.interface, up)
    }

    /// Takes `host`'s LAN interface down and brings it back up at once (see
    /// [`Lab::set_link`]).
    pub fn flap_link(&self, host: &Host) -> Result<()> {
        self.set_link(host, false)?;
        self.set_link(host, true)
    }

    /// Gives the router's LAN interface a new MAC address, as a replacement router would
    /// have, and flushes the LAN hosts' neighbour entries for it, as the gratuitous ARP such
    /// a router sends would update them. The router's addresses and miniupnpd stay.
    pub fn change_gateway_mac(&self, mac: [u8; 6]) -> Result<()> {
        let text = mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        if mac[0] & 1 == 1 {
            return Err(LabError::Invalid(format!(
                "{text} is a multicast MAC address"
            )));
        }
        self.router
            .exec("ip", &["link", "set", "dev", "br0", "address", &text])?;
        let gateway = self.gateway().to_string();
        for lan in &self.lans {
            lan.exec("ip", &["neigh", "flush", "to", &gateway])?;
        }
        Ok(())
    }

    /// Moves the router's LAN address to `address` (same /24 as 192.168.77.0, not a host's),
    /// as a replaced or reconfigured router would: the router takes the new address and drops
    /// the old one, miniupnpd restarts on it (keeping its leases), and every LAN host's
    /// default route goes via the new address with its metric. [`Lab::gateway`] and
    /// [`RouterHandle::lan_address`](crate::RouterHandle::lan_address) then name it.
    pub fn move_gateway(&self, address: Ipv4Addr) -> Result<()> {
        let old = self.gateway();
        let [a, b, c, d] = address.octets();
        let taken = self.lans.iter().any(|h| h.address == address)
            || (self.paths.second_igd.is_some() && address == super::SECOND_IGD_ADDRESS);
        if (a, b, c) != (192, 168, 77) || matches!(d, 0 | 255) || taken || address == old {
            return Err(LabError::Invalid(format!(
                "{address} is not a free address of 192.168.77.0/24 for the gateway"
            )));
        }
        let mut saved = Vec::new();
        for lan in &self.lans {
            saved.push(default_routes(lan, &lan.interface)?);
        }
        // The old address goes first: deleting a primary address deletes the secondary
        // addresses of its subnet with it.
        self.router
            .exec("ip", &["addr", "del", &format!("{old}/24"), "dev", "br0"])?;
        self.router.exec(
            "ip",
            &["addr", "add", &format!("{address}/24"), "dev", "br0"],
        )?;
        if let Ok(mut gateway) = self.paths.gateway.lock() {
            *gateway = Some(address);
        }
        // miniupnpd bound its NAT-PMP/PCP and HTTP sockets to the old address.
        if self.router_running() {
            self.stop_router()?;
            self.start_router()?;
        }
        let (old, new) = (old.to_string(), address.to_string());
        for (lan, routes) in self.lans.iter().zip(saved) {
            let moved: Vec<SavedRoute> = routes
                .into_iter()
                .map(|route| {
                    route
                        .into_iter()
                        .map(|w| if w == old { new.clone() } else { w })
                        .collect()
                })
                .collect();
            restore_routes(lan, &lan.interface, &moved)?;
        }
        Ok(())
    }

    /// Sets `interface` of `host` down or up, saving its default routes on the way down and
    /// restoring them on the way up.
    pub(super) fn set_interface(&self, host: &Host, interface: &str, up: bool) -> Result<()> {
        let key = (host.netns.clone(), interface.to_owned());
        if up {
            host.exec("ip", &["link", "set", interface, "up"])?;
            let routes = self
                .paths
                .saved_routes
                .lock()
                .ok()
                .and_then(|mut saved| saved.remove(&key))
                .unwrap_or_default();
            restore_routes(host, interface, &routes)
        } else {
            let routes = default_routes(host, interface)?;
            if let Ok(mut saved) = self.paths.saved_routes.lock() {
                // A second "down" must not forget the routes the first one saved.
                saved.entry(key).or_insert(routes);
            }
            let _ = host.exec(
                "sh",
                &[
                    "-c",
                    &format!("echo 1 > /proc/sys/net/ipv6/conf/{interface}/keep_addr_on_down"),
                ],
            );
            host.exec("ip", &["link", "set", interface, "down"])
                .map(|_| ())
        }
    }
}

/// A route as the words to give `ip`: the family (`-4`/`-6`), then what follows
/// `route replace`.
pub(super) type SavedRoute = Vec<String>;

/// The default routes (both families) through `interface` of `host`, each as the words to
/// give `ip route replace` after `-4`/`-6`.
fn default_routes(host: &Host, interface: &str) -> Result<Vec<SavedRoute>> {
    let mut routes = Vec::new();
    for family in ["-4", "-6"] {
        let output = host.exec(
            "ip",
            &[family, "-o", "route", "show", "default", "dev", interface],
        )?;
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let mut words = vec![family.to_owned()];
            words.extend(
                line.split_whitespace()
                    .filter(|w| !matches!(*w, "linkdown" | "dead" | "\\"))
                    .map(str::to_owned),
            );
            if words.len() > 1 {
                routes.push(words);
            }
        }
    }
    Ok(routes)
}

fn restore_routes(host: &Host, interface: &str, routes: &[SavedRoute]) -> Result<()> {
    for route in routes {
        let (family, rest) = route
            .split_first()
            .map_or(("-4", &[][..]), |(f, r)| (f.as_str(), r));
        let mut args = vec![family, "route", "replace"];
        args.extend(rest.iter().map(String::as_str));
        args.extend(["dev", interface]);
        host.exec("ip", &args)?;
    }
    Ok(())
}
