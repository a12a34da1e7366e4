//! `tensormine demo --short` end to end: the real binaries (`tensormine`,
//! `tensormine-worker`, `localnet-server`) and the canister Wasm.
//!
//! The binaries come from `TENSORMINE_WORKER_BIN`, `LOCALNET_SERVER_BIN` and
//! `TENSORMINE_WASM_DIR`, else from the cargo target directory of this test's
//! `tensormine` (`<target>/debug/…`, `<target>/wasm32-unknown-unknown/canister-release`).
//! `scripts/test.sh` builds them and sets `TENSORMINE_E2E=1`: then a missing
//! binary fails the test. Without `TENSORMINE_E2E` and without the binaries the
//! test says it is skipped.

use std::path::PathBuf;
use std::process::Command;

fn target_dir() -> PathBuf {
    // <target>/debug/tensormine
    PathBuf::from(env!("CARGO_BIN_EXE_tensormine"))
        .parent()
        .and_then(|p| p.parent())
        .expect("the tensormine binary is in <target>/<profile>/")
        .to_path_buf()
}

fn bin(var: &str, default: PathBuf) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or(default)
}

#[test]
fn short_demo_runs_end_to_end() {
    let target = target_dir();
    let profile_dir = PathBuf::from(env!("CARGO_BIN_EXE_tensormine"))
        .parent()
        .unwrap()
        .to_path_buf();
    let server = bin("LOCALNET_SERVER_BIN", profile_dir.join("localnet-server"));
    let worker = bin(
        "TENSORMINE_WORKER_BIN",
        profile_dir.join("tensormine-worker"),
    );
    let wasm = bin(
        "TENSORMINE_WASM_DIR",
        target.join("wasm32-unknown-unknown/canister-release"),
    );
    let missing: Vec<String> = [&server, &worker, &wasm.join("tensormine_router.wasm")]
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        let msg = format!(
            "missing {missing:?}: build them with `cargo build -p tensormine-worker -p localnet-server && scripts/build-canisters.sh` (scripts/test.sh does)"
        );
        if std::env::var_os("TENSORMINE_E2E").is_some() {
            panic!("{msg}");
        }
        eprintln!("SKIPPED short_demo_runs_end_to_end: {msg}");
        return;
    }
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_tensormine"))
        .arg("demo")
        .arg("--short")
        .arg("--localnet-server")
        .arg(&server)
        .arg("--worker")
        .arg(&worker)
        .arg("--wasm-dir")
        .arg(&wasm)
        .output()
        .expect("running tensormine demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tensormine demo failed ({:?}) after {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status,
        started.elapsed()
    );
    for needle in [
        "==== tensormine demo summary ====",
        "caught: mallory",
        "pays both honest miners",
        "receipt verified offline",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in\n{stdout}");
    }
    // The cheater lost bond, the honest miners were paid on chain.
    let slashed_line = stdout
        .lines()
        .find(|l| l.starts_with("caught: mallory"))
        .unwrap();
    assert!(!slashed_line.contains("slashed 0 sats"), "{slashed_line}");
    let txid_line = stdout
        .lines()
        .find(|l| l.starts_with("payout: one regtest transaction "))
        .unwrap();
    let txid = txid_line.split_whitespace().nth(4).unwrap();
    assert_eq!(txid.len(), 64, "{txid_line}");
    println!("{stdout}");
}
