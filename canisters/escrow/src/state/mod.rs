//! The escrow's state, all in stable structures (nothing to rebuild after an
//! upgrade), and every money movement as a synchronous method that checks,
//! moves, updates the totals and appends its event — or changes nothing.
//! Authorization and I/O are elsewhere ([`crate::api`], [`crate::ledger`]).
//!
//! By concern: [`ckbtc`] (ckBTC deposits and ledger operations), [`holds`]
//! (job holds and their settlement), [`bonds`] (miner bonds and slashes),
//! [`btc`] (native BTC deposits, pool and payout batches), [`eventlog`]
//! (the audit log and its replay), [`invariants`] (conservation).

use crate::memory::{self, Memory};
use crate::types::Event;
use crate::types::*;
use candid::Principal;
use ic_stable_structures::memory_manager::MemoryManager;
use ic_stable_structures::{BTreeMap, Cell, DefaultMemoryImpl, Log};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeSet;

pub mod bonds;
pub mod btc;
pub mod ckbtc;
pub mod eventlog;
pub mod holds;
pub mod invariants;

pub use holds::Existing;
pub use tensormine_core::stable::Cbor;

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub totals: Totals,
    pub next_op_id: u64,
}

pub struct State {
    pub config: Cell<Cbor<Config>, Memory>,
    pub accounts: BTreeMap<Principal, Cbor<Balance>, Memory>,
    pub holds: BTreeMap<String, Cbor<Hold>, Memory>,
    pub ckbtc_blocks: BTreeMap<u64, Principal, Memory>,
    pub ledger_ops: BTreeMap<u64, Cbor<LedgerOp>, Memory>,
    pub slashes: BTreeMap<String, Cbor<Slash>, Memory>,
    pub counters: Cell<Cbor<Counters>, Memory>,
    pub events: Log<Cbor<Event>, Memory, Memory>,
    pub btc_deposits: BTreeMap<String, Cbor<btc::SeenDeposit>, Memory>,
    pub btc_pool: BTreeMap<String, Cbor<btc::PoolUtxo>, Memory>,
    pub btc_requests: BTreeMap<u64, Cbor<BtcPayoutRequest>, Memory>,
    pub btc_batches: BTreeMap<u64, Cbor<btc::Batch>, Memory>,
    pub btc_meta: Cell<Cbor<btc::BtcMeta>, Memory>,
    pub btc_watch: BTreeMap<Principal, Cbor<btc::Watch>, Memory>,
    // Heap only (guards; empty after an upgrade, which is what they mean).
    /// Tasks holding a [`crate::guard::Guard`].
    pub running: BTreeSet<Task>,
    /// Why the last batch round built nothing although payouts were due.
    pub btc_last_problem: Option<String>,
}

/// What must not run twice at once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Task {
    /// One deposit or withdrawal at a time per principal (and one treasury
    /// withdrawal at a time: keyed by the management canister id).
    Principal(Principal),
    /// A ledger operation whose call is outstanding: reconciliation leaves
    /// it alone.
    LedgerOp(u64),
    /// One reconciliation round at a time.
    Reconcile,
    /// One BTC timer round at a time (a round awaits the Bitcoin canister
    /// and threshold signing; a second one must not build or bump
    /// concurrently).
    BtcRound,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::new(DefaultMemoryImpl::default()));
}

pub fn read_state<R>(f: impl FnOnce(&State) -> R) -> R {
    STATE.with(|s| f(&s.borrow()))
}

/// Every change goes through here; with `self-check` (and in unit tests) the
/// conservation invariant is checked after each one and a violation traps,
/// rolling the message back.
pub fn mutate_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| {
        let mut state = s.borrow_mut();
        let result = f(&mut state);
        #[cfg(any(test, feature = "self-check"))]
        if let Err(violation) = state.check_invariants() {
            panic!("escrow invariant violated: {violation}");
        }
        result
    })
}
impl State {
    /// The state in `memory` (empty memory: a fresh state).
    pub fn new(memory: DefaultMemoryImpl) -> Self {
        let manager = MemoryManager::init(memory);
        let get = |id| memory::get(&manager, id);
        Self {
            config: Cell::init(get(memory::CONFIG), Cbor(Config::default())),
            accounts: BTreeMap::init(get(memory::ACCOUNTS)),
            holds: BTreeMap::init(get(memory::HOLDS)),
            ckbtc_blocks: BTreeMap::init(get(memory::CKBTC_BLOCKS)),
            ledger_ops: BTreeMap::init(get(memory::LEDGER_OPS)),
            slashes: BTreeMap::init(get(memory::SLASHES)),
            counters: Cell::init(get(memory::COUNTERS), Cbor(Counters::default())),
            events: Log::init(get(memory::EVENTS_INDEX), get(memory::EVENTS_DATA)),
            btc_deposits: BTreeMap::init(get(memory::BTC_DEPOSITS)),
            btc_pool: BTreeMap::init(get(memory::BTC_POOL)),
            btc_requests: BTreeMap::init(get(memory::BTC_REQUESTS)),
            btc_batches: BTreeMap::init(get(memory::BTC_BATCHES)),
            btc_meta: Cell::init(get(memory::BTC_META), Cbor(Default::default())),
            btc_watch: BTreeMap::init(get(memory::BTC_WATCH)),
            running: BTreeSet::new(),
            btc_last_problem: None,
        }
    }

    pub fn config(&self) -> Config {
        self.config.get().0.clone()
    }

    pub fn set_config(&mut self, config: Config) {
        self.config.set(Cbor(config));
    }

    pub fn totals(&self) -> Totals {
        self.counters.get().0.totals.clone()
    }

    pub(crate) fn update_totals(&mut self, f: impl FnOnce(&mut Totals)) {
        let mut c = self.counters.get().0.clone();
        f(&mut c.totals);
        self.counters.set(Cbor(c));
    }

    pub fn balance(&self, p: &Principal) -> Balance {
        self.accounts.get(p).map(|b| b.0).unwrap_or_default()
    }

    /// Stores `new` for `p` and moves the per-bucket totals by the difference.
    pub(crate) fn put_balance(&mut self, p: Principal, new: Balance) {
        let old = self.balance(&p);
        self.update_totals(|t| {
            t.available = t.available - old.available + new.available;
            t.held = t.held - old.held + new.held;
            t.bonded = t.bonded - (old.bonded + old.unbonding) + (new.bonded + new.unbonding);
            t.accounts = t.accounts - u64::from(!old.is_empty()) + u64::from(!new.is_empty());
        });
        if new.is_empty() {
            self.accounts.remove(&p);
        } else {
            self.accounts.insert(p, Cbor(new));
        }
    }
}

/// Replaces the state (tests: a fresh state, or the same memory reloaded as
/// after an upgrade).
#[cfg(test)]
pub fn install_state(state: State) {
    STATE.with(|s| *s.borrow_mut() = state);
}
