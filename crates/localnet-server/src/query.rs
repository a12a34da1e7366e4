//! `POST /api/v2|v3/canister/<id>/query` and `/api/v3/subnet/<id>/query`:
//! queries, answered at once and signed by the node key.

use crate::auth::{Envelope, RequestType};
use crate::cbor;
use crate::clock::sync_time;
use crate::effective::{check_effective_canister, check_subnet};
use crate::http::{
    authenticate, bad_request, cbor_response, parse_principal, parse_request, reject_fields,
    HttpError,
};
use crate::shared::{lock, Shared};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use candid::Principal;
use ciborium::value::Value;
use std::sync::Arc;

pub(crate) async fn query_canister(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, HttpError> {
    if version != "v2" && version != "v3" {
        return Err(HttpError(
            StatusCode::NOT_FOUND,
            format!("/api/{version}/canister/<id>/query does not exist"),
        ));
    }
    let ecid = parse_principal(&id, "effective canister id")?;
    let envelope = parse_request(&body, RequestType::Query)?;
    let target = check_effective_canister(&envelope, ecid)?;
    let s = shared.clone();
    tokio::task::spawn_blocking(move || s.query(envelope, Some(target)))
        .await
        .map_err(|e| {
            HttpError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the query panicked: {e}"),
            )
        })?
}

pub(crate) async fn query_subnet(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let subnet = parse_principal(&id, "effective subnet id")?;
    if version != "v3" {
        return Err(HttpError(
            StatusCode::NOT_FOUND,
            format!("/api/{version}/subnet/<id>/query does not exist; use /api/v3"),
        ));
    }
    check_subnet(&shared, subnet)?;
    let envelope = parse_request(&body, RequestType::Query)?;
    let c = &envelope.content;
    if c.canister_id != Principal::management_canister() || c.method_name != "list_canisters" {
        return Err(bad_request(
            "subnet-scoped queries are only for list_canisters of aaaaa-aa",
        ));
    }
    let s = shared.clone();
    tokio::task::spawn_blocking(move || s.query(envelope, None))
        .await
        .map_err(|e| {
            HttpError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the query panicked: {e}"),
            )
        })?
}

impl Shared {
    fn query(&self, envelope: Envelope, target: Option<Principal>) -> Result<Response, HttpError> {
        let mut net = lock(&self.net);
        let now = sync_time(&mut net);
        authenticate(&envelope, now, target, &self.root_key_der)?;
        let c = envelope.content;
        let result = net.query_call(c.canister_id, c.sender, &c.method_name, c.arg);
        drop(net);
        let timestamp = now;
        let (mut fields, signed) = match &result {
            Ok(reply) => {
                let reply = cbor::map(vec![("arg", Value::Bytes(reply.clone()))]);
                (
                    vec![
                        ("status", Value::Text("replied".into())),
                        ("reply", reply.clone()),
                    ],
                    vec![("status", Value::Text("replied".into())), ("reply", reply)],
                )
            }
            Err(reject) => {
                let mut f = vec![("status", Value::Text("rejected".into()))];
                f.extend(reject_fields(reject));
                (f.clone(), f)
            }
        };
        let mut signed = signed;
        signed.push(("timestamp", cbor::int(timestamp)));
        signed.push(("request_id", Value::Bytes(c.request_id.to_vec())));
        let hash = cbor::hash_of_map(&cbor::map(signed)).expect("a well-formed map");
        let signature = self
            .node
            .key
            .sign_message(&[b"\x0Bic-response".as_slice(), &hash].concat());
        fields.push((
            "signatures",
            Value::Array(vec![cbor::map(vec![
                ("timestamp", cbor::int(timestamp)),
                ("signature", Value::Bytes(signature.to_vec())),
                ("identity", Value::Bytes(self.node.id.as_slice().to_vec())),
            ])]),
        ));
        Ok(cbor_response(StatusCode::OK, cbor::map(fields)))
    }
}
