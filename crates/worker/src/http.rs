//! The HTTP API under `/v1` (see docs/worker.md) and the server loop.
//!
//! Responses carry no `Date` header and bodies hold no timestamps, so every
//! IC replica sending the same request reads the same bytes.

use crate::error::Failure;
use crate::jobs::JobManager;
use crate::workloads::models::ModelStore;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::future::Future;
use std::sync::Arc;
use tensormine_core::api::{
    CapabilityChallenge, CapabilityCommitment, ChallengeRequest, ChallengeResponse, Health,
    Inventory, JobAck, JobRequest, JobStatus, ModelInfo, Workload, CAPABILITY_HEADER,
};
use tokio::net::TcpListener;

/// Shared state of the handlers.
pub struct AppState {
    /// Jobs.
    pub jobs: JobManager,
    /// Models (listed in health).
    pub models: ModelStore,
    /// Workloads offered.
    pub workloads: Vec<Workload>,
    /// Hardware, detected at start.
    pub inventory: Inventory,
}

/// The `/v1` router.
pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/jobs", post(submit_job))
        .route("/v1/jobs/{id}", get(job_status))
        .route("/v1/jobs/{id}/result", get(job_result))
        .route("/v1/jobs/{id}/challenge", post(job_challenge))
        .route("/v1/challenges", post(capability_challenge))
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

async fn unknown_route(uri: axum::http::Uri) -> Failure {
    Failure::not_found("unknown_route", format!("no endpoint at {}", uri.path()))
}

/// The body as `T`, with 4xx failures that name the problem.
fn parse_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, Failure> {
    let bytes = body.map_err(|rejection| {
        Failure::new(rejection.status(), "unreadable_body", rejection.body_text())
    })?;
    serde_json::from_slice(&bytes).map_err(|err| {
        if let Some(name) = unknown_workload(&bytes) {
            return Failure::unprocessable(
                "unknown_workload",
                format!("unknown workload {name:?}; known workloads: matmul, embed"),
            );
        }
        match err.classify() {
            serde_json::error::Category::Data => Failure::bad_request(
                "invalid_request",
                format!("request does not match the schema: {err}"),
            ),
            _ => Failure::bad_request("malformed_json", format!("body is not valid JSON: {err}")),
        }
    })
}

fn unknown_workload(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let name = value.get("spec")?.get("workload")?.as_str()?;
    serde_json::from_value::<Workload>(serde_json::Value::String(name.to_string()))
        .is_err()
        .then(|| name.to_string())
}

async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    let models = state
        .models
        .list()
        .into_iter()
        .map(|meta| ModelInfo {
            id: meta.id,
            name: meta.name,
            dim: meta.dim,
        })
        .collect();
    Json(Health {
        version: env!("CARGO_PKG_VERSION").to_string(),
        public_key: state.jobs.public_key(),
        workloads: state.workloads.clone(),
        models,
        inventory: state.inventory.clone(),
        load: state.jobs.load(),
    })
}

async fn submit_job(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<JobAck>, Failure> {
    let request: JobRequest = parse_body(body)?;
    Ok(Json(state.jobs.submit(request).await?))
}

/// Query of `GET /v1/jobs/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    /// Answer once the job is done or failed, waiting at most this long
    /// (capped at [`MAX_STATUS_WAIT_MS`]); absent: answer at once.
    pub wait_ms: Option<u64>,
}

/// Longest `wait_ms` honoured by `GET /v1/jobs/{id}`.
pub const MAX_STATUS_WAIT_MS: u64 = 30_000;

/// The `authorization` header's value, if any (a job's capability).
fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(CAPABILITY_HEADER).and_then(|v| v.to_str().ok())
}

async fn job_status(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<Json<JobStatus>, Failure> {
    state.jobs.authorize(&id, authorization(&headers))?;
    let Query(query) = query.map_err(|r| Failure::bad_request("invalid_query", r.body_text()))?;
    Ok(Json(match query.wait_ms {
        None | Some(0) => state.jobs.status(&id)?,
        Some(ms) => {
            let wait = std::time::Duration::from_millis(ms.min(MAX_STATUS_WAIT_MS));
            state.jobs.status_wait(&id, wait).await?
        }
    }))
}

/// Query of `GET /v1/jobs/{id}/result`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultQuery {
    /// First byte (default 0).
    pub offset: Option<u64>,
    /// Bytes wanted (default and maximum 2 000 000).
    pub length: Option<u64>,
}

/// Header with the whole result's length.
pub const TOTAL_LENGTH_HEADER: &str = tensormine_core::api::RESULT_LENGTH_HEADER;

async fn job_result(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ResultQuery>, QueryRejection>,
) -> Result<Response, Failure> {
    state.jobs.authorize(&id, authorization(&headers))?;
    let Query(query) = query.map_err(|r| Failure::bad_request("invalid_query", r.body_text()))?;
    let (bytes, total) = state
        .jobs
        .result_chunk(&id, query.offset.unwrap_or(0), query.length)?;
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream".to_string()),
        (
            header::HeaderName::from_static(TOTAL_LENGTH_HEADER),
            total.to_string(),
        ),
    ];
    Ok((headers, bytes).into_response())
}

async fn job_challenge(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ChallengeResponse>, Failure> {
    state.jobs.authorize(&id, authorization(&headers))?;
    let request: ChallengeRequest = parse_body(body)?;
    Ok(Json(state.jobs.challenge(&id, request).await?))
}

async fn capability_challenge(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CapabilityCommitment>, Failure> {
    let challenge: CapabilityChallenge = parse_body(body)?;
    Ok(Json(state.jobs.capability(challenge).await?))
}

/// Serves `router` on `listener` until `shutdown` completes. HTTP/1.1 with
/// keep-alive, `TCP_NODELAY`, and without the automatic `Date` header.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => spawn_connection(stream, router.clone()),
                Err(err) => eprintln!("accept failed: {err}"),
            },
            _ = &mut shutdown => break,
        }
    }
}

fn spawn_connection(stream: tokio::net::TcpStream, router: Router) {
    // Small request/response exchanges: send each answer at once instead of
    // letting Nagle's algorithm hold its tail until the client acknowledges
    // the head (up to a delayed-ACK timeout, 40 ms on Linux).
    if let Err(err) = stream.set_nodelay(true) {
        eprintln!("could not set TCP_NODELAY: {err}");
    }
    let service = hyper_util::service::TowerToHyperService::new(router);
    tokio::spawn(async move {
        let connection = hyper::server::conn::http1::Builder::new()
            .auto_date_header(false)
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        if let Err(err) = connection.await {
            if !err.is_incomplete_message() {
                eprintln!("connection error: {err}");
            }
        }
    });
}
