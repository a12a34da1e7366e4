//! Phase 6: fetch a receipt and verify it offline, stop the workers and
//! gather the summary.

use super::developer::Deposits;
use super::jobs::JobsOutcome;
use super::miners::EmbeddingModel;
use super::payout::Payout;
use crate::demo::context::Demo;
use crate::demo::summary::DemoSummary;
use crate::demo::ui::short_id;
use crate::{account, receipt};
use anyhow::Result;
use std::path::PathBuf;
use std::time::Duration;

pub(in crate::demo) async fn summarize(
    mut demo: Demo<'_>,
    model: EmbeddingModel,
    deposits: Deposits,
    jobs: JobsOutcome,
    payout: Payout,
) -> Result<DemoSummary> {
    // A job that caught the cheater has the most interesting receipt.
    let job_id = jobs
        .caught
        .first()
        .cloned()
        .unwrap_or_else(|| jobs.views[0].id.clone());
    let (receipt_file, receipt_text) = verified_receipt(&demo, &job_id).await?;
    let dev_balance = account::balance(&demo.dev, demo.dev.principal).await?;
    let spent: u64 = jobs.views.iter().map(|v| v.paid_sats + v.fee_sats).sum();
    let compensated: u64 = demo.miners.iter().map(|s| s.miner.slashed).sum();
    demo.workers.clear();
    Ok(DemoSummary {
        model: model.name,
        jobs: jobs.views,
        miners: std::mem::take(&mut demo.miners)
            .into_iter()
            .map(|s| s.miner)
            .collect(),
        caught_in: jobs.caught,
        developer_ckbtc_deposit: deposits.ckbtc,
        developer_btc_deposit: deposits.btc,
        developer_spent: spent,
        developer_compensated: compensated,
        developer_balance: dev_balance.available + dev_balance.held,
        payout_txid: payout.txid,
        payout_height: payout.height,
        payout_outputs: payout.outputs,
        receipt_file,
        receipt_text,
        wall: demo.ui.start.elapsed(),
    })
}

/// Saves the job's receipt outside the work directory (it outlives the demo)
/// and verifies it offline; returns the file and the receipt's description.
async fn verified_receipt(demo: &Demo<'_>, job_id: &str) -> Result<(PathBuf, String)> {
    let saved = receipt::get_waiting(&demo.dev, job_id, Duration::from_secs(120), |_| {}).await?;
    let receipt_file =
        std::env::temp_dir().join(format!("tensormine-demo-receipt-{}.json", short_id(job_id)));
    crate::config::write_json(&receipt_file, &saved)?;
    // Offline, against the key derived from localnet's master key for the
    // demo's router — not the key in the file.
    let network = crate::config::Network::Local;
    let trust = receipt::Trust {
        key: crate::receipt_key::router_key(
            &network,
            crate::receipt_key::default_key_name(&network),
            demo.dev.canisters.router,
        )?,
        router: Some(demo.dev.canisters.router),
        job: Some(job_id.to_string()),
    };
    let r = receipt::verify_file(&receipt_file, &trust)?;
    demo.ui.step(format!(
        "receipt of job {} saved to {} and verified offline (canonical receipt, Merkle inclusion, router's ed25519 batch signature)",
        short_id(job_id),
        receipt_file.display()
    ));
    Ok((receipt_file, receipt::describe(&r)))
}
