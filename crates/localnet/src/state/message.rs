//! Messages in flight and the call contexts they belong to.

use super::MessageId;
use crate::system_api::OutgoingCall;
use candid::Principal;
use ic_error_types::RejectCode;

#[derive(Clone, Debug)]
pub(crate) enum ContextOrigin {
    Ingress {
        id: MessageId,
    },
    Canister {
        callback_id: u64,
    },
    /// Timers and heartbeats: nobody waits for an answer.
    System,
}

pub(crate) struct CallContext {
    pub canister: Principal,
    pub caller: Principal,
    pub origin: ContextOrigin,
    pub responded: bool,
    pub cycles_available: u128,
    pub outstanding: u32,
    pub deadline: u64,
    pub instructions: u64,
}

pub(crate) struct Callback {
    pub canister: Principal,
    pub context: u64,
    pub call: OutgoingCall,
    /// Best-effort calls: when the caller gives up (SYS_UNKNOWN).
    pub deadline: Option<u64>,
    /// The module version the callback belongs to; a reinstall invalidates it.
    pub module_epoch: u64,
}

pub(crate) enum Message {
    Request(Request),
    Response(ResponseMsg),
}

pub(crate) struct Request {
    pub sender: Principal,
    pub receiver: Principal,
    pub method: String,
    pub payload: Vec<u8>,
    pub cycles: u128,
    pub origin: ContextOrigin,
    pub deadline: u64,
}

pub(crate) struct ResponseMsg {
    pub callback_id: u64,
    pub result: Result<Vec<u8>, (RejectCode, String)>,
    pub refund: u128,
}

pub(crate) struct HeldOutcall {
    pub canister: Principal,
    pub request: ic_management_canister_types::HttpRequestArgs,
    pub origin: ContextOrigin,
    pub refund: u128,
}
