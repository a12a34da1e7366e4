//! Delivering requests and responses: call contexts opened and closed,
//! the calls a message made sent, callbacks and their cleanup run.

use crate::error::RejectResponse;
use crate::execution::{Commit, EntryPoint, Execution};
use crate::state::{
    did_not_reply, empty_canister_reject, out_of_cycles, stopped_reject, trap_reject, CallContext,
    Callback, ContextOrigin, LocalNet, Message, Request, ResponseMsg, RunStatus,
    QUERY_INSTRUCTION_LIMIT, UPDATE_INSTRUCTION_LIMIT,
};
use crate::system_api::{self, ApiType, OutgoingCall, Response};
use candid::Principal;
use ic_error_types::ErrorCode;

impl LocalNet {
    /// Applies a finished execution: stable memory always (already rolled back
    /// on a trap); on success the balance, certified data, timer and the calls
    /// made; the execution fee in every case.
    pub(super) fn apply(
        &mut self,
        canister: Principal,
        context: Option<u64>,
        exec: &mut Execution,
    ) {
        let outgoing = std::mem::take(&mut exec.ctx.outgoing);
        let epoch = self.module_epoch(canister);
        self.commit_state(canister, exec);
        if exec.result.is_err() {
            return;
        }
        for call in outgoing {
            self.send_call(canister, context, call, epoch);
        }
    }

    fn send_call(
        &mut self,
        canister: Principal,
        context: Option<u64>,
        call: OutgoingCall,
        epoch: u64,
    ) {
        let callback_id = self.fresh_id();
        let deadline = call
            .timeout_seconds
            .map(|s| self.time + s as u64 * 1_000_000_000);
        let context = context.unwrap_or_else(|| self.system_context(canister));
        if let Some(ctx) = self.contexts.get_mut(&context) {
            ctx.outstanding += 1;
        }
        self.queue.push_back(Message::Request(Request {
            sender: canister,
            receiver: call.callee,
            method: call.method.clone(),
            payload: call.payload.clone(),
            cycles: call.cycles,
            origin: ContextOrigin::Canister { callback_id },
            deadline: deadline.unwrap_or(0),
        }));
        self.callbacks.insert(
            callback_id,
            Callback {
                canister,
                context,
                call,
                deadline,
                module_epoch: epoch,
            },
        );
    }

    /// A call context for a timer or heartbeat, which answers nobody.
    pub(super) fn system_context(&mut self, canister: Principal) -> u64 {
        let id = self.fresh_id();
        self.contexts.insert(
            id,
            CallContext {
                canister,
                caller: Principal::management_canister(),
                origin: ContextOrigin::System,
                responded: true,
                cycles_available: 0,
                outstanding: 0,
                deadline: 0,
                instructions: 0,
            },
        );
        id
    }

    pub(crate) fn module_epoch(&self, canister: Principal) -> u64 {
        self.module_epochs.get(&canister).copied().unwrap_or(0)
    }

    /// Delivers a request to a canister's update or query method.
    pub(super) fn deliver_request(&mut self, request: Request) {
        let receiver = request.receiver;
        let entry = match self.check_receiver(&request) {
            Ok(entry) => entry,
            Err(reject) => return self.answer_origin(&request.origin, Err(reject), request.cycles),
        };
        let (api, method_export, commit) = entry;
        let context_id = self.fresh_id();
        self.contexts.insert(
            context_id,
            CallContext {
                canister: receiver,
                caller: request.sender,
                origin: request.origin.clone(),
                responded: false,
                cycles_available: request.cycles,
                outstanding: 0,
                deadline: request.deadline,
                instructions: 0,
            },
        );
        let limit = if api == ApiType::ReplicatedQuery {
            QUERY_INSTRUCTION_LIMIT
        } else {
            UPDATE_INSTRUCTION_LIMIT
        };
        let mut ctx = self.base_ctx(receiver, api, limit);
        ctx.caller = request.sender;
        ctx.arg = request.payload;
        ctx.cycles_available = request.cycles;
        ctx.deadline = request.deadline;
        let kind = format!(
            "{} {}",
            if api == ApiType::Update {
                "update"
            } else {
                "query"
            },
            request.method
        );
        let mut exec = self.execute(
            receiver,
            &EntryPoint::Export(method_export),
            ctx,
            commit,
            kind,
        );
        if commit == Commit::Nothing && exec.result.is_ok() {
            // A query called as an update: its reply and the cycles it
            // accepted stand; its other effects do not (the spec's as_update).
            exec.ctx.outgoing.clear();
            exec.ctx.balance = self.canisters[&receiver].cycles + exec.ctx.cycles_accepted;
            exec.ctx.certified_data = None;
            exec.ctx.global_timer = self.canisters[&receiver].global_timer;
        }
        self.finish_message(receiver, context_id, exec);
    }

    /// Which entry point a request runs, or the reject the IC gives.
    fn check_receiver(
        &self,
        request: &Request,
    ) -> Result<(ApiType, String, Commit), RejectResponse> {
        let id = &request.receiver;
        let c = self
            .canisters
            .get(id)
            .ok_or_else(|| RejectResponse::canister_not_found(id))?;
        if c.status != RunStatus::Running {
            return Err(stopped_reject(id, c.status));
        }
        let wasm = c.wasm.as_ref().ok_or_else(|| empty_canister_reject(id))?;
        // The IC reserves the cost of a maximal execution before running a message.
        let prepay = self.costs.update_execution(UPDATE_INSTRUCTION_LIMIT);
        if c.cycles < prepay {
            return Err(out_of_cycles(id, c.cycles, prepay));
        }
        let exports = &wasm.prepared.exports;
        let method = &request.method;
        if exports.updates.contains(method) {
            Ok((
                ApiType::Update,
                format!("canister_update {method}"),
                Commit::All,
            ))
        } else if exports.queries.contains(method) {
            Ok((
                ApiType::ReplicatedQuery,
                format!("canister_query {method}"),
                Commit::Nothing,
            ))
        } else if exports.composite_queries.contains(method) {
            Err(RejectResponse::new(
                ErrorCode::CompositeQueryCalledInReplicatedMode,
                format!(
                    "Error from Canister {id}: Composite query cannot be called in replicated mode"
                ),
            ))
        } else {
            Err(RejectResponse::new(
                ErrorCode::CanisterMethodNotFound,
                format!("Error from Canister {id}: Canister has no update method '{method}'."),
            ))
        }
    }

    /// After a message of a call context ran: apply it, answer if it answered
    /// (or trapped with nothing left to answer), and close the context if done.
    fn finish_message(&mut self, canister: Principal, context_id: u64, mut exec: Execution) {
        if let Some(ctx) = self.contexts.get_mut(&context_id) {
            ctx.instructions += exec.instructions;
            if exec.result.is_ok() {
                ctx.cycles_available = exec.ctx.cycles_available;
            }
        }
        self.apply(canister, Some(context_id), &mut exec);
        match (&exec.result, exec.ctx.response.take()) {
            (Ok(()), Some(Response::Reply(bytes))) => self.respond(context_id, Ok(bytes)),
            (Ok(()), Some(Response::Reject(msg))) => {
                self.respond(context_id, Err(RejectResponse::canister_reject(msg)))
            }
            (Err(e), _) => {
                let outstanding = self.contexts.get(&context_id).map_or(0, |c| c.outstanding);
                if outstanding == 0 {
                    self.respond(context_id, Err(trap_reject(&canister, e.clone())));
                }
            }
            (Ok(()), None) => {}
        }
        self.close_context_if_done(context_id);
    }

    pub(super) fn close_context_if_done(&mut self, context_id: u64) {
        let Some(ctx) = self.contexts.get(&context_id) else {
            return;
        };
        if ctx.outstanding > 0 {
            return;
        }
        let canister = ctx.canister;
        if !ctx.responded {
            self.respond(context_id, Err(did_not_reply(&canister)));
        }
        self.contexts.remove(&context_id);
        self.complete_stop_if_idle(canister);
    }

    /// Runs the reply or reject callback of a call, then its cleanup if it trapped.
    pub(super) fn deliver_response(&mut self, response: ResponseMsg) {
        let Some(callback) = self.callbacks.remove(&response.callback_id) else {
            return; // answered already (best-effort timeout) or the canister was reinstalled
        };
        let canister = callback.canister;
        let Some(context) = self.contexts.get_mut(&callback.context) else {
            return;
        };
        context.outstanding -= 1;
        let (caller, available, responded, deadline, used) = (
            context.caller,
            context.cycles_available,
            context.responded,
            context.deadline,
            context.instructions,
        );
        let installed = self
            .canisters
            .get(&canister)
            .is_some_and(|c| c.wasm.is_some());
        if !installed || callback.module_epoch != self.module_epoch(canister) {
            self.close_context_if_done(callback.context);
            return;
        }
        if let Some(c) = self.canisters.get_mut(&canister) {
            c.cycles += response.refund;
        }
        let (api, closure, kind) = match &response.result {
            Ok(_) => (
                ApiType::ReplyCallback,
                callback.call.on_reply,
                "reply callback",
            ),
            Err(_) => (
                ApiType::RejectCallback,
                callback.call.on_reject,
                "reject callback",
            ),
        };
        let limit = if self.injected_trap_due(canister) {
            0
        } else {
            UPDATE_INSTRUCTION_LIMIT
        };
        let mut ctx = self.base_ctx(canister, api, limit);
        ctx.caller = caller;
        ctx.cycles_available = available;
        ctx.already_responded = responded;
        ctx.deadline = deadline;
        ctx.cycles_refunded = response.refund;
        ctx.call_context_instructions = used;
        match response.result {
            Ok(bytes) => ctx.arg = bytes,
            Err((code, msg)) => ctx.reject = Some((code as u32, msg)),
        }
        let exec = self.execute(
            canister,
            &EntryPoint::Closure(closure),
            ctx,
            Commit::All,
            kind.into(),
        );
        let trapped = exec.result.is_err();
        if trapped {
            if let Some(cleanup) = callback.call.on_cleanup {
                self.run_cleanup(canister, callback.context, cleanup, exec);
                return;
            }
        }
        self.finish_message(canister, callback.context, exec);
    }

    /// Fault injection for tests: after `skip` more reply/reject callbacks of
    /// `canister` run normally, the next one traps on its first instruction
    /// (it gets an instruction limit of 0), exactly as a canister that traps
    /// after an `await`: the callback's changes roll back, `call_on_cleanup`
    /// runs, and what the canister committed before the await stays.
    pub fn trap_callback(&mut self, canister: Principal, skip: u32) {
        self.trap_callback_after.insert(canister, skip);
    }

    fn injected_trap_due(&mut self, canister: Principal) -> bool {
        match self.trap_callback_after.get_mut(&canister) {
            Some(0) => {
                self.trap_callback_after.remove(&canister);
                true
            }
            Some(n) => {
                *n -= 1;
                false
            }
            None => false,
        }
    }

    /// The spec's cleanup: after a callback traps (its changes rolled back),
    /// the cleanup closure runs; its own trap is rolled back too.
    fn run_cleanup(
        &mut self,
        canister: Principal,
        context: u64,
        cleanup: system_api::WasmClosure,
        trapped: Execution,
    ) {
        let mut trapped = trapped;
        self.apply(canister, Some(context), &mut trapped);
        let mut ctx = self.base_ctx(canister, ApiType::Cleanup, UPDATE_INSTRUCTION_LIMIT);
        ctx.reject = trapped.ctx.reject.take();
        ctx.caller = trapped.ctx.caller;
        let mut exec = self.execute(
            canister,
            &EntryPoint::Closure(cleanup),
            ctx,
            Commit::All,
            "cleanup".into(),
        );
        // Cleanup may change state but not call (the system API refuses it).
        self.commit_state(canister, &mut exec);
        let outstanding = self.contexts.get(&context).map_or(0, |c| c.outstanding);
        if outstanding == 0 {
            let error = trapped.result.expect_err("cleanup runs after a trap");
            self.respond(context, Err(trap_reject(&canister, error)));
        }
        self.close_context_if_done(context);
    }
}
