//! Property tests: random jobs on random workers (honest, cheating, down,
//! dying before or after committing, hanging, refusing, slow), random clock advances, cancellations
//! lost escrow answers, upgrades, overlapping ticks and cancels racing a
//! step. Every job becomes final within a bounded number
//! of ticks; money is conserved in the escrow after every tick; each hold is
//! released or refunded exactly once, as the job's status says; a job of a
//! verifying tier is settled only with the honest result and no cheater is
//! ever paid.

use super::engine_paths::check_escrow;
use super::fake::*;
use crate::engine;
use crate::state::{audit, read_state};
use proptest::prelude::*;
use tensormine_core::encoding::f32_to_le_bytes;
use tensormine_core::router::*;
use tensormine_core::Digest32;

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        4 => Just(Behaviour::Honest),
        2 => Just(Behaviour::Cheat),
        1 => Just(Behaviour::Refuse),
        1 => Just(Behaviour::Down),
        1 => Just(Behaviour::DiesAfterDispatch),
        1 => Just(Behaviour::Hang),
        1 => Just(Behaviour::DiesAfterCommit),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    FreivaldsSeeded,
    AuditAlwaysEmbed,
    AuditAlwaysSeeded,
    RedundantEmbed,
    RedundantUrl,
    /// Redundant seeded matmul: each replica checked by Freivalds.
    RedundantSeeded,
    Unverified,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::FreivaldsSeeded),
        Just(Kind::AuditAlwaysEmbed),
        Just(Kind::AuditAlwaysSeeded),
        Just(Kind::RedundantEmbed),
        Just(Kind::RedundantUrl),
        Just(Kind::RedundantSeeded),
        Just(Kind::Unverified),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Tick,
    Advance(u64),
    Submit {
        kind: Kind,
        who: u8,
        deadline: u64,
    },
    Cancel(usize),
    /// A canister upgrade between steps.
    Upgrade,
    /// Two overlapping ticks.
    OverlappingTicks,
    /// A cancel arriving while a tick's outcalls are in flight.
    CancelDuringTick(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => Just(Step::Tick),
        3 => (0u64..90).prop_map(Step::Advance),
        2 => (kind(), 1u8..=2, 30u64..400).prop_map(|(kind, who, deadline)| Step::Submit { kind, who, deadline }),
        1 => (0usize..8).prop_map(Step::Cancel),
        1 => Just(Step::Upgrade),
        1 => Just(Step::OverlappingTicks),
        1 => (0usize..8).prop_map(Step::CancelDuringTick),
    ]
}

fn request(rt: &FakeRuntime, kind: Kind, deadline: u64, n: usize) -> JobRequest {
    let always = Tier::Audit {
        rate_ppm: 1_000_000,
    };
    let sentences = ["alpha", "beta", "gamma"];
    let r = match kind {
        Kind::FreivaldsSeeded => seeded_matmul(3 + n as u32 % 4, 4, 3, Tier::Freivalds),
        Kind::AuditAlwaysEmbed => embed(&sentences[..1 + n % 3], always),
        Kind::AuditAlwaysSeeded => seeded_matmul(4, 3, 2 + n as u32 % 3, always),
        Kind::RedundantEmbed => embed(&sentences[..1 + n % 3], Tier::Redundant { k: 2 }),
        Kind::RedundantUrl => url_matmul(rt, 4, 3, 3, Tier::Redundant { k: 2 }),
        Kind::RedundantSeeded => seeded_matmul(3, 2, 3, Tier::Redundant { k: 2 }),
        Kind::Unverified => seeded_matmul(2, 2, 2, Tier::None),
    };
    JobRequest {
        deadline_secs: deadline,
        ..r
    }
}

fn run(
    workers: Vec<(Behaviour, u32)>,
    steps: Vec<Step>,
    lose_every: Option<u32>,
    timeout_secs: u64,
) -> Result<(), TestCaseError> {
    let rt = FakeRuntime::new(&[]);
    crate::state::mutate_state(|s| {
        s.set_config(Config {
            assignment_timeout_secs: timeout_secs,
            ..test_config()
        })
    });
    for (b, polls) in &workers {
        let i = rt.add_worker(*b, 100);
        rt.workers.borrow_mut()[i].polls_before_done = *polls;
    }
    rt.sync();
    rt.escrow_lose_every.set(lose_every);
    rt.yield_outcalls.set(true);
    let mut ids: Vec<String> = vec![];
    let conserved = |rt: &FakeRuntime| {
        let e = rt.escrow.borrow();
        (e.total() == e.deposits)
            .then_some(())
            .ok_or_else(|| TestCaseError::fail(format!("{} != {}", e.total(), e.deposits)))
    };
    for s in steps {
        match s {
            Step::Tick => tick(&rt),
            Step::Advance(secs) => rt.advance(secs * SECOND),
            Step::Submit {
                kind,
                who,
                deadline,
            } => {
                let r = request(&rt, kind, deadline, ids.len());
                match submit(&rt, user(who), r) {
                    Ok(v) => ids.push(v.id),
                    Err(SubmitError::HoldPending { job_id }) => ids.push(job_id),
                    Err(e) => return Err(TestCaseError::fail(format!("submit: {e:?}"))),
                }
            }
            Step::Upgrade => rt.upgrade(),
            Step::OverlappingTicks => {
                futures::executor::block_on(futures::future::join(
                    engine::tick(&rt),
                    engine::tick(&rt),
                ));
            }
            Step::CancelDuringTick(i) => {
                let id = ids.get(i).cloned();
                // The tick runs up to its first outcalls (pending once), then the cancel.
                futures::executor::block_on(futures::future::join(engine::tick(&rt), async {
                    if let Some(id) = id {
                        let _ = cancel_endpoint(&rt, &id);
                    }
                }));
            }
            Step::Cancel(i) => {
                if let Some(id) = ids.get(i) {
                    let mut j = job(id);
                    if audit::cancellable(&j) {
                        audit::cancel(&mut j, rt.time_now());
                        audit::save(&j);
                    }
                }
            }
        }
        conserved(&rt)?;
    }
    // Every job becomes final in a bounded number of ticks (the deadlines
    // are at most 400 s; the clock jumps to the next due step).
    let ticks = run_to_final(&rt, 3_000);
    prop_assert!(ticks < 3_000);
    conserved(&rt)?;
    check_escrow(&rt);
    let behaviour_of = |p: candid::Principal| {
        (0..workers.len())
            .find(|&i| miner_id(i) == p)
            .map(|i| rt.workers.borrow()[i].behaviour)
            .unwrap()
    };
    let mut receipts = 0;
    for id in &ids {
        let j = job(id);
        prop_assert!(j.status.is_final(), "{id} {:?}", j.status);
        if matches!(j.status, JobStatus::Settled | JobStatus::Refunded) {
            receipts += 1;
            prop_assert!(j.receipt_index.is_some());
        }
        for a in &j.assignments {
            // A rejected miner was slashed (once, in favour of the submitter).
            if matches!(a.state, AssignmentState::Rejected { .. }) {
                prop_assert!(a.slash_done);
                prop_assert!(rt
                    .escrow
                    .borrow()
                    .slashes
                    .contains_key(&(a.miner, id.clone())));
            }
        }
        if j.status != JobStatus::Settled {
            continue;
        }
        let verified = !matches!(j.request.tier, Tier::None);
        let (honest, _) = compute(&j.spec, &rt.web.borrow());
        let honest_sha = Digest32::sha256(&f32_to_le_bytes(&honest));
        let accepted = &j.assignments[j.accepted.expect("settled jobs have a result")];
        prop_assert_eq!(accepted.state.clone(), AssignmentState::Accepted);
        for (p, _) in crate::settle::payees(&j) {
            let a = j.assignments.iter().find(|a| a.miner == p).unwrap();
            prop_assert_eq!(a.state.clone(), AssignmentState::Accepted);
            if verified {
                prop_assert!(
                    behaviour_of(p) != Behaviour::Cheat,
                    "{id}: cheater {p} paid"
                );
                let sha = a.commitment.as_ref().unwrap().commitment.sha256;
                prop_assert_eq!(
                    sha,
                    honest_sha,
                    "{}: paid result differs from the honest one",
                    id
                );
            }
        }
        if verified {
            prop_assert_eq!(
                accepted.commitment.as_ref().unwrap().commitment.sha256,
                honest_sha
            );
            if j.stored_result_bytes > 0 {
                prop_assert_eq!(
                    read_state(|s| s.results.get(id)).unwrap(),
                    f32_to_le_bytes(&honest)
                );
            }
        }
    }
    prop_assert_eq!(read_state(|s| s.counters().receipt_tree_size), receipts);
    // Every verdict that cost a miner was reported at most once per job.
    let reports = rt.reports.borrow();
    for (i, r) in reports.iter().enumerate() {
        prop_assert!(
            !reports[..i]
                .iter()
                .any(|o| o.miner == r.miner && o.job_id == r.job_id),
            "{r:?} twice"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_markets_stay_sound(
        workers in proptest::collection::vec((behaviour(), 0u32..4), 1..6),
        steps in proptest::collection::vec(step(), 1..40),
        lose_every in prop_oneof![3 => Just(None), 1 => (2u32..5).prop_map(Some)],
        timeout_secs in prop_oneof![Just(20u64), Just(120u64)],
    ) {
        run(workers, steps, lose_every, timeout_secs)?;
    }
}
