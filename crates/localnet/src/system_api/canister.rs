//! Canister functions: its own id, subnet, root key, status, version, time,
//! global timer, performance counters and controllers.

use super::host::{
    add_blob, always, charge, ctx, ctx_mut, not_allowed, read_memory, violation, HostResult, C, L,
};
use super::ApiType;
use candid::Principal;

pub(super) fn add_canister_functions(l: &mut L) -> wasmtime::Result<()> {
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
