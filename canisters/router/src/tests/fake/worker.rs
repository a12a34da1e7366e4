//! In-process workers answering the worker HTTP API with real results
//! (matmul with Merkle commitments and challenge answers, deterministic
//! embeddings), with switches for misbehaviour.

use crate::clients::worker::OutcallResponse;
use ed25519_dalek::{Signer, SigningKey};
use std::collections::BTreeMap;
use tensormine_core::api::{
    self, ChallengeRequest, ChallengeResponse, HexBytes, JobAck, JobSpec, JobState, MatrixSource,
    ProvenRow, ResultCommitment, SignedResult,
};
use tensormine_core::encoding::{f32_to_le_bytes, F32Array, F64Array};
use tensormine_core::merkle::RowMerkleTree;
use tensormine_core::prng::{self, STREAM_A, STREAM_B};
use tensormine_core::verify::{mat_vec_f64, reference_matmul};
use tensormine_core::{signing, Digest32};

/// Columns of a fake embedding.
pub const EMBED_DIM: usize = 8;

/// How a fake worker behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Honest,
    /// Commits to (and opens) a result with a corrupted row / wrong embeddings.
    Cheat,
    /// Answers 400 to the dispatch.
    Refuse,
    /// Every outcall fails.
    Down,
    /// Accepts the job, then every outcall fails.
    DiesAfterDispatch,
    /// Accepts and stays `running` forever.
    Hang,
    /// Honest until it reported its signed result, then every outcall fails.
    DiesAfterCommit,
    /// Commits to the honest root and opens honest rows, but signs the
    /// sha256 of, and delivers, other bytes of the same length.
    OtherBytes,
}

#[derive(Debug, Clone)]
struct WorkerJob {
    spec: JobSpec,
    result: Vec<f32>,
    cols: usize,
    polls_left: u32,
}

#[derive(Debug)]
pub struct FakeWorker {
    /// Distinguishes cheaters: two cheaters never agree on a wrong answer.
    pub index: u8,
    pub key: SigningKey,
    pub behaviour: Behaviour,
    /// Status polls answered `running` before `done`.
    pub polls_before_done: u32,
    jobs: BTreeMap<String, WorkerJob>,
    pub dispatched: u32,
    /// A `done` status was answered.
    pub committed: bool,
}

impl FakeWorker {
    pub fn new(seed: u8, behaviour: Behaviour) -> Self {
        Self {
            index: seed,
            key: SigningKey::from_bytes(&[seed; 32]),
            behaviour,
            polls_before_done: 1,
            jobs: BTreeMap::new(),
            dispatched: 0,
            committed: false,
        }
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.key.verifying_key().to_bytes().to_vec()
    }
}

/// The honest embedding of one sentence (deterministic, non-zero).
pub fn embedding(model: &Digest32, sentence: &str, salt: &[u8]) -> Vec<f32> {
    let mut input = model.0.to_vec();
    input.extend_from_slice(salt);
    input.extend_from_slice(sentence.as_bytes());
    let d = Digest32::sha256(&input);
    (0..EMBED_DIM)
        .map(|i| d.0[i] as f32 / 255.0 - 0.5 + if i == 0 { 2.0 } else { 0.0 })
        .collect()
}

fn operand(
    source: &MatrixSource,
    stream: u64,
    rows: usize,
    cols: usize,
    web: &BTreeMap<String, Vec<f32>>,
) -> Vec<f32> {
    match source {
        MatrixSource::Seeded { seed } => prng::matrix(&seed.0, stream, rows, cols),
        MatrixSource::Inline { data } => data.0.clone(),
        MatrixSource::Url { url, .. } => {
            web.get(url).expect("the fake web has the operand").clone()
        }
    }
}

/// The honest result of a spec: values and columns.
pub fn compute(spec: &JobSpec, web: &BTreeMap<String, Vec<f32>>) -> (Vec<f32>, usize) {
    match spec {
        JobSpec::Matmul(s) => {
            let shape = s.shape();
            let a = operand(&s.a, STREAM_A, shape.m, shape.k, web);
            let b = operand(&s.b, STREAM_B, shape.k, shape.n, web);
            (reference_matmul(&a, &b, shape), shape.n)
        }
        JobSpec::Embed(e) => (
            e.sentences
                .iter()
                .flat_map(|s| embedding(&e.model, s, b""))
                .collect(),
            EMBED_DIM,
        ),
    }
}

fn cheat(spec: &JobSpec, result: &mut [f32], cols: usize, who: u8) {
    match spec {
        JobSpec::Matmul(_) => result[..cols]
            .iter_mut()
            .for_each(|v| *v += 1.5 + who as f32),
        JobSpec::Embed(e) => {
            let wrong: Vec<f32> = e
                .sentences
                .iter()
                .flat_map(|s| embedding(&e.model, s, &[b'c', who]))
                .collect();
            result.copy_from_slice(&wrong);
        }
    }
}

fn json<T: serde::Serialize>(status: u16, v: &T) -> Result<OutcallResponse, String> {
    Ok(OutcallResponse {
        status,
        body: serde_json::to_vec(v).unwrap(),
        total_length: None,
    })
}

fn api_error(status: u16, code: &str) -> Result<OutcallResponse, String> {
    json(
        status,
        &api::ApiError {
            error: code.into(),
            message: format!("fake worker: {code}"),
        },
    )
}

impl FakeWorker {
    /// The result bytes it delivers (and signs the sha256 of).
    fn delivered(&self, j: &WorkerJob) -> Vec<u8> {
        let mut values = j.result.clone();
        if self.behaviour == Behaviour::OtherBytes {
            values[0] += 1.0;
        }
        f32_to_le_bytes(&values)
    }

    fn signed(&self, job_id: &str, j: &WorkerJob) -> SignedResult {
        let tree = RowMerkleTree::from_matrix(&j.result, j.cols);
        let bytes = self.delivered(j);
        let commitment = ResultCommitment {
            rows: (j.result.len() / j.cols) as u64,
            cols: j.cols as u64,
            merkle_root: tree.root(),
            sha256: Digest32::sha256(&bytes),
            byte_len: bytes.len() as u64,
        };
        let message = signing::result_message(job_id, &signing::spec_hash(&j.spec), &commitment);
        SignedResult {
            commitment,
            signature: HexBytes(self.key.sign(&message.0).to_bytes().to_vec()),
        }
    }

    pub fn handle(
        &mut self,
        path: &str,
        body: Option<&[u8]>,
        web: &BTreeMap<String, Vec<f32>>,
    ) -> Result<OutcallResponse, String> {
        let alive = match self.behaviour {
            Behaviour::Down => false,
            Behaviour::DiesAfterDispatch => self.dispatched == 0,
            Behaviour::DiesAfterCommit => !self.committed,
            _ => true,
        };
        if !alive {
            return Err("connection refused".into());
        }
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let parts: Vec<&str> = path
            .trim_start_matches("/v1/jobs")
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        match (parts.as_slice(), body) {
            ([], Some(body)) => {
                if self.behaviour == Behaviour::Refuse {
                    return api_error(400, "unsupported");
                }
                let req: api::JobRequest =
                    serde_json::from_slice(body).map_err(|e| e.to_string())?;
                if !self.jobs.contains_key(&req.job_id) {
                    let (mut result, cols) = compute(&req.spec, web);
                    if self.behaviour == Behaviour::Cheat {
                        cheat(&req.spec, &mut result, cols, self.index);
                    }
                    self.jobs.insert(
                        req.job_id.clone(),
                        WorkerJob {
                            spec: req.spec.clone(),
                            result,
                            cols,
                            polls_left: self.polls_before_done,
                        },
                    );
                }
                self.dispatched += 1;
                json(
                    200,
                    &JobAck {
                        job_id: req.job_id.clone(),
                        spec_hash: signing::spec_hash(&self.jobs[&req.job_id].spec),
                        worker_public_key: HexBytes(self.public_key()),
                    },
                )
            }
            ([id], None) => {
                let Some(j) = self.jobs.get_mut(*id) else {
                    return api_error(404, "not_found");
                };
                let rows = (j.result.len() / j.cols) as u64;
                let done = self.behaviour != Behaviour::Hang && j.polls_left == 0;
                j.polls_left = j.polls_left.saturating_sub(1);
                let j = j.clone();
                self.committed |= done;
                json(
                    200,
                    &api::JobStatus {
                        job_id: id.to_string(),
                        spec_hash: signing::spec_hash(&j.spec),
                        workload: j.spec.workload(),
                        state: if done {
                            JobState::Done
                        } else {
                            JobState::Running
                        },
                        progress: api::Progress {
                            done: if done { rows } else { 0 },
                            total: rows,
                        },
                        result: done.then(|| self.signed(id, &j)),
                        error: None,
                    },
                )
            }
            ([id, "result"], None) => {
                let Some(j) = self.jobs.get(*id) else {
                    return api_error(404, "not_found");
                };
                let bytes = self.delivered(j);
                let mut offset = 0usize;
                let mut length = bytes.len();
                for kv in query.split('&') {
                    match kv.split_once('=') {
                        Some(("offset", v)) => offset = v.parse().unwrap(),
                        Some(("length", v)) => length = v.parse().unwrap(),
                        _ => {}
                    }
                }
                let end = bytes.len().min(offset + length);
                Ok(OutcallResponse {
                    status: 200,
                    body: bytes[offset.min(end)..end].to_vec(),
                    total_length: Some(bytes.len() as u64),
                })
            }
            ([id, "challenge"], Some(body)) => {
                let Some(j) = self.jobs.get(*id) else {
                    return api_error(404, "not_found");
                };
                let req: ChallengeRequest =
                    serde_json::from_slice(body).map_err(|e| e.to_string())?;
                let n = j.cols;
                let tree = RowMerkleTree::from_matrix(&j.result, n);
                let r = prng::challenge_vector(&req.r_seed.0, n);
                json(
                    200,
                    &ChallengeResponse {
                        job_id: id.to_string(),
                        merkle_root: tree.root(),
                        y: F64Array(mat_vec_f64(&j.result, n, &r)),
                        rows: req
                            .rows
                            .iter()
                            .map(|&i| ProvenRow {
                                index: i,
                                values: F32Array(
                                    j.result[i as usize * n..(i as usize + 1) * n].to_vec(),
                                ),
                                path: tree.proof(i).unwrap(),
                            })
                            .collect(),
                    },
                )
            }
            _ => api_error(404, "no_route"),
        }
    }
}
