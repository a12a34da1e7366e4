//! Candid types of the conformance canister's interface.

use candid::{CandidType, Deserialize};
use ic_cdk::call::{CallFailed, CallRejected};
use serde_bytes::ByteBuf;

/// A rejected (or never performed) call, as the canister saw it.
/// `code` is the IC reject code (1..=6); 0 means the call was not performed at all.
#[derive(CandidType, Deserialize, Debug)]
pub struct RejectInfo {
    pub code: u32,
    pub message: String,
}

impl From<CallFailed> for RejectInfo {
    fn from(failure: CallFailed) -> Self {
        match failure {
            CallFailed::CallRejected(rejected) => rejected.into(),
            other => RejectInfo {
                code: 0,
                message: other.to_string(),
            },
        }
    }
}

impl From<CallRejected> for RejectInfo {
    fn from(rejected: CallRejected) -> Self {
        RejectInfo {
            code: rejected.raw_reject_code(),
            message: rejected.reject_message().to_string(),
        }
    }
}

impl From<ic_cdk_management_canister::SignCallError> for RejectInfo {
    fn from(error: ic_cdk_management_canister::SignCallError) -> Self {
        match error {
            ic_cdk_management_canister::SignCallError::CallFailed(failed) => failed.into(),
            other => RejectInfo {
                code: 0,
                message: other.to_string(),
            },
        }
    }
}

impl From<ic_cdk::call::Error> for RejectInfo {
    fn from(error: ic_cdk::call::Error) -> Self {
        match error {
            ic_cdk::call::Error::CallRejected(rejected) => rejected.into(),
            other => RejectInfo {
                code: 0,
                message: other.to_string(),
            },
        }
    }
}

pub type CallReply = Result<ByteBuf, RejectInfo>;

#[derive(CandidType, Deserialize, Debug)]
pub struct StateSnapshot {
    pub counter: u64,
    pub stable_value: Option<u64>,
}

#[derive(CandidType, Deserialize, Debug)]
pub struct UpgradeRecord {
    pub pre_upgrade_counter: Option<u64>,
    pub post_upgrade_runs: u64,
}

#[derive(CandidType, Deserialize, Debug)]
pub struct GuardState {
    pub held: bool,
    pub drops: u64,
    pub drops_during_cleanup: u64,
}

#[derive(CandidType, Deserialize, Debug)]
pub struct CyclesCallReply {
    pub result: CallReply,
    pub refunded: u128,
}

#[derive(CandidType, Deserialize, Debug)]
pub struct AcceptReply {
    pub available: u128,
    pub accepted: u128,
}

#[derive(CandidType, Deserialize, Debug)]
pub struct PublicKeyReply {
    pub public_key: ByteBuf,
    pub chain_code: ByteBuf,
}

/// Which transform function an HTTPS outcall names.
#[derive(CandidType, Deserialize, Debug, Clone, Copy)]
pub enum Transform {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "strip_headers")]
    StripHeaders,
    #[serde(rename = "keep_headers")]
    KeepHeaders,
}
