//! Guards released on `Drop` (also when a callback traps: ic-cdk runs the
//! drops in its cleanup), so a failed call never leaves anything locked.
//! A guard is only constructed once its slot is taken (`then`, not
//! `then_some`: an eagerly built guard would be dropped on refusal and free
//! the slot its rightful owner holds).

use crate::state::mutate_state;
use candid::Principal;

/// One deposit or withdrawal at a time per principal (and one treasury
/// withdrawal at a time: keyed by the management canister id).
#[derive(Debug)]
pub struct PrincipalGuard(Principal);

impl PrincipalGuard {
    pub fn new(p: Principal) -> Option<Self> {
        mutate_state(|s| s.principals_busy.insert(p).then(|| Self(p)))
    }
}

impl Drop for PrincipalGuard {
    fn drop(&mut self) {
        mutate_state(|s| {
            s.principals_busy.remove(&self.0);
        });
    }
}

/// A ledger operation whose call is outstanding: reconciliation leaves it alone.
#[derive(Debug)]
pub struct OpGuard(u64);

impl OpGuard {
    pub fn new(op_id: u64) -> Option<Self> {
        mutate_state(|s| s.ops_in_flight.insert(op_id).then(|| Self(op_id)))
    }
}

impl Drop for OpGuard {
    fn drop(&mut self) {
        mutate_state(|s| {
            s.ops_in_flight.remove(&self.0);
        });
    }
}

/// One reconciliation round at a time.
#[derive(Debug)]
pub struct ReconcileGuard(());

impl ReconcileGuard {
    pub fn new() -> Option<Self> {
        mutate_state(|s| (!std::mem::replace(&mut s.reconcile_running, true)).then(|| Self(())))
    }
}

impl Drop for ReconcileGuard {
    fn drop(&mut self) {
        mutate_state(|s| s.reconcile_running = false);
    }
}

/// One BTC timer round at a time (a round awaits the Bitcoin canister and
/// threshold signing; a second one must not build or bump concurrently).
#[derive(Debug)]
pub struct BtcRoundGuard(());

impl BtcRoundGuard {
    pub fn new() -> Option<Self> {
        mutate_state(|s| (!std::mem::replace(&mut s.btc_round_running, true)).then(|| Self(())))
    }
}

impl Drop for BtcRoundGuard {
    fn drop(&mut self) {
        mutate_state(|s| s.btc_round_running = false);
    }
}
