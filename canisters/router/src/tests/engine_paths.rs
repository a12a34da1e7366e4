//! The job engine end to end on the fake runtime: each tier's honest path,
//! cheaters, divergent replicas, failing workers, deadlines, cancellation,
//! the failover bound, settlement retries and receipts.

use super::fake::*;
use crate::engine::{self, MAX_POLL_ERRORS};
use crate::state::{mutate_state, read_state};
use crate::{receipts, settle};
use tensormine_core::receipt::{verify_receipt, Receipt, ReceiptOutcome};
use tensormine_core::router::*;

fn config(f: impl FnOnce(&mut Config)) {
    let mut c = test_config();
    f(&mut c);
    mutate_state(|s| s.set_config(c));
}

/// Money is conserved and every final job's hold is settled once, as its status says.
pub fn check_escrow(rt: &FakeRuntime) {
    let e = rt.escrow.borrow();
    assert_eq!(e.total(), e.deposits, "money created or destroyed");
    assert!(
        e.conflicting_settles.is_empty(),
        "{:?}",
        e.conflicting_settles
    );
    let jobs: Vec<crate::job::Job> = read_state(|s| s.jobs.iter().map(|e| e.value().0).collect());
    for j in jobs {
        if let Some(index) = j.receipt_index {
            check_receipt(&j, index);
        }
        let hold = e.holds.get(&j.id);
        match j.status {
            JobStatus::Settled => {
                let Some(Settlement::Released {
                    payees,
                    fee,
                    refunded,
                    ..
                }) = hold.and_then(|h| h.settlement.clone())
                else {
                    panic!("{} settled without a release: {hold:?}", j.id)
                };
                assert_eq!(payees, settle::payees(&j), "{}", j.id);
                assert_eq!((j.fee_sats, j.refunded_sats), (fee, refunded));
                assert_eq!(j.paid_sats + fee + refunded, j.request.max_price_sats);
                assert_eq!(e.settlements_applied[&j.id], 1);
            }
            JobStatus::Refunded => {
                assert!(
                    matches!(hold.and_then(|h| h.settlement.clone()), Some(Settlement::Refunded { amount, .. }) if amount == j.request.max_price_sats),
                    "{} refunded without a refund: {hold:?}",
                    j.id
                );
                assert_eq!(e.settlements_applied[&j.id], 1);
            }
            JobStatus::Rejected => assert!(hold.is_none()),
            _ => assert!(
                hold.is_none_or(|h| h.settlement.is_none()),
                "{} settled early",
                j.id
            ),
        }
    }
}

/// A receipt says what the escrow did: miners paid (only on a settled
/// job, what the release paid them), fee and refund adding up to the hold.
fn check_receipt(j: &crate::job::Job, index: u64) {
    let bytes = read_state(|s| s.receipts.get(&index)).unwrap();
    let r = Receipt::from_bytes(&bytes).unwrap();
    assert_eq!(r.job_id, j.id);
    let paid: u64 = r.miners.iter().map(|m| m.paid_sats).sum();
    assert_eq!(
        paid + r.fee_sats + r.refunded_sats,
        r.held_sats,
        "{}: receipt does not add up: {r:?}",
        j.id
    );
    assert_eq!(paid, j.paid_sats, "{}", j.id);
    let payees = settle::payees(j);
    for (m, a) in r.miners.iter().zip(&j.assignments) {
        let expected = if j.status == JobStatus::Settled {
            payees
                .iter()
                .find(|(p, _)| *p == a.miner)
                .map_or(0, |(_, s)| *s)
        } else {
            0
        };
        assert_eq!(m.paid_sats, expected, "{}: miner line {m:?}", j.id);
        assert_eq!(m.slashed_sats, a.slashed_sats);
    }
}

fn receipt_of(id: &str) -> Receipt {
    let index = job(id).receipt_index.expect("a receipt");
    let bytes = read_state(|s| s.receipts.get(&index)).unwrap();
    Receipt::from_bytes(&bytes).unwrap()
}

fn states(id: &str) -> Vec<AssignmentState> {
    job(id)
        .assignments
        .iter()
        .map(|a| a.state.clone())
        .collect()
}

fn reported(rt: &FakeRuntime, i: usize) -> Vec<bool> {
    rt.reports
        .borrow()
        .iter()
        .filter(|r| r.miner == miner_id(i))
        .map(|r| r.verified)
        .collect()
}

fn challenges(rt: &FakeRuntime, i: usize) -> usize {
    let prefix = format!("https://w{i}.test/");
    rt.outcalls
        .borrow()
        .iter()
        .filter(|o| o.url.starts_with(&prefix) && o.url.ends_with("/challenge"))
        .count()
}

#[test]
fn tier_none_honest_path() {
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(8, 6, 5, Tier::None)).unwrap();
    assert_eq!(v.status, JobStatus::Matching);
    assert_eq!(rt.escrow.borrow().account(user(1)).held, 10_000);
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    assert_eq!(states(&v.id), vec![AssignmentState::Accepted]);
    assert_eq!(j.paid_sats, MINER_PRICE);
    assert_eq!(challenges(&rt, 0), 0, "tier None never challenges");
    // The stored result is the real product.
    let (c, _) = compute(&j.spec, &rt.web.borrow());
    let stored = read_state(|s| s.results.get(&v.id)).unwrap();
    assert_eq!(stored, tensormine_core::encoding::f32_to_le_bytes(&c));
    assert_eq!(j.stored_result_bytes, 8 * 5 * 4);
    let e = rt.escrow.borrow();
    assert_eq!(e.account(miner_id(0)).available, MINER_PRICE);
    assert_eq!(
        e.account(user(1)).available,
        DEPOSIT - MINER_PRICE - j.fee_sats
    );
    assert_eq!(e.account(user(1)).held, 0);
    // Fee: protocol fee plus the outcalls at cost.
    let c = test_config();
    let expected_fee = crate::submit::protocol_fee(&c, MINER_PRICE)
        + crate::submit::cycles_to_sats(&c, j.outcall_cycles);
    assert_eq!(j.fee_sats, expected_fee);
    assert_eq!(e.treasury, expected_fee);
    drop(e);
    assert_eq!(reported(&rt, 0), vec![true]);
    assert!(matches!(
        receipt_of(&v.id).outcome,
        ReceiptOutcome::Unverified
    ));
    assert_eq!(
        *rt.certified.borrow(),
        read_state(receipts::root).0.to_vec()
    );
    check_escrow(&rt);
}

#[test]
fn freivalds_honest_path() {
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(9, 7, 5, Tier::Freivalds)).unwrap();
    run_to_final(&rt, 50);
    assert_eq!(job(&v.id).status, JobStatus::Settled);
    assert_eq!(challenges(&rt, 0), 1);
    assert!(matches!(
        receipt_of(&v.id).outcome,
        ReceiptOutcome::Verified
    ));
    check_escrow(&rt);
}

#[test]
fn freivalds_cheater_is_rejected_slashed_and_replaced() {
    let rt = FakeRuntime::new(&[Behaviour::Cheat]);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(9, 7, 5, Tier::Freivalds)).unwrap();
    tick(&rt);
    assert_eq!(job(&v.id).assignments[0].miner, miner_id(0));
    rt.add_worker(Behaviour::Honest, 100);
    rt.sync();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    assert!(
        matches!(&j.assignments[0].state, AssignmentState::Rejected { reason } if reason.contains("Freivalds"))
    );
    assert_eq!(j.assignments[1].state, AssignmentState::Accepted);
    assert_eq!(j.assignments[1].miner, miner_id(1));
    assert_eq!(j.failovers, 1);
    assert_eq!(settle::payees(&j), vec![(miner_id(1), MINER_PRICE)]);
    // Slashed max(10 × price, 1000) in favour of the submitter.
    let slash = 1_000;
    assert_eq!(j.assignments[0].slashed_sats, slash);
    let e = rt.escrow.borrow();
    assert_eq!(e.account(miner_id(0)).bonded, BOND - slash);
    assert_eq!(e.account(miner_id(0)).available, 0);
    assert_eq!(
        e.account(user(1)).available,
        DEPOSIT + slash - MINER_PRICE - j.fee_sats
    );
    drop(e);
    assert_eq!(reported(&rt, 0), vec![false]);
    assert_eq!(reported(&rt, 1), vec![true]);
    // The failed non-replicated challenge was heard again from every
    // replica before the verdict; the honest miner's passed at once.
    let modes = |i: usize| -> Vec<bool> {
        let prefix = format!("https://w{i}.test/");
        rt.outcalls
            .borrow()
            .iter()
            .filter(|o| o.url.starts_with(&prefix) && o.url.ends_with("/challenge"))
            .map(|o| o.replicated)
            .collect()
    };
    assert_eq!(modes(0), vec![false, true]);
    assert_eq!(modes(1), vec![false]);
    let r = receipt_of(&v.id);
    assert_eq!(r.miners[0].slashed_sats, slash);
    assert_eq!(r.miners[0].paid_sats, 0);
    check_escrow(&rt);
}

#[test]
fn audit_of_a_new_miner_on_embeddings_brings_an_auditor() {
    let rt = FakeRuntime::new(&[]);
    rt.add_worker(Behaviour::Honest, 0);
    rt.add_worker(Behaviour::Honest, 0);
    rt.sync();
    let v = submit(
        &rt,
        user(1),
        embed(&["one", "two", "three"], Tier::Audit { rate_ppm: 0 }),
    )
    .unwrap();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    assert_eq!(j.audited, Some(true));
    let roles: Vec<_> = j.assignments.iter().map(|a| a.role.clone()).collect();
    assert_eq!(
        roles,
        vec![AssignmentRole::Primary, AssignmentRole::Auditor]
    );
    assert_eq!(states(&v.id), vec![AssignmentState::Accepted; 2]);
    assert_eq!(j.paid_sats, 2 * MINER_PRICE);
    assert_eq!(j.stored_result_bytes, 3 * EMBED_DIM as u64 * 4);
    assert!(matches!(
        receipt_of(&v.id).outcome,
        ReceiptOutcome::Verified
    ));
    check_escrow(&rt);
}

#[test]
fn audit_of_a_new_miner_on_seeded_matmul_uses_freivalds() {
    let rt = FakeRuntime::new(&[]);
    rt.add_worker(Behaviour::Honest, 0);
    rt.sync();
    let v = submit(
        &rt,
        user(1),
        seeded_matmul(6, 4, 3, Tier::Audit { rate_ppm: 0 }),
    )
    .unwrap();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(
        (j.status, j.audited, j.assignments.len()),
        (JobStatus::Settled, Some(true), 1)
    );
    assert_eq!(challenges(&rt, 0), 1);
    check_escrow(&rt);
}

#[test]
fn audit_not_drawn_for_an_established_miner() {
    let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Honest]);
    rt.sync();
    let v = submit(&rt, user(1), embed(&["a"], Tier::Audit { rate_ppm: 0 })).unwrap();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(
        (j.status, j.audited, j.assignments.len()),
        (JobStatus::Settled, Some(false), 1)
    );
    assert!(matches!(
        receipt_of(&v.id).outcome,
        ReceiptOutcome::Unverified
    ));
    check_escrow(&rt);
}

#[test]
fn redundant_honest_replicas_on_embeddings_and_url_matmul() {
    for url in [false, true] {
        let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Honest]);
        rt.sync();
        let r = if url {
            url_matmul(&rt, 5, 4, 3, Tier::Redundant { k: 2 })
        } else {
            embed(&["x", "y"], Tier::Redundant { k: 2 })
        };
        let v = submit(&rt, user(1), r).unwrap();
        run_to_final(&rt, 50);
        let j = job(&v.id);
        assert_eq!(j.status, JobStatus::Settled, "url: {url}");
        assert_eq!(states(&v.id), vec![AssignmentState::Accepted; 2]);
        let mut miners: Vec<_> = j.assignments.iter().map(|a| a.miner).collect();
        miners.sort();
        assert_eq!(miners, vec![miner_id(0), miner_id(1)]);
        assert_eq!(j.paid_sats, 2 * MINER_PRICE);
        // URL matmuls are compared by their answers to one shared challenge.
        assert_eq!(
            challenges(&rt, 0) + challenges(&rt, 1),
            if url { 2 } else { 0 }
        );
        check_escrow(&rt);
    }
}

#[test]
fn divergent_replicas_are_settled_by_a_tiebreaker() {
    for url in [false, true] {
        let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Cheat]);
        rt.sync();
        let r = if url {
            url_matmul(&rt, 5, 4, 3, Tier::Redundant { k: 2 })
        } else {
            embed(&["x", "y"], Tier::Redundant { k: 2 })
        };
        let v = submit(&rt, user(1), r).unwrap();
        tick(&rt);
        assert_eq!(job(&v.id).assignments.len(), 2);
        rt.add_worker(Behaviour::Honest, 100);
        rt.sync();
        run_to_final(&rt, 50);
        let j = job(&v.id);
        assert_eq!(j.status, JobStatus::Settled, "url: {url}");
        assert!(j.tiebreak);
        let by_miner = |i: usize| {
            j.assignments
                .iter()
                .find(|a| a.miner == miner_id(i))
                .unwrap()
                .clone()
        };
        assert_eq!(by_miner(2).role, AssignmentRole::TieBreaker);
        assert_eq!(by_miner(0).state, AssignmentState::Accepted);
        assert_eq!(by_miner(2).state, AssignmentState::Accepted);
        assert!(matches!(
            by_miner(1).state,
            AssignmentState::Rejected { .. }
        ));
        assert_eq!(by_miner(1).slashed_sats, 1_000);
        let mut paid: Vec<_> = settle::payees(&j).into_iter().map(|(p, _)| p).collect();
        paid.sort();
        assert_eq!(paid, vec![miner_id(0), miner_id(2)]);
        // The stored result is the honest one.
        let (c, _) = compute(&j.spec, &rt.web.borrow());
        assert_eq!(
            read_state(|s| s.results.get(&v.id)).unwrap(),
            tensormine_core::encoding::f32_to_le_bytes(&c)
        );
        assert_eq!(reported(&rt, 1), vec![false]);
        check_escrow(&rt);
    }
}

#[test]
fn three_way_disagreement_is_refunded() {
    let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Cheat]);
    rt.sync();
    let v = submit(&rt, user(1), embed(&["x"], Tier::Redundant { k: 2 })).unwrap();
    tick(&rt);
    // The tie-breaker cheats too, differently: no majority.
    rt.add_worker(Behaviour::Cheat, 100);
    rt.sync();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Refunded);
    assert!(j.tiebreak);
    assert_eq!(j.assignments.len(), 3);
    assert!(j
        .reason
        .as_deref()
        .unwrap()
        .contains("tie-breaker did not settle it"));
    assert_eq!(rt.escrow.borrow().account(user(1)).available, DEPOSIT);
    assert!(settle::payees(&j).is_empty());
    check_escrow(&rt);
}

#[test]
fn a_worker_that_goes_down_is_replaced_after_max_poll_errors() {
    let rt = FakeRuntime::new(&[Behaviour::DiesAfterDispatch]);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(4, 4, 4, Tier::Freivalds)).unwrap();
    tick(&rt);
    rt.add_worker(Behaviour::Honest, 100);
    rt.sync();
    run_to_final(&rt, 100);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    assert!(
        matches!(&j.assignments[0].state, AssignmentState::Failed { reason } if reason.contains(&format!("unreachable for {MAX_POLL_ERRORS} polls"))),
        "{:?}",
        j.assignments[0].state
    );
    let polls = rt
        .outcalls
        .borrow()
        .iter()
        .filter(|o| o.url.starts_with("https://w0.test/") && o.body.is_none())
        .count();
    assert_eq!(polls, MAX_POLL_ERRORS as usize);
    assert_eq!(settle::payees(&j), vec![(miner_id(1), MINER_PRICE)]);
    assert_eq!(reported(&rt, 0), vec![false]);
    // A failure is not a cheat: no slash.
    assert!(rt.escrow.borrow().slashes.is_empty());
    check_escrow(&rt);
}

#[test]
fn a_down_or_refusing_worker_fails_the_dispatch() {
    for (b, tries) in [
        (Behaviour::Down, test_config().dispatch_retries + 1),
        (Behaviour::Refuse, 1),
    ] {
        let rt = FakeRuntime::new(&[b]);
        rt.sync();
        let v = submit(&rt, user(1), seeded_matmul(4, 4, 4, Tier::None)).unwrap();
        tick(&rt);
        rt.add_worker(Behaviour::Honest, 100);
        rt.sync();
        run_to_final(&rt, 100);
        let j = job(&v.id);
        assert_eq!(j.status, JobStatus::Settled, "{b:?}");
        assert!(
            matches!(&j.assignments[0].state, AssignmentState::Failed { .. }),
            "{b:?}"
        );
        let dispatches = rt
            .outcalls
            .borrow()
            .iter()
            .filter(|o| o.url == "https://w0.test/v1/jobs")
            .count();
        assert_eq!(dispatches as u32, tries, "{b:?}");
        check_escrow(&rt);
    }
}

#[test]
fn deadline_refunds_a_job_whose_miner_never_finishes() {
    let rt = FakeRuntime::new(&[Behaviour::Hang]);
    rt.sync();
    let r = crate::tests::fake::seeded_matmul(4, 4, 4, Tier::None);
    let v = submit(
        &rt,
        user(1),
        JobRequest {
            deadline_secs: 60,
            ..r
        },
    )
    .unwrap();
    let start = rt.time_now();
    run_to_final(&rt, 200);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Refunded);
    assert!(j.reason.as_deref().unwrap().contains("deadline"));
    assert!(rt.time_now() >= start + 60 * SECOND);
    assert_eq!(j.assignments[0].state, AssignmentState::TimedOut);
    assert_eq!(rt.escrow.borrow().account(user(1)).available, DEPOSIT);
    assert_eq!(reported(&rt, 0), vec![false]);
    assert!(matches!(
        receipt_of(&v.id).outcome,
        ReceiptOutcome::Refunded { .. }
    ));
    check_escrow(&rt);
}

#[test]
fn a_replica_lost_after_committing_is_given_up_on_and_the_verified_one_settles() {
    // The first replica passes its Freivalds check (Accepted); the second
    // committed, then went down before its challenge. After MAX_POLL_ERRORS
    // failed challenges it is Failed (not slashed: not a wrong answer) and
    // the job settles on the verified replica instead of waiting for its
    // deadline. The receipt pays exactly the accepted miner.
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    rt.sync();
    let r = seeded_matmul(4, 4, 4, Tier::Redundant { k: 2 });
    let v = submit(
        &rt,
        user(1),
        JobRequest {
            deadline_secs: 600,
            ..r
        },
    )
    .unwrap();
    tick(&rt);
    rt.add_worker(Behaviour::DiesAfterCommit, 100);
    rt.sync();
    run_to_final(&rt, 200);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    assert_eq!(j.assignments[0].state, AssignmentState::Accepted);
    assert!(
        matches!(&j.assignments[1].state, AssignmentState::Failed { reason } if reason.contains("after committing")),
        "{:?}",
        j.assignments[1].state
    );
    assert_eq!(j.assignments[1].slashed_sats, 0);
    let receipt = receipt_of(&v.id);
    assert_eq!(receipt.miners[0].paid_sats, j.assignments[0].price_sats);
    assert_eq!(receipt.miners[1].paid_sats, 0);
    assert!(matches!(
        receipt.miners[1].verdict,
        tensormine_core::receipt::MinerVerdict::Failed { .. }
    ));
    check_escrow(&rt);
}

#[test]
fn no_miner_at_all_refunds_at_the_deadline() {
    let rt = FakeRuntime::new(&[]);
    rt.sync();
    let r = seeded_matmul(4, 4, 4, Tier::None);
    let v = submit(
        &rt,
        user(1),
        JobRequest {
            deadline_secs: 30,
            ..r
        },
    )
    .unwrap();
    run_to_final(&rt, 100);
    let j = job(&v.id);
    assert_eq!((j.status, j.assignments.len()), (JobStatus::Refunded, 0));
    check_escrow(&rt);
}

#[test]
fn assignment_timeout_fails_over_and_failovers_are_bounded() {
    let rt = FakeRuntime::new(&[
        Behaviour::Hang,
        Behaviour::Refuse,
        Behaviour::Down,
        Behaviour::Hang,
        Behaviour::DiesAfterDispatch,
    ]);
    config(|c| {
        c.max_failovers = 2;
        c.assignment_timeout_secs = 30;
    });
    rt.sync();
    let v = submit(
        &rt,
        user(1),
        JobRequest {
            deadline_secs: 3_600,
            ..seeded_matmul(4, 4, 4, Tier::None)
        },
    )
    .unwrap();
    run_to_final(&rt, 500);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Refunded);
    assert_eq!(
        j.assignments.len(),
        3,
        "max_failovers = 2: three miners in all"
    );
    assert!(
        j.reason.as_deref().unwrap().contains("no failover left"),
        "{:?}",
        j.reason
    );
    assert!(j.assignments.iter().all(|a| !a.is_live()));
    assert_eq!(
        rt.reports.borrow().iter().filter(|r| !r.verified).count(),
        3
    );
    assert_eq!(rt.escrow.borrow().account(user(1)).available, DEPOSIT);
    check_escrow(&rt);
}

#[test]
fn cancel_refunds_and_reports_nobody() {
    for busy in [false, true] {
        let rt = FakeRuntime::new(&[Behaviour::Hang]);
        rt.sync();
        let v = submit(&rt, user(1), seeded_matmul(4, 4, 4, Tier::None)).unwrap();
        tick(&rt);
        rt.advance(5 * SECOND);
        tick(&rt);
        let mut j = job(&v.id);
        assert_eq!(j.status, JobStatus::Running);
        assert!(engine::cancellable(&j));
        if busy {
            // What cancel_job does while a step is in flight.
            mutate_state(|s| s.cancels.insert(v.id.clone()));
        } else {
            engine::cancel(&mut j, rt.time_now());
            engine::save(&j);
        }
        run_to_final(&rt, 20);
        let j = job(&v.id);
        assert_eq!(j.status, JobStatus::Refunded, "busy: {busy}");
        assert_eq!(j.reason.as_deref(), Some("cancelled by the submitter"));
        assert!(!engine::cancellable(&j));
        assert!(
            rt.reports.borrow().is_empty(),
            "a cancelled miner is not at fault"
        );
        check_escrow(&rt);
    }
}

#[test]
fn a_cancel_during_a_step_is_applied_when_the_step_ends() {
    let rt = FakeRuntime::new(&[Behaviour::Hang]);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(4, 4, 4, Tier::None)).unwrap();
    tick(&rt);
    rt.advance(5 * SECOND);
    rt.yield_outcalls.set(true);
    let id = v.id.clone();
    // join polls the step first: it runs up to its poll outcall, which is
    // pending once; then the cancel arrives.
    let ((), cancelled) =
        futures::executor::block_on(futures::future::join(engine::advance(&rt, &id), async {
            // The poll outcall is in flight: the job is busy.
            assert!(read_state(|s| s.busy_jobs.contains(&id)));
            cancel_endpoint(&rt, &id)
        }));
    assert_eq!(cancelled, Ok(()));
    // Deferred: the step in flight saved the job without the cancel.
    assert_eq!(job(&v.id).status, JobStatus::Running);
    assert!(read_state(|s| s.cancels.contains(&v.id)));
    tick(&rt);
    run_to_final(&rt, 20);
    assert_eq!(job(&v.id).status, JobStatus::Refunded);
    assert!(read_state(|s| s.cancels.is_empty()));
    check_escrow(&rt);
}

#[test]
fn overlapping_ticks_never_step_a_job_twice() {
    let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Honest]);
    rt.sync();
    rt.yield_outcalls.set(true);
    let ids: Vec<String> = (0..4)
        .map(|_| {
            submit(&rt, user(1), seeded_matmul(3, 3, 3, Tier::Freivalds))
                .unwrap()
                .id
        })
        .collect();
    for _ in 0..40 {
        futures::executor::block_on(futures::future::join(engine::tick(&rt), engine::tick(&rt)));
        rt.advance(SECOND);
    }
    assert!(ids.iter().all(|id| job(id).status == JobStatus::Settled));
    // One dispatch per job (the second tick found each job busy or not due).
    let dispatches = rt
        .outcalls
        .borrow()
        .iter()
        .filter(|o| o.url.ends_with("/v1/jobs"))
        .count();
    assert_eq!(dispatches, ids.len());
    check_escrow(&rt);
}

#[test]
fn committed_jobs_are_not_cancellable() {
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(4, 4, 4, Tier::None)).unwrap();
    let mut j = job(&v.id);
    assert!(engine::cancellable(&j));
    run_to_final(&rt, 50);
    assert!(!engine::cancellable(&job(&v.id)));
    // A Running job with a committed miner (the others still computing).
    j.status = JobStatus::Running;
    j.assignments = job(&v.id).assignments;
    j.assignments[0].state = AssignmentState::Committed;
    assert!(!engine::cancellable(&j));
}

#[test]
fn lost_escrow_answers_settle_each_hold_exactly_once() {
    for every in [1, 2, 3] {
        let rt = FakeRuntime::new(&[Behaviour::Cheat, Behaviour::Honest]);
        rt.sync();
        let ids: Vec<String> = (0..3)
            .map(|i| {
                submit(
                    &rt,
                    user(1 + i % 2),
                    seeded_matmul(5, 4, 3, Tier::Freivalds),
                )
                .unwrap()
                .id
            })
            .collect();
        rt.escrow_lose_every.set(Some(every));
        if every == 1 {
            // Nothing ever answers: nothing may become final.
            for _ in 0..60 {
                tick(&rt);
                rt.advance(5 * SECOND);
            }
            assert!(ids.iter().all(|id| !job(id).status.is_final()));
            rt.escrow_lose_every.set(None);
        }
        run_to_final(&rt, 300);
        for id in &ids {
            assert_eq!(job(id).status, JobStatus::Settled, "every {every}");
        }
        check_escrow(&rt);
    }
}

#[test]
fn an_upgrade_mid_job_resumes_every_job() {
    let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Honest, Behaviour::Cheat]);
    rt.sync();
    let ids: Vec<String> = [
        seeded_matmul(5, 4, 3, Tier::Freivalds),
        embed(&["a", "b"], Tier::Redundant { k: 2 }),
        seeded_matmul(2, 2, 2, Tier::None),
    ]
    .into_iter()
    .map(|r| submit(&rt, user(1), r).unwrap().id)
    .collect();
    tick(&rt);
    rt.advance(2 * SECOND);
    tick(&rt);
    let before: Vec<_> = ids.iter().map(|id| job(id)).collect();
    let root = read_state(receipts::root);
    rt.upgrade();
    // Stable state is intact, heap caches are rebuilt from it.
    assert_eq!(ids.iter().map(|id| job(id)).collect::<Vec<_>>(), before);
    assert_eq!(
        read_state(|s| s.active.len()),
        before.iter().filter(|j| !j.status.is_final()).count() as u64
    );
    assert_eq!(
        read_state(|s| s.pending_of(user(1))),
        read_state(|s| s.active.len()) as u32
    );
    assert_eq!(
        read_state(|s| s
            .index
            .eligible_count(tensormine_core::registry::WorkloadKind::Matmul)),
        3
    );
    assert_eq!(*rt.certified.borrow(), root.0.to_vec());
    run_to_final(&rt, 200);
    check_escrow(&rt);
    assert!(ids.iter().all(|id| job(id).status.is_final()));
}

#[test]
fn receipts_are_signed_in_batches_and_verify_offline() {
    let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Cheat]);
    config(|c| c.receipt_batch_max = 3);
    rt.sync();
    let reqs = [
        seeded_matmul(4, 4, 4, Tier::Freivalds),
        embed(&["a", "b"], Tier::None),
        JobRequest {
            deadline_secs: 30,
            ..seeded_matmul(3, 3, 3, Tier::None)
        },
    ];
    let ids: Vec<String> = reqs
        .into_iter()
        .map(|r| submit(&rt, user(1), r).unwrap().id)
        .collect();
    // The third job is cancelled: a refunded receipt.
    let mut third = job(&ids[2]);
    engine::cancel(&mut third, rt.time_now());
    engine::save(&third);
    run_to_final(&rt, 100);
    assert_eq!(read_state(|s| s.counters().receipt_tree_size), 3);
    assert!(matches!(
        receipts::get_receipt(&ids[0], rt.time_now()),
        Err(ReceiptError::NotYetSigned { .. })
    ));
    futures::executor::block_on(receipts::sign_due(&rt));
    assert_eq!(read_state(|s| s.batches.len()), 1);
    let pk: [u8; 32] = rt.key.verifying_key().to_bytes();
    let root = read_state(receipts::root);
    assert_eq!(*rt.certified.borrow(), root.0.to_vec());
    let check = |id: &str| {
        let view = receipts::get_receipt(id, rt.time_now()).unwrap();
        assert_eq!(view.public_key, pk.to_vec());
        let receipt = verify_receipt(&view.to_proof().unwrap(), &pk).unwrap();
        assert_eq!(receipt.job_id, id);
        assert_eq!(receipt.router.0, router_id().as_slice());
        (view, receipt)
    };
    let mut outcomes = vec![];
    for id in &ids {
        let (view, receipt) = check(id);
        assert_eq!((view.batch_index, view.batch_tree_size), (0, 3));
        assert_eq!(view.batch_root, root.0.to_vec());
        outcomes.push(receipt.outcome);
    }
    let j0 = job(&ids[0]);
    if j0.assignments.len() == 1 {
        assert!(matches!(outcomes[0], ReceiptOutcome::Verified));
    }
    assert!(matches!(outcomes[2], ReceiptOutcome::Refunded { .. }));
    // A tampered receipt or another key fails.
    let view = receipts::get_receipt(&ids[1], rt.time_now()).unwrap();
    let mut proof = view.to_proof().unwrap();
    proof.receipt = proof.receipt.replace(&ids[1], &ids[0]);
    assert!(verify_receipt(&proof, &pk).is_err());
    assert!(verify_receipt(&view.to_proof().unwrap(), &[9; 32]).is_err());
    // A fourth receipt waits for the time limit, then batch 1 covers it;
    // the old receipts still prove against batch 0.
    let id4 = submit(&rt, user(2), seeded_matmul(2, 2, 2, Tier::None))
        .unwrap()
        .id;
    run_to_final(&rt, 50);
    assert_eq!(
        *rt.certified.borrow(),
        read_state(receipts::root).0.to_vec()
    );
    assert_ne!(read_state(receipts::root), root);
    futures::executor::block_on(receipts::sign_due(&rt));
    assert_eq!(read_state(|s| s.batches.len()), 1, "not due yet");
    rt.advance(test_config().receipt_batch_secs * SECOND);
    futures::executor::block_on(receipts::sign_due(&rt));
    assert_eq!(read_state(|s| s.batches.len()), 2);
    let (view, _) = check(&id4);
    assert_eq!((view.batch_index, view.batch_tree_size), (1, 4));
    let (view, _) = check(&ids[0]);
    assert_eq!(view.batch_index, 0);
}

impl FakeRuntime {
    pub fn time_now(&self) -> u64 {
        crate::runtime::Runtime::time(self)
    }
}
