//! Running one entry point of a canister against the net's state: the message
//! context it sees, the execution (logged), and the state it leaves behind.

use super::{ExecutedMessage, LocalNet, RunStatus};
use crate::execution::{Commit, EntryPoint, Execution};
use crate::stable::StableMemory;
use crate::system_api::{ApiType, MessageCtx};
use candid::Principal;

const MESSAGE_LOG_CAPACITY: usize = 200_000;
const CANISTER_LOG_CAPACITY: usize = 10_000;

impl LocalNet {
    /// A context with the canister's current state; stable memory is moved in
    /// and must be put back with `restore_stable` (or `apply`).
    pub(crate) fn base_ctx(&mut self, canister: Principal, api: ApiType, limit: u64) -> MessageCtx {
        let mut ctx = MessageCtx::new(api, canister, self.costs.clone(), self.root_key_der.clone());
        let c = self
            .canisters
            .get_mut(&canister)
            .expect("base_ctx for an existing canister");
        ctx.balance = c.cycles;
        ctx.controllers = c.controllers.clone();
        ctx.status = match c.status {
            RunStatus::Running => 1,
            RunStatus::Stopping => 2,
            RunStatus::Stopped => 3,
        };
        ctx.version = c.version;
        ctx.stable = std::mem::take(&mut c.stable);
        ctx.global_timer = c.global_timer;
        ctx.env_vars = c.settings.environment_variables.clone();
        ctx.time = self.time;
        ctx.subnet_id = self.subnet_id;
        ctx.instruction_limit = limit;
        ctx
    }

    pub(crate) fn restore_stable(&mut self, canister: Principal, stable: StableMemory) {
        if let Some(c) = self.canisters.get_mut(&canister) {
            c.stable = stable;
        }
    }

    /// Runs an entry point of an installed canister and logs it.
    pub(crate) fn execute(
        &mut self,
        canister: Principal,
        entry: &EntryPoint,
        ctx: MessageCtx,
        commit: Commit,
        kind: String,
    ) -> Execution {
        let c = self
            .canisters
            .get_mut(&canister)
            .expect("execute on an existing canister");
        let wasm = c.wasm.as_mut().expect("execute on an installed canister");
        let exec = wasm.run(entry, ctx, commit);
        for line in &exec.ctx.debug_log {
            if std::env::var_os("LOCALNET_DEBUG_PRINT").is_some() {
                eprintln!("[{canister}] {line}");
            }
            if c.log.len() == CANISTER_LOG_CAPACITY {
                c.log.pop_front();
            }
            c.log.push_back(line.clone());
        }
        if let Err(e) = &exec.result {
            if c.log.len() == CANISTER_LOG_CAPACITY {
                c.log.pop_front();
            }
            c.log.push_back(format!("[TRAP] {kind}: {}", e.message));
        }
        self.log_message(canister, kind, exec.instructions, exec.result.is_err());
        exec
    }

    fn log_message(&mut self, canister: Principal, kind: String, instructions: u64, trapped: bool) {
        if self.message_log.len() >= MESSAGE_LOG_CAPACITY {
            self.message_log.drain(..MESSAGE_LOG_CAPACITY / 2);
        }
        self.message_log.push(ExecutedMessage {
            canister,
            kind,
            instructions,
            trapped,
            time: self.time,
        });
    }

    /// Puts a finished execution's canister state back: stable memory always
    /// (already rolled back if it trapped); balance, certified data and timer
    /// only if it did not trap; the execution fee in every case.
    pub(crate) fn commit_state(&mut self, canister: Principal, exec: &mut Execution) {
        let fee = self.costs.update_execution(exec.instructions);
        let ctx = &mut exec.ctx;
        let c = self
            .canisters
            .get_mut(&canister)
            .expect("committing state of an existing canister");
        c.stable = std::mem::take(&mut ctx.stable);
        if exec.result.is_ok() {
            c.cycles = ctx.balance;
            if let Some(data) = ctx.certified_data.take() {
                c.certified_data = data;
            }
            c.global_timer = ctx.global_timer;
        }
        c.cycles = c.cycles.saturating_sub(fee);
    }
}
