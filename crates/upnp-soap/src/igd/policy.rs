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
mod tests {
    use super::*;
    use AddAction::{AddAnyPortMapping as Any, AddPortMapping as Add};

    /// An outcome in a test script; the "error" is the code (0 for no fault).
    #[derive(Debug, Clone, Copy)]
    enum Said {
        /// Accepted: the port sent, or for `AddAnyPortMapping` the one given here.
        Ok(u16),
        /// A fault with this code.
        Fault(u16),
        /// No answer.
        Nothing,
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn send(action: AddAction, external_port: u16, lease: u32) -> Step<u16> {
        Step::Send(Attempt {
            action,
            external_port,
            lease,
        })
    }

    fn granted(external_port: u16, lease: u32) -> Step<u16> {
        Step::Granted {
            external_port,
            lease,
        }
    }

    /// Runs `plan` against the script and returns every step, the first included.
    fn run(plan: &mut AddMapping, script: &[Said]) -> Vec<Step<u16>> {
        let mut steps = vec![plan.start()];
        for said in script {
            let Some(Step::Send(attempt)) = steps.last().cloned() else {
                panic!("the plan finished before {said:?}: {steps:?}");
            };
            let outcome = match *said {
                Said::Ok(port) if attempt.action == Any => Outcome::Accepted {
                    external_port: port,
                },
                Said::Ok(_) => Outcome::Accepted {
                    external_port: attempt.external_port,
                },
                Said::Fault(code) => Outcome::Fault { code, error: code },
                Said::Nothing => Outcome::Failed(0),
            };
            steps.push(plan.handle(outcome));
        }
        steps
    }

    fn v1(internal: u16, external: u16, lease: Duration) -> AddMapping {
        AddMapping::port_mapping(internal, external, lease, false, false, 7)
    }

    fn v2(internal: u16, external: u16, lease: Duration) -> AddMapping {
        AddMapping::port_mapping(internal, external, lease, true, false, 7)
    }

    fn sent(steps: &[Step<u16>]) -> Vec<Attempt> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Send(a) => Some(*a),
                _ => None,
            })
            .collect()
    }

    /// A name, the plan, the outcomes, every step expected, and the belief in
    /// permanent-only leases at the end.
    type Case = (&'static str, AddMapping, Vec<Said>, Vec<Step<u16>>, bool);

    #[test]
    fn the_decisions_table() {
        use Said::{Fault as F, Nothing, Ok as Y};
        let cases: Vec<Case> = vec![
            (
                "accepted at once",
                v1(7000, 7000, HOUR),
                vec![Y(0)],
                vec![send(Add, 7000, 3600), granted(7000, 3600)],
                false,
            ),
            (
                "external port 0 asks for the internal port first",
                v1(7000, 0, HOUR),
                vec![Y(0)],
                vec![send(Add, 7000, 3600), granted(7000, 3600)],
                false,
            ),
            (
                "725 on a finite lease: lease 0, remembered",
                v1(7000, 7000, HOUR),
                vec![F(725), Y(0)],
                vec![send(Add, 7000, 3600), send(Add, 7000, 0), granted(7000, 0)],
                true,
            ),
            (
                "402 on a finite lease: lease 0, remembered",
                v1(7000, 7000, Duration::from_secs(7200)),
                vec![F(402), Y(0)],
                vec![send(Add, 7000, 7200), send(Add, 7000, 0), granted(7000, 0)],
                true,
            ),
            (
                "402 again with lease 0: not about the lease, reported, forgotten",
                v1(7000, 7000, Duration::from_secs(7200)),
                vec![F(402), F(402)],
                vec![
                    send(Add, 7000, 7200),
                    send(Add, 7000, 0),
                    Step::Failed(Failure::Error(402)),
                ],
                false,
            ),
            (
                "725 again with lease 0: reported, belief kept",
                v1(7000, 7000, HOUR),
                vec![F(725), F(725)],
                vec![
                    send(Add, 7000, 3600),
                    send(Add, 7000, 0),
                    Step::Failed(Failure::Error(725)),
                ],
                true,
            ),
            (
                "402 to a permanent request is not about the lease",
                v1(7000, 7000, Duration::ZERO),
                vec![F(402)],
                vec![send(Add, 7000, 0), Step::Failed(Failure::Error(402))],
                false,
            ),
            (
                "725 to a permanent request is reported",
                v1(7000, 7000, Duration::ZERO),
                vec![F(725)],
                vec![send(Add, 7000, 0), Step::Failed(Failure::Error(725))],
                false,
            ),
            (
                "606 is not authorized",
                v1(7000, 7000, Duration::from_secs(60)),
                vec![F(606)],
                vec![
                    send(Add, 7000, 60),
                    Step::Failed(Failure::NotAuthorized(Add)),
                ],
                false,
            ),
            (
                "606 to the lease fallback is not authorized",
                v1(7000, 7000, HOUR),
                vec![F(725), F(606)],
                vec![
                    send(Add, 7000, 3600),
                    send(Add, 7000, 0),
                    Step::Failed(Failure::NotAuthorized(Add)),
                ],
                true,
            ),
            (
                "501 ends the request",
                v2(7000, 7000, HOUR),
                vec![F(501)],
                vec![send(Add, 7000, 3600), Step::Failed(Failure::Error(501))],
                false,
            ),
            (
                "401 (a stale gateway, perhaps) ends the request",
                v2(7000, 7000, HOUR),
                vec![F(401)],
                vec![send(Add, 7000, 3600), Step::Failed(Failure::Error(401))],
                false,
            ),
            (
                "no answer ends the request",
                v2(7000, 7000, HOUR),
                vec![Nothing],
                vec![send(Add, 7000, 3600), Step::Failed(Failure::Error(0))],
                false,
            ),
            (
                "724: again with equal ports",
                v1(6000, 5000, Duration::from_secs(60)),
                vec![F(724), Y(0)],
                vec![send(Add, 5000, 60), send(Add, 6000, 60), granted(6000, 60)],
                false,
            ),
            (
                "724 twice: a conflict on both ports",
                v1(6000, 5000, Duration::from_secs(60)),
                vec![F(724), F(724)],
                vec![
                    send(Add, 5000, 60),
                    send(Add, 6000, 60),
                    Step::Failed(Failure::Conflict {
                        tried: vec![5000, 6000],
                    }),
                ],
                false,
            ),
            (
                "724 then 718: equal ports are required, so no other port helps",
                v2(6000, 5000, Duration::from_secs(60)),
                vec![F(724), F(718)],
                vec![
                    send(Add, 5000, 60),
                    send(Add, 6000, 60),
                    Step::Failed(Failure::Conflict {
                        tried: vec![5000, 6000],
                    }),
                ],
                false,
            ),
            (
                "718 on v2: AddAnyPortMapping grants the reserved port",
                v2(7000, 7000, HOUR),
                vec![F(718), Y(7123)],
                vec![
                    send(Add, 7000, 3600),
                    send(Any, 7000, 3600),
                    granted(7123, 3600),
                ],
                false,
            ),
            (
                "718 on v2, then 606 to AddAnyPortMapping",
                v2(7000, 7000, HOUR),
                vec![F(718), F(606)],
                vec![
                    send(Add, 7000, 3600),
                    send(Any, 7000, 3600),
                    Step::Failed(Failure::NotAuthorized(Any)),
                ],
                false,
            ),
            (
                "718 on v2, then 501 to AddAnyPortMapping",
                v2(7000, 7000, HOUR),
                vec![F(718), F(501)],
                vec![
                    send(Add, 7000, 3600),
                    send(Any, 7000, 3600),
                    Step::Failed(Failure::Error(501)),
                ],
                false,
            ),
            (
                "718 on v2, then 725 to AddAnyPortMapping: lease 0 there too",
                v2(7000, 7000, HOUR),
                vec![F(718), F(725), Y(7200)],
                vec![
                    send(Add, 7000, 3600),
                    send(Any, 7000, 3600),
                    send(Any, 7000, 0),
                    granted(7200, 0),
                ],
                true,
            ),
        ];
        for (name, mut plan, script, expected, permanent_only) in cases {
            let steps = run(&mut plan, &script);
            assert_eq!(steps, expected, "{name}");
            assert_eq!(plan.permanent_only(), permanent_only, "{name}");
        }
    }

    #[test]
    fn leases_are_clamped_and_permanent_only_gateways_get_lease_zero() {
        let first = |plan: AddMapping| match plan.start::<u16>() {
            Step::Send(attempt) => attempt.lease,
            other => panic!("{other:?}"),
        };
        assert_eq!(first(v1(1, 1, Duration::ZERO)), 0);
        assert_eq!(first(v1(1, 1, Duration::from_millis(500))), 1);
        assert_eq!(first(v1(1, 1, Duration::from_secs(10_000_000))), 604_800);
        let remembered = AddMapping::port_mapping(1, 1, HOUR, false, true, 0);
        assert_eq!(first(remembered), 0);
    }

    #[test]
    fn conflicts_everywhere_end_after_six_distinct_ports_and_one_add_any() {
        for v2_service in [false, true] {
            let mut plan = AddMapping::port_mapping(7000, 7000, HOUR, v2_service, false, 99);
            let mut steps = vec![plan.start()];
            while let Some(Step::Send(_)) = steps.last() {
                steps.push(plan.handle(Outcome::Fault {
                    code: code::CONFLICT_IN_MAPPING_ENTRY,
                    error: 718,
                }));
                assert!(steps.len() < 32, "{steps:?}");
            }
            let Some(Step::Failed(Failure::Conflict { tried })) = steps.last() else {
                panic!("{steps:?}");
            };
            assert_eq!(tried.len(), MAX_PORT_ATTEMPTS, "{tried:?}");
            assert_eq!(tried[0], 7000);
            assert!(tried[1..].iter().all(|p| *p >= 1024), "{tried:?}");
            let mut unique = tried.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), tried.len(), "{tried:?}");
            let attempts = sent(&steps);
            let adds = attempts.iter().filter(|a| a.action == Add).count();
            let anys = attempts.iter().filter(|a| a.action == Any).count();
            assert_eq!((adds, anys), (6, usize::from(v2_service)), "{attempts:?}");
            // AddAnyPortMapping comes right after the first conflict.
            if v2_service {
                assert_eq!(attempts[1].action, Any);
            }
        }
    }

    #[test]
    fn a_conflicting_add_any_falls_back_to_another_port() {
        for code in [718, 728, 729] {
            let mut plan = v2(7000, 7000, HOUR);
            let steps = run(
                &mut plan,
                &[Said::Fault(718), Said::Fault(code), Said::Ok(0)],
            );
            let attempts = sent(&steps);
            assert_eq!(attempts.len(), 3, "{steps:?}");
            assert_eq!(attempts[2].action, Add);
            assert_ne!(attempts[2].external_port, 7000);
            assert_eq!(
                steps.last(),
                Some(&granted(attempts[2].external_port, 3600))
            );
        }
    }

    #[test]
    fn the_seed_alone_picks_the_ports() {
        let ports = |seed| {
            let mut plan = AddMapping::port_mapping(7000, 7000, HOUR, false, false, seed);
            let steps = run(&mut plan, &[Said::Fault(718); 5]);
            sent(&steps)
                .iter()
                .map(|a| a.external_port)
                .collect::<Vec<_>>()
        };
        assert_eq!(ports(1), ports(1));
        assert_ne!(ports(1), ports(2));
    }

    #[test]
    fn add_any_asked_directly() {
        let mut plan = AddMapping::any_port_mapping(7000, 0, HOUR, false, false);
        assert_eq!(
            plan.start::<u16>(),
            Step::Failed(Failure::NotSupported(Any))
        );
        assert_eq!(
            plan.handle(Outcome::Failed(5)),
            Step::Failed(Failure::Error(5))
        );
        let cases: Vec<(Vec<Said>, Vec<Step<u16>>)> = vec![
            (
                vec![Said::Ok(9000)],
                vec![send(Any, 7000, 3600), granted(9000, 3600)],
            ),
            (
                vec![Said::Fault(718)],
                vec![send(Any, 7000, 3600), Step::Failed(Failure::Error(718))],
            ),
            (
                vec![Said::Fault(402), Said::Ok(7001)],
                vec![send(Any, 7000, 3600), send(Any, 7000, 0), granted(7001, 0)],
            ),
            (
                vec![Said::Fault(606)],
                vec![
                    send(Any, 7000, 3600),
                    Step::Failed(Failure::NotAuthorized(Any)),
                ],
            ),
        ];
        for (script, expected) in cases {
            let mut plan = AddMapping::any_port_mapping(7000, 0, HOUR, true, false);
            assert_eq!(run(&mut plan, &script), expected, "{script:?}");
        }
    }

    /// Every script of up to five outcomes: the plan ends within a bounded number of
    /// attempts, grants only on an acceptance, and never sends after finishing.
    #[test]
    fn every_short_script_ends() {
        let alphabet = [
            Said::Ok(7123),
            Said::Nothing,
            Said::Fault(401),
            Said::Fault(402),
            Said::Fault(501),
            Said::Fault(606),
            Said::Fault(718),
            Said::Fault(724),
            Said::Fault(725),
            Said::Fault(728),
        ];
        let n = alphabet.len();
        for v2_service in [false, true] {
            for index in 0..n.pow(5) {
                let mut plan = AddMapping::port_mapping(7000, 7000, HOUR, v2_service, false, 3);
                let mut step = plan.start::<u16>();
                let mut rest = index;
                let mut sends = 1;
                for _ in 0..5 {
                    let said = alphabet[rest % n];
                    rest /= n;
                    let Step::Send(attempt) = step else { break };
                    assert!(v2_service || attempt.action == Add);
                    step = plan.handle(match said {
                        Said::Ok(port) => Outcome::Accepted {
                            external_port: if attempt.action == Any {
                                port
                            } else {
                                attempt.external_port
                            },
                        },
                        Said::Fault(code) => Outcome::Fault { code, error: code },
                        Said::Nothing => Outcome::Failed(0),
                    });
                    assert_eq!(
                        matches!(step, Step::Granted { .. }),
                        matches!(said, Said::Ok(_)),
                        "{said:?} gave {step:?}"
                    );
                    if matches!(step, Step::Send(_)) {
                        sends += 1;
                    }
                }
                assert!(sends <= 5 + 1);
            }
            // Constant answers: the plan ends by itself.
            for said in alphabet {
                let mut plan = AddMapping::port_mapping(7000, 7000, HOUR, v2_service, false, 3);
                let mut step = plan.start::<u16>();
                let mut sends = 0;
                while let Step::Send(attempt) = step {
                    sends += 1;
                    assert!(sends <= 16, "{said:?}");
                    step = plan.handle(match said {
                        Said::Ok(port) => Outcome::Accepted {
                            external_port: if attempt.action == Any {
                                port
                            } else {
                                attempt.external_port
                            },
                        },
                        Said::Fault(code) => Outcome::Fault { code, error: code },
                        Said::Nothing => Outcome::Failed(0),
                    });
                }
            }
        }
    }
}
