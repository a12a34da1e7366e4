//! API contract, idempotency, signatures, Merkle proofs, Freivalds over the
//! worker's own output, a cheating worker caught by the challenge, bad input,
//! persistence across restarts and byte-determinism on the wire.

mod common;

use axum::http::StatusCode;
use common::*;
use std::sync::Arc;
use tensormine_core::api::*;
use tensormine_core::encoding::f32_from_le_bytes;
use tensormine_core::merkle::RowMerkleTree;
use tensormine_core::prng::{self, STREAM_A, STREAM_B};
use tensormine_core::signing::{spec_hash, verify_result};
use tensormine_core::verify::{
    check_rows, freivalds, mat_vec_f64, seeded_rows, SampledRow, Tolerance,
};
use tensormine_core::Digest32;
use tensormine_worker::store::{JobRecord, JobStore};
use tensormine_worker::workloads::{Executor, ProgressFn, ResultMatrix, WorkItem, Workloads};

fn matmul_request(job_id: &str, m: u32, k: u32, n: u32) -> JobRequest {
    JobRequest {
        job_id: job_id.into(),
        spec: JobSpec::Matmul(MatmulSpec {
            m,
            k,
            n,
            a: seeded(1),
            b: seeded(2),
        }),
    }
}

fn real_executor(config: &tensormine_worker::config::Config) -> Workloads {
    tensormine_worker::real_workloads(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_identity_and_is_stable_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let w = TestWorker::start(dir.path(), None);
    let first = w.get("/v1/health").await;
    assert_eq!(first.0, StatusCode::OK);
    let health: Health = serde_json::from_slice(&first.1).unwrap();
    assert_eq!(health.public_key, test_key().public_key());
    assert_eq!(health.public_key.0.len(), 32);
    assert_eq!(health.workloads, vec![Workload::Matmul, Workload::Embed]);
    assert!(health.inventory.cpu.cores >= 1);
    assert_eq!(health.load, Load::default());
    assert_eq!(
        w.get("/v1/health").await,
        first,
        "identical requests must read identical bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matmul_job_is_idempotent_signed_downloadable_and_challengeable() {
    let dir = tempfile::tempdir().unwrap();
    let w = TestWorker::start(dir.path(), None);
    let request = matmul_request("job-1", 70, 48, 33);

    let ack = w.post("/v1/jobs", &request).await;
    assert_eq!(ack.0, StatusCode::OK, "{}", String::from_utf8_lossy(&ack.1));
    assert_eq!(
        w.post("/v1/jobs", &request).await,
        ack,
        "same body, same acknowledgement bytes"
    );
    let parsed: JobAck = serde_json::from_slice(&ack.1).unwrap();
    assert_eq!(parsed.spec_hash, spec_hash(&request.spec));

    let conflicting = matmul_request("job-1", 70, 48, 34);
    let message = expect_error(
        w.post("/v1/jobs", &conflicting).await,
        StatusCode::CONFLICT,
        "job_id_conflict",
    );
    assert!(message.contains("job-1"), "{message}");

    let status = w.wait_final("job-1").await;
    assert_eq!(status.state, JobState::Done, "{:?}", status.error);
    assert_eq!(w.get("/v1/jobs/job-1").await, w.get("/v1/jobs/job-1").await);
    assert_eq!(
        w.post("/v1/jobs", &request).await,
        ack,
        "still the same acknowledgement once done"
    );
    let signed = status.result.clone().unwrap();
    let key = test_key().public_key();
    verify_result(
        &key.0,
        "job-1",
        &status.spec_hash,
        &signed.commitment,
        &signed.signature.0,
    )
    .unwrap();
    assert_eq!(
        (
            signed.commitment.rows,
            signed.commitment.cols,
            signed.commitment.byte_len
        ),
        (70, 33, 70 * 33 * 4)
    );

    // Download in small chunks and check against the commitment.
    let mut bytes = Vec::new();
    while (bytes.len() as u64) < signed.commitment.byte_len {
        let (code, chunk) = w
            .get(&format!(
                "/v1/jobs/job-1/result?offset={}&length=1000",
                bytes.len()
            ))
            .await;
        assert_eq!(code, StatusCode::OK);
        assert!(!chunk.is_empty() && chunk.len() <= 1000);
        bytes.extend(chunk);
    }
    assert_eq!(Digest32::sha256(&bytes), signed.commitment.sha256);
    let c = f32_from_le_bytes(&bytes).unwrap();
    assert_eq!(
        RowMerkleTree::from_matrix(&c, 33).root(),
        signed.commitment.merkle_root
    );

    // Freivalds over the worker's own output.
    let JobSpec::Matmul(spec) = &request.spec else {
        unreachable!()
    };
    let shape = spec.shape();
    let r = prng::challenge_vector(&[9; 32], shape.n);
    let y = mat_vec_f64(&c, shape.n, &r);
    freivalds(
        shape,
        seeded_rows([1; 32], STREAM_A, shape.k),
        seeded_rows([2; 32], STREAM_B, shape.n),
        &r,
        &y,
        &Tolerance::default(),
    )
    .unwrap();

    // The challenge endpoint, verified as a canister would; answers are byte-stable.
    let challenge = ChallengeRequest {
        r_seed: Digest32([9; 32]),
        rows: vec![0, 17, 69, 17],
    };
    let answer = w.post("/v1/jobs/job-1/challenge", &challenge).await;
    assert_eq!(
        answer.0,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer.1)
    );
    assert_eq!(w.post("/v1/jobs/job-1/challenge", &challenge).await, answer);
    let parsed: ChallengeResponse = serde_json::from_slice(&answer.1).unwrap();
    assert_eq!(parsed.y.0, y, "the worker's y is C·r over the committed C");
    canister_verify(&key.0, &request.spec, &status, [9; 32], &parsed).unwrap();
}

/// A test double that runs the real workload, then corrupts some rows of C
/// before the worker commits to it: a miner that cheats on part of the work.
struct CorruptRows {
    inner: Workloads,
    rows: Vec<usize>,
}

impl Executor for CorruptRows {
    fn run(&self, item: WorkItem, progress: ProgressFn<'_>) -> anyhow::Result<ResultMatrix> {
        let mut result = self.inner.run(item, progress)?;
        for &row in &self.rows {
            result.data[row * result.cols + 1] += 0.75;
        }
        Ok(result)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_corrupting_rows_is_caught_by_the_challenge() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let cheat = Arc::new(CorruptRows {
        inner: real_executor(&config),
        rows: vec![5, 40],
    });
    let w = TestWorker::with_config(config, Some(cheat));
    let request = matmul_request("cheat", 64, 256, 48);
    assert_eq!(w.post("/v1/jobs", &request).await.0, StatusCode::OK);
    let status = w.wait_final("cheat").await;
    assert_eq!(status.state, JobState::Done);

    let JobSpec::Matmul(spec) = &request.spec else {
        unreachable!()
    };
    let shape = spec.shape();
    let tolerance = Tolerance::for_inner_dim(shape.k);
    let challenge = |rows: Vec<u64>| ChallengeRequest {
        r_seed: Digest32([3; 32]),
        rows,
    };
    let key = test_key().public_key();

    // Opening a corrupted row: its Merkle path is valid (the worker committed
    // to the bad data), but recomputing the row exposes it.
    let (_, body) = w
        .post("/v1/jobs/cheat/challenge", &challenge(vec![2, 40]))
        .await;
    let answer: ChallengeResponse = serde_json::from_slice(&body).unwrap();
    let samples: Vec<SampledRow> = answer
        .rows
        .iter()
        .map(|row| SampledRow {
            index: row.index as usize,
            a_row: prng::matrix_row(&[1; 32], STREAM_A, shape.k, row.index as usize),
            claimed: row.values.0.clone(),
        })
        .collect();
    let err = check_rows(
        shape,
        &samples,
        seeded_rows([2; 32], STREAM_B, shape.n),
        &tolerance,
    )
    .unwrap_err();
    assert!(err.to_string().contains("row 40, column 1"), "{err}");

    // Sampling only honest rows: the row check passes, Freivalds still fails on row 5.
    let (_, body) = w
        .post("/v1/jobs/cheat/challenge", &challenge(vec![0, 1]))
        .await;
    let answer: ChallengeResponse = serde_json::from_slice(&body).unwrap();
    let err = freivalds(
        shape,
        seeded_rows([1; 32], STREAM_A, shape.k),
        seeded_rows([2; 32], STREAM_B, shape.n),
        &prng::challenge_vector(&[3; 32], shape.n),
        &answer.y.0,
        &tolerance,
    )
    .unwrap_err();
    assert!(err.to_string().contains("row 5"), "{err}");
    assert!(canister_verify(&key.0, &request.spec, &status, [3; 32], &answer).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_named_4xx_and_the_worker_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let w = TestWorker::start(dir.path(), None);
    let post_raw = |body: &str| w.call("POST", "/v1/jobs", Some(body.as_bytes().to_vec()));

    expect_error(
        post_raw("{\"job_id\": ").await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    );
    let msg = expect_error(
        post_raw(r#"{"job_id":"x","spec":{"workload":"train","epochs":1}}"#).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_workload",
    );
    assert!(msg.contains("train"), "{msg}");
    expect_error(
        post_raw(r#"{"job_id":"x","spec":{"workload":"matmul","m":1}}"#).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    let msg = expect_error(
        w.post(
            "/v1/jobs",
            &matmul_request("big", 100_000, 100_000, 100_000),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "dimensions_too_large",
    );
    assert!(msg.contains("100000"), "{msg}");
    expect_error(
        w.post("/v1/jobs", &matmul_request("zero", 0, 4, 4)).await,
        StatusCode::BAD_REQUEST,
        "invalid_dimensions",
    );
    expect_error(
        w.post("/v1/jobs", &matmul_request("../etc", 4, 4, 4)).await,
        StatusCode::BAD_REQUEST,
        "invalid_job_id",
    );
    let oversized = format!(
        r#"{{"job_id":"x","spec":{{"workload":"embed","model":"{}","sentences":["{}"]}}}}"#,
        "00".repeat(32),
        "a".repeat(300 * 1024)
    );
    expect_error(
        post_raw(&oversized).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "unreadable_body",
    );
    let unknown_model = JobRequest {
        job_id: "e".into(),
        spec: JobSpec::Embed(EmbedSpec {
            model: Digest32([7; 32]),
            sentences: vec!["hi".into()],
        }),
    };
    let msg = expect_error(
        w.post("/v1/jobs", &unknown_model).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_model",
    );
    assert!(msg.contains(&"07".repeat(32)), "{msg}");

    let challenge = ChallengeRequest {
        r_seed: Digest32([1; 32]),
        rows: vec![0],
    };
    let msg = expect_error(
        w.post("/v1/jobs/nope/challenge", &challenge).await,
        StatusCode::NOT_FOUND,
        "unknown_job",
    );
    assert!(msg.contains("nope"));
    expect_error(
        w.get("/v1/jobs/nope").await,
        StatusCode::NOT_FOUND,
        "unknown_job",
    );
    expect_error(
        w.get("/v1/jobs/nope/result").await,
        StatusCode::NOT_FOUND,
        "unknown_job",
    );
    expect_error(
        w.get("/v1/nothing").await,
        StatusCode::NOT_FOUND,
        "unknown_route",
    );

    assert_eq!(
        w.post("/v1/jobs", &matmul_request("ok", 8, 8, 8)).await.0,
        StatusCode::OK
    );
    assert_eq!(w.wait_final("ok").await.state, JobState::Done);
    expect_error(
        w.post(
            "/v1/jobs/ok/challenge",
            &ChallengeRequest {
                r_seed: Digest32([1; 32]),
                rows: vec![8],
            },
        )
        .await,
        StatusCode::BAD_REQUEST,
        "row_out_of_range",
    );
    let many = ChallengeRequest {
        r_seed: Digest32([1; 32]),
        rows: vec![0; 200_000],
    };
    expect_error(
        w.call(
            "POST",
            "/v1/jobs/ok/challenge",
            Some(serde_json::to_vec(&many).unwrap()),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "unreadable_body",
    );
    expect_error(
        w.get("/v1/jobs/ok/result?length=3000000").await,
        StatusCode::BAD_REQUEST,
        "chunk_too_large",
    );
    expect_error(
        w.get("/v1/jobs/ok/result?offset=100000").await,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "offset_out_of_range",
    );
    expect_error(
        w.get("/v1/jobs/ok/result?offset=-1").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_eq!(w.get("/v1/health").await.0, StatusCode::OK, "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_challenge_rows_for_one_reply_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.max_body_bytes = 4 << 20;
    let w = TestWorker::with_config(config, None);
    assert_eq!(
        w.post("/v1/jobs", &matmul_request("wide", 600, 4, 1024))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(w.wait_final("wide").await.state, JobState::Done);
    let rows = (0..400).collect();
    let msg = expect_error(
        w.post(
            "/v1/jobs/wide/challenge",
            &ChallengeRequest {
                r_seed: Digest32([1; 32]),
                rows,
            },
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_rows",
    );
    assert!(msg.contains("400 rows"), "{msg}");
}

async fn serve_bytes(bytes: Vec<u8>) -> String {
    let app = axum::Router::new().route(
        "/a.bin",
        axum::routing::get(move || async move { bytes.clone() }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/a.bin")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_operands_are_checked_against_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let w = TestWorker::start(dir.path(), None);
    let (m, k, n) = (6u32, 5u32, 4u32);
    // A downloaded operand equal to the seeded one must give the seeded result.
    let a_values = prng::matrix(&[1; 32], STREAM_A, m as usize, k as usize);
    let a_bytes = tensormine_core::encoding::f32_to_le_bytes(&a_values);
    let url = serve_bytes(a_bytes.clone()).await;
    let by_url = |id: &str, sha256: Digest32, n: u32| JobRequest {
        job_id: id.into(),
        spec: JobSpec::Matmul(MatmulSpec {
            m,
            k,
            n,
            a: MatrixSource::Url {
                url: url.clone(),
                sha256,
            },
            b: seeded(2),
        }),
    };
    assert_eq!(
        w.post("/v1/jobs", &by_url("url-ok", Digest32::sha256(&a_bytes), n))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        w.post("/v1/jobs", &matmul_request("seeded", m, k, n))
            .await
            .0,
        StatusCode::OK
    );
    let (via_url, via_seed) = (w.wait_final("url-ok").await, w.wait_final("seeded").await);
    assert_eq!(
        via_url.result.unwrap().commitment,
        via_seed.result.unwrap().commitment
    );

    let msg = expect_error(
        w.post("/v1/jobs", &by_url("url-bad", Digest32([0; 32]), n))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "sha256_mismatch",
    );
    assert!(msg.contains(&Digest32::sha256(&a_bytes).to_hex()), "{msg}");
    let bad_shape = JobRequest {
        job_id: "url-size".into(),
        spec: JobSpec::Matmul(MatmulSpec {
            m: m + 1,
            k,
            n,
            a: MatrixSource::Url {
                url: url.clone(),
                sha256: Digest32::sha256(&a_bytes),
            },
            b: seeded(2),
        }),
    };
    expect_error(
        w.post("/v1/jobs", &bad_shape).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "operand_size_mismatch",
    );
    let unreachable = JobRequest {
        job_id: "url-down".into(),
        spec: JobSpec::Matmul(MatmulSpec {
            m,
            k,
            n,
            a: MatrixSource::Url {
                url: "http://127.0.0.1:1/a.bin".into(),
                sha256: Digest32([0; 32]),
            },
            b: seeded(2),
        }),
    };
    expect_error(
        w.post("/v1/jobs", &unreachable).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "fetch_failed",
    );
    expect_error(
        w.get("/v1/jobs/url-bad").await,
        StatusCode::NOT_FOUND,
        "unknown_job",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_operands_give_the_seeded_result_and_are_size_checked() {
    let dir = tempfile::tempdir().unwrap();
    let w = TestWorker::start(dir.path(), None);
    let (m, k, n) = (6u32, 5u32, 4u32);
    let a_values = prng::matrix(&[1; 32], STREAM_A, m as usize, k as usize);
    let inline = |id: &str, values: Vec<f32>| JobRequest {
        job_id: id.into(),
        spec: JobSpec::Matmul(MatmulSpec {
            m,
            k,
            n,
            a: MatrixSource::Inline {
                data: tensormine_core::encoding::F32Array(values),
            },
            b: seeded(2),
        }),
    };
    assert_eq!(
        w.post("/v1/jobs", &inline("inline-ok", a_values.clone())).await.0,
        StatusCode::OK
    );
    assert_eq!(
        w.post("/v1/jobs", &matmul_request("seeded", m, k, n)).await.0,
        StatusCode::OK
    );
    let (via_inline, via_seed) = (
        w.wait_final("inline-ok").await,
        w.wait_final("seeded").await,
    );
    assert_eq!(
        via_inline.result.unwrap().commitment,
        via_seed.result.unwrap().commitment
    );
    let msg = expect_error(
        w.post("/v1/jobs", &inline("inline-short", a_values[1..].to_vec()))
            .await,
        StatusCode::BAD_REQUEST,
        "operand_size_mismatch",
    );
    assert!(msg.contains("29 values") && msg.contains("30"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_a_restart_resumed_or_reported_failed() {
    let dir = tempfile::tempdir().unwrap();
    let request = matmul_request("persist", 20, 10, 5);
    let done = {
        let w = TestWorker::start(dir.path(), None);
        assert_eq!(w.post("/v1/jobs", &request).await.0, StatusCode::OK);
        w.wait_final("persist").await
    };
    assert_eq!(done.state, JobState::Done);

    // Simulate a crash: one job was mid-run, one finished but lost its result file.
    let store = JobStore::open(dir.path().join("jobs")).unwrap();
    let interrupted = matmul_request("interrupted", 16, 16, 16);
    let record = |request: JobRequest, state| JobRecord {
        spec_hash: spec_hash(&request.spec),
        request,
        state,
        progress: Progress::default(),
        result: None,
        error: None,
    };
    store
        .save(&record(interrupted.clone(), JobState::Running))
        .unwrap();
    let lost = JobRecord {
        result: done.result.clone(),
        ..record(matmul_request("lost", 20, 10, 5), JobState::Done)
    };
    store.save(&lost).unwrap();

    let w = TestWorker::start(dir.path(), None);
    let after = w.wait_final("persist").await;
    assert_eq!(
        after, done,
        "a finished job is served unchanged after a restart"
    );
    let answer = w
        .post(
            "/v1/jobs/persist/challenge",
            &ChallengeRequest {
                r_seed: Digest32([5; 32]),
                rows: vec![3],
            },
        )
        .await;
    let answer: ChallengeResponse = serde_json::from_slice(&answer.1).unwrap();
    canister_verify(
        &test_key().public_key().0,
        &request.spec,
        &after,
        [5; 32],
        &answer,
    )
    .unwrap();

    let resumed = w.wait_final("interrupted").await;
    assert_eq!(
        resumed.state,
        JobState::Done,
        "an interrupted job is resumed"
    );
    let failed = w.wait_final("lost").await;
    assert_eq!(failed.state, JobState::Failed);
    assert!(failed.error.unwrap().contains("result lost"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capability_challenge_commits_then_answers() {
    let dir = tempfile::tempdir().unwrap();
    let w = TestWorker::start(dir.path(), None);
    let challenge = CapabilityChallenge {
        challenge_id: "cap-1".into(),
        n: 96,
        seed: Digest32([4; 32]),
        deadline_ms: 60_000,
    };
    let first = w.post("/v1/challenges", &challenge).await;
    assert_eq!(
        first.0,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&first.1)
    );
    assert_eq!(
        w.post("/v1/challenges", &challenge).await,
        first,
        "replicas read the same commitment"
    );
    let commitment: CapabilityCommitment = serde_json::from_slice(&first.1).unwrap();
    assert_eq!(commitment.job_id, "challenge:cap-1");
    let key = test_key().public_key();
    verify_result(
        &key.0,
        &commitment.job_id,
        &commitment.spec_hash,
        &commitment.result.commitment,
        &commitment.result.signature.0,
    )
    .unwrap();

    let status = w.wait_final("challenge:cap-1").await;
    let request = ChallengeRequest {
        r_seed: Digest32([8; 32]),
        rows: vec![0, 50, 95],
    };
    let (code, body) = w.post("/v1/jobs/challenge:cap-1/challenge", &request).await;
    assert_eq!(code, StatusCode::OK);
    let answer: ChallengeResponse = serde_json::from_slice(&body).unwrap();
    canister_verify(&key.0, &challenge.spec(), &status, [8; 32], &answer).unwrap();

    let hurried = CapabilityChallenge {
        challenge_id: "cap-2".into(),
        n: 512,
        seed: Digest32([4; 32]),
        deadline_ms: 0,
    };
    expect_error(
        w.post("/v1/challenges", &hurried).await,
        StatusCode::GATEWAY_TIMEOUT,
        "deadline_exceeded",
    );
    let reused = CapabilityChallenge { n: 32, ..challenge };
    expect_error(
        w.post("/v1/challenges", &reused).await,
        StatusCode::CONFLICT,
        "job_id_conflict",
    );
}

/// Raw HTTP/1.1 exchange over loopback: the whole response, headers included.
async fn raw_get(address: std::net::SocketAddr, path: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: worker\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_on_the_wire_are_byte_identical_and_undated() {
    let dir = tempfile::tempdir().unwrap();
    let w = TestWorker::start(dir.path(), None);
    assert_eq!(
        w.post("/v1/jobs", &matmul_request("wire", 8, 8, 8)).await.0,
        StatusCode::OK
    );
    w.wait_final("wire").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(tensormine_worker::http::serve(
        listener,
        w.router.clone(),
        std::future::pending(),
    ));
    for path in ["/v1/health", "/v1/jobs/wire", "/v1/jobs/wire/result"] {
        let first = raw_get(address, path).await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(raw_get(address, path).await, first, "{path}");
        let text = String::from_utf8_lossy(&first).to_lowercase();
        assert!(text.starts_with("http/1.1 200"), "{text}");
        assert!(!text.contains("\r\ndate:"), "{text}");
    }
}
