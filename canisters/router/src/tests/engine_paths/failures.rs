//! Failing, refusing and hanging workers, deadlines and the failover bound.

use super::*;

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
