//! Inter-canister calls: raw calls, best-effort timeouts, cycles transfer, balance.

use crate::types::{AcceptReply, CallReply, CyclesCallReply};
use candid::Principal;
use ic_cdk::call::Call;
use ic_cdk::{query, update};
use serde_bytes::ByteBuf;

/// Guaranteed-response call with raw argument bytes; returns the raw reply or the reject.
#[update]
async fn call_other(callee: Principal, method: String, arg: ByteBuf) -> CallReply {
    let response = Call::unbounded_wait(callee, &method)
        .take_raw_args(arg.into_vec())
        .await?;
    Ok(ByteBuf::from(response.into_bytes()))
}

/// Best-effort call (ic0.call_with_best_effort_response) with `timeout_seconds`; a callee that
/// does not answer in time yields SYS_UNKNOWN.
#[update]
async fn call_other_bounded(
    callee: Principal,
    method: String,
    arg: ByteBuf,
    timeout_seconds: u32,
) -> CallReply {
    let response = Call::bounded_wait(callee, &method)
        .take_raw_args(arg.into_vec())
        .change_timeout(timeout_seconds)
        .await?;
    Ok(ByteBuf::from(response.into_bytes()))
}

/// Guaranteed-response call with `cycles` attached; reports ic0.msg_cycles_refunded.
#[update]
async fn call_with_cycles(
    callee: Principal,
    method: String,
    arg: ByteBuf,
    cycles: u128,
) -> CyclesCallReply {
    let outcome = Call::unbounded_wait(callee, &method)
        .take_raw_args(arg.into_vec())
        .with_cycles(cycles)
        .await;
    CyclesCallReply {
        refunded: ic_cdk::api::msg_cycles_refunded(),
        result: outcome
            .map(|response| ByteBuf::from(response.into_bytes()))
            .map_err(Into::into),
    }
}

/// Accepts up to `max_amount` of the attached cycles.
#[update]
fn accept_cycles(max_amount: u128) -> AcceptReply {
    let available = ic_cdk::api::msg_cycles_available();
    let accepted = ic_cdk::api::msg_cycles_accept(max_amount);
    AcceptReply {
        available,
        accepted,
    }
}

#[query]
fn cycle_balance() -> u128 {
    ic_cdk::api::canister_cycle_balance()
}
