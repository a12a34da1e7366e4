//! Cycles functions: available, refunded, accepted and burned cycles, and the balance.

use super::host::{charge, ctx, ctx_mut, not_allowed, u128_of, write_u128, C, L};

pub(super) fn add_cycles_functions(l: &mut L) -> wasmtime::Result<()> {
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
