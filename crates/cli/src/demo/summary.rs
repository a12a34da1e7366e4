//! What the demo reports: the summary it returns and its printed form.

use candid::Principal;
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;
use tensormine_core::registry::WorkloadKind;
use tensormine_core::router::{JobStatus, JobView};

/// One miner of the demo.
#[derive(Debug, Clone)]
pub struct DemoMiner {
    pub name: String,
    pub principal: Principal,
    pub endpoint: String,
    pub btc_address: String,
    pub dishonest: bool,
    pub matmul_price: u64,
    /// Escrow balance at the end (available, bonded).
    pub available: u64,
    pub bonded: u64,
    /// What it earned from jobs.
    pub earned: u64,
    /// Bond taken by slashes.
    pub slashed: u64,
    /// BTC it withdrew (0 for the cheater).
    pub withdrawn: u64,
    /// What its address received in the payout transaction.
    pub received: u64,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub model: String,
    pub jobs: Vec<JobView>,
    pub miners: Vec<DemoMiner>,
    /// Jobs where the cheater's result was rejected.
    pub caught_in: Vec<String>,
    pub developer_ckbtc_deposit: u64,
    pub developer_btc_deposit: u64,
    /// Paid to miners and fees.
    pub developer_spent: u64,
    /// Slashed bond paid to the developer.
    pub developer_compensated: u64,
    /// Escrow balance at the end.
    pub developer_balance: u64,
    pub payout_txid: String,
    pub payout_height: u32,
    pub payout_outputs: usize,
    pub receipt_file: PathBuf,
    pub receipt_text: String,
    pub wall: Duration,
}

/// The summary as printed at the end.
pub fn render(s: &DemoSummary) -> String {
    // Writing to a String cannot fail: the `fmt::Result`s are ignored.
    let mut o = String::new();
    let _ = writeln!(o, "\n==== tensormine demo summary ====");
    write_jobs(&mut o, s);
    write_miners(&mut o, s);
    write_money(&mut o, s);
    let _ = writeln!(o, "receipt verified offline: {}", s.receipt_file.display());
    for line in s.receipt_text.lines() {
        let _ = writeln!(o, "  {line}");
    }
    let _ = writeln!(o, "wall time: {:.1} s", s.wall.as_secs_f64());
    o
}

fn write_jobs(o: &mut String, s: &DemoSummary) {
    let settled = s
        .jobs
        .iter()
        .filter(|j| j.status == JobStatus::Settled)
        .count();
    let matmul = s
        .jobs
        .iter()
        .filter(|j| j.workload == WorkloadKind::Matmul)
        .count();
    let _ = writeln!(
        o,
        "jobs: {} submitted, {settled} settled ({matmul} matmul with Freivalds, {} embed)",
        s.jobs.len(),
        s.jobs.len() - matmul
    );
    let _ = writeln!(o, "embedding model: {}", s.model);
    let _ = writeln!(
        o,
        "caught: mallory (--dishonest-corrupt-rows 4) in {} job(s); bond slashed {} sats; each such job re-run by an honest miner and settled",
        s.caught_in.len(),
        s.miners.iter().map(|m| m.slashed).sum::<u64>()
    );
}

fn write_miners(o: &mut String, s: &DemoSummary) {
    let _ = writeln!(o, "miners:");
    for m in &s.miners {
        let _ = writeln!(
            o,
            "  {:<7} {}earned {:>6} sats, slashed {:>6}, bonded {:>6}, withdrew {:>6} → received {:>6} at {}",
            m.name,
            if m.dishonest { "(cheater) " } else { "          " },
            m.earned,
            m.slashed,
            m.bonded,
            m.withdrawn,
            m.received,
            m.btc_address
        );
    }
}

fn write_money(o: &mut String, s: &DemoSummary) {
    let _ = writeln!(
        o,
        "developer: deposited {} sats ckBTC + {} sats native BTC, paid {} sats for jobs (miners and fees), received {} sats of slashed bond; balance {} sats",
        s.developer_ckbtc_deposit, s.developer_btc_deposit, s.developer_spent, s.developer_compensated, s.developer_balance
    );
    let _ = writeln!(
        o,
        "payout: one regtest transaction {} (height {}, {} outputs) pays both honest miners",
        s.payout_txid, s.payout_height, s.payout_outputs
    );
}
