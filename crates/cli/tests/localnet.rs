//! The library against a real local network: `localnet-server` started by
//! [`network::start`], the real canister Wasm installed by [`deploy::deploy`],
//! and the command functions called with agents built here.
//!
//! Needs the server and worker binaries and the built canisters: from
//! `LOCALNET_SERVER_BIN`, `TENSORMINE_WORKER_BIN` and `TENSORMINE_WASM_DIR`,
//! else next to this test's `tensormine` binary (`<target>/debug/`) and in
//! `<target>/wasm32-unknown-unknown/canister-release`. `scripts/test.sh` builds
//! them and sets `TENSORMINE_E2E=1`, which turns a missing one into a failure;
//! otherwise a test without them says it is skipped:
//!
//! ```sh
//! cargo build -p localnet-server -p tensormine-worker && scripts/build-canisters.sh
//! TENSORMINE_E2E=1 cargo test -p tensormine-cli --test localnet
//! ```

use ic_agent::identity::BasicIdentity;
use ic_agent::Agent;
use std::path::PathBuf;
use tensormine_cli::config::{CanisterIds, LocalNetworkFile, Network};
use tensormine_cli::{account, deploy, job, miner, network, types, Env};
use tensormine_core::registry::{Gpu, MinerProfile, WorkloadKind, WorkloadOffer};
use tensormine_core::router::{JobStatus, Tier};

/// Stops the server when the test ends, however it ends.
struct Net {
    dir: tempfile::TempDir,
    file: LocalNetworkFile,
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = network::stop(self.dir.path());
    }
}

fn required(var: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let exe_dir = PathBuf::from(env!("CARGO_BIN_EXE_tensormine"))
        .parent()
        .expect("<target>/<profile>/tensormine")
        .to_path_buf();
    match var {
        "LOCALNET_SERVER_BIN" => exe_dir.join("localnet-server"),
        "TENSORMINE_WORKER_BIN" => exe_dir.join("tensormine-worker"),
        "TENSORMINE_WASM_DIR" => exe_dir
            .parent()
            .expect("<target>/<profile>")
            .join("wasm32-unknown-unknown/canister-release"),
        _ => panic!("unknown variable {var}"),
    }
}

/// Are the binaries and Wasm there? Missing ones fail the test under
/// `TENSORMINE_E2E` (scripts/test.sh) and skip it, saying so, otherwise.
fn available(worker: bool) -> bool {
    let mut needed = vec![
        required("LOCALNET_SERVER_BIN"),
        required("TENSORMINE_WASM_DIR").join("tensormine_router.wasm"),
    ];
    if worker {
        needed.push(required("TENSORMINE_WORKER_BIN"));
    }
    let missing: Vec<String> = needed
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!("missing {missing:?} (see the comment at the top of tests/localnet.rs)");
    if std::env::var_os("TENSORMINE_E2E").is_some() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

async fn start() -> Net {
    let server = required(network::SERVER_ENV);
    let dir = tempfile::tempdir().unwrap();
    let file = network::start(dir.path(), 0, &server).await.unwrap();
    Net { dir, file }
}

fn agent(net: &Net, seed: u8) -> Agent {
    let agent = Agent::builder()
        .with_url(net.file.url.clone())
        .with_identity(BasicIdentity::from_raw_key(&[seed; 32]))
        .build()
        .unwrap();
    agent.set_root_key(net.file.root_key_der().unwrap());
    agent
}

async fn deployed(net: &Net) -> (Env, CanisterIds) {
    let wasm_dir = required("TENSORMINE_WASM_DIR");
    let agent = agent(net, 1);
    let me = agent.get_principal().unwrap();
    let opts = deploy::DeployOptions {
        network: Network::Local,
        wasm_dir,
        mode: deploy::Mode::Install,
        existing: None,
        fund: vec![],
    };
    let ids = deploy::deploy(&agent, me, &opts, |_| {}).await.unwrap();
    ids.save(&CanisterIds::default_path(net.dir.path(), &Network::Local))
        .unwrap();
    (Env::new(agent, ids.clone(), true).unwrap(), ids)
}

fn profile(worker_seed: u8, endpoint: &str) -> MinerProfile {
    MinerProfile {
        endpoint: endpoint.into(),
        worker_public_key: ed25519_dalek::SigningKey::from_bytes(&[worker_seed; 32])
            .verifying_key()
            .to_bytes()
            .to_vec(),
        gpus: vec![Gpu {
            model: "RTX 4090".into(),
            memory_bytes: 24 << 30,
            count: 1,
        }],
        offers: vec![WorkloadOffer {
            workload: WorkloadKind::Matmul,
            price_sats_per_unit: 5,
        }],
        btc_address: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".into(),
        region: "local".into(),
        labels: vec![],
    }
}

fn err<T: std::fmt::Debug>(r: anyhow::Result<T>) -> String {
    format!("{:#}", r.expect_err("an error"))
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_and_miners_on_a_local_network() {
    if !available(false) {
        return;
    }
    let net = start().await;
    let (dev, _) = deployed(&net).await;

    // ckBTC deposit: approve + deposit_ckbtc, two ledger fees besides the amount.
    let wallet = account::ckbtc_balance(&dev, dev.principal).await.unwrap();
    assert_eq!(wallet, deploy::LOCAL_FUNDS);
    let receipt = account::deposit_ckbtc(&dev, 1_000_000).await.unwrap();
    assert_eq!(receipt.amount, 1_000_000);
    assert_eq!(receipt.balance.available, 1_000_000);
    assert_eq!(
        account::balance(&dev, dev.principal)
            .await
            .unwrap()
            .available,
        1_000_000
    );
    assert_eq!(
        account::ckbtc_balance(&dev, dev.principal).await.unwrap(),
        wallet - 1_000_000 - 2 * deploy::CKBTC_FEE
    );
    let address = account::btc_deposit_address(&dev).await.unwrap();
    assert!(address.starts_with("bcrt1q"), "{address}");
    assert!(account::update_btc_balance(&dev)
        .await
        .unwrap()
        .credited
        .is_empty());

    // A miner with its own identity, funded from the deployer.
    let ids = dev.canisters.clone();
    let m = Env::new(agent(&net, 2), ids, true).unwrap();
    account::ckbtc_transfer(&dev, m.principal, 500_000)
        .await
        .unwrap();
    account::deposit_ckbtc(&m, 200_000).await.unwrap();
    let registered = miner::register(&m, &profile(7, "http://127.0.0.1:9"))
        .await
        .unwrap();
    assert_eq!(registered.principal, m.principal);
    let again = err(miner::register(&m, &profile(7, "http://127.0.0.1:9")).await);
    assert!(
        again.contains("register_miner refused: AlreadyRegistered"),
        "{again}"
    );
    let mut p = profile(7, "http://127.0.0.1:9");
    p.offers[0].price_sats_per_unit = 4;
    miner::update(&m, &p).await.unwrap();
    let got = miner::get(&m, m.principal).await.unwrap().unwrap();
    assert_eq!(got.price_of(WorkloadKind::Matmul), Some(4));
    // Another identity cannot take the same worker.
    let other = Env::new(agent(&net, 3), dev.canisters.clone(), true).unwrap();
    let taken = err(miner::register(&other, &profile(7, "http://127.0.0.1:8")).await);
    assert!(
        taken.contains(&format!("WorkerInUse {{ by: {} }}", m.principal)),
        "{taken}"
    );

    let b = account::bond(&m, 50_000).await.unwrap();
    assert_eq!((b.available, b.bonded), (150_000, 50_000));
    let too_much = err(account::bond(&m, 1_000_000).await);
    assert!(
        too_much.contains("escrow.bond refused: InsufficientFunds { available: 150000 }"),
        "{too_much}"
    );
    let w = account::withdraw_ckbtc(&m, 10_000, types::Account::from(m.principal))
        .await
        .unwrap();
    assert_eq!((w.amount, w.ledger_fee), (10_000, deploy::CKBTC_FEE));
    let p = account::withdraw_btc(&m, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", 10_000)
        .await
        .unwrap();
    assert_eq!(p.amount, 10_000);
    let bad =
        err(account::withdraw_btc(&m, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", 10_000).await);
    assert!(bad.contains("InvalidAddress"), "{bad}");
    assert_eq!(
        account::balance(&m, m.principal).await.unwrap().available,
        130_000
    );
    miner::deregister(&m).await.unwrap();
    assert!(miner::get(&m, m.principal).await.unwrap().is_none());

    // Quotes and a price below the minimum.
    let req = job::request(
        job::matmul_workload(64, 64, 64, [1; 32], [2; 32]),
        Tier::None,
        1,
        60,
        None,
        None,
    );
    let q = job::quote(&dev, &req).await.unwrap();
    assert_eq!(q.units, 1);
    let low = err(job::submit(&dev, &req).await);
    assert!(
        low.contains("router.submit_job refused: PriceTooLow { min_sats: "),
        "{low}"
    );
    let missing = err(job::status(&dev, "no-such-job").await);
    assert!(
        missing.contains("router.get_job refused: NotFound"),
        "{missing}"
    );
    assert!(job::list(&dev).await.unwrap().is_empty());

    // An upgrade with the same Wasm keeps the state.
    let opts = deploy::DeployOptions {
        network: Network::Local,
        wasm_dir: required("TENSORMINE_WASM_DIR"),
        mode: deploy::Mode::Upgrade,
        existing: Some(dev.canisters.clone()),
        fund: vec![],
    };
    let ids = deploy::deploy(&dev.agent, dev.principal, &opts, |_| {})
        .await
        .unwrap();
    assert_eq!(ids, dev.canisters);
    assert_eq!(
        account::balance(&dev, dev.principal)
            .await
            .unwrap()
            .available,
        1_000_000
    );
    assert_eq!(
        account::balance(&m, m.principal).await.unwrap().bonded,
        50_000
    );
    assert!(job::quote(&dev, &req).await.is_ok());
}

/// A job with no worker to run it: submitted, listed, cancelled (refunded),
/// its receipt fetched and verified.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_job_is_refunded_with_a_receipt() {
    if !available(false) {
        return;
    }
    let net = start().await;
    let (dev, _) = deployed(&net).await;
    account::deposit_ckbtc(&dev, 1_000_000).await.unwrap();
    let req = job::request(
        job::matmul_workload(64, 64, 64, [1; 32], [2; 32]),
        Tier::None,
        5_000,
        60,
        None,
        None,
    );
    let view = job::submit(&dev, &req).await.unwrap();
    let listed = job::list(&dev).await.unwrap();
    assert_eq!(
        listed.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        vec![view.id.clone()]
    );
    let held = account::balance(&dev, dev.principal).await.unwrap();
    assert_eq!(held.held + held.available, 1_000_000);
    let cancelled = job::cancel(&dev, &view.id).await.unwrap();
    assert!(
        matches!(cancelled.status, JobStatus::Refunding | JobStatus::Refunded),
        "{:?}",
        cancelled.status
    );
    let done = job::wait_with(&dev, &view.id, |_| {}).await.unwrap();
    assert_eq!(done.status, JobStatus::Refunded);
    let no_result = err(job::result(&dev, &view.id).await);
    assert!(no_result.contains("is Refunded"), "{no_result}");
    let saved = tensormine_cli::receipt::get_waiting(
        &dev,
        &view.id,
        std::time::Duration::from_secs(180),
        |_| {},
    )
    .await
    .unwrap();
    let key = tensormine_cli::parse::public_key(&saved.public_key).unwrap();
    let r = tensormine_core::receipt::verify_receipt(&saved.proof, &key).unwrap();
    assert_eq!(r.job_id, view.id);
    assert_eq!(r.submitter.0, dev.principal.as_slice());
    assert_eq!(r.router.0, dev.canisters.router.as_slice());
}

/// A worker process on loopback, killed when dropped.
struct Worker {
    child: std::process::Child,
    url: String,
    data_dir: tempfile::TempDir,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_worker() -> Worker {
    let bin = required("TENSORMINE_WORKER_BIN");
    let data_dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(bin)
        .arg("--data-dir")
        .arg(data_dir.path())
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let key = data_dir.path().join("worker.key");
    let t = std::time::Instant::now();
    while !key.exists() && t.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Worker {
        child,
        url: format!("http://127.0.0.1:{port}"),
        data_dir,
    }
}

/// The whole path with a real worker: registered from its data directory,
/// online after the registry's probe and challenge, a Freivalds-checked job
/// settled with its result read from the router, a large one read from the
/// worker, and a receipt verified offline.
#[tokio::test(flavor = "multi_thread")]
async fn matmul_jobs_settle_with_a_real_worker() {
    if !available(true) {
        return;
    }
    let net = start().await;
    let (dev, _) = deployed(&net).await;
    account::deposit_ckbtc(&dev, 1_000_000).await.unwrap();
    let worker = start_worker();
    let m = Env::new(agent(&net, 2), dev.canisters.clone(), true).unwrap();
    account::ckbtc_transfer(&dev, m.principal, 500_000)
        .await
        .unwrap();
    account::deposit_ckbtc(&m, 200_000).await.unwrap();
    account::bond(&m, 100_000).await.unwrap();
    let mut p = profile(0, &worker.url);
    p.worker_public_key = miner::worker_key_from_data_dir(worker.data_dir.path())
        .unwrap()
        .to_vec();
    miner::register(&m, &p).await.unwrap();
    let t = std::time::Instant::now();
    loop {
        let status = miner::get(&m, m.principal).await.unwrap().unwrap().status;
        if status == tensormine_core::registry::MinerStatus::Online {
            break;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(90),
            "still {status:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    let req = job::request(
        job::matmul_workload(128, 128, 128, [0x11; 32], [0x22; 32]),
        Tier::Freivalds,
        5_000,
        120,
        None,
        None,
    );
    let submitted = job::submit(&dev, &req).await.unwrap();
    let done = job::wait_with(&dev, &submitted.id, |_| {}).await.unwrap();
    assert_eq!(done.status, JobStatus::Settled, "{:?}", done.reason);
    let r = job::result(&dev, &done.id).await.unwrap();
    assert_eq!(r.source, job::ResultSource::Router);
    assert_eq!((r.rows, r.cols, r.values().len()), (128, 128, 128 * 128));
    let saved = tensormine_cli::receipt::get_waiting(
        &dev,
        &done.id,
        std::time::Duration::from_secs(120),
        |_| {},
    )
    .await
    .unwrap();
    let key = tensormine_cli::parse::public_key(&saved.public_key).unwrap();
    let receipt = tensormine_core::receipt::verify_receipt(&saved.proof, &key).unwrap();
    assert_eq!(
        receipt.outcome,
        tensormine_core::receipt::ReceiptOutcome::Verified
    );
    assert_eq!(receipt.result.unwrap().sha256.0, r.sha256);

    // 4 MiB: more than the router stores, so it comes from the worker.
    let req = job::request(
        job::matmul_workload(1024, 1024, 1024, [3; 32], [4; 32]),
        Tier::None,
        50_000,
        240,
        None,
        None,
    );
    let submitted = job::submit(&dev, &req).await.unwrap();
    let done = job::wait_with(&dev, &submitted.id, |_| {}).await.unwrap();
    assert_eq!(done.status, JobStatus::Settled, "{:?}", done.reason);
    assert_eq!(done.stored_result_bytes, 0);
    let r = job::result(&dev, &done.id).await.unwrap();
    assert_eq!(r.source, job::ResultSource::Worker(worker.url.clone()));
    assert_eq!(r.bytes.len(), 4 << 20);
    // The client check over the whole 1024² result (as `job result` runs it
    // with the request `job submit` kept).
    let state = tempfile::tempdir().unwrap();
    tensormine_cli::dispute::save_request(state.path(), &done.id, &req).unwrap();
    assert_eq!(
        tensormine_cli::dispute::check(&dev, state.path(), &r)
            .await
            .unwrap(),
        tensormine_cli::dispute::ClientCheck::Passed { vectors: 40 }
    );
    assert_eq!(job::list(&dev).await.unwrap().len(), 2);
}
