//! Reloading persisted jobs after a restart: unfinished ones are queued
//! again, finished ones are kept only if their result file still matches.

use super::{already_durable, Entry, JobManager};
use crate::store::JobRecord;
use tensormine_core::api::JobState;
use tensormine_core::Digest32;

impl JobManager {
    pub(super) fn recover(&self) {
        for loaded in self.inner.store.load_all() {
            match loaded {
                Ok(record) => self.recover_record(record),
                Err((dir, err)) => {
                    eprintln!("skipping unreadable job folder {}: {err:#}", dir.display())
                }
            }
        }
    }

    fn recover_record(&self, mut record: JobRecord) {
        let job_id = record.request.job_id.clone();
        let resume = matches!(record.state, JobState::Queued | JobState::Running);
        if resume {
            record.state = JobState::Queued;
        } else if record.state == JobState::Done {
            if let Err(problem) = self.check_result_file(&record) {
                record.state = JobState::Failed;
                record.result = None;
                record.error = Some(format!("result lost across a restart: {problem}"));
            }
        }
        if let Err(err) = self.inner.store.save(&record) {
            eprintln!("could not persist recovered job {job_id}: {err:#}");
        }
        let generation = self.next_generation();
        self.jobs().insert(
            job_id.clone(),
            Entry {
                record,
                tree: None,
                generation,
                durable: already_durable(),
            },
        );
        if resume {
            self.spawn_run(job_id, generation, already_durable());
        }
    }

    fn check_result_file(&self, record: &JobRecord) -> Result<(), String> {
        let commitment = &record
            .result
            .as_ref()
            .ok_or("no commitment recorded")?
            .commitment;
        let bytes = self
            .inner
            .store
            .read_result(&record.request.job_id)
            .map_err(|e| format!("{e:#}"))?;
        if Digest32::sha256(&bytes) != commitment.sha256 {
            return Err("result file does not match its committed sha256".into());
        }
        Ok(())
    }
}
