//! [`Nat`]: the handle a program holds. Cloning is cheap and clones share everything; the
//! work is done by the core (`core.rs`), the one-shot operations (`ops.rs`), persistent
//! mappings (`persistent.rs`) and public sockets (`public.rs`).

use std::future::Future;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use sync_wrapper::SyncFuture;

use tokio::sync::broadcast;

use crate::assignment::PortAssignments;
use crate::core::Core;
use crate::core::path::Family;
use crate::error::Result;
use crate::event::NatEvent;
use crate::network::{NetworkPath, PassedOver};
use crate::options::NatOptions;
use crate::persistent::PersistentMappingBuilder;
use crate::pinholes::RecordedPinhole;
use crate::probe::{ProbeReport, ProbeResult};
use crate::technique::{MapRequest, NatTechnique};

/// The NAT traversal techniques of one gateway, shared by every mapping made through it.
///
/// A `Nat` probes lazily: the first call that needs a technique probes them all at once and
/// keeps the most preferred one that answered (with one technique allowed, that one is used
/// without a probe); later calls reuse it until it fails, the network changes, or
/// [`forget`](Self::forget) is called. It holds one client per technique (one UDP socket
/// for PCP, one for NAT-PMP, an HTTP client for UPnP), however many mappings use it.
///
/// While persistent mappings exist, one background task follows the techniques' events
/// (restarts, address changes) and checks the network every
/// [`network_check_interval`](NatOptions::with_network_check_interval).
#[derive(Debug, Clone)]
pub struct Nat {
    pub(crate) core: Arc<Core>,
}

impl Default for Nat {
    fn default() -> Nat {
        Nat::new(NatOptions::default())
    }
}

impl Nat {
    /// A `Nat` with the built-in techniques. Nothing is sent until a technique is needed.
    pub fn new(options: NatOptions) -> Nat {
        let family = Family::of(options.gateway());
        Nat {
            core: Core::new(options, family, None),
        }
    }

    /// A `Nat` over the given techniques instead of the built-in ones: techniques of your
    /// own (a relay, a cloud firewall's API), or fakes in tests. They are probed, preferred
    /// (by their [`kind`](NatTechnique::kind) and [`NatOptions::preference`], kinds not
    /// listed last, in the given order), watched (their [`events`](NatTechnique::events))
    /// and used exactly like the built-in ones. Their gateway is their own:
    /// [`NatOptions::gateway`] is ignored, and the routing table is not followed.
    pub fn with_techniques(options: NatOptions, techniques: Vec<Arc<dyn NatTechnique>>) -> Nat {
        let family = Family::of(techniques.first().map(|t| t.gateway()));
        Nat {
            core: Core::new(options, family, Some(techniques)),
        }
    }

    /// The process-wide `Nat` with default options, which [`crate::tcp_listen_public`] and
    /// [`crate::udp_bind_public`] use. It lives while something uses it and is made again
    /// afterwards. Programs that run several tokio runtimes, or threads in several network
    /// namespaces, should make their own `Nat` for each.
    pub fn shared() -> Nat {
        static SHARED: Mutex<Weak<Core>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(core) = shared.upgrade() {
            return Nat { core };
        }
        let nat = Nat::default();
        *shared = Arc::downgrade(&nat.core);
        nat
    }

    /// The IPv6 side of this `Nat`: its techniques open pinholes for this host's global IPv6
    /// address in the firewall of the IPv6 gateway ([`NatOptions::with_gateway_v6`], else
    /// the IPv6 default route's next hop) through PCP or UPnP's `WANIPv6FirewallControl`
    /// (NAT-PMP is IPv4 only). Its mappings' external address is this host's own, and their
    /// external port the internal one. Made once and shared by clones; it has its own probe,
    /// clients and watcher. On a `Nat` that is already IPv6, itself.
    pub fn ipv6(&self) -> Nat {
        Nat {
            core: self.core.ipv6(),
        }
    }

    /// Whether this `Nat` opens IPv6 pinholes (see [`ipv6`](Self::ipv6)).
    pub fn is_ipv6(&self) -> bool {
        self.core.is_ipv6()
    }

    /// The options this `Nat` was made with (the IPv6 side's: its gateway, no NAT-PMP).
    pub fn options(&self) -> &NatOptions {
        self.core.options()
    }

    /// Probes every allowed technique at once, waits for each to answer or time out, and
    /// keeps the most preferred one that answered for later mappings (none, if none did).
    /// The report lists failures too; it is not an error that nothing answered
    /// ([`ProbeReport::to_error`] makes one).
    ///
    /// # Errors
    /// [`Error::Network`](crate::Error::Network) when the default gateway cannot be found.
    pub fn probe(&self) -> impl Future<Output = Result<ProbeReport>> + Send + Sync {
        SyncFuture::new(async move { self.probe_with(|_| {}).await })
    }

    /// [`probe`](Self::probe), calling `on_result` with each technique's line the moment
    /// it answers or fails (a progress display shows each row as it comes in).
    ///
    /// # Errors
    /// As [`probe`](Self::probe).
    pub fn probe_with(
        &self,
        mut on_result: impl FnMut(&ProbeResult) + Send,
    ) -> impl Future<Output = Result<ProbeReport>> + Send + Sync {
        SyncFuture::new(async move { self.core.probe(&mut on_result).await })
    }

    /// The report of the last probe, if there was one.
    pub fn last_report(&self) -> Option<ProbeReport> {
        self.core.last_report()
    }

    /// The technique in use, choosing one if none is (see the type's documentation).
    ///
    /// # Errors
    /// [`Error::NoTechniqueAvailable`](crate::Error::NoTechniqueAvailable) when none
    /// answered within the probe timeout; [`Error::Network`](crate::Error::Network) when the
    /// default gateway cannot be found.
    pub fn selected_technique(
        &self,
    ) -> impl Future<Output = Result<Arc<dyn NatTechnique>>> + Send + Sync {
        SyncFuture::new(async move { Ok(self.core.select().await?.technique) })
    }

    /// Forgets the technique in use, so the next call chooses again.
    pub fn forget(&self) {
        self.core.forget_selection();
    }

    /// The events from now on: restarts, address changes, path changes.
    pub fn subscribe(&self) -> broadcast::Receiver<NatEvent> {
        self.core.subscribe()
    }

    /// A mapping kept alive in the background; see [`PersistentMappingBuilder`]. A request
    /// with [`MapRequest::with_ipv6`] is kept by [`ipv6`](Self::ipv6): a pinhole.
    pub fn persistent(&self, request: MapRequest) -> PersistentMappingBuilder {
        let core = if request.is_ipv6() {
            self.core.ipv6()
        } else {
            Arc::clone(&self.core)
        };
        PersistentMappingBuilder::new(core, request)
    }

    /// The gateway the techniques were last used at, if they were.
    pub fn gateway(&self) -> Option<IpAddr> {
        self.core.path().map(|p| p.gateway)
    }

    /// The gateway this `Nat` would ask now, read from the routing table of its family (or
    /// the one given), without sending anything: the IPv6 side's is the IPv6 gateway.
    ///
    /// # Errors
    /// [`Error::Network`](crate::Error::Network) when there is no default route.
    pub fn gateway_to_ask(&self) -> Result<IpAddr> {
        self.core.gateway_to_ask()
    }

    /// The network path this `Nat` works on, read now without sending anything: the
    /// interface, local address and gateway of the route the kernel picks for internet
    /// traffic (or of the interface or gateway asked for). The other paths it saw are in
    /// [`passed_over`](Self::passed_over) afterwards.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), nat_traversal::Error> {
    /// let nat = nat_traversal::Nat::new(Default::default());
    /// let path = nat.network_path()?;
    /// println!("mapping at {} for {}", path.gateway, path.local_address);
    /// for other in nat.passed_over() {
    ///     println!("not {other}");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::TrafficThroughTunnel`](crate::Error::TrafficThroughTunnel) when internet
    /// traffic leaves through a full-tunnel VPN, [`Error::Network`](crate::Error::Network)
    /// when there is no route.
    pub fn network_path(&self) -> Result<NetworkPath> {
        self.core.network_path()
    }

    /// The host's other paths as last read (a second uplink, a VPN tunnel), each with why
    /// it was not taken.
    pub fn passed_over(&self) -> Vec<PassedOver> {
        self.core.passed_over()
    }

    /// This host's address toward the gateway (the internal address of its mappings), once
    /// the techniques were used.
    pub fn local_address(&self) -> Option<IpAddr> {
        self.core.path().map(|p| p.local_address)
    }

    /// The local assignments of a socket bound to `bound`: every interface address for a
    /// wildcard, else the address itself.
    pub fn local_assignments(&self, bound: SocketAddr) -> PortAssignments {
        PortAssignments::local(bound, &self.core.local_addresses())
    }

    /// The IPv6 pinholes recorded as opened through this `Nat`'s IPv6 side, by this process
    /// or any other using the same record ([`NatOptions::with_pinhole_record`]): neither
    /// protocol can list pinholes. Empty without a record.
    pub fn recorded_pinholes(&self) -> Vec<RecordedPinhole> {
        self.core.ipv6().recorded_pinholes()
    }
}
