//! The Candid types the CLI speaks, all declared once elsewhere: the escrow's
//! and the registry's in `tensormine-core`, the ICRC ledger's in
//! `tensormine_core::ledger` (which re-exports `icrc-ledger-types`). The
//! `.did` files are the contract: `tests/candid.rs` checks that each service
//! is a subtype of the interface these types describe.

pub use tensormine_core::escrow::{
    Balance, BondError, BtcAddressError, BtcBalanceError, BtcBalanceUpdate, BtcBatchInfo,
    BtcNetwork, BtcPayoutRequest, BtcUtxo, BtcWithdrawError, Config as EscrowConfig,
    ConfigError as EscrowConfigError, ConfigUpdate as EscrowConfigUpdate, DepositError,
    DepositReceipt, EscrowArg, LedgerError, Sats, Slash, WithdrawError, WithdrawalReceipt,
};
pub use tensormine_core::ledger::{
    Account, ApproveArgs, ApproveError, InitArgs as LedgerInitArgs, LedgerArg, MetadataValue,
    TransferArg, TransferError, UpgradeArgs as LedgerUpgradeArgs,
};
pub use tensormine_core::registry::{
    ChallengeError, ConfigUpdate as RegistryConfigUpdate, DeregisterError, ProfileError,
    RegisterError, RegistryArg, UpdateError,
};
