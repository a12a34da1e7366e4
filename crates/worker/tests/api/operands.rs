//! Operands given inline or by URL: checked against their size and sha256.

use super::*;

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
        capability: None,
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
        capability: None,
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
        capability: None,
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
        capability: None,
    };
    assert_eq!(
        w.post("/v1/jobs", &inline("inline-ok", a_values.clone()))
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
