//! Challenges: a cheating worker caught, reply size limits, capability challenges.

use super::*;

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
