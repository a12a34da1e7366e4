//! The `ic0` system API: what a canister can see and do while one message runs.
//!
//! Host functions read and write a [`MessageCtx`] held in the wasmtime store.
//! Nothing here touches the rest of the net: effects (reply, outgoing calls,
//! cycles, certified data, timer) are collected in the context and applied by
//! the executor only if the message finishes without trapping, which is what
//! makes every entry point atomic as the IC interface specification requires.

use crate::stable::{StableMemory, MAX_STABLE32_PAGES, MAX_STABLE_PAGES};
use candid::Principal;
use ic_error_types::ErrorCode;
use localnet_services::cost::SubnetCosts as CostSchedule;
use std::sync::Arc;
use wasmtime::{Caller, Linker, Memory};

/// Instructions charged for entering any system function, on top of the
/// per-byte cost of the data it copies (the IC charges similar fixed overheads).
const SYSTEM_CALL_OVERHEAD: u64 = 20;
const CALL_PERFORM_OVERHEAD: u64 = 5_000;
const DEBUG_PRINT_OVERHEAD: u64 = 100;
/// The IC's cap on the payload of an inter-canister request.
pub const MAX_INTER_CANISTER_PAYLOAD: usize = 2 * 1024 * 1024;
/// The IC's cap on a reply.
pub const MAX_REPLY_SIZE: usize = 2 * 1024 * 1024;
/// Certified data is at most 32 bytes.
const MAX_CERTIFIED_DATA: usize = 32;

/// The kind of entry point running, which decides which system calls it may make
/// (the spec's I, G, U, RQ, NRQ, Ry, Rt, C, F, T abbreviations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiType {
    Init,
    PreUpgrade,
    PostUpgrade,
    Update,
    /// A query method executed as part of an update call (state discarded).
    ReplicatedQuery,
    /// A query method called through the query interface: it may read a data certificate.
    NonReplicatedQuery,
    ReplyCallback,
    RejectCallback,
    Cleanup,
    InspectMessage,
    /// `canister_global_timer`, `canister_heartbeat`, `canister_on_low_wasm_memory`.
    SystemTask,
}

impl ApiType {
    fn name(self) -> &'static str {
        match self {
            ApiType::Init => "init",
            ApiType::PreUpgrade => "pre_upgrade",
            ApiType::PostUpgrade => "post_upgrade",
            ApiType::Update => "update",
            ApiType::ReplicatedQuery => "replicated query",
            ApiType::NonReplicatedQuery => "non-replicated query",
            ApiType::ReplyCallback => "reply callback",
            ApiType::RejectCallback => "reject callback",
            ApiType::Cleanup => "cleanup",
            ApiType::InspectMessage => "inspect message",
            ApiType::SystemTask => "system task",
        }
    }

    fn is_query(self) -> bool {
        matches!(self, ApiType::ReplicatedQuery | ApiType::NonReplicatedQuery)
    }

    fn is_callback(self) -> bool {
        matches!(self, ApiType::ReplyCallback | ApiType::RejectCallback)
    }

    /// U Q Ry Rt: entry points that belong to a call context that can be answered.
    fn can_respond(self) -> bool {
        matches!(self, ApiType::Update) || self.is_query() || self.is_callback()
    }

    /// U Ry Rt T: entry points that may make inter-canister calls.
    fn can_call(self) -> bool {
        matches!(self, ApiType::Update | ApiType::SystemTask) || self.is_callback()
    }

    /// I G U Ry Rt T: entry points whose state changes persist.
    fn can_change_state(self) -> bool {
        matches!(
            self,
            ApiType::Init
                | ApiType::PreUpgrade
                | ApiType::PostUpgrade
                | ApiType::Update
                | ApiType::SystemTask
        ) || self.is_callback()
    }

    /// U RQ Ry Rt.
    fn can_accept_cycles(self) -> bool {
        matches!(self, ApiType::Update | ApiType::ReplicatedQuery) || self.is_callback()
    }

    /// I G U RQ Ry Rt C T.
    fn can_burn_cycles(self) -> bool {
        !matches!(self, ApiType::NonReplicatedQuery | ApiType::InspectMessage)
    }

    /// The spec's maximum response size: 3 MiB for non-replicated queries,
    /// 2 MiB when the response goes through consensus.
    pub fn max_reply_size(self) -> usize {
        if self == ApiType::NonReplicatedQuery {
            3 * 1024 * 1024
        } else {
            MAX_REPLY_SIZE
        }
    }

    pub fn is_replicated(self) -> bool {
        !matches!(self, ApiType::NonReplicatedQuery | ApiType::InspectMessage)
    }
}

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

    fn responded(&self) -> bool {
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

type HostResult<T> = wasmtime::Result<T>;

fn trap<T>(code: ErrorCode, message: impl Into<String>) -> HostResult<T> {
    Err(wasmtime::Error::new(HostTrap {
        code,
        message: message.into(),
    }))
}

fn violation<T>(message: impl Into<String>) -> HostResult<T> {
    trap(ErrorCode::CanisterContractViolation, message)
}

fn not_allowed<T>(caller: &Caller<'_, StoreData>, function: &str) -> HostResult<T> {
    violation(format!(
        "\"ic0_{function}\" cannot be executed in {} mode",
        caller.data().ctx.api.name()
    ))
}

/// Charges `SYSTEM_CALL_OVERHEAD + bytes` instructions, trapping with the
/// instruction-limit error if the message has no fuel left.
fn charge(caller: &mut Caller<'_, StoreData>, extra: u64) -> HostResult<()> {
    let cost = SYSTEM_CALL_OVERHEAD + extra;
    let fuel = caller.get_fuel()?;
    if fuel < cost {
        caller.set_fuel(0)?;
        return trap(
            ErrorCode::CanisterInstructionLimitExceeded,
            "instruction limit exceeded in a system call",
        );
    }
    caller.set_fuel(fuel - cost)?;
    Ok(())
}

fn memory(caller: &Caller<'_, StoreData>) -> HostResult<Memory> {
    match caller.data().memory {
        Some(memory) => Ok(memory),
        None => violation("the canister module has no memory"),
    }
}

fn range(start: u64, size: u64, len: usize, what: &str) -> HostResult<std::ops::Range<usize>> {
    match start.checked_add(size) {
        Some(end) if end <= len as u64 => Ok(start as usize..end as usize),
        _ => violation(format!(
            "{what}: range {start}+{size} is out of bounds (length {len})"
        )),
    }
}

/// Reads `size` bytes of Wasm memory at `src`.
fn read_memory(caller: &mut Caller<'_, StoreData>, src: u64, size: u64) -> HostResult<Vec<u8>> {
    charge(caller, size)?;
    let mem = memory(caller)?;
    let data = mem.data(&*caller);
    Ok(data[range(src, size, data.len(), "reading Wasm memory")?].to_vec())
}

/// Copies `size` bytes from `offset` of a byte string chosen from the context
/// into Wasm memory at `dst` (the `*_copy` functions of the spec).
fn copy_out(
    caller: &mut Caller<'_, StoreData>,
    dst: u64,
    offset: u64,
    size: u64,
    source: impl FnOnce(&MessageCtx) -> &[u8],
) -> HostResult<()> {
    charge(caller, size)?;
    let mem = memory(caller)?;
    let (data, store) = mem.data_and_store_mut(&mut *caller);
    let src = source(&store.ctx);
    let from = range(offset, size, src.len(), "copying from the system")?;
    let to = range(dst, size, data.len(), "copying to Wasm memory")?;
    data[to].copy_from_slice(&src[from]);
    Ok(())
}

fn write_memory(caller: &mut Caller<'_, StoreData>, dst: u64, bytes: &[u8]) -> HostResult<()> {
    let mem = memory(caller)?;
    let data = mem.data_mut(&mut *caller);
    let to = range(
        dst,
        bytes.len() as u64,
        data.len(),
        "writing to Wasm memory",
    )?;
    data[to].copy_from_slice(bytes);
    Ok(())
}

fn write_u128(caller: &mut Caller<'_, StoreData>, dst: u32, value: u128) -> HostResult<()> {
    write_memory(caller, dst as u64, &value.to_le_bytes())
}

fn u128_of(high: i64, low: i64) -> u128 {
    ((high as u64 as u128) << 64) | low as u64 as u128
}

fn ctx<'a>(caller: &'a Caller<'_, StoreData>) -> &'a MessageCtx {
    &caller.data().ctx
}

fn ctx_mut<'a>(caller: &'a mut Caller<'_, StoreData>) -> &'a mut MessageCtx {
    &mut caller.data_mut().ctx
}

/// Every `ic0` function localnet provides; a module importing anything else is
/// refused at install time.
pub const SYSTEM_API_NAMES: &[&str] = &[
    "msg_arg_data_size",
    "msg_arg_data_copy",
    "msg_caller_size",
    "msg_caller_copy",
    "msg_caller_info_data_size",
    "msg_caller_info_data_copy",
    "msg_caller_info_signer_size",
    "msg_caller_info_signer_copy",
    "msg_reject_code",
    "msg_reject_msg_size",
    "msg_reject_msg_copy",
    "msg_deadline",
    "msg_reply_data_append",
    "msg_reply",
    "msg_reject",
    "msg_cycles_available128",
    "msg_cycles_refunded128",
    "msg_cycles_accept128",
    "cycles_burn128",
    "canister_self_size",
    "canister_self_copy",
    "canister_cycle_balance128",
    "canister_liquid_cycle_balance128",
    "canister_status",
    "canister_version",
    "subnet_self_size",
    "subnet_self_copy",
    "subnet_self_node_count",
    "msg_method_name_size",
    "msg_method_name_copy",
    "accept_message",
    "call_new",
    "call_on_cleanup",
    "call_data_append",
    "call_with_best_effort_response",
    "call_cycles_add128",
    "call_perform",
    "stable64_size",
    "stable64_grow",
    "stable64_write",
    "stable64_read",
    "stable_size",
    "stable_grow",
    "stable_write",
    "stable_read",
    "root_key_size",
    "root_key_copy",
    "certified_data_set",
    "data_certificate_present",
    "data_certificate_size",
    "data_certificate_copy",
    "time",
    "global_timer_set",
    "performance_counter",
    "is_controller",
    "in_replicated_execution",
    "cost_call",
    "cost_create_canister",
    "cost_http_request",
    "cost_http_request_v2",
    "cost_sign_with_ecdsa",
    "cost_sign_with_schnorr",
    "cost_vetkd_derive_key",
    "env_var_count",
    "env_var_name_size",
    "env_var_name_copy",
    "env_var_name_exists",
    "env_var_value_size",
    "env_var_value_copy",
    "debug_print",
    "trap",
];

/// Builds the linker with every system function.
pub fn linker(engine: &wasmtime::Engine) -> Linker<StoreData> {
    let mut linker = Linker::new(engine);
    add_message_functions(&mut linker).expect("defining ic0 message functions");
    add_cycles_functions(&mut linker).expect("defining ic0 cycles functions");
    add_canister_functions(&mut linker).expect("defining ic0 canister functions");
    add_call_functions(&mut linker).expect("defining ic0 call functions");
    add_stable_functions(&mut linker).expect("defining ic0 stable memory functions");
    add_certification_functions(&mut linker).expect("defining ic0 certification functions");
    add_cost_functions(&mut linker).expect("defining ic0 cost functions");
    add_env_var_functions(&mut linker).expect("defining ic0 env var functions");
    add_debug_functions(&mut linker).expect("defining ic0 debug functions");
    linker
}

type L = Linker<StoreData>;
type C<'a> = Caller<'a, StoreData>;

fn add_message_functions(l: &mut L) -> wasmtime::Result<()> {
    add_blob(l, "msg_arg_data", has_argument, |x| &x.arg)?;
    add_blob(l, "msg_caller", always, |x| x.caller.as_slice())?;
    // Caller info (canister-signature metadata) is empty for every localnet caller.
    add_blob(l, "msg_caller_info_data", always, |_| &[])?;
    add_blob(l, "msg_caller_info_signer", always, |_| &[])?;
    add_blob(
        l,
        "msg_reject_msg",
        |x| x.api == ApiType::RejectCallback,
        |x| x.reject.as_ref().map_or(&[][..], |(_, m)| m.as_bytes()),
    )?;
    add_blob(
        l,
        "msg_method_name",
        |x| x.api == ApiType::InspectMessage,
        |x| x.method_name.as_bytes(),
    )?;
    l.func_wrap("ic0", "msg_reject_code", |mut c: C| -> HostResult<i32> {
        charge(&mut c, 0)?;
        match (ctx(&c).api, &ctx(&c).reject) {
            (ApiType::ReplyCallback, _) | (ApiType::Cleanup, None) => Ok(0),
            (ApiType::RejectCallback | ApiType::Cleanup, Some((code, _))) => Ok(*code as i32),
            _ => not_allowed(&c, "msg_reject_code"),
        }
    })?;
    l.func_wrap("ic0", "msg_deadline", |mut c: C| -> HostResult<i64> {
        charge(&mut c, 0)?;
        if !ctx(&c).api.can_respond() {
            return not_allowed(&c, "msg_deadline");
        }
        Ok(ctx(&c).deadline as i64)
    })?;
    l.func_wrap("ic0", "msg_reply_data_append", |mut c: C, src: i32, size: i32| {
        check_can_respond(&c, "msg_reply_data_append")?;
        let bytes = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
        let x = ctx_mut(&mut c);
        let limit = x.api.max_reply_size();
        if x.reply_buf.len() + bytes.len() > limit {
            return violation(format!(
                "ic0.msg_reply_data_append: application payload size ({}) cannot be larger than {limit}",
                x.reply_buf.len() + bytes.len()
            ));
        }
        x.reply_buf.extend_from_slice(&bytes);
        Ok(())
    })?;
    l.func_wrap("ic0", "msg_reply", |mut c: C| {
        charge(&mut c, 0)?;
        check_can_respond(&c, "msg_reply")?;
        let x = ctx_mut(&mut c);
        let payload = std::mem::take(&mut x.reply_buf);
        x.response = Some(Response::Reply(payload));
        Ok(())
    })?;
    l.func_wrap("ic0", "msg_reject", |mut c: C, src: i32, size: i32| {
        check_can_respond(&c, "msg_reject")?;
        let bytes = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
        let message = String::from_utf8(bytes)
            .or_else(|_| violation("ic0.msg_reject: the reject message is not valid UTF-8"))?;
        ctx_mut(&mut c).response = Some(Response::Reject(message));
        Ok(())
    })?;
    l.func_wrap("ic0", "accept_message", |mut c: C| {
        charge(&mut c, 0)?;
        if ctx(&c).api != ApiType::InspectMessage {
            return not_allowed(&c, "accept_message");
        }
        if ctx(&c).message_accepted {
            return violation("ic0.accept_message: the message was already accepted");
        }
        ctx_mut(&mut c).message_accepted = true;
        Ok(())
    })?;
    Ok(())
}

/// The spec's blob idiom: `ic0.<name>_size` and `ic0.<name>_copy` over one
/// byte string of the context, callable where `allowed` says.
fn add_blob(
    l: &mut L,
    name: &'static str,
    allowed: fn(&MessageCtx) -> bool,
    source: fn(&MessageCtx) -> &[u8],
) -> wasmtime::Result<()> {
    let size_name: &'static str = Box::leak(format!("{name}_size").into_boxed_str());
    let copy_name: &'static str = Box::leak(format!("{name}_copy").into_boxed_str());
    l.func_wrap("ic0", size_name, move |mut c: C| -> HostResult<i32> {
        charge(&mut c, 0)?;
        if !allowed(ctx(&c)) {
            return not_allowed(&c, size_name);
        }
        Ok(source(ctx(&c)).len() as i32)
    })?;
    l.func_wrap(
        "ic0",
        copy_name,
        move |mut c: C, dst: i32, off: i32, size: i32| {
            if !allowed(ctx(&c)) {
                return not_allowed(&c, copy_name);
            }
            copy_out(
                &mut c,
                dst as u32 as u64,
                off as u32 as u64,
                size as u32 as u64,
                source,
            )
        },
    )?;
    Ok(())
}

fn always(_: &MessageCtx) -> bool {
    true
}

/// I U RQ NRQ Ry F: entry points that have an argument (a reject callback,
/// cleanup, pre_upgrade and system tasks do not).
fn has_argument(x: &MessageCtx) -> bool {
    !matches!(
        x.api,
        ApiType::RejectCallback | ApiType::Cleanup | ApiType::PreUpgrade | ApiType::SystemTask
    )
}

fn check_can_respond(c: &C, function: &str) -> HostResult<()> {
    let x = ctx(c);
    if !x.api.can_respond() {
        return not_allowed(c, function);
    }
    if x.responded() {
        return violation(format!("ic0.{function}: the call is already replied"));
    }
    Ok(())
}

fn add_cycles_functions(l: &mut L) -> wasmtime::Result<()> {
    l.func_wrap("ic0", "msg_cycles_available128", |mut c: C, dst: i32| {
        charge(&mut c, 0)?;
        if !ctx(&c).api.can_accept_cycles() {
            return not_allowed(&c, "msg_cycles_available128");
        }
        let available = ctx(&c).cycles_available;
        write_u128(&mut c, dst as u32, available)
    })?;
    l.func_wrap("ic0", "msg_cycles_refunded128", |mut c: C, dst: i32| {
        charge(&mut c, 0)?;
        if !ctx(&c).api.is_callback() {
            return not_allowed(&c, "msg_cycles_refunded128");
        }
        let refunded = ctx(&c).cycles_refunded;
        write_u128(&mut c, dst as u32, refunded)
    })?;
    l.func_wrap(
        "ic0",
        "msg_cycles_accept128",
        |mut c: C, high: i64, low: i64, dst: i32| {
            charge(&mut c, 0)?;
            if !ctx(&c).api.can_accept_cycles() {
                return not_allowed(&c, "msg_cycles_accept128");
            }
            let x = ctx_mut(&mut c);
            let amount = u128_of(high, low).min(x.cycles_available);
            x.cycles_available -= amount;
            x.cycles_accepted += amount;
            x.balance += amount;
            write_u128(&mut c, dst as u32, amount)
        },
    )?;
    l.func_wrap(
        "ic0",
        "cycles_burn128",
        |mut c: C, high: i64, low: i64, dst: i32| {
            charge(&mut c, 0)?;
            if !ctx(&c).api.can_burn_cycles() {
                return not_allowed(&c, "cycles_burn128");
            }
            let x = ctx_mut(&mut c);
            let amount = u128_of(high, low).min(x.balance);
            x.balance -= amount;
            x.cycles_burned += amount;
            write_u128(&mut c, dst as u32, amount)
        },
    )?;
    l.func_wrap("ic0", "canister_cycle_balance128", |mut c: C, dst: i32| {
        charge(&mut c, 0)?;
        let balance = ctx(&c).balance;
        write_u128(&mut c, dst as u32, balance)
    })?;
    // localnet reserves no cycles (no freezing threshold or reservations), so
    // the liquid balance is the whole balance.
    l.func_wrap(
        "ic0",
        "canister_liquid_cycle_balance128",
        |mut c: C, dst: i32| {
            charge(&mut c, 0)?;
            let balance = ctx(&c).balance;
            write_u128(&mut c, dst as u32, balance)
        },
    )?;
    Ok(())
}

fn add_canister_functions(l: &mut L) -> wasmtime::Result<()> {
    add_blob(l, "canister_self", always, |x| x.canister_id.as_slice())?;
    add_blob(l, "subnet_self", always, |x| x.subnet_id.as_slice())?;
    add_blob(l, "root_key", always, |x| x.root_key_der.as_slice())?;
    l.func_wrap("ic0", "canister_status", |mut c: C| -> HostResult<i32> {
        charge(&mut c, 0)?;
        Ok(ctx(&c).status as i32)
    })?;
    l.func_wrap("ic0", "canister_version", |mut c: C| -> HostResult<i64> {
        charge(&mut c, 0)?;
        Ok(ctx(&c).version as i64)
    })?;
    l.func_wrap(
        "ic0",
        "subnet_self_node_count",
        |mut c: C| -> HostResult<i32> {
            charge(&mut c, 0)?;
            Ok(ctx(&c).costs.nodes as i32)
        },
    )?;
    l.func_wrap("ic0", "time", |mut c: C| -> HostResult<i64> {
        charge(&mut c, 0)?;
        Ok(ctx(&c).time as i64)
    })?;
    l.func_wrap(
        "ic0",
        "global_timer_set",
        |mut c: C, timestamp: i64| -> HostResult<i64> {
            charge(&mut c, 0)?;
            // I G U Ry Rt C T: cleanup may re-arm the timer too.
            if !ctx(&c).api.can_change_state() && ctx(&c).api != ApiType::Cleanup {
                return not_allowed(&c, "global_timer_set");
            }
            let x = ctx_mut(&mut c);
            Ok(std::mem::replace(&mut x.global_timer, timestamp as u64) as i64)
        },
    )?;
    l.func_wrap(
        "ic0",
        "performance_counter",
        |mut c: C, counter: i32| -> HostResult<i64> {
            charge(&mut c, 0)?;
            let used = ctx(&c).instruction_limit - c.get_fuel()?;
            match counter {
                0 => Ok(used as i64),
                1 => Ok((ctx(&c).call_context_instructions + used) as i64),
                other => violation(format!(
                    "ic0.performance_counter: unknown counter type {other}"
                )),
            }
        },
    )?;
    l.func_wrap(
        "ic0",
        "is_controller",
        |mut c: C, src: i32, size: i32| -> HostResult<i32> {
            let bytes = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
            let principal = Principal::try_from_slice(&bytes)
                .or_else(|e| violation(format!("ic0.is_controller: invalid principal: {e}")))?;
            Ok(ctx(&c).controllers.contains(&principal) as i32)
        },
    )?;
    l.func_wrap(
        "ic0",
        "in_replicated_execution",
        |mut c: C| -> HostResult<i32> {
            charge(&mut c, 0)?;
            Ok(ctx(&c).api.is_replicated() as i32)
        },
    )?;
    Ok(())
}

fn add_call_functions(l: &mut L) -> wasmtime::Result<()> {
    l.func_wrap(
        "ic0",
        "call_new",
        |mut c: C,
         callee_src: i32,
         callee_size: i32,
         name_src: i32,
         name_size: i32,
         reply_fun: i32,
         reply_env: i32,
         reject_fun: i32,
         reject_env: i32| {
            if !ctx(&c).api.can_call() {
                return not_allowed(&c, "call_new");
            }
            let callee = read_memory(&mut c, callee_src as u32 as u64, callee_size as u32 as u64)?;
            let callee = Principal::try_from_slice(&callee)
                .or_else(|e| violation(format!("ic0.call_new: invalid callee: {e}")))?;
            let name = read_memory(&mut c, name_src as u32 as u64, name_size as u32 as u64)?;
            let method = String::from_utf8(name)
                .or_else(|_| violation("ic0.call_new: method name is not UTF-8"))?;
            let x = ctx_mut(&mut c);
            // A call that was started but not performed is discarded, its cycles returned.
            if let Some(abandoned) = x.pending_call.take() {
                x.balance += abandoned.cycles;
            }
            x.pending_call = Some(OutgoingCall {
                callee,
                method,
                payload: Vec::new(),
                cycles: 0,
                on_reply: WasmClosure {
                    func: reply_fun as u32,
                    env: reply_env as u32,
                },
                on_reject: WasmClosure {
                    func: reject_fun as u32,
                    env: reject_env as u32,
                },
                on_cleanup: None,
                timeout_seconds: None,
            });
            Ok(())
        },
    )?;
    l.func_wrap("ic0", "call_on_cleanup", |mut c: C, fun: i32, env: i32| {
        charge(&mut c, 0)?;
        let Some(call) = ctx_mut(&mut c).pending_call.as_mut() else {
            return violation(
                "ic0.call_on_cleanup: there is no call being assembled (call_new first)",
            );
        };
        if call.on_cleanup.is_some() {
            return violation("ic0.call_on_cleanup: the cleanup callback was already set");
        }
        call.on_cleanup = Some(WasmClosure {
            func: fun as u32,
            env: env as u32,
        });
        Ok(())
    })?;
    l.func_wrap("ic0", "call_data_append", |mut c: C, src: i32, size: i32| {
        if ctx(&c).pending_call.is_none() {
            return violation("ic0.call_data_append: there is no call being assembled (call_new first)");
        }
        let bytes = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
        let call = ctx_mut(&mut c).pending_call.as_mut().expect("checked above");
        if call.payload.len() + bytes.len() > MAX_INTER_CANISTER_PAYLOAD {
            return violation(format!(
                "ic0.call_data_append: the payload would exceed the limit of {MAX_INTER_CANISTER_PAYLOAD} bytes"
            ));
        }
        call.payload.extend_from_slice(&bytes);
        Ok(())
    })?;
    l.func_wrap(
        "ic0",
        "call_with_best_effort_response",
        |mut c: C, timeout: i32| {
            charge(&mut c, 0)?;
            let Some(call) = ctx_mut(&mut c).pending_call.as_mut() else {
                return violation(
                    "ic0.call_with_best_effort_response: there is no call being assembled",
                );
            };
            if call.timeout_seconds.is_some() {
                return violation(
                    "ic0.call_with_best_effort_response: the timeout was already set",
                );
            }
            // The spec bounds the timeout to MAX_CALL_TIMEOUT (300 s).
            call.timeout_seconds = Some((timeout as u32).min(300));
            Ok(())
        },
    )?;
    l.func_wrap(
        "ic0",
        "call_cycles_add128",
        |mut c: C, high: i64, low: i64| {
            charge(&mut c, 0)?;
            let amount = u128_of(high, low);
            let x = ctx_mut(&mut c);
            if x.pending_call.is_none() {
                return violation("ic0.call_cycles_add128: there is no call being assembled");
            }
            if x.balance < amount {
                return trap(
                    ErrorCode::CanisterOutOfCycles,
                    format!(
                        "ic0.call_cycles_add128: insufficient cycles balance: {} < {amount}",
                        x.balance
                    ),
                );
            }
            x.balance -= amount;
            x.pending_call.as_mut().expect("checked above").cycles += amount;
            Ok(())
        },
    )?;
    l.func_wrap("ic0", "call_perform", |mut c: C| -> HostResult<i32> {
        charge(&mut c, CALL_PERFORM_OVERHEAD)?;
        let x = ctx_mut(&mut c);
        let Some(call) = x.pending_call.take() else {
            return violation(
                "ic0.call_perform: there is no call being assembled (call_new first)",
            );
        };
        let fee = x
            .costs
            .call(call.method.len() as u64, call.payload.len() as u64);
        if x.balance < fee {
            // The call is not made; its cycles go back to the balance and the
            // canister learns of it through a non-zero return (SYS_TRANSIENT).
            x.balance += call.cycles;
            return Ok(ic_error_types::RejectCode::SysTransient as i32);
        }
        x.balance -= fee;
        x.outgoing.push(call);
        Ok(0)
    })?;
    Ok(())
}

fn add_stable_functions(l: &mut L) -> wasmtime::Result<()> {
    l.func_wrap("ic0", "stable64_size", |mut c: C| -> HostResult<i64> {
        charge(&mut c, 0)?;
        Ok(ctx(&c).stable.size_pages() as i64)
    })?;
    l.func_wrap(
        "ic0",
        "stable64_grow",
        |mut c: C, pages: i64| -> HostResult<i64> {
            charge(&mut c, 0)?;
            Ok(ctx_mut(&mut c)
                .stable
                .grow(pages as u64, MAX_STABLE_PAGES)
                .map_or(-1, |old| old as i64))
        },
    )?;
    l.func_wrap(
        "ic0",
        "stable64_write",
        |mut c: C, offset: i64, src: i64, size: i64| {
            stable_write(&mut c, offset as u64, src as u64, size as u64)
        },
    )?;
    l.func_wrap(
        "ic0",
        "stable64_read",
        |mut c: C, dst: i64, offset: i64, size: i64| {
            stable_read(&mut c, dst as u64, offset as u64, size as u64)
        },
    )?;
    l.func_wrap("ic0", "stable_size", |mut c: C| -> HostResult<i32> {
        charge(&mut c, 0)?;
        let pages = ctx(&c).stable.size_pages();
        if pages > MAX_STABLE32_PAGES {
            return violation(
                "ic0.stable_size: stable memory is larger than 4 GiB; use the 64-bit API",
            );
        }
        Ok(pages as i32)
    })?;
    l.func_wrap(
        "ic0",
        "stable_grow",
        |mut c: C, pages: i32| -> HostResult<i32> {
            charge(&mut c, 0)?;
            if ctx(&c).stable.size_pages() > MAX_STABLE32_PAGES {
                return violation(
                    "ic0.stable_grow: stable memory is larger than 4 GiB; use the 64-bit API",
                );
            }
            let grown = ctx_mut(&mut c)
                .stable
                .grow(pages as u32 as u64, MAX_STABLE32_PAGES);
            Ok(grown.map_or(-1, |old| old as i32))
        },
    )?;
    l.func_wrap(
        "ic0",
        "stable_write",
        |mut c: C, offset: i32, src: i32, size: i32| {
            stable_write(
                &mut c,
                offset as u32 as u64,
                src as u32 as u64,
                size as u32 as u64,
            )
        },
    )?;
    l.func_wrap(
        "ic0",
        "stable_read",
        |mut c: C, dst: i32, offset: i32, size: i32| {
            stable_read(
                &mut c,
                dst as u32 as u64,
                offset as u32 as u64,
                size as u32 as u64,
            )
        },
    )?;
    Ok(())
}

fn stable_write(c: &mut C, offset: u64, src: u64, size: u64) -> HostResult<()> {
    charge(c, size)?;
    let mem = memory(c)?;
    let (data, store) = mem.data_and_store_mut(&mut *c);
    let from = range(
        src,
        size,
        data.len(),
        "ic0.stable64_write: reading Wasm memory",
    )?;
    match store.ctx.stable.write(offset, &data[from]) {
        Ok(()) => Ok(()),
        Err(e) => violation(format!("ic0.stable64_write: {e}")),
    }
}

fn stable_read(c: &mut C, dst: u64, offset: u64, size: u64) -> HostResult<()> {
    charge(c, size)?;
    let mem = memory(c)?;
    let (data, store) = mem.data_and_store_mut(&mut *c);
    let to = range(
        dst,
        size,
        data.len(),
        "ic0.stable64_read: writing Wasm memory",
    )?;
    match store.ctx.stable.read(offset, &mut data[to]) {
        Ok(()) => Ok(()),
        Err(e) => violation(format!("ic0.stable64_read: {e}")),
    }
}

fn add_certification_functions(l: &mut L) -> wasmtime::Result<()> {
    l.func_wrap(
        "ic0",
        "certified_data_set",
        |mut c: C, src: i32, size: i32| {
            if !ctx(&c).api.can_change_state() {
                return not_allowed(&c, "certified_data_set");
            }
            if size as u32 as usize > MAX_CERTIFIED_DATA {
                return violation(format!(
                    "ic0.certified_data_set: certified data is at most {MAX_CERTIFIED_DATA} bytes"
                ));
            }
            let bytes = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
            ctx_mut(&mut c).certified_data = Some(bytes);
            Ok(())
        },
    )?;
    l.func_wrap(
        "ic0",
        "data_certificate_present",
        |mut c: C| -> HostResult<i32> {
            charge(&mut c, 0)?;
            Ok(ctx(&c).certificate.is_some() as i32)
        },
    )?;
    l.func_wrap(
        "ic0",
        "data_certificate_size",
        |mut c: C| -> HostResult<i32> {
            charge(&mut c, 0)?;
            match certificate(&mut c) {
                Some(cert) => Ok(cert.len() as i32),
                None => not_allowed(&c, "data_certificate_size"),
            }
        },
    )?;
    l.func_wrap(
        "ic0",
        "data_certificate_copy",
        |mut c: C, dst: i32, off: i32, size: i32| {
            if certificate(&mut c).is_none() {
                return not_allowed(&c, "data_certificate_copy");
            }
            copy_out(
                &mut c,
                dst as u32 as u64,
                off as u32 as u64,
                size as u32 as u64,
                |x| {
                    x.certificate
                        .as_ref()
                        .and_then(|s| s.cached.as_deref())
                        .unwrap_or(&[])
                },
            )
        },
    )?;
    Ok(())
}

/// The certificate of a non-replicated query, built on first use.
fn certificate<'a>(c: &'a mut C) -> Option<&'a [u8]> {
    let source = ctx_mut(c).certificate.as_mut()?;
    if source.cached.is_none() {
        source.cached = Some((source.build)());
    }
    source.cached.as_deref()
}

fn add_cost_functions(l: &mut L) -> wasmtime::Result<()> {
    l.func_wrap(
        "ic0",
        "cost_call",
        |mut c: C, method_size: i64, payload_size: i64, dst: i32| {
            charge(&mut c, 0)?;
            let cost = ctx(&c).costs.call(method_size as u64, payload_size as u64);
            write_u128(&mut c, dst as u32, cost)
        },
    )?;
    l.func_wrap("ic0", "cost_create_canister", |mut c: C, dst: i32| {
        charge(&mut c, 0)?;
        let cost = ctx(&c).costs.create_canister();
        write_u128(&mut c, dst as u32, cost)
    })?;
    l.func_wrap(
        "ic0",
        "cost_http_request",
        |mut c: C, request_size: i64, max_res: i64, dst: i32| {
            charge(&mut c, 0)?;
            let cost = ctx(&c)
                .costs
                .http_request(request_size as u64, max_res as u64);
            write_u128(&mut c, dst as u32, cost)
        },
    )?;
    l.func_wrap(
        "ic0",
        "cost_http_request_v2",
        |mut c: C, src: i32, size: i32, dst: i32| {
            let params = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
            let cost = ctx(&c).costs.http_request_v2(&params).map_or_else(
                || violation("ic0.cost_http_request_v2: malformed parameters"),
                Ok,
            )?;
            write_u128(&mut c, dst as u32, cost)
        },
    )?;
    l.func_wrap(
        "ic0",
        "cost_sign_with_ecdsa",
        |mut c: C, src: i32, size: i32, curve: i32, dst: i32| {
            key_cost(&mut c, src, size, dst, |costs, key| {
                costs.sign_with_ecdsa(key, curve as u32)
            })
        },
    )?;
    l.func_wrap(
        "ic0",
        "cost_sign_with_schnorr",
        |mut c: C, src: i32, size: i32, alg: i32, dst: i32| {
            key_cost(&mut c, src, size, dst, |costs, key| {
                costs.sign_with_schnorr(key, alg as u32)
            })
        },
    )?;
    l.func_wrap(
        "ic0",
        "cost_vetkd_derive_key",
        |mut c: C, src: i32, size: i32, curve: i32, dst: i32| {
            key_cost(&mut c, src, size, dst, |costs, key| {
                costs.vetkd_derive_key(key, curve as u32)
            })
        },
    )?;
    Ok(())
}

/// The `cost_sign_*` functions: 0 and the cost written on success, else the
/// spec's error code (1 unknown curve/algorithm, 2 unknown key).
fn key_cost(
    c: &mut C,
    src: i32,
    size: i32,
    dst: i32,
    cost: impl FnOnce(&CostSchedule, &str) -> Result<u128, u32>,
) -> HostResult<i32> {
    let name = read_memory(c, src as u32 as u64, size as u32 as u64)?;
    let Ok(name) = String::from_utf8(name) else {
        return Ok(2);
    };
    match cost(&ctx(c).costs, &name) {
        Ok(cycles) => {
            write_u128(c, dst as u32, cycles)?;
            Ok(0)
        }
        Err(code) => Ok(code as i32),
    }
}

fn add_env_var_functions(l: &mut L) -> wasmtime::Result<()> {
    l.func_wrap("ic0", "env_var_count", |mut c: C| -> HostResult<i32> {
        charge(&mut c, 0)?;
        Ok(ctx(&c).env_vars.len() as i32)
    })?;
    l.func_wrap(
        "ic0",
        "env_var_name_size",
        |mut c: C, index: i32| -> HostResult<i32> {
            charge(&mut c, 0)?;
            match ctx(&c).env_vars.get(index as u32 as usize) {
                Some((name, _)) => Ok(name.len() as i32),
                None => violation(format!(
                    "ic0.env_var_name_size: index {index} out of bounds"
                )),
            }
        },
    )?;
    l.func_wrap(
        "ic0",
        "env_var_name_copy",
        |mut c: C, index: i32, dst: i32, off: i32, size: i32| {
            if ctx(&c).env_vars.get(index as u32 as usize).is_none() {
                return violation(format!(
                    "ic0.env_var_name_copy: index {index} out of bounds"
                ));
            }
            copy_out(
                &mut c,
                dst as u32 as u64,
                off as u32 as u64,
                size as u32 as u64,
                |x| x.env_vars[index as u32 as usize].0.as_bytes(),
            )
        },
    )?;
    l.func_wrap(
        "ic0",
        "env_var_name_exists",
        |mut c: C, src: i32, size: i32| -> HostResult<i32> {
            let name = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
            Ok(ctx(&c).env_vars.iter().any(|(n, _)| n.as_bytes() == name) as i32)
        },
    )?;
    l.func_wrap(
        "ic0",
        "env_var_value_size",
        |mut c: C, src: i32, size: i32| -> HostResult<i32> {
            let name = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
            match env_var_index(ctx(&c), &name) {
                Some(i) => Ok(ctx(&c).env_vars[i].1.len() as i32),
                None => violation("ic0.env_var_value_size: no such environment variable"),
            }
        },
    )?;
    l.func_wrap(
        "ic0",
        "env_var_value_copy",
        |mut c: C, src: i32, size: i32, dst: i32, off: i32, len: i32| {
            let name = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
            let Some(i) = env_var_index(ctx(&c), &name) else {
                return violation("ic0.env_var_value_copy: no such environment variable");
            };
            copy_out(
                &mut c,
                dst as u32 as u64,
                off as u32 as u64,
                len as u32 as u64,
                |x| x.env_vars[i].1.as_bytes(),
            )
        },
    )?;
    Ok(())
}

fn env_var_index(x: &MessageCtx, name: &[u8]) -> Option<usize> {
    x.env_vars.iter().position(|(n, _)| n.as_bytes() == name)
}

fn add_debug_functions(l: &mut L) -> wasmtime::Result<()> {
    l.func_wrap("ic0", "debug_print", |mut c: C, src: i32, size: i32| {
        charge(&mut c, DEBUG_PRINT_OVERHEAD)?;
        let bytes = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
        let line = String::from_utf8_lossy(&bytes).into_owned();
        ctx_mut(&mut c).debug_log.push(line);
        Ok(())
    })?;
    l.func_wrap(
        "ic0",
        "trap",
        |mut c: C, src: i32, size: i32| -> HostResult<()> {
            let bytes = read_memory(&mut c, src as u32 as u64, size as u32 as u64)?;
            trap(
                ErrorCode::CanisterCalledTrap,
                format!(
                    "Canister called `ic0.trap` with message: '{}'",
                    String::from_utf8_lossy(&bytes)
                ),
            )
        },
    )?;
    Ok(())
}
