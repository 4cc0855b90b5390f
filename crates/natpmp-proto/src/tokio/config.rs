//! [`ClientConfig`] and [`VersionChoice`]: how a [`Client`](super::Client) behaves.

use std::net::IpAddr;
use std::time::Duration;

use crate::Schedule;

/// Which protocol version the client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionChoice {
    /// PCP first; NAT-PMP when the gateway answers "unsupported version" (and the reverse,
    /// RFC 6887 §9). The version that worked is remembered.
    #[default]
    Auto,
    /// NAT-PMP (RFC 6886) only.
    NatPmp,
    /// PCP (RFC 6887) only.
    Pcp,
}

/// How a [`Client`](super::Client) behaves.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The gateway's NAT-PMP/PCP port (5351; other values are for tests against fake servers).
    pub server_port: u16,
    /// Which versions to use.
    pub version: VersionChoice,
    /// Retransmissions for NAT-PMP requests (RFC 6886 §3.1 by default: 250 ms doubling, 9 tries).
    pub natpmp_schedule: Schedule,
    /// Retransmissions for PCP requests (RFC 6887 §8.1.1 by default: 3 s, doubling to 1024 s).
    pub pcp_schedule: Schedule,
    /// An upper bound on each operation, whatever the schedules say.
    pub timeout: Option<Duration>,
    /// For an IPv6 link-local gateway (`fe80::/10`): the index of the interface to reach it
    /// through. `None`: the interface of the IPv6 default route whose next hop it is
    /// ([`netinfo::scope_id_toward`]). Ignored for other gateways.
    pub scope_id: Option<u32>,
    /// The address to send from, which PCP also names as the client's (and the mapping's
    /// internal) address. `None`: for IPv4 the kernel's choice; for IPv6 the global address
    /// toward the gateway ([`netinfo::local_ipv6_address_toward`]), so that a MAP opens a
    /// pinhole for an address peers can reach.
    pub local_address: Option<IpAddr>,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            server_port: crate::SERVER_PORT,
            version: VersionChoice::Auto,
            natpmp_schedule: Schedule::natpmp_rfc(),
            pcp_schedule: Schedule::pcp_rfc(),
            timeout: None,
            scope_id: None,
            local_address: None,
        }
    }
}

impl ClientConfig {
    /// A configuration for interactive tools: both versions retransmit like NAT-PMP (250 ms,
    /// doubling) but at least every 500 ms, and every operation gives up after `timeout`.
    /// PCP's RFC schedule starts at 3 s, too slow for a person waiting on a lossy link; and
    /// with the RFC's unbounded doubling a 5 s wait holds only five tries (0, 0.25, 0.75,
    /// 1.75 and 3.75 s), where capped it holds eleven. Measured in the lab under 40 % loss
    /// each way (`cargo xtask bench --only loss`), a NAT-PMP map, which needs two answers,
    /// succeeded 15 times in 20 uncapped and 16 with a 1 s cap.
    pub fn interactive(timeout: Duration) -> ClientConfig {
        // No attempt limit: `timeout` ends the operation.
        let schedule = Schedule::natpmp_rfc()
            .with_max_interval(Duration::from_millis(500))
            .with_max_attempts(0);
        ClientConfig {
            natpmp_schedule: schedule.clone(),
            pcp_schedule: schedule,
            timeout: Some(timeout),
            ..ClientConfig::default()
        }
    }
}
