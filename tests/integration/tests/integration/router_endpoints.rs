//! Every router endpoint's typed errors for bad callers and bad input, the
//! metrics and logs page, and the outcall transform.

use candid::Principal;
use ic_management_canister_types::{HttpHeader, HttpRequestResult, TransformArgs};
use tensormine_core::http::{HttpRequest, HttpResponse};
use tensormine_core::router::*;
use tensormine_integration_tests::market::*;
use tensormine_integration_tests::worker::LoopbackWorker;
use tensormine_integration_tests::{controller, stranger};

fn q<R: candid::CandidType + for<'de> candid::Deserialize<'de>>(
    m: &mut Market,
    who: Principal,
    method: &str,
    arg: impl candid::utils::ArgumentEncoder,
) -> R {
    let (r,): (R,) = m.net.query_candid(m.router, who, method, arg).unwrap();
    r
}

#[test]
fn endpoints_answer_typed_errors_and_serve_metrics() {
    let mut m = Market::new(vec![LoopbackWorker::start(90, None)], test_config());
    let bad = {
        let mut r = matmul_request(8, Tier::None, 10_000);
        r.deadline_secs = 0;
        r
    };
    let quote: Result<Quote, QuoteError> = q(&mut m, stranger(), "quote", (bad,));
    assert!(matches!(
        quote,
        Err(QuoteError::InvalidSpec(SpecError::InvalidDeadline { .. }))
    ));
    let missing = "job-999".to_string();
    let r: Result<JobView, GetJobError> = q(&mut m, developer(), "get_job", (missing.clone(),));
    assert_eq!(r.unwrap_err(), GetJobError::NotFound);
    let r: Result<ReceiptProofView, ReceiptError> =
        q(&mut m, stranger(), "get_receipt", (missing.clone(),));
    assert_eq!(r.unwrap_err(), ReceiptError::NotFound);
    let r: Result<ResultChunk, ResultError> = q(
        &mut m,
        developer(),
        "get_result",
        (missing.clone(), 0u64, 1u64),
    );
    assert_eq!(r.unwrap_err(), ResultError::NotFound);
    let (r,): (Result<JobView, CancelError>,) = m
        .net
        .update_candid(m.router, developer(), "cancel_job", (missing,))
        .unwrap();
    assert_eq!(r.unwrap_err(), CancelError::NotFound);

    // 256³: a 256 KiB result, over the 64 KiB the router stores.
    let job = m.submit(&matmul_request(256, Tier::None, 10_000)).unwrap();
    let r: Result<ResultChunk, ResultError> = q(
        &mut m,
        developer(),
        "get_result",
        (job.id.clone(), 0u64, 1u64),
    );
    assert!(matches!(r.unwrap_err(), ResultError::NotReady { .. }));
    let r: Result<ReceiptProofView, ReceiptError> =
        q(&mut m, stranger(), "get_receipt", (job.id.clone(),));
    assert!(matches!(r.unwrap_err(), ReceiptError::NotSettled { .. }));
    let done = m.run_until_final(&job.id, 60);
    assert_eq!(done.stored_result_bytes, 0);
    let r: Result<ResultChunk, ResultError> = q(
        &mut m,
        developer(),
        "get_result",
        (job.id.clone(), 0u64, 1u64),
    );
    let ResultError::NotStored {
        endpoint,
        byte_len,
        worker_job_id,
        capability,
    } = r.unwrap_err()
    else {
        panic!()
    };
    assert_eq!(
        (endpoint.as_str(), byte_len),
        (m.workers[0].url.as_str(), 256 * 256 * 4)
    );
    // The worker-side id: the router's id and 64 unguessable bits; the
    // capability: 256 bits (told to the submitter only, once verified).
    let suffix = worker_job_id.strip_prefix(&format!("{}-", job.id)).unwrap();
    assert_eq!(suffix.len(), 16);
    assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(capability.len(), 64);
    assert!(!m
        .job(&job.id)
        .assignments
        .iter()
        .any(|a| format!("{a:?}").contains(&capability)));

    let small = m.submit(&matmul_request(8, Tier::None, 10_000)).unwrap();
    m.run_until_final(&small.id, 60);
    let r: Result<ResultChunk, ResultError> = q(
        &mut m,
        developer(),
        "get_result",
        (small.id.clone(), 256u64, 1u64),
    );
    assert_eq!(r.unwrap_err(), ResultError::OutOfRange { byte_len: 256 });
    let r: Result<ResultChunk, ResultError> = q(
        &mut m,
        developer(),
        "get_result",
        (small.id.clone(), 250u64, 100u64),
    );
    assert_eq!(r.unwrap().bytes.len(), 6, "a chunk stops at the end");

    let (r,): (Result<Config, ConfigError>,) = m
        .net
        .update_candid(
            m.router,
            controller(),
            "set_config",
            (ConfigUpdate {
                fee_ppm: Some(2_000_000),
                ..Default::default()
            },),
        )
        .unwrap();
    assert!(
        matches!(r.unwrap_err(), ConfigError::Invalid { reason } if reason.contains("fee_ppm"))
    );

    let page = |m: &mut Market, url: &str| -> HttpResponse {
        let request = HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: vec![],
            body: Default::default(),
        };
        q(m, stranger(), "http_request", (request,))
    };
    let metrics = String::from_utf8(page(&mut m, "/metrics").body.into_vec()).unwrap();
    assert!(metrics.contains("\nrouter_jobs_total 2\n"), "{metrics}");
    assert!(
        metrics.contains("\nrouter_jobs_settled_total 2\n"),
        "{metrics}"
    );
    assert!(metrics.contains("router_stable_memory_bytes"), "{metrics}");
    let logs = String::from_utf8(page(&mut m, "/logs?limit=5").body.into_vec()).unwrap();
    assert_eq!(logs.lines().count(), 5, "{logs}");
    assert!(logs.lines().all(|l| l.starts_with('{')));
    assert_eq!(page(&mut m, "/nope").status_code, 404);
    let events: Vec<candid::Reserved> = q(&mut m, stranger(), "get_events", (0u64, 3u64));
    assert_eq!(events.len(), 3);

    let transformed: HttpRequestResult = q(
        &mut m,
        Principal::management_canister(),
        "transform_body",
        (TransformArgs {
            response: HttpRequestResult {
                status: 200u32.into(),
                headers: vec![
                    HttpHeader {
                        name: "date".into(),
                        value: "today".into(),
                    },
                    HttpHeader {
                        name: "X-Tensormine-Result-Length".into(),
                        value: "7".into(),
                    },
                ],
                body: b"abc".to_vec(),
            },
            context: vec![],
        },),
    );
    assert_eq!(
        transformed.headers.len(),
        1,
        "only the result length is kept"
    );
    assert_eq!(transformed.body, b"abc");
}
