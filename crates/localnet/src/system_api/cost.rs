//! Cost functions: what calls, canister creation, outcalls and threshold
//! signatures cost on this subnet.

use super::host::{charge, ctx, read_memory, violation, write_u128, HostResult, C, L};
use localnet_services::cost::SubnetCosts as CostSchedule;

pub(super) fn add_cost_functions(l: &mut L) -> wasmtime::Result<()> {
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
