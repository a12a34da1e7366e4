//! The adversary suite: strategies a miner (or developer) who knows the code
//! would try, each run end to end on localnet with real workers, repeated
//! `ADVERSARY_ATTEMPTS` times (default 1; `scripts/adversary.sh` sets more).
//! Each prints `ATTACK <name>: attempts N, cheater paid S sats, honest
//! slashed H`; the test fails unless S = 0 and H = 0.

use std::sync::Arc;
use tensormine_core::dispute::{find_wrong_row, fraud_proof, CLIENT_VECTORS};
use tensormine_core::encoding::f32_from_le_bytes;
use tensormine_core::router::*;
use tensormine_integration_tests::market::*;
use tensormine_integration_tests::worker::{CorruptRows, LoopbackWorker};

fn attempts() -> u32 {
    std::env::var("ADVERSARY_ATTEMPTS")
        .ok()
        .map(|v| v.parse().expect("ADVERSARY_ATTEMPTS is a number"))
        .unwrap_or(1)
}

/// Runs `attack` `attempts()` times; each returns (sats the attacker got
/// that it should not have, sats slashed from honest miners).
fn run(name: &str, attack: impl Fn(u32) -> (u64, u64)) {
    let n = attempts();
    let (mut paid, mut slashed) = (0u64, 0u64);
    for i in 0..n {
        let (p, s) = attack(i);
        paid += p;
        slashed += s;
    }
    println!("ATTACK {name}: attempts {n}, cheater paid {paid} sats, honest slashed {slashed}");
    assert_eq!((paid, slashed), (0, 0), "{name} got something");
}

fn lazy(key: u8, rows: Vec<usize>) -> LoopbackWorker {
    LoopbackWorker::start_wrapped(key, move |real| {
        Arc::new(CorruptRows {
            inner: real,
            rows,
            delta: 1.0,
        })
    })
}

/// Steps until `done` (at most 600 steps).
fn step_until(m: &mut Market, id: &str, done: impl Fn(&JobView) -> bool) -> JobView {
    for _ in 0..600 {
        let v = m.job(id);
        if done(&v) {
            return v;
        }
        m.step();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("job {id} stuck: {:?}", m.job(id).status);
}

/// A lazy miner (wrong rows, committed and opened consistently) takes a
/// Freivalds job; an honest one is there for the failover. What the lazy
/// one is paid, and what the honest one loses.
fn lazy_rows_under_freivalds(attempt: u32, n: u32, rows: Vec<usize>) -> (u64, u64) {
    let key = 150 + (attempt % 40) as u8;
    let mut m = Market::new(vec![lazy(key, rows)], test_config());
    let job = m
        .submit(&matmul_request(n, Tier::Freivalds, 10_000))
        .unwrap();
    step_until(&mut m, &job.id, |j| !j.assignments.is_empty());
    m.workers.push(LoopbackWorker::start(key + 40, None));
    m.register(1);
    m.wait_for_miners(2);
    let done = m.run_until_final(&job.id, 300);
    assert_eq!(done.status, JobStatus::Settled, "{done:?}");
    let cheater = m.balance(miner(0));
    let honest = m.balance(miner(1));
    (cheater.available, BOND - honest.bonded)
}

#[test]
fn lazy_miners_get_nothing() {
    // One wrong element, and 10 % wrong rows, in a 128² result.
    run("lazy_one_element", |i| {
        lazy_rows_under_freivalds(i, 128, vec![77])
    });
    run("lazy_ten_percent_rows", |i| {
        lazy_rows_under_freivalds(i, 128, (0..128).step_by(10).collect())
    });
}

/// Tier none, a dispute window: the lazy miner is accepted on its signature,
/// the developer's client check finds the row and the fraud proof takes the
/// payment back. What the lazy miner is paid.
#[test]
fn lazy_miners_under_tier_none_lose_to_the_client_check() {
    run("lazy_row_under_tier_none", |i| {
        let key = 100 + (i % 40) as u8;
        let config = ConfigUpdate {
            dispute_window_secs: Some(600),
            ..test_config()
        };
        let mut m = Market::new(vec![lazy(key, vec![5])], config);
        let n = 96u32;
        let job = m.submit(&matmul_request(n, Tier::None, 10_000)).unwrap();
        let view = step_until(&mut m, &job.id, |j| {
            j.status == JobStatus::Settling && j.dispute_until_ns.is_some()
        });
        let c = stored_result(&mut m, &view.id);
        let spec = seeded_spec(n);
        let row = find_wrong_row(&spec, &c, CLIENT_VECTORS, &[i as u8; 32])
            .unwrap()
            .expect("found");
        let (r,): (Result<FraudVerdict, FraudProofError>,) = m
            .net
            .update_candid(
                m.router,
                developer(),
                "submit_fraud_proof",
                (&job.id, fraud_proof(&c, n as usize, row)),
            )
            .unwrap();
        r.expect("accepted");
        let done = m.run_until_final(&job.id, 60);
        assert_eq!(done.status, JobStatus::Refunded);
        (m.balance(miner(0)).available, 0)
    });
}

/// A developer files a fraud proof against an honest row (to get a refund
/// and slash the miner): refused, the miner is paid in full.
#[test]
fn fraud_proofs_against_honest_rows_are_refused() {
    run("fraud_proof_of_an_honest_row", |i| {
        let key = 60 + (i % 40) as u8;
        let config = ConfigUpdate {
            dispute_window_secs: Some(600),
            ..test_config()
        };
        let mut m = Market::new(vec![LoopbackWorker::start(key, None)], config);
        let n = 64u32;
        let job = m.submit(&matmul_request(n, Tier::None, 10_000)).unwrap();
        step_until(&mut m, &job.id, |j| {
            j.status == JobStatus::Settling && j.dispute_until_ns.is_some()
        });
        let c = stored_result(&mut m, &job.id);
        let (r,): (Result<FraudVerdict, FraudProofError>,) = m
            .net
            .update_candid(
                m.router,
                developer(),
                "submit_fraud_proof",
                (&job.id, fraud_proof(&c, n as usize, 7)),
            )
            .unwrap();
        assert_eq!(r, Err(FraudProofError::RowIsCorrect));
        let before = m.balance(developer()).available;
        let done = m.run_until_final(&job.id, 700);
        assert_eq!(done.status, JobStatus::Settled, "{done:?}");
        let refunded_beyond_price = m
            .balance(developer())
            .available
            .saturating_sub(before + done.refunded_sats);
        (refunded_beyond_price, BOND - m.balance(miner(0)).bonded)
    });
}

/// The developer reads the result as soon as the worker has it and cancels
/// before paying: the router refuses the cancel once a miner committed, and
/// nobody but the router holds the worker-side capability before that.
#[test]
fn fetch_then_cancel_gets_no_free_compute() {
    run("fetch_then_cancel", |i| {
        let key = 20 + (i % 40) as u8;
        let mut m = Market::new(vec![LoopbackWorker::start(key, None)], test_config());
        let job = m.submit(&matmul_request(64, Tier::None, 10_000)).unwrap();
        // Before verification the router tells the submitter nothing.
        let (r,): (Result<ResultChunk, ResultError>,) = m
            .net
            .query_candid(m.router, developer(), "get_result", (&job.id, 0u64, 1u64))
            .unwrap();
        assert!(matches!(r, Err(ResultError::NotReady { .. })), "{r:?}");
        let view = step_until(&mut m, &job.id, |j| {
            j.assignments.iter().any(|a| a.commitment.is_some()) || j.status.is_final()
        });
        let (c,): (Result<JobView, CancelError>,) = m
            .net
            .update_candid(m.router, developer(), "cancel_job", (&view.id,))
            .unwrap();
        assert!(matches!(c, Err(CancelError::TooLate { .. })), "{c:?}");
        let done = m.run_until_final(&job.id, 60);
        assert_eq!(done.status, JobStatus::Settled);
        // Free compute: the result obtained without paying the miner.
        let unpaid = if done.paid_sats == 0 { 1 } else { 0 };
        (unpaid, 0)
    });
}

fn seeded_spec(n: u32) -> tensormine_core::api::MatmulSpec {
    use tensormine_core::api::MatrixSource;
    tensormine_core::api::MatmulSpec {
        m: n,
        k: n,
        n,
        a: MatrixSource::Seeded {
            seed: tensormine_core::Digest32([1; 32]),
        },
        b: MatrixSource::Seeded {
            seed: tensormine_core::Digest32([2; 32]),
        },
    }
}

/// The verified result as the router stores it for the submitter.
fn stored_result(m: &mut Market, id: &str) -> Vec<f32> {
    let (r,): (Result<ResultChunk, ResultError>,) = m
        .net
        .query_candid(
            m.router,
            developer(),
            "get_result",
            (id, 0u64, 2_000_000u64),
        )
        .unwrap();
    f32_from_le_bytes(&r.expect("stored").bytes).unwrap()
}
