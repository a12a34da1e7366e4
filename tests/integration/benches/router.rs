//! `cargo bench --profile dev -p tensormine-integration-tests --bench router`:
//! cycles per job lifecycle for each verification tier on localnet (a
//! 13-node subnet's fees), with the whole market running: the router Wasm,
//! the escrow, the registry, the ckBTC ledger and real workers on loopback.
//!
//! A job's cost is the router's cycle balance drop from `submit_job` to
//! the final state, minus what the idle router burns in as many seconds
//! (its sync and tick timers), broken down into outcalls (from the job's
//! own accounting), messages and execution, plus the share of one receipt
//! batch signature at the production batch size. Bitcoin fees are not
//! involved (the job's money moves inside the escrow).

use std::time::Duration;
use tensormine_core::router::*;
use tensormine_integration_tests::market::*;
use tensormine_integration_tests::worker::LoopbackWorker;

/// The goal for a single-miner job.
const GOAL: u128 = 1_000_000_000;
/// Receipts per signed batch in production (`receipt_batch_max` default).
const BATCH: u128 = 256;
/// `sign_with_schnorr` with key_1 on a 13-node subnet.
const SIGNATURE_CYCLES: u128 = 26_153_846_153;

struct Cost {
    total: u128,
    outcall_cycles: u128,
    messages: usize,
    instructions: u64,
    steps: u64,
}

fn router_messages(m: &Market, from: usize) -> (usize, u64) {
    let mine: Vec<_> = m.net.message_log()[from..]
        .iter()
        .filter(|e| e.canister == m.router)
        .collect();
    (mine.len(), mine.iter().map(|e| e.instructions).sum())
}

/// Cycles the idle router burns per step, and messages and instructions per step.
fn idle(m: &mut Market) -> (f64, f64, f64) {
    let steps = 30;
    let (before, from) = (m.net.cycle_balance(m.router), m.net.message_log().len());
    for _ in 0..steps {
        m.step();
    }
    let (n, i) = router_messages(m, from);
    let burnt = (before - m.net.cycle_balance(m.router)) as f64;
    (
        burnt / steps as f64,
        n as f64 / steps as f64,
        i as f64 / steps as f64,
    )
}

fn run(m: &mut Market, request: &JobRequest, idle: (f64, f64, f64)) -> (JobView, Cost) {
    let (before, from) = (m.net.cycle_balance(m.router), m.net.message_log().len());
    let signed_before = m.totals().signature_cycles;
    let job = m.submit(request).expect("submitted");
    let mut steps = 0u64;
    let job = loop {
        m.step();
        steps += 1;
        let j = m.job(&job.id);
        if j.status.is_final() {
            break j;
        }
        if j.status == JobStatus::Running {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(steps < 300, "job never finished: {j:#?}");
    };
    // A batch signature that fell into the window is reported separately.
    let signatures = m.totals().signature_cycles - signed_before;
    let burnt = before - m.net.cycle_balance(m.router) - signatures;
    let (n, instructions) = router_messages(m, from);
    let cost = Cost {
        total: (burnt as f64 - idle.0 * steps as f64).max(0.0) as u128,
        outcall_cycles: job.outcall_cycles,
        messages: (n as f64 - idle.1 * steps as f64).max(0.0) as usize,
        instructions: (instructions as f64 - idle.2 * steps as f64).max(0.0) as u64,
        steps,
    };
    (job, cost)
}

fn main() {
    let workers: Vec<LoopbackWorker> = (0..3)
        .map(|i| LoopbackWorker::start(120 + i, None))
        .collect();
    let model = workers[0].tiny_model;
    let mut m = Market::new(workers, test_config());
    let idle = idle(&mut m);
    let sentences = [
        "the miner rents a gpu",
        "a cat sleeps on the sofa",
        "bitcoin pays the developer",
    ];
    let cases: Vec<(&str, JobRequest)> = vec![
        (
            "matmul 256³, tier none",
            matmul_request(256, Tier::None, 10_000),
        ),
        (
            "matmul 256³, freivalds (8 rows)",
            matmul_request(256, Tier::Freivalds, 10_000),
        ),
        (
            "matmul 256³, audit (new miner: audited by Freivalds)",
            matmul_request(256, Tier::Audit { rate_ppm: 100_000 }, 10_000),
        ),
        (
            "matmul 256³, redundant k=2 (each by Freivalds)",
            matmul_request(256, Tier::Redundant { k: 2 }, 10_000),
        ),
        (
            "embed 3 sentences, tier none",
            embed_request(&model, &sentences, Tier::None),
        ),
        (
            "embed 3 sentences, audit (new miner: a second miner)",
            embed_request(&model, &sentences, Tier::Audit { rate_ppm: 100_000 }),
        ),
        (
            "embed 3 sentences, redundant k=2",
            embed_request(&model, &sentences, Tier::Redundant { k: 2 }),
        ),
    ];
    println!("router cycles per job lifecycle (localnet, 13-node fees, non-replicated outcalls; idle router: {:.0} cycles/s subtracted)", idle.0);
    println!("| job | miners | cycles | outcalls (n, cycles) | router messages | instructions | + batch signature share | status |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (name, request) in &cases {
        let (job, cost) = run(&mut m, request, idle);
        let share = SIGNATURE_CYCLES / BATCH;
        let single = job.assignments.len() == 1;
        let verdict = if single && cost.total + share > GOAL {
            "OVER 1B"
        } else {
            "ok"
        };
        println!(
            "| {name} | {} | {} | {} / {} | {} | {} | {} | {:?}, {verdict} ({} s) |",
            job.assignments.len(),
            cost.total,
            job.outcalls,
            cost.outcall_cycles,
            cost.messages,
            cost.instructions,
            share,
            job.status,
            cost.steps
        );
    }
    // The router's default: 264 opened rows (10 % wrong rows missed with
    // p ≤ 2⁻⁴⁰), side by side with the 8 rows of the table above.
    m.configure_router(ConfigUpdate {
        challenge_rows: Some(tensormine_core::router::Config::default().challenge_rows),
        ..Default::default()
    });
    for (name, request) in [
        (
            "matmul 256³, freivalds (264 rows: all 256)",
            matmul_request(256, Tier::Freivalds, 10_000),
        ),
        (
            "matmul 1024³, freivalds (264 rows)",
            matmul_request(1024, Tier::Freivalds, 100_000),
        ),
    ] {
        let (job, cost) = run(&mut m, &request, idle);
        println!(
            "| {name} | {} | {} | {} / {} | {} | {} | {} | {:?} ({} s) |",
            job.assignments.len(),
            cost.total,
            job.outcalls,
            cost.outcall_cycles,
            cost.messages,
            cost.instructions,
            SIGNATURE_CYCLES / BATCH,
            job.status,
            cost.steps
        );
    }
    let totals = m.totals();
    println!(
        "signatures: {} batches signed, {} cycles each on localnet's test key (key_1 on a 13-node subnet: {SIGNATURE_CYCLES}); one batch covers up to {BATCH} receipts",
        totals.signatures,
        totals.signature_cycles / totals.signatures.max(1) as u128
    );
}
