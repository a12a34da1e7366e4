//! Transactions as the ledger applies them (amounts already checked to fit
//! in u64), and the one error type of the ledger logic, converted at the
//! endpoints into each standard's error variant.

use candid::Nat;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{Memo, TransferError};
use icrc_ledger_types::icrc2::approve::ApproveError;
use icrc_ledger_types::icrc2::transfer_from::TransferFromError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    Mint {
        to: Account,
        amount: u64,
    },
    Burn {
        from: Account,
        spender: Option<Account>,
        amount: u64,
    },
    Transfer {
        from: Account,
        to: Account,
        spender: Option<Account>,
        amount: u64,
        /// The fee as the caller gave it (`None`: the ledger's fee applies).
        fee: Option<u64>,
    },
    Approve {
        from: Account,
        spender: Account,
        amount: u64,
        expected_allowance: Option<u64>,
        expires_at: Option<u64>,
        fee: Option<u64>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub operation: Operation,
    pub memo: Option<Memo>,
    pub created_at_time: Option<u64>,
}

/// Why the ledger did not apply a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxError {
    BadFee {
        expected_fee: u64,
    },
    BadBurn {
        min_burn_amount: u64,
    },
    InsufficientFunds {
        balance: u64,
    },
    InsufficientAllowance {
        allowance: u64,
    },
    AllowanceChanged {
        current_allowance: u64,
    },
    Expired {
        ledger_time: u64,
    },
    TooOld,
    CreatedInFuture {
        ledger_time: u64,
    },
    Duplicate {
        duplicate_of: u64,
    },
    TemporarilyUnavailable,
    GenericError {
        error_code: u64,
        message: String,
    },
    /// A call the standard leaves no error variant for (a memo over the
    /// limit, self-approval, delegated mints): DFINITY's ledger traps, and so
    /// do our endpoints.
    Refused(String),
}

/// Error code of `GenericError`s this ledger returns: the minted amount would
/// push the total supply past u64.
pub const ERROR_CODE_SUPPLY_OVERFLOW: u64 = 1;

impl TxError {
    /// As an `icrc1_transfer` error, or the message to trap with.
    pub fn into_transfer_error(self) -> Result<TransferError, String> {
        Ok(match self {
            TxError::BadFee { expected_fee } => TransferError::BadFee {
                expected_fee: expected_fee.into(),
            },
            TxError::BadBurn { min_burn_amount } => TransferError::BadBurn {
                min_burn_amount: min_burn_amount.into(),
            },
            TxError::InsufficientFunds { balance } => TransferError::InsufficientFunds {
                balance: balance.into(),
            },
            TxError::TooOld => TransferError::TooOld,
            TxError::CreatedInFuture { ledger_time } => {
                TransferError::CreatedInFuture { ledger_time }
            }
            TxError::Duplicate { duplicate_of } => TransferError::Duplicate {
                duplicate_of: duplicate_of.into(),
            },
            TxError::TemporarilyUnavailable => TransferError::TemporarilyUnavailable,
            TxError::GenericError {
                error_code,
                message,
            } => TransferError::GenericError {
                error_code: error_code.into(),
                message,
            },
            other => return Err(unexpected("icrc1_transfer", other)),
        })
    }

    /// As an `icrc2_transfer_from` error, or the message to trap with.
    pub fn into_transfer_from_error(self) -> Result<TransferFromError, String> {
        Ok(match self {
            TxError::BadFee { expected_fee } => TransferFromError::BadFee {
                expected_fee: expected_fee.into(),
            },
            TxError::BadBurn { min_burn_amount } => TransferFromError::BadBurn {
                min_burn_amount: min_burn_amount.into(),
            },
            TxError::InsufficientFunds { balance } => TransferFromError::InsufficientFunds {
                balance: balance.into(),
            },
            TxError::InsufficientAllowance { allowance } => {
                TransferFromError::InsufficientAllowance {
                    allowance: allowance.into(),
                }
            }
            TxError::TooOld => TransferFromError::TooOld,
            TxError::CreatedInFuture { ledger_time } => {
                TransferFromError::CreatedInFuture { ledger_time }
            }
            TxError::Duplicate { duplicate_of } => TransferFromError::Duplicate {
                duplicate_of: duplicate_of.into(),
            },
            TxError::TemporarilyUnavailable => TransferFromError::TemporarilyUnavailable,
            TxError::GenericError {
                error_code,
                message,
            } => TransferFromError::GenericError {
                error_code: error_code.into(),
                message,
            },
            other => return Err(unexpected("icrc2_transfer_from", other)),
        })
    }

    /// As an `icrc2_approve` error, or the message to trap with.
    pub fn into_approve_error(self) -> Result<ApproveError, String> {
        Ok(match self {
            TxError::BadFee { expected_fee } => ApproveError::BadFee {
                expected_fee: expected_fee.into(),
            },
            TxError::InsufficientFunds { balance } => ApproveError::InsufficientFunds {
                balance: balance.into(),
            },
            TxError::AllowanceChanged { current_allowance } => ApproveError::AllowanceChanged {
                current_allowance: current_allowance.into(),
            },
            TxError::Expired { ledger_time } => ApproveError::Expired { ledger_time },
            TxError::TooOld => ApproveError::TooOld,
            TxError::CreatedInFuture { ledger_time } => {
                ApproveError::CreatedInFuture { ledger_time }
            }
            TxError::Duplicate { duplicate_of } => ApproveError::Duplicate {
                duplicate_of: duplicate_of.into(),
            },
            TxError::TemporarilyUnavailable => ApproveError::TemporarilyUnavailable,
            TxError::GenericError {
                error_code,
                message,
            } => ApproveError::GenericError {
                error_code: error_code.into(),
                message,
            },
            other => return Err(unexpected("icrc2_approve", other)),
        })
    }
}

/// `Refused` carries its own message; any other variant here is a bug in
/// the ledger logic, and trapping shows it rather than inventing an error.
fn unexpected(method: &str, error: TxError) -> String {
    match error {
        TxError::Refused(message) => message,
        other => format!("bug: {method} cannot fail with {other:?}"),
    }
}

/// A Nat amount as u64, or `None` when it does not fit (no account can hold
/// that much: the total supply is a u64).
pub fn to_u64(n: &Nat) -> Option<u64> {
    u64::try_from(&n.0).ok()
}

/// The caller's optional fee: absent, or exactly the `expected` one
/// (`BadFee` otherwise). Returns it as given, for the block.
pub fn check_fee(fee: &Option<Nat>, expected: u64) -> Result<Option<u64>, TxError> {
    match fee {
        None => Ok(None),
        Some(fee) if to_u64(fee) == Some(expected) => Ok(Some(expected)),
        Some(_) => Err(TxError::BadFee {
            expected_fee: expected,
        }),
    }
}
