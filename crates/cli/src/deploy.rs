//! `deploy`: builds the canister Wasm (scripts/build-canisters.sh) and installs
//! the ckBTC ledger (local networks only), registry, escrow and router with
//! their init arguments wired together, through the management canister.

use crate::config::{CanisterIds, Network, IC_CKBTC_LEDGER};
use crate::types::*;
use anyhow::{anyhow, bail, Context, Result};
use candid::{Nat, Principal};
use ic_agent::Agent;
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, InstallCodeArgs, ProvisionalCreateCanisterWithCyclesArgs,
};
use std::path::{Path, PathBuf};
use tensormine_core::router::{ConfigUpdate as RouterConfigUpdate, RouterArg};

pub const REGISTRY_WASM: &str = "tensormine_registry.wasm";
pub const ESCROW_WASM: &str = "tensormine_escrow.wasm";
pub const ROUTER_WASM: &str = "tensormine_router.wasm";
pub const LEDGER_WASM: &str = "localnet_icrc_ledger.wasm";

/// Cycles each canister gets on a local network.
pub const LOCAL_CYCLES: u64 = 100_000_000_000_000;
/// ckBTC's transfer fee in sats.
pub const CKBTC_FEE: u64 = 10;
/// ckBTC the deployer (and each `--fund` principal) gets on a local ledger: 1000 BTC.
pub const LOCAL_FUNDS: u64 = 100_000_000_000;

/// How to install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// New canisters (local: created here; elsewhere: the ids file's, empty).
    Install,
    /// Keep state, new code.
    Upgrade,
}

/// Deployment options.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub network: Network,
    pub wasm_dir: PathBuf,
    pub mode: Mode,
    /// Existing canisters (required off local networks, and for upgrades).
    pub existing: Option<CanisterIds>,
    /// Principals given ckBTC on a new local ledger, besides the deployer.
    pub fund: Vec<Principal>,
}

/// The repository root (holding scripts/build-canisters.sh), from `start` upwards.
pub fn find_repo_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join("scripts/build-canisters.sh").is_file())
        .map(Path::to_path_buf)
}

/// Runs scripts/build-canisters.sh and returns the Wasm directory.
pub fn build_canisters(root: &Path) -> Result<PathBuf> {
    let status = std::process::Command::new("bash")
        .arg(root.join("scripts/build-canisters.sh"))
        .current_dir(root)
        .status()
        .context("cannot run scripts/build-canisters.sh")?;
    if !status.success() {
        bail!("scripts/build-canisters.sh failed ({status}); fix the build, or pass --wasm-dir DIR with built canisters");
    }
    Ok(wasm_dir_of(root))
}

/// Where the build script puts the Wasm (`$CARGO_TARGET_DIR` if set).
pub fn wasm_dir_of(root: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    target.join("wasm32-unknown-unknown/canister-release")
}

/// A canister module, gzipped (the plain modules exceed the 2 MiB ingress limit).
pub fn read_wasm(dir: &Path, name: &str) -> Result<Vec<u8>> {
    use std::io::Write;
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| {
        anyhow!("cannot read {} ({e}): build the canisters (`tensormine deploy` without --wasm-dir runs scripts/build-canisters.sh)", path.display())
    })?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    if !bytes.starts_with(b"\0asm") {
        bail!("{} is not a Wasm module", path.display());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&bytes).expect("gzip in memory");
    Ok(gz.finish().expect("gzip in memory"))
}

/// Creates an empty canister with cycles (provisional API: local networks).
pub async fn create_canister(agent: &Agent, cycles: u64) -> Result<Principal> {
    let arg = ProvisionalCreateCanisterWithCyclesArgs {
        amount: Some(Nat::from(cycles)),
        settings: None,
        specified_id: None,
        sender_canister_version: None,
    };
    let reply = agent
        .update(&Principal::management_canister(), "provisional_create_canister_with_cycles")
        // Any canister id of the subnet serves as the effective id of a creation.
        .with_effective_canister_id(Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 1, 1]))
        .with_arg(candid::encode_one(arg)?)
        .call_and_wait()
        .await
        .map_err(|e| anyhow!("provisional_create_canister_with_cycles failed: {} (only local networks have the provisional API)", crate::env::short_agent_error(&e)))?;
    let CanisterIdRecord { canister_id } = candid::decode_one(&reply)?;
    Ok(canister_id)
}

/// Installs or upgrades `wasm` in `canister` with `arg`.
pub async fn install_code(
    agent: &Agent,
    canister: Principal,
    wasm: Vec<u8>,
    arg: Vec<u8>,
    mode: Mode,
    name: &str,
) -> Result<()> {
    let args = InstallCodeArgs {
        mode: match mode {
            Mode::Install => CanisterInstallMode::Install,
            Mode::Upgrade => CanisterInstallMode::Upgrade(None),
        },
        canister_id: canister,
        wasm_module: wasm,
        arg,
        sender_canister_version: None,
    };
    agent
        .update(&Principal::management_canister(), "install_code")
        .with_effective_canister_id(canister)
        .with_arg(candid::encode_one(args)?)
        .call_and_wait()
        .await
        .map_err(|e| {
            anyhow!(
                "installing the {name} in {canister} failed: {}",
                crate::env::short_agent_error(&e)
            )
        })?;
    Ok(())
}

/// A principal no one holds a key for: the local ledger's minting account.
pub fn local_minter() -> Principal {
    Principal::from_slice(b"tensormine-local-minter")
}

/// The router's configuration on a local network: the test key, plain-http
/// workers, and fast timers (as the integration tests use them) so a job
/// settles and its receipt is signed within seconds.
pub fn local_router_config(registry: Principal, escrow: Principal) -> RouterConfigUpdate {
    RouterConfigUpdate {
        registry: Some(registry),
        escrow: Some(escrow),
        schnorr_key_name: Some("dfx_test_key".into()),
        local: Some(true),
        poll_initial_ms: Some(500),
        poll_max_ms: Some(2_000),
        min_deadline_secs: Some(10),
        sync_interval_secs: Some(2),
        tick_interval_ms: Some(500),
        receipt_batch_secs: Some(5),
        // Local demos pay at once; raise it (set_config) to try fraud
        // proofs locally. On the IC the default is 1 h.
        dispute_window_secs: Some(0),
        ..Default::default()
    }
}

/// Installs the canisters with wired init arguments; returns their ids.
/// `progress` is told each step.
pub async fn deploy(
    agent: &Agent,
    deployer: Principal,
    opts: &DeployOptions,
    mut progress: impl FnMut(&str),
) -> Result<CanisterIds> {
    let local = opts.network.is_local();
    let registry_wasm = read_wasm(&opts.wasm_dir, REGISTRY_WASM)?;
    let escrow_wasm = read_wasm(&opts.wasm_dir, ESCROW_WASM)?;
    let router_wasm = read_wasm(&opts.wasm_dir, ROUTER_WASM)?;
    let ids = match (&opts.existing, opts.mode) {
        (Some(ids), _) => {
            let mut ids = ids.clone();
            if ids.ckbtc_ledger.is_none() && !local {
                ids.ckbtc_ledger = Some(Principal::from_text(IC_CKBTC_LEDGER).expect("constant id"));
            }
            ids
        }
        (None, Mode::Upgrade) => bail!("no canister ids to upgrade for network {}: deploy first, or pass --canisters FILE", opts.network.name()),
        (None, Mode::Install) if !local => bail!(
            "deploying to {} needs canisters you created and control (e.g. with `dfx canister create --network ic`): write their ids to a file {{\"registry\":…,\"escrow\":…,\"router\":…}} and pass --canisters FILE",
            opts.network.name()
        ),
        (None, Mode::Install) => {
            progress("creating canisters");
            let ckbtc_ledger = Some(create_canister(agent, LOCAL_CYCLES).await?);
            let registry = create_canister(agent, LOCAL_CYCLES).await?;
            let escrow = create_canister(agent, LOCAL_CYCLES).await?;
            let router = create_canister(agent, LOCAL_CYCLES).await?;
            CanisterIds { registry, escrow, router, ckbtc_ledger }
        }
    };
    let (btc_network, key_name) = if local {
        (BtcNetwork::Regtest, "dfx_test_key")
    } else {
        (BtcNetwork::Mainnet, "key_1")
    };

    if local && opts.mode == Mode::Install {
        if let Some(ledger) = ids.ckbtc_ledger {
            progress("installing the ckBTC ledger");
            let mut balances = vec![(Account::from(deployer), Nat::from(LOCAL_FUNDS))];
            balances.extend(
                opts.fund
                    .iter()
                    .map(|p| (Account::from(*p), Nat::from(LOCAL_FUNDS))),
            );
            let init = LedgerArg::Init(LedgerInitArgs {
                minting_account: Account::from(local_minter()),
                transfer_fee: Nat::from(CKBTC_FEE),
                token_symbol: "ckBTC".into(),
                token_name: "ckBTC".into(),
                decimals: Some(8),
                max_memo_length: None,
                metadata: vec![],
                initial_balances: balances,
                max_transactions_in_window: None,
            });
            install_code(
                agent,
                ledger,
                read_wasm(&opts.wasm_dir, LEDGER_WASM)?,
                candid::encode_one(init)?,
                Mode::Install,
                "ckBTC ledger",
            )
            .await?;
        }
    }

    let (registry_arg, escrow_arg, router_arg) = match opts.mode {
        Mode::Install => (
            RegistryArg::Init(RegistryConfigUpdate {
                router: Some(Some(ids.router)),
                btc_network: Some(btc_network),
                local: Some(local),
                // Locally: probes every 2 s and a small capability challenge,
                // so a new worker is online in seconds.
                probe_interval_secs: local.then_some(2),
                challenge_n: local.then_some(64),
                ..Default::default()
            }),
            EscrowArg::Init(EscrowConfigUpdate {
                router: Some(Some(ids.router)),
                ckbtc_ledger: Some(ids.ckbtc_ledger),
                ckbtc_fee: Some(CKBTC_FEE),
                btc_network: Some(btc_network),
                ecdsa_key_name: Some(key_name.into()),
                btc_min_confirmations: if local { Some(1) } else { None },
                ..Default::default()
            }),
            RouterArg::Init(if local {
                local_router_config(ids.registry, ids.escrow)
            } else {
                RouterConfigUpdate {
                    registry: Some(ids.registry),
                    escrow: Some(ids.escrow),
                    schnorr_key_name: Some(key_name.into()),
                    local: Some(false),
                    ..Default::default()
                }
            }),
        ),
        Mode::Upgrade => (
            RegistryArg::Upgrade(None),
            EscrowArg::Upgrade(None),
            RouterArg::Upgrade(None),
        ),
    };
    progress("installing the registry");
    install_code(
        agent,
        ids.registry,
        registry_wasm,
        candid::encode_one(Some(registry_arg))?,
        opts.mode,
        "registry",
    )
    .await?;
    progress("installing the escrow");
    install_code(
        agent,
        ids.escrow,
        escrow_wasm,
        candid::encode_one(Some(escrow_arg))?,
        opts.mode,
        "escrow",
    )
    .await?;
    progress("installing the router");
    install_code(
        agent,
        ids.router,
        router_wasm,
        candid::encode_one(Some(router_arg))?,
        opts.mode,
        "router",
    )
    .await?;
    Ok(ids)
}
