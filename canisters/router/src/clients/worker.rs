//! The worker's HTTP API as the router uses it: dispatch, status polls,
//! result chunks and matmul challenges, each with a tight
//! `max_response_bytes`. Answers are classified so the engine knows whether
//! to retry (the worker or the network is down), give up on the miner (it
//! refused the job) or judge the result.

use crate::job::Assignment;
use tensormine_core::api::{
    self, ChallengeRequest, ChallengeResponse, JobAck, JobRequest, JobSpec, JobStatus,
};

/// An HTTPS outcall to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcall {
    pub url: String,
    /// `None` for GET, the JSON body for POST.
    pub body: Option<Vec<u8>>,
    pub max_response_bytes: u64,
    /// Made by every replica (with the `transform_body` transform) or by one.
    pub replicated: bool,
    /// How long the worker may take to answer; the outcall's fee grows with
    /// it (300 cycles per ms per node), so small answers reserve little.
    pub expected_roundtrip_ms: u64,
    /// The job's capability, sent as `authorization: Bearer …`.
    pub capability: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcallResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// `x-tensormine-result-length` when present (result chunks).
    pub total_length: Option<u64>,
}

/// An outcall's answer and the cycles it was charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcallResult {
    pub response: Result<OutcallResponse, String>,
    pub cycles: u128,
}

/// The transport to workers: one HTTPS outcall. The functions below build
/// the requests of the worker API on it and classify the answers.
#[allow(async_fn_in_trait)]
pub trait WorkerApi {
    async fn http(&self, request: Outcall) -> OutcallResult;
}

/// Largest challenge answer accepted (below the 2 MB outcall cap).
pub const MAX_ANSWER_BYTES: u64 = 1_990_000;
/// Largest result chunk fetched in one outcall.
pub const RESULT_CHUNK_BYTES: u64 = 1_900_000;
/// Headers and framing on top of a body.
const SLACK_BYTES: u64 = 2_048;
/// `JobAck` and `JobStatus` bodies are small (≈ 700 bytes with a signed
/// commitment); a longer answer (e.g. an error message of kilobytes) is
/// refused by the system and counts as a failed outcall.
const SMALL_ANSWER_BYTES: u64 = 2_048;
/// Expected round trips: a status or challenge answer is computed from
/// stored data; a dispatch may wait for the worker to download URL operands;
/// result chunks are large.
const QUICK_MS: u64 = 5_000;
const SLOW_MS: u64 = 30_000;

/// What an outcall produced, for the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<T> {
    Ok(T),
    /// The worker refused for good (4xx other than 408/429): another miner.
    Refused(String),
    /// Transport error, 5xx, 408/429 or an unreadable body: retry later.
    Unavailable(String),
}

/// Cycles and the reply of one outcall.
pub struct Called<T> {
    pub reply: Reply<T>,
    pub cycles: u128,
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}

fn classify(r: Result<OutcallResponse, String>) -> Reply<OutcallResponse> {
    match r {
        Err(e) => Reply::Unavailable(format!("outcall failed: {e}")),
        Ok(r) if r.status == 200 => Reply::Ok(r),
        Ok(r) if (400..500).contains(&r.status) && r.status != 408 && r.status != 429 => {
            Reply::Refused(format!(
                "worker answered {}: {}",
                r.status,
                excerpt(&r.body)
            ))
        }
        Ok(r) => Reply::Unavailable(format!(
            "worker answered {}: {}",
            r.status,
            excerpt(&r.body)
        )),
    }
}

fn parse<T: serde::de::DeserializeOwned>(r: Reply<OutcallResponse>, what: &str) -> Reply<T> {
    match r {
        Reply::Ok(r) => match serde_json::from_slice(&r.body) {
            Ok(v) => Reply::Ok(v),
            Err(e) => Reply::Unavailable(format!("malformed {what}: {e}")),
        },
        Reply::Refused(e) => Reply::Refused(e),
        Reply::Unavailable(e) => Reply::Unavailable(e),
    }
}

async fn outcall<R: WorkerApi>(rt: &R, request: Outcall) -> (Reply<OutcallResponse>, u128) {
    let result = rt.http(request).await;
    (classify(result.response), result.cycles)
}

/// `POST /v1/jobs` (idempotent by job id on the worker), under the
/// assignment's worker-side id and capability.
pub async fn dispatch<R: WorkerApi>(
    rt: &R,
    a: &Assignment,
    job_id: &str,
    spec: &JobSpec,
    replicated: bool,
) -> Called<JobAck> {
    let downloads =
        matches!(spec, JobSpec::Matmul(m) if !tensormine_core::challenge::operands_held(m));
    let body = serde_json::to_vec(&JobRequest {
        job_id: a.worker_id(job_id).to_string(),
        spec: spec.clone(),
        capability: a.capability().map(str::to_string),
    })
    .expect("a job request serialises");
    let (r, cycles) = outcall(
        rt,
        Outcall {
            url: format!("{}/v1/jobs", a.endpoint),
            body: Some(body),
            max_response_bytes: SMALL_ANSWER_BYTES,
            replicated,
            expected_roundtrip_ms: if downloads { SLOW_MS } else { QUICK_MS },
            capability: None,
        },
    )
    .await;
    Called {
        reply: parse(r, "job acknowledgement"),
        cycles,
    }
}

/// `GET /v1/jobs/{id}`.
pub async fn status<R: WorkerApi>(
    rt: &R,
    a: &Assignment,
    job_id: &str,
    replicated: bool,
) -> Called<JobStatus> {
    let (r, cycles) = outcall(
        rt,
        Outcall {
            url: format!("{}/v1/jobs/{}", a.endpoint, a.worker_id(job_id)),
            body: None,
            max_response_bytes: SMALL_ANSWER_BYTES,
            replicated,
            expected_roundtrip_ms: QUICK_MS,
            capability: a.capability().map(str::to_string),
        },
    )
    .await;
    Called {
        reply: parse(r, "job status"),
        cycles,
    }
}

/// `GET /v1/jobs/{id}/result?offset=&length=`.
pub async fn result_chunk<R: WorkerApi>(
    rt: &R,
    a: &Assignment,
    job_id: &str,
    offset: u64,
    length: u64,
    replicated: bool,
) -> Called<Vec<u8>> {
    let (r, cycles) = outcall(
        rt,
        Outcall {
            url: format!(
                "{}/v1/jobs/{}/result?offset={offset}&length={length}",
                a.endpoint,
                a.worker_id(job_id)
            ),
            body: None,
            max_response_bytes: length + SLACK_BYTES,
            replicated,
            expected_roundtrip_ms: SLOW_MS,
            capability: a.capability().map(str::to_string),
        },
    )
    .await;
    let reply = match r {
        Reply::Ok(r) if r.body.len() as u64 == length => Reply::Ok(r.body),
        Reply::Ok(r) => Reply::Unavailable(format!(
            "result chunk has {} bytes, asked {length}",
            r.body.len()
        )),
        Reply::Refused(e) => Reply::Refused(e),
        Reply::Unavailable(e) => Reply::Unavailable(e),
    };
    Called { reply, cycles }
}

/// `POST /v1/jobs/{id}/challenge`.
pub async fn challenge<R: WorkerApi>(
    rt: &R,
    a: &Assignment,
    job_id: &str,
    request: &ChallengeRequest,
    m: u64,
    n: u64,
    replicated: bool,
) -> Called<ChallengeResponse> {
    let size = api::challenge_response_size(m, n, request.rows.len() as u64) + SLACK_BYTES;
    let (r, cycles) = outcall(
        rt,
        Outcall {
            url: format!("{}/v1/jobs/{}/challenge", a.endpoint, a.worker_id(job_id)),
            body: Some(serde_json::to_vec(request).expect("a challenge serialises")),
            max_response_bytes: size.min(MAX_ANSWER_BYTES + SLACK_BYTES),
            replicated,
            expected_roundtrip_ms: QUICK_MS,
            capability: a.capability().map(str::to_string),
        },
    )
    .await;
    Called {
        reply: parse(r, "challenge answer"),
        cycles,
    }
}
