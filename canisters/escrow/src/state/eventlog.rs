//! The event log: every movement of money, in order. The stable maps are the
//! source of truth (no replay at upgrade: replay time grows with history and
//! would eventually exceed the upgrade's instruction limit); the log is the
//! audit trail and is complete enough that [`replay`] rebuilds every balance
//! from it — the tests check that it does.

use super::{Cbor, State};
use crate::types::*;
pub use crate::types::{Event, EventKind};
use candid::Principal;
use std::collections::BTreeMap;

impl State {
    /// Appends an event to the log.
    pub fn record(&mut self, at_ns: u64, kind: EventKind) {
        // The log only grows out of memory when the canister is out of
        // stable memory; the balances are already stored, so a trap here
        // (rolling the change back) is the safe answer.
        self.events
            .append(&Cbor(Event { at_ns, kind }))
            .expect("event log append");
    }
}

/// Balances rebuilt from events alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    pub accounts: BTreeMap<Principal, Balance>,
    pub treasury: Sats,
    pub pending_payouts: Sats,
    pub deposits: Sats,
    pub withdrawals: Sats,
}

impl Replayed {
    fn account(&mut self, p: Principal) -> &mut Balance {
        self.accounts.entry(p).or_default()
    }

    fn credit_source(&mut self, source: &Source, amount: Sats) {
        match source {
            Source::Account(p) => self.account(*p).available += amount,
            Source::Treasury => self.treasury += amount,
        }
    }

    fn debit_source(&mut self, source: &Source, amount: Sats) {
        match source {
            Source::Account(p) => self.account(*p).available -= amount,
            Source::Treasury => self.treasury -= amount,
        }
    }
}

/// Rebuilds every balance from the events (panics on an event that would
/// make a balance negative: the log would be inconsistent).
pub fn replay<'a>(events: impl IntoIterator<Item = &'a Event>) -> Replayed {
    let mut r = Replayed::default();
    let mut started: BTreeMap<u64, (Source, Sats)> = BTreeMap::new();
    for event in events {
        apply(&mut r, &mut started, &event.kind);
    }
    r.accounts.retain(|_, b| !b.is_empty());
    r
}

fn apply(r: &mut Replayed, started: &mut BTreeMap<u64, (Source, Sats)>, kind: &EventKind) {
    match kind {
        EventKind::CkbtcDeposited { owner, amount, .. } => {
            r.account(*owner).available += amount;
            r.deposits += amount;
        }
        EventKind::WithdrawalStarted {
            op_id,
            source,
            amount,
            ..
        } => {
            r.debit_source(source, *amount);
            r.pending_payouts += amount;
            started.insert(*op_id, (source.clone(), *amount));
        }
        EventKind::WithdrawalCompleted { op_id, .. } => {
            let (_, amount) = started.remove(op_id).expect("completed op was started");
            r.pending_payouts -= amount;
            r.withdrawals += amount;
        }
        EventKind::WithdrawalFailed { op_id, .. } => {
            let (source, amount) = started.remove(op_id).expect("failed op was started");
            r.pending_payouts -= amount;
            r.credit_source(&source, amount);
        }
        EventKind::Held { payer, amount, .. } => {
            let b = r.account(*payer);
            b.available -= amount;
            b.held += amount;
        }
        EventKind::Released {
            payer,
            payees,
            fee,
            refunded,
            ..
        } => {
            let paid: Sats = payees.iter().map(|(_, a)| a).sum();
            let b = r.account(*payer);
            b.held -= paid + fee + refunded;
            b.available += refunded;
            for (payee, amount) in payees {
                r.account(*payee).available += amount;
            }
            r.treasury += fee;
        }
        EventKind::Refunded { payer, amount, .. } => {
            let b = r.account(*payer);
            b.held -= amount;
            b.available += amount;
        }
        EventKind::Bonded { miner, amount } => {
            let b = r.account(*miner);
            b.available -= amount;
            b.bonded += amount;
        }
        EventKind::UnbondStarted {
            miner,
            amount,
            ready_at_ns,
        } => {
            let b = r.account(*miner);
            b.bonded -= amount;
            b.unbonding += amount;
            b.unbonding_ready_at_ns = *ready_at_ns;
        }
        EventKind::Unbonded { miner, amount } => {
            let b = r.account(*miner);
            b.unbonding -= amount;
            b.available += amount;
            if b.unbonding == 0 {
                b.unbonding_ready_at_ns = 0;
            }
        }
        EventKind::Slashed { slash } => {
            let b = r.account(slash.miner);
            b.bonded -= slash.from_bonded;
            b.unbonding -= slash.from_unbonding;
            if b.unbonding == 0 {
                b.unbonding_ready_at_ns = 0;
            }
            r.account(slash.beneficiary).available += slash.from_bonded + slash.from_unbonding;
        }
        EventKind::BtcDeposited { owner, utxo } => {
            r.account(*owner).available += utxo.amount;
            r.deposits += utxo.amount;
        }
        EventKind::BtcPayoutRequested { owner, amount, .. } => {
            r.account(*owner).available -= amount;
            r.pending_payouts += amount;
        }
        EventKind::BtcPayoutRejected { owner, amount, .. } => {
            r.pending_payouts -= amount;
            r.account(*owner).available += amount;
        }
        EventKind::BtcTransactionSubmitted { treasury_debit, .. } => {
            r.treasury -= treasury_debit;
            r.pending_payouts += treasury_debit;
        }
        EventKind::BtcPayoutConfirmed { amount, .. } => {
            r.pending_payouts -= amount;
            r.withdrawals += amount;
        }
        EventKind::Init { .. }
        | EventKind::BtcDepositIgnored { .. }
        | EventKind::BtcTransactionReplaced { .. }
        | EventKind::Upgrade { .. }
        | EventKind::ConfigChanged { .. }
        | EventKind::LedgerOpUncertain { .. }
        | EventKind::DepositAbandoned { .. } => {}
    }
}
