//! Applying a transaction, in DFINITY's ledger's order: forget
//! deduplication entries that left the window; refuse while the window is
//! full; check `created_at_time` (TooOld, CreatedInFuture, Duplicate); run
//! the operation (allowance, then balance); append the block.

use crate::blocks;
use crate::state::{AccountKey, AllowanceRecord, State};
use crate::transaction::{Operation, Transaction, TxError, ERROR_CODE_SUPPLY_OVERFLOW};
use icrc_ledger_types::icrc1::account::Account;

/// ICRC-1's deduplication window.
pub const TRANSACTION_WINDOW_NANOS: u64 = 24 * 60 * 60 * 1_000_000_000;
/// How far a client's clock may be ahead of the ledger's (ICRC-1's `PERMITTED_DRIFT`).
pub const PERMITTED_DRIFT_NANOS: u64 = 60 * 1_000_000_000;

/// Applies `tx` at ledger time `now`; returns its block index.
pub fn apply(state: &mut State, tx: Transaction, now: u64) -> Result<u64, TxError> {
    forget_old_transactions(state, now);
    if state.dedup.len() >= state.config().max_transactions_in_window {
        return Err(TxError::TemporarilyUnavailable);
    }
    let tx_value = blocks::transaction_value(&tx);
    let tx_hash = blocks::hash_value(&tx_value);
    if let Some(created_at_time) = tx.created_at_time {
        check_created_at_time(created_at_time, now)?;
        if let Some(duplicate_of) = state.dedup.get(&tx_hash) {
            return Err(TxError::Duplicate { duplicate_of });
        }
    }
    let charged_fee = execute(state, &tx.operation, now)?;
    let parent_hash = state.tip.get().last_block_hash;
    let index = blocks::append_block(
        state,
        blocks::block_value(tx_value, now, charged_fee, parent_hash),
    );
    if let Some(created_at_time) = tx.created_at_time {
        state.dedup.insert(tx_hash, index);
        state
            .dedup_by_time
            .insert((created_at_time, index), tx_hash);
    }
    Ok(index)
}

/// ICRC-1: valid `created_at_time`s lie in
/// `[now - TX_WINDOW - PERMITTED_DRIFT, now + PERMITTED_DRIFT]`.
fn check_created_at_time(created_at_time: u64, now: u64) -> Result<(), TxError> {
    if created_at_time < now.saturating_sub(TRANSACTION_WINDOW_NANOS + PERMITTED_DRIFT_NANOS) {
        return Err(TxError::TooOld);
    }
    if created_at_time > now.saturating_add(PERMITTED_DRIFT_NANOS) {
        return Err(TxError::CreatedInFuture { ledger_time: now });
    }
    Ok(())
}

/// A transaction created before the window is refused as TooOld before its
/// duplicate would be looked up, so its entry is no longer needed.
fn forget_old_transactions(state: &mut State, now: u64) {
    let oldest_valid = now.saturating_sub(TRANSACTION_WINDOW_NANOS + PERMITTED_DRIFT_NANOS);
    loop {
        let Some(entry) = state.dedup_by_time.first_key_value() else {
            return;
        };
        let ((created_at_time, index), hash) = entry;
        if created_at_time >= oldest_valid {
            return;
        }
        state.dedup_by_time.remove(&(created_at_time, index));
        state.dedup.remove(&hash);
    }
}

/// Moves the funds; returns the fee to record at block level (the one the
/// ledger charged when the caller gave none).
fn execute(state: &mut State, operation: &Operation, now: u64) -> Result<Option<u64>, TxError> {
    match operation {
        Operation::Mint { to, amount } => {
            mint(state, to, *amount)?;
            Ok(None)
        }
        Operation::Burn {
            from,
            spender,
            amount,
        } => {
            let spender = delegated(spender, from);
            if let Some(spender) = spender {
                check_allowance(state, from, spender, Some(*amount), now)?;
            }
            debit(state, from, Some(*amount))?;
            state.update_tip(|tip| tip.total_supply -= amount);
            if let Some(spender) = spender {
                use_allowance(state, from, spender, *amount, now);
            }
            Ok(None)
        }
        Operation::Transfer {
            from,
            to,
            spender,
            amount,
            fee,
        } => {
            let fee_charged = fee.unwrap_or(state.config().transfer_fee);
            let debited = amount.checked_add(fee_charged);
            let spender = delegated(spender, from);
            if let Some(spender) = spender {
                check_allowance(state, from, spender, debited, now)?;
            }
            let debited = debit(state, from, debited)?;
            credit(state, to, *amount);
            // No fee collector: the fee is burnt.
            state.update_tip(|tip| tip.total_supply -= fee_charged);
            if let Some(spender) = spender {
                use_allowance(state, from, spender, debited, now);
            }
            Ok(fee.is_none().then_some(fee_charged))
        }
        Operation::Approve {
            from,
            spender,
            amount,
            expected_allowance,
            expires_at,
            fee,
        } => {
            let fee_charged = fee.unwrap_or(state.config().transfer_fee);
            let balance = state.balance(from);
            if balance < fee_charged {
                return Err(TxError::InsufficientFunds { balance });
            }
            approve(
                state,
                from,
                spender,
                *amount,
                *expected_allowance,
                *expires_at,
                now,
            )?;
            state.set_balance(from, balance - fee_charged);
            state.update_tip(|tip| tip.total_supply -= fee_charged);
            Ok(fee.is_none().then_some(fee_charged))
        }
    }
}

/// A spender other than the owner itself: a spender moving its own funds by
/// `transfer_from` needs no allowance (as in DFINITY's ledger).
fn delegated<'a>(spender: &'a Option<Account>, from: &Account) -> Option<&'a Account> {
    spender.as_ref().filter(|spender| *spender != from)
}

fn mint(state: &mut State, to: &Account, amount: u64) -> Result<(), TxError> {
    let Some(total_supply) = state.tip.get().total_supply.checked_add(amount) else {
        return Err(TxError::GenericError {
            error_code: ERROR_CODE_SUPPLY_OVERFLOW,
            message: "minting this amount would overflow the total supply (u64)".into(),
        });
    };
    state.update_tip(|tip| tip.total_supply = total_supply);
    credit(state, to, amount);
    Ok(())
}

/// Cannot overflow: every balance is part of the total supply, a u64.
fn credit(state: &mut State, to: &Account, amount: u64) {
    let balance = state.balance(to);
    state.set_balance(to, balance + amount);
}

/// Takes `amount` (`None`: more than a u64, so more than anyone has).
fn debit(state: &mut State, from: &Account, amount: Option<u64>) -> Result<u64, TxError> {
    let balance = state.balance(from);
    match amount {
        Some(amount) if amount <= balance => {
            state.set_balance(from, balance - amount);
            Ok(amount)
        }
        _ => Err(TxError::InsufficientFunds { balance }),
    }
}

/// The allowance of `spender` on `owner`'s account at `now` (zero once expired).
pub fn allowance(state: &State, owner: &Account, spender: &Account, now: u64) -> AllowanceRecord {
    let key = (AccountKey::of(owner), AccountKey::of(spender));
    match state.allowances.get(&key) {
        Some(record) if record.live_amount(now) > 0 => record,
        _ => AllowanceRecord {
            amount: 0,
            expires_at: None,
        },
    }
}

fn check_allowance(
    state: &State,
    owner: &Account,
    spender: &Account,
    needed: Option<u64>,
    now: u64,
) -> Result<(), TxError> {
    let allowance = allowance(state, owner, spender, now).amount;
    match needed {
        Some(needed) if needed <= allowance => Ok(()),
        _ => Err(TxError::InsufficientAllowance { allowance }),
    }
}

/// Consumes a checked allowance; an allowance used up is removed.
fn use_allowance(state: &mut State, owner: &Account, spender: &Account, used: u64, now: u64) {
    let key = (AccountKey::of(owner), AccountKey::of(spender));
    let record = allowance(state, owner, spender, now);
    let left = record.amount - used;
    if left == 0 {
        state.allowances.remove(&key);
    } else {
        state.allowances.insert(
            key,
            AllowanceRecord {
                amount: left,
                ..record
            },
        );
    }
}

/// Sets an allowance (ICRC-2: replaces it, it does not add). An approval of
/// zero removes it.
fn approve(
    state: &mut State,
    owner: &Account,
    spender: &Account,
    amount: u64,
    expected_allowance: Option<u64>,
    expires_at: Option<u64>,
    now: u64,
) -> Result<(), TxError> {
    if expires_at.is_some_and(|expires_at| expires_at <= now) {
        return Err(TxError::Expired { ledger_time: now });
    }
    let current_allowance = allowance(state, owner, spender, now).amount;
    if expected_allowance.is_some_and(|expected| expected != current_allowance) {
        return Err(TxError::AllowanceChanged { current_allowance });
    }
    let key = (AccountKey::of(owner), AccountKey::of(spender));
    if amount == 0 {
        state.allowances.remove(&key);
    } else {
        state
            .allowances
            .insert(key, AllowanceRecord { amount, expires_at });
    }
    Ok(())
}
