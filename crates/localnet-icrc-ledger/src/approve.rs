//! `icrc2_approve` and `icrc2_allowance`: from arguments to an approval,
//! checked as DFINITY's ledger checks them before [`ledger::apply`].

use crate::ledger;
use crate::state::State;
use crate::transaction::{check_fee, to_u64, Operation, Transaction, TxError};
use crate::transfer::check_memo;
use candid::{Nat, Principal};
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc2::allowance::{Allowance, AllowanceArgs};
use icrc_ledger_types::icrc2::approve::ApproveArgs;

pub fn icrc2_approve(
    state: &mut State,
    caller: Principal,
    arg: ApproveArgs,
    now: u64,
) -> Result<u64, TxError> {
    let from = Account {
        owner: caller,
        subaccount: arg.from_subaccount,
    };
    if from.owner == arg.spender.owner {
        return Err(TxError::Refused("self approval is not allowed".into()));
    }
    if from == state.config().minting_account {
        return Err(TxError::Refused(
            "the minting account cannot delegate mints".into(),
        ));
    }
    check_memo(state, &arg.memo)?;
    // An allowance over a u64 is as good as u64::MAX: nobody holds more.
    let amount = to_u64(&arg.amount).unwrap_or(u64::MAX);
    let expected_allowance = match &arg.expected_allowance {
        None => None,
        Some(expected) => match to_u64(expected) {
            Some(expected) => Some(expected),
            None => {
                let current_allowance = ledger::allowance(state, &from, &arg.spender, now).amount;
                return Err(TxError::AllowanceChanged { current_allowance });
            }
        },
    };
    let fee = check_fee(&arg.fee, state.config().transfer_fee)?;
    let tx = Transaction {
        operation: Operation::Approve {
            from,
            spender: arg.spender,
            amount,
            expected_allowance,
            expires_at: arg.expires_at,
            fee,
        },
        memo: arg.memo,
        created_at_time: arg.created_at_time,
    };
    ledger::apply(state, tx, now)
}

/// Expired allowances read as zero with no expiry, like DFINITY's ledger.
pub fn icrc2_allowance(state: &State, arg: &AllowanceArgs, now: u64) -> Allowance {
    let record = ledger::allowance(state, &arg.account, &arg.spender, now);
    Allowance {
        allowance: Nat::from(record.amount),
        expires_at: record.expires_at,
    }
}
