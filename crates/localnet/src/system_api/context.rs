//! What one running message sees and changes: its [`MessageCtx`], held in
//! the wasmtime store, and the effects collected in it.

use super::ApiType;
use crate::stable::StableMemory;
use candid::Principal;
use ic_error_types::ErrorCode;
use localnet_services::cost::SubnetCosts as CostSchedule;
use std::sync::Arc;
use wasmtime::Memory;

/// A response produced by a message for its call context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Reply(Vec<u8>),
    Reject(String),
}

/// A function in the canister's table with its environment argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WasmClosure {
    pub func: u32,
    pub env: u32,
}

/// An inter-canister call assembled by `call_new` … `call_perform`.
#[derive(Clone, Debug)]
pub struct OutgoingCall {
    pub callee: Principal,
    pub method: String,
    pub payload: Vec<u8>,
    pub cycles: u128,
    pub on_reply: WasmClosure,
    pub on_reject: WasmClosure,
    pub on_cleanup: Option<WasmClosure>,
    /// Set by `call_with_best_effort_response`.
    pub timeout_seconds: Option<u32>,
}

/// Lazily built data certificate for non-replicated queries (a BLS signature
/// costs about a millisecond, and most queries never ask for it).
pub struct CertificateSource {
    pub build: Box<dyn Fn() -> Vec<u8> + Send + Sync>,
    pub cached: Option<Vec<u8>>,
}

/// Everything a running message can observe or change.
pub struct MessageCtx {
    pub api: ApiType,
    pub canister_id: Principal,
    pub caller: Principal,
    pub method_name: String,
    pub arg: Vec<u8>,
    /// For reject callbacks: the reject code and message.
    pub reject: Option<(u32, String)>,
    /// `msg_deadline`: 0 for calls with guaranteed responses.
    pub deadline: u64,
    /// Whether the call context was already answered before this message.
    pub already_responded: bool,
    pub reply_buf: Vec<u8>,
    pub response: Option<Response>,
    /// Cycles of the call context not yet accepted.
    pub cycles_available: u128,
    /// Cycles accepted by this message (moved to the balance).
    pub cycles_accepted: u128,
    /// Cycles refunded with the response this callback runs for.
    pub cycles_refunded: u128,
    pub balance: u128,
    pub cycles_burned: u128,
    pub controllers: Vec<Principal>,
    /// canister_status: 1 running, 2 stopping, 3 stopped.
    pub status: u32,
    pub version: u64,
    pub stable: StableMemory,
    pub certified_data: Option<Vec<u8>>,
    pub global_timer: u64,
    pub time: u64,
    pub pending_call: Option<OutgoingCall>,
    pub outgoing: Vec<OutgoingCall>,
    pub message_accepted: bool,
    pub certificate: Option<CertificateSource>,
    pub root_key_der: Arc<Vec<u8>>,
    pub env_vars: Vec<(String, String)>,
    pub subnet_id: Principal,
    pub costs: Arc<CostSchedule>,
    pub instruction_limit: u64,
    /// Instructions that earlier messages of the same call context used.
    pub call_context_instructions: u64,
    pub debug_log: Vec<String>,
}

impl MessageCtx {
    /// A context with neutral values; the executor fills in what the entry point needs.
    pub fn new(
        api: ApiType,
        canister_id: Principal,
        costs: Arc<CostSchedule>,
        root_key_der: Arc<Vec<u8>>,
    ) -> Self {
        MessageCtx {
            api,
            canister_id,
            caller: Principal::management_canister(),
            method_name: String::new(),
            arg: Vec::new(),
            reject: None,
            deadline: 0,
            already_responded: false,
            reply_buf: Vec::new(),
            response: None,
            cycles_available: 0,
            cycles_accepted: 0,
            cycles_refunded: 0,
            balance: 0,
            cycles_burned: 0,
            controllers: Vec::new(),
            status: 1,
            version: 0,
            stable: StableMemory::default(),
            certified_data: None,
            global_timer: 0,
            time: 0,
            pending_call: None,
            outgoing: Vec::new(),
            message_accepted: false,
            certificate: None,
            root_key_der,
            env_vars: Vec::new(),
            subnet_id: Principal::management_canister(),
            costs,
            instruction_limit: 0,
            call_context_instructions: 0,
            debug_log: Vec::new(),
        }
    }

    pub(super) fn responded(&self) -> bool {
        self.already_responded || self.response.is_some()
    }
}

/// Data of a canister's wasmtime store.
pub struct StoreData {
    pub ctx: MessageCtx,
    pub memory: Option<Memory>,
}

/// A trap raised by a system function, with the replica's error code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct HostTrap {
    pub code: ErrorCode,
    pub message: String,
}
