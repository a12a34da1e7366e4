//! The escrow's state, all in stable structures (nothing to rebuild after an
//! upgrade), and every money movement as a synchronous method that checks,
//! moves, updates the totals and appends its event — or changes nothing.
//! Authorization and I/O are elsewhere ([`crate::api`], [`crate::ledger`]).

use crate::events::{Event, EventKind};
use crate::memory::{self, Memory};
use crate::types::*;
use candid::Principal;
use ic_stable_structures::memory_manager::MemoryManager;
use ic_stable_structures::{BTreeMap, Cell, DefaultMemoryImpl, Log};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeSet;

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
    pub btc_deposits: BTreeMap<String, Cbor<crate::btc_state::SeenDeposit>, Memory>,
    pub btc_pool: BTreeMap<String, Cbor<crate::btc_state::PoolUtxo>, Memory>,
    pub btc_requests: BTreeMap<u64, Cbor<BtcPayoutRequest>, Memory>,
    pub btc_batches: BTreeMap<u64, Cbor<crate::btc_state::Batch>, Memory>,
    pub btc_meta: Cell<Cbor<crate::btc_state::BtcMeta>, Memory>,
    pub btc_watch: BTreeMap<Principal, Cbor<crate::btc_state::Watch>, Memory>,
    // Heap only (guards; empty after an upgrade, which is what they mean).
    pub principals_busy: BTreeSet<Principal>,
    pub ops_in_flight: BTreeSet<u64>,
    pub reconcile_running: bool,
    pub btc_round_running: bool,
    /// Why the last batch round built nothing although payouts were due.
    pub btc_last_problem: Option<String>,
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

/// `JobExists`/`AlreadySettled` distinction of a hold that is already there.
pub enum Existing {
    Same(Hold),
    Different(Hold),
    Settled(Hold),
}

fn slash_key(miner: &Principal, job: &str) -> String {
    format!("{miner}|{job}")
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
            principals_busy: BTreeSet::new(),
            ops_in_flight: BTreeSet::new(),
            reconcile_running: false,
            btc_round_running: false,
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

    pub fn record(&mut self, at_ns: u64, kind: EventKind) {
        // The log only grows out of memory when the canister is out of
        // stable memory; the balances are already stored, so a trap here
        // (rolling the change back) is the safe answer.
        self.events
            .append(&Cbor(Event { at_ns, kind }))
            .expect("event log append");
    }

    // ---- ckBTC deposits ----------------------------------------------------

    /// Credits ledger block `block_index` to `owner`, once: a block already
    /// credited changes nothing and returns `false`.
    pub fn credit_ckbtc(
        &mut self,
        owner: Principal,
        amount: Sats,
        block_index: u64,
        now: u64,
    ) -> bool {
        if self.ckbtc_blocks.contains_key(&block_index) {
            return false;
        }
        self.ckbtc_blocks.insert(block_index, owner);
        let mut b = self.balance(&owner);
        b.available += amount;
        self.put_balance(owner, b);
        self.update_totals(|t| t.deposits += amount);
        self.record(
            now,
            EventKind::CkbtcDeposited {
                owner,
                amount,
                block_index,
            },
        );
        true
    }

    // ---- ledger operations -------------------------------------------------

    fn next_op(&mut self, kind: LedgerOpKind, memo_tag: &[u8], now: u64) -> LedgerOp {
        let mut c = self.counters.get().0.clone();
        let id = c.next_op_id;
        c.next_op_id += 1;
        c.totals.ledger_ops += 1;
        self.counters.set(Cbor(c));
        let mut memo = memo_tag.to_vec();
        memo.extend_from_slice(&id.to_be_bytes());
        let op = LedgerOp {
            id,
            kind,
            created_at_time: now,
            memo: serde_bytes::ByteBuf::from(memo),
            status: LedgerOpStatus::InFlight,
            attempts: 1,
            last_error: None,
        };
        self.ledger_ops.insert(id, Cbor(op.clone()));
        op
    }

    pub fn ledger_op(&self, id: u64) -> Option<LedgerOp> {
        self.ledger_ops.get(&id).map(|o| o.0)
    }

    pub fn put_ledger_op(&mut self, op: LedgerOp) {
        self.ledger_ops.insert(op.id, Cbor(op));
    }

    fn remove_ledger_op(&mut self, id: u64) -> Option<LedgerOp> {
        let op = self.ledger_ops.remove(&id)?.0;
        self.update_totals(|t| t.ledger_ops -= 1);
        Some(op)
    }

    /// Records a deposit attempt before the `transfer_from` call (no money moves).
    pub fn start_deposit(
        &mut self,
        from: Principal,
        amount: Sats,
        fee: Sats,
        now: u64,
    ) -> LedgerOp {
        self.next_op(LedgerOpKind::Deposit { from, amount, fee }, b"tm-dep", now)
    }

    /// The deposit's transfer happened in `block_index`: credit it (once).
    pub fn complete_deposit(&mut self, op_id: u64, block_index: u64, now: u64) {
        if let Some(op) = self.remove_ledger_op(op_id) {
            if let LedgerOpKind::Deposit { from, amount, .. } = op.kind {
                self.credit_ckbtc(from, amount, block_index, now);
            }
        }
    }

    /// The deposit's transfer did not happen.
    pub fn abandon_deposit(&mut self, op_id: u64, reason: String, now: u64) {
        if self.remove_ledger_op(op_id).is_some() {
            self.record(now, EventKind::DepositAbandoned { op_id, reason });
        }
    }

    /// Debits `amount` from `source` into pending payouts before the
    /// `icrc1_transfer` call.
    pub fn start_withdrawal(
        &mut self,
        source: Source,
        to: Account,
        amount: Sats,
        fee: Sats,
        now: u64,
    ) -> Result<LedgerOp, Sats> {
        self.debit_source(&source, amount)?;
        self.update_totals(|t| t.pending_payouts += amount);
        let kind = LedgerOpKind::Withdrawal {
            source: source.clone(),
            to,
            amount,
            fee,
        };
        let op = self.next_op(kind, b"tm-wd", now);
        self.record(
            now,
            EventKind::WithdrawalStarted {
                op_id: op.id,
                source,
                to,
                amount,
                fee,
                created_at_time: op.created_at_time,
            },
        );
        Ok(op)
    }

    /// Takes `amount` from the source's available funds; `Err(available)`.
    fn debit_source(&mut self, source: &Source, amount: Sats) -> Result<(), Sats> {
        match source {
            Source::Account(p) => {
                let mut b = self.balance(p);
                b.available = b.available.checked_sub(amount).ok_or(b.available)?;
                self.put_balance(*p, b);
            }
            Source::Treasury => {
                let treasury = self.totals().treasury;
                let left = treasury.checked_sub(amount).ok_or(treasury)?;
                self.update_totals(|t| t.treasury = left);
            }
        }
        Ok(())
    }

    fn credit_source(&mut self, source: &Source, amount: Sats) {
        match source {
            Source::Account(p) => {
                let mut b = self.balance(p);
                b.available += amount;
                self.put_balance(*p, b);
            }
            Source::Treasury => self.update_totals(|t| t.treasury += amount),
        }
    }

    /// The ledger executed the withdrawal: pending payouts → withdrawn.
    pub fn complete_withdrawal(&mut self, op_id: u64, block_index: u64, now: u64) {
        let Some(op) = self.remove_ledger_op(op_id) else {
            return;
        };
        if let LedgerOpKind::Withdrawal { amount, .. } = op.kind {
            self.update_totals(|t| {
                t.pending_payouts -= amount;
                t.withdrawals += amount;
            });
            self.record(now, EventKind::WithdrawalCompleted { op_id, block_index });
        }
    }

    /// The ledger did not execute the withdrawal: the amount goes back.
    pub fn fail_withdrawal(&mut self, op_id: u64, reason: String, now: u64) {
        let Some(op) = self.remove_ledger_op(op_id) else {
            return;
        };
        if let LedgerOpKind::Withdrawal { source, amount, .. } = op.kind {
            self.update_totals(|t| t.pending_payouts -= amount);
            self.credit_source(&source, amount);
            self.record(now, EventKind::WithdrawalFailed { op_id, reason });
        }
    }

    /// The outcome of `op_id` is unknown (or undecidable: `NeedsReview`).
    pub fn mark_uncertain(&mut self, op_id: u64, status: LedgerOpStatus, reason: String, now: u64) {
        if let Some(mut op) = self.ledger_op(op_id) {
            op.status = status;
            op.last_error = Some(reason.clone());
            self.put_ledger_op(op);
            self.record(
                now,
                EventKind::LedgerOpUncertain {
                    op_id,
                    status,
                    reason,
                },
            );
        }
    }

    // ---- holds -------------------------------------------------------------

    pub fn hold_of(&self, job: &str) -> Option<Hold> {
        self.holds.get(&job.to_string()).map(|h| h.0)
    }

    /// What is there already for `job`, compared with a new hold request.
    pub fn existing_hold(&self, job: &str, payer: Principal, amount: Sats) -> Option<Existing> {
        let hold = self.hold_of(job)?;
        Some(if hold.settlement.is_some() {
            Existing::Settled(hold)
        } else if hold.payer == payer && hold.amount == amount {
            Existing::Same(hold)
        } else {
            Existing::Different(hold)
        })
    }

    /// Moves `amount` of `payer` from available to held for `job` (a new
    /// job: callers check [`Self::existing_hold`] first). `Err(available)`.
    pub fn hold(
        &mut self,
        job: &str,
        payer: Principal,
        amount: Sats,
        now: u64,
    ) -> Result<Hold, Sats> {
        let mut b = self.balance(&payer);
        b.available = b.available.checked_sub(amount).ok_or(b.available)?;
        b.held += amount;
        self.put_balance(payer, b);
        let hold = Hold {
            job: job.to_string(),
            payer,
            amount,
            held_at_ns: now,
            settlement: None,
        };
        self.holds.insert(job.to_string(), Cbor(hold.clone()));
        self.update_totals(|t| t.holds_open += 1);
        self.record(
            now,
            EventKind::Held {
                job: job.to_string(),
                payer,
                amount,
            },
        );
        Ok(hold)
    }

    /// Settles the open `hold`: payees and the treasury are paid, the rest
    /// goes back to the payer. `Err(())` when Σ payees + fee > the hold.
    pub fn release(
        &mut self,
        mut hold: Hold,
        payees: Vec<(Principal, Sats)>,
        fee: Sats,
        now: u64,
    ) -> Result<Settlement, ()> {
        let paid = payees
            .iter()
            .try_fold(fee, |sum, (_, amount)| sum.checked_add(*amount))
            .ok_or(())?;
        let refunded = hold.amount.checked_sub(paid).ok_or(())?;
        let mut b = self.balance(&hold.payer);
        b.held -= hold.amount;
        b.available += refunded;
        self.put_balance(hold.payer, b);
        for (payee, amount) in &payees {
            let mut b = self.balance(payee);
            b.available += amount;
            self.put_balance(*payee, b);
        }
        self.update_totals(|t| t.treasury += fee);
        let settlement = Settlement::Released {
            payees: payees.clone(),
            fee,
            refunded,
            at_ns: now,
        };
        self.settle(&mut hold, settlement.clone());
        self.record(
            now,
            EventKind::Released {
                job: hold.job.clone(),
                payer: hold.payer,
                payees,
                fee,
                refunded,
            },
        );
        Ok(settlement)
    }

    /// Gives the open `hold` back to its payer.
    pub fn refund(&mut self, mut hold: Hold, now: u64) -> Settlement {
        let mut b = self.balance(&hold.payer);
        b.held -= hold.amount;
        b.available += hold.amount;
        self.put_balance(hold.payer, b);
        let settlement = Settlement::Refunded {
            amount: hold.amount,
            at_ns: now,
        };
        self.settle(&mut hold, settlement.clone());
        self.record(
            now,
            EventKind::Refunded {
                job: hold.job.clone(),
                payer: hold.payer,
                amount: hold.amount,
            },
        );
        settlement
    }

    fn settle(&mut self, hold: &mut Hold, settlement: Settlement) {
        hold.settlement = Some(settlement);
        self.holds.insert(hold.job.clone(), Cbor(hold.clone()));
        self.update_totals(|t| {
            t.holds_open -= 1;
            t.holds_settled += 1;
        });
    }

    // ---- bonds -------------------------------------------------------------

    /// available → bonded. `Err(available)`.
    pub fn bond(&mut self, miner: Principal, amount: Sats, now: u64) -> Result<Balance, Sats> {
        let mut b = self.balance(&miner);
        b.available = b.available.checked_sub(amount).ok_or(b.available)?;
        b.bonded += amount;
        self.put_balance(miner, b.clone());
        self.record(now, EventKind::Bonded { miner, amount });
        Ok(b)
    }

    /// bonded → unbonding until `ready_at_ns` (a new unbond restarts the
    /// delay for everything unbonding). `Err(bonded)`.
    pub fn unbond(
        &mut self,
        miner: Principal,
        amount: Sats,
        ready_at_ns: u64,
        now: u64,
    ) -> Result<Balance, Sats> {
        let mut b = self.balance(&miner);
        b.bonded = b.bonded.checked_sub(amount).ok_or(b.bonded)?;
        b.unbonding += amount;
        b.unbonding_ready_at_ns = ready_at_ns;
        self.put_balance(miner, b.clone());
        self.record(
            now,
            EventKind::UnbondStarted {
                miner,
                amount,
                ready_at_ns,
            },
        );
        Ok(b)
    }

    /// unbonding → available once the delay has passed.
    pub fn claim_unbonded(&mut self, miner: Principal, now: u64) -> Result<Balance, BondError> {
        let mut b = self.balance(&miner);
        if b.unbonding == 0 {
            return Err(BondError::NothingToClaim);
        }
        if now < b.unbonding_ready_at_ns {
            return Err(BondError::NotReady {
                ready_at_ns: b.unbonding_ready_at_ns,
            });
        }
        let amount = b.unbonding;
        b.available += amount;
        b.unbonding = 0;
        b.unbonding_ready_at_ns = 0;
        self.put_balance(miner, b.clone());
        self.record(now, EventKind::Unbonded { miner, amount });
        Ok(b)
    }

    pub fn slash_of(&self, miner: &Principal, job: &str) -> Option<Slash> {
        self.slashes.get(&slash_key(miner, job)).map(|s| s.0)
    }

    /// Takes up to `requested` from the miner's bond (bonded first, then
    /// unbonding) and credits it to `beneficiary`; recorded per (miner, job).
    pub fn slash(
        &mut self,
        miner: Principal,
        requested: Sats,
        beneficiary: Principal,
        job: &str,
        now: u64,
    ) -> Slash {
        let mut b = self.balance(&miner);
        let from_bonded = b.bonded.min(requested);
        let from_unbonding = b.unbonding.min(requested - from_bonded);
        b.bonded -= from_bonded;
        b.unbonding -= from_unbonding;
        if b.unbonding == 0 {
            b.unbonding_ready_at_ns = 0;
        }
        self.put_balance(miner, b);
        let mut to = self.balance(&beneficiary);
        to.available += from_bonded + from_unbonding;
        self.put_balance(beneficiary, to);
        let slash = Slash {
            job: job.to_string(),
            miner,
            beneficiary,
            requested,
            from_bonded,
            from_unbonding,
            at_ns: now,
        };
        self.slashes
            .insert(slash_key(&miner, job), Cbor(slash.clone()));
        self.update_totals(|t| t.slashes += 1);
        self.record(
            now,
            EventKind::Slashed {
                slash: slash.clone(),
            },
        );
        slash
    }

    // ---- the invariant -----------------------------------------------------

    /// Recomputes every total from the records and checks conservation:
    /// deposits − withdrawals = Σ available + Σ held + Σ bonded + treasury +
    /// pending payouts; also that each account's `held` is the sum of its
    /// open holds (no negative balance can exist: all are `u64` and every
    /// subtraction is checked or preceded by a check).
    pub fn check_invariants(&self) -> Result<(), String> {
        let totals = self.totals();
        let mut sums = Totals::default();
        let mut held_by: std::collections::BTreeMap<Principal, u128> = Default::default();
        for entry in self.accounts.iter() {
            let b = entry.value().0;
            if b.is_empty() {
                return Err(format!("empty account {} stored", entry.key()));
            }
            sums.available += b.available;
            sums.held += b.held;
            sums.bonded += b.bonded + b.unbonding;
            sums.accounts += 1;
        }
        for entry in self.holds.iter() {
            let h = entry.value().0;
            if h.settlement.is_none() {
                *held_by.entry(h.payer).or_default() += u128::from(h.amount);
                sums.holds_open += 1;
            } else {
                sums.holds_settled += 1;
            }
        }
        for (payer, held) in &held_by {
            let stored = u128::from(self.balance(payer).held);
            if stored != *held {
                return Err(format!(
                    "{payer} has held {stored}, open holds sum to {held}"
                ));
            }
        }
        if held_by.values().sum::<u128>() != u128::from(sums.held) {
            return Err("held balance without an open hold".into());
        }
        for entry in self.ledger_ops.iter() {
            if let LedgerOpKind::Withdrawal { amount, .. } = entry.value().0.kind {
                sums.pending_payouts += amount;
            }
        }
        sums.pending_payouts += self.btc_pending_sum();
        let checks = [
            ("available", totals.available, sums.available),
            ("held", totals.held, sums.held),
            ("bonded", totals.bonded, sums.bonded),
            (
                "pending_payouts",
                totals.pending_payouts,
                sums.pending_payouts,
            ),
            ("accounts", totals.accounts, sums.accounts),
            ("holds_open", totals.holds_open, sums.holds_open),
            ("holds_settled", totals.holds_settled, sums.holds_settled),
            ("ledger_ops", totals.ledger_ops, self.ledger_ops.len()),
            ("slashes", totals.slashes, self.slashes.len()),
        ];
        for (name, kept, recomputed) in checks {
            if kept != recomputed {
                return Err(format!(
                    "total {name} is {kept}, records sum to {recomputed}"
                ));
            }
        }
        let inside = u128::from(sums.available)
            + u128::from(sums.held)
            + u128::from(sums.bonded)
            + u128::from(totals.treasury)
            + u128::from(sums.pending_payouts);
        let net = i128::from(totals.deposits) - i128::from(totals.withdrawals);
        if net != inside as i128 {
            return Err(format!(
                "conservation: deposits {} − withdrawals {} ≠ {inside} held inside",
                totals.deposits, totals.withdrawals
            ));
        }
        Ok(())
    }
}

/// Replaces the state (tests: a fresh state, or the same memory reloaded as
/// after an upgrade).
#[cfg(test)]
pub fn install_state(state: State) {
    STATE.with(|s| *s.borrow_mut() = state);
}
