//! `POST /api/v2|v3|v4/canister/<id>/call` and `/api/v4/subnet/<id>/call`:
//! submitting update calls, asynchronously (v2) or waiting for a certificate.

use crate::auth::{Envelope, RequestType};
use crate::cbor;
use crate::clock::sync_time;
use crate::effective::{check_effective_canister, check_subnet, CREATION_METHODS};
use crate::http::{
    authenticate, bad_request, cbor_response, parse_principal, parse_request, reject_fields,
    HttpError,
};
use crate::shared::{lock, Effective, Record, Shared};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use candid::Principal;
use ciborium::value::Value;
use localnet::{IngressStatus, LocalNet, RejectResponse};
use std::collections::hash_map::Entry;
use std::sync::Arc;

pub(crate) async fn call_canister(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let ecid = parse_principal(&id, "effective canister id")?;
    let envelope = parse_request(&body, RequestType::Call)?;
    let target = check_effective_canister(&envelope, ecid)?;
    call(
        shared,
        version,
        Effective::Canister(ecid),
        Some(target),
        envelope,
    )
    .await
}

pub(crate) async fn call_subnet(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let subnet = parse_principal(&id, "effective subnet id")?;
    if version != "v4" {
        return Err(HttpError(
            StatusCode::NOT_FOUND,
            format!("/api/{version}/subnet/<id>/call does not exist; use /api/v4"),
        ));
    }
    check_subnet(&shared, subnet)?;
    let envelope = parse_request(&body, RequestType::Call)?;
    let c = &envelope.content;
    if c.canister_id != Principal::management_canister()
        || !CREATION_METHODS.contains(&c.method_name.as_str())
    {
        return Err(bad_request(format!(
            "subnet-scoped calls are only for create_canister and provisional_create_canister_with_cycles of aaaaa-aa, not {}.{}",
            c.canister_id, c.method_name
        )));
    }
    call(shared, version, Effective::Subnet(subnet), None, envelope).await
}

/// What happened to a submitted call.
enum Submitted {
    /// Refused before it entered the state (a non-replicated rejection).
    Refused(RejectResponse),
    /// Known to the net; the certificate if it has completed.
    Known(Option<Vec<u8>>),
}

async fn call(
    shared: Arc<Shared>,
    version: String,
    effective: Effective,
    target: Option<Principal>,
    envelope: Envelope,
) -> Result<Response, HttpError> {
    let synchronous = match version.as_str() {
        "v2" => false,
        "v3" | "v4" => true,
        other => {
            return Err(HttpError(
                StatusCode::NOT_FOUND,
                format!("/api/{other}/.../call does not exist"),
            ))
        }
    };
    let request_id = envelope.content.request_id;
    let mut progress = shared.progress.subscribe();
    let s = shared.clone();
    let submitted =
        tokio::task::spawn_blocking(move || s.submit(effective, target, envelope, synchronous))
            .await
            .map_err(|e| {
                HttpError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the call panicked: {e}"),
                )
            })??;
    shared.progress.send_modify(|g| *g += 1);
    match submitted {
        Submitted::Refused(reject) if synchronous => {
            let mut fields = vec![("status", Value::Text("non_replicated_rejection".into()))];
            fields.extend(reject_fields(&reject));
            Ok(cbor_response(StatusCode::OK, cbor::map(fields)))
        }
        Submitted::Refused(reject) => Ok(cbor_response(
            StatusCode::OK,
            cbor::map(reject_fields(&reject)),
        )),
        Submitted::Known(_) if !synchronous => Ok(StatusCode::ACCEPTED.into_response()),
        Submitted::Known(Some(certificate)) => Ok(replied(certificate)),
        Submitted::Known(None) => {
            let deadline = tokio::time::Instant::now() + shared.config.sync_call_timeout;
            loop {
                if tokio::time::timeout_at(deadline, progress.changed())
                    .await
                    .is_err()
                {
                    return Ok(StatusCode::ACCEPTED.into_response());
                }
                let s = shared.clone();
                let done =
                    tokio::task::spawn_blocking(move || s.completed_certificate(&request_id))
                        .await
                        .map_err(|e| {
                            HttpError(StatusCode::INTERNAL_SERVER_ERROR, format!("panicked: {e}"))
                        })?;
                if let Some(certificate) = done {
                    return Ok(replied(certificate));
                }
            }
        }
    }
}

fn replied(certificate: Vec<u8>) -> Response {
    cbor_response(
        StatusCode::OK,
        cbor::map(vec![
            ("status", Value::Text("replied".into())),
            ("certificate", Value::Bytes(certificate)),
        ]),
    )
}

impl Shared {
    /// Authenticates and submits a call (a request id already known is not
    /// submitted again), runs the net, and certifies the status if complete.
    fn submit(
        &self,
        effective: Effective,
        target: Option<Principal>,
        envelope: Envelope,
        certify: bool,
    ) -> Result<Submitted, HttpError> {
        let mut net = lock(&self.net);
        let now = sync_time(&mut net);
        authenticate(&envelope, now, target, &self.root_key_der)?;
        let c = envelope.content;
        {
            let mut registry = lock(&self.registry);
            if let Entry::Vacant(entry) = registry.requests.entry(c.request_id) {
                match net.submit_call(c.canister_id, c.sender, &c.method_name, c.arg) {
                    Err(reject) => return Ok(Submitted::Refused(reject)),
                    Ok(message) => {
                        entry.insert(Record {
                            message,
                            sender: c.sender,
                            effective,
                            ingress_expiry: c.ingress_expiry,
                            final_digest: None,
                        });
                    }
                }
            }
        }
        net.tick();
        if !certify {
            return Ok(Submitted::Known(None));
        }
        Ok(Submitted::Known(
            self.certificate_if_complete(&net, &c.request_id),
        ))
    }

    fn completed_certificate(&self, request_id: &[u8; 32]) -> Option<Vec<u8>> {
        let mut net = lock(&self.net);
        sync_time(&mut net);
        self.certificate_if_complete(&net, request_id)
    }

    fn certificate_if_complete(&self, net: &LocalNet, request_id: &[u8; 32]) -> Option<Vec<u8>> {
        let message = lock(&self.registry).requests.get(request_id)?.message;
        match net.ingress_status(message) {
            IngressStatus::Processing => None,
            IngressStatus::Completed(_) => {
                let path = vec![b"request_status".to_vec(), request_id.to_vec()];
                Some(self.certify(net, &[path], Some(request_id)))
            }
        }
    }
}
