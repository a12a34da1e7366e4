//! Read-only views of a job: its status (optionally waiting for it to end)
//! and chunks of its committed result.

use super::{unknown_job, JobManager};
use crate::error::Failure;
use crate::store::JobRecord;
use std::time::Duration;
use tensormine_core::api::{bearer, JobState, JobStatus, MAX_RESULT_CHUNK_BYTES};

impl JobManager {
    /// Whether a request presenting `authorization` (the header's value)
    /// may see job `job_id`: always for a job without a capability, else
    /// only with `Bearer <its capability>`. Unknown jobs pass here and are
    /// answered 404 by the query itself.
    pub fn authorize(&self, job_id: &str, authorization: Option<&str>) -> Result<(), Failure> {
        let jobs = self.jobs();
        let Some(entry) = jobs.get(job_id) else {
            return Ok(());
        };
        match &entry.record.request.capability {
            None => Ok(()),
            Some(c) if authorization == Some(bearer(c).as_str()) => Ok(()),
            Some(_) => Err(Failure::unauthorized(
                "capability_required",
                format!(
                    "job {job_id} is answered only with its capability (authorization: Bearer …)"
                ),
            )),
        }
    }

    /// `GET /v1/jobs/{id}`.
    pub fn status(&self, job_id: &str) -> Result<JobStatus, Failure> {
        let jobs = self.jobs();
        let record = &jobs.get(job_id).ok_or_else(|| unknown_job(job_id))?.record;
        Ok(JobStatus {
            job_id: job_id.to_string(),
            spec_hash: record.spec_hash,
            workload: record.request.spec.workload(),
            state: record.state,
            progress: record.progress,
            result: record.result.clone(),
            error: record.error.clone(),
        })
    }

    /// `GET /v1/jobs/{id}?wait_ms=W`: the status as soon as the job is done
    /// or failed, or after `wait` (whichever comes first).
    pub async fn status_wait(&self, job_id: &str, wait: Duration) -> Result<JobStatus, Failure> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut changes = self.inner.changes.subscribe();
        loop {
            let status = self.status(job_id)?;
            if matches!(status.state, JobState::Done | JobState::Failed) {
                return Ok(status);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return self.status(job_id);
            }
        }
    }

    pub(super) fn done_record(&self, job_id: &str) -> Result<JobRecord, Failure> {
        let record = self
            .jobs()
            .get(job_id)
            .ok_or_else(|| unknown_job(job_id))?
            .record
            .clone();
        match record.state {
            JobState::Done => Ok(record),
            JobState::Failed => Err(Failure::conflict(
                "job_failed",
                format!("job {job_id} failed: {}", record.error.unwrap_or_default()),
            )),
            state => Err(Failure::conflict(
                "result_not_ready",
                format!("job {job_id} is {state:?}; its result is not committed yet")
                    .to_lowercase(),
            )),
        }
    }

    /// `GET /v1/jobs/{id}/result`: bytes `offset .. offset + length` of the
    /// result, and the total length.
    pub fn result_chunk(
        &self,
        job_id: &str,
        offset: u64,
        length: Option<u64>,
    ) -> Result<(Vec<u8>, u64), Failure> {
        let record = self.done_record(job_id)?;
        let total = record.result.as_ref().map_or(0, |r| r.commitment.byte_len);
        let length = length.unwrap_or(MAX_RESULT_CHUNK_BYTES);
        if length > MAX_RESULT_CHUNK_BYTES {
            return Err(Failure::bad_request(
                "chunk_too_large",
                format!("length {length} exceeds the {MAX_RESULT_CHUNK_BYTES}-byte chunk limit"),
            ));
        }
        if offset > total {
            return Err(Failure::new(
                axum::http::StatusCode::RANGE_NOT_SATISFIABLE,
                "offset_out_of_range",
                format!("offset {offset} is past the result's {total} bytes"),
            ));
        }
        let bytes = self
            .inner
            .store
            .read_result(job_id)
            .map_err(|e| Failure::internal(format!("{e:#}")))?;
        let end = (offset + length).min(total) as usize;
        Ok((bytes[offset as usize..end].to_vec(), total))
    }
}
