//! The escrow's audit events: every movement of money, in order, as
//! `get_events` returns them. The escrow's event log rebuilds every balance
//! from them (`replay`).

use super::*;
use candid::{CandidType, Principal};
use serde::{Deserialize, Serialize};

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
