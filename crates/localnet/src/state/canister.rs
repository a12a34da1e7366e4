//! A canister as the net holds it: controllers, cycles, run status, the
//! installed module, stable memory and the settings `update_settings` changes.

use super::ContextOrigin;
use crate::execution::WasmInstance;
use crate::stable::StableMemory;
use candid::{Nat, Principal};
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunStatus {
    Running,
    Stopping,
    Stopped,
}

pub(crate) struct Canister {
    pub id: Principal,
    pub controllers: Vec<Principal>,
    pub cycles: u128,
    pub status: RunStatus,
    pub version: u64,
    pub wasm: Option<WasmInstance>,
    pub stable: StableMemory,
    pub certified_data: Vec<u8>,
    pub global_timer: u64,
    pub settings: Settings,
    /// Answers owed to `stop_canister` callers once the canister has stopped.
    pub stop_waiters: Vec<ContextOrigin>,
    pub log: VecDeque<String>,
}

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
