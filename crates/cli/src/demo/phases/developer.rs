//! Phase 3: the developer funds its escrow account, with ckBTC and with
//! native regtest BTC sent to its deposit address.

use crate::account;
use crate::demo::context::Demo;
use anyhow::{bail, Result};

const CKBTC_DEPOSIT: u64 = 500_000;
const BTC_DEPOSIT: u64 = 2_000_000;

/// What the developer deposited, in sats.
pub(in crate::demo) struct Deposits {
    pub ckbtc: u64,
    pub btc: u64,
}

pub(in crate::demo) async fn fund(demo: &Demo<'_>) -> Result<Deposits> {
    let dev = &demo.dev;
    account::deposit_ckbtc(dev, CKBTC_DEPOSIT).await?;
    demo.ui.step(format!(
        "developer {}: deposited {CKBTC_DEPOSIT} sats of ckBTC (icrc2_approve + deposit_ckbtc)",
        dev.principal
    ));
    deposit_btc(demo).await?;
    Ok(Deposits {
        ckbtc: CKBTC_DEPOSIT,
        btc: BTC_DEPOSIT,
    })
}

/// Sends BTC to the escrow's deposit address, mines it into a block and has
/// the escrow credit it.
async fn deposit_btc(demo: &Demo<'_>) -> Result<()> {
    let address = account::btc_deposit_address(&demo.dev).await?;
    let txid = demo.regtest.send_to(&address, BTC_DEPOSIT).await?;
    demo.regtest.mine(1).await?;
    let update = account::update_btc_balance(&demo.dev).await?;
    let credited: u64 = update.credited.iter().map(|u| u.amount).sum();
    if credited != BTC_DEPOSIT {
        bail!("the escrow credited {credited} sats of the {BTC_DEPOSIT} sent to {address} (tx {txid})");
    }
    demo.ui.step(format!(
        "developer: sent {BTC_DEPOSIT} sats of regtest BTC to its escrow deposit address {address} (tx {}…), mined a block, credited by update_btc_balance",
        &txid[..16.min(txid.len())]
    ));
    Ok(())
}
