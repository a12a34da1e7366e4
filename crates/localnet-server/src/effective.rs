//! The effective canister id and effective subnet id of a request's URL
//! (interface spec, "Effective canister id").

use crate::auth::{Envelope, RequestType};
use crate::http::{bad_request, HttpError};
use crate::shared::Shared;
use axum::http::StatusCode;
use candid::Principal;

pub(crate) fn check_subnet(shared: &Shared, id: Principal) -> Result<(), HttpError> {
    if id != shared.subnet_id {
        return Err(HttpError(
            StatusCode::NOT_FOUND,
            format!(
                "subnet {id} does not exist; localnet has the subnet {}",
                shared.subnet_id
            ),
        ));
    }
    Ok(())
}

/// The `canister_id` field of a management call's Candid record argument.
fn management_target(method: &str, arg: &[u8]) -> Option<Principal> {
    let args = candid::IDLArgs::from_bytes(arg).ok()?;
    let Some(candid::types::value::IDLValue::Record(fields)) = args.args.first() else {
        return None;
    };
    let field = if method == "install_chunked_code" {
        "target_canister"
    } else {
        "canister_id"
    };
    fields
        .iter()
        .find(|f| f.id.get_id() == candid::idl_hash(field))
        .and_then(|f| match &f.val {
            candid::types::value::IDLValue::Principal(p) => Some(*p),
            _ => None,
        })
}

pub(crate) const CREATION_METHODS: [&str; 2] =
    ["create_canister", "provisional_create_canister_with_cycles"];

/// Checks the effective canister id of a call or query (interface spec,
/// "Effective canister id") and returns the canister delegations must allow.
pub(crate) fn check_effective_canister(
    envelope: &Envelope,
    ecid: Principal,
) -> Result<Principal, HttpError> {
    let c = &envelope.content;
    if c.canister_id != Principal::management_canister() {
        if c.canister_id != ecid {
            return Err(bad_request(format!(
                "Specified CanisterId {} does not match effective canister id in URL {ecid}",
                c.canister_id
            )));
        }
        return Ok(ecid);
    }
    let any_allowed = match c.request_type {
        RequestType::Call => CREATION_METHODS.contains(&c.method_name.as_str()),
        _ => c.method_name == "list_canisters",
    };
    if any_allowed {
        return Ok(ecid);
    }
    match management_target(&c.method_name, &c.arg) {
        Some(target) if target == ecid => Ok(ecid),
        Some(target) => Err(bad_request(format!(
            "Specified CanisterId {target} (in the argument of management method {}) does not match effective canister id in URL {ecid}",
            c.method_name
        ))),
        None => Err(bad_request(format!(
            "The effective canister id of a call to management method {} cannot be determined: its argument has no canister_id",
            c.method_name
        ))),
    }
}
