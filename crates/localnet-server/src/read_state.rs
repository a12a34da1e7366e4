//! `POST /api/v2|v3/canister/<id>/read_state` and `/api/v2|v3/subnet/<id>/read_state`:
//! certificates of the state tree, with the spec's rules on which paths may
//! be read where.

use crate::auth::{self, Envelope, RequestType};
use crate::cbor;
use crate::clock::sync_time;
use crate::effective::check_subnet;
use crate::http::{
    authenticate, bad_request, cbor_response, parse_principal, parse_request, HttpError,
};
use crate::shared::{lock, Effective, Shared};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use candid::Principal;
use ciborium::value::Value;
use localnet::LocalNet;
use std::sync::Arc;

pub(crate) async fn read_state_canister(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let ecid = parse_principal(&id, "effective canister id")?;
    read_state(shared, version, Effective::Canister(ecid), body).await
}

pub(crate) async fn read_state_subnet(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let subnet = parse_principal(&id, "effective subnet id")?;
    check_subnet(&shared, subnet)?;
    read_state(shared, version, Effective::Subnet(subnet), body).await
}

async fn read_state(
    shared: Arc<Shared>,
    version: String,
    effective: Effective,
    body: Bytes,
) -> Result<Response, HttpError> {
    if version != "v2" && version != "v3" {
        return Err(HttpError(
            StatusCode::NOT_FOUND,
            format!("/api/{version}/.../read_state does not exist"),
        ));
    }
    let envelope = parse_request(&body, RequestType::ReadState)?;
    let s = shared.clone();
    tokio::task::spawn_blocking(move || s.read_state(envelope, effective, version == "v2"))
        .await
        .map_err(|e| {
            HttpError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("read_state panicked: {e}"),
            )
        })?
}

impl Shared {
    fn read_state(
        &self,
        envelope: Envelope,
        effective: Effective,
        v2: bool,
    ) -> Result<Response, HttpError> {
        let target = match effective {
            Effective::Canister(id) => Some(id),
            Effective::Subnet(_) => None,
        };
        let mut net = lock(&self.net);
        let now = sync_time(&mut net);
        authenticate(&envelope, now, target, &self.root_key_der)?;
        let c = &envelope.content;
        let request = self.check_paths(&net, c, effective, v2)?;
        let certificate = self.certify(&net, &c.paths, request.as_ref());
        drop(net);
        Ok(cbor_response(
            StatusCode::OK,
            cbor::map(vec![("certificate", Value::Bytes(certificate))]),
        ))
    }

    /// The spec's rules on which paths may be requested where ("Request: Read
    /// state"); returns the request id whose status is asked for, if any.
    fn check_paths(
        &self,
        net: &LocalNet,
        c: &auth::Content,
        effective: Effective,
        v2: bool,
    ) -> Result<Option<[u8; 32]>, HttpError> {
        let invalid = |path: &[Vec<u8>], why: &str| {
            let shown: Vec<String> = path
                .iter()
                .map(|l| match std::str::from_utf8(l) {
                    Ok(s) if s.chars().all(|ch| ch.is_ascii_graphic()) => s.to_string(),
                    _ => hex::encode(l),
                })
                .collect();
            bad_request(format!(
                "Invalid path requested: /{}: {why}",
                shown.join("/")
            ))
        };
        let forbidden = |msg: String| HttpError(StatusCode::FORBIDDEN, msg);
        let mut request_id: Option<[u8; 32]> = None;
        let mut ranges_subnet: Option<&[u8]> = None;
        for path in &c.paths {
            let labels: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
            match labels.as_slice() {
                [b"time"] => {}
                // Any other path under /api_boundary_nodes is "no such path" (the last arm).
                [b"api_boundary_nodes"]
                | [b"api_boundary_nodes", _]
                | [b"api_boundary_nodes", _, b"domain" | b"ipv4_address" | b"ipv6_address"] => {}
                [b"subnet", rest @ ..] => match rest {
                    []
                    | [_]
                    | [_, b"public_key" | b"type" | b"node"]
                    | [_, b"node", _]
                    | [_, b"node", _, b"public_key"] => {}
                    [subnet, b"canister_ranges"] => {
                        // Only the root subnet's may be asked for at the v3 endpoints;
                        // localnet's one subnet is the root subnet.
                        if !v2 && *subnet != self.subnet_id.as_slice() {
                            return Err(invalid(
                                path,
                                "canister ranges of a non-root subnet are under /canister_ranges",
                            ));
                        }
                    }
                    [subnet, b"metrics"] => {
                        if effective != Effective::Subnet(Principal::from_slice(subnet)) {
                            return Err(invalid(
                                path,
                                "subnet metrics can only be read at /api/v2|v3/subnet/<that subnet>/read_state",
                            ));
                        }
                    }
                    _ => return Err(invalid(path, "no such path")),
                },
                [b"canister_ranges", subnet] => {
                    if !matches!(effective, Effective::Subnet(_)) {
                        return Err(invalid(
                            path,
                            "canister ranges can only be read at /api/v2|v3/subnet/<id>/read_state",
                        ));
                    }
                    if ranges_subnet.is_some_and(|s| s != *subnet) {
                        return Err(invalid(
                            path,
                            "all /canister_ranges paths must name the same subnet",
                        ));
                    }
                    ranges_subnet = Some(subnet);
                }
                [b"request_status", id, rest @ ..] => {
                    if !matches!(
                        rest,
                        [] | [b"status"
                            | b"reply"
                            | b"reject_code"
                            | b"reject_message"
                            | b"error_code"]
                    ) {
                        return Err(invalid(path, "no such path"));
                    }
                    let Ok(id) = <[u8; 32]>::try_from(*id) else {
                        return Err(invalid(path, "a request id is 32 bytes"));
                    };
                    if request_id.is_some_and(|r| r != id) {
                        return Err(invalid(
                            path,
                            "all /request_status paths must refer to the same request id",
                        ));
                    }
                    request_id = Some(id);
                    if let Some(record) = lock(&self.registry).requests.get(&id) {
                        if record.sender != c.sender {
                            return Err(forbidden(format!(
                                "Request 0x{} was sent by {}, not by the sender {} of this read_state request",
                                hex::encode(id),
                                record.sender,
                                c.sender
                            )));
                        }
                        if record.effective != effective {
                            return Err(forbidden(format!(
                                "Request 0x{} was sent to {:?}, not to {:?} of this read_state request",
                                hex::encode(id),
                                record.effective,
                                effective
                            )));
                        }
                    }
                }
                [b"canister", canister, rest @ ..] => {
                    let canister = Principal::try_from_slice(canister)
                        .map_err(|_| invalid(path, "not a principal"))?;
                    if effective != Effective::Canister(canister) {
                        return Err(invalid(
                            path,
                            "canister information can only be read at /api/v2|v3/canister/<that canister>/read_state",
                        ));
                    }
                    match rest {
                        [b"module_hash" | b"controllers"] => {}
                        [b"metadata", name] => {
                            let name =
                                std::str::from_utf8(name).map_err(|_| invalid(path, "metadata names are UTF-8"))?;
                            if let Some((false, _)) = net.canister_metadata(canister).get(name) {
                                let controllers = net.controllers(canister).unwrap_or_default();
                                if !controllers.contains(&c.sender) {
                                    return Err(forbidden(format!(
                                        "Custom section {name} of canister {canister} is private: only its controllers may read it"
                                    )));
                                }
                            }
                        }
                        [b"certified_data"] => {
                            return Err(invalid(
                                path,
                                "certified data is only exposed to the canister itself (ic0.data_certificate_copy)",
                            ))
                        }
                        _ => return Err(invalid(path, "no such path")),
                    }
                }
                _ => return Err(invalid(path, "no such path")),
            }
        }
        Ok(request_id)
    }
}
