//! Answering call contexts and whoever made a request, and the rejects the
//! net gives on behalf of a canister.

use super::{ContextOrigin, IngressStatus, LocalNet, Message, ResponseMsg, RunStatus};
use crate::error::RejectResponse;
use crate::execution::ExecError;
use candid::Principal;
use ic_error_types::ErrorCode;

impl LocalNet {
    /// Answers a call context once; later answers are ignored (the system API
    /// already prevents a second reply within the canister).
    pub(crate) fn respond(&mut self, context_id: u64, result: Result<Vec<u8>, RejectResponse>) {
        let Some(ctx) = self.contexts.get_mut(&context_id) else {
            return;
        };
        if ctx.responded {
            return;
        }
        ctx.responded = true;
        let refund = std::mem::take(&mut ctx.cycles_available);
        let origin = ctx.origin.clone();
        self.answer_origin(&origin, result, refund);
    }

    /// Sends an answer to whoever made a request.
    pub(crate) fn answer_origin(
        &mut self,
        origin: &ContextOrigin,
        result: Result<Vec<u8>, RejectResponse>,
        refund: u128,
    ) {
        match origin {
            ContextOrigin::Ingress { id } => {
                self.ingress.insert(*id, IngressStatus::Completed(result));
            }
            ContextOrigin::Canister { callback_id, .. } => {
                let result = result.map_err(|r| (r.reject_code, r.reject_message));
                self.queue.push_back(Message::Response(ResponseMsg {
                    callback_id: *callback_id,
                    result,
                    refund,
                }));
            }
            ContextOrigin::System => {}
        }
    }

    /// A stopping canister stops once it has no open call contexts.
    pub(crate) fn complete_stop_if_idle(&mut self, canister: Principal) {
        let open = self.contexts.values().any(|c| c.canister == canister);
        let Some(c) = self.canisters.get_mut(&canister) else {
            return;
        };
        if c.status != RunStatus::Stopping || open {
            return;
        }
        c.status = RunStatus::Stopped;
        let waiters = std::mem::take(&mut c.stop_waiters);
        for origin in waiters {
            self.answer_origin(&origin, Ok(candid::encode_one(()).expect("encoding ()")), 0);
        }
    }
}

pub(crate) fn stopped_reject(canister: &Principal, status: RunStatus) -> RejectResponse {
    match status {
        RunStatus::Stopping => RejectResponse::new(
            ErrorCode::CanisterStopping,
            format!("Canister {canister} is stopping"),
        ),
        _ => RejectResponse::new(
            ErrorCode::CanisterStopped,
            format!(
                "Canister {canister} is stopped and therefore does not have a CallContextManager"
            ),
        ),
    }
}

pub(crate) fn out_of_cycles(canister: &Principal, balance: u128, needed: u128) -> RejectResponse {
    RejectResponse::new(
        ErrorCode::CanisterOutOfCycles,
        format!("Canister {canister} is out of cycles: it holds {balance} and needs {needed}; top it up"),
    )
}

pub(crate) fn empty_canister_reject(canister: &Principal) -> RejectResponse {
    RejectResponse::new(ErrorCode::CanisterWasmModuleNotFound,
        format!("Error from Canister {canister}: Attempted to execute a message, but the canister contains no Wasm module."),
    )
}

pub(crate) fn did_not_reply(canister: &Principal) -> RejectResponse {
    RejectResponse::new(
        ErrorCode::CanisterDidNotReply,
        format!("Error from Canister {canister}: Canister did not reply to the call"),
    )
}

pub(crate) fn trap_reject(canister: &Principal, e: ExecError) -> RejectResponse {
    RejectResponse::new(
        e.code,
        format!("Error from Canister {canister}: {}", e.message),
    )
}
