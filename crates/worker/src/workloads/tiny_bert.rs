//! A tiny BERT with random weights (config, WordPiece tokenizer and
//! safetensors), generated on the spot: the embedding model of tests and of
//! the local demo when the real MiniLM package is not installed. Its
//! embeddings are meaningless but deterministic, normalised and
//! padding-invariant like a real model's, and it loads through the same
//! model store and BERT code.

use anyhow::Context;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::Path;

const WORDS: &[&str] = &[
    "the",
    "a",
    "miner",
    "gpu",
    "bitcoin",
    "rents",
    "pays",
    "developer",
    "model",
    "fast",
    "slow",
    "cat",
    "sleeps",
    "on",
    "sofa",
    "##s",
    "##ing",
    ".",
];
pub const HIDDEN: usize = 32;
const INTERMEDIATE: usize = 64;
const LAYERS: usize = 2;
pub const MAX_POSITIONS: usize = 40;

fn vocab() -> Vec<String> {
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .chain(WORDS)
        .map(|s| s.to_string())
        .collect()
}

/// Writes config.json, tokenizer.json and model.safetensors of a random
/// 2-layer BERT into `dir` (created if needed); `seed` picks the weights.
pub fn write_tiny_bert(dir: &Path, seed: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let vocab = vocab();
    let config = json!({
        "vocab_size": vocab.len(), "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": 4,
        "intermediate_size": INTERMEDIATE, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
        "max_position_embeddings": MAX_POSITIONS, "type_vocab_size": 2, "initializer_range": 0.02,
        "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute",
        "use_cache": true, "classifier_dropout": null, "model_type": "bert"
    });
    std::fs::write(dir.join("config.json"), serde_json::to_vec(&config)?)?;
    let vocab_map: serde_json::Map<String, serde_json::Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, w)| (w.clone(), json!(i)))
        .collect();
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab_map}
    });
    std::fs::write(dir.join("tokenizer.json"), serde_json::to_vec(&tokenizer)?)?;
    std::fs::write(
        dir.join("model.safetensors"),
        random_weights(vocab.len(), seed)?,
    )?;
    Ok(())
}

fn random_weights(vocab: usize, seed: u64) -> anyhow::Result<Vec<u8>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let mut add = |name: String, shape: Vec<usize>, kind: &str| {
        let count = shape.iter().product();
        let values = (0..count)
            .map(|_| match kind {
                "ones" => 1.0,
                "zeros" => 0.0,
                _ => rng.gen_range(-0.2f32..0.2),
            })
            .collect();
        tensors.push((name, shape, values));
    };
    add(
        "embeddings.word_embeddings.weight".into(),
        vec![vocab, HIDDEN],
        "random",
    );
    add(
        "embeddings.position_embeddings.weight".into(),
        vec![MAX_POSITIONS, HIDDEN],
        "random",
    );
    add(
        "embeddings.token_type_embeddings.weight".into(),
        vec![2, HIDDEN],
        "random",
    );
    let layer_norm = |add: &mut dyn FnMut(String, Vec<usize>, &str), prefix: String| {
        add(format!("{prefix}.LayerNorm.weight"), vec![HIDDEN], "ones");
        add(format!("{prefix}.LayerNorm.bias"), vec![HIDDEN], "zeros");
    };
    layer_norm(&mut add, "embeddings".into());
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}");
        for part in ["query", "key", "value"] {
            add(
                format!("{p}.attention.self.{part}.weight"),
                vec![HIDDEN, HIDDEN],
                "random",
            );
            add(
                format!("{p}.attention.self.{part}.bias"),
                vec![HIDDEN],
                "random",
            );
        }
        add(
            format!("{p}.attention.output.dense.weight"),
            vec![HIDDEN, HIDDEN],
            "random",
        );
        add(
            format!("{p}.attention.output.dense.bias"),
            vec![HIDDEN],
            "random",
        );
        layer_norm(&mut add, format!("{p}.attention.output"));
        add(
            format!("{p}.intermediate.dense.weight"),
            vec![INTERMEDIATE, HIDDEN],
            "random",
        );
        add(
            format!("{p}.intermediate.dense.bias"),
            vec![INTERMEDIATE],
            "random",
        );
        add(
            format!("{p}.output.dense.weight"),
            vec![HIDDEN, INTERMEDIATE],
            "random",
        );
        add(format!("{p}.output.dense.bias"), vec![HIDDEN], "random");
        layer_norm(&mut add, format!("{p}.output"));
    }
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(n, s, b)| {
            Ok((
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)?,
            ))
        })
        .collect::<Result<_, safetensors::SafeTensorError>>()?;
    Ok(safetensors::serialize(views, None)?)
}
