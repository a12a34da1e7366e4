//! Ingress: update calls submitted by users and awaited, and queries through
//! the query interface.

use crate::error::RejectResponse;
use crate::execution::{Commit, EntryPoint};
use crate::state::{
    did_not_reply, empty_canister_reject, out_of_cycles, stopped_reject, trap_reject,
    ContextOrigin, IngressStatus, LocalNet, Message, MessageId, Request, RunStatus,
    INSPECT_INSTRUCTION_LIMIT, MAX_INGRESS_BYTES, QUERY_INSTRUCTION_LIMIT,
};
use crate::system_api::{self, ApiType, Response};
use candid::Principal;
use ic_error_types::ErrorCode;

impl LocalNet {
    /// Submits an ingress update call; it runs on the next `tick`/`await_call`.
    pub fn submit_call(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<MessageId, RejectResponse> {
        if arg.len() > MAX_INGRESS_BYTES {
            return Err(RejectResponse::new(ErrorCode::CanisterContractViolation,
                format!(
                    "Request payload of {} bytes exceeds the ingress message limit of {MAX_INGRESS_BYTES} bytes",
                    arg.len()
                ),
            ));
        }
        if canister == Principal::management_canister() {
            crate::management::check_ingress_method(method)?;
        } else if canister == crate::bitcoin::bitcoin_canister_id() {
            // A system canister without Wasm: nothing to inspect, nobody to charge.
        } else {
            self.inspect_message(canister, sender, method, &arg)?;
            self.charge_ingress_induction(canister, method, &arg)?;
        }
        let id = MessageId(self.fresh_id());
        self.ingress.insert(id, IngressStatus::Processing);
        self.queue.push_back(Message::Request(Request {
            sender,
            receiver: canister,
            method: method.to_string(),
            payload: arg,
            cycles: 0,
            origin: ContextOrigin::Ingress { id },
            deadline: 0,
        }));
        Ok(id)
    }

    /// The receiving canister pays for inducting an ingress message.
    fn charge_ingress_induction(
        &mut self,
        canister: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<(), RejectResponse> {
        let fee = self
            .costs
            .ingress_induction((method.len() + arg.len()) as u64);
        let c = self
            .canisters
            .get_mut(&canister)
            .ok_or_else(|| RejectResponse::canister_not_found(&canister))?;
        if c.cycles < fee {
            return Err(out_of_cycles(&canister, c.cycles, fee));
        }
        c.cycles -= fee;
        Ok(())
    }

    pub fn ingress_status(&self, id: MessageId) -> IngressStatus {
        self.ingress
            .get(&id)
            .cloned()
            .unwrap_or(IngressStatus::Processing)
    }

    /// Runs the net until the ingress message completes. A call that cannot
    /// progress (e.g. waiting for a mocked outcall nobody answered) returns an
    /// `IngressMessageTimeout` error naming what it waits for.
    pub fn await_call(&mut self, id: MessageId) -> Result<Vec<u8>, RejectResponse> {
        const IDLE_TICKS: usize = 3;
        let mut idle = 0;
        loop {
            if let Some(IngressStatus::Completed(result)) = self.ingress.get(&id) {
                return result.clone();
            }
            let progressed = self.drain_queue() > 0;
            if !progressed {
                self.expire_best_effort_calls();
                let timers = self.run_system_tasks();
                if timers == 0 && self.queue.is_empty() {
                    idle += 1;
                }
            }
            if idle >= IDLE_TICKS {
                return Err(self.stuck_error(id));
            }
        }
    }

    fn stuck_error(&self, id: MessageId) -> RejectResponse {
        let waiting = self.held_outcalls.len();
        let reason = if waiting > 0 {
            format!(
                "it waits for {waiting} mocked HTTPS outcall(s): answer them with answer_http_outcall, then await_call({}) again",
                id.0
            )
        } else {
            "no message, timer or outcall can make progress on it".to_string()
        };
        RejectResponse::new(
            ErrorCode::IngressMessageTimeout,
            format!(
                "localnet: ingress message {} is still processing: {reason}",
                id.0
            ),
        )
    }

    /// Submits an update call and runs the net until it completes.
    pub fn update_call(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, RejectResponse> {
        let id = self.submit_call(canister, sender, method, arg)?;
        self.await_call(id)
    }

    /// A query through the query interface: non-replicated, state discarded,
    /// a data certificate available.
    pub fn query_call(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, RejectResponse> {
        if arg.len() > MAX_INGRESS_BYTES {
            return Err(RejectResponse::new(
                ErrorCode::CanisterContractViolation,
                format!(
                    "Query payload of {} bytes exceeds the limit of {MAX_INGRESS_BYTES} bytes",
                    arg.len()
                ),
            ));
        }
        let c = self
            .canisters
            .get(&canister)
            .ok_or_else(|| RejectResponse::canister_not_found(&canister))?;
        if c.status != RunStatus::Running {
            return Err(stopped_reject(&canister, c.status));
        }
        let Some(wasm) = &c.wasm else {
            return Err(empty_canister_reject(&canister));
        };
        if !wasm.prepared.exports.queries.contains(method) {
            let kind = if wasm.prepared.exports.composite_queries.contains(method) {
                "composite query methods are not supported by localnet"
            } else {
                "no query method"
            };
            return Err(RejectResponse::new(
                ErrorCode::CanisterMethodNotFound,
                format!("Error from Canister {canister}: Canister has {kind} '{method}'."),
            ));
        }
        let mut ctx = self.base_ctx(
            canister,
            ApiType::NonReplicatedQuery,
            QUERY_INSTRUCTION_LIMIT,
        );
        ctx.caller = sender;
        ctx.arg = arg;
        ctx.certificate = Some(self.certificate_source(canister));
        let exec = self.execute(
            canister,
            &EntryPoint::Export(format!("canister_query {method}")),
            ctx,
            Commit::Nothing,
            format!("query {method}"),
        );
        self.restore_stable(canister, exec.ctx.stable);
        match (exec.result, exec.ctx.response) {
            (Err(e), _) => Err(trap_reject(&canister, e)),
            (Ok(()), Some(Response::Reply(bytes))) => Ok(bytes),
            (Ok(()), Some(Response::Reject(msg))) => Err(RejectResponse::canister_reject(msg)),
            (Ok(()), None) => Err(did_not_reply(&canister)),
        }
    }

    fn certificate_source(&self, canister: Principal) -> system_api::CertificateSource {
        let root_key = self.root_key.clone();
        let time = self.time;
        let data = self.canisters[&canister].certified_data.clone();
        system_api::CertificateSource {
            build: Box::new(move || root_key.canister_data_certificate(time, canister, &data)),
            cached: None,
        }
    }

    /// Runs `canister_inspect_message` for an ingress update, if exported.
    fn inspect_message(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<(), RejectResponse> {
        let c = self
            .canisters
            .get(&canister)
            .ok_or_else(|| RejectResponse::canister_not_found(&canister))?;
        let Some(wasm) = &c.wasm else { return Ok(()) };
        if !wasm.prepared.exports.inspect_message || !wasm.prepared.exports.updates.contains(method)
        {
            return Ok(());
        }
        let mut ctx = self.base_ctx(canister, ApiType::InspectMessage, INSPECT_INSTRUCTION_LIMIT);
        ctx.caller = sender;
        ctx.method_name = method.to_string();
        ctx.arg = arg.to_vec();
        let exec = self.execute(
            canister,
            &EntryPoint::Export("canister_inspect_message".into()),
            ctx,
            Commit::Nothing,
            "inspect_message".into(),
        );
        self.restore_stable(canister, exec.ctx.stable);
        match exec.result {
            Err(e) => Err(trap_reject(&canister, e)),
            Ok(()) if exec.ctx.message_accepted => Ok(()),
            Ok(()) => Err(RejectResponse::new(
                ErrorCode::CanisterRejectedMessage,
                format!("Error from Canister {canister}: Canister rejected the message"),
            )),
        }
    }
}
