//! Running a job: waiting for a slot, computing the workload, and recording
//! the outcome once the job's acceptance is durable.

use super::JobManager;
use crate::store::JobRecord;
use crate::workloads::{ResultMatrix, WorkItem};
use std::sync::Arc;
use tensormine_core::api::{JobSpec, JobState, MatrixSource, Progress, SignedResult};
use tensormine_core::encoding::f32_from_le_bytes;
use tensormine_core::merkle::RowMerkleTree;
use tensormine_core::prng::{self, STREAM_A, STREAM_B};
use tensormine_core::Digest32;
use tokio::sync::watch;

impl JobManager {
    pub(super) fn spawn_run(
        &self,
        job_id: String,
        generation: u64,
        mut durable: watch::Receiver<Option<bool>>,
    ) {
        let manager = self.clone();
        tokio::spawn(async move {
            let _slot = manager
                .inner
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore never closes");
            // `running` is kept in memory only: after a restart a job on disk
            // as `queued` is resumed just as a `running` one would be.
            let record = manager.with_entry(&job_id, generation, |entry| {
                entry.record.state = JobState::Running;
                entry.record.clone()
            });
            let Some(record) = record else {
                return; // its admission could not be persisted
            };
            manager.inner.changes.send_modify(|version| *version += 1);
            let worker = manager.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let computed = worker.compute(&record, generation);
                (record, computed)
            })
            .await;
            // Nothing is committed or published before the acceptance is on disk.
            let accepted = durable
                .wait_for(Option::is_some)
                .await
                .map(|state| *state == Some(true))
                .unwrap_or(false);
            if !accepted {
                return;
            }
            let worker = manager.clone();
            let id = job_id.clone();
            let finished = tokio::task::spawn_blocking(move || {
                let outcome = match outcome {
                    Ok((record, Ok(matrix))) => worker
                        .commit(&record, &matrix)
                        .map_err(|e| format!("{e:#}")),
                    Ok((_, Err(error))) => Err(error),
                    Err(panic) => Err(format!("workload panicked: {panic}")),
                };
                worker.finish(&id, generation, outcome);
            })
            .await;
            if let Err(panic) = finished {
                manager.finish(
                    &job_id,
                    generation,
                    Err(format!("committing the result panicked: {panic}")),
                );
            }
        });
    }

    fn compute(&self, record: &JobRecord, generation: u64) -> Result<ResultMatrix, String> {
        let job_id = &record.request.job_id;
        let item = self.work_item(record).map_err(|e| format!("{e:#}"))?;
        let expected_rows = match &item {
            WorkItem::Matmul { shape, .. } => shape.m,
            WorkItem::Embed { sentences, .. } => sentences.len(),
        };
        let report = |done: u64, total: u64| {
            self.with_entry(job_id, generation, |entry| {
                entry.record.progress = Progress { done, total }
            });
        };
        let is_matmul = matches!(item, WorkItem::Matmul { .. });
        let mut matrix = self
            .inner
            .executor
            .run(item, &report)
            .map_err(|e| format!("{e:#}"))?;
        let corrupt = self.inner.limits.dishonest_corrupt_rows;
        if corrupt > 0 && is_matmul && !job_id.starts_with("challenge:") && matrix.cols > 0 {
            // Demo/test cheater: element (row, row mod cols) of the first
            // rows changes; the commitment is built from the changed matrix.
            for row in 0..corrupt.min(matrix.rows) {
                matrix.data[row * matrix.cols + row % matrix.cols] += 1.0;
            }
        }
        if matrix.rows != expected_rows
            || matrix.cols == 0
            || matrix.data.len() != matrix.rows * matrix.cols
        {
            return Err(format!(
                "workload returned a {}×{} result with {} values, expected {expected_rows} rows",
                matrix.rows,
                matrix.cols,
                matrix.data.len()
            ));
        }
        Ok(matrix)
    }

    fn work_item(&self, record: &JobRecord) -> anyhow::Result<WorkItem> {
        let job_id = &record.request.job_id;
        Ok(match &record.request.spec {
            JobSpec::Matmul(spec) => {
                let shape = spec.shape();
                let a = self.operand(job_id, "a", &spec.a, STREAM_A, shape.m, shape.k)?;
                let b = self.operand(job_id, "b", &spec.b, STREAM_B, shape.k, shape.n)?;
                WorkItem::Matmul { shape, a, b }
            }
            JobSpec::Embed(spec) => WorkItem::Embed {
                model: spec.model,
                sentences: spec.sentences.clone(),
            },
        })
    }

    fn operand(
        &self,
        job_id: &str,
        name: &str,
        source: &MatrixSource,
        stream: u64,
        rows: usize,
        cols: usize,
    ) -> anyhow::Result<Vec<f32>> {
        match source {
            MatrixSource::Seeded { seed } => Ok(prng::matrix(&seed.0, stream, rows, cols)),
            MatrixSource::Inline { data } => Ok(data.0.clone()),
            MatrixSource::Url { sha256, .. } => {
                let bytes = self.inner.store.read_file(job_id, &format!("{name}.bin"))?;
                anyhow::ensure!(
                    Digest32::sha256(&bytes) == *sha256,
                    "stored operand {name} no longer matches its sha256"
                );
                f32_from_le_bytes(&bytes)
                    .ok_or_else(|| anyhow::anyhow!("stored operand {name} is not whole f32 values"))
            }
        }
    }

    /// Records the outcome: durably first (fsync), then in memory, so a
    /// client never sees `done` or `failed` before it would survive a crash.
    fn finish(
        &self,
        job_id: &str,
        generation: u64,
        outcome: Result<(SignedResult, Arc<RowMerkleTree>), String>,
    ) {
        let Some(mut record) = self.with_entry(job_id, generation, |e| e.record.clone()) else {
            return;
        };
        let tree = match outcome {
            Ok((signed, tree)) => {
                record.state = JobState::Done;
                record.progress.done = record.progress.total.max(1);
                record.progress.total = record.progress.done;
                record.result = Some(signed);
                Some(tree)
            }
            Err(error) => {
                record.state = JobState::Failed;
                record.error = Some(error);
                None
            }
        };
        if let Err(err) = self.inner.store.save(&record) {
            // Published anyway: after a crash the job is resumed from its
            // durable `queued` record, which recomputes the same result.
            eprintln!("could not persist job {job_id}: {err:#}");
        }
        self.with_entry(job_id, generation, |entry| {
            entry.record = record;
            entry.tree = tree;
        });
        self.inner.changes.send_modify(|version| *version += 1);
    }
}
