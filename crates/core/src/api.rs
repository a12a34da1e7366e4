//! Wire types of the worker's HTTP API (`/v1`, JSON).
//!
//! All types are structs and enums with a fixed field order and no maps, so
//! serialising the same value always yields the same bytes — every replica of
//! an IC subnet must read identical responses. Nothing a canister reads holds
//! timestamps or per-request data; the one varying part, [`Load`] in
//! [`Health`], is a separate field a canister's transform drops.
//! Float arrays travel as base64 of little-endian bytes ([`crate::encoding`]).

use crate::encoding::{F32Array, F64Array};
use crate::Digest32;
use core::fmt;
use serde::{Deserialize, Serialize};

/// Path prefix of every endpoint.
pub const API_PREFIX: &str = "/v1";
/// Largest body of `GET /v1/jobs/{id}/result` (2 MB, below the IC's 2 MiB reply cap).
pub const MAX_RESULT_CHUNK_BYTES: u64 = 2_000_000;
/// Header of `GET /v1/jobs/{id}/result` giving the result's total length.
pub const RESULT_LENGTH_HEADER: &str = "x-tensormine-result-length";
/// Longest accepted job or challenge id.
pub const MAX_ID_LEN: usize = 128;

/// Checks that an id is 1–128 characters of `A-Z a-z 0-9 . _ : -`.
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!(
            "id must have 1 to {MAX_ID_LEN} characters, got {}",
            id.len()
        ));
    }
    match id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        Some(c) => Err(format!(
            "id contains {c:?}; allowed are A-Z a-z 0-9 . _ : -"
        )),
        None => Ok(()),
    }
}

/// A workload a worker can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// Dense f32 GEMM.
    Matmul,
    /// Sentence embeddings with a BERT-family model.
    Embed,
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Workload::Matmul => "matmul",
            Workload::Embed => "embed",
        })
    }
}

/// Bytes in lowercase hex (public keys, signatures).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct HexBytes(pub Vec<u8>);

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexBytes({})", crate::digest::to_hex(&self.0))
    }
}

impl Serialize for HexBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::digest::to_hex(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        crate::digest::from_hex(&text)
            .map(HexBytes)
            .map_err(serde::de::Error::custom)
    }
}

/// `POST /v1/jobs` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// Caller-chosen id, the idempotency key ([`validate_id`]).
    pub job_id: String,
    /// What to compute.
    pub spec: JobSpec,
    /// The job's capability: a secret the router draws per assignment and
    /// never shows. When set, the worker answers the job's status, result
    /// and challenge only to requests carrying it ([`CAPABILITY_HEADER`]:
    /// `Bearer <capability>`), and refuses the id under another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
}

/// The header a job's capability travels in (`authorization: Bearer …`).
pub const CAPABILITY_HEADER: &str = "authorization";

/// The header value carrying `capability`.
pub fn bearer(capability: &str) -> String {
    format!("Bearer {capability}")
}

/// What a job computes. Its hash is [`crate::signing::spec_hash`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "workload", rename_all = "snake_case", deny_unknown_fields)]
pub enum JobSpec {
    /// `C = A·B` with A m×k and B k×n.
    Matmul(MatmulSpec),
    /// Embeddings of sentences.
    Embed(EmbedSpec),
}

impl JobSpec {
    /// The workload this spec needs.
    pub fn workload(&self) -> Workload {
        match self {
            JobSpec::Matmul(_) => Workload::Matmul,
            JobSpec::Embed(_) => Workload::Embed,
        }
    }
}

/// A matrix product job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatmulSpec {
    /// Rows of A and C.
    pub m: u32,
    /// Columns of A, rows of B.
    pub k: u32,
    /// Columns of B and C.
    pub n: u32,
    /// Left operand.
    pub a: MatrixSource,
    /// Right operand.
    pub b: MatrixSource,
}

impl MatmulSpec {
    /// The verification shape.
    pub fn shape(&self) -> crate::verify::Shape {
        crate::verify::Shape {
            m: self.m as usize,
            k: self.k as usize,
            n: self.n as usize,
        }
    }
}

/// Where a matmul operand comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MatrixSource {
    /// Generated by [`crate::prng`] from `seed` (stream A or B by position).
    Seeded {
        /// 32-byte seed.
        seed: Digest32,
    },
    /// Carried in the request itself (small operands: the router's inline
    /// inputs), row-major, exactly rows·cols values.
    Inline {
        /// The values (base64 of little-endian f32 on the wire).
        data: F32Array,
    },
    /// Downloaded: raw little-endian f32, row-major, exactly rows·cols·4 bytes.
    Url {
        /// http(s) URL.
        url: String,
        /// sha256 of the downloaded bytes.
        sha256: Digest32,
    },
}

/// A sentence-embedding job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedSpec {
    /// Model id (see the worker's model store: a tagged sha256 over the
    /// sha256 of config, weights and tokenizer).
    pub model: Digest32,
    /// Sentences to embed; the result has one row per sentence.
    pub sentences: Vec<String>,
}

/// `POST /v1/jobs` answer; identical for every repetition of the same request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobAck {
    /// The job id.
    pub job_id: String,
    /// [`crate::signing::spec_hash`] of the accepted spec.
    pub spec_hash: Digest32,
    /// The worker's ed25519 public key, which will sign the result.
    pub worker_public_key: HexBytes,
}

/// Lifecycle of a job on the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted, waiting for a slot.
    Queued,
    /// Being computed.
    Running,
    /// Finished; the result is committed and signed.
    Done,
    /// Failed; `error` says why.
    Failed,
}

/// Coarse progress: units of work done out of total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Progress {
    /// Units done.
    pub done: u64,
    /// Units in all.
    pub total: u64,
}

/// Commitment to a result matrix (rows × cols f32, little-endian, row-major).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultCommitment {
    /// Rows of the result (C's rows; one per sentence for embed).
    pub rows: u64,
    /// Columns of the result.
    pub cols: u64,
    /// [`crate::merkle`] root over the rows.
    pub merkle_root: Digest32,
    /// sha256 of the whole result bytes.
    pub sha256: Digest32,
    /// Length of the result bytes (rows · cols · 4).
    pub byte_len: u64,
}

/// A commitment and the worker's signature over
/// [`crate::signing::result_message`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedResult {
    /// What the worker commits to.
    pub commitment: ResultCommitment,
    /// 64-byte ed25519 signature.
    pub signature: HexBytes,
}

/// `GET /v1/jobs/{id}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    /// The job id.
    pub job_id: String,
    /// Hash of its spec.
    pub spec_hash: Digest32,
    /// Its workload.
    pub workload: Workload,
    /// Current state.
    pub state: JobState,
    /// Progress (changes while running; canisters poll until a final state).
    pub progress: Progress,
    /// Present when `state` is `done`.
    pub result: Option<SignedResult>,
    /// Present when `state` is `failed`.
    pub error: Option<String>,
}

/// `POST /v1/jobs/{id}/challenge` body (matmul jobs only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// Seed of the Freivalds vector `r` ([`crate::prng::challenge_vector`], length n).
    pub r_seed: Digest32,
    /// Rows of C to open, with Merkle paths.
    pub rows: Vec<u64>,
}

/// One opened row of C.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvenRow {
    /// Row index.
    pub index: u64,
    /// The row's values.
    pub values: F32Array,
    /// Merkle path ([`crate::merkle::RowMerkleTree::proof`]).
    pub path: Vec<Digest32>,
}

/// `POST /v1/jobs/{id}/challenge` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// The job id.
    pub job_id: String,
    /// The committed root the rows open against.
    pub merkle_root: Digest32,
    /// `y = C·r`, accumulated in f64 ([`crate::verify::mat_vec_f64`]).
    pub y: F64Array,
    /// The requested rows, in request order.
    pub rows: Vec<ProvenRow>,
}

/// Encoded size of a challenge answer, to keep it under the 2 MB reply cap.
pub fn challenge_response_size(m: u64, n: u64, rows: u64) -> u64 {
    let b64 = |bytes: u64| bytes.div_ceil(3) * 4;
    let depth = 64 - m.leading_zeros() as u64;
    let per_row = b64(n * 4) + depth * 67 + 64;
    b64(m * 8) + rows * per_row + 256
}

/// Most rows of an `m × n` result one challenge answer of at most `limit`
/// bytes can open (0 when not even one fits): a challenge of more rows is
/// asked in batches of this many.
pub fn challenge_rows_per_answer(m: u64, n: u64, limit: u64) -> u64 {
    let fixed = challenge_response_size(m, n, 0);
    let per_row = challenge_response_size(m, n, 1) - fixed;
    limit.saturating_sub(fixed) / per_row
}

/// `POST /v1/challenges` body: a capability challenge, a seeded n×n×n matmul.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityChallenge {
    /// Challenge id ([`validate_id`]); the job id is [`Self::job_id`].
    pub challenge_id: String,
    /// Matrix size.
    pub n: u32,
    /// Seed of both A (stream A) and B (stream B).
    pub seed: Digest32,
    /// Milliseconds the worker may take to commit, from receiving the request.
    pub deadline_ms: u64,
}

impl CapabilityChallenge {
    /// Id of the matmul job the challenge becomes (`"challenge:" + challenge_id`).
    pub fn job_id(&self) -> String {
        format!("challenge:{}", self.challenge_id)
    }

    /// The job spec the challenge stands for.
    pub fn spec(&self) -> JobSpec {
        let seeded = MatrixSource::Seeded { seed: self.seed };
        JobSpec::Matmul(MatmulSpec {
            m: self.n,
            k: self.n,
            n: self.n,
            a: seeded.clone(),
            b: seeded,
        })
    }
}

/// `POST /v1/challenges` answer: the signed commitment to C. The canister
/// then challenges it with `POST /v1/jobs/{job_id}/challenge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapabilityCommitment {
    /// The challenge id.
    pub challenge_id: String,
    /// The job id to challenge.
    pub job_id: String,
    /// Hash of the job spec.
    pub spec_hash: Digest32,
    /// Signed commitment to C.
    pub result: SignedResult,
}

/// Hardware of a worker, in the form the registry stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Inventory {
    /// The CPU.
    pub cpu: CpuInfo,
    /// GPUs (empty without NVML).
    pub gpus: Vec<GpuInfo>,
}

/// CPU and memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CpuInfo {
    /// Model name.
    pub model: String,
    /// Logical cores.
    pub cores: u32,
    /// Physical memory in bytes.
    pub memory_bytes: u64,
}

/// One GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// Device name as reported by the driver.
    pub name: String,
    /// Device memory in bytes.
    pub memory_bytes: u64,
    /// Driver's device UUID.
    pub uuid: String,
}

/// An embedding model offered by the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Model id (as in [`EmbedSpec::model`]).
    pub id: Digest32,
    /// Human-readable name (the store folder).
    pub name: String,
    /// Embedding width.
    pub dim: u32,
}

/// Momentary load; the only varying part of [`Health`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Load {
    /// Jobs waiting.
    pub queued: u32,
    /// Jobs running.
    pub running: u32,
}

/// `GET /v1/health` answer. Everything but `load` is fixed for a running
/// worker; canisters should fetch it with a transform that zeroes `load`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Worker version.
    pub version: String,
    /// ed25519 public key.
    pub public_key: HexBytes,
    /// Workloads offered.
    pub workloads: Vec<Workload>,
    /// Embedding models available.
    pub models: Vec<ModelInfo>,
    /// Hardware.
    pub inventory: Inventory,
    /// Current load.
    pub load: Load,
}

/// Body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine-readable code, e.g. `unknown_job`.
    pub error: String,
    /// What was wrong, for people.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(validate_id("job-1.a_b:c").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("a/b").unwrap_err().contains("'/'"));
        assert!(validate_id(&"x".repeat(129)).is_err());
    }

    #[test]
    fn unknown_workload_and_fields_are_rejected() {
        let bad = r#"{"job_id":"j","spec":{"workload":"train","epochs":3}}"#;
        let err = serde_json::from_str::<JobRequest>(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("train"), "{err}");
        let extra =
            r#"{"job_id":"j","spec":{"workload":"embed","model":"00","sentences":[]},"x":1}"#;
        assert!(serde_json::from_str::<JobRequest>(extra).is_err());
    }

    #[test]
    fn capability_challenge_maps_to_seeded_job() {
        let c = CapabilityChallenge {
            challenge_id: "c1".into(),
            n: 8,
            seed: Digest32([1; 32]),
            deadline_ms: 10,
        };
        assert_eq!(c.job_id(), "challenge:c1");
        let JobSpec::Matmul(spec) = c.spec() else {
            panic!("matmul expected")
        };
        assert_eq!((spec.m, spec.k, spec.n), (8, 8, 8));
    }

    #[test]
    fn response_size_estimate_grows_with_rows() {
        let one = challenge_response_size(1024, 1024, 1);
        let many = challenge_response_size(1024, 1024, 264);
        assert!(many > 264 * 5000 && many < 2_000_000 && one < many);
    }
}
