//! A job's life: identity, admission, download, challenge, and restarts.

use super::*;
use std::time::Duration;

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

/// A job posted with a capability answers its status and result only to
/// requests that carry it; nobody can take its id over with another one
/// (job-id squatting) or read it without it (fetch-then-cancel).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_a_capability_answers_only_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = TestWorker::start(dir.path(), None);
    let mut request = matmul_request("job-7-0123456789abcdef", 8, 6, 5);
    request.capability = Some("ab".repeat(32));
    let ack = w.post("/v1/jobs", &request).await;
    assert_eq!(ack.0, StatusCode::OK, "{}", String::from_utf8_lossy(&ack.1));
    let good = tensormine_core::api::bearer(&"ab".repeat(32));
    let status_uri = "/v1/jobs/job-7-0123456789abcdef";
    // Without, or with another capability: 401 for the status and the result.
    for uri in [status_uri.to_string(), format!("{status_uri}/result")] {
        expect_error(
            w.get(&uri).await,
            StatusCode::UNAUTHORIZED,
            "capability_required",
        );
        expect_error(
            w.get_with(&uri, "Bearer nope").await,
            StatusCode::UNAUTHORIZED,
            "capability_required",
        );
    }
    // The same id under another capability, or none: a conflict.
    let mut squat = request.clone();
    squat.capability = Some("cd".repeat(32));
    expect_error(
        w.post("/v1/jobs", &squat).await,
        StatusCode::CONFLICT,
        "job_id_conflict",
    );
    squat.capability = None;
    expect_error(
        w.post("/v1/jobs", &squat).await,
        StatusCode::CONFLICT,
        "job_id_conflict",
    );
    // With it, everything works as without capabilities.
    for _ in 0..6000 {
        let (code, body) = w.get_with(status_uri, &good).await;
        assert_eq!(code, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let job: JobStatus = serde_json::from_slice(&body).unwrap();
        if job.state == JobState::Done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (code, bytes) = w.get_with(&format!("{status_uri}/result"), &good).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(bytes.len(), 8 * 5 * 4);
    // The repeated post with the same capability is the same acknowledgement.
    assert_eq!(w.post("/v1/jobs", &request).await, ack);
}
