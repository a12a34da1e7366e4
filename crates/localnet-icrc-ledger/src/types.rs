//! The ledger's own Candid types, declared once in `tensormine_core::ledger`.

pub use tensormine_core::ledger::{InitArgs, LedgerArg, StandardRecord, UpgradeArgs};
