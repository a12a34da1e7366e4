//! HTTPS outcalls: `http_request` performed live or held for a test to
//! answer (mock mode), with the IC's limits, fees and transform.

use super::{decode, insufficient_cycles, reply, Answer};
use crate::error::RejectResponse;
use crate::execution::{Commit, EntryPoint};
use crate::state::{
    HeldOutcall, LocalNet, OutcallMode, PendingOutcall, Request, QUERY_INSTRUCTION_LIMIT,
};
use crate::system_api::{ApiType, Response};
use candid::{Decode, Encode, Principal};
use ic_error_types::{ErrorCode, RejectCode};
use ic_management_canister_types::{HttpRequestArgs, HttpRequestResult, TransformArgs};

impl LocalNet {
    pub(super) fn http_request(&mut self, r: &Request) -> Answer {
        let args: HttpRequestArgs = match decode("http_request", &r.payload) {
            Ok(a) => a,
            Err(e) => return Answer::Now(Err(e), 0),
        };
        use localnet_services::http_outcall;
        if let Err(e) = http_outcall::validate(&args, self.config.allow_plain_http) {
            return Answer::Now(Err(outcall_reject(e)), 0);
        }
        let cost = self.outcall_cost(&args);
        if r.cycles < cost {
            return Answer::Now(Err(insufficient_cycles("http_request", r.cycles, cost)), 0);
        }
        let refund = r.cycles - cost;
        match self.config.outcalls {
            OutcallMode::Live => {
                let result = self.live_client.perform(&args).map_err(outcall_reject);
                let result =
                    result.and_then(|response| self.finish_outcall(r.sender, &args, response));
                Answer::Now(result, cost)
            }
            OutcallMode::Mock => {
                let id = self.fresh_id();
                let held = HeldOutcall {
                    canister: r.sender,
                    request: args,
                    origin: r.origin.clone(),
                    refund,
                };
                self.held_outcalls.insert(id, held);
                Answer::Later
            }
        }
    }

    fn outcall_cost(&self, args: &HttpRequestArgs) -> u128 {
        let size = localnet_services::http_outcall::request_size(args);
        self.costs.http_request(
            size,
            args.max_response_bytes
                .unwrap_or(localnet_services::http_outcall::MAX_RESPONSE_BYTES),
        )
    }

    /// Applies the response limit, runs the canister's transform, and encodes the reply.
    fn finish_outcall(
        &mut self,
        canister: Principal,
        args: &HttpRequestArgs,
        response: HttpRequestResult,
    ) -> Result<Vec<u8>, RejectResponse> {
        use localnet_services::http_outcall;
        http_outcall::enforce_response_limit(args, &response).map_err(outcall_reject)?;
        let transformed = match &args.transform {
            Some(transform) => self.run_transform(canister, transform, response)?,
            None => response,
        };
        http_outcall::enforce_response_limit(args, &transformed).map_err(outcall_reject)?;
        reply(&transformed)
    }

    fn run_transform(
        &mut self,
        canister: Principal,
        transform: &ic_management_canister_types::TransformContext,
        response: HttpRequestResult,
    ) -> Result<HttpRequestResult, RejectResponse> {
        let func = &transform.function.0;
        let fatal = |msg: String| RejectResponse::new(ErrorCode::CanisterContractViolation, msg);
        if func.principal != canister {
            return Err(fatal(format!(
                "The transform function must be a query of the calling canister {canister}, not of {}",
                func.principal
            )));
        }
        let exported = self
            .canisters
            .get(&canister)
            .and_then(|c| c.wasm.as_ref())
            .is_some_and(|w| w.prepared.exports.queries.contains(&func.method));
        if !exported {
            return Err(fatal(format!(
                "Canister {canister} has no query method '{}' to transform the response",
                func.method
            )));
        }
        let arg = Encode!(&TransformArgs {
            response,
            context: transform.context.clone()
        })
        .expect("encoding TransformArgs");
        let mut ctx = self.base_ctx(
            canister,
            ApiType::NonReplicatedQuery,
            QUERY_INSTRUCTION_LIMIT,
        );
        ctx.arg = arg;
        let entry = EntryPoint::Export(format!("canister_query {}", func.method));
        let exec = self.execute(
            canister,
            &entry,
            ctx,
            Commit::Nothing,
            format!("transform {}", func.method),
        );
        self.restore_stable(canister, exec.ctx.stable);
        let bytes = match (exec.result, exec.ctx.response) {
            (Err(e), _) => {
                return Err(fatal(format!(
                    "The transform function trapped: {}",
                    e.message
                )))
            }
            (Ok(()), Some(Response::Reply(bytes))) => bytes,
            (Ok(()), Some(Response::Reject(msg))) => {
                return Err(fatal(format!("The transform function rejected: {msg}")))
            }
            (Ok(()), None) => return Err(fatal("The transform function did not reply".into())),
        };
        Decode!(&bytes, HttpRequestResult).map_err(|e| {
            fatal(format!(
                "The transform function's reply is not an HttpRequestResult: {e}"
            ))
        })
    }

    /// HTTPS outcalls waiting for an answer (mock mode), oldest first.
    pub fn pending_http_outcalls(&self) -> Vec<PendingOutcall> {
        self.held_outcalls
            .iter()
            .map(|(id, h)| PendingOutcall {
                id: *id,
                canister: h.canister,
                request: h.request.clone(),
            })
            .collect()
    }

    /// Answers a held outcall with a response (limits and transform applied as
    /// on the IC) or a reject; the canister's callback runs on the next tick.
    pub fn answer_http_outcall(
        &mut self,
        id: u64,
        answer: Result<HttpRequestResult, (RejectCode, String)>,
    ) -> Result<(), String> {
        let held = self
            .held_outcalls
            .remove(&id)
            .ok_or_else(|| format!("no pending HTTPS outcall with id {id}"))?;
        let result = match answer {
            Ok(response) => self.finish_outcall(held.canister, &held.request, response),
            Err((code, message)) => Err(RejectResponse::custom(
                code,
                ErrorCode::CanisterRejectedMessage,
                message,
            )),
        };
        self.answer_origin(&held.origin, result, held.refund);
        Ok(())
    }
}

fn outcall_reject(e: localnet_services::http_outcall::OutcallError) -> RejectResponse {
    RejectResponse::custom(e.code, ErrorCode::CanisterRejectedMessage, e.message)
}
