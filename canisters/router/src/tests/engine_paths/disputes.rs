//! Fraud proofs inside the dispute window: the submitter's full check finds
//! a wrong row, the router recomputes it, rejects, suspends and slashes the
//! miner and refunds the job; honest rows, malformed proofs, other callers
//! and closed windows change nothing.

use super::*;
use crate::dispute;
use crate::runtime::Runtime;
use serde_bytes::ByteBuf;
use tensormine_core::api::JobSpec;
use tensormine_core::dispute::{find_wrong_row, fraud_proof, CLIENT_VECTORS};
use tensormine_core::encoding::f32_from_le_bytes;

const WINDOW_SECS: u64 = 600;

fn with_window(behaviours: &[Behaviour]) -> FakeRuntime {
    let rt = FakeRuntime::new(behaviours);
    config(|c| c.dispute_window_secs = WINDOW_SECS);
    rt.sync();
    rt
}

/// Ticks (moving the clock to each next step) until job `id` is verified
/// and waits in its dispute window.
fn run_to_window(rt: &FakeRuntime, id: &str) {
    for _ in 0..50 {
        let j = job(id);
        if j.status == JobStatus::Settling && j.dispute_until_ns.is_some() {
            return;
        }
        tick(rt);
        rt.advance(SECOND);
    }
    panic!(
        "job {id} never reached its dispute window: {:?}",
        job(id).status
    );
}

/// The submitter's proof of `row` of the stored result.
fn proof_of(id: &str, row: u64, cols: usize) -> FraudProof {
    fraud_proof(&stored_result(id), cols, row)
}

fn stored_result(id: &str) -> Vec<f32> {
    f32_from_le_bytes(&read_state(|s| s.results.get(&id.to_string())).unwrap()).unwrap()
}

#[test]
fn an_honest_result_is_paid_when_the_window_closes_and_its_rows_stand() {
    let rt = with_window(&[Behaviour::Honest]);
    let v = submit(&rt, user(1), seeded_matmul(8, 6, 5, Tier::Freivalds)).unwrap();
    run_to_window(&rt, &v.id);
    let j = job(&v.id);
    assert_eq!(j.paid_sats, 0, "not paid inside the window");
    assert_eq!(rt.escrow.borrow().account(miner_id(0)).available, 0);
    let JobSpec::Matmul(spec) = &j.spec else {
        unreachable!()
    };
    assert_eq!(
        find_wrong_row(spec, &stored_result(&v.id), CLIENT_VECTORS, &[3; 32]),
        Ok(None)
    );
    // A proof of a right row is refused and changes nothing.
    let before = job(&v.id);
    let r = dispute::submit(user(1), rt.time(), &v.id, proof_of(&v.id, 3, 5));
    assert_eq!(r, Err(FraudProofError::RowIsCorrect));
    assert_eq!(job(&v.id), before);
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    assert!(rt.time() >= j.dispute_until_ns.unwrap());
    assert_eq!(
        rt.escrow.borrow().account(miner_id(0)).available,
        MINER_PRICE
    );
    // Closed now.
    assert!(matches!(
        dispute::submit(user(1), rt.time(), &v.id, proof_of(&v.id, 3, 5)),
        Err(FraudProofError::NotDisputable { .. })
    ));
    check_escrow(&rt);
}

#[test]
fn a_wrong_row_found_by_the_client_check_refunds_slashes_and_suspends() {
    // Tier none: accepted on the signature alone, checked by the submitter.
    let rt = with_window(&[Behaviour::Cheat]);
    let v = submit(&rt, user(1), seeded_matmul(8, 6, 5, Tier::None)).unwrap();
    run_to_window(&rt, &v.id);
    let j = job(&v.id);
    assert_eq!(j.assignments[0].miner, miner_id(0));
    let JobSpec::Matmul(spec) = &j.spec else {
        unreachable!()
    };
    let row = find_wrong_row(spec, &stored_result(&v.id), CLIENT_VECTORS, &[3; 32])
        .unwrap()
        .expect("the cheater's row 0 is wrong");
    assert_eq!(row, 0);
    let before_bond = rt.escrow.borrow().account(miner_id(0)).bonded;
    let verdict = dispute::submit(user(1), rt.time(), &v.id, proof_of(&v.id, row, 5)).unwrap();
    assert_eq!(verdict.miner, miner_id(0));
    assert_eq!((verdict.row, verdict.column), (0, 0));
    assert!(read_state(|s| s.suspended.contains_key(&miner_id(0))));
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Refunded);
    assert!(matches!(
        j.assignments[0].state,
        AssignmentState::Rejected { .. }
    ));
    let e = rt.escrow.borrow();
    assert_eq!(
        e.account(miner_id(0)).available,
        0,
        "the cheater is not paid"
    );
    assert_eq!(e.account(miner_id(0)).bonded, before_bond - 1_000);
    assert_eq!(e.account(user(1)).available, DEPOSIT + 1_000);
    drop(e);
    assert_eq!(reported(&rt, 0), vec![false]);
    check_escrow(&rt);
}

#[test]
fn bad_callers_and_bad_proofs_are_refused_without_a_change() {
    let rt = with_window(&[Behaviour::Cheat]);
    let v = submit(&rt, user(1), seeded_matmul(8, 6, 5, Tier::None)).unwrap();
    run_to_window(&rt, &v.id);
    let before = job(&v.id);
    let good = proof_of(&v.id, 0, 5);
    let now = rt.time();
    let invalid = |p: FraudProof| -> bool {
        matches!(
            dispute::submit(user(1), now, &v.id, p),
            Err(FraudProofError::InvalidProof { .. })
        )
    };
    assert_eq!(
        dispute::submit(user(2), now, &v.id, good.clone()),
        Err(FraudProofError::NotAuthorized)
    );
    assert_eq!(
        dispute::submit(user(1), now, "job-nope", good.clone()),
        Err(FraudProofError::NotFound)
    );
    // Garbage path, a path of another row, wrong lengths, a row out of range.
    let mut p = good.clone();
    p.path[0] = ByteBuf::from(vec![0u8; 32]);
    assert!(invalid(p));
    let mut p = good.clone();
    p.row = 1;
    assert!(invalid(p));
    let mut p = good.clone();
    p.path[0] = ByteBuf::from(vec![0u8; 31]);
    assert!(invalid(p));
    let mut p = good.clone();
    p.values.pop();
    assert!(invalid(p));
    let mut p = good.clone();
    p.row = 8;
    assert!(invalid(p));
    // Too late: after the window.
    let late = before.dispute_until_ns.unwrap();
    assert!(matches!(
        dispute::submit(user(1), late, &v.id, good.clone()),
        Err(FraudProofError::NotDisputable { .. })
    ));
    assert_eq!(job(&v.id), before, "nothing changed");
}

#[test]
fn url_operand_jobs_have_no_window() {
    let rt = with_window(&[Behaviour::Honest, Behaviour::Honest]);
    let r = url_matmul(&rt, 5, 4, 3, Tier::Redundant { k: 2 });
    let v = submit(&rt, user(1), r).unwrap();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    assert_eq!(j.dispute_until_ns, None);
}
