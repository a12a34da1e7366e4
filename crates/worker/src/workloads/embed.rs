//! Sentence embeddings with a BERT-family model in candle, pooled as
//! sentence-transformers does for all-MiniLM-L6-v2: tokens truncated to the
//! model's `max_seq_length`, mean over the attention mask, then L2
//! normalisation (`x / max(‖x‖, 1e-12)`).

use super::models::{compute_model_id, ModelMeta, ModelStore};
use super::{ProgressFn, ResultMatrix};
use crate::config::DeviceSpec;
use anyhow::{anyhow, bail, Context};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tensormine_core::Digest32;
use tokenizers::{Tokenizer, TruncationParams};

/// A model ready to run.
struct LoadedModel {
    model: BertModel,
    tokenizer: Tokenizer,
    meta: ModelMeta,
}

/// Runs embedding models from a store, keeping loaded models in memory.
pub struct EmbedEngine {
    store: ModelStore,
    device: Device,
    batch_size: usize,
    loaded: Mutex<BTreeMap<Digest32, Arc<LoadedModel>>>,
}

fn candle_device(spec: DeviceSpec) -> anyhow::Result<Device> {
    match spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Cuda(ordinal) => Ok(Device::new_cuda(ordinal)?),
    }
}

impl EmbedEngine {
    /// An engine over `store` on `device`, embedding `batch_size` sentences per forward pass.
    pub fn new(store: ModelStore, device: DeviceSpec, batch_size: usize) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            device: candle_device(device)?,
            batch_size: batch_size.max(1),
            loaded: Mutex::new(BTreeMap::new()),
        })
    }

    /// The model store.
    pub fn store(&self) -> &ModelStore {
        &self.store
    }

    /// Embeddings of `sentences`: one L2-normalised row per sentence.
    pub fn embed(
        &self,
        model: &Digest32,
        sentences: &[String],
        progress: ProgressFn<'_>,
    ) -> anyhow::Result<ResultMatrix> {
        let loaded = self.load(model)?;
        let dim = loaded.meta.dim as usize;
        let mut data = Vec::with_capacity(sentences.len() * dim);
        let batches = sentences.len().div_ceil(self.batch_size) as u64;
        for (i, batch) in sentences.chunks(self.batch_size).enumerate() {
            data.extend(self.embed_batch(&loaded, batch)?);
            progress(i as u64 + 1, batches);
        }
        Ok(ResultMatrix {
            rows: sentences.len(),
            cols: dim,
            data,
        })
    }

    fn load(&self, id: &Digest32) -> anyhow::Result<Arc<LoadedModel>> {
        if let Some(model) = self.loaded.lock().expect("model cache lock").get(id) {
            return Ok(model.clone());
        }
        let meta = self
            .store
            .get(id)
            .ok_or_else(|| anyhow!("unknown model {id}"))?;
        let folder = self.store.folder(id);
        let actual = compute_model_id(&folder)?;
        if actual != *id {
            bail!(
                "model files in {} hash to {actual}, not {id}: the store was modified",
                folder.display()
            );
        }
        let config: BertConfig =
            serde_json::from_slice(&std::fs::read(folder.join("config.json"))?)
                .context("parsing config.json")?;
        // SAFETY: the weights file is memory-mapped read-only; the store never
        // rewrites a model folder in place (imports go to a new id's folder).
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(
                &[folder.join("model.safetensors")],
                DType::F32,
                &self.device,
            )?
        };
        let model = BertModel::load(vb, &config).context("loading BERT weights")?;
        let mut tokenizer = Tokenizer::from_file(folder.join("tokenizer.json"))
            .map_err(|e| anyhow!("loading tokenizer.json: {e}"))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: meta.max_seq_len,
                ..Default::default()
            }))
            .map_err(|e| anyhow!("configuring truncation: {e}"))?;
        let loaded = Arc::new(LoadedModel {
            model,
            tokenizer,
            meta,
        });
        self.loaded
            .lock()
            .expect("model cache lock")
            .insert(*id, loaded.clone());
        Ok(loaded)
    }

    fn embed_batch(&self, loaded: &LoadedModel, sentences: &[String]) -> anyhow::Result<Vec<f32>> {
        let encodings = loaded
            .tokenizer
            .encode_batch(sentences.to_vec(), true)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
        let width = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0)
            .max(1);
        let (mut ids, mut mask) = (Vec::new(), Vec::new());
        for encoding in &encodings {
            let padding = width - encoding.get_ids().len();
            ids.extend(
                encoding
                    .get_ids()
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, padding)),
            );
            mask.extend(
                std::iter::repeat_n(1u32, encoding.get_ids().len())
                    .chain(std::iter::repeat_n(0, padding)),
            );
        }
        let shape = (sentences.len(), width);
        let ids = Tensor::from_vec(ids, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let token_types = ids.zeros_like()?;
        let hidden = loaded.model.forward(&ids, &token_types, Some(&mask))?;
        let pooled = mean_pool(&hidden, &mask)?;
        Ok(l2_normalise_rows(
            pooled.flatten_all()?.to_vec1::<f32>()?,
            loaded.meta.dim as usize,
        ))
    }
}

/// Mean of token vectors over the attention mask: (batch, seq, hidden) → (batch, hidden).
fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    summed.broadcast_div(&counts)
}

/// Normalises each row to unit L2 norm as `torch.nn.functional.normalize` does.
fn l2_normalise_rows(mut data: Vec<f32>, dim: usize) -> Vec<f32> {
    for row in data.chunks_mut(dim) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|x| *x /= norm);
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_gives_unit_rows_and_keeps_zero_rows() {
        let rows = l2_normalise_rows(vec![3.0, 4.0, 0.0, 0.0], 2);
        assert_eq!(rows, vec![0.6, 0.8, 0.0, 0.0]);
    }

    #[test]
    fn mean_pool_ignores_padding() {
        let hidden =
            Tensor::from_vec(vec![1f32, 2., 3., 4., 100., 100.], (1, 3, 2), &Device::Cpu).unwrap();
        let mask = Tensor::from_vec(vec![1u32, 1, 0], (1, 3), &Device::Cpu).unwrap();
        let pooled = mean_pool(&hidden, &mask)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(pooled, vec![2.0, 3.0]);
    }
}
