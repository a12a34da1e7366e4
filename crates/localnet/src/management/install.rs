//! `install_code`: install, reinstall and upgrade, each atomic (a trap in
//! any hook leaves the canister as it was), and the cache of prepared modules.

use super::{decode, reply};
use crate::error::RejectResponse;
use crate::execution::{Commit, EntryPoint, WasmInstance};
use crate::state::{
    empty_canister_reject, trap_reject, LocalNet, Request, INSTALL_INSTRUCTION_LIMIT,
};
use crate::system_api::ApiType;
use crate::wasm::{self, PreparedModule};
use candid::Principal;
use ic_error_types::ErrorCode;
use ic_management_canister_types::{CanisterInstallMode, InstallCodeArgs, WasmMemoryPersistence};
use std::sync::Arc;

impl LocalNet {
    pub(super) fn install_code_method(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: InstallCodeArgs = decode("install_code", &r.payload)?;
        self.controlled(args.canister_id, r.sender)?;
        let id = args.canister_id;
        let prepared = self.prepare_module(&args.wasm_module).map_err(|e| {
            RejectResponse::new(
                ErrorCode::CanisterInvalidWasm,
                format!("Error from Canister {id}: Canister's Wasm module is not valid: {e}"),
            )
        })?;
        let has_module = self.canisters[&id].wasm.is_some();
        match args.mode {
            CanisterInstallMode::Install if has_module => Err(RejectResponse::new(ErrorCode::CanisterNonEmpty,
                format!("Canister {id} cannot be installed because the canister is not empty. Try installing with mode='reinstall' instead."),
            )),
            CanisterInstallMode::Install | CanisterInstallMode::Reinstall => {
                self.install_fresh(id, r.sender, prepared, args.arg)?;
                reply(&())
            }
            CanisterInstallMode::Upgrade(flags) => {
                let flags = flags.unwrap_or_default();
                if flags.wasm_memory_persistence == Some(WasmMemoryPersistence::Keep) {
                    return Err(RejectResponse::new(ErrorCode::CanisterContractViolation,
                        format!("Error from Canister {id}: wasm_memory_persistence = keep needs enhanced orthogonal persistence, which this module does not declare"),
                    ));
                }
                if !has_module {
                    return Err(empty_canister_reject(&id));
                }
                self.upgrade(id, r.sender, prepared, args.arg, flags.skip_pre_upgrade.unwrap_or(false))?;
                reply(&())
            }
        }
    }

    /// Install or reinstall: a fresh instance, empty stable memory, then
    /// `canister_init`. The old state is kept until init succeeds.
    fn install_fresh(
        &mut self,
        id: Principal,
        caller: Principal,
        prepared: Arc<PreparedModule>,
        arg: Vec<u8>,
    ) -> Result<(), RejectResponse> {
        let new_wasm = self.instantiate(id, prepared.clone())?;
        let c = self
            .canisters
            .get_mut(&id)
            .expect("checked by install_code");
        let old_wasm = c.wasm.replace(new_wasm);
        let old_stable = std::mem::take(&mut c.stable);
        let (old_certified, old_timer) = (
            std::mem::take(&mut c.certified_data),
            std::mem::replace(&mut c.global_timer, 0),
        );
        let result = if prepared.exports.init {
            self.run_install_hook(
                id,
                ApiType::Init,
                "canister_init",
                caller,
                arg,
                INSTALL_INSTRUCTION_LIMIT,
            )
            .map(|_| ())
        } else {
            Ok(())
        };
        let c = self.canisters.get_mut(&id).expect("still there");
        match result {
            Ok(()) => {
                c.version += 1;
                drop((old_wasm, old_stable));
                self.reject_open_contexts(id);
                Ok(())
            }
            Err(e) => {
                c.wasm = old_wasm;
                c.stable = old_stable;
                c.certified_data = old_certified;
                c.global_timer = old_timer;
                Err(e)
            }
        }
    }

    /// Upgrade: `canister_pre_upgrade` on the old instance, a fresh instance
    /// (heap cleared, stable memory kept, timer deactivated), then
    /// `canister_post_upgrade`. Any trap leaves the canister as it was.
    fn upgrade(
        &mut self,
        id: Principal,
        caller: Principal,
        prepared: Arc<PreparedModule>,
        arg: Vec<u8>,
        skip_pre_upgrade: bool,
    ) -> Result<(), RejectResponse> {
        let c = &self.canisters[&id];
        let stable_backup = c.stable.clone();
        let (old_timer, runs_pre_upgrade) = (
            c.global_timer,
            !skip_pre_upgrade
                && c.wasm
                    .as_ref()
                    .is_some_and(|w| w.prepared.exports.pre_upgrade),
        );
        let mut used = 0;
        if runs_pre_upgrade {
            used = self.run_install_hook(
                id,
                ApiType::PreUpgrade,
                "canister_pre_upgrade",
                caller,
                Vec::new(),
                INSTALL_INSTRUCTION_LIMIT,
            )?;
        }
        let new_wasm = match self.instantiate(id, prepared.clone()) {
            Ok(w) => w,
            Err(e) => {
                self.canisters.get_mut(&id).expect("exists").stable = stable_backup;
                return Err(e);
            }
        };
        let c = self.canisters.get_mut(&id).expect("exists");
        let old_wasm = c.wasm.replace(new_wasm);
        c.global_timer = 0;
        let result = if prepared.exports.post_upgrade {
            let limit = INSTALL_INSTRUCTION_LIMIT - used;
            self.run_install_hook(
                id,
                ApiType::PostUpgrade,
                "canister_post_upgrade",
                caller,
                arg,
                limit,
            )
            .map(|_| ())
        } else {
            Ok(())
        };
        let c = self.canisters.get_mut(&id).expect("exists");
        match result {
            Ok(()) => {
                c.version += 1;
                Ok(())
            }
            Err(e) => {
                c.wasm = old_wasm;
                c.stable = stable_backup;
                c.global_timer = old_timer;
                Err(e)
            }
        }
    }

    fn instantiate(
        &mut self,
        id: Principal,
        prepared: Arc<PreparedModule>,
    ) -> Result<WasmInstance, RejectResponse> {
        let mut ctx = self.base_ctx(id, ApiType::Init, INSTALL_INSTRUCTION_LIMIT);
        let stable = std::mem::take(&mut ctx.stable);
        self.restore_stable(id, stable);
        let (wasm, _) =
            WasmInstance::new(&self.engine, prepared, ctx).map_err(|e| trap_reject(&id, e))?;
        Ok(wasm)
    }

    /// Runs init, pre_upgrade or post_upgrade; returns the instructions used.
    fn run_install_hook(
        &mut self,
        id: Principal,
        api: ApiType,
        export: &str,
        caller: Principal,
        arg: Vec<u8>,
        limit: u64,
    ) -> Result<u64, RejectResponse> {
        let mut ctx = self.base_ctx(id, api, limit);
        ctx.caller = caller;
        ctx.arg = arg;
        let commit = if api == ApiType::PreUpgrade {
            Commit::StableOnly
        } else {
            Commit::All
        };
        let kind = export.trim_start_matches("canister_").to_string();
        let mut exec = self.execute(
            id,
            &EntryPoint::Export(export.to_string()),
            ctx,
            commit,
            kind,
        );
        self.commit_state(id, &mut exec);
        match exec.result {
            Ok(()) => Ok(exec.instructions),
            Err(e) => Err(trap_reject(&id, e)),
        }
    }

    /// Prepares a module, reusing one already prepared from the same bytes.
    pub(crate) fn prepare_module(
        &mut self,
        wasm_bytes: &[u8],
    ) -> Result<Arc<PreparedModule>, wasm::InvalidWasm> {
        use sha2::Digest;
        let key: [u8; 32] = sha2::Sha256::digest(wasm_bytes).into();
        if let Some(prepared) = self.module_cache.get(&key) {
            return Ok(prepared.clone());
        }
        let prepared = Arc::new(wasm::prepare(&self.engine, &self.linker, wasm_bytes)?);
        self.module_cache.insert(key, prepared.clone());
        Ok(prepared)
    }
}
