//! `tensormine demo`: the whole market on this machine in one command.
//!
//! Starts `localnet-server`, deploys the canisters, starts three
//! `tensormine-worker` processes on loopback (one of them dishonest: it
//! corrupts rows of its matmul results, `--dishonest-corrupt-rows`), registers
//! them as miners with bonds, funds a developer with ckBTC and with native
//! regtest BTC, runs a mix of Freivalds-checked matmul and audited/redundant
//! embed jobs until the cheater is caught and slashed, has the honest miners
//! withdraw to their BTC addresses in one batched transaction, verifies a
//! receipt offline and prints a summary. Everything runs in temporary
//! directories and is stopped at the end.
//!
//! [`run`] reads as the list of phases (`phases/`), each a function over the
//! shared [`context::Demo`]; the helpers they share live beside them:
//! processes and temporary files, the regtest controls, the job plan, the
//! progress output and the summary.

mod context;
mod phases;
mod plan;
mod processes;
mod regtest;
mod summary;
mod ui;

use anyhow::Result;
use std::path::PathBuf;

pub use processes::{find_worker, WORKER_ENV};
pub use summary::{render, DemoMiner, DemoSummary};

/// What the demo needs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub server_bin: PathBuf,
    pub worker_bin: PathBuf,
    pub wasm_dir: PathBuf,
    /// Fewer jobs (CI).
    pub short: bool,
    /// Print progress (indicatif bars and phase lines).
    pub verbose: bool,
}

/// Runs the demo.
pub async fn run(opts: &DemoOptions) -> Result<DemoSummary> {
    let (mut demo, miner_agents) = phases::setup::start(opts).await?;
    let model = phases::miners::start_and_register(&mut demo, miner_agents).await?;
    let deposits = phases::developer::fund(&demo).await?;
    let jobs = phases::jobs::run_until_cheater_caught(&mut demo, &model).await?;
    let payout = phases::payout::pay_honest_miners(&mut demo).await?;
    phases::finish::summarize(demo, model, deposits, jobs, payout).await
}
