//! What the handlers share on the HTTP side: errors as plain-text responses,
//! CBOR responses, parsing URLs and envelopes, authentication, rejects.

use crate::auth::{self, Envelope, RequestType};
use crate::cbor;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use candid::Principal;
use ciborium::value::Value;
use localnet::RejectResponse;

/// An error answered with a status code and a plain-text body naming the problem.
pub(crate) struct HttpError(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.1,
        )
            .into_response()
    }
}

pub(crate) fn bad_request(msg: impl Into<String>) -> HttpError {
    HttpError(StatusCode::BAD_REQUEST, msg.into())
}

pub(crate) fn cbor_response(status: StatusCode, value: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/cbor")],
        cbor::encode_tagged(value),
    )
        .into_response()
}

pub(crate) fn parse_principal(text: &str, what: &str) -> Result<Principal, HttpError> {
    Principal::from_text(text).map_err(|e| {
        bad_request(format!(
            "the {what} `{text}` in the URL is not a principal: {e}"
        ))
    })
}

pub(crate) fn parse_request(body: &[u8], expected: RequestType) -> Result<Envelope, HttpError> {
    let envelope = auth::parse(body).map_err(|e| {
        bad_request(format!(
            "Could not parse body as {} message: {e}",
            expected.name()
        ))
    })?;
    if envelope.content.request_type != expected {
        return Err(bad_request(format!(
            "Expected a `{}` request, got request_type `{}`",
            expected.name(),
            envelope.content.request_type.name()
        )));
    }
    Ok(envelope)
}

pub(crate) fn authenticate(
    envelope: &Envelope,
    now: u64,
    target: Option<Principal>,
    root_key_der: &[u8],
) -> Result<(), HttpError> {
    envelope
        .authenticate(now, target, root_key_der)
        .map_err(|e| {
            bad_request(format!(
                "Failed to authenticate request 0x{}: {e}",
                hex::encode(envelope.content.request_id)
            ))
        })
}

pub(crate) fn error_code_text(r: &RejectResponse) -> String {
    format!("IC{:04}", r.error_code as u64)
}

pub(crate) fn reject_fields(r: &RejectResponse) -> Vec<(&'static str, Value)> {
    vec![
        ("reject_code", cbor::int(r.reject_code as u64)),
        ("reject_message", Value::Text(r.reject_message.clone())),
        ("error_code", Value::Text(error_code_text(r))),
    ]
}
