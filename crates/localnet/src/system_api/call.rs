//! Inter-canister calls: `call_new` … `call_perform`.

use super::host::{
    charge, ctx, ctx_mut, not_allowed, read_memory, trap, u128_of, violation, HostResult, C, L,
};
use super::{OutgoingCall, WasmClosure, MAX_INTER_CANISTER_PAYLOAD};
use candid::Principal;
use ic_error_types::ErrorCode;

const CALL_PERFORM_OVERHEAD: u64 = 5_000;

pub(super) fn add_call_functions(l: &mut L) -> wasmtime::Result<()> {
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
