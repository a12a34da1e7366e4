//! Client-side Candid types of the canisters whose types are not in
//! `tensormine-core`: the escrow (written from `candid/escrow.did`), the
//! registry's errors and install argument (from `candid/registry.did`) and the
//! ICRC ledger (ICRC-1/ICRC-2, from `crates/localnet-icrc-ledger/ledger.did`).
//! The `.did` files are the contract: `tests/candid.rs` checks that each
//! service is a subtype of the interface these types describe, so a changed
//! `.did` breaks the test rather than a user's call.
//!
//! Records the CLI only reads are declared with the fields it reads (Candid
//! decoding skips the others); variants are complete (an unknown tag would not
//! decode).

use candid::{CandidType, Deserialize, Nat, Principal};
use serde::Serialize;

pub type Sats = u64;

/// Bitcoin network (escrow and registry spell it the same).
#[derive(CandidType, Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BtcNetwork {
    Mainnet,
    Testnet,
    Regtest,
}

// ---------------------------------------------------------------- escrow ----

/// ICRC-1 account.
#[derive(CandidType, Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub owner: Principal,
    pub subaccount: Option<serde_bytes::ByteBuf>,
}

impl Account {
    pub fn of(owner: Principal) -> Self {
        Self {
            owner,
            subaccount: None,
        }
    }
}

/// One principal's money in the escrow.
#[derive(CandidType, Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub available: Sats,
    pub held: Sats,
    pub bonded: Sats,
    pub unbonding: Sats,
    pub unbonding_ready_at_ns: u64,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum BondError {
    NothingToClaim,
    ReadOnly,
    NotReady { ready_at_ns: u64 },
    InsufficientBond { bonded: Sats },
    AnonymousCaller,
    InsufficientFunds { available: Sats },
    AmountTooSmall { min: Sats },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    CallFailed { message: String },
    TemporarilyUnavailable,
    BadFee { expected_fee: Sats },
    Rejected { message: String },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum DepositError {
    OutcomeUnknown { op_id: u64 },
    LedgerNotConfigured,
    InsufficientAllowance { allowance: Sats },
    AlreadyProcessing,
    ReadOnly,
    Ledger(LedgerError),
    AnonymousCaller,
    InsufficientFunds { balance: Sats },
    AmountTooSmall { min: Sats },
}

#[derive(CandidType, Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
pub struct DepositReceipt {
    pub balance: Balance,
    pub block_index: u64,
    pub amount: Sats,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum BtcAddressError {
    KeyUnavailable { message: String },
    AnonymousOwner,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum BtcBalanceError {
    BitcoinCanister { message: String },
    AlreadyProcessing,
    ReadOnly,
    KeyUnavailable { message: String },
    AnonymousCaller,
}

#[derive(CandidType, Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
pub struct BtcUtxo {
    pub height: u32,
    pub txid: String,
    pub vout: u32,
    pub amount: Sats,
}

#[derive(CandidType, Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
pub struct BtcBalanceUpdate {
    pub min_deposit: Sats,
    pub balance: Balance,
    pub credited: Vec<BtcUtxo>,
    pub ignored_too_small: Vec<BtcUtxo>,
}

#[derive(CandidType, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bech32Variant {
    Bech32m,
    Bech32,
}

/// Why the escrow refused a BTC address.
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    BadChecksum,
    Empty,
    InvalidProgramLength {
        version: u8,
        length: u32,
    },
    WrongChecksumVariant {
        found: Bech32Variant,
        expected: Bech32Variant,
        version: u8,
    },
    MalformedBech32 {
        reason: String,
    },
    TooLong {
        max: u32,
        length: u32,
    },
    InvalidWitnessVersion {
        version: u8,
    },
    InvalidPadding,
    UnsupportedWitnessVersion {
        version: u8,
    },
    UnknownHrp {
        hrp: String,
    },
    MixedCase,
    InvalidPublicKey {
        reason: String,
    },
    InvalidCharacter {
        character: String,
        position: u32,
    },
    UnknownVersion {
        version: u8,
    },
    UnsupportedWitnessProgram {
        version: u8,
        length: u32,
    },
    WrongNetwork {
        found: BtcNetwork,
        expected: BtcNetwork,
    },
    InvalidLength {
        length: u32,
    },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum BtcWithdrawError {
    InvalidAddress { reason: AddressError },
    AlreadyProcessing,
    ReadOnly,
    AnonymousCaller,
    InsufficientFunds { available: Sats },
    AmountTooSmall { min: Sats },
}

/// A queued BTC payout.
#[derive(CandidType, Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
pub struct BtcPayoutRequest {
    pub id: u64,
    pub owner: Principal,
    pub address: String,
    pub batch: Option<u64>,
    pub requested_at_ns: u64,
    pub amount: Sats,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum WithdrawError {
    OutcomeUnknown { op_id: u64 },
    NotController,
    LedgerNotConfigured,
    AlreadyProcessing,
    ReadOnly,
    FeeAccountNotConfigured,
    Ledger(LedgerError),
    AnonymousCaller,
    InsufficientFunds { available: Sats },
    AmountTooSmall { min: Sats },
}

#[derive(CandidType, Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalReceipt {
    pub block_index: u64,
    pub ledger_fee: Sats,
    pub amount: Sats,
}

/// The fields of the escrow's `Config` the CLI reads.
#[derive(CandidType, Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
pub struct EscrowConfig {
    pub min_deposit: Sats,
    pub ckbtc_fee: Sats,
    pub min_withdrawal: Sats,
    pub min_bond: Sats,
    pub btc_network: BtcNetwork,
    pub btc_min_deposit: Sats,
    pub btc_min_withdrawal: Sats,
    pub btc_min_confirmations: u32,
    pub ckbtc_ledger: Option<Principal>,
    pub router: Option<Principal>,
    pub read_only: bool,
    pub unbond_delay_secs: u64,
}

/// The fields of the escrow's `ConfigUpdate` the CLI sets at install (the
/// others, all `opt`, are absent).
#[derive(CandidType, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct EscrowConfigUpdate {
    pub router: Option<Option<Principal>>,
    pub ckbtc_ledger: Option<Option<Principal>>,
    pub ckbtc_fee: Option<Sats>,
    pub btc_network: Option<BtcNetwork>,
    pub ecdsa_key_name: Option<String>,
    pub btc_min_confirmations: Option<u32>,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum EscrowArg {
    Init(EscrowConfigUpdate),
    Upgrade(Option<EscrowConfigUpdate>),
}

// -------------------------------------------------------------- registry ----

/// Why a miner profile was refused.
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ProfileError {
    InvalidRegion { reason: String },
    InvalidPublicKey { reason: String },
    InvalidGpus { reason: String },
    InvalidLabels { reason: String },
    InvalidOffers { reason: String },
    InvalidBtcAddress { reason: String },
    InvalidEndpoint { reason: String },
}

#[derive(CandidType, Deserialize, Clone, PartialEq, Eq)]
pub enum RegisterError {
    ReadOnly,
    WorkerInUse { by: Principal },
    InvalidProfile(ProfileError),
    AlreadyRegistered,
    RegistryFull { max_miners: u64 },
    AnonymousCaller,
}

#[derive(CandidType, Deserialize, Clone, PartialEq, Eq)]
pub enum UpdateError {
    NotRegistered,
    ReadOnly,
    WorkerInUse { by: Principal },
    InvalidProfile(ProfileError),
    AnonymousCaller,
}

// Debug by hand: principals in their text form, not as byte arrays.
impl std::fmt::Debug for RegisterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegisterError::ReadOnly => write!(f, "ReadOnly"),
            RegisterError::WorkerInUse { by } => write!(f, "WorkerInUse {{ by: {by} }}"),
            RegisterError::InvalidProfile(p) => write!(f, "InvalidProfile({p:?})"),
            RegisterError::AlreadyRegistered => write!(f, "AlreadyRegistered"),
            RegisterError::RegistryFull { max_miners } => {
                write!(f, "RegistryFull {{ max_miners: {max_miners} }}")
            }
            RegisterError::AnonymousCaller => write!(f, "AnonymousCaller"),
        }
    }
}

impl std::fmt::Debug for UpdateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpdateError::NotRegistered => write!(f, "NotRegistered"),
            UpdateError::ReadOnly => write!(f, "ReadOnly"),
            UpdateError::WorkerInUse { by } => write!(f, "WorkerInUse {{ by: {by} }}"),
            UpdateError::InvalidProfile(p) => write!(f, "InvalidProfile({p:?})"),
            UpdateError::AnonymousCaller => write!(f, "AnonymousCaller"),
        }
    }
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum DeregisterError {
    NotRegistered,
    ReadOnly,
    AnonymousCaller,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ChallengeError {
    NotRegistered,
    Failed { reason: String },
    TooSoon { retry_after_ns: u64 },
    Superseded,
    ReadOnly,
    AnonymousCaller,
    AlreadyRunning,
}

/// The fields of the registry's `ConfigUpdate` the CLI sets at install.
#[derive(CandidType, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfigUpdate {
    pub router: Option<Option<Principal>>,
    pub btc_network: Option<BtcNetwork>,
    pub local: Option<bool>,
    pub probe_interval_secs: Option<u64>,
    pub challenge_n: Option<u32>,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RegistryArg {
    Init(RegistryConfigUpdate),
    Upgrade(Option<RegistryConfigUpdate>),
}

// ---------------------------------------------------------------- ledger ----

/// ICRC-2 `icrc2_approve` argument.
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ApproveArgs {
    pub from_subaccount: Option<serde_bytes::ByteBuf>,
    pub spender: Account,
    pub amount: Nat,
    pub expected_allowance: Option<Nat>,
    pub expires_at: Option<u64>,
    pub fee: Option<Nat>,
    pub memo: Option<serde_bytes::ByteBuf>,
    pub created_at_time: Option<u64>,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ApproveError {
    BadFee { expected_fee: Nat },
    InsufficientFunds { balance: Nat },
    AllowanceChanged { current_allowance: Nat },
    Expired { ledger_time: u64 },
    TooOld,
    CreatedInFuture { ledger_time: u64 },
    Duplicate { duplicate_of: Nat },
    TemporarilyUnavailable,
    GenericError { error_code: Nat, message: String },
}

/// ICRC-1 `icrc1_transfer` argument.
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TransferArg {
    pub from_subaccount: Option<serde_bytes::ByteBuf>,
    pub to: Account,
    pub amount: Nat,
    pub fee: Option<Nat>,
    pub memo: Option<serde_bytes::ByteBuf>,
    pub created_at_time: Option<u64>,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum TransferError {
    BadFee { expected_fee: Nat },
    BadBurn { min_burn_amount: Nat },
    InsufficientFunds { balance: Nat },
    TooOld,
    CreatedInFuture { ledger_time: u64 },
    Duplicate { duplicate_of: Nat },
    TemporarilyUnavailable,
    GenericError { error_code: Nat, message: String },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum MetadataValue {
    Nat(Nat),
    Int(candid::Int),
    Text(String),
    Blob(serde_bytes::ByteBuf),
}

/// The local ledger's install argument (ckBTC's settings).
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LedgerInitArgs {
    pub minting_account: Account,
    pub transfer_fee: Nat,
    pub token_symbol: String,
    pub token_name: String,
    pub decimals: Option<u8>,
    pub max_memo_length: Option<u16>,
    pub metadata: Vec<(String, MetadataValue)>,
    pub initial_balances: Vec<(Account, Nat)>,
    pub max_transactions_in_window: Option<u64>,
}

/// The field of the ledger's `UpgradeArgs` the CLI may set (the others are `opt`).
#[derive(CandidType, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerUpgradeArgs {
    pub transfer_fee: Option<Nat>,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum LedgerArg {
    Init(LedgerInitArgs),
    Upgrade(Option<LedgerUpgradeArgs>),
}
