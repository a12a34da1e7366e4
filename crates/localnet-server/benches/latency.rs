//! `cargo bench -p localnet-server`: median latency of update calls (synchronous
//! v4 call: execution, certificate, verification by the agent) and queries (with
//! the node signature verified) through the HTTP interface, with ic-agent.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    format!(
        "median {:.2} ms, p90 {:.2} ms, min {:.2} ms ({} calls)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
        samples.len()
    )
}

fn main() {
    // `cargo test --benches` runs this with no arguments too; keep it short then.
    let calls: usize = std::env::var("LATENCY_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let handle = common::start().await;
        let agent = common::agent(&handle, common::ed25519_identity(1)).await;
        let canister = common::install(&agent).await;
        // Warm up (subnet keys cached by the agent, connections open).
        for _ in 0..10 {
            agent
                .update(&canister, "inc")
                .call_and_wait()
                .await
                .unwrap();
            agent.query(&canister, "get").call().await.unwrap();
        }
        let mut updates = Vec::with_capacity(calls);
        for _ in 0..calls {
            let start = Instant::now();
            agent
                .update(&canister, "inc")
                .call_and_wait()
                .await
                .unwrap();
            updates.push(start.elapsed());
        }
        let mut queries = Vec::with_capacity(calls);
        for _ in 0..calls {
            let start = Instant::now();
            agent.query(&canister, "get").call().await.unwrap();
            queries.push(start.elapsed());
        }
        println!("update call (v4, certified): {}", summary(updates));
        println!("query (node-signed):         {}", summary(queries));
        handle.shutdown().await;
    });
}
