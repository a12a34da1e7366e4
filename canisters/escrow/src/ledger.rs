//! ckBTC through the ICRC ledger: deposits (`icrc2_transfer_from`),
//! withdrawals (`icrc1_transfer`), and the reconciliation of calls whose
//! outcome is unknown.
//!
//! Every call is first recorded as a [`LedgerOp`] with its `created_at_time`
//! and memo; a withdrawal's amount is debited in the same message, before the
//! `await`. The answer then settles the op exactly once: a credit is keyed by
//! the ledger block index, and a retry sends the identical arguments so the
//! ledger answers `Duplicate { duplicate_of }` instead of executing twice.
//!
//! Fees: a depositor approves `amount + fee` and pays the fee on top; the
//! escrow credits `amount`. A withdrawal of `amount` debits `amount`; the
//! recipient receives `amount − fee` and the ledger burns the fee from the
//! escrow's account, so the escrow's ledger balance moves by exactly the
//! booked amounts.

use crate::guard::{Guard, Task};
use crate::runtime::{block_index, sats, CallError, LedgerReply, Runtime};
use crate::state::{mutate_state, read_state};
use crate::types::*;
use candid::{Nat, Principal};
use icrc_ledger_types::icrc1::transfer::{Memo, TransferArg, TransferError};
use icrc_ledger_types::icrc2::transfer_from::{TransferFromArgs, TransferFromError};

/// A ledger error, whichever endpoint gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    BadFee(Sats),
    TemporarilyUnavailable,
    CreatedInFuture,
    TooOld,
    InsufficientFunds(Sats),
    InsufficientAllowance(Sats),
    Other(String),
}

impl From<TransferFromError> for Refusal {
    fn from(e: TransferFromError) -> Self {
        match e {
            TransferFromError::BadFee { expected_fee } => Refusal::BadFee(sats(&expected_fee)),
            TransferFromError::TemporarilyUnavailable => Refusal::TemporarilyUnavailable,
            TransferFromError::CreatedInFuture { .. } => Refusal::CreatedInFuture,
            TransferFromError::TooOld => Refusal::TooOld,
            TransferFromError::InsufficientFunds { balance } => {
                Refusal::InsufficientFunds(sats(&balance))
            }
            TransferFromError::InsufficientAllowance { allowance } => {
                Refusal::InsufficientAllowance(sats(&allowance))
            }
            other => Refusal::Other(other.to_string()),
        }
    }
}

impl From<TransferError> for Refusal {
    fn from(e: TransferError) -> Self {
        match e {
            TransferError::BadFee { expected_fee } => Refusal::BadFee(sats(&expected_fee)),
            TransferError::TemporarilyUnavailable => Refusal::TemporarilyUnavailable,
            TransferError::CreatedInFuture { .. } => Refusal::CreatedInFuture,
            TransferError::TooOld => Refusal::TooOld,
            TransferError::InsufficientFunds { balance } => {
                Refusal::InsufficientFunds(sats(&balance))
            }
            other => Refusal::Other(other.to_string()),
        }
    }
}

impl Refusal {
    fn ledger_error(&self) -> LedgerError {
        match self {
            Refusal::BadFee(expected_fee) => LedgerError::BadFee {
                expected_fee: *expected_fee,
            },
            Refusal::TemporarilyUnavailable => LedgerError::TemporarilyUnavailable,
            other => LedgerError::Rejected {
                message: format!("{other:?}"),
            },
        }
    }
}

/// What a ledger answer means for the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Executed(u64),
    /// Certainly not executed (only decidable on the first attempt, see [`classify`]).
    NotExecuted(NotExecuted),
    /// Try again later with the same arguments.
    Unknown(String),
    /// Retrying cannot tell any more: a controller must look.
    Undecidable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NotExecuted {
    Refused(Refusal),
    CallFailed(String),
}

impl NotExecuted {
    fn ledger_error(&self) -> LedgerError {
        match self {
            NotExecuted::Refused(r) => r.ledger_error(),
            NotExecuted::CallFailed(message) => LedgerError::CallFailed {
                message: message.clone(),
            },
        }
    }

    fn reason(&self) -> String {
        format!("{self:?}")
    }
}

/// Reads a ledger reply. A block index (or `Duplicate`, i.e. an earlier
/// identical call executed) is conclusive. On the first attempt any refusal
/// or clean reject means "not executed". On a retry it does not: the ledger
/// checks the fee before deduplication, so a `BadFee` after an unknown first
/// attempt says nothing about that attempt; only transient answers are
/// retried, everything else goes to review.
fn classify<E: Into<Refusal>>(reply: LedgerReply<E>, first_attempt: bool) -> Outcome {
    let executed = |n: &Nat| match block_index(n) {
        Some(b) => Outcome::Executed(b),
        None => Outcome::Undecidable(format!("block index {n} does not fit u64")),
    };
    match reply {
        Ok(Ok(block)) => executed(&block),
        Err(CallError::Unknown(reason)) => Outcome::Unknown(reason),
        Err(CallError::Rejected(reason)) if first_attempt => {
            Outcome::NotExecuted(NotExecuted::CallFailed(reason))
        }
        Err(CallError::Rejected(reason)) => Outcome::Unknown(reason),
        Ok(Err(e)) => classify_refusal(e.into(), first_attempt),
    }
}

fn classify_refusal(refusal: Refusal, first_attempt: bool) -> Outcome {
    match refusal {
        _ if first_attempt => Outcome::NotExecuted(NotExecuted::Refused(refusal)),
        Refusal::TemporarilyUnavailable | Refusal::CreatedInFuture => {
            Outcome::Unknown(format!("{refusal:?}"))
        }
        other => Outcome::Undecidable(format!("retry answered {other:?}")),
    }
}

/// Turns `Duplicate { duplicate_of }` into the block it names: an earlier
/// identical call executed there.
fn rewrite_duplicate<E>(
    reply: LedgerReply<E>,
    duplicate: impl Fn(&E) -> Option<Nat>,
) -> LedgerReply<E> {
    match reply {
        Ok(Err(e)) => match duplicate(&e) {
            Some(block) => Ok(Ok(block)),
            None => Ok(Err(e)),
        },
        other => other,
    }
}

fn memo(op: &LedgerOp) -> Option<Memo> {
    Some(Memo(op.memo.clone()))
}

async fn call_ledger<R: Runtime>(
    rt: &R,
    ledger: Principal,
    op: &LedgerOp,
    first_attempt: bool,
) -> Outcome {
    match &op.kind {
        LedgerOpKind::Deposit { from, amount, fee } => {
            let args = TransferFromArgs {
                spender_subaccount: None,
                from: Account::from(*from),
                to: Account::from(rt.escrow_id()),
                amount: Nat::from(*amount),
                fee: Some(Nat::from(*fee)),
                memo: memo(op),
                created_at_time: Some(op.created_at_time),
            };
            let reply = rt.icrc2_transfer_from(ledger, args).await;
            let reply = rewrite_duplicate(reply, |e| match e {
                TransferFromError::Duplicate { duplicate_of } => Some(duplicate_of.clone()),
                _ => None,
            });
            classify(reply, first_attempt)
        }
        LedgerOpKind::Withdrawal {
            to, amount, fee, ..
        } => {
            let args = TransferArg {
                from_subaccount: None,
                to: *to,
                fee: Some(Nat::from(*fee)),
                created_at_time: Some(op.created_at_time),
                memo: memo(op),
                amount: Nat::from(amount - fee),
            };
            let reply = rt.icrc1_transfer(ledger, args).await;
            let reply = rewrite_duplicate(reply, |e| match e {
                TransferError::Duplicate { duplicate_of } => Some(duplicate_of.clone()),
                _ => None,
            });
            classify(reply, first_attempt)
        }
    }
}

/// Applies `outcome` to the op: credit/complete, abandon/restore, or mark.
fn settle(op: &LedgerOp, outcome: &Outcome, now: u64) {
    let deposit = matches!(op.kind, LedgerOpKind::Deposit { .. });
    mutate_state(|s| match outcome {
        Outcome::Executed(block) if deposit => s.complete_deposit(op.id, *block, now),
        Outcome::Executed(block) => s.complete_withdrawal(op.id, *block, now),
        Outcome::NotExecuted(why) if deposit => s.abandon_deposit(op.id, why.reason(), now),
        Outcome::NotExecuted(why) => s.fail_withdrawal(op.id, why.reason(), now),
        Outcome::Unknown(reason) => {
            s.mark_uncertain(op.id, LedgerOpStatus::Unknown, reason.clone(), now)
        }
        Outcome::Undecidable(reason) => {
            s.mark_uncertain(op.id, LedgerOpStatus::NeedsReview, reason.clone(), now)
        }
    });
    if let Outcome::NotExecuted(NotExecuted::Refused(Refusal::BadFee(fee))) = outcome {
        // The next attempt uses the ledger's current fee.
        mutate_state(|s| {
            let mut config = s.config();
            config.ckbtc_fee = *fee;
            s.set_config(config);
        });
    }
}

/// `deposit_ckbtc`: pulls `amount` from the caller's ledger account (approved
/// beforehand for `amount + fee`) and credits it.
pub async fn deposit<R: Runtime>(rt: &R, amount: Sats) -> Result<DepositReceipt, DepositError> {
    let owner = rt.caller();
    if owner == Principal::anonymous() {
        return Err(DepositError::AnonymousCaller);
    }
    let config = read_state(|s| s.config());
    if config.read_only {
        return Err(DepositError::ReadOnly);
    }
    let ledger = config
        .ckbtc_ledger
        .ok_or(DepositError::LedgerNotConfigured)?;
    if amount < config.min_deposit.max(1) {
        return Err(DepositError::AmountTooSmall {
            min: config.min_deposit.max(1),
        });
    }
    let _busy = Guard::new(Task::Principal(owner)).map_err(|_| DepositError::AlreadyProcessing)?;
    let op = mutate_state(|s| s.start_deposit(owner, amount, config.ckbtc_fee, rt.time()));
    let _in_flight = Guard::new(Task::LedgerOp(op.id)).expect("a new op id is not in flight");
    let outcome = call_ledger(rt, ledger, &op, true).await;
    settle(&op, &outcome, rt.time());
    match outcome {
        Outcome::Executed(block_index) => Ok(DepositReceipt {
            block_index,
            amount,
            balance: read_state(|s| s.balance(&owner)),
        }),
        Outcome::NotExecuted(NotExecuted::Refused(Refusal::InsufficientAllowance(allowance))) => {
            Err(DepositError::InsufficientAllowance { allowance })
        }
        Outcome::NotExecuted(NotExecuted::Refused(Refusal::InsufficientFunds(balance))) => {
            Err(DepositError::InsufficientFunds { balance })
        }
        Outcome::NotExecuted(why) => Err(DepositError::Ledger(why.ledger_error())),
        Outcome::Unknown(_) | Outcome::Undecidable(_) => {
            Err(DepositError::OutcomeUnknown { op_id: op.id })
        }
    }
}

/// `withdraw_ckbtc`: sends `amount − fee` of the caller's available funds to `to`.
pub async fn withdraw<R: Runtime>(
    rt: &R,
    amount: Sats,
    to: Account,
) -> Result<WithdrawalReceipt, WithdrawError> {
    let owner = rt.caller();
    if owner == Principal::anonymous() {
        return Err(WithdrawError::AnonymousCaller);
    }
    withdraw_from(rt, Source::Account(owner), amount, to).await
}

/// `withdraw_treasury`: protocol fees to the configured fee account (controllers).
pub async fn withdraw_treasury<R: Runtime>(
    rt: &R,
    amount: Sats,
) -> Result<WithdrawalReceipt, WithdrawError> {
    if !rt.is_controller(&rt.caller()) {
        return Err(WithdrawError::NotController);
    }
    let to =
        read_state(|s| s.config().fee_account).ok_or(WithdrawError::FeeAccountNotConfigured)?;
    withdraw_from(rt, Source::Treasury, amount, to).await
}

async fn withdraw_from<R: Runtime>(
    rt: &R,
    source: Source,
    amount: Sats,
    to: Account,
) -> Result<WithdrawalReceipt, WithdrawError> {
    let config = read_state(|s| s.config());
    if config.read_only {
        return Err(WithdrawError::ReadOnly);
    }
    let ledger = config
        .ckbtc_ledger
        .ok_or(WithdrawError::LedgerNotConfigured)?;
    let min = config.min_withdrawal.max(config.ckbtc_fee + 1);
    if amount < min {
        return Err(WithdrawError::AmountTooSmall { min });
    }
    let busy_key = match &source {
        Source::Account(p) => *p,
        Source::Treasury => Principal::management_canister(),
    };
    let _busy =
        Guard::new(Task::Principal(busy_key)).map_err(|_| WithdrawError::AlreadyProcessing)?;
    let fee = config.ckbtc_fee;
    let op = mutate_state(|s| s.start_withdrawal(source, to, amount, fee, rt.time()))
        .map_err(|available| WithdrawError::InsufficientFunds { available })?;
    let _in_flight = Guard::new(Task::LedgerOp(op.id)).expect("a new op id is not in flight");
    let outcome = call_ledger(rt, ledger, &op, true).await;
    settle(&op, &outcome, rt.time());
    match outcome {
        Outcome::Executed(block_index) => Ok(WithdrawalReceipt {
            block_index,
            amount,
            ledger_fee: fee,
        }),
        Outcome::NotExecuted(why) => Err(WithdrawError::Ledger(why.ledger_error())),
        Outcome::Unknown(_) | Outcome::Undecidable(_) => {
            Err(WithdrawError::OutcomeUnknown { op_id: op.id })
        }
    }
}

/// Retries every unfinished ledger op that no running call owns (after an
/// upgrade: all of them), with its original arguments.
pub async fn reconcile<R: Runtime>(rt: &R) -> ReconcileReport {
    let mut report = ReconcileReport::default();
    let Ok(_round) = Guard::new(Task::Reconcile) else {
        return report;
    };
    let Some(ledger) = read_state(|s| s.config().ckbtc_ledger) else {
        return report;
    };
    for op in retryable_ops() {
        let Ok(_in_flight) = Guard::new(Task::LedgerOp(op.id)) else {
            continue;
        };
        let op = mutate_state(|s| {
            let mut op = s.ledger_op(op.id)?;
            op.attempts += 1;
            s.put_ledger_op(op.clone());
            Some(op)
        });
        let Some(op) = op else { continue };
        report.retried += 1;
        let outcome = call_ledger(rt, ledger, &op, false).await;
        settle(&op, &outcome, rt.time());
        match outcome {
            Outcome::Executed(_) | Outcome::NotExecuted(_) => report.settled += 1,
            Outcome::Unknown(_) => report.still_unknown += 1,
            Outcome::Undecidable(_) => report.needs_review += 1,
        }
    }
    report
}

fn retryable_ops() -> Vec<LedgerOp> {
    read_state(|s| {
        s.ledger_ops
            .iter()
            .map(|e| e.value().0)
            .filter(|op| {
                op.status != LedgerOpStatus::NeedsReview
                    && !s.running.contains(&Task::LedgerOp(op.id))
            })
            .collect()
    })
}

/// `resolve_ledger_op`: a controller's verdict on an op under review.
pub fn resolve<R: Runtime>(rt: &R, op_id: u64, resolution: Resolution) -> Result<(), ResolveError> {
    if !rt.is_controller(&rt.caller()) {
        return Err(ResolveError::NotController);
    }
    let op = read_state(|s| s.ledger_op(op_id)).ok_or(ResolveError::UnknownOp)?;
    if op.status != LedgerOpStatus::NeedsReview {
        return Err(ResolveError::NotUnderReview { status: op.status });
    }
    let outcome = match resolution {
        Resolution::Executed { block_index } => Outcome::Executed(block_index),
        Resolution::NotExecuted => Outcome::NotExecuted(NotExecuted::CallFailed(format!(
            "resolved as not executed by {}",
            rt.caller()
        ))),
    };
    settle(&op, &outcome, rt.time());
    Ok(())
}
