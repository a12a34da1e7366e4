//! `account …` and the withdrawals shared with `miner withdraw`: escrow
//! deposits (ckBTC and BTC), balances, withdrawals, ckBTC transfers.

use super::args::{AccountCmd, WithdrawArgs};
use super::Cli;
use crate::{account, receipt, types};
use anyhow::{bail, Result};
use candid::Principal;

pub(super) fn print_balance(who: Principal, b: &types::Balance) {
    println!("account        {who}");
    println!("available      {} sats", b.available);
    println!("held           {} sats", b.held);
    println!("bonded         {} sats", b.bonded);
    if b.unbonding > 0 {
        println!(
            "unbonding      {} sats (claimable from {})",
            b.unbonding,
            receipt::time_text(b.unbonding_ready_at_ns)
        );
    }
}

fn withdraw_target(args: &WithdrawArgs) -> Result<()> {
    if args.amount == 0 {
        bail!("--amount must be more than 0 sats");
    }
    Ok(())
}

pub(super) async fn withdraw(cli: &Cli, args: &WithdrawArgs) -> Result<()> {
    withdraw_target(args)?;
    let env = cli.env().await?;
    if let Some(address) = &args.btc_address {
        let p = account::withdraw_btc(&env, address, args.amount).await?;
        println!("BTC payout #{} of {} sats to {} queued (the fee share of its batch transaction is deducted)", p.id, p.amount, p.address);
    } else {
        let to = args.to.unwrap_or(env.principal);
        let r = account::withdraw_ckbtc(&env, args.amount, types::Account::from(to)).await?;
        println!(
            "sent {} sats of ckBTC to {to} (ledger fee {}; block {})",
            r.amount - r.ledger_fee.min(r.amount),
            r.ledger_fee,
            r.block_index
        );
    }
    Ok(())
}

pub(super) async fn run_account(cli: &Cli, cmd: &AccountCmd) -> Result<()> {
    match cmd {
        AccountCmd::Deposit { ckbtc, btc, check } => {
            let env = cli.env().await?;
            if let Some(amount) = ckbtc {
                if *amount == 0 {
                    bail!("--ckbtc must be more than 0 sats");
                }
                let r = account::deposit_ckbtc(&env, *amount).await?;
                println!(
                    "deposited {} sats of ckBTC (ledger block {})",
                    r.amount, r.block_index
                );
                print_balance(env.principal, &r.balance);
            } else if *btc && *check {
                let u = account::update_btc_balance(&env).await?;
                if u.credited.is_empty() {
                    println!("no new confirmed deposits");
                }
                for utxo in &u.credited {
                    println!(
                        "credited {} sats ({}:{})",
                        utxo.amount, utxo.txid, utxo.vout
                    );
                }
                for utxo in &u.ignored_too_small {
                    println!(
                        "ignored {} sats ({}:{}): below the minimum of {} sats",
                        utxo.amount, utxo.txid, utxo.vout, u.min_deposit
                    );
                }
                print_balance(env.principal, &u.balance);
            } else {
                let address = account::btc_deposit_address(&env).await?;
                println!("{address}");
                eprintln!("send BTC to this address; once confirmed, credit it with `tensormine account deposit --btc --check`");
            }
        }
        AccountCmd::Balance { principal } => {
            let env = cli.env().await?;
            let who = principal.unwrap_or(env.principal);
            let b = account::balance(&env, who).await?;
            print_balance(who, &b);
            if principal.is_none() {
                if let Ok(ck) = account::ckbtc_balance(&env, who).await {
                    println!("ckBTC wallet   {ck} sats (on the ledger, not in the escrow)");
                }
            }
        }
        AccountCmd::Withdraw(args) => withdraw(cli, args).await?,
        AccountCmd::Transfer { to, sats } => {
            let env = cli.env().await?;
            let block = account::ckbtc_transfer(&env, *to, *sats).await?;
            println!("sent {sats} sats of ckBTC to {to} (block {block})");
        }
    }
    Ok(())
}
