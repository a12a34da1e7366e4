//! The router end to end on localnet with real workers on loopback: jobs of
//! every tier submitted, held, matched, dispatched, polled, verified,
//! settled and receipted; cheaters caught and slashed; failover, timeouts,
//! upgrades mid-job.

use std::sync::Arc;
use std::time::Duration;
use tensormine_core::receipt::verify_receipt;
use tensormine_core::router::*;
use tensormine_integration_tests::market::*;
use tensormine_integration_tests::worker::{CorruptRows, LoopbackWorker};
use tensormine_worker::workloads::{Executor, ProgressFn, ResultMatrix, WorkItem};

fn workers(n: u8) -> Vec<LoopbackWorker> {
    (0..n)
        .map(|i| LoopbackWorker::start(40 + i, None))
        .collect()
}

fn public_key(proof: &ReceiptProofView) -> [u8; 32] {
    proof
        .public_key
        .clone()
        .try_into()
        .expect("32-byte router key")
}

#[test]
fn honest_matmul_without_verification_settles_pays_and_has_a_verifiable_receipt() {
    let mut m = Market::new(workers(1), test_config());
    let job = m
        .submit(&matmul_request(64, Tier::None, 10_000))
        .expect("submitted");
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
    assert_eq!(
        m.balance(developer()).available,
        DEPOSIT - price - job.fee_sats
    );
    m.escrow_invariants_hold();
    assert_eq!(job.stored_result_bytes, 64 * 64 * 4);

    let proof = m.receipt(&job.id);
    let receipt =
        verify_receipt(&proof.to_proof().unwrap(), &public_key(&proof)).expect("valid receipt");
    assert_eq!(receipt.job_id, job.id);
    assert_eq!(
        receipt.outcome,
        tensormine_core::receipt::ReceiptOutcome::Unverified
    );
}

/// Sleeps before running the real work (a slow GPU), or forever (a hung one).
struct Slow {
    inner: Arc<dyn Executor>,
    delay: Duration,
}

impl Executor for Slow {
    fn run(&self, item: WorkItem, progress: ProgressFn<'_>) -> anyhow::Result<ResultMatrix> {
        std::thread::sleep(self.delay);
        self.inner.run(item, progress)
    }
}

/// Fails every job with a long error message (a status body over the
/// router's 4 KB response limit).
struct Verbose;

impl Executor for Verbose {
    fn run(&self, _: WorkItem, _: ProgressFn<'_>) -> anyhow::Result<ResultMatrix> {
        anyhow::bail!("{}", "out of GPU memory; ".repeat(600))
    }
}

fn cheater(key: u8, rows: Vec<usize>, delta: f32) -> LoopbackWorker {
    LoopbackWorker::start_wrapped(key, move |real| {
        Arc::new(CorruptRows {
            inner: real,
            rows,
            delta,
        })
    })
}

fn slow(key: u8, delay: Duration) -> LoopbackWorker {
    LoopbackWorker::start_wrapped(key, move |real| Arc::new(Slow { inner: real, delay }))
}

/// Adds a worker as the next miner once the job has its first assignment(s).
fn add_miner(m: &mut Market, w: LoopbackWorker) {
    m.workers.push(w);
    let i = m.workers.len() - 1;
    m.register(i);
    m.wait_for_miners(i + 1);
}

fn step_until(m: &mut Market, id: &str, what: &str, done: impl Fn(&JobView) -> bool) -> JobView {
    for _ in 0..120 {
        let job = m.job(id);
        if done(&job) {
            return job;
        }
        m.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what} never happened: {:#?}", m.job(id));
}

fn verdicts(job: &JobView) -> Vec<String> {
    job.assignments
        .iter()
        .map(|a| format!("{:?}", a.state))
        .collect()
}

#[test]
fn freivalds_tier_accepts_an_honest_result_and_every_receipt_byte_matters() {
    let mut m = Market::new(workers(1), test_config());
    let job = m
        .submit(&matmul_request(96, Tier::Freivalds, 10_000))
        .unwrap();
    let job = m.run_until_final(&job.id, 60);
    assert_eq!(job.status, JobStatus::Settled, "{job:#?}");
    assert_eq!(job.assignments[0].state, AssignmentState::Accepted);
    let proof = m.receipt(&job.id);
    let key = public_key(&proof);
    let receipt = verify_receipt(&proof.to_proof().unwrap(), &key).unwrap();
    assert_eq!(
        receipt.outcome,
        tensormine_core::receipt::ReceiptOutcome::Verified
    );
    assert_eq!(
        receipt.result.unwrap().sha256.0.to_vec(),
        job.result.unwrap().sha256
    );
    // Any byte of the receipt changed (still valid UTF-8) fails to verify.
    let core = proof.to_proof().unwrap();
    for i in 0..core.receipt.len() {
        let mut bytes = core.receipt.clone().into_bytes();
        bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
        let mut tampered = core.clone();
        tampered.receipt = String::from_utf8(bytes).unwrap();
        assert!(
            verify_receipt(&tampered, &key).is_err(),
            "byte {i} changed still verifies"
        );
    }
    let mut other_key = key;
    other_key[0] ^= 1;
    assert!(verify_receipt(&core, &other_key).is_err());
}

#[test]
fn a_wrong_matmul_is_caught_slashed_and_rerun_elsewhere() {
    let mut m = Market::new(vec![cheater(50, vec![3, 40, 77], 0.5)], test_config());
    let job = m
        .submit(&matmul_request(96, Tier::Freivalds, 10_000))
        .unwrap();
    step_until(&mut m, &job.id, "dispatch to the cheater", |j| {
        !j.assignments.is_empty()
    });
    add_miner(&mut m, LoopbackWorker::start(51, None));
    let job = m.run_until_final(&job.id, 120);
    assert_eq!(job.status, JobStatus::Settled, "{job:#?}");
    assert_eq!(job.assignments.len(), 2, "{:?}", verdicts(&job));
    let AssignmentState::Rejected { reason } = &job.assignments[0].state else {
        panic!("the cheater is rejected: {:?}", verdicts(&job));
    };
    assert!(reason.contains("Freivalds"), "{reason}");
    assert_eq!(job.assignments[1].state, AssignmentState::Accepted);
    assert_eq!(job.failovers, 1);
    // Slashed (price × 10, at least 1,000 sats) in favour of the developer; the honest miner paid.
    let slashed = 1_000;
    assert_eq!(m.balance(miner(0)).bonded, BOND - slashed);
    assert_eq!(m.balance(miner(1)).available, job.assignments[1].price_sats);
    assert_eq!(
        m.balance(developer()).available,
        DEPOSIT - job.paid_sats - job.fee_sats + slashed
    );
    m.escrow_invariants_hold();
    let proof = m.receipt(&job.id);
    let receipt = verify_receipt(&proof.to_proof().unwrap(), &public_key(&proof)).unwrap();
    assert_eq!(receipt.miners[0].slashed_sats, slashed);
    assert_eq!(receipt.miners[0].paid_sats, 0);
}

#[test]
fn redundant_embeddings_that_diverge_are_resolved_by_a_tie_breaker() {
    let honest = LoopbackWorker::start(60, None);
    let model = honest.tiny_model;
    let mut m = Market::new(vec![honest, cheater(61, vec![0, 1, 2], 0.5)], test_config());
    let request = embed_request(
        &model,
        &["the miner rents a gpu", "a cat sleeps", "bitcoin pays"],
        Tier::Redundant { k: 2 },
    );
    let job = m.submit(&request).unwrap();
    step_until(&mut m, &job.id, "dispatch to both", |j| {
        j.assignments.len() == 2
    });
    add_miner(&mut m, LoopbackWorker::start(62, None));
    let job = m.run_until_final(&job.id, 120);
    assert_eq!(job.status, JobStatus::Settled, "{job:#?}");
    assert_eq!(job.assignments.len(), 3, "{:?}", verdicts(&job));
    assert_eq!(job.assignments[2].role, AssignmentRole::TieBreaker);
    assert_eq!(job.assignments[0].state, AssignmentState::Accepted);
    assert!(
        matches!(job.assignments[1].state, AssignmentState::Rejected { .. }),
        "{:?}",
        verdicts(&job)
    );
    assert_eq!(job.assignments[2].state, AssignmentState::Accepted);
    assert_eq!(job.paid_sats, 2 * 50);
    assert_eq!(m.balance(miner(1)).bonded, BOND - 1_000);
    // The embeddings are stored for the submitter: 3 sentences × 32 dims × 4 bytes.
    assert_eq!(job.stored_result_bytes, 3 * 32 * 4);
    let (chunk,): (Result<ResultChunk, ResultError>,) = m
        .net
        .query_candid(
            m.router,
            developer(),
            "get_result",
            (job.id.clone(), 0u64, 10_000u64),
        )
        .unwrap();
    let chunk = chunk.unwrap();
    assert_eq!(chunk.bytes.len(), 384);
    assert_eq!(
        tensormine_core::Digest32::sha256(&chunk.bytes).0.to_vec(),
        job.result.unwrap().sha256
    );
    m.escrow_invariants_hold();
}

#[test]
fn audit_tier_always_audits_a_new_miner_and_pays_both_when_they_agree() {
    let honest = LoopbackWorker::start(65, None);
    let model = honest.tiny_model;
    let mut m = Market::new(vec![honest, LoopbackWorker::start(66, None)], test_config());
    let request = embed_request(
        &model,
        &["one sentence", "another one"],
        Tier::Audit { rate_ppm: 0 },
    );
    let job = m.submit(&request).unwrap();
    let job = m.run_until_final(&job.id, 120);
    assert_eq!(job.status, JobStatus::Settled, "{job:#?}");
    assert_eq!(
        job.assignments.len(),
        2,
        "new miners are always audited: {:?}",
        verdicts(&job)
    );
    assert_eq!(job.assignments[1].role, AssignmentRole::Auditor);
    assert!(job
        .assignments
        .iter()
        .all(|a| a.state == AssignmentState::Accepted));
    assert_eq!(job.paid_sats, 100);
}

#[test]
fn a_worker_killed_mid_job_is_replaced() {
    let mut m = Market::new(vec![slow(70, Duration::from_secs(30))], test_config());
    let job = m.submit(&matmul_request(64, Tier::None, 10_000)).unwrap();
    step_until(&mut m, &job.id, "the slow worker running", |j| {
        j.assignments
            .first()
            .is_some_and(|a| matches!(a.state, AssignmentState::Running { .. }))
    });
    m.workers[0].stop();
    add_miner(&mut m, LoopbackWorker::start(71, None));
    let job = m.run_until_final(&job.id, 120);
    assert_eq!(job.status, JobStatus::Settled, "{job:#?}");
    let AssignmentState::Failed { reason } = &job.assignments[0].state else {
        panic!("the killed worker fails: {:?}", verdicts(&job));
    };
    assert!(reason.contains("unreachable"), "{reason}");
    assert_eq!(job.assignments[1].state, AssignmentState::Accepted);
    assert_eq!(
        m.balance(miner(0)).available,
        0,
        "nothing paid for work not delivered"
    );
}

#[test]
fn a_hung_worker_times_out_and_the_job_is_refunded_at_its_deadline() {
    let mut config = test_config();
    config.assignment_timeout_secs = Some(20);
    let mut m = Market::new(vec![slow(75, Duration::from_secs(3_600))], config);
    let mut request = matmul_request(64, Tier::None, 10_000);
    request.deadline_secs = 60;
    let job = m.submit(&request).unwrap();
    let job = m.run_until_final(&job.id, 120);
    assert_eq!(job.status, JobStatus::Refunded, "{job:#?}");
    assert_eq!(job.assignments[0].state, AssignmentState::TimedOut);
    assert_eq!(job.refunded_sats, 10_000);
    assert!(job.reason.unwrap().contains("deadline"));
    assert_eq!(m.balance(developer()).available, DEPOSIT);
    assert_eq!(m.balance(developer()).held, 0);
    let proof = m.receipt(&job.id);
    let receipt = verify_receipt(&proof.to_proof().unwrap(), &public_key(&proof)).unwrap();
    assert!(matches!(
        receipt.outcome,
        tensormine_core::receipt::ReceiptOutcome::Refunded { .. }
    ));
    m.escrow_invariants_hold();
}

#[test]
fn the_router_upgraded_mid_job_completes_the_job() {
    // The worker takes 1.5 s of real time while each step moves the manual
    // clock by 1 s: a generous assignment timeout keeps the race out.
    let config = ConfigUpdate {
        assignment_timeout_secs: Some(600),
        ..test_config()
    };
    let mut m = Market::new(vec![slow(80, Duration::from_millis(1_500))], config);
    let job = m
        .submit(&matmul_request(64, Tier::Freivalds, 10_000))
        .unwrap();
    step_until(&mut m, &job.id, "the job running", |j| {
        j.status == JobStatus::Running
    });
    m.upgrade_router();
    let job = m.run_until_final(&job.id, 120);
    assert_eq!(job.status, JobStatus::Settled, "{job:#?}");
    assert_eq!(job.assignments.len(), 1, "the same miner finished it");
    let proof = m.receipt(&job.id);
    verify_receipt(&proof.to_proof().unwrap(), &public_key(&proof)).unwrap();
}

#[test]
fn an_oversized_worker_answer_fails_that_miner_and_the_job_moves_on() {
    let verbose = LoopbackWorker::start_wrapped(85, |_| Arc::new(Verbose));
    let mut m = Market::new(vec![verbose], test_config());
    let job = m.submit(&matmul_request(64, Tier::None, 10_000)).unwrap();
    step_until(&mut m, &job.id, "dispatch", |j| !j.assignments.is_empty());
    add_miner(&mut m, LoopbackWorker::start(86, None));
    let job = m.run_until_final(&job.id, 120);
    assert_eq!(job.status, JobStatus::Settled, "{job:#?}");
    let AssignmentState::Failed { reason } = &job.assignments[0].state else {
        panic!("{:?}", verdicts(&job));
    };
    assert!(
        reason.contains("unreachable"),
        "the over-limit status answers count as failed outcalls: {reason}"
    );
}

#[test]
fn a_cancelled_job_is_refunded_and_only_its_submitter_may_cancel() {
    let mut m = Market::new(vec![slow(88, Duration::from_secs(30))], test_config());
    let job = m.submit(&matmul_request(64, Tier::None, 10_000)).unwrap();
    let stranger = tensormine_integration_tests::stranger();
    let (r,): (Result<JobView, CancelError>,) = m
        .net
        .update_candid(m.router, stranger, "cancel_job", (job.id.clone(),))
        .unwrap();
    assert_eq!(r.unwrap_err(), CancelError::NotAuthorized);
    let (r,): (Result<JobView, CancelError>,) = m
        .net
        .update_candid(m.router, developer(), "cancel_job", (job.id.clone(),))
        .unwrap();
    r.unwrap();
    let job = m.run_until_final(&job.id, 30);
    assert_eq!(job.status, JobStatus::Refunded);
    assert_eq!(m.balance(developer()).available, DEPOSIT);
    let (r,): (Result<JobView, CancelError>,) = m
        .net
        .update_candid(m.router, developer(), "cancel_job", (job.id.clone(),))
        .unwrap();
    assert_eq!(
        r.unwrap_err(),
        CancelError::TooLate {
            status: JobStatus::Refunded
        }
    );
}

#[test]
fn authorization_matrix() {
    let mut m = Market::new(workers(1), test_config());
    let job = m.submit(&matmul_request(32, Tier::None, 10_000)).unwrap();
    let job = m.run_until_final(&job.id, 60);
    let stranger = tensormine_integration_tests::stranger();
    let anonymous = candid::Principal::anonymous();
    let (r,): (Result<JobView, SubmitError>,) = m
        .net
        .update_candid(
            m.router,
            anonymous,
            "submit_job",
            (matmul_request(8, Tier::None, 10_000),),
        )
        .unwrap();
    assert_eq!(r.unwrap_err(), SubmitError::AnonymousCaller);
    let (r,): (Result<JobView, GetJobError>,) = m
        .net
        .query_candid(m.router, stranger, "get_job", (job.id.clone(),))
        .unwrap();
    assert_eq!(r.unwrap_err(), GetJobError::NotAuthorized);
    let (r,): (Result<JobView, GetJobError>,) = m
        .net
        .query_candid(
            m.router,
            tensormine_integration_tests::controller(),
            "get_job",
            (job.id.clone(),),
        )
        .unwrap();
    assert!(r.is_ok(), "controllers may read any job");
    let (r,): (Result<ResultChunk, ResultError>,) = m
        .net
        .query_candid(
            m.router,
            stranger,
            "get_result",
            (job.id.clone(), 0u64, 16u64),
        )
        .unwrap();
    assert_eq!(r.unwrap_err(), ResultError::NotAuthorized);
    let (r,): (Result<Config, ConfigError>,) = m
        .net
        .update_candid(m.router, stranger, "set_config", (ConfigUpdate::default(),))
        .unwrap();
    assert_eq!(r.unwrap_err(), ConfigError::NotController);
    let (jobs,): (Vec<JobView>,) = m
        .net
        .query_candid(m.router, stranger, "list_jobs", (None::<String>, 10u32))
        .unwrap();
    assert!(jobs.is_empty(), "a stranger lists only its own jobs");
    let (jobs,): (Vec<JobView>,) = m
        .net
        .query_candid(m.router, developer(), "list_jobs", (None::<String>, 10u32))
        .unwrap();
    assert_eq!(jobs.len(), 1);
    // Receipts are public: anyone may check that a job was done and paid.
    m.receipt(&job.id);
    // Only the router may move the escrow's money or report to the registry.
    let (r,): (Result<candid::Reserved, candid::Reserved>,) = m
        .net
        .update_candid(
            m.escrow,
            stranger,
            "release",
            (job.id.clone(), Vec::<(candid::Principal, u64)>::new(), 0u64),
        )
        .unwrap();
    assert!(r.is_err());
}

#[test]
fn malformed_job_requests_get_typed_errors() {
    let mut m = Market::new(workers(1), test_config());
    let ok = matmul_request(8, Tier::None, 10_000);
    let with = |f: &dyn Fn(&mut JobRequest)| {
        let mut r = ok.clone();
        f(&mut r);
        r
    };
    let spec_error = |m: &mut Market, r: JobRequest| match m.submit(&r).unwrap_err() {
        SubmitError::InvalidSpec(e) => e,
        other => panic!("expected InvalidSpec, got {other:?}"),
    };
    let dims = |m: u32, k: u32, n: u32| {
        move |r: &mut JobRequest| {
            r.workload = WorkloadInput::Matmul {
                m,
                k,
                n,
                a: OperandInput::Seeded(vec![1; 32]),
                b: OperandInput::Seeded(vec![2; 32]),
            }
        }
    };
    assert!(matches!(
        spec_error(&mut m, with(&dims(0, 8, 8))),
        SpecError::InvalidDimensions { .. }
    ));
    let short_seed = with(&|r| {
        r.workload = WorkloadInput::Matmul {
            m: 2,
            k: 2,
            n: 2,
            a: OperandInput::Seeded(vec![1; 31]),
            b: OperandInput::Seeded(vec![2; 32]),
        }
    });
    assert!(matches!(
        spec_error(&mut m, short_seed),
        SpecError::InvalidOperand { .. }
    ));
    let inline_wrong = with(&|r| {
        r.workload = WorkloadInput::Matmul {
            m: 2,
            k: 2,
            n: 2,
            a: OperandInput::Inline(vec![0; 12]),
            b: OperandInput::Seeded(vec![2; 32]),
        }
    });
    let SpecError::InvalidOperand { operand, reason } = spec_error(&mut m, inline_wrong) else {
        panic!()
    };
    assert_eq!(operand, "a");
    assert!(reason.contains("16 bytes"), "{reason}");
    let ftp = with(&|r| {
        r.workload = WorkloadInput::Matmul {
            m: 2,
            k: 2,
            n: 2,
            a: OperandInput::Url {
                url: "ftp://x/a".into(),
                sha256: vec![0; 32],
            },
            b: OperandInput::Seeded(vec![2; 32]),
        }
    });
    assert!(matches!(
        spec_error(&mut m, ftp),
        SpecError::InvalidOperand { .. }
    ));
    let url_freivalds = with(&|r| {
        r.tier = Tier::Freivalds;
        r.workload = WorkloadInput::Matmul {
            m: 2,
            k: 2,
            n: 2,
            a: OperandInput::Url {
                url: "http://127.0.0.1:1/a".into(),
                sha256: vec![0; 32],
            },
            b: OperandInput::Seeded(vec![2; 32]),
        }
    });
    assert!(matches!(
        spec_error(&mut m, url_freivalds),
        SpecError::InvalidTier { .. }
    ));
    let embed_freivalds = with(&|r| {
        r.tier = Tier::Freivalds;
        r.workload = WorkloadInput::Embed {
            model: vec![0; 32],
            sentences: vec!["a".into()],
        };
    });
    assert!(matches!(
        spec_error(&mut m, embed_freivalds),
        SpecError::InvalidTier { .. }
    ));
    let no_sentences = with(&|r| {
        r.workload = WorkloadInput::Embed {
            model: vec![0; 32],
            sentences: vec![],
        }
    });
    assert!(matches!(
        spec_error(&mut m, no_sentences),
        SpecError::InvalidSentences { .. }
    ));
    let bad_model = with(&|r| {
        r.workload = WorkloadInput::Embed {
            model: vec![0; 3],
            sentences: vec!["a".into()],
        }
    });
    assert!(matches!(
        spec_error(&mut m, bad_model),
        SpecError::InvalidModel { .. }
    ));
    assert!(matches!(
        spec_error(&mut m, with(&|r| r.tier = Tier::Redundant { k: 1 })),
        SpecError::InvalidTier { .. }
    ));
    assert!(matches!(
        spec_error(
            &mut m,
            with(&|r| r.tier = Tier::Audit {
                rate_ppm: 2_000_000
            })
        ),
        SpecError::InvalidTier { .. }
    ));
    assert!(matches!(
        spec_error(&mut m, with(&|r| r.deadline_secs = 1)),
        SpecError::InvalidDeadline { .. }
    ));
    assert!(matches!(
        spec_error(&mut m, with(&|r| r.idempotency_key = Some("a b".into()))),
        SpecError::InvalidIdempotencyKey { .. }
    ));
    let too_cheap = m.submit(&with(&|r| r.max_price_sats = 3)).unwrap_err();
    assert!(
        matches!(too_cheap, SubmitError::PriceTooLow { .. }),
        "{too_cheap:?}"
    );
    let too_much = m
        .submit(&with(&|r| r.max_price_sats = DEPOSIT + 1))
        .unwrap_err();
    let SubmitError::HoldRefused { reason } = too_much else {
        panic!("{too_much:?}")
    };
    assert!(reason.contains("InsufficientFunds"), "{reason}");
    // Idempotency: the same key and request give the same job; another request with it is refused.
    let keyed = with(&|r| r.idempotency_key = Some("order-7".into()));
    let first = m.submit(&keyed).unwrap();
    assert_eq!(m.submit(&keyed).unwrap().id, first.id);
    let conflict = m.submit(&with(&|r| {
        r.idempotency_key = Some("order-7".into());
        r.max_price_sats = 20_000;
    }));
    assert_eq!(
        conflict.unwrap_err(),
        SubmitError::IdempotencyConflict {
            job_id: first.id.clone()
        }
    );
    assert_eq!(
        m.balance(developer()).held,
        10_000,
        "nothing held for refused requests"
    );
    m.escrow_invariants_hold();
}

#[test]
fn submissions_are_rate_limited_per_principal() {
    let mut config = test_config();
    config.max_submits_per_minute = Some(2);
    config.max_pending_per_principal = Some(10);
    let mut m = Market::new(workers(1), config);
    m.submit(&matmul_request(8, Tier::None, 1_000)).unwrap();
    m.submit(&matmul_request(8, Tier::None, 1_000)).unwrap();
    let limited = m.submit(&matmul_request(8, Tier::None, 1_000)).unwrap_err();
    assert!(
        matches!(limited, SubmitError::RateLimited { .. }),
        "{limited:?}"
    );
}
