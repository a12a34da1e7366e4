//! The router's state. Jobs, miners, results, receipts and the event log are
//! in stable structures (nothing is lost across an upgrade); the matching
//! index and the engine's bookkeeping are heap caches rebuilt from them in
//! `post_upgrade`.

use crate::job::Job;
use crate::memory::{self, Memory};
use candid::Principal;
use ic_stable_structures::memory_manager::MemoryManager;
use ic_stable_structures::{BTreeMap, Cell, DefaultMemoryImpl, Log};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap as HeapMap, BTreeSet};
use tensormine_core::matching::{Candidate, MinerIndex};
use tensormine_core::receipt::{NodeStore, SignedBatch};
use tensormine_core::registry::{Miner, MinerStatus};
use tensormine_core::router::{Config, Totals};
use tensormine_core::Digest32;

pub use tensormine_core::stable::Cbor;

pub mod audit;
pub mod event;

pub use event::{Event, EventKind};

/// Counters kept in one stable cell.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub totals: Totals,
    pub next_job: u64,
    /// Registry change-feed position.
    pub registry_seq: u64,
    /// Leaves in the receipt tree.
    pub receipt_tree_size: u64,
    /// Tree size covered by the last signed batch.
    pub signed_tree_size: u64,
    /// When the oldest unsigned receipt was appended.
    pub oldest_unsigned_ns: Option<u64>,
    /// The router's Schnorr (ed25519) public key, once fetched.
    pub public_key: Option<Vec<u8>>,
    /// From `raw_rand`, drawn at the first assignment: worker-side job ids
    /// and capabilities are derived from it.
    #[serde(default)]
    pub worker_secret: Option<[u8; 32]>,
}

/// What the router keeps of a registered miner.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MinerInfo {
    pub endpoint: String,
    pub worker_key: Vec<u8>,
    pub owner: Digest32,
    pub jobs_verified: u64,
    /// When the registry last verified the miner's capability (0: never).
    #[serde(default)]
    pub capability_verified_at_ns: u64,
    pub candidate: Candidate<Principal>,
}

impl MinerInfo {
    pub fn of(m: &Miner) -> Self {
        let p = &m.profile;
        let owner = Digest32::sha256(p.btc_address.as_bytes());
        MinerInfo {
            endpoint: p.endpoint.trim_end_matches('/').to_string(),
            worker_key: p.worker_public_key.clone(),
            owner,
            jobs_verified: m.reputation.jobs_verified,
            capability_verified_at_ns: m.capability.as_ref().map_or(0, |c| c.verified_at_ns),
            candidate: Candidate {
                id: m.principal,
                owner,
                online: m.status == MinerStatus::Online,
                offers: p
                    .offers
                    .iter()
                    .map(|o| (o.workload, o.price_sats_per_unit))
                    .collect(),
                max_gpu_memory_bytes: m.max_gpu_memory(),
                gpu_count: p.gpus.iter().map(|g| g.count).sum(),
                flops: m.capability.as_ref().map_or(0, |c| c.flops_lower_bound),
                reputation_ppm: m.reputation.score_ppm,
            },
        }
    }
}

/// The receipt tree's node store: `(level, index)` packed into a u128 key.
pub struct StableNodes<'a>(pub &'a mut BTreeMap<u128, [u8; 32], Memory>);

impl NodeStore for StableNodes<'_> {
    fn get(&self, level: u8, index: u64) -> Option<Digest32> {
        self.0.get(&node_key(level, index)).map(Digest32)
    }
    fn put(&mut self, level: u8, index: u64, hash: Digest32) {
        self.0.insert(node_key(level, index), hash.0);
    }
}

/// A read-only view for proofs in queries.
pub struct StableNodesRead<'a>(pub &'a BTreeMap<u128, [u8; 32], Memory>);

impl NodeStore for StableNodesRead<'_> {
    fn get(&self, level: u8, index: u64) -> Option<Digest32> {
        self.0.get(&node_key(level, index)).map(Digest32)
    }
    fn put(&mut self, _: u8, _: u64, _: Digest32) {
        unreachable!("proofs only read the receipt tree")
    }
}

fn node_key(level: u8, index: u64) -> u128 {
    ((level as u128) << 64) | index as u128
}

/// What a guard ([`crate::guard::TaskGuard`]) protects; declared here
/// because the running set is state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Task {
    /// One step of one job (its id).
    Job(String),
    /// A registry change-feed sync.
    RegistrySync,
    /// Signing a receipt batch.
    ReceiptBatch,
}

pub struct State {
    pub config: Cell<Cbor<Config>, Memory>,
    pub counters: Cell<Cbor<Counters>, Memory>,
    pub jobs: BTreeMap<String, Cbor<Job>, Memory>,
    pub active: BTreeMap<String, Principal, Memory>,
    pub by_submitter: BTreeMap<(Principal, u64), (), Memory>,
    pub idempotency: BTreeMap<String, String, Memory>,
    pub miners: BTreeMap<Principal, Cbor<MinerInfo>, Memory>,
    pub results: BTreeMap<String, Vec<u8>, Memory>,
    pub receipt_nodes: BTreeMap<u128, [u8; 32], Memory>,
    pub receipts: BTreeMap<u64, Vec<u8>, Memory>,
    pub batches: BTreeMap<u64, Cbor<SignedBatch>, Memory>,
    pub events: Log<Cbor<Event>, Memory, Memory>,
    pub bond_at_stake: BTreeMap<Principal, u64, Memory>,
    pub suspended: BTreeMap<Principal, u64, Memory>,
    pub job_flops: BTreeMap<Principal, u64, Memory>,
    // Heap caches and guards (rebuilt or empty after an upgrade).
    pub index: MinerIndex<Principal>,
    /// Tasks running now, each under its guard.
    pub running: BTreeSet<Task>,
    /// When each job not final is due (from the jobs in `active`), and the
    /// same ordered by time, so a tick reads only the due ones.
    pub schedule: HeapMap<String, u64>,
    pub due: BTreeSet<(u64, String)>,
    /// Cancellations asked while the job was busy, applied by the engine.
    pub cancels: BTreeSet<String>,
    /// Jobs not final per submitter (from `active`).
    pub pending: HeapMap<Principal, u32>,
    pub last_sync_ns: u64,
    /// Submissions per principal in the current minute: (minute, count).
    pub submit_window: HeapMap<Principal, (u64, u32)>,
    /// Randomness for matching, refreshed from `raw_rand` by the timer.
    pub match_seed: [u8; 32],
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::new(DefaultMemoryImpl::default()));
}

pub fn read_state<R>(f: impl FnOnce(&State) -> R) -> R {
    STATE.with(|s| f(&s.borrow()))
}

pub fn mutate_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Replaces the state (native tests start each case afresh).
pub fn reset_state(memory: DefaultMemoryImpl) {
    STATE.with(|s| *s.borrow_mut() = State::new(memory));
}

impl State {
    pub fn new(memory: DefaultMemoryImpl) -> Self {
        let manager = MemoryManager::init(memory);
        let get = |id| memory::get(&manager, id);
        let mut state = Self {
            config: Cell::init(get(memory::CONFIG), Cbor(Config::default())),
            counters: Cell::init(get(memory::COUNTERS), Cbor(Counters::default())),
            jobs: BTreeMap::init(get(memory::JOBS)),
            active: BTreeMap::init(get(memory::ACTIVE)),
            by_submitter: BTreeMap::init(get(memory::BY_SUBMITTER)),
            idempotency: BTreeMap::init(get(memory::IDEMPOTENCY)),
            miners: BTreeMap::init(get(memory::MINERS)),
            results: BTreeMap::init(get(memory::RESULTS)),
            receipt_nodes: BTreeMap::init(get(memory::RECEIPT_NODES)),
            receipts: BTreeMap::init(get(memory::RECEIPTS)),
            batches: BTreeMap::init(get(memory::RECEIPT_BATCHES)),
            events: Log::init(get(memory::EVENTS_INDEX), get(memory::EVENTS_DATA)),
            bond_at_stake: BTreeMap::init(get(memory::BOND_AT_STAKE)),
            suspended: BTreeMap::init(get(memory::SUSPENDED)),
            job_flops: BTreeMap::init(get(memory::JOB_FLOPS)),
            index: MinerIndex::new(),
            running: BTreeSet::new(),
            pending: HeapMap::new(),
            schedule: HeapMap::new(),
            due: BTreeSet::new(),
            cancels: BTreeSet::new(),
            last_sync_ns: 0,
            submit_window: HeapMap::new(),
            match_seed: [0; 32],
        };
        state.rebuild_index();
        let active: Vec<(String, Principal)> = state.active.iter().map(|e| e.into_pair()).collect();
        for (id, p) in active {
            *state.pending.entry(p).or_default() += 1;
            let due = state.job(&id).map_or(0, |j| j.next_action_ns);
            state.reschedule(&id, Some(due));
        }
        state
    }

    /// The matching index from the stored miners (after an upgrade).
    pub fn rebuild_index(&mut self) {
        let mut index = MinerIndex::new();
        for entry in self.miners.iter() {
            let (p, info) = (*entry.key(), entry.value().0);
            index.upsert(self.ranked(p, &info));
        }
        self.index = index;
    }

    pub fn config(&self) -> Config {
        self.config.get().0.clone()
    }

    pub fn set_config(&mut self, config: Config) {
        self.config.set(Cbor(config));
    }

    pub fn counters(&self) -> Counters {
        self.counters.get().0.clone()
    }

    pub fn update_counters<R>(&mut self, f: impl FnOnce(&mut Counters) -> R) -> R {
        let mut c = self.counters();
        let r = f(&mut c);
        self.counters.set(Cbor(c));
        r
    }

    pub fn totals(&self) -> Totals {
        let c = self.counters();
        Totals {
            active_jobs: self.active.len(),
            miners_known: self.miners.len(),
            registry_seq: c.registry_seq,
            receipts: c.receipt_tree_size,
            receipt_batches: self.batches.len(),
            ..c.totals
        }
    }

    pub fn job(&self, id: &str) -> Option<Job> {
        self.jobs.get(&id.to_string()).map(|j| j.0)
    }

    /// Stores a job, keeping the active set in step with its status.
    pub fn put_job(&mut self, job: Job) {
        let was_active = self.active.contains_key(&job.id);
        let due = (!job.status.is_final()).then_some(job.next_action_ns);
        self.reschedule(&job.id, due);
        if job.status.is_final() {
            if self.active.remove(&job.id).is_some() {
                let n = self.pending.entry(job.submitter).or_default();
                *n = n.saturating_sub(1);
            }
        } else if !was_active {
            self.active.insert(job.id.clone(), job.submitter);
            *self.pending.entry(job.submitter).or_default() += 1;
        }
        self.jobs.insert(job.id.clone(), Cbor(job));
    }

    fn reschedule(&mut self, id: &str, due: Option<u64>) {
        if let Some(old) = self.schedule.remove(id) {
            self.due.remove(&(old, id.to_string()));
        }
        if let Some(at) = due {
            self.schedule.insert(id.to_string(), at);
            self.due.insert((at, id.to_string()));
        }
    }

    /// Lifts `p`'s suspension (after a proven wrong result) once the
    /// registry has verified its capability since: a fresh challenge passed.
    /// Its bond must still cover each new job's slash to be matched.
    pub fn lift_suspension(&mut self, p: Principal, info: &MinerInfo, now: u64) {
        if let Some(at) = self.suspended.get(&p) {
            if info.capability_verified_at_ns > at {
                self.suspended.remove(&p);
                self.record(now, None, EventKind::Unsuspended { miner: p });
            }
        }
    }

    /// The worker-side id and capability of assignment `slot` of `job`:
    /// `sha256(tag ‖ secret ‖ job ‖ slot)`, unguessable without the secret.
    pub fn worker_access(secret: &[u8; 32], job: &str, slot: usize) -> (String, String) {
        let derive = |tag: &str| {
            let mut input = tag.as_bytes().to_vec();
            input.extend_from_slice(secret);
            input.extend_from_slice(&(job.len() as u64).to_le_bytes());
            input.extend_from_slice(job.as_bytes());
            input.extend_from_slice(&(slot as u64).to_le_bytes());
            Digest32::sha256(&input)
        };
        let id = derive("tensormine/worker-job-id/v1");
        let capability = derive("tensormine/capability/v1");
        (
            format!("{job}-{}", hex_of(&id.0[..8])),
            hex_of(&capability.0),
        )
    }

    pub fn miner(&self, p: &Principal) -> Option<MinerInfo> {
        self.miners.get(p).map(|m| m.0)
    }

    pub fn upsert_miner(&mut self, p: Principal, info: MinerInfo) {
        self.index.upsert(self.ranked(p, &info));
        self.miners.insert(p, Cbor(info));
    }

    /// The miner as the matching index ranks it: its throughput is the
    /// better of the registry's capability challenge and what it showed on
    /// real jobs the router checked itself (both verified lower bounds).
    pub fn ranked(&self, p: Principal, info: &MinerInfo) -> Candidate<Principal> {
        let mut c = info.candidate.clone();
        c.flops = c.flops.max(self.job_flops.get(&p).unwrap_or(0));
        c
    }

    pub fn remove_miner(&mut self, p: &Principal) {
        self.index.remove(p);
        self.miners.remove(p);
    }

    /// A step of job `id` is in flight.
    pub fn is_busy(&self, id: &str) -> bool {
        self.running.contains(&Task::Job(id.to_string()))
    }

    /// Jobs of `p` that are not final.
    pub fn pending_of(&self, p: Principal) -> u32 {
        self.pending.get(&p).copied().unwrap_or(0)
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
