//! Challenges: spot checks of a finished matmul result (`y = C·r` and
//! Merkle-proven rows) and capability challenges (a seeded job run on
//! demand under a deadline).

use super::{unknown_job, JobManager};
use crate::error::Failure;
use crate::store::JobRecord;
use std::sync::Arc;
use std::time::Duration;
use tensormine_core::api::{
    challenge_response_size, validate_id, CapabilityChallenge, CapabilityCommitment,
    ChallengeRequest, ChallengeResponse, JobRequest, JobSpec, JobState, ProvenRow,
    MAX_RESULT_CHUNK_BYTES,
};
use tensormine_core::encoding::{f32_from_le_bytes, F32Array, F64Array};
use tensormine_core::merkle::RowMerkleTree;
use tensormine_core::prng;
use tensormine_core::verify::mat_vec_f64;

impl JobManager {
    /// `POST /v1/jobs/{id}/challenge`: `y = C·r` and the requested rows with Merkle paths.
    pub async fn challenge(
        &self,
        job_id: &str,
        request: ChallengeRequest,
    ) -> Result<ChallengeResponse, Failure> {
        let record = self.done_record(job_id)?;
        let JobSpec::Matmul(spec) = &record.request.spec else {
            return Err(Failure::unprocessable(
                "not_challengeable",
                format!("job {job_id} is not a matmul job; only matmul results can be challenged"),
            ));
        };
        let (m, n) = (spec.m as u64, spec.n as u64);
        if let Some(bad) = request.rows.iter().find(|&&row| row >= m) {
            return Err(Failure::bad_request(
                "row_out_of_range",
                format!("row {bad} requested, but C has {m} rows"),
            ));
        }
        let size = challenge_response_size(m, n, request.rows.len() as u64);
        if size > MAX_RESULT_CHUNK_BYTES {
            return Err(Failure::too_large("too_many_rows", format!("{} rows of width {n} would make a {size}-byte answer, over the {MAX_RESULT_CHUNK_BYTES}-byte limit", request.rows.len())));
        }
        let manager = self.clone();
        let id = job_id.to_string();
        tokio::task::spawn_blocking(move || manager.answer_challenge(&id, &record, request))
            .await
            .map_err(|e| Failure::internal(format!("challenge task failed: {e}")))?
    }

    fn answer_challenge(
        &self,
        job_id: &str,
        record: &JobRecord,
        request: ChallengeRequest,
    ) -> Result<ChallengeResponse, Failure> {
        let commitment = &record
            .result
            .as_ref()
            .expect("done jobs have results")
            .commitment;
        let cols = commitment.cols as usize;
        let bytes = self
            .inner
            .store
            .read_result(job_id)
            .map_err(|e| Failure::internal(format!("{e:#}")))?;
        let c = f32_from_le_bytes(&bytes)
            .ok_or_else(|| Failure::internal("result file is not whole f32 values"))?;
        let tree = self.tree_for(job_id, &c, cols);
        if tree.root() != commitment.merkle_root {
            return Err(Failure::internal(format!(
                "stored result of job {job_id} no longer matches its commitment"
            )));
        }
        let r = prng::challenge_vector(&request.r_seed.0, cols);
        let rows = request
            .rows
            .iter()
            .map(|&index| ProvenRow {
                index,
                values: F32Array(c[index as usize * cols..(index as usize + 1) * cols].to_vec()),
                path: tree.proof(index).expect("row index checked"),
            })
            .collect();
        Ok(ChallengeResponse {
            job_id: job_id.to_string(),
            merkle_root: commitment.merkle_root,
            y: F64Array(mat_vec_f64(&c, cols, &r)),
            rows,
        })
    }

    fn tree_for(&self, job_id: &str, c: &[f32], cols: usize) -> Arc<RowMerkleTree> {
        if let Some(tree) = self.jobs().get(job_id).and_then(|e| e.tree.clone()) {
            return tree;
        }
        let tree = Arc::new(RowMerkleTree::from_matrix(c, cols));
        if let Some(entry) = self.jobs().get_mut(job_id) {
            entry.tree = Some(tree.clone());
        }
        tree
    }

    /// `POST /v1/challenges`: runs the seeded matmul and answers with its
    /// signed commitment once done, or 504 when the deadline passes first.
    pub async fn capability(
        &self,
        challenge: CapabilityChallenge,
    ) -> Result<CapabilityCommitment, Failure> {
        validate_id(&challenge.challenge_id)
            .map_err(|m| Failure::bad_request("invalid_challenge_id", m))?;
        let job_id = challenge.job_id();
        let ack = self
            .submit(JobRequest {
                job_id: job_id.clone(),
                spec: challenge.spec(),
                capability: None,
            })
            .await?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(challenge.deadline_ms);
        let record = self.wait_until_final(&job_id, deadline).await?;
        match (record.state, record.result) {
            (JobState::Done, Some(result)) => Ok(CapabilityCommitment {
                challenge_id: challenge.challenge_id,
                job_id,
                spec_hash: ack.spec_hash,
                result,
            }),
            _ => Err(Failure::internal(format!(
                "challenge job {job_id} failed: {}",
                record.error.unwrap_or_default()
            ))),
        }
    }

    async fn wait_until_final(
        &self,
        job_id: &str,
        deadline: tokio::time::Instant,
    ) -> Result<JobRecord, Failure> {
        let mut changes = self.inner.changes.subscribe();
        loop {
            let record = self
                .jobs()
                .get(job_id)
                .map(|e| e.record.clone())
                .ok_or_else(|| unknown_job(job_id))?;
            if matches!(record.state, JobState::Done | JobState::Failed) {
                return Ok(record);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return Err(Failure::new(
                    axum::http::StatusCode::GATEWAY_TIMEOUT,
                    "deadline_exceeded",
                    format!("job {job_id} was not committed before the deadline; it keeps running"),
                ));
            }
        }
    }
}
