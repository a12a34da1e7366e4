//! # tensormine router canister
//!
//! Endpoints only; the logic is in the modules: [`submit`] (validation,
//! quotes, rate limits, the escrow hold), [`engine`] (matching, dispatch,
//! polling, failover — one step per due job per tick), [`verify`] (Freivalds,
//! replica comparison, audits, tie-breaks), [`settle`] (slash, release or
//! refund, registry reports), [`receipts`] (Merkle tree, certified root,
//! signed batches), [`sync`] (the registry's change feed), [`clients`]
//! (typed calls to the escrow, the registry and the workers' HTTP API),
//! [`state`] and [`memory`], [`guard`], [`lifecycle`], [`metrics`] and
//! [`runtime`] (all I/O behind a trait). Interface: `candid/router.did`.

// The escrow's errors that the typed clients return are its candid variants,
// some carrying the hold they refer to; boxing them would add indirection to
// a value returned once per call.
#![allow(clippy::result_large_err)]

pub mod clients;
pub mod dispute;
pub mod engine;
pub mod guard;
pub mod job;
pub mod lifecycle;
pub mod memory;
pub mod metrics;
pub mod receipts;
pub mod runtime;
pub mod settle;
pub mod state;
pub mod submit;
pub mod sync;
pub mod verify;

#[cfg(test)]
mod tests;

use candid::Principal;
use ic_cdk::{init, post_upgrade, query, update};
use ic_cdk_management_canister::{HttpRequestResult, TransformArgs};
use metrics::{HttpRequest, HttpResponse};
use runtime::IcRuntime;
use state::{mutate_state, read_state, Event};
use tensormine_core::router::*;

fn caller() -> Principal {
    ic_cdk::api::msg_caller()
}

fn now() -> u64 {
    ic_cdk::api::time()
}

/// Most jobs per `list_jobs` page.
const MAX_LIST: u32 = 100;
/// Largest `get_result` chunk (below the 2 MiB reply cap).
pub const MAX_RESULT_CHUNK: u64 = 1_900_000;

#[init]
fn init(arg: Option<RouterArg>) {
    lifecycle::init(arg)
}

#[post_upgrade]
fn post_upgrade(arg: Option<RouterArg>) {
    lifecycle::post_upgrade(arg)
}

/// Submits a job: validated, held in escrow, then matched and run.
#[update]
async fn submit_job(request: JobRequest) -> Result<JobView, SubmitError> {
    submit::submit(&IcRuntime, caller(), request).await
}

/// What a job would cost and who could take it now.
#[query]
fn quote(request: JobRequest) -> Result<Quote, QuoteError> {
    submit::quote(&request)
}

/// A job (its submitter or a controller).
#[query]
fn get_job(id: String) -> Result<JobView, GetJobError> {
    let job = read_state(|s| s.job(&id)).ok_or(GetJobError::NotFound)?;
    let p = caller();
    if job.submitter != p && !ic_cdk::api::is_controller(&p) {
        return Err(GetJobError::NotAuthorized);
    }
    Ok(job.view())
}

/// The caller's jobs after `start_after` (a job id), oldest first.
#[query]
fn list_jobs(start_after: Option<String>, limit: u32) -> Vec<JobView> {
    let p = caller();
    let limit = limit.clamp(1, MAX_LIST) as usize;
    let after = start_after
        .and_then(|id| id.strip_prefix("job-").and_then(|n| n.parse::<u64>().ok()))
        .unwrap_or(0);
    read_state(|s| {
        s.by_submitter
            .range((p, after.saturating_add(1))..)
            .map(|e| *e.key())
            .take_while(|(owner, _)| *owner == p)
            .take(limit)
            .filter_map(|(_, n)| s.job(&format!("job-{n}")).map(|j| j.view()))
            .collect()
    })
}

/// Cancels a job no miner has committed a result for; its hold is refunded.
#[update]
fn cancel_job(id: String) -> Result<JobView, CancelError> {
    let p = caller();
    let mut job = read_state(|s| s.job(&id)).ok_or(CancelError::NotFound)?;
    if job.submitter != p {
        return Err(CancelError::NotAuthorized);
    }
    if read_state(|s| s.config().read_only) {
        return Err(CancelError::ReadOnly);
    }
    if !state::audit::cancellable(&job) {
        return Err(CancelError::TooLate { status: job.status });
    }
    if read_state(|s| s.is_busy(&id)) {
        // A step is in flight: the engine applies it when the step ends.
        mutate_state(|s| s.cancels.insert(id));
        return Ok(job.view());
    }
    state::audit::cancel(&mut job, now());
    state::audit::save(&job);
    Ok(job.view())
}

/// A fraud proof against a verified matmul result, inside its dispute
/// window (the job's submitter): see `dispute.rs` and docs/verification.md.
#[update]
fn submit_fraud_proof(id: String, proof: FraudProof) -> Result<FraudVerdict, FraudProofError> {
    dispute::submit(caller(), now(), &id, proof)
}

/// A chunk of a settled job's result (its submitter).
#[query]
fn get_result(id: String, offset: u64, length: u64) -> Result<ResultChunk, ResultError> {
    let job = read_state(|s| s.job(&id)).ok_or(ResultError::NotFound)?;
    if job.submitter != caller() {
        return Err(ResultError::NotAuthorized);
    }
    // Settled, or verified and inside its dispute window (the submitter
    // checks the result before the miner is paid).
    let verified = job.status == JobStatus::Settled
        || (job.status == JobStatus::Settling && job.dispute_until_ns.is_some());
    let Some(accepted) = job.accepted.filter(|_| verified) else {
        return Err(ResultError::NotReady { status: job.status });
    };
    let accepted = &job.assignments[accepted];
    let byte_len = accepted
        .commitment
        .as_ref()
        .map_or(0, |r| r.commitment.byte_len);
    if job.stored_result_bytes == 0 {
        return Err(ResultError::NotStored {
            endpoint: accepted.endpoint.clone(),
            byte_len,
            worker_job_id: accepted.worker_id(&job.id).to_string(),
            capability: accepted.capability.clone(),
        });
    }
    if offset >= byte_len {
        return Err(ResultError::OutOfRange { byte_len });
    }
    let end = byte_len.min(offset + length.clamp(1, MAX_RESULT_CHUNK));
    let bytes = read_state(|s| s.results.get(&id)).expect("stored result");
    Ok(ResultChunk {
        bytes: bytes[offset as usize..end as usize].to_vec(),
        offset,
        total_len: byte_len,
    })
}

/// A settled or refunded job's receipt, its Merkle path and the signed batch.
#[query]
fn get_receipt(id: String) -> Result<ReceiptProofView, ReceiptError> {
    receipts::get_receipt(&id, now())
}

/// The router's threshold Schnorr (ed25519) key that signs receipt batches.
#[query]
fn receipt_public_key() -> Option<serde_bytes::ByteBuf> {
    read_state(|s| s.counters().public_key).map(serde_bytes::ByteBuf::from)
}

#[query]
fn get_config() -> Config {
    read_state(|s| s.config())
}

/// Changes the configuration (controllers only).
#[update]
fn set_config(update: ConfigUpdate) -> Result<Config, ConfigError> {
    lifecycle::set_config(caller(), update)
}

#[query]
fn totals() -> Totals {
    read_state(|s| s.totals())
}

/// Events `start..start + length` (at most 1000 per call).
#[query]
fn get_events(start: u64, length: u64) -> Vec<Event> {
    read_state(|s| {
        (start..start.saturating_add(length.min(1000)).min(s.events.len()))
            .filter_map(|i| s.events.get(i).map(|e| e.0))
            .collect()
    })
}

#[query]
fn http_request(request: HttpRequest) -> HttpResponse {
    metrics::http_request(request)
}

/// Outcall transform for replicated outcalls: headers dropped except the
/// result length (worker bodies are deterministic).
#[query]
fn transform_body(args: TransformArgs) -> HttpRequestResult {
    let keep = tensormine_core::api::RESULT_LENGTH_HEADER;
    HttpRequestResult {
        status: args.response.status,
        headers: args
            .response
            .headers
            .into_iter()
            .filter(|h| h.name.eq_ignore_ascii_case(keep))
            .collect(),
        body: args.response.body,
    }
}

ic_cdk::export_candid!();
