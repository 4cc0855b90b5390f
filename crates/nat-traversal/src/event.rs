//! [`NatEvent`]: what happened at the gateway or on this host's network, as a
//! [`Nat`](crate::Nat) tells it to persistent mappings and to anyone who subscribed.

use std::net::IpAddr;

use crate::network::NetworkPath;
use crate::technique::Technique;

/// Something that happened at the gateway or on this host's network. Persistent mappings
/// react to each; [`Nat::subscribe`](crate::Nat::subscribe) shows them to anyone else.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NatEvent {
    /// The gateway restarted and lost its mappings (an announcement, an answer whose epoch
    /// went back): every mapping is made again.
    GatewayRestarted {
        /// The technique that noticed.
        technique: Technique,
        /// What showed it.
        reason: String,
    },
    /// A technique, as made, no longer works at the gateway (its service moved or went
    /// away): it is made again and probed, and every mapping made through it is made again.
    TechniqueGone {
        /// The technique.
        technique: Technique,
        /// What showed it.
        reason: String,
    },
    /// The gateway's external address changed (an announcement, an event or an answer
    /// said so).
    ExternalAddressChanged {
        /// The new address.
        address: IpAddr,
    },
    /// The network path changed (the default gateway, this host's address toward it, or
    /// its interface): the techniques are probed again and every mapping is made again on
    /// the new path.
    PathChanged {
        /// The path before, when one was read.
        previous: Option<NetworkPath>,
        /// The path now; `None` when there is none usable (the link went down, a
        /// full-tunnel VPN came up).
        current: Option<NetworkPath>,
    },
    /// This host's interface addresses changed: the local assignments are published again.
    LocalAddressesChanged,
}
