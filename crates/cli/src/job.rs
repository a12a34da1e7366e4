//! Jobs: quote, submit, wait, status, list, cancel, and the result — from
//! the router's store in chunks, or from the worker when the router did not
//! store it — checked against the accepted commitment's Merkle root and sha256.

use crate::env::Env;
use crate::errors::{refused, secs, READ_ONLY, USE_IDENTITY};
use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tensormine_core::router::{
    CancelError, CommitmentView, GetJobError, JobRequest, JobStatus, JobView, OperandInput, Quote,
    QuoteError, Resources, ResultChunk, ResultError, SpecError, SubmitError, Tier, WorkloadInput,
};

/// Largest `get_result` chunk the router serves.
pub const ROUTER_CHUNK: u64 = 1_900_000;
/// Largest chunk a worker serves.
pub const WORKER_CHUNK: u64 = 2_000_000;
/// `list_jobs` page size.
pub const LIST_PAGE: u32 = 100;

/// A matmul with seeded operands.
pub fn matmul_workload(
    m: u32,
    k: u32,
    n: u32,
    seed_a: [u8; 32],
    seed_b: [u8; 32],
) -> WorkloadInput {
    WorkloadInput::Matmul {
        m,
        k,
        n,
        a: OperandInput::Seeded(seed_a.to_vec()),
        b: OperandInput::Seeded(seed_b.to_vec()),
    }
}

/// Sentence embeddings with the model named by its 32-byte id.
pub fn embed_workload(model: [u8; 32], sentences: Vec<String>) -> WorkloadInput {
    WorkloadInput::Embed {
        model: model.to_vec(),
        sentences,
    }
}

/// The sentences of a file: one per line, blank lines skipped.
pub fn read_sentences(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read sentences from {}", path.display()))?;
    let sentences: Vec<String> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    if sentences.is_empty() {
        bail!("{} has no sentences (one per line)", path.display());
    }
    Ok(sentences)
}

/// A random 32-byte seed.
pub fn random_seed() -> [u8; 32] {
    use rand::RngCore;
    let mut s = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

/// A job request.
pub fn request(
    workload: WorkloadInput,
    tier: Tier,
    max_price_sats: u64,
    deadline_secs: u64,
    min_gpu_memory_bytes: Option<u64>,
    idempotency_key: Option<String>,
) -> JobRequest {
    JobRequest {
        workload,
        resources: Resources {
            min_gpu_memory_bytes,
        },
        tier,
        max_price_sats,
        deadline_secs,
        idempotency_key,
    }
}

fn spec_hint(e: &SpecError) -> Option<String> {
    Some(match e {
        SpecError::InlineTooLarge { max, .. } => {
            format!("inline operands may hold at most {max} bytes: use seeded operands")
        }
        SpecError::InvalidDeadline { min_secs, max_secs } => {
            format!("pass --deadline between {min_secs} and {max_secs} seconds")
        }
        SpecError::InvalidTier { .. } => "pick another --tier (freivalds needs a matmul)".into(),
        SpecError::InvalidModel { .. } => {
            "pass --model with the 32-byte id of a model the miners serve".into()
        }
        _ => return None,
    })
}

/// The router's price estimate for a request.
pub async fn quote(env: &Env, req: &JobRequest) -> Result<Quote> {
    let (r,): (Result<Quote, QuoteError>,) = env
        .query(env.canisters.router, "router", "quote", (req,))
        .await?;
    r.map_err(|e| {
        let QuoteError::InvalidSpec(spec) = &e;
        refused("router.quote", &e, spec_hint(spec))
    })
}

/// Submits a job. A hold the escrow did not answer yet (`HoldPending`) is not
/// a failure: the router keeps the job and retries; its current view is returned.
pub async fn submit(env: &Env, req: &JobRequest) -> Result<JobView> {
    let (r,): (Result<JobView, SubmitError>,) = env
        .update(env.canisters.router, "router", "submit_job", (req,))
        .await?;
    match r {
        Ok(view) => Ok(view),
        Err(SubmitError::HoldPending { job_id }) => status(env, &job_id).await,
        Err(e) => {
            let hint = match &e {
                SubmitError::AnonymousCaller => Some(USE_IDENTITY.to_string()),
                SubmitError::ReadOnly => Some(READ_ONLY.to_string()),
                SubmitError::InvalidSpec(spec) => spec_hint(spec),
                SubmitError::PriceTooLow { min_sats } => Some(format!("raise --max-price to at least {min_sats} (see `tensormine job quote`)")),
                SubmitError::RateLimited { retry_after_ns } => Some(format!("retry in {} s", secs(*retry_after_ns))),
                SubmitError::TooManyPendingJobs { .. } => Some("wait for your jobs to finish or cancel some (`tensormine job list`)".into()),
                SubmitError::RouterBusy { .. } => Some("the router is at capacity: retry later".into()),
                SubmitError::HoldRefused { .. } => Some("fund your account: `tensormine account deposit --ckbtc SATS` (see `tensormine account balance`)".into()),
                SubmitError::IdempotencyConflict { job_id } => Some(format!("that --idempotency-key belongs to job {job_id} with another request: use a new key")),
                SubmitError::HoldPending { .. } => None,
            };
            Err(refused("router.submit_job", &e, hint))
        }
    }
}

fn get_job_error(id: &str, e: GetJobError) -> anyhow::Error {
    match e {
        GetJobError::NotFound => anyhow!("router.get_job refused: NotFound; no job {id:?} on this router (check the id and --network)"),
        GetJobError::NotAuthorized => anyhow!("router.get_job refused: NotAuthorized; job {id:?} belongs to another principal (use the identity that submitted it)"),
    }
}

/// The job's current view.
pub async fn status(env: &Env, id: &str) -> Result<JobView> {
    let (r,): (Result<JobView, GetJobError>,) = env
        .query(env.canisters.router, "router", "get_job", (id,))
        .await?;
    r.map_err(|e| get_job_error(id, e))
}

/// Every job of the caller, oldest first (pages of [`LIST_PAGE`]).
pub async fn list(env: &Env) -> Result<Vec<JobView>> {
    let mut all: Vec<JobView> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page,): (Vec<JobView>,) = env
            .query(
                env.canisters.router,
                "router",
                "list_jobs",
                (after.clone(), LIST_PAGE),
            )
            .await?;
        let Some(last) = page.last() else { break };
        if after.as_deref() == Some(last.id.as_str()) {
            break; // no progress: the router repeats the cursor
        }
        after = Some(last.id.clone());
        all.extend(page);
    }
    Ok(all)
}

/// Cancels a job (refunded unless a miner already committed a result).
pub async fn cancel(env: &Env, id: &str) -> Result<JobView> {
    let (r,): (Result<JobView, CancelError>,) = env
        .update(env.canisters.router, "router", "cancel_job", (id,))
        .await?;
    r.map_err(|e| {
        let hint = match &e {
            CancelError::NotFound => Some(format!("no job {id:?} on this router")),
            CancelError::NotAuthorized => Some("only the submitter can cancel a job".into()),
            CancelError::TooLate { .. } => {
                Some("a miner already committed a result: the job is paid as agreed".into())
            }
            CancelError::ReadOnly => Some(READ_ONLY.into()),
        };
        refused("router.cancel_job", &e, hint)
    })
}

/// (done, total) over the job's assignments, for a progress bar.
pub fn progress(view: &JobView) -> (u64, u64) {
    view.assignments.iter().fold((0, 0), |(d, t), a| {
        (
            d + a.progress_done.min(a.progress_total),
            t + a.progress_total,
        )
    })
}

/// Verified and waiting in its dispute window: the result can be read and
/// checked, the miners are paid when the window closes.
pub fn in_dispute_window(view: &JobView) -> bool {
    view.status == JobStatus::Settling && view.dispute_until_ns.is_some()
}

/// Polls `get_job` until the job is final (or verified and in its dispute
/// window, when its result can already be checked), calling `on_update` with each
/// view. Gives up 10 minutes after the job's deadline (the router refunds at
/// the deadline, so a job still open then is reported, not waited on forever).
pub async fn wait_with(
    env: &Env,
    id: &str,
    mut on_update: impl FnMut(&JobView),
) -> Result<JobView> {
    let mut delay = Duration::from_millis(500);
    loop {
        let view = status(env, id).await?;
        on_update(&view);
        if view.status.is_final() || in_dispute_window(&view) {
            return Ok(view);
        }
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        if view.deadline_ns != 0 && now_ns > view.deadline_ns.saturating_add(600 * 1_000_000_000) {
            bail!(
                "job {id} is still {:?} 10 minutes after its deadline; check later with `tensormine job status {id}`",
                view.status
            );
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 3 / 2).min(Duration::from_secs(5));
    }
}

/// [`wait_with`] behind an indicatif progress bar (status and work done).
pub async fn wait(env: &Env, id: &str) -> Result<JobView> {
    use indicatif::{ProgressBar, ProgressStyle};
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:24} [{bar:30}] {pos}/{len} ({elapsed})")
            .expect("constant template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let result = wait_with(env, id, |view| {
        let (done, total) = progress(view);
        bar.set_length(total.max(1));
        bar.set_position(if total == 0 { 0 } else { done });
        bar.set_message(format!("{:?}", view.status));
    })
    .await;
    match &result {
        Ok(view) => bar.finish_with_message(format!("{:?}", view.status)),
        Err(_) => bar.abandon(),
    }
    result
}

/// Where a result was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultSource {
    Router,
    Worker(String),
}

/// A job's result bytes, checked against the accepted commitment.
#[derive(Debug, Clone)]
pub struct JobResult {
    pub job: JobView,
    pub bytes: Vec<u8>,
    pub rows: u64,
    pub cols: u64,
    pub sha256: [u8; 32],
    pub source: ResultSource,
}

impl JobResult {
    /// The result as little-endian f32 values (rows·cols of them).
    pub fn values(&self) -> Vec<f32> {
        self.bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }
}

/// Reads the result of a settled job: from the router when it stored it,
/// else from the worker whose result was accepted. Checks length, root and sha256
/// against the commitment the router accepted.
pub async fn result(env: &Env, id: &str) -> Result<JobResult> {
    let job = status(env, id).await?;
    if job.status != JobStatus::Settled && !in_dispute_window(&job) {
        let reason = job
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        bail!(
            "job {id} is {:?}{reason}: it has no accepted result{}",
            job.status,
            if job.status.is_final() {
                ""
            } else {
                "; wait with `tensormine job status` or `job submit --wait`"
            }
        );
    }
    let commitment = job.result.clone().ok_or_else(|| {
        anyhow!("job {id} is settled but the router reports no result commitment")
    })?;
    // The router serves it, or says where the worker keeps it and with
    // which capability (told only to the submitter of a verified job).
    let (bytes, source) = match fetch_from_router(env, id).await? {
        Ok(bytes) => (bytes, ResultSource::Router),
        Err(access) => (
            fetch_from_worker(env, &access, commitment.byte_len).await?,
            ResultSource::Worker(access.endpoint),
        ),
    };
    let got = check_result(id, &bytes, &commitment)?;
    Ok(JobResult {
        rows: commitment.rows,
        cols: commitment.cols,
        job,
        bytes,
        sha256: got,
        source,
    })
}

/// Checks result bytes against the accepted commitment (length, Merkle root
/// of the rows, sha256); returns the sha256.
pub fn check_result(id: &str, bytes: &[u8], commitment: &CommitmentView) -> Result<[u8; 32]> {
    let expected: [u8; 32] = commitment
        .sha256
        .as_slice()
        .try_into()
        .map_err(|_| anyhow!("job {id}: the commitment's sha256 is not 32 bytes"))?;
    if bytes.len() as u64 != commitment.byte_len {
        bail!(
            "the result of job {id} has {} bytes, the commitment says {}: the source is faulty, do not use it",
            bytes.len(),
            commitment.byte_len
        );
    }
    // The root first: it is what the router's spot checks opened rows of,
    // so bytes that match the signed sha256 but not the root are not the
    // result that was verified.
    let root = tensormine_core::merkle::root_of_bytes(bytes, commitment.cols as usize);
    if root.map(|r| r.0.to_vec()) != Some(commitment.merkle_root.clone()) {
        bail!(
            "the result of job {id} does not match its committed Merkle root ({}): the source is faulty, do not use it",
            hex::encode(&commitment.merkle_root)
        );
    }
    let got: [u8; 32] = Sha256::digest(bytes).into();
    if got != expected {
        bail!(
            "the result of job {id} does not match its commitment (sha256 {} ≠ {}): the source is faulty, do not use it",
            hex::encode(got),
            hex::encode(expected)
        );
    }
    Ok(got)
}

/// Where a result kept only by its worker is read: the endpoint, the job's
/// id on the worker and the capability it answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerAccess {
    pub endpoint: String,
    pub worker_job_id: String,
    /// `None` for a job without one (e.g. made by an older router).
    pub capability: Option<String>,
}

/// `Ok(Ok(bytes))`, or `Ok(Err(access))` when the router says it is only on the worker.
async fn fetch_from_router(env: &Env, id: &str) -> Result<Result<Vec<u8>, WorkerAccess>> {
    let mut bytes = Vec::new();
    loop {
        let offset = bytes.len() as u64;
        let (r,): (Result<ResultChunk, ResultError>,) = env
            .query(
                env.canisters.router,
                "router",
                "get_result",
                (id, offset, ROUTER_CHUNK),
            )
            .await?;
        match r {
            Ok(chunk) => {
                if chunk.offset != offset {
                    bail!(
                        "router.get_result answered offset {} for {offset}",
                        chunk.offset
                    );
                }
                if chunk.bytes.is_empty() && offset < chunk.total_len {
                    bail!(
                        "router.get_result returned an empty chunk at offset {offset} of {}",
                        chunk.total_len
                    );
                }
                bytes.extend_from_slice(&chunk.bytes);
                if bytes.len() as u64 >= chunk.total_len {
                    return Ok(Ok(bytes));
                }
            }
            Err(ResultError::NotStored {
                endpoint,
                worker_job_id,
                capability,
                ..
            }) => {
                return Ok(Err(WorkerAccess {
                    endpoint,
                    worker_job_id,
                    capability: (!capability.is_empty()).then_some(capability),
                }))
            }
            Err(e) => {
                let hint = match &e {
                    ResultError::NotReady { .. } => {
                        Some("wait until the job is Settled".to_string())
                    }
                    ResultError::NotAuthorized => {
                        Some("only the submitter can read the result".into())
                    }
                    _ => None,
                };
                return Err(refused("router.get_result", &e, hint));
            }
        }
    }
}

/// `GET {endpoint}/v1/jobs/{id}/result?offset=&length=` until `byte_len`
/// bytes, with the job's capability.
pub async fn fetch_from_worker(env: &Env, access: &WorkerAccess, byte_len: u64) -> Result<Vec<u8>> {
    let base = access.endpoint.trim_end_matches('/');
    let id = access.worker_job_id.as_str();
    let mut bytes = Vec::with_capacity(byte_len.min(1 << 30) as usize);
    while (bytes.len() as u64) < byte_len {
        let offset = bytes.len() as u64;
        let length = WORKER_CHUNK.min(byte_len - offset);
        let url = format!("{base}/v1/jobs/{id}/result?offset={offset}&length={length}");
        let mut request = env.http.get(&url);
        if let Some(capability) = &access.capability {
            request = request.header(
                tensormine_core::api::CAPABILITY_HEADER,
                tensormine_core::api::bearer(capability),
            );
        }
        let response = request.send().await.map_err(|e| {
            anyhow!("cannot reach the worker at {base} for the result of job {id}: {e}")
        })?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!(
                "the worker at {base} answered {status} for the result of job {id}: {}",
                body.chars().take(200).collect::<String>()
            );
        }
        let chunk = response
            .bytes()
            .await
            .map_err(|e| anyhow!("reading the result of job {id} from {base}: {e}"))?;
        if chunk.is_empty() {
            bail!("the worker at {base} returned no bytes at offset {offset} of {byte_len}");
        }
        if chunk.len() as u64 > length {
            bail!(
                "the worker at {base} returned {} bytes for a {length}-byte chunk",
                chunk.len()
            );
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
