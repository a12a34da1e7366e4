//! Arguments to requests: the job request of [`SpecArgs`] and the miner
//! profile of [`ProfileArgs`].

use super::args::{ProfileArgs, SpecArgs};
use crate::{job, miner};
use anyhow::{anyhow, bail, Result};
use tensormine_core::registry::MinerProfile;
use tensormine_core::router::JobRequest;

/// The seeds of A and B of a seeded matmul.
pub type Seeds = ([u8; 32], [u8; 32]);

impl SpecArgs {
    /// The job request (random seeds are drawn here and reported through `seeds`).
    pub fn request(&self) -> Result<(JobRequest, Option<Seeds>)> {
        let (workload, seeds) = if let Some((m, k, n)) = self.matmul {
            let a = self.seed_a.unwrap_or_else(job::random_seed);
            let b = self.seed_b.unwrap_or_else(job::random_seed);
            (job::matmul_workload(m, k, n, a, b), Some((a, b)))
        } else {
            let model = self
                .model
                .ok_or_else(|| anyhow!("embedding needs --model HEX"))?;
            let sentences = match &self.embed_file {
                Some(path) => job::read_sentences(path)?,
                None => self.sentence.clone(),
            };
            (job::embed_workload(model, sentences), None)
        };
        let min_mem = match self.min_gpu_memory {
            Some(g) if !(g.is_finite() && g > 0.0) => {
                bail!("--min-gpu-memory must be a positive number of GiB")
            }
            Some(g) => Some((g * (1u64 << 30) as f64).round() as u64),
            None => None,
        };
        Ok((
            job::request(
                workload,
                self.tier,
                self.max_price,
                self.deadline,
                min_mem,
                self.idempotency_key.clone(),
            ),
            seeds,
        ))
    }
}

impl ProfileArgs {
    fn worker_public_key(&self) -> Result<Option<[u8; 32]>> {
        match (&self.worker_key, &self.worker_data_dir) {
            (Some(k), _) => Ok(Some(*k)),
            (None, Some(dir)) => Ok(Some(miner::worker_key_from_data_dir(dir)?)),
            (None, None) => Ok(None),
        }
    }

    /// A complete profile for `register`.
    pub fn profile(&self) -> Result<MinerProfile> {
        let key = self.worker_public_key()?.ok_or_else(|| {
            anyhow!("pass the worker's key: --worker-key HEX or --worker-data-dir DIR")
        })?;
        let endpoint = self
            .endpoint
            .clone()
            .ok_or_else(|| anyhow!("pass the worker's URL with --endpoint"))?;
        let btc_address = self
            .btc_address
            .clone()
            .ok_or_else(|| anyhow!("pass a payout address with --btc-address"))?;
        if self.gpu.is_empty() {
            bail!("pass at least one --gpu model:memGiB:count");
        }
        if self.offer.is_empty() {
            bail!("pass at least one --offer, e.g. --offer matmul=5");
        }
        Ok(MinerProfile {
            endpoint,
            worker_public_key: key.to_vec(),
            gpus: self.gpu.clone(),
            offers: self.offer.clone(),
            btc_address,
            region: self.region.clone().unwrap_or_default(),
            labels: self.label.clone(),
        })
    }

    /// `current` with the given fields replaced (for `update`).
    pub fn apply(&self, mut current: MinerProfile) -> Result<MinerProfile> {
        if let Some(key) = self.worker_public_key()? {
            current.worker_public_key = key.to_vec();
        }
        if let Some(e) = &self.endpoint {
            current.endpoint = e.clone();
        }
        if let Some(a) = &self.btc_address {
            current.btc_address = a.clone();
        }
        if !self.gpu.is_empty() {
            current.gpus = self.gpu.clone();
        }
        if !self.offer.is_empty() {
            current.offers = self.offer.clone();
        }
        if let Some(r) = &self.region {
            current.region = r.clone();
        }
        if !self.label.is_empty() {
            current.labels = self.label.clone();
        }
        Ok(current)
    }
}
