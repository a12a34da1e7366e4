//! What runs without a message: best-effort calls timing out, global timers
//! and heartbeats.

use crate::execution::{Commit, EntryPoint};
use crate::state::{LocalNet, Message, ResponseMsg, RunStatus, UPDATE_INSTRUCTION_LIMIT};
use crate::system_api::ApiType;
use candid::Principal;
use ic_error_types::RejectCode;

impl LocalNet {
    /// Best-effort calls whose deadline passed get a SYS_UNKNOWN reject now; a
    /// late real response finds no callback and is dropped.
    pub(crate) fn expire_best_effort_calls(&mut self) {
        let now = self.time;
        let expired: Vec<u64> = self
            .callbacks
            .iter()
            .filter(|(_, cb)| cb.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for callback_id in expired {
            if let Some(cb) = self.callbacks.get_mut(&callback_id) {
                cb.deadline = None; // reject once
            }
            self.queue.push_back(Message::Response(ResponseMsg {
                callback_id,
                result: Err((RejectCode::SysUnknown, "Timeout expired".into())),
                refund: 0,
            }));
        }
    }

    /// Runs due global timers and heartbeats; returns how many ran.
    pub(crate) fn run_system_tasks(&mut self) -> usize {
        let now = self.time;
        let mut due = Vec::new();
        for c in self.canisters.values() {
            let Some(wasm) = &c.wasm else { continue };
            if c.status != RunStatus::Running {
                continue;
            }
            if wasm.prepared.exports.global_timer && c.global_timer != 0 && c.global_timer <= now {
                due.push((c.id, "canister_global_timer", "timer"));
            }
            if wasm.prepared.exports.heartbeat {
                due.push((c.id, "canister_heartbeat", "heartbeat"));
            }
        }
        for (canister, export, kind) in &due {
            if *kind == "timer" {
                // The timer is deactivated before it runs; the canister re-arms it.
                self.canisters
                    .get_mut(canister)
                    .expect("listed above")
                    .global_timer = 0;
            }
            self.run_system_task(*canister, export, kind);
        }
        due.len()
    }

    fn run_system_task(&mut self, canister: Principal, export: &str, kind: &str) {
        let context = self.system_context(canister);
        let ctx = self.base_ctx(canister, ApiType::SystemTask, UPDATE_INSTRUCTION_LIMIT);
        let mut exec = self.execute(
            canister,
            &EntryPoint::Export(export.to_string()),
            ctx,
            Commit::All,
            kind.to_string(),
        );
        self.apply(canister, Some(context), &mut exec);
        self.close_context_if_done(context);
    }
}
