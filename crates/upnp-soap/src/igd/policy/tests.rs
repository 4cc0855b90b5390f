//! The add-mapping policy's decisions, table-driven, without sockets: every fault code the
//! policy knows, the lease fallback, conflicts, and every short script of outcomes.

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
