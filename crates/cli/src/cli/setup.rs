//! Setting up: identities, the local network, deploying the canisters and the demo.

use super::args::{DemoArgs, DeployArgs, NetworkCmd};
use super::Cli;
use crate::config::{CanisterIds, Network};
use crate::identity::{self, IdentitySource};
use crate::{deploy, env, network};
use anyhow::{anyhow, bail, Result};
use std::path::{Path, PathBuf};

/// `identity new FILE`.
pub(super) fn new_identity(file: &Path) -> Result<()> {
    if file.exists() {
        bail!(
            "{} exists: not overwriting a key (pick another file)",
            file.display()
        );
    }
    identity::create_default(file)?;
    let id = identity::load(&IdentitySource::Pem(file.to_path_buf()))?;
    println!("{}", id.principal);
    eprintln!(
        "wrote a new ed25519 key to {} (use it with --pem {})",
        file.display(),
        file.display()
    );
    Ok(())
}

/// `network start|stop|status`.
pub(super) async fn run_network(cli: &Cli, cmd: &NetworkCmd) -> Result<()> {
    match cmd {
        NetworkCmd::Start { port } => {
            if cli.network != Network::Local {
                bail!("`network start` starts the local network; drop --network");
            }
            let server = network::find_server()?;
            let file = network::start(&cli.state_dir, *port, &server).await?;
            println!(
                "local network running at {} (pid {})",
                file.url,
                file.pid.unwrap_or(0)
            );
            println!(
                "wrote {}; next: `tensormine deploy`",
                crate::config::LocalNetworkFile::path(&cli.state_dir).display()
            );
        }
        NetworkCmd::Stop => {
            let file = network::stop(&cli.state_dir)?;
            println!("stopped the local network at {}", file.url);
        }
        NetworkCmd::Status => {
            let file = crate::config::LocalNetworkFile::load(&cli.state_dir)?;
            if network::is_running(&file).await {
                println!(
                    "running at {} (pid {})",
                    file.url,
                    file.pid
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "?".into())
                );
            } else {
                bail!(
                    "the local network at {} does not answer: run `tensormine network start`",
                    file.url
                );
            }
        }
    }
    Ok(())
}

/// The canister Wasm: `given`, else built by scripts/build-canisters.sh of the
/// repository around the working directory.
fn wasm_dir_or_build(given: Option<&Path>) -> Result<PathBuf> {
    Ok(match given {
        Some(d) => d.to_path_buf(),
        None => {
            let cwd = std::env::current_dir()?;
            let root = deploy::find_repo_root(&cwd).ok_or_else(|| {
                anyhow!("not inside the tensormine repository (no scripts/build-canisters.sh above {}): run there, or pass --wasm-dir DIR", cwd.display())
            })?;
            deploy::build_canisters(&root)?
        }
    })
}

/// `demo`.
pub(super) async fn run_demo(args: &DemoArgs) -> Result<()> {
    let server_bin = match &args.localnet_server {
        Some(p) => p.clone(),
        None => network::find_server()?,
    };
    let worker_bin = match &args.worker {
        Some(p) => p.clone(),
        None => crate::demo::find_worker()?,
    };
    let wasm_dir = wasm_dir_or_build(args.wasm_dir.as_deref())?;
    let summary = crate::demo::run(&crate::demo::DemoOptions {
        server_bin,
        worker_bin,
        wasm_dir,
        short: args.short,
        verbose: true,
    })
    .await?;
    print!("{}", crate::demo::render(&summary));
    Ok(())
}

/// `deploy`.
pub(super) async fn run_deploy(cli: &Cli, args: &DeployArgs) -> Result<()> {
    let id = cli.load_identity()?;
    let wasm_dir = wasm_dir_or_build(args.wasm_dir.as_deref())?;
    let ids_path = cli
        .canisters
        .clone()
        .unwrap_or_else(|| CanisterIds::default_path(&cli.state_dir, &cli.network));
    let existing = if args.upgrade || !cli.network.is_local() {
        Some(CanisterIds::load(&ids_path, &cli.network)?)
    } else {
        None
    };
    let agent = env::build_agent(&cli.network, &cli.state_dir, &id).await?;
    let opts = deploy::DeployOptions {
        network: cli.network.clone(),
        wasm_dir,
        mode: if args.upgrade {
            deploy::Mode::Upgrade
        } else {
            deploy::Mode::Install
        },
        existing,
        fund: args.fund.clone(),
    };
    let ids = deploy::deploy(&agent, id.principal, &opts, |step| eprintln!("{step}…")).await?;
    ids.save(&ids_path)?;
    println!("registry       {}", ids.registry);
    println!("escrow         {}", ids.escrow);
    println!("router         {}", ids.router);
    if let Some(l) = ids.ckbtc_ledger {
        println!("ckBTC ledger   {l}");
    }
    println!("wrote {}", ids_path.display());
    Ok(())
}
