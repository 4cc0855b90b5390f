//! The IGD fault policy for adding a port mapping, as a deterministic state machine:
//! [`AddMapping`] says which attempt to make next ([`Step::Send`]), given the outcome of
//! the last one ([`Outcome`]), until the mapping is granted or the request has failed. It
//! sends nothing and reads no clock: [`Gateway::add_port_mapping`](super::Gateway::add_port_mapping)
//! performs each attempt and bounds the whole in time, and the tests below check every
//! decision without a socket.
//!
//! The decisions, for `AddPortMapping`:
//! - 724 `SamePortValuesRequired` (the first time): again with the external port equal to
//!   the internal one.
//! - 718 `ConflictInMappingEntry` (or 724 again): the port is taken. After
//!   [`MAX_PORT_ATTEMPTS`] ports, or when equal ports are required, the request fails with
//!   [`Failure::Conflict`]. Otherwise, once and on a v2 service, `AddAnyPortMapping` from
//!   that port; else (or when that conflicts too: 718, 728, 729) a random unprivileged port
//!   not tried yet. Nobody's mapping is deleted.
//! - 606 `ActionNotAuthorized`: [`Failure::NotAuthorized`].
//! - 725 `OnlyPermanentLeasesSupported`, or 402 `InvalidArgs`, answering a finite lease:
//!   the same attempt with lease 0, and the gateway is taken to accept only permanent
//!   leases ([`AddMapping::permanent_only`]). A 402 to that retry shows the lease was not
//!   what it objected to: the belief is dropped and the request fails with that error.
//! - Anything else (a fault such as 501 or 401, no answer, an answer that does not read)
//!   ends the request with that error ([`Failure::Error`]). Whether it means a stale
//!   gateway is the error's to say ([`IgdError::may_be_stale_igd`](super::IgdError::may_be_stale_igd)).
//!
//! `AddAnyPortMapping` asked directly ([`AddMapping::any_port_mapping`]) has the same lease
//! fallback; it needs a v2 service ([`Failure::NotSupported`]), and any other fault ends it.

use std::time::Duration;

use crate::error::code;

use super::MAX_LEASE;

/// How many external ports `AddPortMapping` tries after conflicts (718).
pub const MAX_PORT_ATTEMPTS: usize = 6;

/// The two actions that add a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddAction {
    /// `AddPortMapping`: this external port, or a fault.
    AddPortMapping,
    /// `AddAnyPortMapping` (WANIPConnection:2): this external port or one the gateway picks.
    AddAnyPortMapping,
}

impl AddAction {
    /// The action's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AddAction::AddPortMapping => "AddPortMapping",
            AddAction::AddAnyPortMapping => "AddAnyPortMapping",
        }
    }
}

/// One request to make: the action, the external port, and the lease in seconds (0 for a
/// permanent mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// The action to call.
    pub action: AddAction,
    /// `NewExternalPort`.
    pub external_port: u16,
    /// `NewLeaseDuration`, in seconds.
    pub lease: u32,
}

/// How the last [`Attempt`] ended, with the caller's error `E` for the failures (so a
/// final [`Failure::Error`] hands back the very error the gateway caused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<E> {
    /// The gateway mapped `external_port`: the port sent for `AddPortMapping`, the one it
    /// reserved (`NewReservedPort`) for `AddAnyPortMapping`.
    Accepted {
        /// The external port mapped.
        external_port: u16,
    },
    /// The gateway answered a SOAP fault with this UPnP error code.
    Fault {
        /// The UPnP error code, e.g. 718.
        code: u16,
        /// The caller's error for it.
        error: E,
    },
    /// Anything else: no answer, an answer that does not read, a URL refused, ...
    Failed(E),
}

/// Why adding the mapping failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure<E> {
    /// Every external port tried conflicts with another mapping; the ports, in order.
    Conflict {
        /// The external ports tried.
        tried: Vec<u16>,
    },
    /// The gateway refuses the action for this control point (606).
    NotAuthorized(AddAction),
    /// The action needs WANIPConnection:2 and the service is older (nothing was sent).
    NotSupported(AddAction),
    /// The last attempt's error, as the caller gave it.
    Error(E),
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<E> {
    /// Make this attempt, then report its [`Outcome`] to [`AddMapping::handle`].
    Send(Attempt),
    /// The mapping is in place.
    Granted {
        /// The external port mapped.
        external_port: u16,
        /// The lease granted, in seconds (0: permanent).
        lease: u32,
    },
    /// The request failed.
    Failed(Failure<E>),
}

/// The lease fallback in flight: the attempt with lease 0 after a refused finite lease.
#[derive(Debug, Clone, Copy)]
struct Fallback {
    /// The belief in permanent-only leases before the fallback.
    was_permanent_only: bool,
    /// The finite lease asked for first.
    asked: u32,
}

/// The decisions of one port-mapping request (see the module documentation).
#[derive(Debug, Clone)]
pub struct AddMapping {
    internal_port: u16,
    v2: bool,
    seed: u64,
    lease: u32,
    permanent_only: bool,
    tried: Vec<u16>,
    same_ports_required: bool,
    tried_any: bool,
    /// The attempt whose outcome is awaited; `None` once finished.
    pending: Option<Attempt>,
    fallback: Option<Fallback>,
    /// Only `AddAnyPortMapping` (asked directly): no conflict handling.
    any_only: bool,
}

impl AddMapping {
    /// `AddPortMapping` from `internal_port` to `external_port` (0: the internal port
    /// first) for `lease` (zero: permanent), on a v2 service or not, at a gateway believed
    /// (or not) to accept only permanent leases. `seed` picks the random ports tried after
    /// conflicts: the same seed and outcomes give the same attempts.
    pub fn port_mapping(
        internal_port: u16,
        external_port: u16,
        lease: Duration,
        v2: bool,
        permanent_only: bool,
        seed: u64,
    ) -> AddMapping {
        AddMapping::new(
            AddAction::AddPortMapping,
            internal_port,
            external_port,
            lease,
            v2,
            permanent_only,
            seed,
        )
    }

    /// `AddAnyPortMapping` from `external_port` (0: the internal port), as
    /// [`port_mapping`](Self::port_mapping) but without trying other ports: the gateway
    /// picks one.
    pub fn any_port_mapping(
        internal_port: u16,
        external_port: u16,
        lease: Duration,
        v2: bool,
        permanent_only: bool,
    ) -> AddMapping {
        AddMapping::new(
            AddAction::AddAnyPortMapping,
            internal_port,
            external_port,
            lease,
            v2,
            permanent_only,
            0,
        )
    }

    fn new(
        action: AddAction,
        internal_port: u16,
        external_port: u16,
        lease: Duration,
        v2: bool,
        permanent_only: bool,
        seed: u64,
    ) -> AddMapping {
        let lease = if permanent_only || lease.is_zero() {
            0
        } else {
            // At most MAX_LEASE (604800), so it fits.
            lease.min(MAX_LEASE).as_secs().max(1) as u32
        };
        let external_port = if external_port == 0 {
            internal_port
        } else {
            external_port
        };
        let any_only = action == AddAction::AddAnyPortMapping;
        AddMapping {
            internal_port,
            v2,
            seed,
            lease,
            permanent_only,
            tried: Vec::new(),
            same_ports_required: false,
            tried_any: false,
            pending: (v2 || !any_only).then_some(Attempt {
                action,
                external_port,
                lease,
            }),
            fallback: None,
            any_only,
        }
    }

    /// The first step: the first attempt, or [`Failure::NotSupported`] for
    /// `AddAnyPortMapping` on a service older than v2.
    pub fn start<E>(&self) -> Step<E> {
        match self.pending {
            Some(attempt) => Step::Send(attempt),
            None => Step::Failed(Failure::NotSupported(AddAction::AddAnyPortMapping)),
        }
    }

    /// Whether the gateway is now believed to accept only permanent leases: the caller
    /// remembers it for later requests.
    pub fn permanent_only(&self) -> bool {
        self.permanent_only
    }

    /// The external ports `AddPortMapping` found taken so far, in order.
    pub fn tried(&self) -> &[u16] {
        &self.tried
    }

    /// Takes the outcome of the attempt last returned and says what to do next. Once the
    /// request has finished, further outcomes are answered with [`Failure::Error`] of the
    /// error they carry, or [`Step::Granted`] for an acceptance.
    pub fn handle<E>(&mut self, outcome: Outcome<E>) -> Step<E> {
        let Some(attempt) = self.pending.take() else {
            return match outcome {
                Outcome::Accepted { external_port } => Step::Granted {
                    external_port,
                    lease: self.lease,
                },
                Outcome::Fault { error, .. } | Outcome::Failed(error) => {
                    Step::Failed(Failure::Error(error))
                }
            };
        };
        let fallback = self.fallback.take();
        let (code, error) = match outcome {
            Outcome::Accepted { external_port } => {
                return Step::Granted {
                    external_port,
                    lease: self.lease,
                };
            }
            Outcome::Failed(error) => return Step::Failed(Failure::Error(error)),
            Outcome::Fault { code, error } => (code, error),
        };
        if attempt.lease != 0
            && matches!(
                code,
                code::ONLY_PERMANENT_LEASES_SUPPORTED | code::INVALID_ARGS
            )
        {
            tracing::debug!(
                action = attempt.action.as_str(),
                code,
                "the gateway refuses a finite lease; retrying with a permanent one"
            );
            self.fallback = Some(Fallback {
                was_permanent_only: self.permanent_only,
                asked: attempt.lease,
            });
            self.permanent_only = true;
            self.lease = 0;
            return self.send(Attempt {
                lease: 0,
                ..attempt
            });
        }
        if let (Some(fallback), code::INVALID_ARGS) = (fallback, code) {
            // 402 again: the lease was not what the gateway objected to.
            self.permanent_only = fallback.was_permanent_only;
            self.lease = fallback.asked;
        }
        if code == code::ACTION_NOT_AUTHORIZED {
            return Step::Failed(Failure::NotAuthorized(attempt.action));
        }
        match attempt.action {
            _ if self.any_only => Step::Failed(Failure::Error(error)),
            AddAction::AddPortMapping => self.after_port_fault(attempt, code, error),
            AddAction::AddAnyPortMapping if is_conflict(code) => {
                let port = self.random_port();
                self.send_port(port)
            }
            AddAction::AddAnyPortMapping => Step::Failed(Failure::Error(error)),
        }
    }

    fn after_port_fault<E>(&mut self, attempt: Attempt, code: u16, error: E) -> Step<E> {
        match code {
            code::SAME_PORT_VALUES_REQUIRED if !self.same_ports_required => {
                tracing::debug!(
                    port = self.internal_port,
                    "the gateway requires equal ports (724)"
                );
                self.same_ports_required = true;
                self.tried.push(attempt.external_port);
                self.send_port(self.internal_port)
            }
            code::CONFLICT_IN_MAPPING_ENTRY | code::SAME_PORT_VALUES_REQUIRED => {
                self.tried.push(attempt.external_port);
                tracing::debug!(port = attempt.external_port, "external port taken (718)");
                if self.same_ports_required || self.tried.len() >= MAX_PORT_ATTEMPTS {
                    return Step::Failed(Failure::Conflict {
                        tried: std::mem::take(&mut self.tried),
                    });
                }
                if self.v2 && !self.tried_any {
                    self.tried_any = true;
                    return self.send(Attempt {
                        action: AddAction::AddAnyPortMapping,
                        external_port: attempt.external_port,
                        lease: self.lease,
                    });
                }
                let port = self.random_port();
                self.send_port(port)
            }
            _ => Step::Failed(Failure::Error(error)),
        }
    }

    fn send_port<E>(&mut self, external_port: u16) -> Step<E> {
        self.send(Attempt {
            action: AddAction::AddPortMapping,
            external_port,
            lease: self.lease,
        })
    }

    fn send<E>(&mut self, attempt: Attempt) -> Step<E> {
        self.pending = Some(attempt);
        Step::Send(attempt)
    }

    /// An unprivileged port not tried yet, drawn from the seed.
    fn random_port(&self) -> u16 {
        let key = (u64::from(self.internal_port) << 32) | ((self.tried.len() as u64) << 16);
        (0u64..1024)
            .map(|salt| {
                let hash = mix(self.seed ^ mix(key | salt));
                1024 + (hash % (65536 - 1024)) as u16
            })
            .find(|candidate| !self.tried.contains(candidate))
            .unwrap_or(self.internal_port)
    }
}

/// Whether `AddAnyPortMapping` failed for lack of a free port rather than for another reason.
fn is_conflict(code: u16) -> bool {
    matches!(
        code,
        code::CONFLICT_IN_MAPPING_ENTRY
            | code::NO_PORT_MAPS_AVAILABLE
            | code::CONFLICT_WITH_OTHER_MECHANISMS
    )
}

/// SplitMix64's finaliser: spreads a key over 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
