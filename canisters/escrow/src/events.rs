//! The event log: every movement of money, in order. The stable maps are the
//! source of truth (no replay at upgrade: replay time grows with history and
//! would eventually exceed the upgrade's instruction limit); the log is the
//! audit trail and is complete enough that [`replay`] rebuilds every balance
//! from it — the tests check that it does.

use crate::types::*;
use candid::{CandidType, Principal};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at_ns: u64,
    pub kind: EventKind,
}

#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Init {
        config: Config,
    },
    Upgrade {
        config: Config,
    },
    ConfigChanged {
        by: Principal,
        config: Config,
    },
    /// A ckBTC ledger block credited to `owner` (once per block).
    CkbtcDeposited {
        owner: Principal,
        amount: Sats,
        block_index: u64,
    },
    /// `amount` debited from `source` into pending payouts, before the call.
    WithdrawalStarted {
        op_id: u64,
        source: Source,
        to: Account,
        amount: Sats,
        fee: Sats,
        created_at_time: u64,
    },
    /// The ledger executed it: pending payouts → withdrawn.
    WithdrawalCompleted {
        op_id: u64,
        block_index: u64,
    },
    /// The ledger did not execute it: pending payouts → back to the source.
    WithdrawalFailed {
        op_id: u64,
        reason: String,
    },
    /// No money moves: a ledger call's outcome became unknown or undecidable.
    LedgerOpUncertain {
        op_id: u64,
        status: LedgerOpStatus,
        reason: String,
    },
    /// No money moves: a deposit attempt ended without a transfer.
    DepositAbandoned {
        op_id: u64,
        reason: String,
    },
    Held {
        job: String,
        payer: Principal,
        amount: Sats,
    },
    Released {
        job: String,
        payer: Principal,
        payees: Vec<(Principal, Sats)>,
        fee: Sats,
        refunded: Sats,
    },
    Refunded {
        job: String,
        payer: Principal,
        amount: Sats,
    },
    Bonded {
        miner: Principal,
        amount: Sats,
    },
    UnbondStarted {
        miner: Principal,
        amount: Sats,
        ready_at_ns: u64,
    },
    Unbonded {
        miner: Principal,
        amount: Sats,
    },
    Slashed {
        slash: Slash,
    },
    /// A BTC UTXO at `owner`'s deposit address credited (once per outpoint).
    BtcDeposited {
        owner: Principal,
        utxo: BtcUtxo,
    },
    /// No money moves: a deposit UTXO below the minimum, never credited.
    BtcDepositIgnored {
        owner: Principal,
        utxo: BtcUtxo,
        min_deposit: Sats,
    },
    /// `amount` debited from `owner`'s available funds into pending payouts.
    BtcPayoutRequested {
        request_id: u64,
        owner: Principal,
        address: String,
        amount: Sats,
    },
    /// Not payable (dust after its fee share): pending payouts → available.
    BtcPayoutRejected {
        request_id: u64,
        owner: Principal,
        amount: Sats,
        reason: String,
    },
    /// A payout transaction committed (inputs spent, before signing and
    /// sending); `treasury_debit` (change given to the fee): treasury → pending.
    BtcTransactionSubmitted {
        batch_id: u64,
        txid: String,
        requests: Vec<u64>,
        fee: Sats,
        treasury_debit: Sats,
    },
    /// No money moves: an RBF replacement of the batch's transaction.
    BtcTransactionReplaced {
        batch_id: u64,
        txid: String,
        fee: Sats,
    },
    /// Confirmed: `amount` (the requests plus the treasury part) leaves
    /// pending payouts as withdrawn.
    BtcPayoutConfirmed {
        batch_id: u64,
        txid: String,
        requests: Vec<u64>,
        amount: Sats,
    },
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
