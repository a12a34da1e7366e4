//! The management canister (`aaaaa-aa`): canister lifecycle, randomness,
//! threshold signatures and HTTPS outcalls, with the IC's checks on who may
//! call what and how many cycles it costs.

use crate::error::RejectResponse;
use crate::execution::{Commit, EntryPoint, WasmInstance};
use crate::net::{
    trap_reject, Canister, ContextOrigin, HeldOutcall, LocalNet, OutcallMode, Request, RunStatus,
    INSTALL_INSTRUCTION_LIMIT, QUERY_INSTRUCTION_LIMIT,
};
use crate::stable::StableMemory;
use crate::system_api::{ApiType, Response};
use candid::{CandidType, Decode, Encode, Nat, Principal};
use ic_error_types::{ErrorCode, RejectCode};
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, CanisterSettings, CanisterStatusResult,
    CanisterStatusType, CreateCanisterArgs, DefiniteCanisterSettings, EcdsaPublicKeyArgs,
    EnvironmentVariable, HttpRequestArgs, HttpRequestResult, InstallCodeArgs, MemoryMetrics,
    ProvisionalCreateCanisterWithCyclesArgs, ProvisionalTopUpCanisterArgs, QueryStats,
    SchnorrPublicKeyArgs, SignWithEcdsaArgs, SignWithSchnorrArgs, TransformArgs, UninstallCodeArgs,
    UpdateSettingsArgs, WasmMemoryPersistence,
};
use rand::RngCore;
use std::collections::VecDeque;
use std::sync::Arc;

/// Settings a controller can change with `update_settings` (controllers are
/// kept on the canister itself).
#[derive(Clone, Debug)]
pub struct Settings {
    pub compute_allocation: Nat,
    pub memory_allocation: Nat,
    pub freezing_threshold: Nat,
    pub reserved_cycles_limit: Nat,
    pub wasm_memory_limit: Nat,
    pub wasm_memory_threshold: Nat,
    pub log_visibility: ic_management_canister_types::LogVisibility,
    pub environment_variables: Vec<(String, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            compute_allocation: Nat::from(0u8),
            memory_allocation: Nat::from(0u8),
            // The IC's defaults: 30 days of freezing threshold, 5T reserved cycles limit, 3 GiB Wasm memory limit.
            freezing_threshold: Nat::from(2_592_000u64),
            reserved_cycles_limit: Nat::from(5_000_000_000_000u64),
            wasm_memory_limit: Nat::from(3u64 << 30),
            wasm_memory_threshold: Nat::from(0u8),
            log_visibility: ic_management_canister_types::LogVisibility::Controllers,
            environment_variables: Vec::new(),
        }
    }
}

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

    // ----- creating canisters ---------------------------------------------------

    /// The textual id of the n-th canister, as the IC allocates ids in a range.
    fn next_canister_id(&mut self) -> Principal {
        loop {
            let mut bytes = self.next_canister_index.to_be_bytes().to_vec();
            bytes.extend_from_slice(&[0x01, 0x01]);
            self.next_canister_index += 1;
            let id = Principal::from_slice(&bytes);
            if !self.canisters.contains_key(&id) {
                return id;
            }
        }
    }

    pub(crate) fn insert_canister(
        &mut self,
        id: Principal,
        controllers: Vec<Principal>,
        cycles: u128,
        settings: Option<CanisterSettings>,
    ) {
        let mut canister = Canister {
            id,
            controllers,
            cycles,
            status: RunStatus::Running,
            version: 0,
            wasm: None,
            stable: StableMemory::default(),
            certified_data: Vec::new(),
            global_timer: 0,
            settings: Settings::default(),
            stop_waiters: Vec::new(),
            log: VecDeque::new(),
        };
        if let Some(settings) = settings {
            apply_settings(&mut canister, settings);
        }
        self.canisters.insert(id, canister);
    }

    fn create_canister_method(&mut self, r: &Request) -> Answer {
        let args: CreateCanisterArgs = match decode("create_canister", &r.payload) {
            Ok(a) => a,
            Err(e) => return Answer::Now(Err(e), 0),
        };
        let fee = self.costs.create_canister();
        if r.cycles < fee {
            let msg = format!("Creating a canister requires a fee of {fee} that is deducted from the canister's initial balance but only {} cycles were received with the create_canister request.", r.cycles);
            return Answer::Now(
                Err(RejectResponse::new(
                    ErrorCode::InsufficientCyclesForCreateCanister,
                    msg,
                )),
                0,
            );
        }
        if let Err(e) = validate_settings(args.settings.as_ref()) {
            return Answer::Now(Err(e), 0);
        }
        let id = self.next_canister_id();
        let controllers = default_controllers(args.settings.as_ref(), r.sender);
        self.insert_canister(id, controllers, r.cycles - fee, args.settings);
        Answer::Now(reply(&CanisterIdRecord { canister_id: id }), r.cycles)
    }

    fn provisional_create(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: ProvisionalCreateCanisterWithCyclesArgs =
            decode("provisional_create_canister_with_cycles", &r.payload)?;
        validate_settings(args.settings.as_ref())?;
        let cycles = match args.amount {
            Some(n) => nat_to_u128(&n, "amount")?,
            None => crate::net::DEFAULT_CANISTER_CYCLES,
        };
        let id = match args.specified_id {
            Some(id) if self.canisters.contains_key(&id) => {
                return Err(RejectResponse::new(
                    ErrorCode::CanisterIdAlreadyExists,
                    format!("Canister {id} is already installed."),
                ))
            }
            Some(id) => id,
            None => self.next_canister_id(),
        };
        let controllers = default_controllers(args.settings.as_ref(), r.sender);
        self.insert_canister(id, controllers, cycles, args.settings);
        reply(&CanisterIdRecord { canister_id: id })
    }

    fn top_up(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: ProvisionalTopUpCanisterArgs = decode("provisional_top_up_canister", &r.payload)?;
        let amount = nat_to_u128(&args.amount, "amount")?;
        let c = self
            .canisters
            .get_mut(&args.canister_id)
            .ok_or_else(|| RejectResponse::canister_not_found(&args.canister_id))?;
        c.cycles += amount;
        reply(&())
    }

    fn deposit_cycles(&mut self, r: &Request) -> Answer {
        let result = decode::<CanisterIdRecord>("deposit_cycles", &r.payload).and_then(|args| {
            let c = self
                .canisters
                .get_mut(&args.canister_id)
                .ok_or_else(|| RejectResponse::canister_not_found(&args.canister_id))?;
            c.cycles += r.cycles;
            Ok(())
        });
        match result {
            Ok(()) => Answer::Now(reply(&()), r.cycles),
            Err(e) => Answer::Now(Err(e), 0),
        }
    }

    // ----- controllers' methods -------------------------------------------------

    /// The canister, if `caller` controls it.
    fn controlled(
        &mut self,
        canister: Principal,
        caller: Principal,
    ) -> Result<&mut Canister, RejectResponse> {
        let c = self
            .canisters
            .get_mut(&canister)
            .ok_or_else(|| RejectResponse::canister_not_found(&canister))?;
        if !c.controllers.contains(&caller) {
            return Err(RejectResponse::not_controller(&canister, &caller));
        }
        Ok(c)
    }

    fn update_settings_method(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: UpdateSettingsArgs = decode("update_settings", &r.payload)?;
        validate_settings(Some(&args.settings))?;
        let c = self.controlled(args.canister_id, r.sender)?;
        apply_settings(c, args.settings);
        reply(&())
    }

    fn canister_status_method(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: CanisterIdRecord = decode("canister_status", &r.payload)?;
        let c = self.controlled(args.canister_id, r.sender)?;
        reply(&status_of(c))
    }

    fn start_canister_method(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: CanisterIdRecord = decode("start_canister", &r.payload)?;
        let c = self.controlled(args.canister_id, r.sender)?;
        c.status = RunStatus::Running;
        let cancelled = std::mem::take(&mut c.stop_waiters);
        for origin in cancelled {
            let reject = RejectResponse::new(
                ErrorCode::CanisterStoppingCancelled,
                format!(
                    "Canister {}'s stop request was cancelled.",
                    args.canister_id
                ),
            );
            self.answer_origin(&origin, Err(reject), 0);
        }
        reply(&())
    }

    fn stop_canister_method(&mut self, r: &Request) -> Answer {
        let args: CanisterIdRecord = match decode("stop_canister", &r.payload) {
            Ok(a) => a,
            Err(e) => return Answer::Now(Err(e), 0),
        };
        let c = match self.controlled(args.canister_id, r.sender) {
            Ok(c) => c,
            Err(e) => return Answer::Now(Err(e), 0),
        };
        if c.status == RunStatus::Stopped {
            return Answer::Now(reply(&()), 0);
        }
        c.status = RunStatus::Stopping;
        c.stop_waiters.push(r.origin.clone());
        self.complete_stop_if_idle(args.canister_id);
        Answer::Later
    }

    fn delete_canister_method(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: CanisterIdRecord = decode("delete_canister", &r.payload)?;
        let c = self.controlled(args.canister_id, r.sender)?;
        if c.status != RunStatus::Stopped {
            return Err(RejectResponse::new(
                ErrorCode::CanisterNotStopped,
                format!(
                    "Canister {} must be stopped before it is deleted.",
                    args.canister_id
                ),
            ));
        }
        self.canisters.remove(&args.canister_id);
        self.bump_epoch(args.canister_id);
        reply(&())
    }

    fn uninstall_code(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: UninstallCodeArgs = decode("uninstall_code", &r.payload)?;
        let c = self.controlled(args.canister_id, r.sender)?;
        c.wasm = None;
        c.stable.clear();
        c.certified_data.clear();
        c.global_timer = 0;
        c.version += 1;
        self.reject_open_contexts(args.canister_id);
        reply(&())
    }

    fn bump_epoch(&mut self, canister: Principal) {
        *self.module_epochs.entry(canister).or_insert(0) += 1;
    }

    /// After uninstall/reinstall: the canister's open calls are answered with a
    /// reject and their callbacks will not run (the spec's "deleted" contexts).
    fn reject_open_contexts(&mut self, canister: Principal) {
        self.bump_epoch(canister);
        let open: Vec<u64> = self
            .contexts
            .iter()
            .filter(|(_, c)| c.canister == canister)
            .map(|(id, _)| *id)
            .collect();
        for id in open {
            let reject = RejectResponse::new(
                ErrorCode::CanisterRejectedMessage,
                "Canister has been uninstalled.",
            );
            self.respond(id, Err(reject));
        }
    }

    // ----- install_code ---------------------------------------------------------

    fn install_code_method(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
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
                    return Err(crate::net::empty_canister_reject(&id));
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
        prepared: Arc<crate::wasm::PreparedModule>,
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
        prepared: Arc<crate::wasm::PreparedModule>,
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
        prepared: Arc<crate::wasm::PreparedModule>,
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

    // ----- randomness and threshold keys -------------------------------------

    fn raw_rand(&mut self) -> Result<Vec<u8>, RejectResponse> {
        let mut bytes = vec![0u8; 32];
        self.rng.fill_bytes(&mut bytes);
        reply(&bytes)
    }

    fn ecdsa_public_key(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: EcdsaPublicKeyArgs = decode("ecdsa_public_key", &r.payload)?;
        let result = self
            .keys
            .ecdsa_public_key(r.sender, &args)
            .map_err(threshold_reject)?;
        reply(&result)
    }

    fn schnorr_public_key(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: SchnorrPublicKeyArgs = decode("schnorr_public_key", &r.payload)?;
        let result = self
            .keys
            .schnorr_public_key(r.sender, &args)
            .map_err(threshold_reject)?;
        reply(&result)
    }

    fn sign_with_ecdsa(&mut self, r: &Request) -> Answer {
        let args: SignWithEcdsaArgs = match decode("sign_with_ecdsa", &r.payload) {
            Ok(a) => a,
            Err(e) => return Answer::Now(Err(e), 0),
        };
        let curve = args.key_id.curve as u32;
        let cost = self.costs.sign_with_ecdsa(&args.key_id.name, curve);
        self.paid_signature(r, "sign_with_ecdsa", cost, |net| {
            net.keys.sign_with_ecdsa(r.sender, &args)
        })
    }

    fn sign_with_schnorr(&mut self, r: &Request) -> Answer {
        let args: SignWithSchnorrArgs = match decode("sign_with_schnorr", &r.payload) {
            Ok(a) => a,
            Err(e) => return Answer::Now(Err(e), 0),
        };
        let algorithm = args.key_id.algorithm as u32;
        let cost = self.costs.sign_with_schnorr(&args.key_id.name, algorithm);
        self.paid_signature(r, "sign_with_schnorr", cost, |net| {
            net.keys.sign_with_schnorr(r.sender, &args)
        })
    }

    /// A signature costs the key's fee, which the caller must attach.
    fn paid_signature<T: CandidType>(
        &mut self,
        r: &Request,
        method: &str,
        cost: Result<u128, u32>,
        sign: impl FnOnce(&mut Self) -> Result<T, localnet_services::threshold::ThresholdError>,
    ) -> Answer {
        if let Ok(cost) = cost {
            if r.cycles < cost {
                return Answer::Now(Err(insufficient_cycles(method, r.cycles, cost)), 0);
            }
        }
        match sign(self) {
            Ok(result) => Answer::Now(reply(&result), cost.unwrap_or(0)),
            Err(e) => Answer::Now(Err(threshold_reject(e)), 0),
        }
    }

    // ----- HTTPS outcalls -------------------------------------------------------

    fn http_request(&mut self, r: &Request) -> Answer {
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
    pub fn pending_http_outcalls(&self) -> Vec<crate::net::PendingOutcall> {
        self.held_outcalls
            .iter()
            .map(|(id, h)| crate::net::PendingOutcall {
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

fn default_controllers(settings: Option<&CanisterSettings>, sender: Principal) -> Vec<Principal> {
    settings
        .and_then(|s| s.controllers.clone())
        .unwrap_or_else(|| vec![sender])
}

/// The IC allows at most 10 controllers and bounded environment variables.
fn validate_settings(settings: Option<&CanisterSettings>) -> Result<(), RejectResponse> {
    let Some(s) = settings else { return Ok(()) };
    let invalid = |msg: String| RejectResponse::new(ErrorCode::InvalidManagementPayload, msg);
    if s.controllers.as_ref().is_some_and(|c| c.len() > 10) {
        return Err(invalid(
            "Invalid settings: at most 10 controllers are allowed".into(),
        ));
    }
    if let Some(vars) = &s.environment_variables {
        if vars.len() > 20 {
            return Err(invalid(
                "Invalid settings: at most 20 environment variables are allowed".into(),
            ));
        }
        if vars
            .iter()
            .any(|v| v.name.len() > 128 || v.value.len() > 128)
        {
            return Err(invalid(
                "Invalid settings: environment variable names and values are at most 128 bytes"
                    .into(),
            ));
        }
    }
    Ok(())
}

fn apply_settings(c: &mut Canister, settings: CanisterSettings) {
    if let Some(controllers) = settings.controllers {
        c.controllers = controllers;
    }
    let s = &mut c.settings;
    let set = |target: &mut Nat, value: Option<Nat>| {
        if let Some(v) = value {
            *target = v;
        }
    };
    set(&mut s.compute_allocation, settings.compute_allocation);
    set(&mut s.memory_allocation, settings.memory_allocation);
    set(&mut s.freezing_threshold, settings.freezing_threshold);
    set(&mut s.reserved_cycles_limit, settings.reserved_cycles_limit);
    set(&mut s.wasm_memory_limit, settings.wasm_memory_limit);
    set(&mut s.wasm_memory_threshold, settings.wasm_memory_threshold);
    if let Some(visibility) = settings.log_visibility {
        s.log_visibility = visibility;
    }
    if let Some(vars) = settings.environment_variables {
        s.environment_variables = vars.into_iter().map(|v| (v.name, v.value)).collect();
    }
}

fn status_of(c: &Canister) -> CanisterStatusResult {
    let wasm_memory = c.wasm.as_ref().map_or(0, |w| w.memory_size());
    let stable = c.stable.size_bytes();
    let s = &c.settings;
    CanisterStatusResult {
        status: match c.status {
            RunStatus::Running => CanisterStatusType::Running,
            RunStatus::Stopping => CanisterStatusType::Stopping,
            RunStatus::Stopped => CanisterStatusType::Stopped,
        },
        ready_for_migration: false,
        version: c.version,
        settings: DefiniteCanisterSettings {
            controllers: c.controllers.clone(),
            compute_allocation: s.compute_allocation.clone(),
            memory_allocation: s.memory_allocation.clone(),
            freezing_threshold: s.freezing_threshold.clone(),
            reserved_cycles_limit: s.reserved_cycles_limit.clone(),
            minimum_incoming_canister_call_cycles: Nat::from(0u8),
            log_visibility: s.log_visibility.clone(),
            log_memory_limit: Nat::from(4096u64),
            snapshot_visibility: Default::default(),
            status_visibility: Default::default(),
            wasm_memory_limit: s.wasm_memory_limit.clone(),
            wasm_memory_threshold: s.wasm_memory_threshold.clone(),
            environment_variables: s
                .environment_variables
                .iter()
                .map(|(name, value)| EnvironmentVariable {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
        },
        module_hash: c.wasm.as_ref().map(|w| w.prepared.module_hash.to_vec()),
        memory_size: Nat::from(wasm_memory + stable),
        memory_metrics: MemoryMetrics {
            wasm_memory_size: Nat::from(wasm_memory),
            stable_memory_size: Nat::from(stable),
            global_memory_size: Nat::from(0u8),
            wasm_binary_size: Nat::from(0u8),
            custom_sections_size: Nat::from(0u8),
            canister_history_size: Nat::from(0u8),
            wasm_chunk_store_size: Nat::from(0u8),
            snapshots_size: Nat::from(0u8),
            log_memory_store_size: Nat::from(0u8),
        },
        cycles: Nat::from(c.cycles),
        reserved_cycles: Nat::from(0u8),
        idle_cycles_burned_per_day: Nat::from(0u8),
        query_stats: QueryStats {
            num_calls_total: Nat::from(0u8),
            num_instructions_total: Nat::from(0u8),
            request_payload_bytes_total: Nat::from(0u8),
            response_payload_bytes_total: Nat::from(0u8),
        },
    }
}

fn nat_to_u128(n: &Nat, what: &str) -> Result<u128, RejectResponse> {
    u128::try_from(n.0.clone()).map_err(|_| {
        RejectResponse::new(
            ErrorCode::InvalidManagementPayload,
            format!("{what} does not fit in 128 bits"),
        )
    })
}

fn insufficient_cycles(method: &str, sent: u128, required: u128) -> RejectResponse {
    RejectResponse::new(
        ErrorCode::CanisterRejectedMessage,
        format!("{method} request sent with {sent} cycles, but {required} cycles are required."),
    )
}

fn threshold_reject(e: localnet_services::threshold::ThresholdError) -> RejectResponse {
    RejectResponse::custom(
        e.reject_code(),
        ErrorCode::CanisterRejectedMessage,
        e.to_string(),
    )
}

fn outcall_reject(e: localnet_services::http_outcall::OutcallError) -> RejectResponse {
    RejectResponse::custom(e.code, ErrorCode::CanisterRejectedMessage, e.message)
}
