//! Admission: validation against the worker's limits, idempotent
//! resubmission, and making the accepted record durable.

use super::{Entry, JobManager};
use crate::error::Failure;
use crate::store::JobRecord;
use std::sync::Arc;
use tensormine_core::api::{
    validate_id, EmbedSpec, JobAck, JobRequest, JobSpec, JobState, MatmulSpec, MatrixSource,
    Progress,
};
use tensormine_core::signing::spec_hash;
use tensormine_core::Digest32;
use tokio::sync::watch;

/// Bytes of A, B and C together, as f32 values.
fn matrix_bytes(spec: &MatmulSpec) -> u128 {
    let (m, k, n) = (spec.m as u128, spec.k as u128, spec.n as u128);
    4 * (m * k + k * n + m * n)
}

impl JobManager {
    /// Accepts a job. Repeating the same request returns the same
    /// acknowledgement; a different spec under a known id is a conflict.
    pub async fn submit(&self, request: JobRequest) -> Result<JobAck, Failure> {
        self.validate(&request)?;
        let hash = spec_hash(&request.spec);
        if let Some(ack) = self.existing_ack(&request, &hash).await? {
            return Ok(ack);
        }
        let job_id = request.job_id.clone();
        let gate = self.admission_gate(&job_id);
        let outcome = {
            let _admitting = gate.lock().await;
            self.admit(request, hash).await
        };
        let mut gates = self.inner.admissions.lock().expect("admissions lock");
        // Drop the gate unless another request for this id is waiting on it.
        if Arc::strong_count(&gate) <= 2 {
            gates.remove(&job_id);
        }
        outcome
    }

    fn admission_gate(&self, job_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.inner.admissions.lock().expect("admissions lock");
        gates.entry(job_id.to_string()).or_default().clone()
    }

    async fn admit(&self, request: JobRequest, hash: Digest32) -> Result<JobAck, Failure> {
        // Another request for this id may have been admitted while we waited.
        if let Some(ack) = self.existing_ack(&request, &hash).await? {
            return Ok(ack);
        }
        self.fetch_operands(&request).await?;
        let job_id = request.job_id.clone();
        let record = JobRecord {
            request,
            spec_hash: hash,
            state: JobState::Queued,
            progress: Progress::default(),
            result: None,
            error: None,
        };
        let ack_id = job_id.clone();
        let generation = self.next_generation();
        let (durable_tx, durable) = watch::channel(None);
        self.jobs().insert(
            job_id.clone(),
            Entry {
                record: record.clone(),
                tree: None,
                generation,
                durable: durable.clone(),
            },
        );
        // The job starts computing while its record is made durable; its
        // result is committed and published only after that, and the ack is
        // sent only after that. A separate task persists, so a client that
        // hangs up cannot leave the entry undecided.
        self.spawn_run(job_id.clone(), generation, durable);
        let manager = self.clone();
        let persisted = tokio::spawn(async move {
            let store = manager.inner.store.clone();
            let saved = tokio::task::spawn_blocking(move || store.save(&record))
                .await
                .map_err(|e| anyhow::anyhow!("persisting task failed: {e}"))
                .and_then(|saved| saved);
            if saved.is_err() {
                let mut jobs = manager.jobs();
                if jobs
                    .get(&job_id)
                    .is_some_and(|e| e.generation == generation)
                {
                    jobs.remove(&job_id);
                }
            }
            durable_tx.send_replace(Some(saved.is_ok()));
            saved
        });
        match persisted.await {
            Ok(Ok(())) => Ok(self.ack(&ack_id, hash)),
            Ok(Err(err)) => Err(Failure::internal(format!("could not persist job: {err:#}"))),
            Err(err) => Err(Failure::internal(format!("could not persist job: {err}"))),
        }
    }

    fn ack(&self, job_id: &str, hash: Digest32) -> JobAck {
        JobAck {
            job_id: job_id.to_string(),
            spec_hash: hash,
            worker_public_key: self.public_key(),
        }
    }

    /// The ack for a known job with this spec, once its acceptance is durable;
    /// `None` if the id is unknown (or its admission could not be persisted).
    /// A known id under another capability is a conflict too: whoever
    /// posted it first (a squatter guessing ids) cannot take the job over.
    async fn existing_ack(
        &self,
        request: &JobRequest,
        hash: &Digest32,
    ) -> Result<Option<JobAck>, Failure> {
        let job_id = request.job_id.as_str();
        let mut durable = {
            let jobs = self.jobs();
            let Some(entry) = jobs.get(job_id) else {
                return Ok(None);
            };
            if entry.record.request.capability != request.capability {
                return Err(Failure::conflict(
                    "job_id_conflict",
                    format!("job {job_id} already exists under another capability"),
                ));
            }
            if entry.record.spec_hash != *hash {
                return Err(Failure::conflict(
                    "job_id_conflict",
                    format!("job {job_id} already exists with a different spec (spec hash {}, this request {hash})", entry.record.spec_hash),
                ));
            }
            entry.durable.clone()
        };
        let persisted = durable
            .wait_for(Option::is_some)
            .await
            .map(|state| *state == Some(true))
            .unwrap_or(false);
        Ok(persisted.then(|| self.ack(job_id, *hash)))
    }

    fn validate(&self, request: &JobRequest) -> Result<(), Failure> {
        validate_id(&request.job_id).map_err(|m| Failure::bad_request("invalid_job_id", m))?;
        let workload = request.spec.workload();
        if !self.inner.limits.workloads.contains(&workload) {
            return Err(Failure::unprocessable(
                "workload_not_offered",
                format!("this worker does not offer the {workload} workload"),
            ));
        }
        match &request.spec {
            JobSpec::Matmul(spec) => self.validate_matmul(spec),
            JobSpec::Embed(spec) => self.validate_embed(spec),
        }
    }

    fn validate_matmul(&self, spec: &MatmulSpec) -> Result<(), Failure> {
        if spec.m == 0 || spec.k == 0 || spec.n == 0 {
            return Err(Failure::bad_request(
                "invalid_dimensions",
                format!(
                    "matmul dimensions must be positive, got m={} k={} n={}",
                    spec.m, spec.k, spec.n
                ),
            ));
        }
        let needed = matrix_bytes(spec);
        let allowed = self.inner.limits.max_matrix_bytes as u128;
        if needed > allowed {
            return Err(Failure::too_large(
                "dimensions_too_large",
                format!("matmul {}×{}×{} needs {needed} bytes for A, B and C; this worker allows {allowed}", spec.m, spec.k, spec.n),
            ));
        }
        let operands = [
            ("a", &spec.a, spec.m as u64 * spec.k as u64),
            ("b", &spec.b, spec.k as u64 * spec.n as u64),
        ];
        for (name, source, values) in operands {
            if let MatrixSource::Inline { data } = source {
                if data.0.len() as u64 != values {
                    return Err(Failure::bad_request(
                        "operand_size_mismatch",
                        format!(
                            "inline operand {name} has {} values, the dimensions need {values}",
                            data.0.len()
                        ),
                    ));
                }
            }
            if let MatrixSource::Url { url, .. } = source {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(Failure::bad_request(
                        "invalid_url",
                        format!("operand {name}: URL must be http(s), got {url:?}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_embed(&self, spec: &EmbedSpec) -> Result<(), Failure> {
        let limits = &self.inner.limits;
        if spec.sentences.is_empty() {
            return Err(Failure::bad_request(
                "no_sentences",
                "an embed job needs at least one sentence",
            ));
        }
        if spec.sentences.len() > limits.max_sentences {
            return Err(Failure::too_large(
                "too_many_sentences",
                format!(
                    "{} sentences; this worker accepts at most {}",
                    spec.sentences.len(),
                    limits.max_sentences
                ),
            ));
        }
        if let Some((i, s)) = spec
            .sentences
            .iter()
            .enumerate()
            .find(|(_, s)| s.len() > limits.max_sentence_bytes)
        {
            return Err(Failure::too_large(
                "sentence_too_long",
                format!(
                    "sentence {i} has {} bytes; the limit is {}",
                    s.len(),
                    limits.max_sentence_bytes
                ),
            ));
        }
        if self.inner.models.get(&spec.model).is_none() {
            return Err(Failure::unprocessable(
                "unknown_model",
                format!("model {} is not in this worker's model store", spec.model),
            ));
        }
        Ok(())
    }
}
