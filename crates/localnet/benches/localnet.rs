//! `cargo bench -p localnet`: throughput and costs of localnet itself, on the
//! conformance canister (built by `scripts/build-canisters.sh`).
//!
//! Prints: trivial updates per second, queries per second, stable-BTreeMap
//! inserts per second, install time (cold compile and cached), and the
//! instructions each kind of message used.

use candid::{encode_args, Principal};
use localnet::LocalNet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const CALLS: u64 = 5_000;

fn wasm() -> Vec<u8> {
    let path = std::env::var_os("CONFORMANCE_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
                "../../target/wasm32-unknown-unknown/canister-release/conformance_canister.wasm",
            )
        });
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the canisters first with scripts/build-canisters.sh",
            path.display()
        )
    })
}

fn controller() -> Principal {
    Principal::from_slice(&[0xC0, 0x17, 0x01])
}

fn install(net: &mut LocalNet, wasm: &[u8]) -> (Principal, Duration) {
    let canister = net.create_canister(controller());
    let start = Instant::now();
    net.install_canister(
        canister,
        wasm.to_vec(),
        encode_args((None::<u64>,)).unwrap(),
    );
    (canister, start.elapsed())
}

/// Runs `calls` ingress messages; returns calls per second.
fn rate(calls: u64, mut call: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    for i in 0..calls {
        call(i);
    }
    calls as f64 / start.elapsed().as_secs_f64()
}

fn instructions(net: &LocalNet, canister: Principal, kind: &str) -> u64 {
    net.last_message(canister, kind)
        .map_or(0, |m| m.instructions)
}

fn main() {
    let wasm = wasm();
    println!(
        "localnet benchmark ({} byte conformance canister, {CALLS} calls each)\n",
        wasm.len()
    );

    // Cold: a fresh process with the on-disk compile cache turned off.
    std::env::set_var("LOCALNET_CACHE_DIR", "");
    let (_, cold) = install(&mut LocalNet::new(), &wasm);
    std::env::remove_var("LOCALNET_CACHE_DIR");
    let mut warm_net = LocalNet::new();
    install(&mut warm_net, &wasm); // fills the disk cache
    let (_, cached) = install(&mut LocalNet::new(), &wasm);
    let (_, same_net) = install(&mut warm_net, &wasm);

    let mut net = LocalNet::new();
    let (canister, _) = install(&mut net, &wasm);
    let c = controller();
    let noop = encode_args(()).unwrap();
    let updates = rate(CALLS, |_| {
        net.update_call(canister, c, "noop", noop.clone())
            .expect("noop");
    });
    let queries = rate(CALLS, |_| {
        net.query_call(canister, c, "counter", noop.clone())
            .expect("counter");
    });
    let inserts = rate(CALLS, |i| {
        let arg = encode_args((i,)).unwrap();
        net.update_call(canister, c, "set_stable_value", arg)
            .expect("set_stable_value");
    });
    let incs = rate(CALLS, |_| {
        net.update_call(canister, c, "inc", noop.clone())
            .expect("inc");
    });

    println!("{:<44} {:>14}", "measure", "value");
    println!(
        "{:<44} {:>14.0}",
        "trivial updates per second (noop)", updates
    );
    println!(
        "{:<44} {:>14.0}",
        "heap-counter updates per second (inc)", incs
    );
    println!("{:<44} {:>14.0}", "queries per second (counter)", queries);
    println!(
        "{:<44} {:>14.0}",
        "stable-BTreeMap inserts per second", inserts
    );
    println!(
        "{:<44} {:>11.1} ms",
        "install, cold compile (cache off)",
        cold.as_secs_f64() * 1e3
    );
    println!(
        "{:<44} {:>11.1} ms",
        "install, compiled module on disk",
        cached.as_secs_f64() * 1e3
    );
    println!(
        "{:<44} {:>11.1} ms",
        "install, module already in this net",
        same_net.as_secs_f64() * 1e3
    );
    println!(
        "{:<44} {:>14}",
        "instructions: noop update",
        instructions(&net, canister, "update noop")
    );
    println!(
        "{:<44} {:>14}",
        "instructions: inc update",
        instructions(&net, canister, "update inc")
    );
    println!(
        "{:<44} {:>14}",
        "instructions: counter query",
        instructions(&net, canister, "query counter")
    );
    println!(
        "{:<44} {:>14}",
        "instructions: stable-BTreeMap insert",
        instructions(&net, canister, "update set_stable_value")
    );
    println!(
        "{:<44} {:>14}",
        "instructions: canister_init",
        instructions(&net, canister, "init")
    );
}
