//! A scripted [`Runtime`]: a manual clock, counter-based `raw_rand`, an
//! in-memory [`escrow`] and registry implementing the router's typed client
//! traits with the interface types of `tensormine_core`, in-process
//! [`worker`]s that compute real results with switches for misbehaviour,
//! and an ed25519 key standing in for threshold Schnorr.

pub mod escrow;
pub mod worker;

pub use escrow::*;
pub use worker::*;

use crate::clients::worker::{Outcall, OutcallResult};
use crate::clients::{CallError, EscrowApi, RegistryApi, WorkerApi};
use crate::runtime::Runtime;
use crate::state::{mutate_state, read_state, reset_state};
use candid::Principal;
use ed25519_dalek::{Signer, SigningKey};
use ic_stable_structures::DefaultMemoryImpl;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use tensormine_core::encoding::f32_to_le_bytes;
use tensormine_core::escrow::{Balance, Sats};
use tensormine_core::prng::{self, STREAM_A, STREAM_B};
use tensormine_core::registry::{
    ChangeEntry, ChangesPage, Gpu, JobOutcome, Miner, MinerProfile, MinerStatus, ReportError,
    Reputation, WorkloadKind, WorkloadOffer,
};
use tensormine_core::router::*;
use tensormine_core::Digest32;

pub const SECOND: u64 = 1_000_000_000;
/// Cycles the fake charges per outcall.
pub const OUTCALL_CYCLES: u128 = 5_000_000;
pub fn escrow_id() -> Principal {
    Principal::from_slice(&[0xE5, 1])
}
pub fn registry_id() -> Principal {
    Principal::from_slice(&[0x7E, 2])
}
pub fn router_id() -> Principal {
    Principal::from_slice(&[0x70, 3])
}
pub fn user(i: u8) -> Principal {
    Principal::from_slice(&[0x55, i])
}
pub fn miner_id(i: usize) -> Principal {
    Principal::from_slice(&[0x31, i as u8])
}
pub fn router_key() -> SigningKey {
    SigningKey::from_bytes(&[77; 32])
}

// --------------------------------------------------------------- runtime ---

pub struct FakeRuntime {
    pub now: Cell<u64>,
    rand_counter: Cell<u64>,
    pub escrow: RefCell<FakeEscrow>,
    /// When set, escrow calls apply their effect and then answer `Err`
    /// (a lost answer) every `n`-th call.
    pub escrow_lose_every: Cell<Option<u32>>,
    escrow_calls: Cell<u32>,
    pub miners: RefCell<Vec<Miner>>,
    pub reports: RefCell<Vec<JobOutcome>>,
    /// Workers by endpoint host (`w{i}.test`).
    pub workers: RefCell<Vec<FakeWorker>>,
    pub web: RefCell<BTreeMap<String, Vec<f32>>>,
    pub certified: RefCell<Vec<u8>>,
    pub outcalls: RefCell<Vec<Outcall>>,
    pub key: SigningKey,
    /// The router's stable memory (kept across a simulated upgrade).
    pub memory: DefaultMemoryImpl,
    /// Outcalls yield to the executor once before answering, so concurrent
    /// steps (overlapping ticks, a cancel during a step) interleave.
    pub yield_outcalls: Cell<bool>,
}

/// A future that is pending once.
pub struct YieldNow(bool);

impl YieldNow {
    pub fn new() -> Self {
        YieldNow(false)
    }
}

impl std::future::Future for YieldNow {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// What `cancel_job` does for the submitter (its authorization aside).
pub fn cancel_endpoint(rt: &FakeRuntime, id: &str) -> Result<(), CancelError> {
    let mut j = job(id);
    if !crate::state::audit::cancellable(&j) {
        return Err(CancelError::TooLate { status: j.status });
    }
    if read_state(|s| s.is_busy(id)) {
        mutate_state(|s| s.cancels.insert(id.to_string()));
        return Ok(());
    }
    crate::state::audit::cancel(&mut j, rt.now.get());
    crate::state::audit::save(&j);
    Ok(())
}

/// A miner record for worker `i`.
pub fn miner_record(i: usize, worker_key: Vec<u8>, price: u64, jobs_verified: u64) -> Miner {
    Miner {
        principal: miner_id(i),
        profile: MinerProfile {
            endpoint: format!("https://w{i}.test"),
            worker_public_key: worker_key,
            gpus: vec![Gpu {
                model: "fake".into(),
                memory_bytes: 24 << 30,
                count: 1,
            }],
            offers: vec![
                WorkloadOffer {
                    workload: WorkloadKind::Matmul,
                    price_sats_per_unit: price,
                },
                WorkloadOffer {
                    workload: WorkloadKind::Embed,
                    price_sats_per_unit: price,
                },
            ],
            btc_address: format!("bc1-owner-{i}"),
            region: "test".into(),
            labels: vec![],
        },
        status: MinerStatus::Online,
        registered_at_ns: 0,
        updated_at_ns: 0,
        last_probe_ns: None,
        consecutive_probe_failures: 0,
        capability: None,
        last_challenge_ns: None,
        suspension_reason: None,
        reputation: Reputation {
            jobs_verified,
            score_ppm: 500_000,
            ..Default::default()
        },
        seq: i as u64 + 1,
    }
}

pub const MINER_PRICE: u64 = 100;
pub const BOND: u64 = 1_000_000;
pub const DEPOSIT: u64 = 100_000_000;

impl FakeRuntime {
    /// A fresh router state with `config`, workers with `behaviours` (each
    /// registered as a bonded, non-new miner), and two funded submitters.
    pub fn new(behaviours: &[Behaviour]) -> Self {
        let rt = FakeRuntime {
            now: Cell::new(1_700_000_000 * SECOND),
            rand_counter: Cell::new(0),
            escrow: RefCell::new(FakeEscrow::default()),
            escrow_lose_every: Cell::new(None),
            escrow_calls: Cell::new(0),
            miners: RefCell::new(vec![]),
            reports: RefCell::new(vec![]),
            workers: RefCell::new(vec![]),
            web: RefCell::new(BTreeMap::new()),
            certified: RefCell::new(vec![]),
            outcalls: RefCell::new(vec![]),
            key: router_key(),
            memory: DefaultMemoryImpl::default(),
            yield_outcalls: Cell::new(false),
        };
        reset_state(rt.memory.clone());
        mutate_state(|s| s.set_config(test_config()));
        for &b in behaviours {
            rt.add_worker(b, 100);
        }
        for u in 1..=2 {
            rt.escrow.borrow_mut().deposit(user(u), DEPOSIT);
        }
        rt
    }

    /// Adds a worker and its miner record (bonded); `jobs_verified` below
    /// the config's `new_miner_jobs` makes it new.
    pub fn add_worker(&self, b: Behaviour, jobs_verified: u64) -> usize {
        self.add_worker_bonded(b, jobs_verified, BOND)
    }

    /// [`Self::add_worker`] with a bond of `bond` sats.
    pub fn add_worker_bonded(&self, b: Behaviour, jobs_verified: u64, bond: u64) -> usize {
        let i = self.workers.borrow().len();
        let w = FakeWorker::new(i as u8 + 1, b);
        self.miners
            .borrow_mut()
            .push(miner_record(i, w.public_key(), MINER_PRICE, jobs_verified));
        self.workers.borrow_mut().push(w);
        if bond > 0 {
            self.escrow.borrow_mut().bond(miner_id(i), bond);
        }
        i
    }

    /// The registry verifies miner `i`'s capability now (a fresh challenge
    /// passed): a new feed entry.
    pub fn verify_capability(&self, i: usize) {
        let mut miners = self.miners.borrow_mut();
        let seq = miners.iter().map(|m| m.seq).max().unwrap_or(0) + 1;
        let m = &mut miners[i];
        m.capability = Some(tensormine_core::registry::Capability {
            n: 1024,
            elapsed_ms: 1_000,
            flops_lower_bound: 2_000_000_000,
            verified_at_ns: self.now.get(),
        });
        m.seq = seq;
    }

    pub fn advance(&self, ns: u64) {
        self.now.set(self.now.get() + ns);
    }

    /// An upgrade: the heap (caches, guards, pending cancels) is lost, the
    /// state is loaded from stable memory, the certified root set again.
    pub fn upgrade(&self) {
        reset_state(self.memory.clone());
        let root = read_state(crate::receipts::root);
        self.set_certified_data(&root.0);
    }

    pub fn sync(&self) {
        futures::executor::block_on(crate::sync::run(self));
    }

    /// Counts an escrow call; `true` when its answer is to be lost (the
    /// effect applied, the caller told the outcome is unknown).
    fn lose_answer(&self) -> bool {
        let n = self.escrow_calls.get() + 1;
        self.escrow_calls.set(n);
        self.escrow_lose_every
            .get()
            .is_some_and(|k| n.is_multiple_of(k))
    }

    /// The escrow's answer, or a lost one.
    fn answer<T>(&self, method: &str, r: T) -> Result<T, CallError> {
        if self.lose_answer() {
            // SYS_UNKNOWN: the outcome of the call is unknown.
            return Err(CallError::Rejected {
                code: 6,
                message: format!("{method}: answer lost"),
            });
        }
        Ok(r)
    }
}

pub fn test_config() -> Config {
    Config {
        registry: Some(registry_id()),
        escrow: Some(escrow_id()),
        assignment_timeout_secs: 120,
        receipt_batch_max: 1_000,
        receipt_batch_secs: 3_600,
        // Paid at once unless a test opens a window (tests/engine_paths/disputes.rs).
        dispute_window_secs: 0,
        ..Config::default()
    }
}

impl Runtime for FakeRuntime {
    fn time(&self) -> u64 {
        self.now.get()
    }

    fn id(&self) -> Principal {
        router_id()
    }

    async fn raw_rand(&self) -> Result<[u8; 32], String> {
        let n = self.rand_counter.get() + 1;
        self.rand_counter.set(n);
        Ok(Digest32::sha256(&n.to_le_bytes()).0)
    }

    async fn sign(&self, _key_name: &str, message: Vec<u8>) -> Result<(Vec<u8>, u128), String> {
        Ok((self.key.sign(&message).to_bytes().to_vec(), 26_153_846_153))
    }

    async fn public_key(&self, _key_name: &str) -> Result<Vec<u8>, String> {
        Ok(self.key.verifying_key().to_bytes().to_vec())
    }

    fn set_certified_data(&self, data: &[u8]) {
        *self.certified.borrow_mut() = data.to_vec();
    }
}

impl WorkerApi for FakeRuntime {
    async fn http(&self, request: Outcall) -> OutcallResult {
        if self.yield_outcalls.get() {
            YieldNow::new().await;
        }
        self.outcalls.borrow_mut().push(request.clone());
        let rest = request
            .url
            .strip_prefix("https://w")
            .expect("fake worker URL");
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let i: usize = host
            .strip_suffix(".test")
            .and_then(|h| h.parse().ok())
            .expect("w{i}.test");
        let web = self.web.borrow();
        let response = self.workers.borrow_mut()[i].handle(path, request.body.as_deref(), &web);
        if let Ok(r) = &response {
            assert!(
                r.body.len() as u64 <= request.max_response_bytes,
                "{} answered {} bytes, above max_response_bytes {}",
                request.url,
                r.body.len(),
                request.max_response_bytes
            );
        }
        OutcallResult {
            response,
            cycles: OUTCALL_CYCLES,
        }
    }
}

impl EscrowApi for FakeRuntime {
    async fn hold(
        &self,
        escrow: Principal,
        job: &str,
        payer: Principal,
        amount: Sats,
    ) -> Result<Result<Hold, HoldError>, CallError> {
        assert_eq!(escrow, escrow_id());
        let r = self
            .escrow
            .borrow_mut()
            .hold(job.to_string(), payer, amount, self.now.get());
        self.answer("hold", r)
    }

    async fn release(
        &self,
        escrow: Principal,
        job: &str,
        payees: &[(Principal, Sats)],
        fee: Sats,
    ) -> Result<Result<Settlement, ReleaseError>, CallError> {
        assert_eq!(escrow, escrow_id());
        let r =
            self.escrow
                .borrow_mut()
                .release(job.to_string(), payees.to_vec(), fee, self.now.get());
        self.answer("release", r)
    }

    async fn refund(
        &self,
        escrow: Principal,
        job: &str,
    ) -> Result<Result<Settlement, RefundError>, CallError> {
        assert_eq!(escrow, escrow_id());
        let r = self
            .escrow
            .borrow_mut()
            .refund(job.to_string(), self.now.get());
        self.answer("refund", r)
    }

    async fn balance(&self, escrow: Principal, owner: Principal) -> Result<Balance, CallError> {
        assert_eq!(escrow, escrow_id());
        let a = self.escrow.borrow().account(owner);
        Ok(Balance {
            available: a.available,
            held: a.held,
            bonded: a.bonded,
            unbonding: 0,
            unbonding_ready_at_ns: 0,
        })
    }

    async fn slash(
        &self,
        escrow: Principal,
        miner: Principal,
        amount: Sats,
        beneficiary: Principal,
        job: &str,
    ) -> Result<Result<Slash, SlashError>, CallError> {
        assert_eq!(escrow, escrow_id());
        let r = self.escrow.borrow_mut().slash(
            miner,
            amount,
            beneficiary,
            job.to_string(),
            self.now.get(),
        );
        self.answer("slash", r)
    }
}

/// The registry: its change feed over `miners`, and the reports received.
impl RegistryApi for FakeRuntime {
    async fn report_job_outcome(
        &self,
        registry: Principal,
        outcome: JobOutcome,
    ) -> Result<Result<Reputation, ReportError>, CallError> {
        assert_eq!(registry, registry_id());
        self.reports.borrow_mut().push(outcome);
        Ok(Ok(Reputation::default()))
    }

    async fn changes_since(
        &self,
        registry: Principal,
        seq: u64,
        limit: u32,
    ) -> Result<ChangesPage, CallError> {
        assert_eq!(registry, registry_id());
        let miners = self.miners.borrow();
        let entries: Vec<ChangeEntry> = miners
            .iter()
            .filter(|m| m.seq > seq)
            .take(limit as usize)
            .map(|m| ChangeEntry {
                seq: m.seq,
                principal: m.principal,
                miner: Some(m.clone()),
            })
            .collect();
        let last_seq = miners.iter().map(|m| m.seq).max().unwrap_or(0);
        Ok(ChangesPage { entries, last_seq })
    }
}

// --------------------------------------------------------------- helpers ---

pub fn seeded_matmul(m: u32, k: u32, n: u32, tier: Tier) -> JobRequest {
    JobRequest {
        workload: WorkloadInput::Matmul {
            m,
            k,
            n,
            a: OperandInput::Seeded(vec![7; 32]),
            b: OperandInput::Seeded(vec![8; 32]),
        },
        resources: Resources::default(),
        tier,
        max_price_sats: 10_000,
        deadline_secs: 600,
        idempotency_key: None,
    }
}

pub fn embed(sentences: &[&str], tier: Tier) -> JobRequest {
    JobRequest {
        workload: WorkloadInput::Embed {
            model: vec![3; 32],
            sentences: sentences.iter().map(|s| s.to_string()).collect(),
        },
        resources: Resources::default(),
        tier,
        max_price_sats: 10_000,
        deadline_secs: 600,
        idempotency_key: None,
    }
}

/// A matmul with URL operands (held by the fake web, not by the router).
pub fn url_matmul(rt: &FakeRuntime, m: u32, k: u32, n: u32, tier: Tier) -> JobRequest {
    let a = prng::matrix(&[5; 32], STREAM_A, m as usize, k as usize);
    let b = prng::matrix(&[6; 32], STREAM_B, k as usize, n as usize);
    let mut web = rt.web.borrow_mut();
    let mut source = |name: &str, v: Vec<f32>| {
        let url = format!("https://data.test/{name}");
        let sha = Digest32::sha256(&f32_to_le_bytes(&v)).0.to_vec();
        web.insert(url.clone(), v);
        OperandInput::Url { url, sha256: sha }
    };
    let (a, b) = (source("a", a), source("b", b));
    JobRequest {
        workload: WorkloadInput::Matmul { m, k, n, a, b },
        ..seeded_matmul(m, k, n, tier)
    }
}

pub fn submit(rt: &FakeRuntime, who: Principal, r: JobRequest) -> Result<JobView, SubmitError> {
    futures::executor::block_on(crate::submit::submit(rt, who, r))
}

pub fn job(id: &str) -> crate::job::Job {
    read_state(|s| s.job(id)).expect("job exists")
}

pub fn tick(rt: &FakeRuntime) {
    futures::executor::block_on(crate::engine::tick(rt));
}

/// Ticks, jumping the clock to the next due job each time, until every
/// job is final; answers the ticks used. Panics after `max_ticks`.
pub fn run_to_final(rt: &FakeRuntime, max_ticks: u32) -> u32 {
    for n in 0..max_ticks {
        if read_state(|s| s.active.is_empty()) {
            return n;
        }
        tick(rt);
        let next = read_state(|s| s.schedule.values().min().copied());
        if let Some(at) = next {
            rt.now.set(rt.now.get().max(at).max(rt.now.get() + 1));
        }
    }
    assert!(
        read_state(|s| s.active.is_empty()),
        "jobs still active after {max_ticks} ticks"
    );
    max_ticks
}
