//! # tensormine-worker
//!
//! The miner's daemon: runs `matmul` and `embed` workloads behind the `/v1`
//! HTTP API that the router and registry canisters call by HTTPS outcall.
//! Results are committed (Merkle root over rows, sha256) and signed with the
//! worker's ed25519 key; jobs persist in the data directory.

pub mod bench;
pub mod config;
pub mod error;
pub mod http;
pub mod inventory;
pub mod jobs;
pub mod keys;
pub mod store;
pub mod workloads;

use std::sync::Arc;

/// Embedding sentences per forward pass.
pub const EMBED_BATCH: usize = 64;

/// A worker assembled from its configuration, ready to serve.
pub struct Worker {
    /// Handler state.
    pub state: Arc<http::AppState>,
    /// Largest request body.
    pub max_body_bytes: usize,
}

impl Worker {
    /// Builds the worker: key, job store (resuming persisted jobs), workloads.
    /// `executor` replaces the real workloads (tests use doubles); must run
    /// inside a tokio runtime.
    pub fn build(
        config: &config::Config,
        key: keys::WorkerKey,
        executor: Option<Arc<dyn workloads::Executor>>,
    ) -> anyhow::Result<Self> {
        let models = workloads::models::ModelStore::new(&config.model_store);
        let executor = match executor {
            Some(executor) => executor,
            None => Arc::new(real_workloads(config)?) as Arc<dyn workloads::Executor>,
        };
        let jobs = jobs::JobManager::start(jobs::ManagerParts {
            store: store::JobStore::open(config.jobs_dir())?,
            key,
            executor,
            models: models.clone(),
            limits: jobs::Limits::from_config(config),
            concurrency: config.concurrency,
            threads: config.threads,
        });
        let state = http::AppState {
            jobs,
            models,
            workloads: config.workloads.clone(),
            inventory: inventory::detect(),
        };
        Ok(Self {
            state: Arc::new(state),
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// The HTTP router.
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone(), self.max_body_bytes)
    }
}

/// The real workloads on the configured first device.
pub fn real_workloads(config: &config::Config) -> anyhow::Result<workloads::Workloads> {
    let device = config
        .devices
        .first()
        .copied()
        .unwrap_or(config::DeviceSpec::Cpu);
    Ok(workloads::Workloads {
        matmul: workloads::matmul::MatmulEngine::new(device, config.threads),
        embed: workloads::embed::EmbedEngine::new(
            workloads::models::ModelStore::new(&config.model_store),
            device,
            EMBED_BATCH,
        )?,
    })
}
