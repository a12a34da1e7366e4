//! A scripted [`Runtime`]: a manual clock, counter-based `raw_rand`, an
//! in-memory escrow and registry answering candid like the real canisters
//! (`candid/escrow.did`, `candid/registry.did`), in-process workers that
//! compute real results (matmul with Merkle commitments and challenge
//! answers, deterministic embeddings) with switches for misbehaviour, and an
//! ed25519 key standing in for threshold Schnorr.

use crate::runtime::{Outcall, OutcallResponse, OutcallResult, Runtime};
use crate::state::{mutate_state, read_state, reset_state};
use candid::{CandidType, Decode, Deserialize, Encode, Principal};
use ed25519_dalek::{Signer, SigningKey};
use ic_stable_structures::DefaultMemoryImpl;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use tensormine_core::api::{
    self, ChallengeRequest, ChallengeResponse, HexBytes, JobAck, JobSpec, JobState, MatrixSource,
    ProvenRow, ResultCommitment, SignedResult,
};
use tensormine_core::encoding::{f32_to_le_bytes, F32Array, F64Array};
use tensormine_core::merkle::RowMerkleTree;
use tensormine_core::prng::{self, STREAM_A, STREAM_B};
use tensormine_core::registry::{
    ChangeEntry, ChangesPage, Gpu, JobOutcome, Miner, MinerProfile, MinerStatus, Reputation,
    WorkloadKind, WorkloadOffer,
};
use tensormine_core::router::*;
use tensormine_core::verify::{mat_vec_f64, reference_matmul};
use tensormine_core::{signing, Digest32};

pub const SECOND: u64 = 1_000_000_000;
/// Cycles the fake charges per outcall.
pub const OUTCALL_CYCLES: u128 = 5_000_000;
/// Columns of a fake embedding.
pub const EMBED_DIM: usize = 8;

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

// ---------------------------------------------------------------- escrow ---

/// `Settlement` of escrow.did (with `at_ns`, which the router ignores).
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Refunded {
        at_ns: u64,
        amount: u64,
    },
    Released {
        fee: u64,
        at_ns: u64,
        refunded: u64,
        payees: Vec<(Principal, u64)>,
    },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub job: String,
    pub payer: Principal,
    pub amount: u64,
    pub held_at_ns: u64,
    pub settlement: Option<Settlement>,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Slash {
    pub job: String,
    pub miner: Principal,
    pub requested: u64,
    pub at_ns: u64,
    pub beneficiary: Principal,
    pub from_unbonding: u64,
    pub from_bonded: u64,
}

#[derive(CandidType, Deserialize, Debug)]
enum HoldError {
    AlreadySettled { hold: Hold },
    ReadOnly,
    JobExists { hold: Hold },
    InvalidJobId { reason: String },
    NotRouter,
    AnonymousCaller,
    InsufficientFunds { available: u64 },
    AmountTooSmall { min: u64 },
}

#[derive(CandidType, Deserialize, Debug)]
enum ReleaseError {
    AlreadySettled { hold: Hold },
    ReadOnly,
    TooManyPayees { max: u32 },
    UnknownJob,
    ExceedsHold { held: u64 },
    NotRouter,
    AnonymousCaller,
}

#[derive(CandidType, Deserialize, Debug)]
enum RefundError {
    AlreadySettled { hold: Hold },
    ReadOnly,
    UnknownJob,
    NotRouter,
}

#[derive(CandidType, Deserialize, Debug)]
enum SlashError {
    AlreadySlashed { slash: Slash },
    ReadOnly,
    InvalidJobId { reason: String },
    NotRouter,
    AnonymousCaller,
    AmountTooSmall { min: u64 },
}

#[derive(CandidType, Deserialize, Debug)]
enum ReportError {
    ReadOnly,
    InvalidJobId { reason: String },
    NotRouter,
    UnknownMiner,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Account {
    pub available: u64,
    pub held: u64,
    pub bonded: u64,
}

/// The escrow's accounting with the real semantics: idempotent by job id,
/// `release` pays payees and fee and refunds the rest, a settled hold
/// answers `AlreadySettled` with its settlement.
#[derive(Debug, Default)]
pub struct FakeEscrow {
    pub accounts: BTreeMap<Principal, Account>,
    pub treasury: u64,
    /// Everything ever credited from outside (deposits and bonds).
    pub deposits: u64,
    pub holds: BTreeMap<String, Hold>,
    pub slashes: BTreeMap<(Principal, String), Slash>,
    /// Holds that changed state on settlement, per job (must end at 1).
    pub settlements_applied: BTreeMap<String, u32>,
    /// release after refund or refund after release, or a release with other payees.
    pub conflicting_settles: Vec<String>,
    pub release_calls: u32,
    pub refund_calls: u32,
}

impl FakeEscrow {
    pub fn deposit(&mut self, p: Principal, amount: u64) {
        self.accounts.entry(p).or_default().available += amount;
        self.deposits += amount;
    }
    pub fn bond(&mut self, p: Principal, amount: u64) {
        self.accounts.entry(p).or_default().bonded += amount;
        self.deposits += amount;
    }
    pub fn account(&self, p: Principal) -> Account {
        self.accounts.get(&p).copied().unwrap_or_default()
    }
    /// Σ (available + held + bonded) + treasury.
    pub fn total(&self) -> u64 {
        self.accounts
            .values()
            .map(|a| a.available + a.held + a.bonded)
            .sum::<u64>()
            + self.treasury
    }

    fn hold(
        &mut self,
        job: String,
        payer: Principal,
        amount: u64,
        now: u64,
    ) -> Result<Hold, HoldError> {
        if amount == 0 {
            return Err(HoldError::AmountTooSmall { min: 1 });
        }
        if let Some(h) = self.holds.get(&job) {
            return if h.settlement.is_some() {
                Err(HoldError::AlreadySettled { hold: h.clone() })
            } else if h.payer == payer && h.amount == amount {
                Ok(h.clone())
            } else {
                Err(HoldError::JobExists { hold: h.clone() })
            };
        }
        let a = self.accounts.entry(payer).or_default();
        if a.available < amount {
            return Err(HoldError::InsufficientFunds {
                available: a.available,
            });
        }
        a.available -= amount;
        a.held += amount;
        let h = Hold {
            job: job.clone(),
            payer,
            amount,
            held_at_ns: now,
            settlement: None,
        };
        self.holds.insert(job, h.clone());
        Ok(h)
    }

    fn release(
        &mut self,
        job: String,
        payees: Vec<(Principal, u64)>,
        fee: u64,
        now: u64,
    ) -> Result<Settlement, ReleaseError> {
        self.release_calls += 1;
        let hold = self
            .holds
            .get(&job)
            .cloned()
            .ok_or(ReleaseError::UnknownJob)?;
        match &hold.settlement {
            Some(
                s @ Settlement::Released {
                    payees: p, fee: f, ..
                },
            ) if *p == payees && *f == fee => return Ok(s.clone()),
            Some(_) => {
                self.conflicting_settles
                    .push(format!("release {job} after {:?}", hold.settlement));
                return Err(ReleaseError::AlreadySettled { hold });
            }
            None => {}
        }
        let paid = payees.iter().try_fold(fee, |s, (_, a)| s.checked_add(*a));
        let Some(refunded) = paid.and_then(|p| hold.amount.checked_sub(p)) else {
            return Err(ReleaseError::ExceedsHold { held: hold.amount });
        };
        let payer = self.accounts.entry(hold.payer).or_default();
        payer.held -= hold.amount;
        payer.available += refunded;
        for (p, a) in &payees {
            self.accounts.entry(*p).or_default().available += a;
        }
        self.treasury += fee;
        let s = Settlement::Released {
            fee,
            at_ns: now,
            refunded,
            payees,
        };
        self.holds.get_mut(&job).unwrap().settlement = Some(s.clone());
        *self.settlements_applied.entry(job).or_default() += 1;
        Ok(s)
    }

    fn refund(&mut self, job: String, now: u64) -> Result<Settlement, RefundError> {
        self.refund_calls += 1;
        let hold = self
            .holds
            .get(&job)
            .cloned()
            .ok_or(RefundError::UnknownJob)?;
        match &hold.settlement {
            Some(s @ Settlement::Refunded { .. }) => return Ok(s.clone()),
            Some(_) => {
                self.conflicting_settles
                    .push(format!("refund {job} after release"));
                return Err(RefundError::AlreadySettled { hold });
            }
            None => {}
        }
        let payer = self.accounts.entry(hold.payer).or_default();
        payer.held -= hold.amount;
        payer.available += hold.amount;
        let s = Settlement::Refunded {
            at_ns: now,
            amount: hold.amount,
        };
        self.holds.get_mut(&job).unwrap().settlement = Some(s.clone());
        *self.settlements_applied.entry(job).or_default() += 1;
        Ok(s)
    }

    fn slash(
        &mut self,
        miner: Principal,
        amount: u64,
        beneficiary: Principal,
        job: String,
        now: u64,
    ) -> Result<Slash, SlashError> {
        if amount == 0 {
            return Err(SlashError::AmountTooSmall { min: 1 });
        }
        let key = (miner, job.clone());
        if let Some(s) = self.slashes.get(&key) {
            return if s.requested == amount && s.beneficiary == beneficiary {
                Ok(s.clone())
            } else {
                Err(SlashError::AlreadySlashed { slash: s.clone() })
            };
        }
        let m = self.accounts.entry(miner).or_default();
        let taken = m.bonded.min(amount);
        m.bonded -= taken;
        self.accounts.entry(beneficiary).or_default().available += taken;
        let s = Slash {
            job,
            miner,
            requested: amount,
            at_ns: now,
            beneficiary,
            from_unbonding: 0,
            from_bonded: taken,
        };
        self.slashes.insert(key, s.clone());
        Ok(s)
    }
}

// ---------------------------------------------------------------- workers ---

/// How a fake worker behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Honest,
    /// Commits to (and opens) a result with a corrupted row / wrong embeddings.
    Cheat,
    /// Answers 400 to the dispatch.
    Refuse,
    /// Every outcall fails.
    Down,
    /// Accepts the job, then every outcall fails.
    DiesAfterDispatch,
    /// Accepts and stays `running` forever.
    Hang,
    /// Honest until it reported its signed result, then every outcall fails.
    DiesAfterCommit,
}

#[derive(Debug, Clone)]
struct WorkerJob {
    spec: JobSpec,
    result: Vec<f32>,
    cols: usize,
    polls_left: u32,
}

#[derive(Debug)]
pub struct FakeWorker {
    /// Distinguishes cheaters: two cheaters never agree on a wrong answer.
    pub index: u8,
    pub key: SigningKey,
    pub behaviour: Behaviour,
    /// Status polls answered `running` before `done`.
    pub polls_before_done: u32,
    jobs: BTreeMap<String, WorkerJob>,
    pub dispatched: u32,
    /// A `done` status was answered.
    pub committed: bool,
}

impl FakeWorker {
    pub fn new(seed: u8, behaviour: Behaviour) -> Self {
        Self {
            index: seed,
            key: SigningKey::from_bytes(&[seed; 32]),
            behaviour,
            polls_before_done: 1,
            jobs: BTreeMap::new(),
            dispatched: 0,
            committed: false,
        }
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.key.verifying_key().to_bytes().to_vec()
    }
}

/// The honest embedding of one sentence (deterministic, non-zero).
pub fn embedding(model: &Digest32, sentence: &str, salt: &[u8]) -> Vec<f32> {
    let mut input = model.0.to_vec();
    input.extend_from_slice(salt);
    input.extend_from_slice(sentence.as_bytes());
    let d = Digest32::sha256(&input);
    (0..EMBED_DIM)
        .map(|i| d.0[i] as f32 / 255.0 - 0.5 + if i == 0 { 2.0 } else { 0.0 })
        .collect()
}

fn operand(
    source: &MatrixSource,
    stream: u64,
    rows: usize,
    cols: usize,
    web: &BTreeMap<String, Vec<f32>>,
) -> Vec<f32> {
    match source {
        MatrixSource::Seeded { seed } => prng::matrix(&seed.0, stream, rows, cols),
        MatrixSource::Inline { data } => data.0.clone(),
        MatrixSource::Url { url, .. } => {
            web.get(url).expect("the fake web has the operand").clone()
        }
    }
}

/// The honest result of a spec: values and columns.
pub fn compute(spec: &JobSpec, web: &BTreeMap<String, Vec<f32>>) -> (Vec<f32>, usize) {
    match spec {
        JobSpec::Matmul(s) => {
            let shape = s.shape();
            let a = operand(&s.a, STREAM_A, shape.m, shape.k, web);
            let b = operand(&s.b, STREAM_B, shape.k, shape.n, web);
            (reference_matmul(&a, &b, shape), shape.n)
        }
        JobSpec::Embed(e) => (
            e.sentences
                .iter()
                .flat_map(|s| embedding(&e.model, s, b""))
                .collect(),
            EMBED_DIM,
        ),
    }
}

fn cheat(spec: &JobSpec, result: &mut [f32], cols: usize, who: u8) {
    match spec {
        JobSpec::Matmul(_) => result[..cols]
            .iter_mut()
            .for_each(|v| *v += 1.5 + who as f32),
        JobSpec::Embed(e) => {
            let wrong: Vec<f32> = e
                .sentences
                .iter()
                .flat_map(|s| embedding(&e.model, s, &[b'c', who]))
                .collect();
            result.copy_from_slice(&wrong);
        }
    }
}

fn json<T: serde::Serialize>(status: u16, v: &T) -> Result<OutcallResponse, String> {
    Ok(OutcallResponse {
        status,
        body: serde_json::to_vec(v).unwrap(),
        total_length: None,
    })
}

fn api_error(status: u16, code: &str) -> Result<OutcallResponse, String> {
    json(
        status,
        &api::ApiError {
            error: code.into(),
            message: format!("fake worker: {code}"),
        },
    )
}

impl FakeWorker {
    fn signed(&self, job_id: &str, j: &WorkerJob) -> SignedResult {
        let tree = RowMerkleTree::from_matrix(&j.result, j.cols);
        let bytes = f32_to_le_bytes(&j.result);
        let commitment = ResultCommitment {
            rows: (j.result.len() / j.cols) as u64,
            cols: j.cols as u64,
            merkle_root: tree.root(),
            sha256: Digest32::sha256(&bytes),
            byte_len: bytes.len() as u64,
        };
        let message = signing::result_message(job_id, &signing::spec_hash(&j.spec), &commitment);
        SignedResult {
            commitment,
            signature: HexBytes(self.key.sign(&message.0).to_bytes().to_vec()),
        }
    }

    fn handle(
        &mut self,
        path: &str,
        body: Option<&[u8]>,
        web: &BTreeMap<String, Vec<f32>>,
    ) -> Result<OutcallResponse, String> {
        let alive = match self.behaviour {
            Behaviour::Down => false,
            Behaviour::DiesAfterDispatch => self.dispatched == 0,
            Behaviour::DiesAfterCommit => !self.committed,
            _ => true,
        };
        if !alive {
            return Err("connection refused".into());
        }
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let parts: Vec<&str> = path
            .trim_start_matches("/v1/jobs")
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        match (parts.as_slice(), body) {
            ([], Some(body)) => {
                if self.behaviour == Behaviour::Refuse {
                    return api_error(400, "unsupported");
                }
                let req: api::JobRequest =
                    serde_json::from_slice(body).map_err(|e| e.to_string())?;
                if !self.jobs.contains_key(&req.job_id) {
                    let (mut result, cols) = compute(&req.spec, web);
                    if self.behaviour == Behaviour::Cheat {
                        cheat(&req.spec, &mut result, cols, self.index);
                    }
                    self.jobs.insert(
                        req.job_id.clone(),
                        WorkerJob {
                            spec: req.spec.clone(),
                            result,
                            cols,
                            polls_left: self.polls_before_done,
                        },
                    );
                }
                self.dispatched += 1;
                json(
                    200,
                    &JobAck {
                        job_id: req.job_id.clone(),
                        spec_hash: signing::spec_hash(&self.jobs[&req.job_id].spec),
                        worker_public_key: HexBytes(self.public_key()),
                    },
                )
            }
            ([id], None) => {
                let Some(j) = self.jobs.get_mut(*id) else {
                    return api_error(404, "not_found");
                };
                let rows = (j.result.len() / j.cols) as u64;
                let done = self.behaviour != Behaviour::Hang && j.polls_left == 0;
                j.polls_left = j.polls_left.saturating_sub(1);
                let j = j.clone();
                self.committed |= done;
                json(
                    200,
                    &api::JobStatus {
                        job_id: id.to_string(),
                        spec_hash: signing::spec_hash(&j.spec),
                        workload: j.spec.workload(),
                        state: if done {
                            JobState::Done
                        } else {
                            JobState::Running
                        },
                        progress: api::Progress {
                            done: if done { rows } else { 0 },
                            total: rows,
                        },
                        result: done.then(|| self.signed(id, &j)),
                        error: None,
                    },
                )
            }
            ([id, "result"], None) => {
                let Some(j) = self.jobs.get(*id) else {
                    return api_error(404, "not_found");
                };
                let bytes = f32_to_le_bytes(&j.result);
                let mut offset = 0usize;
                let mut length = bytes.len();
                for kv in query.split('&') {
                    match kv.split_once('=') {
                        Some(("offset", v)) => offset = v.parse().unwrap(),
                        Some(("length", v)) => length = v.parse().unwrap(),
                        _ => {}
                    }
                }
                let end = bytes.len().min(offset + length);
                Ok(OutcallResponse {
                    status: 200,
                    body: bytes[offset.min(end)..end].to_vec(),
                    total_length: Some(bytes.len() as u64),
                })
            }
            ([id, "challenge"], Some(body)) => {
                let Some(j) = self.jobs.get(*id) else {
                    return api_error(404, "not_found");
                };
                let req: ChallengeRequest =
                    serde_json::from_slice(body).map_err(|e| e.to_string())?;
                let n = j.cols;
                let tree = RowMerkleTree::from_matrix(&j.result, n);
                let r = prng::challenge_vector(&req.r_seed.0, n);
                json(
                    200,
                    &ChallengeResponse {
                        job_id: id.to_string(),
                        merkle_root: tree.root(),
                        y: F64Array(mat_vec_f64(&j.result, n, &r)),
                        rows: req
                            .rows
                            .iter()
                            .map(|&i| ProvenRow {
                                index: i,
                                values: F32Array(
                                    j.result[i as usize * n..(i as usize + 1) * n].to_vec(),
                                ),
                                path: tree.proof(i).unwrap(),
                            })
                            .collect(),
                    },
                )
            }
            _ => api_error(404, "no_route"),
        }
    }
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
    if !crate::engine::cancellable(&j) {
        return Err(CancelError::TooLate { status: j.status });
    }
    if read_state(|s| s.busy_jobs.contains(id)) {
        mutate_state(|s| s.cancels.insert(id.to_string()));
        return Ok(());
    }
    crate::engine::cancel(&mut j, rt.now.get());
    crate::engine::save(&j);
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
        let i = self.workers.borrow().len();
        let w = FakeWorker::new(i as u8 + 1, b);
        self.miners
            .borrow_mut()
            .push(miner_record(i, w.public_key(), MINER_PRICE, jobs_verified));
        self.workers.borrow_mut().push(w);
        self.escrow.borrow_mut().bond(miner_id(i), BOND);
        i
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

    fn escrow_call(&self, method: &str, arg: &[u8]) -> Result<Vec<u8>, String> {
        let now = self.now.get();
        let mut e = self.escrow.borrow_mut();
        Ok(match method {
            "hold" => {
                let (job, payer, amount) =
                    Decode!(arg, String, Principal, u64).map_err(|e| e.to_string())?;
                Encode!(&e.hold(job, payer, amount, now))
            }
            "release" => {
                let (job, payees, fee) =
                    Decode!(arg, String, Vec<(Principal, u64)>, u64).map_err(|e| e.to_string())?;
                Encode!(&e.release(job, payees, fee, now))
            }
            "refund" => {
                let job = Decode!(arg, String).map_err(|e| e.to_string())?;
                Encode!(&e.refund(job, now))
            }
            "slash" => {
                let (miner, amount, beneficiary, job) =
                    Decode!(arg, Principal, u64, Principal, String).map_err(|e| e.to_string())?;
                Encode!(&e.slash(miner, amount, beneficiary, job, now))
            }
            other => return Err(format!("escrow has no method {other}")),
        }
        .unwrap())
    }

    fn registry_call(&self, method: &str, arg: &[u8]) -> Result<Vec<u8>, String> {
        match method {
            "changes_since" => {
                let (seq, limit) = Decode!(arg, u64, u32).map_err(|e| e.to_string())?;
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
                Ok(Encode!(&ChangesPage { entries, last_seq }).unwrap())
            }
            "report_job_outcome" => {
                let outcome = Decode!(arg, JobOutcome).map_err(|e| e.to_string())?;
                self.reports.borrow_mut().push(outcome);
                Ok(Encode!(&Ok::<(), ReportError>(())).unwrap())
            }
            other => Err(format!("registry has no method {other}")),
        }
    }
}

pub fn test_config() -> Config {
    Config {
        registry: Some(registry_id()),
        escrow: Some(escrow_id()),
        assignment_timeout_secs: 120,
        receipt_batch_max: 1_000,
        receipt_batch_secs: 3_600,
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

    async fn call(
        &self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        if canister == escrow_id() {
            let n = self.escrow_calls.get() + 1;
            self.escrow_calls.set(n);
            let answer = self.escrow_call(method, &arg)?;
            if self.escrow_lose_every.get().is_some_and(|k| n % k == 0) {
                return Err(format!("{method}: answer lost"));
            }
            Ok(answer)
        } else if canister == registry_id() {
            self.registry_call(method, &arg)
        } else {
            Err(format!("no canister {canister}"))
        }
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
