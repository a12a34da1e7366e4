//! Job lifecycle: admission (validation, idempotency, operand download),
//! scheduling on a bounded number of slots, commitment and signing,
//! persistence and recovery after a restart, and challenge answers.
//!
//! The shared state lives here; each submodule adds the `JobManager`
//! methods of one stage of a job's life.

mod admission;
mod challenges;
mod commitment;
mod downloads;
mod execution;
mod queries;
mod recovery;

use crate::error::Failure;
use crate::keys::WorkerKey;
use crate::store::{JobRecord, JobStore};
use crate::workloads::models::ModelStore;
use crate::workloads::Executor;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tensormine_core::api::{HexBytes, JobState, Load, Workload};
use tensormine_core::merkle::RowMerkleTree;
use tokio::sync::{watch, Semaphore};

/// What the worker accepts.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Workloads offered.
    pub workloads: Vec<Workload>,
    /// Most bytes a matmul may need for A, B and C together.
    pub max_matrix_bytes: u64,
    /// Most sentences in an embed job.
    pub max_sentences: usize,
    /// Longest sentence in bytes.
    pub max_sentence_bytes: usize,
    /// FOR DEMOS AND TESTS ONLY: rows of every matmul job result (not of
    /// capability challenges) corrupted after computing it; 0 = honest.
    pub dishonest_corrupt_rows: usize,
}

impl Limits {
    /// Limits derived from the configuration.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            workloads: config.workloads.clone(),
            max_matrix_bytes: config.max_matrix_bytes,
            max_sentences: config.max_sentences,
            max_sentence_bytes: 64 * 1024,
            dishonest_corrupt_rows: config.dishonest_corrupt_rows,
        }
    }
}

struct Entry {
    record: JobRecord,
    tree: Option<Arc<RowMerkleTree>>,
    /// Distinguishes this admission from an earlier one under the same id
    /// whose acceptance could not be persisted (its run must not touch this one).
    generation: u64,
    /// `Some(true)` once the accepted record is on disk, `Some(false)` if
    /// persisting it failed (the entry is then removed).
    durable: watch::Receiver<Option<bool>>,
}

/// A durability signal that is already set: for jobs loaded from disk.
fn already_durable() -> watch::Receiver<Option<bool>> {
    watch::channel(Some(true)).1
}

struct Inner {
    store: JobStore,
    key: WorkerKey,
    executor: Arc<dyn Executor>,
    models: ModelStore,
    limits: Limits,
    http: reqwest::Client,
    jobs: Mutex<BTreeMap<String, Entry>>,
    admissions: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
    slots: Arc<Semaphore>,
    changes: watch::Sender<u64>,
    generations: AtomicU64,
    threads: usize,
}

/// The worker's jobs. Cheap to clone (shared state).
#[derive(Clone)]
pub struct JobManager {
    inner: Arc<Inner>,
}

/// Parts a [`JobManager`] is built from.
pub struct ManagerParts {
    /// Persistence.
    pub store: JobStore,
    /// Signing key.
    pub key: WorkerKey,
    /// Runs the work.
    pub executor: Arc<dyn Executor>,
    /// Models known to the worker (to reject unknown ones at admission).
    pub models: ModelStore,
    /// Admission limits.
    pub limits: Limits,
    /// Jobs run at once.
    pub concurrency: usize,
    /// CPU threads for hashing a result.
    pub threads: usize,
}

impl JobManager {
    /// Builds the manager, reloads persisted jobs and resumes unfinished ones.
    /// Must be called inside a tokio runtime.
    pub fn start(parts: ManagerParts) -> Self {
        let inner = Arc::new(Inner {
            store: parts.store,
            key: parts.key,
            executor: parts.executor,
            models: parts.models,
            limits: parts.limits,
            http: reqwest::Client::new(),
            jobs: Mutex::new(BTreeMap::new()),
            admissions: Mutex::new(BTreeMap::new()),
            slots: Arc::new(Semaphore::new(parts.concurrency.max(1))),
            changes: watch::channel(0).0,
            generations: AtomicU64::new(0),
            threads: parts.threads.max(1),
        });
        let manager = Self { inner };
        manager.recover();
        manager
    }

    fn jobs(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner.jobs.lock().expect("job table lock")
    }

    fn next_generation(&self) -> u64 {
        self.inner.generations.fetch_add(1, Ordering::Relaxed)
    }

    /// Applies `change` to the entry of this admission, if it still exists;
    /// in memory only.
    fn with_entry<T>(
        &self,
        job_id: &str,
        generation: u64,
        change: impl FnOnce(&mut Entry) -> T,
    ) -> Option<T> {
        let mut jobs = self.jobs();
        let entry = jobs
            .get_mut(job_id)
            .filter(|e| e.generation == generation)?;
        Some(change(entry))
    }

    /// The worker's public key.
    pub fn public_key(&self) -> HexBytes {
        self.inner.key.public_key()
    }

    /// Jobs waiting and running.
    pub fn load(&self) -> Load {
        let jobs = self.jobs();
        let count = |state| jobs.values().filter(|e| e.record.state == state).count() as u32;
        Load {
            queued: count(JobState::Queued),
            running: count(JobState::Running),
        }
    }
}

/// The error for a job id the worker does not know.
fn unknown_job(job_id: &str) -> Failure {
    Failure::not_found("unknown_job", format!("no job with id {job_id:?}"))
}
