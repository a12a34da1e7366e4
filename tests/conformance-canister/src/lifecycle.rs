//! Install, upgrade, heap versus stable memory, timers, certified data, identity.

use crate::state::{self, POST_UPGRADE_RUNS_KEY, PRE_UPGRADE_COUNTER_KEY, VALUE_KEY};
use crate::types::{StateSnapshot, UpgradeRecord};
use candid::Principal;
use ic_cdk::{init, post_upgrade, pre_upgrade, query, update};
use serde_bytes::ByteBuf;
use std::time::Duration;

#[init]
fn init(counter_start: Option<u64>) {
    state::update_heap(|heap| heap.counter = counter_start.unwrap_or(0));
}

#[pre_upgrade]
fn pre_upgrade() {
    state::stable_put(
        PRE_UPGRADE_COUNTER_KEY,
        state::read_heap(|heap| heap.counter),
    );
}

#[post_upgrade]
fn post_upgrade(counter_start: Option<u64>) {
    state::update_heap(|heap| heap.counter = counter_start.unwrap_or(0));
    state::stable_add(POST_UPGRADE_RUNS_KEY, 1);
}

#[query]
fn upgrade_record() -> UpgradeRecord {
    UpgradeRecord {
        pre_upgrade_counter: state::stable_get(PRE_UPGRADE_COUNTER_KEY),
        post_upgrade_runs: state::stable_get(POST_UPGRADE_RUNS_KEY).unwrap_or(0),
    }
}

/// Increments the heap counter; returns its new value.
#[update]
fn inc() -> u64 {
    state::counter_add(1)
}

#[query]
fn counter() -> u64 {
    state::read_heap(|heap| heap.counter)
}

/// Heap and stable state in one read.
#[query]
fn snapshot() -> StateSnapshot {
    StateSnapshot {
        counter: state::read_heap(|heap| heap.counter),
        stable_value: state::stable_get(VALUE_KEY),
    }
}

#[update]
fn set_heap_note(note: String) {
    state::update_heap(|heap| heap.note = note);
}

#[query]
fn heap_note() -> String {
    state::read_heap(|heap| heap.note.clone())
}

#[update]
fn set_stable_value(value: u64) {
    state::stable_put(VALUE_KEY, value);
}

#[query]
fn stable_value() -> Option<u64> {
    state::stable_get(VALUE_KEY)
}

/// ic0.stable64_size: stable memory size in 64 KiB pages.
#[query]
fn stable_size() -> u64 {
    ic_cdk::api::stable_size()
}

/// Increments the heap counter and the stable value and returns both; as a query these
/// writes must be discarded, when called as an update they must persist.
#[query]
fn query_that_writes() -> StateSnapshot {
    StateSnapshot {
        counter: state::counter_add(1),
        stable_value: Some(state::stable_add(VALUE_KEY, 1)),
    }
}

/// Sets a one-shot ic-cdk-timers timer that increments `timers_fired` when it runs.
#[update]
fn set_timer(delay_ns: u64) {
    ic_cdk_timers::set_timer(Duration::from_nanos(delay_ns), async {
        state::update_heap(|heap| heap.timers_fired += 1);
    });
}

#[query]
fn timers_fired() -> u64 {
    state::read_heap(|heap| heap.timers_fired)
}

/// ic0.global_timer_set: sets the global timer (0 deactivates it) and returns the previous
/// deadline (0 when none was set). Bypasses ic-cdk-timers' bookkeeping.
#[update]
fn swap_global_timer(timestamp_ns: u64) -> u64 {
    ic_cdk::api::global_timer_set(timestamp_ns)
}

#[update]
fn set_certified(data: ByteBuf) {
    ic_cdk::api::certified_data_set(data);
}

/// ic0.data_certificate: present in non-replicated queries only.
#[query]
fn get_certificate() -> Option<ByteBuf> {
    ic_cdk::api::data_certificate().map(ByteBuf::from)
}

#[query]
fn is_controller(principal: Principal) -> bool {
    ic_cdk::api::is_controller(&principal)
}

#[query]
fn caller() -> Principal {
    ic_cdk::api::msg_caller()
}

#[query]
fn self_id() -> Principal {
    ic_cdk::api::canister_self()
}

#[query]
fn time() -> u64 {
    ic_cdk::api::time()
}

#[query]
fn canister_version() -> u64 {
    ic_cdk::api::canister_version()
}

/// False in a query call, true when the same method runs as an update.
#[query]
fn in_replicated_execution() -> bool {
    ic_cdk::api::in_replicated_execution()
}
