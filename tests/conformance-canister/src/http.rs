//! HTTPS outcalls and their transform functions.

use crate::types::{RejectInfo, Transform};
use ic_cdk::{query, update};
use ic_cdk_management_canister::{
    transform_context_from_query, HttpHeader, HttpRequest, HttpRequestResult, TransformArgs,
};

/// The URL `never_replies` parks on; answer (or never answer) it in localnet's mock mode.
const NEVER_ANSWERED_URL: &str = "https://never-answered.invalid/";

fn with_transform(request: HttpRequest, transform: Transform) -> HttpRequest {
    let (method, context) = match transform {
        Transform::None => return request,
        Transform::StripHeaders => ("transform_strip_headers", b"strip".to_vec()),
        Transform::KeepHeaders => ("transform_keep_headers", b"keep".to_vec()),
    };
    request.with_transform(transform_context_from_query(method.to_string(), context))
}

/// A replicated GET outcall (pricing version 2, cycles from ic0.cost_http_request_v2).
#[update]
async fn http_get(
    url: String,
    max_response_bytes: Option<u64>,
    transform: Transform,
) -> Result<HttpRequestResult, RejectInfo> {
    let mut request = with_transform(HttpRequest::new(url), transform);
    if let Some(max) = max_response_bytes {
        request = request.with_max_response_bytes(max);
    }
    Ok(request.send().await?)
}

/// Drops every response header.
#[query]
fn transform_strip_headers(args: TransformArgs) -> HttpRequestResult {
    HttpRequestResult {
        headers: Vec::new(),
        ..args.response
    }
}

/// Keeps every header and appends `x-transform-context: <context>`, proving it ran.
#[query]
fn transform_keep_headers(args: TransformArgs) -> HttpRequestResult {
    let mut response = args.response;
    response.headers.push(HttpHeader {
        name: "x-transform-context".to_string(),
        value: String::from_utf8_lossy(&args.context).into_owned(),
    });
    response
}

/// Keeps its call context open on an outcall to NEVER_ANSWERED_URL: it replies only if that
/// outcall is answered, so in mock mode it never replies unless the test answers.
#[update]
async fn never_replies() -> Result<u64, RejectInfo> {
    let result = HttpRequest::new(NEVER_ANSWERED_URL)
        .with_max_response_bytes(1024)
        .send()
        .await?;
    Ok(result.body.len() as u64)
}
