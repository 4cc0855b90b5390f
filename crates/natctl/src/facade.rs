//! The mapping commands, each one call on one `Nat` (the nat-traversal facade), restricted
//! to the `--via` technique when one is given, in a file of its own: `external-ip`, `map`,
//! `map --keep` (`facade/keep.rs`), `unmap` and `unmap-all`, `list`, `probe`, `check`
//! (`facade/check.rs`, the reachability check). natctl holds no protocol knowledge here,
//! and nothing a program using the facade would need: it chooses, waits and prints. This file holds what they share: the `Nat` a command uses, and
//! the spellings of the JSON schema (docs/CLI.md).

mod check;
mod external_ip;
mod keep;
mod list;
mod map;
mod probe;
mod unmap;

use std::net::IpAddr;
use std::time::Duration;

use nat_traversal::{Nat, NatOptions, Protocol, Reachability, Technique};

pub(crate) use check::check;
pub(crate) use external_ip::external_ip;
pub(crate) use keep::keep;
pub(crate) use list::list;
pub(crate) use map::{MapArgs, map};
pub(crate) use probe::probe;
pub(crate) use unmap::unmap;

use crate::cli::{Family, Transport, Via};

/// Which gateway to ask, how long to wait, and which IGDs to trust.
pub(crate) struct Target {
    pub(crate) gateway: Option<IpAddr>,
    pub(crate) interface: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) allow_other_igd: bool,
    pub(crate) cache: bool,
    /// `-4`, `-6` or neither.
    pub(crate) family: Family,
}

impl Target {
    /// The facade for one command: every technique, or only `via`; the IPv6 side with `-6`.
    pub(crate) fn nat(&self, via: Via) -> Nat {
        self.nat_with(self.options(via))
    }

    /// The facade over `options`, on the family asked.
    fn nat_with(&self, options: NatOptions) -> Nat {
        let nat = Nat::new(options);
        if self.family == Family::V6 {
            nat.ipv6()
        } else {
            nat
        }
    }

    /// Whether a command without `-4`/`-6` also shows the IPv6 side.
    fn both(&self) -> bool {
        self.family == Family::Auto
    }

    fn options(&self, via: Via) -> NatOptions {
        let mut options = NatOptions::default()
            .with_probe_timeout(self.timeout)
            .with_operation_timeout(self.timeout)
            .with_description("natctl")
            .with_allow_other_igd(self.allow_other_igd);
        if let Some(gateway) = self.gateway {
            options = options.with_gateway(gateway);
        }
        if let Some(interface) = &self.interface {
            options = options.with_interface(interface.clone());
        }
        if let Some(technique) = technique(via) {
            options = options.only(technique);
        }
        if self.cache {
            if let Some(path) = NatOptions::default_upnp_cache() {
                options = options.with_upnp_cache(path);
            }
        }
        if let Some(path) = NatOptions::default_pinhole_record() {
            options = options.with_pinhole_record(path);
        }
        options
    }
}

/// The technique `--via` names; `None` for auto.
pub(crate) fn technique(via: Via) -> Option<Technique> {
    match via {
        Via::Auto => None,
        Via::Pcp => Some(Technique::Pcp),
        Via::Pmp => Some(Technique::NatPmp),
        Via::Upnp => Some(Technique::Upnp),
    }
}

impl From<Transport> for Protocol {
    fn from(transport: Transport) -> Protocol {
        match transport {
            Transport::Tcp => Protocol::Tcp,
            Transport::Udp => Protocol::Udp,
        }
    }
}

/// What `--via` covers, for the spinner: "PCP", "PCP, NAT-PMP and UPnP IGD".
fn techniques_label(via: Via) -> String {
    match technique(via) {
        Some(technique) => technique.to_string(),
        None => "PCP, NAT-PMP and UPnP IGD".to_owned(),
    }
}

/// "at 192.168.1.1" (the gateway of the family asked), or "at the default gateway" when it
/// cannot be read.
fn at(nat: &Nat) -> String {
    match nat.gateway_to_ask() {
        Ok(gateway) => format!("at {gateway}"),
        Err(_) => "at the default gateway".to_owned(),
    }
}

/// A lifetime in whole seconds; `None` (JSON `null`) for a mapping without lease.
fn lifetime(lifetime: Duration) -> Option<u64> {
    (!lifetime.is_zero()).then_some(lifetime.as_secs())
}

/// " (IGD on 192.168.77.11, not the default gateway)" for an IGD elsewhere on the LAN.
fn elsewhere_note(on_default_gateway: bool, device: Option<IpAddr>) -> String {
    match (on_default_gateway, device) {
        (true, _) => String::new(),
        (false, Some(device)) => format!(" (IGD on {device}, not the default gateway)"),
        (false, None) => " (IGD not on the default gateway)".to_owned(),
    }
}

/// "; not reachable from the internet: double NAT (...)" for a non-public address.
fn reach_note(address: IpAddr) -> String {
    let reach = Reachability::of(address);
    if reach.is_public() {
        String::new()
    } else {
        format!("; {reach}")
    }
}

/// An aligned table with a header; the last column is not padded.
pub(crate) fn render_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut lines = vec![pad_row(&header.map(str::to_owned), &widths)];
    lines.extend(rows.iter().map(|row| pad_row(row, &widths)));
    lines.join("\n")
}

fn pad_row<const N: usize>(row: &[String; N], widths: &[usize; N]) -> String {
    let mut line = String::new();
    for (index, (cell, width)) in row.iter().zip(widths).enumerate() {
        if index + 1 == N {
            line.push_str(cell);
        } else {
            line.push_str(&format!("{cell:<width$}  "));
        }
    }
    line.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_aligned_under_their_header() {
        let table = render_table(
            ["A", "BB", "C"],
            &[
                ["xxx".into(), "y".into(), "last".into()],
                ["x".into(), "yyyy".into(), "z".into()],
            ],
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "A    BB    C");
        assert_eq!(lines[1], "xxx  y     last");
        assert_eq!(lines[2], "x    yyyy  z");
    }
}
