//! Job lifecycle: admission (validation, idempotency, operand download),
//! scheduling on a bounded number of slots, commitment and signing,
//! persistence and recovery after a restart, and challenge answers.

use crate::error::Failure;
use crate::keys::WorkerKey;
use crate::store::{JobRecord, JobStore};
use crate::workloads::models::ModelStore;
use crate::workloads::{Executor, ResultMatrix, WorkItem};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tensormine_core::api::{
    challenge_response_size, validate_id, CapabilityChallenge, CapabilityCommitment,
    ChallengeRequest, ChallengeResponse, EmbedSpec, HexBytes, JobAck, JobRequest, JobSpec,
    JobState, JobStatus, Load, MatmulSpec, MatrixSource, Progress, ProvenRow, ResultCommitment,
    SignedResult, Workload, MAX_RESULT_CHUNK_BYTES,
};
use tensormine_core::encoding::{f32_from_le_bytes, F32Array, F64Array};
use tensormine_core::merkle::RowMerkleTree;
use tensormine_core::prng::{self, STREAM_A, STREAM_B};
use tensormine_core::signing::spec_hash;
use tensormine_core::verify::mat_vec_f64;
use tensormine_core::Digest32;
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

fn matrix_bytes(spec: &MatmulSpec) -> u128 {
    let (m, k, n) = (spec.m as u128, spec.k as u128, spec.n as u128);
    4 * (m * k + k * n + m * n)
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
        let entry = jobs.get_mut(job_id).filter(|e| e.generation == generation)?;
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

    fn recover(&self) {
        for loaded in self.inner.store.load_all() {
            match loaded {
                Ok(record) => self.recover_record(record),
                Err((dir, err)) => {
                    eprintln!("skipping unreadable job folder {}: {err:#}", dir.display())
                }
            }
        }
    }

    fn recover_record(&self, mut record: JobRecord) {
        let job_id = record.request.job_id.clone();
        let resume = matches!(record.state, JobState::Queued | JobState::Running);
        if resume {
            record.state = JobState::Queued;
        } else if record.state == JobState::Done {
            if let Err(problem) = self.check_result_file(&record) {
                record.state = JobState::Failed;
                record.result = None;
                record.error = Some(format!("result lost across a restart: {problem}"));
            }
        }
        if let Err(err) = self.inner.store.save(&record) {
            eprintln!("could not persist recovered job {job_id}: {err:#}");
        }
        let generation = self.next_generation();
        self.jobs().insert(
            job_id.clone(),
            Entry {
                record,
                tree: None,
                generation,
                durable: already_durable(),
            },
        );
        if resume {
            self.spawn_run(job_id, generation, already_durable());
        }
    }

    fn check_result_file(&self, record: &JobRecord) -> Result<(), String> {
        let commitment = &record
            .result
            .as_ref()
            .ok_or("no commitment recorded")?
            .commitment;
        let bytes = self
            .inner
            .store
            .read_result(&record.request.job_id)
            .map_err(|e| format!("{e:#}"))?;
        if Digest32::sha256(&bytes) != commitment.sha256 {
            return Err("result file does not match its committed sha256".into());
        }
        Ok(())
    }

    /// Accepts a job. Repeating the same request returns the same
    /// acknowledgement; a different spec under a known id is a conflict.
    pub async fn submit(&self, request: JobRequest) -> Result<JobAck, Failure> {
        self.validate(&request)?;
        let hash = spec_hash(&request.spec);
        if let Some(ack) = self.existing_ack(&request.job_id, &hash).await? {
            return Ok(ack);
        }
        let job_id = request.job_id.clone();
        let gate = self.admission_gate(&job_id);
        let outcome = {
            let _admitting = gate.lock().await;
            self.admit(request, hash).await
        };
        let mut gates = self.inner.admissions.lock().expect("admissions lock");
        // Drop the gate unless another request for this id is waiting on it.
        if Arc::strong_count(&gate) <= 2 {
            gates.remove(&job_id);
        }
        outcome
    }

    fn admission_gate(&self, job_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.inner.admissions.lock().expect("admissions lock");
        gates.entry(job_id.to_string()).or_default().clone()
    }

    async fn admit(&self, request: JobRequest, hash: Digest32) -> Result<JobAck, Failure> {
        // Another request for this id may have been admitted while we waited.
        if let Some(ack) = self.existing_ack(&request.job_id, &hash).await? {
            return Ok(ack);
        }
        self.fetch_operands(&request).await?;
        let job_id = request.job_id.clone();
        let record = JobRecord {
            request,
            spec_hash: hash,
            state: JobState::Queued,
            progress: Progress::default(),
            result: None,
            error: None,
        };
        let ack_id = job_id.clone();
        let generation = self.next_generation();
        let (durable_tx, durable) = watch::channel(None);
        self.jobs().insert(
            job_id.clone(),
            Entry {
                record: record.clone(),
                tree: None,
                generation,
                durable: durable.clone(),
            },
        );
        // The job starts computing while its record is made durable; its
        // result is committed and published only after that, and the ack is
        // sent only after that. A separate task persists, so a client that
        // hangs up cannot leave the entry undecided.
        self.spawn_run(job_id.clone(), generation, durable);
        let manager = self.clone();
        let persisted = tokio::spawn(async move {
            let store = manager.inner.store.clone();
            let saved = tokio::task::spawn_blocking(move || store.save(&record))
                .await
                .map_err(|e| anyhow::anyhow!("persisting task failed: {e}"))
                .and_then(|saved| saved);
            if saved.is_err() {
                let mut jobs = manager.jobs();
                if jobs.get(&job_id).is_some_and(|e| e.generation == generation) {
                    jobs.remove(&job_id);
                }
            }
            durable_tx.send_replace(Some(saved.is_ok()));
            saved
        });
        match persisted.await {
            Ok(Ok(())) => Ok(self.ack(&ack_id, hash)),
            Ok(Err(err)) => Err(Failure::internal(format!("could not persist job: {err:#}"))),
            Err(err) => Err(Failure::internal(format!("could not persist job: {err}"))),
        }
    }

    fn ack(&self, job_id: &str, hash: Digest32) -> JobAck {
        JobAck {
            job_id: job_id.to_string(),
            spec_hash: hash,
            worker_public_key: self.public_key(),
        }
    }

    /// The ack for a known job with this spec, once its acceptance is durable;
    /// `None` if the id is unknown (or its admission could not be persisted).
    async fn existing_ack(
        &self,
        job_id: &str,
        hash: &Digest32,
    ) -> Result<Option<JobAck>, Failure> {
        let mut durable = {
            let jobs = self.jobs();
            let Some(entry) = jobs.get(job_id) else {
                return Ok(None);
            };
            if entry.record.spec_hash != *hash {
                return Err(Failure::conflict(
                    "job_id_conflict",
                    format!("job {job_id} already exists with a different spec (spec hash {}, this request {hash})", entry.record.spec_hash),
                ));
            }
            entry.durable.clone()
        };
        let persisted = durable
            .wait_for(Option::is_some)
            .await
            .map(|state| *state == Some(true))
            .unwrap_or(false);
        Ok(persisted.then(|| self.ack(job_id, *hash)))
    }

    fn validate(&self, request: &JobRequest) -> Result<(), Failure> {
        validate_id(&request.job_id).map_err(|m| Failure::bad_request("invalid_job_id", m))?;
        let workload = request.spec.workload();
        if !self.inner.limits.workloads.contains(&workload) {
            return Err(Failure::unprocessable(
                "workload_not_offered",
                format!("this worker does not offer the {workload} workload"),
            ));
        }
        match &request.spec {
            JobSpec::Matmul(spec) => self.validate_matmul(spec),
            JobSpec::Embed(spec) => self.validate_embed(spec),
        }
    }

    fn validate_matmul(&self, spec: &MatmulSpec) -> Result<(), Failure> {
        if spec.m == 0 || spec.k == 0 || spec.n == 0 {
            return Err(Failure::bad_request(
                "invalid_dimensions",
                format!(
                    "matmul dimensions must be positive, got m={} k={} n={}",
                    spec.m, spec.k, spec.n
                ),
            ));
        }
        let needed = matrix_bytes(spec);
        let allowed = self.inner.limits.max_matrix_bytes as u128;
        if needed > allowed {
            return Err(Failure::too_large(
                "dimensions_too_large",
                format!("matmul {}×{}×{} needs {needed} bytes for A, B and C; this worker allows {allowed}", spec.m, spec.k, spec.n),
            ));
        }
        let operands = [
            ("a", &spec.a, spec.m as u64 * spec.k as u64),
            ("b", &spec.b, spec.k as u64 * spec.n as u64),
        ];
        for (name, source, values) in operands {
            if let MatrixSource::Inline { data } = source {
                if data.0.len() as u64 != values {
                    return Err(Failure::bad_request(
                        "operand_size_mismatch",
                        format!(
                            "inline operand {name} has {} values, the dimensions need {values}",
                            data.0.len()
                        ),
                    ));
                }
            }
            if let MatrixSource::Url { url, .. } = source {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(Failure::bad_request(
                        "invalid_url",
                        format!("operand {name}: URL must be http(s), got {url:?}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_embed(&self, spec: &EmbedSpec) -> Result<(), Failure> {
        let limits = &self.inner.limits;
        if spec.sentences.is_empty() {
            return Err(Failure::bad_request(
                "no_sentences",
                "an embed job needs at least one sentence",
            ));
        }
        if spec.sentences.len() > limits.max_sentences {
            return Err(Failure::too_large(
                "too_many_sentences",
                format!(
                    "{} sentences; this worker accepts at most {}",
                    spec.sentences.len(),
                    limits.max_sentences
                ),
            ));
        }
        if let Some((i, s)) = spec
            .sentences
            .iter()
            .enumerate()
            .find(|(_, s)| s.len() > limits.max_sentence_bytes)
        {
            return Err(Failure::too_large(
                "sentence_too_long",
                format!(
                    "sentence {i} has {} bytes; the limit is {}",
                    s.len(),
                    limits.max_sentence_bytes
                ),
            ));
        }
        if self.inner.models.get(&spec.model).is_none() {
            return Err(Failure::unprocessable(
                "unknown_model",
                format!("model {} is not in this worker's model store", spec.model),
            ));
        }
        Ok(())
    }

    async fn fetch_operands(&self, request: &JobRequest) -> Result<(), Failure> {
        let JobSpec::Matmul(spec) = &request.spec else {
            return Ok(());
        };
        let operands = [
            ("a", &spec.a, spec.m as u64 * spec.k as u64),
            ("b", &spec.b, spec.k as u64 * spec.n as u64),
        ];
        for (name, source, values) in operands {
            if let MatrixSource::Url { url, sha256 } = source {
                let bytes = self.download(name, url, sha256, values * 4).await?;
                self.inner
                    .store
                    .write_file(&request.job_id, &format!("{name}.bin"), &bytes)
                    .map_err(|e| {
                        Failure::internal(format!("could not store operand {name}: {e:#}"))
                    })?;
            }
        }
        Ok(())
    }

    async fn download(
        &self,
        name: &str,
        url: &str,
        expected: &Digest32,
        expected_len: u64,
    ) -> Result<Vec<u8>, Failure> {
        let fetch_failed = |e: String| {
            Failure::unprocessable(
                "fetch_failed",
                format!("operand {name}: fetching {url} failed: {e}"),
            )
        };
        let mut response = self
            .inner
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| fetch_failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fetch_failed(format!("HTTP status {}", response.status())));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| fetch_failed(e.to_string()))?
        {
            if bytes.len() as u64 + chunk.len() as u64 > expected_len {
                return Err(Failure::unprocessable("operand_size_mismatch", format!("operand {name} from {url} is longer than the {expected_len} bytes its shape needs")));
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.len() as u64 != expected_len {
            return Err(Failure::unprocessable(
                "operand_size_mismatch",
                format!(
                    "operand {name} from {url} has {} bytes, its shape needs {expected_len}",
                    bytes.len()
                ),
            ));
        }
        let actual = Digest32::sha256(&bytes);
        if actual != *expected {
            return Err(Failure::unprocessable(
                "sha256_mismatch",
                format!(
                    "operand {name} from {url}: sha256 is {actual}, the job expects {expected}"
                ),
            ));
        }
        Ok(bytes)
    }

    fn spawn_run(
        &self,
        job_id: String,
        generation: u64,
        mut durable: watch::Receiver<Option<bool>>,
    ) {
        let manager = self.clone();
        tokio::spawn(async move {
            let _slot = manager
                .inner
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore never closes");
            // `running` is kept in memory only: after a restart a job on disk
            // as `queued` is resumed just as a `running` one would be.
            let record = manager.with_entry(&job_id, generation, |entry| {
                entry.record.state = JobState::Running;
                entry.record.clone()
            });
            let Some(record) = record else {
                return; // its admission could not be persisted
            };
            manager.inner.changes.send_modify(|version| *version += 1);
            let worker = manager.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let computed = worker.compute(&record, generation);
                (record, computed)
            })
            .await;
            // Nothing is committed or published before the acceptance is on disk.
            let accepted = durable
                .wait_for(Option::is_some)
                .await
                .map(|state| *state == Some(true))
                .unwrap_or(false);
            if !accepted {
                return;
            }
            let worker = manager.clone();
            let id = job_id.clone();
            let finished = tokio::task::spawn_blocking(move || {
                let outcome = match outcome {
                    Ok((record, Ok(matrix))) => worker
                        .commit(&record, &matrix)
                        .map_err(|e| format!("{e:#}")),
                    Ok((_, Err(error))) => Err(error),
                    Err(panic) => Err(format!("workload panicked: {panic}")),
                };
                worker.finish(&id, generation, outcome);
            })
            .await;
            if let Err(panic) = finished {
                manager.finish(
                    &job_id,
                    generation,
                    Err(format!("committing the result panicked: {panic}")),
                );
            }
        });
    }

    fn compute(&self, record: &JobRecord, generation: u64) -> Result<ResultMatrix, String> {
        let job_id = &record.request.job_id;
        let item = self.work_item(record).map_err(|e| format!("{e:#}"))?;
        let expected_rows = match &item {
            WorkItem::Matmul { shape, .. } => shape.m,
            WorkItem::Embed { sentences, .. } => sentences.len(),
        };
        let report = |done: u64, total: u64| {
            self.with_entry(job_id, generation, |entry| {
                entry.record.progress = Progress { done, total }
            });
        };
        let is_matmul = matches!(item, WorkItem::Matmul { .. });
        let mut matrix = self
            .inner
            .executor
            .run(item, &report)
            .map_err(|e| format!("{e:#}"))?;
        let corrupt = self.inner.limits.dishonest_corrupt_rows;
        if corrupt > 0 && is_matmul && !job_id.starts_with("challenge:") && matrix.cols > 0 {
            // Demo/test cheater: element (row, row mod cols) of the first
            // rows changes; the commitment is built from the changed matrix.
            for row in 0..corrupt.min(matrix.rows) {
                matrix.data[row * matrix.cols + row % matrix.cols] += 1.0;
            }
        }
        if matrix.rows != expected_rows
            || matrix.cols == 0
            || matrix.data.len() != matrix.rows * matrix.cols
        {
            return Err(format!(
                "workload returned a {}×{} result with {} values, expected {expected_rows} rows",
                matrix.rows,
                matrix.cols,
                matrix.data.len()
            ));
        }
        Ok(matrix)
    }

    fn work_item(&self, record: &JobRecord) -> anyhow::Result<WorkItem> {
        let job_id = &record.request.job_id;
        Ok(match &record.request.spec {
            JobSpec::Matmul(spec) => {
                let shape = spec.shape();
                let a = self.operand(job_id, "a", &spec.a, STREAM_A, shape.m, shape.k)?;
                let b = self.operand(job_id, "b", &spec.b, STREAM_B, shape.k, shape.n)?;
                WorkItem::Matmul { shape, a, b }
            }
            JobSpec::Embed(spec) => WorkItem::Embed {
                model: spec.model,
                sentences: spec.sentences.clone(),
            },
        })
    }

    fn operand(
        &self,
        job_id: &str,
        name: &str,
        source: &MatrixSource,
        stream: u64,
        rows: usize,
        cols: usize,
    ) -> anyhow::Result<Vec<f32>> {
        match source {
            MatrixSource::Seeded { seed } => Ok(prng::matrix(&seed.0, stream, rows, cols)),
            MatrixSource::Inline { data } => Ok(data.0.clone()),
            MatrixSource::Url { sha256, .. } => {
                let bytes = self.inner.store.read_file(job_id, &format!("{name}.bin"))?;
                anyhow::ensure!(
                    Digest32::sha256(&bytes) == *sha256,
                    "stored operand {name} no longer matches its sha256"
                );
                f32_from_le_bytes(&bytes)
                    .ok_or_else(|| anyhow::anyhow!("stored operand {name} is not whole f32 values"))
            }
        }
    }

    /// Commits to the result: Merkle leaves over its rows (split over the
    /// worker's threads), the sha256 of all its bytes and the write of
    /// `result.bin` run at the same time, over the same little-endian bytes.
    fn commit(
        &self,
        record: &JobRecord,
        matrix: &ResultMatrix,
    ) -> anyhow::Result<(SignedResult, Arc<RowMerkleTree>)> {
        let bytes = le_bytes(&matrix.data);
        let bytes: &[u8] = &bytes;
        let row_bytes = matrix.cols * 4;
        let job_id = &record.request.job_id;
        let (leaves, sha256, written) = std::thread::scope(|scope| {
            let sha256 = scope.spawn(|| Digest32::sha256(bytes));
            let written = scope.spawn(|| self.inner.store.write_result(job_id, bytes));
            let leaves = row_leaves(bytes, row_bytes, self.inner.threads.saturating_sub(1).max(1));
            (
                leaves,
                sha256.join().expect("sha256 thread"),
                written.join().expect("result writer thread"),
            )
        });
        written?;
        let tree = RowMerkleTree::from_leaves(leaves);
        let commitment = ResultCommitment {
            rows: matrix.rows as u64,
            cols: matrix.cols as u64,
            merkle_root: tree.root(),
            sha256,
            byte_len: bytes.len() as u64,
        };
        let signed = self
            .inner
            .key
            .sign_result(job_id, &record.spec_hash, commitment);
        Ok((signed, Arc::new(tree)))
    }

    /// Records the outcome: durably first (fsync), then in memory, so a
    /// client never sees `done` or `failed` before it would survive a crash.
    fn finish(
        &self,
        job_id: &str,
        generation: u64,
        outcome: Result<(SignedResult, Arc<RowMerkleTree>), String>,
    ) {
        let Some(mut record) = self.with_entry(job_id, generation, |e| e.record.clone()) else {
            return;
        };
        let tree = match outcome {
            Ok((signed, tree)) => {
                record.state = JobState::Done;
                record.progress.done = record.progress.total.max(1);
                record.progress.total = record.progress.done;
                record.result = Some(signed);
                Some(tree)
            }
            Err(error) => {
                record.state = JobState::Failed;
                record.error = Some(error);
                None
            }
        };
        if let Err(err) = self.inner.store.save(&record) {
            // Published anyway: after a crash the job is resumed from its
            // durable `queued` record, which recomputes the same result.
            eprintln!("could not persist job {job_id}: {err:#}");
        }
        self.with_entry(job_id, generation, |entry| {
            entry.record = record;
            entry.tree = tree;
        });
        self.inner.changes.send_modify(|version| *version += 1);
    }

    /// `GET /v1/jobs/{id}`.
    pub fn status(&self, job_id: &str) -> Result<JobStatus, Failure> {
        let jobs = self.jobs();
        let record = &jobs.get(job_id).ok_or_else(|| unknown_job(job_id))?.record;
        Ok(JobStatus {
            job_id: job_id.to_string(),
            spec_hash: record.spec_hash,
            workload: record.request.spec.workload(),
            state: record.state,
            progress: record.progress,
            result: record.result.clone(),
            error: record.error.clone(),
        })
    }

    /// `GET /v1/jobs/{id}?wait_ms=W`: the status as soon as the job is done
    /// or failed, or after `wait` (whichever comes first).
    pub async fn status_wait(&self, job_id: &str, wait: Duration) -> Result<JobStatus, Failure> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut changes = self.inner.changes.subscribe();
        loop {
            let status = self.status(job_id)?;
            if matches!(status.state, JobState::Done | JobState::Failed) {
                return Ok(status);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return self.status(job_id);
            }
        }
    }

    fn done_record(&self, job_id: &str) -> Result<JobRecord, Failure> {
        let record = self
            .jobs()
            .get(job_id)
            .ok_or_else(|| unknown_job(job_id))?
            .record
            .clone();
        match record.state {
            JobState::Done => Ok(record),
            JobState::Failed => Err(Failure::conflict(
                "job_failed",
                format!("job {job_id} failed: {}", record.error.unwrap_or_default()),
            )),
            state => Err(Failure::conflict(
                "result_not_ready",
                format!("job {job_id} is {state:?}; its result is not committed yet")
                    .to_lowercase(),
            )),
        }
    }

    /// `GET /v1/jobs/{id}/result`: bytes `offset .. offset + length` of the
    /// result, and the total length.
    pub fn result_chunk(
        &self,
        job_id: &str,
        offset: u64,
        length: Option<u64>,
    ) -> Result<(Vec<u8>, u64), Failure> {
        let record = self.done_record(job_id)?;
        let total = record.result.as_ref().map_or(0, |r| r.commitment.byte_len);
        let length = length.unwrap_or(MAX_RESULT_CHUNK_BYTES);
        if length > MAX_RESULT_CHUNK_BYTES {
            return Err(Failure::bad_request(
                "chunk_too_large",
                format!("length {length} exceeds the {MAX_RESULT_CHUNK_BYTES}-byte chunk limit"),
            ));
        }
        if offset > total {
            return Err(Failure::new(
                axum::http::StatusCode::RANGE_NOT_SATISFIABLE,
                "offset_out_of_range",
                format!("offset {offset} is past the result's {total} bytes"),
            ));
        }
        let bytes = self
            .inner
            .store
            .read_result(job_id)
            .map_err(|e| Failure::internal(format!("{e:#}")))?;
        let end = (offset + length).min(total) as usize;
        Ok((bytes[offset as usize..end].to_vec(), total))
    }

    /// `POST /v1/jobs/{id}/challenge`: `y = C·r` and the requested rows with Merkle paths.
    pub async fn challenge(
        &self,
        job_id: &str,
        request: ChallengeRequest,
    ) -> Result<ChallengeResponse, Failure> {
        let record = self.done_record(job_id)?;
        let JobSpec::Matmul(spec) = &record.request.spec else {
            return Err(Failure::unprocessable(
                "not_challengeable",
                format!("job {job_id} is not a matmul job; only matmul results can be challenged"),
            ));
        };
        let (m, n) = (spec.m as u64, spec.n as u64);
        if let Some(bad) = request.rows.iter().find(|&&row| row >= m) {
            return Err(Failure::bad_request(
                "row_out_of_range",
                format!("row {bad} requested, but C has {m} rows"),
            ));
        }
        let size = challenge_response_size(m, n, request.rows.len() as u64);
        if size > MAX_RESULT_CHUNK_BYTES {
            return Err(Failure::too_large("too_many_rows", format!("{} rows of width {n} would make a {size}-byte answer, over the {MAX_RESULT_CHUNK_BYTES}-byte limit", request.rows.len())));
        }
        let manager = self.clone();
        let id = job_id.to_string();
        tokio::task::spawn_blocking(move || manager.answer_challenge(&id, &record, request))
            .await
            .map_err(|e| Failure::internal(format!("challenge task failed: {e}")))?
    }

    fn answer_challenge(
        &self,
        job_id: &str,
        record: &JobRecord,
        request: ChallengeRequest,
    ) -> Result<ChallengeResponse, Failure> {
        let commitment = &record
            .result
            .as_ref()
            .expect("done jobs have results")
            .commitment;
        let cols = commitment.cols as usize;
        let bytes = self
            .inner
            .store
            .read_result(job_id)
            .map_err(|e| Failure::internal(format!("{e:#}")))?;
        let c = f32_from_le_bytes(&bytes)
            .ok_or_else(|| Failure::internal("result file is not whole f32 values"))?;
        let tree = self.tree_for(job_id, &c, cols);
        if tree.root() != commitment.merkle_root {
            return Err(Failure::internal(format!(
                "stored result of job {job_id} no longer matches its commitment"
            )));
        }
        let r = prng::challenge_vector(&request.r_seed.0, cols);
        let rows = request
            .rows
            .iter()
            .map(|&index| ProvenRow {
                index,
                values: F32Array(c[index as usize * cols..(index as usize + 1) * cols].to_vec()),
                path: tree.proof(index).expect("row index checked"),
            })
            .collect();
        Ok(ChallengeResponse {
            job_id: job_id.to_string(),
            merkle_root: commitment.merkle_root,
            y: F64Array(mat_vec_f64(&c, cols, &r)),
            rows,
        })
    }

    fn tree_for(&self, job_id: &str, c: &[f32], cols: usize) -> Arc<RowMerkleTree> {
        if let Some(tree) = self.jobs().get(job_id).and_then(|e| e.tree.clone()) {
            return tree;
        }
        let tree = Arc::new(RowMerkleTree::from_matrix(c, cols));
        if let Some(entry) = self.jobs().get_mut(job_id) {
            entry.tree = Some(tree.clone());
        }
        tree
    }

    /// `POST /v1/challenges`: runs the seeded matmul and answers with its
    /// signed commitment once done, or 504 when the deadline passes first.
    pub async fn capability(
        &self,
        challenge: CapabilityChallenge,
    ) -> Result<CapabilityCommitment, Failure> {
        validate_id(&challenge.challenge_id)
            .map_err(|m| Failure::bad_request("invalid_challenge_id", m))?;
        let job_id = challenge.job_id();
        let ack = self
            .submit(JobRequest {
                job_id: job_id.clone(),
                spec: challenge.spec(),
            })
            .await?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(challenge.deadline_ms);
        let record = self.wait_until_final(&job_id, deadline).await?;
        match (record.state, record.result) {
            (JobState::Done, Some(result)) => Ok(CapabilityCommitment {
                challenge_id: challenge.challenge_id,
                job_id,
                spec_hash: ack.spec_hash,
                result,
            }),
            _ => Err(Failure::internal(format!(
                "challenge job {job_id} failed: {}",
                record.error.unwrap_or_default()
            ))),
        }
    }

    async fn wait_until_final(
        &self,
        job_id: &str,
        deadline: tokio::time::Instant,
    ) -> Result<JobRecord, Failure> {
        let mut changes = self.inner.changes.subscribe();
        loop {
            let record = self
                .jobs()
                .get(job_id)
                .map(|e| e.record.clone())
                .ok_or_else(|| unknown_job(job_id))?;
            if matches!(record.state, JobState::Done | JobState::Failed) {
                return Ok(record);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return Err(Failure::new(
                    axum::http::StatusCode::GATEWAY_TIMEOUT,
                    "deadline_exceeded",
                    format!("job {job_id} was not committed before the deadline; it keeps running"),
                ));
            }
        }
    }
}

/// The values' little-endian bytes (the result's wire format), without a
/// copy on little-endian machines.
fn le_bytes(values: &[f32]) -> std::borrow::Cow<'_, [u8]> {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: f32 has no padding and any byte is a valid u8; u8 needs no
        // alignment; the length is exactly that of the values.
        std::borrow::Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
        })
    }
    #[cfg(not(target_endian = "little"))]
    {
        std::borrow::Cow::Owned(tensormine_core::encoding::f32_to_le_bytes(values))
    }
}

/// Merkle leaf of row `index` from its little-endian bytes: the same value as
/// [`tensormine_core::merkle::leaf_hash`], hashed in one pass over the bytes.
fn leaf_from_bytes(index: u64, row: &[u8]) -> Digest32 {
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(index.to_le_bytes());
    hasher.update(row);
    Digest32(hasher.finalize().into())
}

/// Leaves of all rows, split over `threads` threads.
fn row_leaves(bytes: &[u8], row_bytes: usize, threads: usize) -> Vec<Digest32> {
    let rows = bytes.len() / row_bytes;
    let per_thread = rows.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = bytes
            .chunks(per_thread * row_bytes)
            .enumerate()
            .map(|(part, chunk)| {
                scope.spawn(move || {
                    chunk
                        .chunks_exact(row_bytes)
                        .enumerate()
                        .map(|(i, row)| leaf_from_bytes((part * per_thread + i) as u64, row))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().expect("leaf thread"))
            .collect()
    })
}

fn unknown_job(job_id: &str) -> Failure {
    Failure::not_found("unknown_job", format!("no job with id {job_id:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tensormine_core::merkle::leaf_hash;

    #[test]
    fn leaves_from_bytes_match_the_core_specification() {
        for (rows, cols) in [(1, 1), (7, 3), (33, 64), (5, 1000)] {
            let data = prng::matrix(&[9; 32], STREAM_A, rows, cols);
            let bytes = le_bytes(&data);
            assert_eq!(&bytes[..], &tensormine_core::encoding::f32_to_le_bytes(&data)[..]);
            let expected = RowMerkleTree::from_matrix(&data, cols);
            for threads in [1, 2, 3, 8, 64] {
                let leaves = row_leaves(&bytes, cols * 4, threads);
                assert_eq!(leaves.len(), rows);
                for (i, leaf) in leaves.iter().enumerate() {
                    assert_eq!(*leaf, leaf_hash(i as u64, &data[i * cols..(i + 1) * cols]));
                }
                assert_eq!(RowMerkleTree::from_leaves(leaves).root(), expected.root());
            }
        }
    }
}
