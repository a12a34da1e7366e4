//! HTTPS outcalls, in mock mode (the test answers) and live mode (a loopback server answers):
//! the request as the canister made it, transforms, the response size limit, rejects.

use candid::Principal;
use ic_management_canister_types::{HttpHeader, HttpMethod, HttpRequestResult};
use localnet::{Config, LocalNet, MessageId, OutcallMode, PendingOutcall, RejectCode};
use tensormine_integration_tests::loopback::{CannedResponse, LoopbackServer};
use tensormine_integration_tests::*;

const MOCK_URL: &str = "https://api.example.com/prices";

type HttpOutcome = Result<HttpRequestResult, RejectInfo>;

fn submit_http_get(
    net: &mut LocalNet,
    canister: Principal,
    url: &str,
    max_bytes: Option<u64>,
    transform: Transform,
) -> MessageId {
    net.submit_call(
        canister,
        controller(),
        "http_get",
        encode((url, max_bytes, transform)),
    )
    .expect("submitted")
}

fn the_pending_outcall(net: &mut LocalNet) -> PendingOutcall {
    net.tick();
    let mut pending = net.pending_http_outcalls();
    assert_eq!(pending.len(), 1, "exactly one outcall is held");
    pending.remove(0)
}

fn outcome(net: &mut LocalNet, id: MessageId) -> HttpOutcome {
    let reply = net.await_call(id).expect("http_get replies");
    candid::decode_one(&reply).expect("http_get's reply is Result<HttpRequestResult, RejectInfo>")
}

fn response(headers: &[(&str, &str)], body: &[u8]) -> HttpRequestResult {
    let headers = headers
        .iter()
        .map(|(name, value)| HttpHeader {
            name: name.to_string(),
            value: value.to_string(),
        })
        .collect();
    HttpRequestResult {
        status: 200u32.into(),
        headers,
        body: body.to_vec(),
    }
}

/// Mock mode: answer the single held outcall and return what the canister got.
fn mock_round_trip(
    max_bytes: Option<u64>,
    transform: Transform,
    answer: HttpRequestResult,
) -> HttpOutcome {
    let (mut net, canister) = net_with_conformance();
    let id = submit_http_get(&mut net, canister, MOCK_URL, max_bytes, transform);
    let pending = the_pending_outcall(&mut net);
    net.answer_http_outcall(pending.id, Ok(answer))
        .expect("answered");
    outcome(&mut net, id)
}

fn header<'a>(result: &'a HttpRequestResult, name: &str) -> Option<&'a str> {
    result
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

#[test]
fn held_outcall_shows_the_request_the_canister_made() {
    let (mut net, canister) = net_with_conformance();

    let _ = submit_http_get(
        &mut net,
        canister,
        MOCK_URL,
        Some(4096),
        Transform::StripHeaders,
    );
    let pending = the_pending_outcall(&mut net);

    assert_eq!(pending.canister, canister);
    assert_eq!(pending.request.url, MOCK_URL);
    assert_eq!(pending.request.max_response_bytes, Some(4096));
    assert_eq!(pending.request.method, HttpMethod::GET);
    let transform = pending.request.transform.expect("a transform is named");
    assert_eq!(transform.function.0.principal, canister);
    assert_eq!(transform.function.0.method, "transform_strip_headers");
    assert_eq!(transform.context, b"strip");
}

#[test]
fn mock_answer_goes_through_the_header_stripping_transform() {
    let answer = response(&[("x-secret", "1"), ("date", "today")], b"price: 42");

    let result = mock_round_trip(Some(4096), Transform::StripHeaders, answer).expect("a response");

    assert_eq!(result, response(&[], b"price: 42"));
}

#[test]
fn mock_answer_goes_through_the_header_keeping_transform() {
    let answer = response(&[("x-secret", "1")], b"price: 42");

    let result = mock_round_trip(Some(4096), Transform::KeepHeaders, answer).expect("a response");

    assert_eq!(
        result,
        response(
            &[("x-secret", "1"), ("x-transform-context", "keep")],
            b"price: 42"
        )
    );
}

#[test]
fn mock_answer_without_transform_arrives_unchanged() {
    let answer = response(&[("x-secret", "1")], b"price: 42");

    let result = mock_round_trip(Some(4096), Transform::None, answer.clone()).expect("a response");

    assert_eq!(result, answer);
}

#[test]
fn mock_answer_over_max_response_bytes_is_rejected() {
    let answer = response(&[], &[b'x'; 1000]);

    let reject = mock_round_trip(Some(100), Transform::None, answer).expect_err("over the limit");

    assert_eq!(reject.code, RejectCode::SysFatal as u32, "{reject:?}");
    assert!(reject.message.contains("exceeds"), "{reject:?}");
}

#[test]
fn mock_reject_reaches_the_canister_with_its_code() {
    let (mut net, canister) = net_with_conformance();
    let id = submit_http_get(&mut net, canister, MOCK_URL, None, Transform::None);
    let pending = the_pending_outcall(&mut net);

    net.answer_http_outcall(
        pending.id,
        Err((RejectCode::SysTransient, "connection refused".into())),
    )
    .expect("answered");

    let reject = outcome(&mut net, id).expect_err("rejected");
    assert_eq!(
        reject,
        RejectInfo {
            code: RejectCode::SysTransient as u32,
            message: "connection refused".into()
        }
    );
    assert_still_usable(&mut net, canister);
}

fn live_net_with_conformance() -> (LocalNet, Principal) {
    let mut net = LocalNet::with_config(Config {
        outcalls: OutcallMode::Live,
        allow_plain_http: true,
        ..Config::default()
    });
    let canister = install_conformance(&mut net);
    (net, canister)
}

fn live_http_get(url: &str, max_bytes: Option<u64>, transform: Transform) -> HttpOutcome {
    let (mut net, canister) = live_net_with_conformance();
    update(&mut net, canister, "http_get", (url, max_bytes, transform))
}

#[test]
fn live_outcall_reaches_the_loopback_server_and_transform_strips_headers() {
    let server =
        LoopbackServer::start(CannedResponse::ok("live body").with_header("x-server", "loopback"));

    let result = live_http_get(
        &server.url("/live?q=1"),
        Some(10_000),
        Transform::StripHeaders,
    )
    .expect("a response");

    assert_eq!(result, response(&[], b"live body"));
    let requests = server.requests();
    assert!(!requests.is_empty(), "the server was called");
    assert!(
        requests[0].starts_with("GET /live?q=1 HTTP/1.1\r\n"),
        "{}",
        requests[0]
    );
}

#[test]
fn live_outcall_keeps_server_headers_through_the_keeping_transform() {
    let server =
        LoopbackServer::start(CannedResponse::ok("live body").with_header("x-server", "loopback"));

    let result =
        live_http_get(&server.url("/"), Some(10_000), Transform::KeepHeaders).expect("a response");

    assert_eq!(result.status, candid::Nat::from(200u32));
    assert_eq!(header(&result, "x-server"), Some("loopback"));
    assert_eq!(header(&result, "x-transform-context"), Some("keep"));
    assert_eq!(result.body, b"live body");
}

#[test]
fn live_response_over_max_response_bytes_is_rejected() {
    let server = LoopbackServer::start(CannedResponse::ok(vec![b'x'; 5_000]));

    let reject = live_http_get(&server.url("/big"), Some(1_000), Transform::None)
        .expect_err("over the limit");

    assert_eq!(reject.code, RejectCode::SysFatal as u32, "{reject:?}");
    assert!(reject.message.contains("exceeds"), "{reject:?}");
}

#[test]
fn live_outcall_to_a_closed_port_is_rejected_and_the_net_stays_usable() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let (mut net, canister) = live_net_with_conformance();

    let outcome: HttpOutcome = update(
        &mut net,
        canister,
        "http_get",
        (
            format!("http://127.0.0.1:{closed_port}/"),
            Some(1_000u64),
            Transform::None,
        ),
    );

    let reject = outcome.expect_err("nobody listens");
    assert_eq!(reject.code, RejectCode::SysTransient as u32, "{reject:?}");
    assert_still_usable(&mut net, canister);
}
