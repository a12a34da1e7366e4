//! Test harness: an in-process worker driven through its router, plus the
//! checks a canister performs on what the worker returns.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tensormine_core::api::{
    ApiError, ChallengeResponse, JobSpec, JobState, JobStatus, MatrixSource,
};
use tensormine_core::merkle::verify_row;
use tensormine_core::prng::{self, STREAM_A, STREAM_B};
use tensormine_core::signing::{spec_hash, verify_result};
use tensormine_core::verify::{check_rows, freivalds, seeded_rows, SampledRow, Tolerance};
use tensormine_worker::config::Config;
use tensormine_worker::keys::WorkerKey;
use tensormine_worker::workloads::Executor;
use tensormine_worker::Worker;
use tower::ServiceExt;

/// A worker on a data directory, called without a network.
pub struct TestWorker {
    pub worker: Worker,
    pub router: axum::Router,
    pub config: Config,
}

pub fn test_config(dir: &Path) -> Config {
    let mut config = Config::with_data_dir(dir);
    config.threads = 2;
    config.concurrency = 2;
    config.max_matrix_bytes = 64 << 20;
    config.max_body_bytes = 256 * 1024;
    config
}

pub fn test_key() -> WorkerKey {
    WorkerKey::from_signing_key(ed25519_dalek::SigningKey::from_bytes(&[42; 32]))
}

impl TestWorker {
    pub fn start(dir: &Path, executor: Option<Arc<dyn Executor>>) -> Self {
        Self::with_config(test_config(dir), executor)
    }

    pub fn with_config(config: Config, executor: Option<Arc<dyn Executor>>) -> Self {
        let worker = Worker::build(&config, test_key(), executor).expect("worker builds");
        let router = worker.router();
        Self {
            worker,
            router,
            config,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Vec<u8>) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, bytes.to_vec())
    }

    /// `GET uri` with `authorization: <value>`.
    pub async fn get_with(&self, uri: &str, authorization: &str) -> (StatusCode, Vec<u8>) {
        let request = Request::builder()
            .method("GET")
            .uri(uri)
            .header("authorization", authorization)
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, bytes.to_vec())
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Vec<u8>) {
        self.call("GET", uri, None).await
    }

    pub async fn post<T: serde::Serialize>(&self, uri: &str, body: &T) -> (StatusCode, Vec<u8>) {
        self.call("POST", uri, Some(serde_json::to_vec(body).unwrap()))
            .await
    }

    /// Polls until the job is done or failed (60 s at most).
    pub async fn wait_final(&self, job_id: &str) -> JobStatus {
        for _ in 0..6000 {
            let (status, body) = self.get(&format!("/v1/jobs/{job_id}")).await;
            assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
            let job: JobStatus = serde_json::from_slice(&body).unwrap();
            if matches!(job.state, JobState::Done | JobState::Failed) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("job {job_id} did not finish in 60 s");
    }
}

/// Asserts a 4xx/5xx with the given status and error code; returns the message.
pub fn expect_error(response: (StatusCode, Vec<u8>), status: StatusCode, code: &str) -> String {
    let (actual, body) = response;
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(actual, status, "{text}");
    let error: ApiError = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("error body is not ApiError JSON ({e}): {text}"));
    assert_eq!(error.error, code, "{text}");
    assert!(!error.message.is_empty());
    error.message
}

pub fn seeded(byte: u8) -> MatrixSource {
    MatrixSource::Seeded {
        seed: tensormine_core::Digest32([byte; 32]),
    }
}

fn seed_of(source: &MatrixSource) -> [u8; 32] {
    match source {
        MatrixSource::Seeded { seed } => seed.0,
        MatrixSource::Url { .. } | MatrixSource::Inline { .. } => {
            panic!("canister-side check needs seeded operands")
        }
    }
}

/// What a canister does with a finished, seeded matmul job and a challenge
/// answer: signature, Merkle paths, Freivalds, sampled rows.
pub fn canister_verify(
    public_key: &[u8],
    spec: &JobSpec,
    status: &JobStatus,
    r_seed: [u8; 32],
    answer: &ChallengeResponse,
) -> Result<(), String> {
    let JobSpec::Matmul(m) = spec else {
        panic!("matmul expected")
    };
    let signed = status.result.as_ref().ok_or("no result")?;
    if status.spec_hash != spec_hash(spec) {
        return Err("spec hash differs".into());
    }
    verify_result(
        public_key,
        &status.job_id,
        &status.spec_hash,
        &signed.commitment,
        &signed.signature.0,
    )
    .map_err(|e| e.to_string())?;
    let root = signed.commitment.merkle_root;
    if answer.merkle_root != root {
        return Err("challenge answer names another root".into());
    }
    let shape = m.shape();
    let (seed_a, seed_b) = (seed_of(&m.a), seed_of(&m.b));
    let mut samples = Vec::new();
    for row in &answer.rows {
        if !verify_row(&root, shape.m as u64, row.index, &row.values.0, &row.path) {
            return Err(format!("Merkle path of row {} does not verify", row.index));
        }
        let a_row = prng::matrix_row(&seed_a, STREAM_A, shape.k, row.index as usize);
        samples.push(SampledRow {
            index: row.index as usize,
            a_row,
            claimed: row.values.0.clone(),
        });
    }
    let tolerance = Tolerance::for_inner_dim(shape.k);
    let r = prng::challenge_vector(&r_seed, shape.n);
    freivalds(
        shape,
        seeded_rows(seed_a, STREAM_A, shape.k),
        seeded_rows(seed_b, STREAM_B, shape.n),
        &r,
        &answer.y.0,
        &tolerance,
    )
    .map_err(|e| e.to_string())?;
    check_rows(
        shape,
        &samples,
        seeded_rows(seed_b, STREAM_B, shape.n),
        &tolerance,
    )
    .map_err(|e| e.to_string())
}
