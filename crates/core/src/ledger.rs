//! The project's ICRC ledger (`localnet-icrc-ledger`, local ckBTC): its own
//! Candid types, i.e. the installation argument and the standards list, used
//! by the ledger, the CLI that installs it and the tests. Everything the ICRC
//! standards define comes from `icrc-ledger-types`, re-exported here.

use candid::{CandidType, Deserialize, Nat};
pub use icrc_ledger_types::icrc::generic_metadata_value::MetadataValue;
pub use icrc_ledger_types::icrc::generic_value::ICRC3Value;
pub use icrc_ledger_types::icrc1::account::Account;
pub use icrc_ledger_types::icrc1::transfer::Memo;
pub use icrc_ledger_types::icrc1::transfer::{TransferArg, TransferError};
pub use icrc_ledger_types::icrc2::allowance::{Allowance, AllowanceArgs};
pub use icrc_ledger_types::icrc2::approve::{ApproveArgs, ApproveError};
pub use icrc_ledger_types::icrc2::transfer_from::{TransferFromArgs, TransferFromError};
pub use icrc_ledger_types::icrc3::blocks::{
    BlockWithId, GetBlocksRequest, GetBlocksResult, ICRC3DataCertificate,
};

/// The install/upgrade argument, shaped like DFINITY's ICRC ledger's
/// `LedgerArg` so the same argument works for both (Candid ignores the
/// record fields this ledger does not know, e.g. `archive_options`).
#[derive(CandidType, Deserialize, Clone, Debug)]
pub enum LedgerArg {
    Init(InitArgs),
    Upgrade(Option<UpgradeArgs>),
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct InitArgs {
    pub minting_account: Account,
    pub transfer_fee: Nat,
    pub token_symbol: String,
    pub token_name: String,
    /// Default 8 (ckBTC).
    pub decimals: Option<u8>,
    /// Default 32 bytes, the ICRC-1 minimum.
    pub max_memo_length: Option<u16>,
    /// Extra `icrc1_metadata` entries (the `icrc1:*` keys are the ledger's own).
    pub metadata: Vec<(String, MetadataValue)>,
    /// Each becomes a mint block at installation.
    pub initial_balances: Vec<(Account, Nat)>,
    /// Local setting: transactions with `created_at_time` kept for
    /// deduplication at most; past it the ledger answers
    /// `TemporarilyUnavailable`. Default 3,000,000.
    pub max_transactions_in_window: Option<u64>,
}

#[derive(CandidType, Deserialize, Clone, Debug, Default)]
pub struct UpgradeArgs {
    pub token_symbol: Option<String>,
    pub token_name: Option<String>,
    pub transfer_fee: Option<Nat>,
    /// Replaces the extra metadata entries.
    pub metadata: Option<Vec<(String, MetadataValue)>>,
    /// May only grow, as in DFINITY's ledger (shrinking would make old blocks
    /// unrepresentable as new transactions).
    pub max_memo_length: Option<u16>,
    pub max_transactions_in_window: Option<u64>,
}

/// An entry of `icrc1_supported_standards` / `icrc10_supported_standards`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct StandardRecord {
    pub name: String,
    pub url: String,
}
