//! HTTPS outcalls (`http_request`) as the IC performs and limits them.
//!
//! The management canister validates a request before it is issued ([`validate`],
//! reject code `CANISTER_REJECT`, the IC's messages); the node's HTTP adapter then
//! performs it ([`LiveClient`]) without following redirects and counts the response
//! against `max_response_bytes` as header names and values plus body, rejecting an
//! oversized one with `SYS_FATAL`. Mocked responses get the same size check through
//! [`enforce_response_limit`]. Transforms are the executor's business (they run Wasm).

use std::time::Duration;

use ic_error_types::RejectCode;
use ic_management_canister_types::{HttpHeader, HttpMethod, HttpRequestArgs, HttpRequestResult};

/// Longest URL accepted, in bytes.
pub const MAX_URL_SIZE: usize = 8192;
/// Most request headers accepted.
pub const MAX_HEADER_NUM: usize = 64;
/// Longest header name or value accepted, in bytes.
pub const MAX_HEADER_NAME_VALUE_LENGTH: usize = 8 * 1024;
/// Largest total of request header names and values, in bytes.
pub const MAX_HEADER_TOTAL_SIZE: usize = 48 * 1024;
/// Largest total of request headers and body, in bytes.
pub const MAX_REQUEST_BYTES: usize = 2_000_000;
/// Largest (and default) `max_response_bytes`.
pub const MAX_RESPONSE_BYTES: u64 = 2_000_000;
/// The adapter's default `User-Agent`, sent when the canister gives none.
pub const USER_AGENT: &str = "ic/1.0";

/// A rejected outcall: the reject code and message the canister sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct OutcallError {
    /// The reject code.
    pub code: RejectCode,
    /// The reject message.
    pub message: String,
}

impl OutcallError {
    fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn rejected(message: impl Into<String>) -> Self {
        Self::new(RejectCode::CanisterReject, message)
    }
}

/// The request size the IC prices: URL, header names and values, body, and the
/// transform's method name and context.
pub fn request_size(args: &HttpRequestArgs) -> u64 {
    let transform = args
        .transform
        .as_ref()
        .map_or(0, |t| t.function.0.method.len() + t.context.len());
    let body = args.body.as_ref().map_or(0, Vec::len);
    (args.url.len() + headers_size(&args.headers) + body + transform) as u64
}

fn headers_size(headers: &[HttpHeader]) -> usize {
    headers.iter().map(|h| h.name.len() + h.value.len()).sum()
}

/// The response limit of a request: `max_response_bytes`, or 2 MB when absent.
pub fn response_limit(args: &HttpRequestArgs) -> u64 {
    args.max_response_bytes.unwrap_or(MAX_RESPONSE_BYTES)
}

/// The checks the IC makes before issuing the request, in its order and wording.
/// `allow_plain_http` lets `http://` URLs through (the IC allows only https).
pub fn validate(args: &HttpRequestArgs, allow_plain_http: bool) -> Result<(), OutcallError> {
    if let Some(given) = args.max_response_bytes.filter(|b| *b > MAX_RESPONSE_BYTES) {
        return Err(OutcallError::rejected(format!(
            "max_response_bytes expected to be in the range [0..{MAX_RESPONSE_BYTES}], got {given}"
        )));
    }
    if args.url.len() > MAX_URL_SIZE {
        return Err(OutcallError::rejected(format!(
            "url size {} exceeds {MAX_URL_SIZE}",
            args.url.len()
        )));
    }
    validate_headers(&args.headers)?;
    let total = headers_size(&args.headers) + args.body.as_ref().map_or(0, Vec::len);
    if total > MAX_REQUEST_BYTES {
        return Err(OutcallError::rejected(format!(
            "total number of bytes to represent all http header names and values and http body \
             {total} exceeds {MAX_REQUEST_BYTES}"
        )));
    }
    validate_method(args)?;
    validate_scheme(&args.url, allow_plain_http)
}

fn validate_headers(headers: &[HttpHeader]) -> Result<(), OutcallError> {
    if headers.len() > MAX_HEADER_NUM {
        return Err(OutcallError::rejected(format!(
            "number of all http headers {} exceeds {MAX_HEADER_NUM}",
            headers.len()
        )));
    }
    for h in headers {
        for (what, len) in [("name", h.name.len()), ("value", h.value.len())] {
            if len > MAX_HEADER_NAME_VALUE_LENGTH {
                return Err(OutcallError::rejected(format!(
                    "number of bytes to represent some http header {what} {len} exceeds \
                     {MAX_HEADER_NAME_VALUE_LENGTH}"
                )));
            }
        }
    }
    let total = headers_size(headers);
    if total > MAX_HEADER_TOTAL_SIZE {
        return Err(OutcallError::rejected(format!(
            "total number of bytes to represent all http header names and values {total} \
             exceeds {MAX_HEADER_TOTAL_SIZE}"
        )));
    }
    Ok(())
}

/// Non-idempotent methods other than POST would run once per node if replicated, so
/// the IC only allows them in non-replicated outcalls.
fn validate_method(args: &HttpRequestArgs) -> Result<(), OutcallError> {
    let replicated = args.is_replicated != Some(false);
    let needs_single_node = matches!(
        args.method,
        HttpMethod::PUT | HttpMethod::DELETE | HttpMethod::PATCH
    );
    if replicated && needs_single_node {
        return Err(OutcallError::rejected(
            "The requested HTTP method is only allowed for non-replicated requests.",
        ));
    }
    Ok(())
}

/// The adapter refuses anything but https (`SYS_FATAL`).
fn validate_scheme(url: &str, allow_plain_http: bool) -> Result<(), OutcallError> {
    let lower = url.to_ascii_lowercase();
    let ok = lower.starts_with("https://") || (allow_plain_http && lower.starts_with("http://"));
    if ok {
        Ok(())
    } else {
        Err(OutcallError::new(
            RejectCode::SysFatal,
            "Url needs to specify https scheme",
        ))
    }
}

/// Checks a response (real or mocked) against the request's `max_response_bytes`, as the
/// adapter counts it: header names and values, then the body.
pub fn enforce_response_limit(
    args: &HttpRequestArgs,
    response: &HttpRequestResult,
) -> Result<(), OutcallError> {
    let limit = response_limit(args);
    let headers = headers_size(&response.headers) as u64;
    let body_budget = limit
        .checked_sub(headers)
        .ok_or_else(|| header_too_large(limit))?;
    if response.body.len() as u64 > body_budget {
        return Err(body_too_large(limit));
    }
    Ok(())
}

fn header_too_large(limit: u64) -> OutcallError {
    OutcallError::new(
        RejectCode::SysFatal,
        format!("Header size exceeds specified response size limit {limit}"),
    )
}

fn body_too_large(limit: u64) -> OutcallError {
    OutcallError::new(
        RejectCode::SysFatal,
        format!("Http body exceeds size limit of {limit} bytes."),
    )
}

/// Performs outcalls against the real network (or loopback), blocking.
#[derive(Debug, Clone)]
pub struct LiveClient {
    /// Deadline for the whole exchange (connect, send, receive).
    pub timeout: Duration,
    /// Whether `http://` URLs are allowed (useful for local workers; the IC refuses them).
    pub allow_plain_http: bool,
}

impl Default for LiveClient {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            allow_plain_http: false,
        }
    }
}

impl LiveClient {
    /// Validates and performs `args`, returning the raw (untransformed) response.
    pub fn perform(&self, args: &HttpRequestArgs) -> Result<HttpRequestResult, OutcallError> {
        validate(args, self.allow_plain_http)?;
        let request = self.build_request(args)?;
        let agent = self.agent();
        let sent = match &args.body {
            Some(body) => agent.run(request.body(body.as_slice())?),
            None => agent.run(request.body(())?),
        };
        let response = sent.map_err(|e| connect_failed(&args.url, &e))?;
        read_response(response, response_limit(args))
    }

    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            // The IC hands 3xx responses to the canister instead of following them.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            .accept(ureq::config::AutoHeaderValue::None)
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            .build()
            .new_agent()
    }

    fn build_request(
        &self,
        args: &HttpRequestArgs,
    ) -> Result<ureq::http::request::Builder, OutcallError> {
        let mut builder = ureq::http::Request::builder()
            .method(method_name(args.method))
            .uri(&args.url);
        for h in &args.headers {
            builder = builder.header(&h.name, &h.value);
        }
        Ok(builder)
    }
}

impl From<ureq::http::Error> for OutcallError {
    /// A request the HTTP library cannot even build (bad URL, header) is rejected as the
    /// adapter rejects unparsable requests.
    fn from(e: ureq::http::Error) -> Self {
        OutcallError::new(
            RejectCode::SysFatal,
            format!("Failed to build request: {e}"),
        )
    }
}

fn method_name(method: HttpMethod) -> &'static str {
    match method {
        HttpMethod::GET => "GET",
        HttpMethod::HEAD => "HEAD",
        HttpMethod::POST => "POST",
        HttpMethod::PUT => "PUT",
        HttpMethod::DELETE => "DELETE",
        HttpMethod::PATCH => "PATCH",
    }
}

/// Transport failures are transient, worded like the adapter's
/// `Connecting to <host> failed: <error>`.
fn connect_failed(url: &str, e: &ureq::Error) -> OutcallError {
    let host = ureq::http::Uri::try_from(url)
        .ok()
        .and_then(|u| u.host().map(str::to_string))
        .unwrap_or_default();
    let host: String = host.chars().take(50).collect();
    OutcallError::new(
        RejectCode::SysTransient,
        format!("Connecting to {host} failed: {e}"),
    )
}

fn read_response(
    mut response: ureq::http::Response<ureq::Body>,
    limit: u64,
) -> Result<HttpRequestResult, OutcallError> {
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = value.to_str().map_err(|e| {
                OutcallError::new(
                    RejectCode::SysTransient,
                    format!("Failed to parse headers: {e}"),
                )
            })?;
            Ok(HttpHeader {
                name: name.to_string(),
                value: value.to_string(),
            })
        })
        .collect::<Result<Vec<_>, OutcallError>>()?;
    let header_bytes = headers_size(&headers) as u64;
    let budget = limit
        .checked_sub(header_bytes)
        .ok_or_else(|| header_too_large(limit))?;
    let body = response
        .body_mut()
        .with_config()
        .limit(budget)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => body_too_large(limit),
            other => OutcallError::new(
                RejectCode::SysTransient,
                format!("Failed to fetch body: {other}"),
            ),
        })?;
    Ok(HttpRequestResult {
        status: response.status().as_u16().into(),
        headers,
        body,
    })
}

#[cfg(test)]
mod tests;
