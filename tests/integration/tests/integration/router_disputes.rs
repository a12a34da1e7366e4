//! Optimistic verification end to end on localnet: a real worker (wrapped to
//! get one element of a 1024³ product wrong) is accepted on its signature
//! alone (tier none); the developer checks the whole downloaded result with
//! the client check, files the wrong row with its Merkle path, and the
//! router — recomputing that one row — rejects and slashes the miner and
//! refunds the job before anyone is paid.

use std::sync::Arc;
use tensormine_core::dispute::{find_wrong_row, fraud_proof, CLIENT_VECTORS};
use tensormine_core::encoding::f32_from_le_bytes;
use tensormine_core::router::*;
use tensormine_integration_tests::market::*;
use tensormine_integration_tests::worker::{CorruptRows, LoopbackWorker};

const N: u32 = 1024;
const WRONG_ROW: usize = 517;

#[test]
fn one_wrong_element_of_a_1024_cubed_result_is_caught_and_proven_on_chain() {
    let cheater = LoopbackWorker::start_wrapped(91, |real| {
        Arc::new(CorruptRows {
            inner: real,
            rows: vec![WRONG_ROW],
            delta: 1.0,
        })
    });
    let config = ConfigUpdate {
        dispute_window_secs: Some(600),
        assignment_timeout_secs: Some(600),
        ..test_config()
    };
    let mut m = Market::new(vec![cheater], config);
    let job = m.submit(&matmul_request(N, Tier::None, 10_000)).unwrap();
    let mut view = m.job(&job.id);
    for _ in 0..600 {
        if view.status == JobStatus::Settling && view.dispute_until_ns.is_some() {
            break;
        }
        m.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
        view = m.job(&job.id);
    }
    assert_eq!(view.status, JobStatus::Settling, "{view:?}");
    assert_eq!(
        m.balance(miner(0)).available,
        0,
        "not paid inside the window"
    );

    // The developer's side: the whole result, checked against the committed
    // root, then the client check with its own randomness.
    // Too large for the router to store: it tells the submitter where the
    // worker keeps it (the worker-side id and capability).
    let (r,): (Result<ResultChunk, ResultError>,) = m
        .net
        .query_candid(m.router, developer(), "get_result", (&job.id, 0u64, 1u64))
        .unwrap();
    let Err(ResultError::NotStored { worker_job_id, .. }) = r else {
        panic!("{r:?}")
    };
    let bytes = m.workers[0].result_bytes(&worker_job_id);
    let commitment = view.result.clone().expect("a verified result");
    let root = tensormine_core::merkle::root_of_bytes(&bytes, N as usize).unwrap();
    assert_eq!(root.0.to_vec(), commitment.merkle_root);
    let c = f32_from_le_bytes(&bytes).unwrap();
    let spec = tensormine_core::api::MatmulSpec {
        m: N,
        k: N,
        n: N,
        a: tensormine_core::api::MatrixSource::Seeded {
            seed: tensormine_core::Digest32([1; 32]),
        },
        b: tensormine_core::api::MatrixSource::Seeded {
            seed: tensormine_core::Digest32([2; 32]),
        },
    };
    let row = find_wrong_row(&spec, &c, CLIENT_VECTORS, &[77; 32])
        .unwrap()
        .expect("the client check finds the wrong row");
    assert_eq!(row, WRONG_ROW as u64);
    let proof = fraud_proof(&c, N as usize, row);

    // A stranger may not file it; the submitter's proof is accepted.
    let (r,): (Result<FraudVerdict, FraudProofError>,) = m
        .net
        .update_candid(
            m.router,
            tensormine_integration_tests::stranger(),
            "submit_fraud_proof",
            (&job.id, &proof),
        )
        .unwrap();
    assert_eq!(r, Err(FraudProofError::NotAuthorized));
    let from = m.net.message_log().len();
    let (r,): (Result<FraudVerdict, FraudProofError>,) = m
        .net
        .update_candid(
            m.router,
            developer(),
            "submit_fraud_proof",
            (&job.id, &proof),
        )
        .unwrap();
    let verdict = r.expect("the fraud proof is accepted");
    assert_eq!(verdict.miner, miner(0));
    assert_eq!(
        (verdict.row, verdict.column),
        (row, (WRONG_ROW % N as usize) as u64)
    );
    let instructions: u64 = m.net.message_log()[from..]
        .iter()
        .filter(|e| e.canister == m.router && e.kind.contains("submit_fraud_proof"))
        .map(|e| e.instructions)
        .sum();
    println!("fraud-proof adjudication at n = {N}: {instructions} instructions");
    assert!(instructions > 0 && instructions < 40_000_000_000);

    // Refunded, the cheater slashed in the developer's favour and unpaid.
    let bond_before = m.balance(miner(0)).bonded;
    let view = m.run_until_final(&job.id, 60);
    assert_eq!(view.status, JobStatus::Refunded, "{view:?}");
    assert!(matches!(
        view.assignments[0].state,
        AssignmentState::Rejected { .. }
    ));
    let cheater = m.balance(miner(0));
    assert_eq!(cheater.available, 0);
    assert!(cheater.bonded < bond_before, "slashed: {cheater:?}");
    assert_eq!(m.balance(developer()).held, 0);
}
