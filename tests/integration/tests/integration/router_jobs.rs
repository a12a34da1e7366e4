//! The router end to end on localnet with real workers on loopback: jobs of
//! every tier submitted, held, matched, dispatched, polled, verified,
//! settled and receipted; cheaters caught and slashed; failover, timeouts,
//! upgrades mid-job.

use std::sync::Arc;
use tensormine_core::receipt::verify_receipt;
use tensormine_core::router::*;
use tensormine_integration_tests::market::*;
use tensormine_integration_tests::worker::{CorruptRows, LoopbackWorker};

fn workers(n: u8) -> Vec<LoopbackWorker> {
    (0..n).map(|i| LoopbackWorker::start(40 + i, None)).collect()
}

fn public_key(proof: &ReceiptProofView) -> [u8; 32] {
    proof.public_key.clone().try_into().expect("32-byte router key")
}

#[test]
fn honest_matmul_without_verification_settles_pays_and_has_a_verifiable_receipt() {
    let mut m = Market::new(workers(1), test_config());
    let job = m.submit(&matmul_request(64, Tier::None, 10_000)).expect("submitted");
    assert_eq!(job.status, JobStatus::Matching);
    assert_eq!(m.balance(developer()).held, 10_000);
    let job = m.run_until_final(&job.id, 60);
    assert_eq!(job.status, JobStatus::Settled, "{job:#?}");
    assert_eq!(job.assignments.len(), 1);
    let price = job.assignments[0].price_sats;
    assert_eq!(price, 5, "1 GFLOP unit at 5 sats");
    assert_eq!(job.paid_sats, price);
    assert_eq!(job.paid_sats + job.fee_sats + job.refunded_sats, 10_000);
    assert_eq!(m.balance(miner(0)).available, price);
    assert_eq!(m.balance(developer()).held, 0);
    assert_eq!(m.balance(developer()).available, DEPOSIT - price - job.fee_sats);
    m.escrow_invariants_hold();
    assert_eq!(job.stored_result_bytes, 64 * 64 * 4);

    let proof = m.receipt(&job.id);
    let receipt = verify_receipt(&proof.to_proof().unwrap(), &public_key(&proof)).expect("valid receipt");
    assert_eq!(receipt.job_id, job.id);
    assert_eq!(receipt.outcome, tensormine_core::receipt::ReceiptOutcome::Unverified);
}
