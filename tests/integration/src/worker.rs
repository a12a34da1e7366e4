//! A real `tensormine-worker` on 127.0.0.1 for live-outcall tests: the
//! daemon's own router and HTTP server on a background tokio runtime, with
//! its real workloads or a test double (for instance one that corrupts rows).

use std::sync::Arc;
use tensormine_worker::config::Config;
use tensormine_worker::keys::WorkerKey;
use tensormine_worker::workloads::{Executor, ProgressFn, ResultMatrix, WorkItem};

/// A running worker; stopped when dropped.
pub struct LoopbackWorker {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The worker's ed25519 key.
    pub signing_key: ed25519_dalek::SigningKey,
    /// Id of the tiny random BERT every test worker has in its model store
    /// (the same weights on every worker, so replicas agree).
    pub tiny_model: tensormine_core::Digest32,
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _data_dir: tempfile::TempDir,
}

impl LoopbackWorker {
    /// Starts a worker with key `[key_byte; 32]`; `executor` replaces the real workloads.
    pub fn start(key_byte: u8, executor: Option<Arc<dyn Executor>>) -> Self {
        Self::start_wrapped(key_byte, move |real| executor.unwrap_or(real))
    }

    /// Starts a worker whose executor is `wrap` applied to its real
    /// workloads (which see the worker's own model store).
    pub fn start_wrapped(
        key_byte: u8,
        wrap: impl FnOnce(Arc<dyn Executor>) -> Arc<dyn Executor>,
    ) -> Self {
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let mut config = Config::with_data_dir(data_dir.path());
        config.threads = 2;
        config.concurrency = 2;
        let tiny_model = import_tiny_model(&config);
        let real: Arc<dyn Executor> =
            Arc::new(tensormine_worker::real_workloads(&config).expect("real workloads"));
        let executor = Some(wrap(real));
        let signing_key = ed25519_dalek::SigningKey::from_bytes(&[key_byte; 32]);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let key = WorkerKey::from_signing_key(signing_key.clone());
        let listener = runtime.block_on(async {
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind loopback")
        });
        let url = format!("http://{}", listener.local_addr().expect("bound address"));
        let worker = runtime.block_on(async {
            tensormine_worker::Worker::build(&config, key, executor).expect("worker builds")
        });
        runtime.spawn(tensormine_worker::http::serve(
            listener,
            worker.router(),
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            url,
            signing_key,
            tiny_model,
            runtime: Some(runtime),
            shutdown: Some(shutdown),
            _data_dir: data_dir,
        }
    }

    /// The worker's public key bytes.
    pub fn public_key(&self) -> Vec<u8> {
        self.signing_key.verifying_key().to_bytes().to_vec()
    }

    /// The result bytes of a finished job, as the worker stores (and serves) them.
    pub fn result_bytes(&self, job_id: &str) -> Vec<u8> {
        let config = Config::with_data_dir(self._data_dir.path());
        tensormine_worker::store::JobStore::open(config.jobs_dir())
            .and_then(|s| s.read_result(job_id))
            .expect("the worker stored the result")
    }
}

impl LoopbackWorker {
    /// Stops the server (a killed worker): connections are refused from now on.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for LoopbackWorker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Generates the tiny BERT (seed 1) and imports it into the worker's store.
fn import_tiny_model(config: &Config) -> tensormine_core::Digest32 {
    let source = tempfile::tempdir().expect("temporary directory");
    tensormine_worker::workloads::tiny_bert::write_tiny_bert(source.path(), 1).expect("tiny model");
    let store = tensormine_worker::workloads::models::ModelStore::new(config.model_store.clone());
    store
        .import(source.path(), Some("tiny-bert"))
        .expect("model import")
        .id
}

/// The real workloads for a test worker.
pub fn real_executor() -> Arc<dyn Executor> {
    let dir = std::env::temp_dir();
    let mut config = Config::with_data_dir(&dir);
    config.threads = 2;
    Arc::new(tensormine_worker::real_workloads(&config).expect("real workloads"))
}

/// A dishonest executor: computes the real result, then adds `delta` to
/// element (row, row mod cols) of every listed row. Its commitment and Merkle
/// paths are consistent with the corrupted matrix, so only recomputation
/// (Freivalds or the sampled rows) exposes it. Distinct columns make the
/// rows' Freivalds errors `delta·r[col]` independent: one small `r[col]`
/// cannot hide them all.
pub struct CorruptRows {
    pub inner: Arc<dyn Executor>,
    pub rows: Vec<usize>,
    pub delta: f32,
}

impl Executor for CorruptRows {
    fn run(&self, item: WorkItem, progress: ProgressFn<'_>) -> anyhow::Result<ResultMatrix> {
        let mut result = self.inner.run(item, progress)?;
        for &row in self.rows.iter().filter(|&&r| r < result.rows) {
            result.data[row * result.cols + row % result.cols] += self.delta;
        }
        Ok(result)
    }
}
