//! `cargo bench -p tensormine-integration-tests --bench registry`: the
//! registry canister's costs on localnet (the release Wasm built by
//! `scripts/build-canisters.sh`), in IC instructions as metered by localnet.
//!
//! Prints: instructions per `register_miner`; stable memory per miner; a
//! `list_miners` page of 100 (unfiltered and with filters that scan the
//! most records) at the full registry size; a probe round of 1,000 miners
//! (timer + all outcall callbacks); a capability challenge with n = 1024
//! against a real worker on loopback (the verifying callback).
//!
//! `REGISTRY_BENCH_MINERS` sets the registry size (default 100,000: the goal).

use candid::Principal;
use localnet::{Config as NetConfig, LocalNet, OutcallMode};
use std::time::{Duration, Instant};
use tensormine_integration_tests::registry::*;
use tensormine_integration_tests::stranger;
use tensormine_integration_tests::worker::LoopbackWorker;

const PROBES: u32 = 1_000;
/// The goal for one `list_miners` page.
const LIST_PAGE_LIMIT: u64 = 50_000_000;

fn bench_miner(i: u32) -> Principal {
    let mut bytes = vec![0xB0];
    bytes.extend_from_slice(&i.to_be_bytes());
    Principal::from_slice(&bytes)
}

fn bench_profile(i: u32) -> MinerProfile {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let mut p = profile((i % 200) as u8);
    p.endpoint = format!("https://w{i}.miners.example.com");
    p.worker_public_key = key.verifying_key().to_bytes().to_vec();
    p
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn instructions_since(net: &LocalNet, c: Principal, from: usize) -> (u64, usize) {
    let log = &net.message_log()[from..];
    let mine = log.iter().filter(|m| m.canister == c);
    let total = mine.clone().map(|m| m.instructions).sum();
    (total, mine.count())
}

fn stable_bytes(net: &LocalNet, c: Principal) -> u64 {
    net.stable_memory(c).len() as u64
}

fn register_all(net: &mut LocalNet, c: Principal, count: u32) -> Vec<u64> {
    let start = Instant::now();
    let mut costs = Vec::with_capacity(count as usize);
    for i in 0..count {
        let (r,): (Result<Miner, RegisterError>,) = net
            .update_candid(c, bench_miner(i), "register_miner", (bench_profile(i),))
            .unwrap();
        r.unwrap();
        costs.push(
            net.last_message(c, "update register_miner")
                .unwrap()
                .instructions,
        );
        if (i + 1) % 20_000 == 0 {
            eprintln!("  registered {} miners ({:.0?})", i + 1, start.elapsed());
        }
    }
    costs
}

fn list_page(net: &mut LocalNet, c: Principal, filter: MinerFilter) -> (usize, u64) {
    let (page,): (ListPage,) = net
        .query_candid(
            c,
            stranger(),
            "list_miners",
            (ListRequest {
                filter,
                start_after: None,
                limit: 100,
            },),
        )
        .unwrap();
    let used = net
        .last_message(c, "query list_miners")
        .unwrap()
        .instructions;
    (page.miners.len(), used)
}

fn bench_registry(miners: u32) {
    let mut net = LocalNet::with_config(NetConfig {
        outcalls: OutcallMode::Mock,
        ..NetConfig::default()
    });
    let c = install_registry(
        &mut net,
        ConfigUpdate {
            probe_interval_secs: Some(3_600),
            probes_per_round: Some(PROBES),
            challenge_round_secs: Some(86_400),
            max_miners: Some(miners as u64),
            ..Default::default()
        },
    );
    let empty = stable_bytes(&net, c);
    let start = Instant::now();
    let mut costs = register_all(&mut net, c, miners);
    let wall = start.elapsed();
    let full = stable_bytes(&net, c);
    costs.sort_unstable();
    println!(
        "register_miner ({miners} miners, {:.1} s of localnet wall time):",
        wall.as_secs_f64()
    );
    println!(
        "  instructions: median {}, p99 {}, max {}",
        percentile(&costs, 0.5),
        percentile(&costs, 0.99),
        costs.last().unwrap()
    );
    println!(
        "stable memory: {:.1} MiB for {miners} miners = {} bytes per miner (incl. indexes, change feed and events; allocated in 8 MiB buckets)",
        (full - empty) as f64 / (1 << 20) as f64,
        (full - empty) / miners as u64
    );

    println!("list_miners, page of 100, at {miners} miners:");
    let cases = [
        ("no filter", MinerFilter::default()),
        (
            "workload + max price (matches some)",
            MinerFilter {
                workload: Some(WorkloadKind::Matmul),
                max_price_sats: Some(8),
                ..Default::default()
            },
        ),
        (
            "status Online (matches none: scans the most)",
            MinerFilter {
                status: Some(MinerStatus::Online),
                ..Default::default()
            },
        ),
    ];
    for (name, filter) in cases {
        let (returned, used) = list_page(&mut net, c, filter);
        let verdict = if used < LIST_PAGE_LIMIT {
            "under"
        } else {
            "OVER"
        };
        println!("  {name}: {returned} miners, {used} instructions ({verdict} the 50M goal)");
    }

    let from = net.message_log().len();
    net.advance_time(Duration::from_secs(3_600));
    net.tick();
    let healthy = |url: &str| {
        let i: u32 = url
            .trim_start_matches("https://w")
            .split('.')
            .next()?
            .parse()
            .ok()?;
        Some(ok_response(health_body(
            &bench_profile(i).worker_public_key,
            0,
        )))
    };
    let answered = answer_all(&mut net, healthy);
    let (total, messages) = instructions_since(&net, c, from);
    let (totals,): (Totals,) = net.query_candid(c, stranger(), "totals", ()).unwrap();
    println!(
        "probe round: {answered} probes, {messages} messages (timer, transforms, callbacks), {total} instructions = {} per probe; {} miners now online",
        total / answered.max(1) as u64,
        totals.online
    );
}

fn bench_challenge(rows: u32) {
    let worker = LoopbackWorker::start(99, None);
    let mut net = LocalNet::with_config(NetConfig {
        outcalls: OutcallMode::Live,
        ..NetConfig::default()
    });
    let c = install_registry(
        &mut net,
        ConfigUpdate {
            local: Some(true),
            challenge_n: Some(1024),
            challenge_rows: Some(rows),
            challenge_round_secs: Some(86_400),
            ..Default::default()
        },
    );
    let mut p = profile(1);
    p.endpoint = worker.url.clone();
    p.worker_public_key = worker.public_key();
    let (r,): (Result<Miner, RegisterError>,) = net
        .update_candid(c, miner(1), "register_miner", (p,))
        .unwrap();
    r.unwrap();
    let from = net.message_log().len();
    let start = Instant::now();
    let (r,): (Result<Capability, ChallengeError>,) = net
        .update_candid(c, miner(1), "request_challenge", ())
        .unwrap();
    let wall = start.elapsed();
    r.expect("the honest worker passes");
    let log: Vec<_> = net.message_log()[from..]
        .iter()
        .filter(|m| m.canister == c)
        .collect();
    let verify = log
        .iter()
        .filter(|m| m.kind.ends_with("callback"))
        .map(|m| m.instructions)
        .max()
        .unwrap();
    let total: u64 = log.iter().map(|m| m.instructions).sum();
    println!(
        "challenge n = 1024, {rows} rows: verifying callback {verify} instructions, whole challenge {total} instructions in {} messages ({:.1} s wall time incl. the worker's matmul)",
        log.len(),
        wall.as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; there are no options of our own.
    let miners: u32 = std::env::var("REGISTRY_BENCH_MINERS")
        .ok()
        .map(|v| v.parse().expect("REGISTRY_BENCH_MINERS is a number"))
        .unwrap_or(100_000);
    println!("registry benchmark on localnet\n");
    // 16 rows (the registry's default) and 264 (the router's: 10 % wrong
    // rows missed with p ≤ 2⁻⁴⁰), side by side.
    for rows in [16, 264] {
        bench_challenge(rows);
    }
    bench_registry(miners);
}
