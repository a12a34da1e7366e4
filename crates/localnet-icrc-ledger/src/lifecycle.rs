//! Installation and upgrade. Installation mints the initial balances as
//! blocks (as DFINITY's ledger does); an upgrade keeps all state (it lives
//! in stable memory) and applies the optional setting changes.

use crate::ledger;
use crate::state::{Config, State};
use crate::transaction::{to_u64, Operation, Transaction};
use crate::types::{InitArgs, LedgerArg, UpgradeArgs};
use candid::Nat;

pub const DEFAULT_DECIMALS: u8 = 8;
/// The ICRC-1 minimum a ledger should accept.
pub const DEFAULT_MAX_MEMO_LENGTH: u16 = 32;
pub const DEFAULT_MAX_TRANSACTIONS_IN_WINDOW: u64 = 3_000_000;

/// `canister_init`. A wrong argument is a failed installation, hence `Err`.
pub fn init(state: &mut State, arg: LedgerArg, now: u64) -> Result<(), String> {
    let LedgerArg::Init(init) = arg else {
        return Err("installation needs LedgerArg::Init".into());
    };
    state.set_config(config_from(&init)?);
    for (account, amount) in init.initial_balances {
        let amount = tokens(&amount, "initial balance")?;
        let tx = Transaction {
            operation: Operation::Mint {
                to: account,
                amount,
            },
            memo: None,
            created_at_time: None,
        };
        ledger::apply(state, tx, now)
            .map_err(|e| format!("initial balance of {account}: {e:?}"))?;
    }
    Ok(())
}

fn config_from(init: &InitArgs) -> Result<Config, String> {
    let max_memo_length = init.max_memo_length.unwrap_or(DEFAULT_MAX_MEMO_LENGTH);
    if max_memo_length < DEFAULT_MAX_MEMO_LENGTH {
        return Err(format!(
            "max_memo_length must be at least {DEFAULT_MAX_MEMO_LENGTH} (ICRC-1)"
        ));
    }
    Ok(Config {
        token_symbol: init.token_symbol.clone(),
        token_name: init.token_name.clone(),
        decimals: init.decimals.unwrap_or(DEFAULT_DECIMALS),
        transfer_fee: tokens(&init.transfer_fee, "transfer_fee")?,
        minting_account: init.minting_account,
        max_memo_length,
        metadata: init.metadata.clone(),
        max_transactions_in_window: init
            .max_transactions_in_window
            .unwrap_or(DEFAULT_MAX_TRANSACTIONS_IN_WINDOW),
    })
}

/// `canister_post_upgrade`: `Upgrade(None)` (or no change) keeps the settings.
pub fn upgrade(state: &mut State, arg: Option<LedgerArg>) -> Result<(), String> {
    let upgrade = match arg {
        None | Some(LedgerArg::Upgrade(None)) => return Ok(()),
        Some(LedgerArg::Upgrade(Some(upgrade))) => upgrade,
        Some(LedgerArg::Init(_)) => return Err("an upgrade takes LedgerArg::Upgrade".into()),
    };
    let config = upgraded(state.config().clone(), upgrade)?;
    state.set_config(config);
    Ok(())
}

fn upgraded(mut config: Config, upgrade: UpgradeArgs) -> Result<Config, String> {
    if let Some(symbol) = upgrade.token_symbol {
        config.token_symbol = symbol;
    }
    if let Some(name) = upgrade.token_name {
        config.token_name = name;
    }
    if let Some(fee) = upgrade.transfer_fee {
        config.transfer_fee = tokens(&fee, "transfer_fee")?;
    }
    if let Some(metadata) = upgrade.metadata {
        config.metadata = metadata;
    }
    if let Some(length) = upgrade.max_memo_length {
        if length < config.max_memo_length {
            return Err(format!(
                "max_memo_length can only grow (from {})",
                config.max_memo_length
            ));
        }
        config.max_memo_length = length;
    }
    if let Some(max) = upgrade.max_transactions_in_window {
        config.max_transactions_in_window = max;
    }
    Ok(config)
}

fn tokens(n: &Nat, what: &str) -> Result<u64, String> {
    to_u64(n).ok_or_else(|| format!("{what} {n} does not fit in u64"))
}
