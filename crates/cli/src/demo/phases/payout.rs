//! Phase 5: record the miners' balances, have the honest ones withdraw as
//! native BTC, and wait for the escrow's single batched payout transaction.

use super::miners::MINER_DEPOSIT;
use crate::account;
use crate::demo::context::Demo;
use crate::demo::ui::short_id;
use crate::types::BtcBatchInfo;
use anyhow::{bail, Result};
use indicatif::ProgressBar;
use std::time::{Duration, Instant};

/// The confirmed payout transaction.
pub(in crate::demo) struct Payout {
    pub txid: String,
    pub height: u32,
    pub outputs: usize,
}

pub(in crate::demo) async fn pay_honest_miners(demo: &mut Demo<'_>) -> Result<Payout> {
    record_balances(demo).await?;
    let request_ids = withdraw_honest(demo).await?;
    let sp = demo
        .ui
        .spinner("waiting for the escrow's payout batch (mining a regtest block every 2 s)");
    let (txid, height) = wait_confirmed_batch(demo, &request_ids, &sp).await?;
    sp.finish_and_clear();
    let tx = demo.regtest.tx(&txid).await?;
    let outputs = tx["outputs"].as_array().cloned().unwrap_or_default();
    record_received(demo, &txid, &outputs)?;
    demo.ui.step(format!(
        "payout transaction {txid} confirmed at height {height}: {} inputs, {} outputs, pays alice {} and bob {} sats",
        tx["inputs"], outputs.len(),
        demo.miner_named("alice").received,
        demo.miner_named("bob").received,
    ));
    Ok(Payout {
        txid,
        height,
        outputs: outputs.len(),
    })
}

async fn record_balances(demo: &mut Demo<'_>) -> Result<()> {
    for slot in demo.miners.iter_mut() {
        let m = &mut slot.miner;
        let b = account::balance(&slot.env, m.principal).await?;
        m.available = b.available;
        m.bonded = b.bonded;
        // Deposit in, slash out: the rest of the change is what jobs paid.
        m.earned = (b.available + b.bonded + m.slashed).saturating_sub(MINER_DEPOSIT);
    }
    Ok(())
}

/// Each honest miner withdraws all it has available; returns the request ids.
async fn withdraw_honest(demo: &mut Demo<'_>) -> Result<Vec<u64>> {
    let mut request_ids = Vec::new();
    // Through the fields, not `honest_mut`, so `ui` stays usable in the loop.
    for slot in demo.miners.iter_mut().filter(|s| !s.miner.dishonest) {
        let m = &mut slot.miner;
        let req = account::withdraw_btc(&slot.env, &m.btc_address, m.available).await?;
        m.withdrawn = req.amount;
        request_ids.push(req.id);
        demo.ui.step(format!(
            "{} withdraws {} sats to {}",
            m.name, req.amount, m.btc_address
        ));
    }
    Ok(request_ids)
}

/// Mines a block every 2 s until the batch holding all `request_ids` is mined
/// and finalised by the escrow (it left `get_btc_batches`); returns its txid
/// and height.
async fn wait_confirmed_batch(
    demo: &Demo<'_>,
    request_ids: &[u64],
    sp: &ProgressBar,
) -> Result<(String, u32)> {
    let t = Instant::now();
    let mut sent: Vec<String> = Vec::new();
    loop {
        if t.elapsed() > Duration::from_secs(180) {
            bail!("no confirmed payout transaction after 180 s (txids seen: {sent:?})");
        }
        let (batches,): (Vec<BtcBatchInfo>,) = demo
            .admin
            .query(demo.ids.escrow, "escrow", "get_btc_batches", ())
            .await?;
        note_sent(&batches, request_ids, &mut sent, sp)?;
        for txid in &sent {
            let pending = batches.iter().any(|b| b.txids.contains(txid));
            if let Some(tx) = demo.regtest.tx_opt(txid).await? {
                if let (Some(h), false) = (tx["height"].as_u64(), pending) {
                    return Ok((txid.clone(), h as u32));
                }
            }
        }
        demo.regtest.mine(1).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Adds the txids of the batch with our requests to `sent`; fails when the
/// requests were split over batches (the demo shows one transaction).
fn note_sent(
    batches: &[BtcBatchInfo],
    request_ids: &[u64],
    sent: &mut Vec<String>,
    sp: &ProgressBar,
) -> Result<()> {
    for b in batches {
        if let Some(e) = &b.last_error {
            sp.set_message(format!("payout batch {}: {e}", b.id));
        }
        if request_ids.iter().all(|r| b.requests.contains(r)) {
            for txid in &b.txids {
                if !sent.contains(txid) {
                    sent.push(txid.clone());
                    sp.set_message(format!(
                        "batch {} ({} payouts, {} inputs, fee {} sats) sent as {}; mining",
                        b.id,
                        b.requests.len(),
                        b.inputs,
                        b.fee,
                        short_id(txid)
                    ));
                }
            }
        } else if request_ids.iter().any(|r| b.requests.contains(r)) {
            bail!("the honest miners' payouts went into different batches: {batches:?}");
        }
    }
    Ok(())
}

/// What each honest miner's address got in the transaction; each must get
/// something.
fn record_received(demo: &mut Demo<'_>, txid: &str, outputs: &[serde_json::Value]) -> Result<()> {
    for slot in demo.honest_mut() {
        let m = &mut slot.miner;
        m.received = outputs
            .iter()
            .filter(|o| o["address"].as_str() == Some(m.btc_address.as_str()))
            .map(|o| o["value"].as_u64().unwrap_or(0))
            .sum();
        if m.received == 0 {
            bail!(
                "payout transaction {txid} has no output to {} ({})",
                m.name,
                m.btc_address
            );
        }
    }
    Ok(())
}
