//! Bonds and suspension: matching only picks miners whose free bond covers
//! the job's slash, counts that bond at stake until the job is final, and
//! suspends a miner after a proven wrong result until a fresh capability
//! challenge.

use super::*;
use crate::state::EventKind;
use candid::Principal;

#[test]
fn an_unbonded_miner_is_never_matched() {
    let rt = FakeRuntime::new(&[]);
    rt.add_worker_bonded(Behaviour::Honest, 100, 0);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(4, 4, 4, Tier::Freivalds)).unwrap();
    tick(&rt);
    let j = job(&v.id);
    assert!(j.assignments.is_empty(), "{:?}", j.assignments);
    assert_eq!(j.passed_over, vec![miner_id(0)]);
    let passed: Vec<_> = events_of(&v.id)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::BondTooLow {
                miner,
                free_sats,
                needed_sats,
            } => Some((miner, free_sats, needed_sats)),
            _ => None,
        })
        .collect();
    // The slash of a 100-sat job: max(10 × 100, min_slash 1000).
    assert_eq!(passed, vec![(miner_id(0), 0, 1_000)]);
    // A bonded miner comes: it gets the job; the unbonded one never did.
    rt.add_worker(Behaviour::Honest, 100);
    rt.sync();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    assert!(j.assignments.iter().all(|a| a.miner == miner_id(1)));
    check_escrow(&rt);
}

#[test]
fn a_bond_at_stake_in_an_open_job_is_not_free_for_the_next() {
    // Exactly one slash of bond: one open job at a time.
    let rt = FakeRuntime::new(&[]);
    rt.add_worker_bonded(Behaviour::Hang, 100, 1_000);
    rt.sync();
    let first = submit(&rt, user(1), seeded_matmul(4, 4, 4, Tier::Freivalds)).unwrap();
    let second = submit(&rt, user(2), seeded_matmul(4, 4, 4, Tier::Freivalds)).unwrap();
    tick(&rt);
    let on = |id: &str| -> Vec<Principal> { job(id).assignments.iter().map(|a| a.miner).collect() };
    // The only miner takes one job; for the other its bond is at stake already.
    let (taken, waiting) = if on(&first.id).is_empty() {
        (&second.id, &first.id)
    } else {
        (&first.id, &second.id)
    };
    assert_eq!(on(taken), vec![miner_id(0)]);
    assert!(on(waiting).is_empty());
    assert_eq!(job(waiting).passed_over, vec![miner_id(0)]);
    assert_eq!(
        read_state(|s| s.bond_at_stake.get(&miner_id(0))),
        Some(1_000)
    );
    // A second bonded miner takes the waiting job.
    rt.add_worker(Behaviour::Honest, 100);
    rt.sync();
    rt.advance(6 * SECOND); // past the retry of a job that found no miner
    tick(&rt);
    assert_eq!(on(waiting), vec![miner_id(1)]);
    // Once every job is final, nothing is at stake any more.
    run_to_final(&rt, 2_000);
    for id in [&first.id, &second.id] {
        assert!(job(id).status.is_final(), "{id}: {:?}", job(id).status);
    }
    assert_eq!(read_state(|s| s.bond_at_stake.len()), 0);
    check_escrow(&rt);
}

#[test]
fn a_proven_cheater_is_suspended_until_a_fresh_capability_challenge() {
    let rt = FakeRuntime::new(&[Behaviour::Cheat, Behaviour::Honest]);
    rt.sync();
    // Run jobs until the cheater was picked once (matching is a weighted draw).
    let mut caught = None;
    for _ in 0..20 {
        let v = submit(&rt, user(1), seeded_matmul(6, 4, 3, Tier::Freivalds)).unwrap();
        run_to_final(&rt, 50);
        if job(&v.id)
            .assignments
            .iter()
            .any(|a| a.miner == miner_id(0))
        {
            caught = Some(v.id);
            break;
        }
    }
    let caught = caught.expect("the cheater is drawn within 20 jobs");
    assert!(matches!(
        job(&caught).assignments[0].state,
        AssignmentState::Rejected { .. }
    ));
    assert!(read_state(|s| s.suspended.contains_key(&miner_id(0))));
    // It keeps most of its bond, but is not matched again…
    for _ in 0..10 {
        let v = submit(&rt, user(1), seeded_matmul(6, 4, 3, Tier::Freivalds)).unwrap();
        run_to_final(&rt, 50);
        let j = job(&v.id);
        assert_eq!(j.status, JobStatus::Settled);
        assert!(j.assignments.iter().all(|a| a.miner != miner_id(0)));
    }
    // …until the registry verified its capability again.
    rt.advance(SECOND);
    rt.verify_capability(0);
    rt.sync();
    assert!(!read_state(|s| s.suspended.contains_key(&miner_id(0))));
    check_escrow(&rt);
}
