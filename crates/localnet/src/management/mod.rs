//! The management canister (`aaaaa-aa`): canister lifecycle, randomness,
//! threshold signatures and HTTPS outcalls, with the IC's checks on who may
//! call what and how many cycles it costs.
//!
//! This module routes a request to its method; the methods live in
//! `lifecycle` (creating, controlling and deleting canisters), `install`
//! (`install_code`), `threshold` (`raw_rand`, ECDSA and Schnorr) and
//! `http_outcall` (`http_request`).

mod http_outcall;
mod install;
mod lifecycle;
mod threshold;

use crate::error::RejectResponse;
use crate::state::{ContextOrigin, LocalNet, Request};
use candid::{CandidType, Decode, Encode};
use ic_error_types::ErrorCode;

/// What a management method answers now, with the cycles it keeps; or later.
enum Answer {
    Now(Result<Vec<u8>, RejectResponse>, u128),
    Later,
}

fn reply<T: CandidType>(value: &T) -> Result<Vec<u8>, RejectResponse> {
    Ok(Encode!(value).expect("encoding a management reply"))
}

fn decode<T: CandidType + for<'de> serde::Deserialize<'de>>(
    method: &str,
    bytes: &[u8],
) -> Result<T, RejectResponse> {
    Decode!(bytes, T).map_err(|e| RejectResponse::invalid_payload(method, e))
}

/// Methods only canisters may call (they need cycles or are not for users).
const CANISTER_ONLY: &[&str] = &[
    "create_canister",
    "raw_rand",
    "http_request",
    "ecdsa_public_key",
    "sign_with_ecdsa",
    "schnorr_public_key",
    "sign_with_schnorr",
    "deposit_cycles",
];

/// Refuses ingress messages to management methods users cannot call.
pub(crate) fn check_ingress_method(method: &str) -> Result<(), RejectResponse> {
    if CANISTER_ONLY.contains(&method) {
        return Err(RejectResponse::new(
            ErrorCode::CanisterRejectedMessage,
            format!("Only canisters can call ic00 method {method}"),
        ));
    }
    Ok(())
}

impl LocalNet {
    pub(crate) fn handle_management_request(&mut self, request: Request) {
        let answer = self.management_method(&request);
        if let Answer::Now(result, kept) = answer {
            let refund = request.cycles.saturating_sub(kept);
            self.answer_origin(&request.origin, result, refund);
        }
    }

    fn management_method(&mut self, r: &Request) -> Answer {
        let now = |result| Answer::Now(result, 0);
        let from_canister = matches!(r.origin, ContextOrigin::Canister { .. });
        if !from_canister && CANISTER_ONLY.contains(&r.method.as_str()) {
            return now(check_ingress_method(&r.method).map(|()| Vec::new()));
        }
        match r.method.as_str() {
            "create_canister" => self.create_canister_method(r),
            "provisional_create_canister_with_cycles" => now(self.provisional_create(r)),
            "provisional_top_up_canister" => now(self.top_up(r)),
            "update_settings" => now(self.update_settings_method(r)),
            "install_code" => now(self.install_code_method(r)),
            "uninstall_code" => now(self.uninstall_code(r)),
            "canister_status" => now(self.canister_status_method(r)),
            "start_canister" => now(self.start_canister_method(r)),
            "stop_canister" => self.stop_canister_method(r),
            "delete_canister" => now(self.delete_canister_method(r)),
            "deposit_cycles" => self.deposit_cycles(r),
            "raw_rand" => now(self.raw_rand()),
            "ecdsa_public_key" => now(self.ecdsa_public_key(r)),
            "sign_with_ecdsa" => self.sign_with_ecdsa(r),
            "schnorr_public_key" => now(self.schnorr_public_key(r)),
            "sign_with_schnorr" => self.sign_with_schnorr(r),
            "http_request" => self.http_request(r),
            other => now(Err(RejectResponse::new(
                ErrorCode::UnknownManagementMessage,
                format!("Management canister has no method '{other}'"),
            ))),
        }
    }
}

fn insufficient_cycles(method: &str, sent: u128, required: u128) -> RejectResponse {
    RejectResponse::new(
        ErrorCode::CanisterRejectedMessage,
        format!("{method} request sent with {sent} cycles, but {required} cycles are required."),
    )
}
