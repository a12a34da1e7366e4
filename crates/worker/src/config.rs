//! Worker configuration: defaults, overridden by a TOML file, overridden by
//! environment variables and command-line flags (clap reads both).

use anyhow::{bail, Context};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tensormine_core::api::Workload;

/// A compute device the worker may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The host CPU.
    Cpu,
    /// CUDA device by ordinal (needs the `cuda` feature).
    Cuda(usize),
}

impl std::str::FromStr for DeviceSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "cpu" => Ok(DeviceSpec::Cpu),
            _ => text
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| format!("unknown device {text:?}; use \"cpu\" or \"cuda:N\"")),
        }
    }
}

/// The configuration file (`--config`, TOML). Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    pub listen: Option<String>,
    /// Directory for the key, jobs and (by default) models.
    pub data_dir: Option<PathBuf>,
    /// Directory of imported models.
    pub model_store: Option<PathBuf>,
    /// Jobs run at once.
    pub concurrency: Option<usize>,
    /// Workloads offered.
    pub workloads: Option<Vec<Workload>>,
    /// Devices: "cpu", "cuda:0", …
    pub devices: Option<Vec<String>>,
    /// Threads per GEMM / embedding computation.
    pub threads: Option<usize>,
    /// Upper bound on the memory a matmul job may need (A, B and C).
    pub max_matrix_bytes: Option<u64>,
    /// Upper bound on a request body.
    pub max_body_bytes: Option<usize>,
    /// Most sentences in one embed job.
    pub max_sentences: Option<usize>,
}

/// Settings given as flags or environment variables (all optional).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Configuration file (TOML).
    #[arg(long, env = "TENSORMINE_WORKER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Listen address, e.g. 0.0.0.0:8080.
    #[arg(long, env = "TENSORMINE_WORKER_LISTEN")]
    pub listen: Option<String>,
    /// Data directory.
    #[arg(long, env = "TENSORMINE_WORKER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Model store directory (default: DATA_DIR/models).
    #[arg(long, env = "TENSORMINE_WORKER_MODEL_STORE")]
    pub model_store: Option<PathBuf>,
    /// Jobs run at once.
    #[arg(long, env = "TENSORMINE_WORKER_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Workloads offered, comma-separated (matmul,embed).
    #[arg(long, env = "TENSORMINE_WORKER_WORKLOADS", value_delimiter = ',')]
    pub workloads: Option<Vec<String>>,
    /// Devices, comma-separated (cpu, cuda:0, …).
    #[arg(long, env = "TENSORMINE_WORKER_DEVICES", value_delimiter = ',')]
    pub devices: Option<Vec<String>>,
    /// Threads per computation (default: all cores).
    #[arg(long, env = "TENSORMINE_WORKER_THREADS")]
    pub threads: Option<usize>,
    /// FOR DEMOS AND TESTS ONLY (hidden): a dishonest worker that corrupts
    /// this many rows of every matmul job result after computing it, with
    /// commitments consistent with the corrupted matrix, so only verification
    /// (Freivalds, sampled rows) exposes it. Capability challenges are
    /// answered honestly. Never use it on a real network: the bond is slashed.
    #[arg(long, hide = true)]
    pub dishonest_corrupt_rows: Option<usize>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Key, jobs.
    pub data_dir: PathBuf,
    /// Imported models.
    pub model_store: PathBuf,
    /// Jobs run at once (≥ 1).
    pub concurrency: usize,
    /// Workloads offered.
    pub workloads: Vec<Workload>,
    /// Devices used, first one preferred.
    pub devices: Vec<DeviceSpec>,
    /// Threads per computation.
    pub threads: usize,
    /// Most memory one matmul may need.
    pub max_matrix_bytes: u64,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Most sentences per embed job.
    pub max_sentences: usize,
    /// FOR DEMOS AND TESTS ONLY: corrupt this many rows of every matmul job
    /// result after computing it (0 = honest). See `--dishonest-corrupt-rows`.
    pub dishonest_corrupt_rows: usize,
}

fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Config {
    /// Defaults for a data directory: listen on 127.0.0.1:8787, CPU only,
    /// both workloads, one job at a time, matmul up to 4 GiB of operands.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            listen: "127.0.0.1:8787".parse().expect("valid address"),
            model_store: data_dir.join("models"),
            data_dir,
            concurrency: 1,
            workloads: vec![Workload::Matmul, Workload::Embed],
            devices: vec![DeviceSpec::Cpu],
            threads: available_threads(),
            max_matrix_bytes: 4 << 30,
            max_body_bytes: 4 << 20,
            max_sentences: 1024,
            dishonest_corrupt_rows: 0,
        }
    }

    /// Defaults ← file ← flags/environment.
    pub fn load(overrides: &Overrides) -> anyhow::Result<Self> {
        let file = match &overrides.config {
            Some(path) => read_file_config(path)?,
            None => FileConfig::default(),
        };
        let data_dir = overrides
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("tensormine-worker-data"));
        let mut config = Self::with_data_dir(data_dir);
        config.apply_file(file)?;
        config.apply_overrides(overrides)?;
        config.validate()?;
        Ok(config)
    }

    fn apply_file(&mut self, file: FileConfig) -> anyhow::Result<()> {
        if let Some(listen) = file.listen {
            self.listen = parse_listen(&listen)?;
        }
        if let Some(store) = file.model_store {
            self.model_store = store;
        }
        self.concurrency = file.concurrency.unwrap_or(self.concurrency);
        self.workloads = file
            .workloads
            .unwrap_or(std::mem::take(&mut self.workloads));
        if let Some(devices) = file.devices {
            self.devices = parse_devices(&devices)?;
        }
        self.threads = file.threads.unwrap_or(self.threads);
        self.max_matrix_bytes = file.max_matrix_bytes.unwrap_or(self.max_matrix_bytes);
        self.max_body_bytes = file.max_body_bytes.unwrap_or(self.max_body_bytes);
        self.max_sentences = file.max_sentences.unwrap_or(self.max_sentences);
        Ok(())
    }

    fn apply_overrides(&mut self, o: &Overrides) -> anyhow::Result<()> {
        if let Some(listen) = &o.listen {
            self.listen = parse_listen(listen)?;
        }
        if let Some(store) = &o.model_store {
            self.model_store = store.clone();
        }
        self.concurrency = o.concurrency.unwrap_or(self.concurrency);
        if let Some(names) = &o.workloads {
            self.workloads = names
                .iter()
                .map(|n| parse_workload(n))
                .collect::<anyhow::Result<_>>()?;
        }
        if let Some(devices) = &o.devices {
            self.devices = parse_devices(devices)?;
        }
        self.threads = o.threads.unwrap_or(self.threads);
        self.dishonest_corrupt_rows = o
            .dishonest_corrupt_rows
            .unwrap_or(self.dishonest_corrupt_rows);
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.concurrency == 0 || self.threads == 0 {
            bail!("concurrency and threads must be at least 1");
        }
        if self.workloads.is_empty() {
            bail!("the worker must offer at least one workload");
        }
        if self
            .devices
            .iter()
            .any(|d| matches!(d, DeviceSpec::Cuda(_)))
            && !cfg!(feature = "cuda")
        {
            bail!(
                "a cuda device is configured but this binary was built without the `cuda` feature"
            );
        }
        Ok(())
    }

    /// Path of the worker's ed25519 key.
    pub fn key_path(&self) -> PathBuf {
        self.data_dir.join("worker.key")
    }

    /// Directory of persisted jobs.
    pub fn jobs_dir(&self) -> PathBuf {
        self.data_dir.join("jobs")
    }
}

fn read_file_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

fn parse_listen(text: &str) -> anyhow::Result<SocketAddr> {
    text.parse()
        .with_context(|| format!("invalid listen address {text:?}"))
}

fn parse_workload(name: &str) -> anyhow::Result<Workload> {
    serde_json::from_value(serde_json::Value::String(name.trim().to_string()))
        .map_err(|_| anyhow::anyhow!("unknown workload {name:?}; known: matmul, embed"))
}

fn parse_devices(names: &[String]) -> anyhow::Result<Vec<DeviceSpec>> {
    names
        .iter()
        .map(|n| n.trim().parse::<DeviceSpec>().map_err(anyhow::Error::msg))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nconcurrency = 3\nworkloads = [\"matmul\"]\n",
        )
        .unwrap();
        let overrides = Overrides {
            config: Some(path),
            concurrency: Some(2),
            data_dir: Some(dir.path().into()),
            ..Default::default()
        };
        let config = Config::load(&overrides).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.concurrency, 2);
        assert_eq!(config.workloads, vec![Workload::Matmul]);
        assert_eq!(config.model_store, dir.path().join("models"));
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::load(&Overrides {
            workloads: Some(vec!["train".into()]),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("train"));
        assert!("gpu".parse::<DeviceSpec>().unwrap_err().contains("gpu"));
        assert_eq!("cuda:1".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(1)));
    }
}
