//! The `ic0` system API: what a canister can see and do while one message runs.
//!
//! Host functions read and write a [`MessageCtx`] held in the wasmtime store.
//! Nothing here touches the rest of the net: effects (reply, outgoing calls,
//! cycles, certified data, timer) are collected in the context and applied by
//! the executor only if the message finishes without trapping, which is what
//! makes every entry point atomic as the IC interface specification requires.
//!
//! The host functions are grouped by the spec's sections: `message` (arguments,
//! replies, rejects), `cycles`, `canister` (self, status, time, timer,
//! controllers), `call` (inter-canister calls), `stable_memory`,
//! `certification`, `cost`, `env` (environment variables) and `debug`; `host`
//! has what they share (instruction charging, copying to and from Wasm memory).

mod api_type;
mod call;
mod canister;
mod certification;
mod context;
mod cost;
mod cycles;
mod debug;
mod env;
mod host;
mod message;
mod stable_memory;

pub use api_type::ApiType;
pub use context::{
    CertificateSource, HostTrap, MessageCtx, OutgoingCall, Response, StoreData, WasmClosure,
};

use wasmtime::Linker;

/// The IC's cap on the payload of an inter-canister request.
pub const MAX_INTER_CANISTER_PAYLOAD: usize = 2 * 1024 * 1024;
/// The IC's cap on a reply.
pub const MAX_REPLY_SIZE: usize = 2 * 1024 * 1024;

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
    message::add_message_functions(&mut linker).expect("defining ic0 message functions");
    cycles::add_cycles_functions(&mut linker).expect("defining ic0 cycles functions");
    canister::add_canister_functions(&mut linker).expect("defining ic0 canister functions");
    call::add_call_functions(&mut linker).expect("defining ic0 call functions");
    stable_memory::add_stable_functions(&mut linker).expect("defining ic0 stable memory functions");
    certification::add_certification_functions(&mut linker)
        .expect("defining ic0 certification functions");
    cost::add_cost_functions(&mut linker).expect("defining ic0 cost functions");
    env::add_env_var_functions(&mut linker).expect("defining ic0 env var functions");
    debug::add_debug_functions(&mut linker).expect("defining ic0 debug functions");
    linker
}
