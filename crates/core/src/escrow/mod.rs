//! The escrow canister's Candid interface types: configuration, install
//! arguments, records returned by the endpoints, one error enum per endpoint
//! and the audit events. Declared once here and used by the escrow, its
//! callers (the router), the CLI and the tests; `candid/escrow.did` is checked
//! against them by the escrow's interface test.

use candid::{CandidType, Principal};
pub use icrc_ledger_types::icrc1::account::Account;
use serde::{Deserialize, Serialize};

/// Satoshis (ckBTC is 1:1).
pub type Sats = u64;

/// Longest job id accepted (the router's ids, `tensormine_core::api::validate_id`).
pub const MAX_JOB_ID_LEN: usize = 128;

mod event;
pub use event::{Event, EventKind};

/// Bitcoin network of the native BTC part (deposit addresses, payouts).
pub use tensormine_bitcoin::Network as BtcNetwork;

/// The escrow's configuration (set at install, changed by controllers).
/// `serde(default)`: a configuration stored by older code (without the
/// native BTC fields) loads with their defaults.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(default)]
pub struct Config {
    /// The only principal that may hold, release, refund and slash.
    pub router: Option<Principal>,
    /// The ICRC-1/ICRC-2 ledger of ckBTC.
    pub ckbtc_ledger: Option<Principal>,
    /// Where treasury (protocol fee) withdrawals go.
    pub fee_account: Option<Account>,
    /// The ledger's transfer fee, passed explicitly in every transfer so a
    /// retry is byte-identical (ledger dedup); refreshed from `BadFee`.
    pub ckbtc_fee: Sats,
    /// Smallest ckBTC deposit.
    pub min_deposit: Sats,
    /// Smallest ckBTC withdrawal (must exceed `ckbtc_fee`).
    pub min_withdrawal: Sats,
    /// Smallest bond a miner can add.
    pub min_bond: Sats,
    /// Seconds between `unbond` and the moment the amount can be claimed;
    /// slashes can still take it meanwhile.
    pub unbond_delay_secs: u64,
    /// Seconds between reconciliation rounds of unfinished ledger calls.
    pub reconcile_interval_secs: u64,
    /// Most payees in one `release`.
    pub max_payees: u32,
    /// Network of the native BTC part (part 2).
    pub btc_network: BtcNetwork,
    /// Refuse every new money movement; configuration, queries and the
    /// reconciliation of calls already made keep working.
    pub read_only: bool,
    /// Threshold ECDSA key: `dfx_test_key` (local), `test_key_1`, `key_1`.
    /// Fixed once the escrow has fetched its key (addresses depend on it).
    pub ecdsa_key_name: String,
    /// Confirmations a BTC deposit needs before it is credited.
    pub btc_min_confirmations: u32,
    /// Smaller BTC deposit UTXOs are recorded and never credited.
    pub btc_min_deposit: Sats,
    /// Smallest BTC withdrawal (the fee share comes out of it).
    pub btc_min_withdrawal: Sats,
    /// A batch is built once this many payouts are queued…
    pub btc_batch_min_requests: u32,
    /// …or the oldest has waited this long.
    pub btc_batch_max_wait_secs: u64,
    /// An unconfirmed payout transaction is replaced (RBF) after this long.
    pub btc_resubmit_after_secs: u64,
    /// The timer checks deposit addresses requested within this window.
    pub btc_watch_secs: u64,
    /// Most watched deposit addresses checked per timer round.
    pub btc_watch_per_round: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            router: None,
            ckbtc_ledger: None,
            fee_account: None,
            ckbtc_fee: 10,
            min_deposit: 1_000,
            min_withdrawal: 1_000,
            min_bond: 1_000,
            unbond_delay_secs: 7 * 86_400,
            reconcile_interval_secs: 60,
            max_payees: 32,
            btc_network: BtcNetwork::Mainnet,
            read_only: false,
            ecdsa_key_name: "key_1".into(),
            btc_min_confirmations: 6,
            btc_min_deposit: 10_000,
            btc_min_withdrawal: 10_000,
            btc_batch_min_requests: 20,
            btc_batch_max_wait_secs: 600,
            btc_resubmit_after_secs: 3_600,
            btc_watch_secs: 86_400,
            btc_watch_per_round: 10,
        }
    }
}

/// Changes to the configuration; absent fields keep their value.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigUpdate {
    pub router: Option<Option<Principal>>,
    pub ckbtc_ledger: Option<Option<Principal>>,
    pub fee_account: Option<Option<Account>>,
    pub ckbtc_fee: Option<Sats>,
    pub min_deposit: Option<Sats>,
    pub min_withdrawal: Option<Sats>,
    pub min_bond: Option<Sats>,
    pub unbond_delay_secs: Option<u64>,
    pub reconcile_interval_secs: Option<u64>,
    pub max_payees: Option<u32>,
    pub btc_network: Option<BtcNetwork>,
    pub read_only: Option<bool>,
    pub ecdsa_key_name: Option<String>,
    pub btc_min_confirmations: Option<u32>,
    pub btc_min_deposit: Option<Sats>,
    pub btc_min_withdrawal: Option<Sats>,
    pub btc_batch_min_requests: Option<u32>,
    pub btc_batch_max_wait_secs: Option<u64>,
    pub btc_resubmit_after_secs: Option<u64>,
    pub btc_watch_secs: Option<u64>,
    pub btc_watch_per_round: Option<u32>,
}

/// Install argument.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone)]
pub enum EscrowArg {
    Init(ConfigUpdate),
    Upgrade(Option<ConfigUpdate>),
}

/// One principal's money.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Balance {
    /// Spendable: holds, bonds, withdrawals.
    pub available: Sats,
    /// Locked in holds for jobs the principal pays for.
    pub held: Sats,
    /// Bond (a miner's stake against cheating), slashable.
    pub bonded: Sats,
    /// Being unbonded: still slashable until `unbonding_ready_at_ns`.
    pub unbonding: Sats,
    pub unbonding_ready_at_ns: u64,
}

impl Balance {
    pub fn is_empty(&self) -> bool {
        self.available == 0 && self.held == 0 && self.bonded == 0 && self.unbonding == 0
    }
}

/// How a hold ended.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Paid out; `refunded = amount − Σ payees − fee` went back to the payer.
    Released {
        payees: Vec<(Principal, Sats)>,
        fee: Sats,
        refunded: Sats,
        at_ns: u64,
    },
    /// The whole hold went back to the payer.
    Refunded { amount: Sats, at_ns: u64 },
}

/// A job's hold, kept after settlement so every repeat answers the same.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub job: String,
    pub payer: Principal,
    pub amount: Sats,
    pub held_at_ns: u64,
    pub settlement: Option<Settlement>,
}

/// A slash, kept so a repeat answers the same.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Slash {
    pub job: String,
    pub miner: Principal,
    pub beneficiary: Principal,
    /// What the router asked for.
    pub requested: Sats,
    /// What the bond had: `from_bonded + from_unbonding ≤ requested`.
    pub from_bonded: Sats,
    pub from_unbonding: Sats,
    pub at_ns: u64,
}

/// Where a withdrawal's money came from.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Account(Principal),
    Treasury,
}

/// A ledger call whose outcome is not known yet.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum LedgerOpKind {
    /// `icrc2_transfer_from(from → escrow, amount)` (`from` also pays the
    /// ledger `fee`); nothing credited yet.
    Deposit {
        from: Principal,
        amount: Sats,
        fee: Sats,
    },
    /// `icrc1_transfer(escrow → to, amount − fee)`; `amount` already debited
    /// from `source` and counted in pending payouts.
    Withdrawal {
        source: Source,
        to: Account,
        amount: Sats,
        fee: Sats,
    },
}

#[derive(CandidType, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerOpStatus {
    /// Sent; the answer has not been processed.
    InFlight,
    /// The ledger may or may not have executed it; reconciliation retries the
    /// identical call (same `created_at_time` and memo) so the ledger dedups.
    Unknown,
    /// Retries cannot decide any more (e.g. `TooOld`): a controller checks the
    /// ledger and calls `resolve_ledger_op`.
    NeedsReview,
}

#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LedgerOp {
    pub id: u64,
    pub kind: LedgerOpKind,
    pub created_at_time: u64,
    pub memo: serde_bytes::ByteBuf,
    pub status: LedgerOpStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// A BTC UTXO as the endpoints report it (txid as explorers print it).
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct BtcUtxo {
    pub txid: String,
    pub vout: u32,
    pub amount: Sats,
    pub height: u32,
}

/// What `update_btc_balance` found at the caller's deposit address.
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct BtcBalanceUpdate {
    /// Newly credited (each UTXO is credited once, ever).
    pub credited: Vec<BtcUtxo>,
    /// Newly seen UTXOs below `min_deposit`: recorded, never credited.
    pub ignored_too_small: Vec<BtcUtxo>,
    pub min_deposit: Sats,
    pub balance: Balance,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum BtcBalanceError {
    AnonymousCaller,
    ReadOnly,
    /// Another deposit or withdrawal of this principal is running.
    AlreadyProcessing,
    /// The threshold ECDSA key could not be fetched.
    KeyUnavailable {
        message: String,
    },
    /// `bitcoin_get_utxos` failed; nothing was credited, call again.
    BitcoinCanister {
        message: String,
    },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum BtcAddressError {
    AnonymousOwner,
    KeyUnavailable { message: String },
}

/// A queued BTC payout.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct BtcPayoutRequest {
    pub id: u64,
    pub owner: Principal,
    /// Normalised address of the configured network.
    pub address: String,
    /// Debited; the recipient gets `amount − fee share`.
    pub amount: Sats,
    pub requested_at_ns: u64,
    /// The batch (transaction) carrying it, once submitted.
    pub batch: Option<u64>,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum BtcWithdrawError {
    AnonymousCaller,
    ReadOnly,
    AlreadyProcessing,
    /// Not a valid address of the configured network (the reason names the problem).
    InvalidAddress {
        reason: tensormine_bitcoin::AddressError,
    },
    AmountTooSmall {
        min: Sats,
    },
    InsufficientFunds {
        available: Sats,
    },
}

/// A submitted payout transaction (one batch), until confirmed.
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct BtcBatchInfo {
    pub id: u64,
    /// Every version sent (the original, then RBF replacements), latest last.
    pub txids: Vec<String>,
    pub requests: Vec<u64>,
    pub fee: Sats,
    /// Change below dust given to the fee, paid by the treasury.
    pub treasury_debit: Sats,
    pub inputs: u32,
    pub last_sent_ns: u64,
    pub last_error: Option<String>,
}

/// Totals over all accounts (maintained incrementally, checked by
/// `check_invariants`).
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// ckBTC credited (and, in part 2, BTC deposits).
    pub deposits: Sats,
    /// Withdrawals the ledger confirmed.
    pub withdrawals: Sats,
    pub available: Sats,
    pub held: Sats,
    /// Bonded plus unbonding.
    pub bonded: Sats,
    pub treasury: Sats,
    /// Debited, not yet confirmed out (ckBTC withdrawals in flight or of
    /// unknown outcome; native BTC payouts in part 2).
    pub pending_payouts: Sats,
    pub accounts: u64,
    pub holds_open: u64,
    pub holds_settled: u64,
    pub slashes: u64,
    pub ledger_ops: u64,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DepositReceipt {
    pub block_index: u64,
    pub amount: Sats,
    pub balance: Balance,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalReceipt {
    pub block_index: u64,
    /// Debited from the account.
    pub amount: Sats,
    /// Taken by the ledger: the recipient gets `amount − ledger_fee`.
    pub ledger_fee: Sats,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    /// The ledger said no (the transfer did not happen).
    Rejected { message: String },
    /// The ledger's fee changed; retry (the configuration now has it).
    BadFee { expected_fee: Sats },
    /// The ledger asked to retry later.
    TemporarilyUnavailable,
    /// The call did not reach the ledger or was rejected (nothing happened).
    CallFailed { message: String },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum DepositError {
    AnonymousCaller,
    ReadOnly,
    LedgerNotConfigured,
    AmountTooSmall {
        min: Sats,
    },
    /// Another deposit or withdrawal of this principal is running.
    AlreadyProcessing,
    InsufficientAllowance {
        allowance: Sats,
    },
    InsufficientFunds {
        balance: Sats,
    },
    Ledger(LedgerError),
    /// No answer from the ledger: if the transfer happened, reconciliation
    /// credits it (`get_ledger_ops` shows it meanwhile).
    OutcomeUnknown {
        op_id: u64,
    },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum WithdrawError {
    AnonymousCaller,
    NotController,
    ReadOnly,
    LedgerNotConfigured,
    FeeAccountNotConfigured,
    AmountTooSmall {
        min: Sats,
    },
    AlreadyProcessing,
    InsufficientFunds {
        available: Sats,
    },
    /// The transfer did not happen; the amount is available again.
    Ledger(LedgerError),
    /// No answer from the ledger: the amount stays debited (pending payout)
    /// until reconciliation learns the outcome; it is never sent twice.
    OutcomeUnknown {
        op_id: u64,
    },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum HoldError {
    NotRouter,
    ReadOnly,
    InvalidJobId {
        reason: String,
    },
    AnonymousCaller,
    AmountTooSmall {
        min: Sats,
    },
    InsufficientFunds {
        available: Sats,
    },
    /// The job already has a different open hold.
    JobExists {
        hold: Hold,
    },
    AlreadySettled {
        hold: Hold,
    },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ReleaseError {
    NotRouter,
    ReadOnly,
    UnknownJob,
    AnonymousCaller,
    TooManyPayees {
        max: u32,
    },
    /// Σ payees + fee is more than the hold.
    ExceedsHold {
        held: Sats,
    },
    AlreadySettled {
        hold: Hold,
    },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RefundError {
    NotRouter,
    ReadOnly,
    UnknownJob,
    AlreadySettled { hold: Hold },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum BondError {
    AnonymousCaller,
    ReadOnly,
    AmountTooSmall {
        min: Sats,
    },
    InsufficientFunds {
        available: Sats,
    },
    InsufficientBond {
        bonded: Sats,
    },
    /// `claim_unbonded` before the delay has passed.
    NotReady {
        ready_at_ns: u64,
    },
    NothingToClaim,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum SlashError {
    NotRouter,
    ReadOnly,
    InvalidJobId {
        reason: String,
    },
    AnonymousCaller,
    AmountTooSmall {
        min: Sats,
    },
    /// This miner was already slashed for this job with other arguments.
    AlreadySlashed {
        slash: Slash,
    },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    NotController,
    Invalid { reason: String },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    NotController,
    UnknownOp,
    /// Only `NeedsReview` operations are resolved by hand.
    NotUnderReview {
        status: LedgerOpStatus,
    },
}

/// A controller's verdict on a `NeedsReview` ledger operation, after
/// looking it up on the ledger.
#[derive(CandidType, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Executed { block_index: u64 },
    NotExecuted,
}

/// What one reconciliation round did.
#[derive(CandidType, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub retried: u32,
    pub settled: u32,
    pub still_unknown: u32,
    pub needs_review: u32,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct EventsPage {
    pub total: u64,
    pub events: Vec<Event>,
}
