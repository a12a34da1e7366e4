//! `icrc1_transfer` and `icrc2_transfer_from`: from arguments to a
//! transaction — a mint when the minting account sends, a burn when it
//! receives, a transfer otherwise — checked as DFINITY's ledger checks them
//! (memo, amount, fee, minimum burn) before [`ledger::apply`].

use crate::ledger;
use crate::state::State;
use crate::transaction::{check_fee, to_u64, Operation, Transaction, TxError};
use candid::{Nat, Principal};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{Memo, TransferArg};
use icrc_ledger_types::icrc2::transfer_from::TransferFromArgs;

/// One request of either method.
struct TransferRequest {
    from: Account,
    to: Account,
    spender: Option<Account>,
    amount: Nat,
    fee: Option<Nat>,
    memo: Option<Memo>,
    created_at_time: Option<u64>,
}

pub fn icrc1_transfer(
    state: &mut State,
    caller: Principal,
    arg: TransferArg,
    now: u64,
) -> Result<u64, TxError> {
    let request = TransferRequest {
        from: Account {
            owner: caller,
            subaccount: arg.from_subaccount,
        },
        to: arg.to,
        spender: None,
        amount: arg.amount,
        fee: arg.fee,
        memo: arg.memo,
        created_at_time: arg.created_at_time,
    };
    let tx = transaction(state, request)?;
    ledger::apply(state, tx, now)
}

pub fn icrc2_transfer_from(
    state: &mut State,
    caller: Principal,
    arg: TransferFromArgs,
    now: u64,
) -> Result<u64, TxError> {
    let request = TransferRequest {
        from: arg.from,
        to: arg.to,
        spender: Some(Account {
            owner: caller,
            subaccount: arg.spender_subaccount,
        }),
        amount: arg.amount,
        fee: arg.fee,
        memo: arg.memo,
        created_at_time: arg.created_at_time,
    };
    let tx = transaction(state, request)?;
    ledger::apply(state, tx, now)
}

/// Traps (as DFINITY's ledger does) on a memo over the configured length.
pub fn check_memo(state: &State, memo: &Option<Memo>) -> Result<(), TxError> {
    let limit = state.config().max_memo_length as usize;
    match memo {
        Some(memo) if memo.0.len() > limit => Err(TxError::Refused(format!(
            "the memo field size of {} bytes is above the allowed limit of {limit} bytes",
            memo.0.len()
        ))),
        _ => Ok(()),
    }
}

fn transaction(state: &State, request: TransferRequest) -> Result<Transaction, TxError> {
    check_memo(state, &request.memo)?;
    // More than a u64 is more than any balance.
    let Some(amount) = to_u64(&request.amount) else {
        let balance = state.balance(&request.from);
        return Err(TxError::InsufficientFunds { balance });
    };
    let minting_account = state.config().minting_account;
    let operation = if request.to == minting_account {
        burn(state, &request, amount)?
    } else if request.from == minting_account {
        mint(&request, amount)?
    } else {
        transfer(state, &request, amount)?
    };
    Ok(Transaction {
        operation,
        memo: request.memo,
        created_at_time: request.created_at_time,
    })
}

/// Mints and burns carry no fee; a caller may still say 0.
fn check_zero_fee(fee: &Option<Nat>) -> Result<(), TxError> {
    check_fee(fee, 0).map(|_| ())
}

/// A burn must take at least the transfer fee, or the whole balance when
/// that is smaller, and never zero (DFINITY's rule).
fn burn(state: &State, request: &TransferRequest, amount: u64) -> Result<Operation, TxError> {
    check_zero_fee(&request.fee)?;
    let transfer_fee = state.config().transfer_fee;
    let min_burn_amount = transfer_fee.min(state.balance(&request.from));
    if amount < min_burn_amount {
        return Err(TxError::BadBurn { min_burn_amount });
    }
    if amount == 0 {
        return Err(TxError::BadBurn {
            min_burn_amount: transfer_fee,
        });
    }
    Ok(Operation::Burn {
        from: request.from,
        spender: request.spender,
        amount,
    })
}

fn mint(request: &TransferRequest, amount: u64) -> Result<Operation, TxError> {
    if request.spender.is_some() {
        return Err(TxError::Refused(
            "the minter account cannot delegate mints".into(),
        ));
    }
    check_zero_fee(&request.fee)?;
    Ok(Operation::Mint {
        to: request.to,
        amount,
    })
}

fn transfer(state: &State, request: &TransferRequest, amount: u64) -> Result<Operation, TxError> {
    let fee = check_fee(&request.fee, state.config().transfer_fee)?;
    Ok(Operation::Transfer {
        from: request.from,
        to: request.to,
        spender: request.spender,
        amount,
        fee,
    })
}
