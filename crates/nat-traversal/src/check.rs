//! The reachability check (feature `stun`): [`Nat::check`], [`Nat::check_port`] and
//! [`Nat::check_udp_socket`] put what the router says (its techniques, its external
//! address, a port mapping) beside what a STUN server sees (RFC 8489) and the NAT's
//! behaviour (RFC 5780), and judge: [`ReachabilityReport`] with its [`Verdict`]
//! (`check/verdict.rs`).
//!
//! STUN servers are contacted only when named ([`NatOptions::with_stun_server`]); without
//! one the check sends nothing beyond the gateway. Cost: on top of the probe and mapping,
//! at most two round trips to the STUN server (test I with the filtering tests, then
//! mapping tests II and III), plus the hairpinning probe to the host's own mapped address.
//!
//! [`NatOptions::with_stun_server`]: crate::NatOptions::with_stun_server

mod hop;
mod verdict;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use sync_wrapper::SyncFuture;
use tokio::net::UdpSocket;

pub use stun::{FilteringBehaviour, MappingBehaviour};
use verdict::Facts;
pub use verdict::Verdict;

use crate::assignment::PortAssignment;
use crate::error::Error;
use crate::nat::Nat;
use crate::probe::ProbeReport;
use crate::technique::{MapRequest, Mapping, Protocol};

/// The lifetime of the mapping [`Nat::check_port`] makes (and deletes afterwards).
const CHECK_LIFETIME: Duration = Duration::from_secs(120);

/// What a reachability check found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReachabilityReport {
    /// The router's techniques, as probed (`None` when the probe could not run: no
    /// default gateway).
    pub probe: Option<ProbeReport>,
    /// Why the probe could not run.
    pub probe_error: Option<Error>,
    /// The external address the router reports (through the technique in use), if any.
    pub external_router: Option<IpAddr>,
    /// The port checked, when one was.
    pub port: Option<(Protocol, u16)>,
    /// The mapping made for the check ([`Nat::check_port`]) or given
    /// ([`Nat::check_udp_socket`]), or why none could be made.
    pub port_mapping: Option<Result<Mapping, Error>>,
    /// The checked socket's public assignment, marked verified when the outside
    /// confirmed it.
    pub assignment: Option<PortAssignment>,
    /// The STUN server that answered (or the last one asked).
    pub stun_server: Option<SocketAddr>,
    /// The address and port the STUN server saw.
    pub external_seen: Option<SocketAddr>,
    /// Why no STUN server answered, when one was named.
    pub stun_error: Option<stun::tokio::Error>,
    /// The NAT's mapping behaviour; `None` when it could not be told (no STUN server, no
    /// RFC 5780, or a TCP check).
    pub mapping: Option<MappingBehaviour>,
    /// The NAT's filtering behaviour, likewise.
    pub filtering: Option<FilteringBehaviour>,
    /// Whether the host reached its own public address and port.
    pub hairpinning: Option<bool>,
    /// For a UDP socket with a port mapping: whether a datagram from an address it never
    /// sent to (the STUN server's CHANGE-REQUEST answer) arrived.
    pub unsolicited_arrived: Option<bool>,
    /// Whether a NAT sits beyond the router (double NAT, carrier-grade NAT).
    pub double_nat: bool,
    /// The address of the hop after the router toward the STUN server, when it was asked
    /// (only when no technique reported the router's external address; Linux and
    /// Android).
    pub hop_after_router: Option<IpAddr>,
    /// Requests sent to STUN servers (each transaction once; the check's cost).
    pub stun_requests: u32,
    /// Datagrams sent to STUN servers, retransmissions of unanswered requests included
    /// (a CHANGE-REQUEST the NAT filters is sent again until its wait ends).
    pub stun_transmissions: u32,
    /// Round trips to the STUN server that waited on each other (at most 2).
    pub stun_round_trips: u32,
    /// How long the check took.
    pub elapsed: Duration,
    /// The answer in one line.
    pub verdict: Verdict,
}

/// What the STUN side of a check found.
#[derive(Default)]
struct Outside {
    server: Option<SocketAddr>,
    seen: Option<SocketAddr>,
    error: Option<stun::tokio::Error>,
    mapping: Option<MappingBehaviour>,
    filtering: Option<FilteringBehaviour>,
    hairpinning: Option<bool>,
    unsolicited_arrived: Option<bool>,
    requests: u32,
    transmissions: u32,
    round_trips: u32,
}

impl Nat {
    /// Checks this host's reachability without a port: the router's techniques and
    /// external address, and from a fresh UDP socket what the STUN servers named in the
    /// options (those of this side's family: IPv6 on [`Nat::ipv6`], where there is no NAT
    /// and the firewall's filtering is what the tests read) see, the NAT's mapping and filtering behaviour and hairpinning; then
    /// whether a NAT sits beyond the router, and a verdict. The probe and the STUN
    /// exchange run at once.
    pub fn check(&self) -> impl Future<Output = ReachabilityReport> + Send + Sync + '_ {
        SyncFuture::new(async move {
            let started = Instant::now();
            let servers = self.options().stun_servers().to_vec();
            let (probe, outside) = tokio::join!(self.probe(), async {
                match bind_udp(&servers, self.is_ipv6(), 0).await {
                    Some(socket) => outside_udp(&socket, &servers, false).await,
                    None => Outside::default(),
                }
            });
            let hop = hop_if_needed(&servers, &probe, None).await;
            self.report(started, probe, None, None, outside, hop)
        })
    }

    /// Checks one port: maps it (for at most two minutes), then sees it from outside
    /// (UDP: a socket bound to the port runs the STUN tests, including whether an
    /// unsolicited datagram arrives through the mapping; TCP: a Binding request over TCP
    /// from the port), deletes the mapping, and judges.
    pub fn check_port(
        &self,
        protocol: Protocol,
        port: u16,
    ) -> impl Future<Output = ReachabilityReport> + Send + Sync + '_ {
        SyncFuture::new(async move {
            let started = Instant::now();
            let servers = self.options().stun_servers().to_vec();
            let probe = self.probe().await;
            let request = MapRequest::new(protocol, port).with_lifetime(CHECK_LIFETIME);
            let mapping = self.map(&request).await;
            let outside = match protocol {
                Protocol::Udp => match bind_udp(&servers, self.is_ipv6(), port).await {
                    Some(socket) => outside_udp(&socket, &servers, mapping.is_ok()).await,
                    None => Outside::default(),
                },
                Protocol::Tcp => outside_tcp(&servers, self.is_ipv6(), port).await,
            };
            if mapping.is_ok() {
                if let Err(e) = self.unmap_port(protocol, port).await {
                    tracing::debug!(error = %e, "the check's mapping was not deleted");
                }
            }
            let hop = hop_if_needed(&servers, &probe, Some(&mapping)).await;
            let port = Some((protocol, port));
            self.report(started, probe, port, Some(mapping), outside, hop)
        })
    }

    /// Checks a UDP socket the program holds, with its public assignment if it has one
    /// (from [`Nat::udp_bind_public`] or a mapping of its own): what the STUN servers see
    /// of this socket, the NAT's behaviour, hairpinning, and with an assignment whether an
    /// unsolicited datagram reaches the socket through it. The report's
    /// [`assignment`](ReachabilityReport::assignment) comes back
    /// [`verified`](PortAssignment::verified) when one did.
    ///
    /// The check reads the socket for up to 1.5 s: datagrams for the program that arrive
    /// meanwhile are dropped. Uses the last probe's report when there is one.
    pub fn check_udp_socket<'a>(
        &'a self,
        socket: &'a UdpSocket,
        assignment: Option<PortAssignment>,
    ) -> impl Future<Output = ReachabilityReport> + Send + Sync + 'a {
        SyncFuture::new(async move {
            let started = Instant::now();
            let servers = self.options().stun_servers().to_vec();
            let probe = match self.last_report() {
                Some(report) => Ok(report),
                None => self.probe().await,
            };
            let public = assignment.filter(|a| a.technique.is_some());
            let outside = outside_udp(socket, &servers, public.is_some()).await;
            let port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
            let mapping = public.and_then(|a| {
                a.technique.map(|t| {
                    Ok(Mapping::new(
                        t,
                        Protocol::Udp,
                        port,
                        a.address,
                        Duration::ZERO,
                    ))
                })
            });
            let hop = hop_if_needed(&servers, &probe, mapping.as_ref()).await;
            let port = Some((Protocol::Udp, port));
            let mut report = self.report(started, probe, port, mapping, outside, hop);
            report.assignment = report.assignment.or(assignment);
            report
        })
    }

    fn report(
        &self,
        started: Instant,
        probe: crate::Result<ProbeReport>,
        port: Option<(Protocol, u16)>,
        port_mapping: Option<Result<Mapping, Error>>,
        outside: Outside,
        hop: Option<IpAddr>,
    ) -> ReachabilityReport {
        let (probe, probe_error) = match probe {
            Ok(report) => (Some(report), None),
            Err(e) => (None, Some(e)),
        };
        let router = probe.as_ref().and_then(|p| {
            let selected = p.selected()?;
            Some((selected, p.result(selected)?.external_address()?))
        });
        // A technique that answered with an error (not silence): NAT-PMP's network
        // failure, UPnP's empty address, a refused mapping.
        let answered_with_error = probe
            .as_ref()
            .is_some_and(|p| p.results().iter().any(|r| r.error().is_some_and(spoke)));
        let refused = port_mapping.as_ref().and_then(|m| m.as_ref().err());
        let refused_at = match refused {
            Some(Error::RefusedBehindNat {
                external_address, ..
            }) => Some(*external_address),
            _ => None,
        };
        let mapped = port_mapping.as_ref().and_then(|m| m.as_ref().ok());
        let local = self.local_address().or_else(|| {
            let gateway = self.gateway_to_ask().ok()?;
            netinfo::local_address_toward(gateway).ok()
        });
        let facts = Facts {
            router: router.or_else(|| mapped.map(|m| (m.technique, m.external.ip()))),
            refused_at,
            answered_without_address: answered_with_error || refused.is_some_and(spoke),
            port_mapping: mapped.map(|m| (m.protocol, m.technique, m.external)),
            port_refused: refused.is_some_and(spoke),
            seen: outside.seen,
            local,
            stun_named: !self.options().stun_servers().is_empty(),
            mapping_behaviour: outside.mapping,
            unsolicited_arrived: outside.unsolicited_arrived,
            hop,
        };
        let verdict = facts.verdict();
        let verified = matches!(
            verdict,
            Verdict::Reachable {
                protocol: Protocol::Udp,
                seen_from_outside: true,
                ..
            }
        );
        let assignment = mapped.map(|m| {
            PortAssignment {
                address: m.external,
                technique: Some(m.technique),
                verified: false,
            }
            .with_verified(verified)
        });
        ReachabilityReport {
            probe,
            probe_error,
            external_router: facts.router_address(),
            port,
            port_mapping,
            assignment,
            stun_server: outside.server,
            external_seen: outside.seen,
            stun_error: outside.error,
            mapping: outside.mapping,
            filtering: outside.filtering,
            hairpinning: outside.hairpinning,
            unsolicited_arrived: outside.unsolicited_arrived,
            double_nat: facts.double_nat(),
            hop_after_router: hop,
            stun_requests: outside.requests,
            stun_transmissions: outside.transmissions,
            stun_round_trips: outside.round_trips,
            elapsed: started.elapsed(),
            verdict,
        }
    }
}

/// The hop probe, when a STUN server is named and neither a technique nor a mapping
/// told the router's external address, or a mapping was refused: the only other way to
/// see a second NAT.
async fn hop_if_needed(
    servers: &[SocketAddr],
    probe: &crate::Result<ProbeReport>,
    mapping: Option<&Result<Mapping, Error>>,
) -> Option<IpAddr> {
    // A refused mapping is probed too: a router that asked STUN itself reports the
    // outer NAT's public address, and only its refusals and the hop after it tell.
    let refused = mapping.is_some_and(|m| m.as_ref().is_err_and(spoke));
    let answered = probe.as_ref().is_ok_and(|p| p.answered().next().is_some());
    let router_told = !refused && (answered || mapping.is_some_and(|m| m.is_ok()));
    let server = servers.iter().find(|s| s.is_ipv4())?;
    if router_told {
        return None;
    }
    hop::second_hop(*server).await
}

/// Whether the gateway spoke the technique's protocol, though to refuse: an answer with
/// an error code, a UPnP SOAP fault (miniupnpd's 501 ActionFailed behind another NAT), or
/// a UPnP IGD without an external address, rather than silence or a closed port.
fn spoke(error: &Error) -> bool {
    match error {
        #[cfg(feature = "upnp")]
        Error::Upnp(e) => {
            matches!(
                **e,
                upnp_soap::IgdError::NoExternalAddress { .. }
                    | upnp_soap::IgdError::Control(upnp_soap::Error::Fault { .. })
            ) || !e.is_unreachable()
        }
        Error::RefusedBehindNat { .. } => true,
        e => !e.is_unreachable(),
    }
}

/// A UDP socket on `port` of this side's family (IPv6 for [`Nat::ipv6`]); `None` without
/// a STUN server of that family (nothing to ask) or when the port cannot be bound.
async fn bind_udp(servers: &[SocketAddr], v6: bool, port: u16) -> Option<UdpSocket> {
    servers.iter().find(|s| s.is_ipv6() == v6)?;
    let any: IpAddr = if v6 {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    match UdpSocket::bind(SocketAddr::new(any, port)).await {
        Ok(socket) => Some(socket),
        Err(e) => {
            tracing::debug!(port, error = %e, "no socket for the reachability check");
            None
        }
    }
}

/// Asks the servers of the socket's family in turn until one answers.
async fn outside_udp(socket: &UdpSocket, servers: &[SocketAddr], unsolicited: bool) -> Outside {
    let family_v4 = socket.local_addr().map(|a| a.is_ipv4()).unwrap_or(true);
    let config = stun::DiscoveryConfig::default().with_unsolicited(unsolicited);
    let mut outside = Outside::default();
    for &server in servers.iter().filter(|s| s.is_ipv4() == family_v4) {
        outside.server = Some(server);
        match stun::tokio::discover(socket, server, config).await {
            Ok(report) => {
                outside.seen = Some(report.mapped);
                outside.mapping = report.mapping;
                outside.filtering = report.filtering;
                outside.hairpinning = report.hairpinning;
                outside.unsolicited_arrived = report.unsolicited_arrived;
                outside.requests += report.requests;
                outside.transmissions += report.transmissions;
                outside.round_trips = report.round_trips;
                outside.error = None;
                return outside;
            }
            Err(e) => {
                tracing::debug!(%server, error = %e, "stun server did not answer");
                outside.error = Some(e);
            }
        }
    }
    outside
}

/// A Binding request over TCP from `port` (an ephemeral port when that cannot be bound),
/// to the servers of this side's family in turn until one answers.
async fn outside_tcp(servers: &[SocketAddr], v6: bool, port: u16) -> Outside {
    let mut outside = Outside::default();
    for &server in servers.iter().filter(|s| s.is_ipv6() == v6) {
        outside.server = Some(server);
        let any: IpAddr = if server.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        let budget = Duration::from_millis(1500);
        outside.requests += 1;
        outside.transmissions += 1;
        outside.round_trips = 1;
        let mut answer =
            stun::tokio::binding_tcp(server, Some(SocketAddr::new(any, port)), budget).await;
        if matches!(
            answer,
            Err(stun::tokio::Error::Io {
                operation: "bind",
                ..
            })
        ) {
            answer = stun::tokio::binding_tcp(server, None, budget).await;
        }
        match answer {
            Ok(success) => {
                outside.seen = Some(success.mapped);
                outside.error = None;
                return outside;
            }
            Err(e) => outside.error = Some(e),
        }
    }
    outside
}
