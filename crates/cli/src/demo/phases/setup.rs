//! Phase 1: check the inputs, start the network, deploy the canisters and
//! configure the escrow's payout batches.

use crate::config::{CanisterIds, LocalNetworkFile, Network};
use crate::demo::context::Demo;
use crate::demo::processes::{NetGuard, TmpDir};
use crate::demo::regtest::Regtest;
use crate::demo::ui::Ui;
use crate::demo::DemoOptions;
use crate::types::{EscrowConfig, EscrowConfigError, EscrowConfigUpdate};
use crate::{deploy, network, Env};
use anyhow::{anyhow, bail, Result};
use candid::Principal;
use ic_agent::identity::BasicIdentity;
use ic_agent::Agent;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The demo miners, in the order they are started; `mallory` cheats.
pub(in crate::demo) const MINER_NAMES: [&str; 3] = ["alice", "bob", "mallory"];

/// The running network and canisters, and one agent per miner of
/// [`MINER_NAMES`] (funded on the ledger at deployment).
pub(in crate::demo) async fn start(opts: &DemoOptions) -> Result<(Demo<'_>, Vec<Agent>)> {
    let ui = Ui::new(opts.verbose);
    check_inputs(opts)?;
    let workdir = make_workdir()?;
    let tmp = TmpDir(workdir.clone());

    let state = workdir.join("state");
    std::fs::create_dir_all(&state)?;
    let file = network::start(&state, 0, &opts.server_bin).await?;
    let net = NetGuard(state.clone());
    ui.step(format!("localnet-server running at {}", file.url));
    let regtest = Regtest::new(&file.url)?;

    let deployer = agent(&file)?;
    let dev_agent = agent(&file)?;
    let miner_agents: Vec<Agent> = MINER_NAMES
        .iter()
        .map(|_| agent(&file))
        .collect::<Result<_>>()?;
    let ids = deploy_canisters(opts, &ui, &deployer, &dev_agent, &miner_agents).await?;
    let admin = Env::new(deployer, ids.clone(), true)?;
    configure_payout_batches(&admin).await?;
    ui.step("escrow: BTC payout batch of 2 requests, rounds every second");

    let demo = Demo {
        opts,
        ui,
        workdir,
        regtest,
        dev: Env::new(dev_agent, ids.clone(), true)?,
        ids,
        admin,
        miners: Vec::new(),
        workers: Vec::new(),
        _network: net,
        _workdir: tmp,
    };
    Ok((demo, miner_agents))
}

/// Fails early, with what to build, when a binary or a Wasm is missing.
fn check_inputs(opts: &DemoOptions) -> Result<()> {
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
        require_wasm(&opts.wasm_dir, name)?;
    }
    Ok(())
}

fn require_wasm(dir: &Path, name: &str) -> Result<()> {
    let path = dir.join(format!("{name}.wasm"));
    if !path.is_file() {
        bail!(
            "{} is missing: build the canisters with scripts/build-canisters.sh",
            path.display()
        );
    }
    Ok(())
}

/// A fresh directory under the system's temporary directory; unique per run
/// so that two demos can run side by side.
fn make_workdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "tensormine-demo-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// An agent with a new random identity, trusting the local network's root key.
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

fn principal(agent: &Agent) -> Result<Principal> {
    agent.get_principal().map_err(|e| anyhow!("{e}"))
}

/// Installs the canisters; the new ledger gives ckBTC to the developer and
/// the miners.
async fn deploy_canisters(
    opts: &DemoOptions,
    ui: &Ui,
    deployer: &Agent,
    dev: &Agent,
    miners: &[Agent],
) -> Result<CanisterIds> {
    let mut fund = vec![principal(dev)?];
    for a in miners {
        fund.push(principal(a)?);
    }
    let me = principal(deployer)?;
    let sp = ui.spinner("deploying registry, escrow, router and the ckBTC ledger");
    let ids = deploy::deploy(
        deployer,
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
    Ok(ids)
}

/// Payout batches: one transaction as soon as the two honest miners'
/// requests are queued, and reconcile rounds every second so the demo does
/// not wait for the defaults.
async fn configure_payout_batches(admin: &Env) -> Result<()> {
    let update = EscrowConfigUpdate {
        reconcile_interval_secs: Some(1),
        btc_batch_min_requests: Some(2),
        btc_batch_max_wait_secs: Some(3600),
        ..Default::default()
    };
    let (r,): (Result<EscrowConfig, EscrowConfigError>,) = admin
        .update(admin.canisters.escrow, "escrow", "set_config", (update,))
        .await?;
    r.map_err(|e| anyhow!("escrow.set_config refused: {e:?}"))?;
    Ok(())
}
