//! Money in the escrow: balances, ckBTC deposits (ICRC-2 approve, then
//! `deposit_ckbtc`), native BTC deposits, withdrawals and bonds.

use crate::env::Env;
use crate::errors::{refused, secs, READ_ONLY, USE_IDENTITY};
use crate::types::*;
use anyhow::{anyhow, Result};
use candid::{Nat, Principal};

/// The escrow's configuration (the fields the CLI reads).
pub async fn escrow_config(env: &Env) -> Result<EscrowConfig> {
    let (c,): (EscrowConfig,) = env
        .query(env.canisters.escrow, "escrow", "get_config", ())
        .await?;
    Ok(c)
}

/// The ckBTC ledger the escrow uses (its configuration, else the ids file).
pub async fn ckbtc_ledger(env: &Env) -> Result<Principal> {
    let config = escrow_config(env).await?;
    config.ckbtc_ledger.or(env.canisters.ckbtc_ledger).ok_or_else(|| {
        anyhow!("the escrow has no ckBTC ledger configured: ckBTC deposits are not possible on this network (use `account deposit --btc`)")
    })
}

/// A principal's escrow balance.
pub async fn balance(env: &Env, who: Principal) -> Result<Balance> {
    let (b,): (Balance,) = env
        .query(env.canisters.escrow, "escrow", "get_balance", (who,))
        .await?;
    Ok(b)
}

fn nat_u64(n: &Nat, what: &str) -> Result<u64> {
    u64::try_from(n.0.clone()).map_err(|_| anyhow!("{what} {n} does not fit in 64 bits"))
}

/// The ckBTC balance of `who`'s default account on the ledger.
pub async fn ckbtc_balance(env: &Env, who: Principal) -> Result<u64> {
    let ledger = ckbtc_ledger(env).await?;
    let (n,): (Nat,) = env
        .query(
            ledger,
            "ckbtc ledger",
            "icrc1_balance_of",
            (Account::from(who),),
        )
        .await?;
    nat_u64(&n, "balance")
}

/// Sends ckBTC on the ledger (e.g. to fund another local identity); returns the block index.
pub async fn ckbtc_transfer(env: &Env, to: Principal, amount: u64) -> Result<u64> {
    let ledger = ckbtc_ledger(env).await?;
    let arg = TransferArg {
        from_subaccount: None,
        to: Account::from(to),
        amount: Nat::from(amount),
        fee: None,
        memo: None,
        created_at_time: None,
    };
    let (r,): (Result<Nat, TransferError>,) = env
        .update(ledger, "ckbtc ledger", "icrc1_transfer", (arg,))
        .await?;
    let block = r.map_err(|e| refused("ckbtc ledger.icrc1_transfer", &e, None))?;
    nat_u64(&block, "block index")
}

/// Deposits `amount` ckBTC: approves `amount + fee` for the escrow on the
/// ledger (the approval itself costs one more fee), then `deposit_ckbtc`.
pub async fn deposit_ckbtc(env: &Env, amount: u64) -> Result<DepositReceipt> {
    let ledger = ckbtc_ledger(env).await?;
    let (fee,): (Nat,) = env.query(ledger, "ckbtc ledger", "icrc1_fee", ()).await?;
    let fee = nat_u64(&fee, "ledger fee")?;
    let allowance = amount
        .checked_add(fee)
        .ok_or_else(|| anyhow!("amount {amount} is too large"))?;
    let approve = ApproveArgs {
        from_subaccount: None,
        spender: Account::from(env.canisters.escrow),
        amount: Nat::from(allowance),
        expected_allowance: None,
        expires_at: None,
        fee: None,
        memo: None,
        created_at_time: None,
    };
    let (r,): (Result<Nat, ApproveError>,) = env
        .update(ledger, "ckbtc ledger", "icrc2_approve", (approve,))
        .await?;
    r.map_err(|e| {
        let hint = match &e {
            ApproveError::InsufficientFunds { .. } => Some(format!(
                "your ckBTC account needs {amount} + 2×{fee} (fees) sats; check it with `tensormine account balance`"
            )),
            _ => None,
        };
        refused("ckbtc ledger.icrc2_approve", &e, hint)
    })?;
    let (r,): (Result<DepositReceipt, DepositError>,) = env
        .update(env.canisters.escrow, "escrow", "deposit_ckbtc", (amount,))
        .await?;
    r.map_err(|e| {
        let hint = match &e {
            DepositError::AmountTooSmall { min } => Some(format!("deposit at least {min} sats")),
            DepositError::InsufficientFunds { .. } => Some(format!("your ckBTC account needs {amount} + {fee} sats")),
            DepositError::OutcomeUnknown { .. } => Some("the ledger did not answer; the escrow reconciles and credits the deposit if it happened: check `tensormine account balance` before repeating".into()),
            DepositError::AlreadyProcessing => Some("another deposit or withdrawal of yours is running: retry in a moment".into()),
            DepositError::AnonymousCaller => Some(USE_IDENTITY.into()),
            DepositError::ReadOnly => Some(READ_ONLY.into()),
            _ => None,
        };
        refused("escrow.deposit_ckbtc", &e, hint)
    })
}

/// The caller's native BTC deposit address.
pub async fn btc_deposit_address(env: &Env) -> Result<String> {
    let (r,): (Result<String, BtcAddressError>,) = env
        .update(
            env.canisters.escrow,
            "escrow",
            "get_btc_deposit_address",
            (None::<Principal>,),
        )
        .await?;
    r.map_err(|e| {
        let hint = match &e {
            BtcAddressError::AnonymousOwner => Some(USE_IDENTITY.into()),
            BtcAddressError::KeyUnavailable { .. } => {
                Some("the escrow's threshold key is not available: retry later".into())
            }
        };
        refused("escrow.get_btc_deposit_address", &e, hint)
    })
}

/// Credits the caller's confirmed BTC deposits.
pub async fn update_btc_balance(env: &Env) -> Result<BtcBalanceUpdate> {
    let (r,): (Result<BtcBalanceUpdate, BtcBalanceError>,) = env
        .update(env.canisters.escrow, "escrow", "update_btc_balance", ())
        .await?;
    r.map_err(|e| {
        let hint = match &e {
            BtcBalanceError::BitcoinCanister { .. } => Some("nothing was credited: retry".into()),
            BtcBalanceError::AlreadyProcessing => {
                Some("another deposit or withdrawal of yours is running: retry in a moment".into())
            }
            BtcBalanceError::AnonymousCaller => Some(USE_IDENTITY.into()),
            BtcBalanceError::ReadOnly => Some(READ_ONLY.into()),
            BtcBalanceError::KeyUnavailable { .. } => Some("retry later".into()),
        };
        refused("escrow.update_btc_balance", &e, hint)
    })
}

/// Sends `amount − ledger fee` ckBTC of the caller's available funds to `to`.
pub async fn withdraw_ckbtc(env: &Env, amount: u64, to: Account) -> Result<WithdrawalReceipt> {
    let (r,): (Result<WithdrawalReceipt, WithdrawError>,) = env
        .update(
            env.canisters.escrow,
            "escrow",
            "withdraw_ckbtc",
            (amount, to),
        )
        .await?;
    r.map_err(|e| {
        let hint = match &e {
            WithdrawError::InsufficientFunds { available } => Some(format!("you have {available} sats available")),
            WithdrawError::AmountTooSmall { min } => Some(format!("withdraw at least {min} sats")),
            WithdrawError::OutcomeUnknown { .. } => Some("the ledger did not answer; the amount stays debited until the escrow learns the outcome (never sent twice)".into()),
            WithdrawError::AlreadyProcessing => Some("another deposit or withdrawal of yours is running: retry in a moment".into()),
            WithdrawError::AnonymousCaller => Some(USE_IDENTITY.into()),
            WithdrawError::ReadOnly => Some(READ_ONLY.into()),
            _ => None,
        };
        refused("escrow.withdraw_ckbtc", &e, hint)
    })
}

/// Queues a native BTC payout of `amount` (minus its fee share) to `address`.
pub async fn withdraw_btc(env: &Env, address: &str, amount: u64) -> Result<BtcPayoutRequest> {
    let (r,): (Result<BtcPayoutRequest, BtcWithdrawError>,) = env
        .update(
            env.canisters.escrow,
            "escrow",
            "withdraw_btc",
            (address, amount),
        )
        .await?;
    r.map_err(|e| {
        let hint = match &e {
            BtcWithdrawError::InvalidAddress { .. } => {
                Some("pass a valid address of the escrow's Bitcoin network".into())
            }
            BtcWithdrawError::InsufficientFunds { available } => {
                Some(format!("you have {available} sats available"))
            }
            BtcWithdrawError::AmountTooSmall { min } => {
                Some(format!("withdraw at least {min} sats"))
            }
            BtcWithdrawError::AlreadyProcessing => {
                Some("another deposit or withdrawal of yours is running: retry in a moment".into())
            }
            BtcWithdrawError::AnonymousCaller => Some(USE_IDENTITY.into()),
            BtcWithdrawError::ReadOnly => Some(READ_ONLY.into()),
        };
        refused("escrow.withdraw_btc", &e, hint)
    })
}

fn bond_hint(e: &BondError) -> Option<String> {
    Some(match e {
        BondError::InsufficientFunds { available } => format!(
            "you have {available} sats available: deposit first (`tensormine account deposit`)"
        ),
        BondError::InsufficientBond { bonded } => format!("you have {bonded} sats bonded"),
        BondError::AmountTooSmall { min } => format!("the smallest amount is {min} sats"),
        BondError::NotReady { ready_at_ns } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            format!("claimable in {} s", secs(ready_at_ns.saturating_sub(now)))
        }
        BondError::NothingToClaim => {
            "nothing is unbonding: `tensormine miner unbond SATS` first".into()
        }
        BondError::AnonymousCaller => USE_IDENTITY.into(),
        BondError::ReadOnly => READ_ONLY.into(),
    })
}

/// Moves `amount` of the caller's available funds into its bond.
pub async fn bond(env: &Env, amount: u64) -> Result<Balance> {
    let (r,): (Result<Balance, BondError>,) = env
        .update(env.canisters.escrow, "escrow", "bond", (amount,))
        .await?;
    r.map_err(|e| refused("escrow.bond", &e, bond_hint(&e)))
}

/// Starts unbonding `amount`.
pub async fn unbond(env: &Env, amount: u64) -> Result<Balance> {
    let (r,): (Result<Balance, BondError>,) = env
        .update(env.canisters.escrow, "escrow", "unbond", (amount,))
        .await?;
    r.map_err(|e| refused("escrow.unbond", &e, bond_hint(&e)))
}

/// Makes the unbonded amount available once the delay has passed.
pub async fn claim_unbonded(env: &Env) -> Result<Balance> {
    let (r,): (Result<Balance, BondError>,) = env
        .update(env.canisters.escrow, "escrow", "claim_unbonded", ())
        .await?;
    r.map_err(|e| refused("escrow.claim_unbonded", &e, bond_hint(&e)))
}
