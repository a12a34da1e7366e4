//! Traps, rollback, cleanup callbacks, instruction limits, rejects and payload limits.

use crate::state::{self, VALUE_KEY};
use crate::types::GuardState;
use candid::Principal;
use ic_cdk::call::Call;
use ic_cdk::{query, update};
use serde_bytes::ByteBuf;
use std::hint::black_box;

/// Increments the counter and stable value by 1, awaits `callee.noop`, then adds 1000 to both
/// and traps. The IC commits the state as of the await; the post-await changes roll back.
#[update]
async fn inc_then_trap_after_await(callee: Principal) {
    state::counter_add(1);
    state::stable_add(VALUE_KEY, 1);
    let _ = Call::unbounded_wait(callee, "noop").await;
    state::counter_add(1000);
    state::stable_add(VALUE_KEY, 1000);
    ic_cdk::trap("trap after await");
}

#[update]
fn noop() {}

/// Held across an await; released (and counted) when dropped.
struct Guard;

impl Guard {
    fn acquire() -> Guard {
        state::update_heap(|heap| {
            if heap.guard_held {
                ic_cdk::trap("guard already held");
            }
            heap.guard_held = true;
        });
        Guard
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let during_cleanup = ic_cdk::futures::is_recovering_from_trap();
        state::update_heap(|heap| {
            heap.guard_held = false;
            heap.guard_drops += 1;
            heap.guard_drops_during_cleanup += u64::from(during_cleanup);
        });
    }
}

/// Takes the guard, awaits `callee.noop`, then traps in the reply callback when
/// `trap_after_await`. The guard is then released only if the system runs the call's
/// cleanup callback (ic0.call_on_cleanup), in which ic-cdk drops the cancelled future.
#[update]
async fn guarded_call(callee: Principal, trap_after_await: bool) {
    let _guard = Guard::acquire();
    let _ = Call::unbounded_wait(callee, "noop").await;
    if trap_after_await {
        ic_cdk::trap("trap in reply callback while holding the guard");
    }
}

#[query]
fn guard_state() -> GuardState {
    state::read_heap(|heap| GuardState {
        held: heap.guard_held,
        drops: heap.guard_drops,
        drops_during_cleanup: heap.guard_drops_during_cleanup,
    })
}

fn spin_loop(iterations: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..iterations {
        acc = black_box(acc.wrapping_mul(31).wrapping_add(i));
    }
    acc
}

/// Loops `iterations` times; returns ic0.performance_counter(0) afterwards.
#[update]
fn spin(iterations: u64) -> u64 {
    black_box(spin_loop(iterations));
    ic_cdk::api::performance_counter(0)
}

#[update]
fn spin_forever() {
    spin_loop(u64::MAX);
    ic_cdk::trap("unreachable: the loop ends beyond any instruction limit");
}

#[query]
fn spin_forever_query() {
    spin_loop(u64::MAX);
    ic_cdk::trap("unreachable: the loop ends beyond any instruction limit");
}

/// ic0.performance_counter(0): instructions executed so far in this message.
#[query]
fn instruction_count() -> u64 {
    ic_cdk::api::performance_counter(0)
}

#[update]
fn trap(message: String) {
    ic_cdk::trap(message);
}

/// ic0.msg_reject: the caller sees CANISTER_REJECT with `message`.
#[update(manual_reply = true)]
fn reject(message: String) {
    ic_cdk::api::msg_reject(message);
}

/// Replies with a blob of `size` bytes (the reply is a few bytes larger with its Candid header).
#[query]
fn reply_of_size(size: u64) -> ByteBuf {
    ByteBuf::from(vec![0xAB; size as usize])
}

/// Appends `value` to the heap log read by `recorded`.
#[update]
fn record(value: u64) {
    state::update_heap(|heap| heap.recorded.push(value));
}

#[query]
fn recorded() -> Vec<u64> {
    state::read_heap(|heap| heap.recorded.clone())
}

/// Sends `count` one-way calls `callee.record(i)`, i = 0..count, in that order.
#[update]
fn send_sequence(callee: Principal, count: u64) {
    for i in 0..count {
        if Call::unbounded_wait(callee, "record")
            .with_arg(i)
            .oneway()
            .is_err()
        {
            ic_cdk::trap(format!("call_perform failed for record({i})"));
        }
    }
}
