//! Creating canisters, topping them up, and the controllers' methods:
//! settings, status, start, stop, delete and uninstall.

use super::{decode, reply, Answer};
use crate::error::RejectResponse;
use crate::stable::StableMemory;
use crate::state::{Canister, LocalNet, Request, RunStatus, Settings, DEFAULT_CANISTER_CYCLES};
use candid::{Nat, Principal};
use ic_error_types::ErrorCode;
use ic_management_canister_types::{
    CanisterIdRecord, CanisterSettings, CanisterStatusResult, CanisterStatusType,
    CreateCanisterArgs, DefiniteCanisterSettings, EnvironmentVariable, MemoryMetrics,
    ProvisionalCreateCanisterWithCyclesArgs, ProvisionalTopUpCanisterArgs, QueryStats,
    UninstallCodeArgs, UpdateSettingsArgs,
};
use std::collections::VecDeque;

impl LocalNet {
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

    pub(super) fn create_canister_method(&mut self, r: &Request) -> Answer {
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

    pub(super) fn provisional_create(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: ProvisionalCreateCanisterWithCyclesArgs =
            decode("provisional_create_canister_with_cycles", &r.payload)?;
        validate_settings(args.settings.as_ref())?;
        let cycles = match args.amount {
            Some(n) => nat_to_u128(&n, "amount")?,
            None => DEFAULT_CANISTER_CYCLES,
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

    pub(super) fn top_up(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: ProvisionalTopUpCanisterArgs = decode("provisional_top_up_canister", &r.payload)?;
        let amount = nat_to_u128(&args.amount, "amount")?;
        let c = self
            .canisters
            .get_mut(&args.canister_id)
            .ok_or_else(|| RejectResponse::canister_not_found(&args.canister_id))?;
        c.cycles += amount;
        reply(&())
    }

    pub(super) fn deposit_cycles(&mut self, r: &Request) -> Answer {
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

    /// The canister, if `caller` controls it.
    pub(super) fn controlled(
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

    pub(super) fn update_settings_method(
        &mut self,
        r: &Request,
    ) -> Result<Vec<u8>, RejectResponse> {
        let args: UpdateSettingsArgs = decode("update_settings", &r.payload)?;
        validate_settings(Some(&args.settings))?;
        let c = self.controlled(args.canister_id, r.sender)?;
        apply_settings(c, args.settings);
        reply(&())
    }

    pub(super) fn canister_status_method(
        &mut self,
        r: &Request,
    ) -> Result<Vec<u8>, RejectResponse> {
        let args: CanisterIdRecord = decode("canister_status", &r.payload)?;
        let c = self.controlled(args.canister_id, r.sender)?;
        reply(&status_of(c))
    }

    pub(super) fn start_canister_method(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
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

    pub(super) fn stop_canister_method(&mut self, r: &Request) -> Answer {
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

    pub(super) fn delete_canister_method(
        &mut self,
        r: &Request,
    ) -> Result<Vec<u8>, RejectResponse> {
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

    pub(super) fn uninstall_code(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
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
    pub(super) fn reject_open_contexts(&mut self, canister: Principal) {
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
