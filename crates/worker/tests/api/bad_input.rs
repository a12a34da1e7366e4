//! Bad input gets a named 4xx and leaves the worker serving.

use super::*;

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
        capability: None,
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
