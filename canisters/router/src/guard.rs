//! Guards released on `Drop` (also when a callback traps: ic-cdk runs the
//! drops in its cleanup), so a failed call never leaves anything locked.

use crate::state::mutate_state;

/// One task at a time works on a job.
#[derive(Debug)]
pub struct JobGuard(String);

impl JobGuard {
    pub fn new(job: &str) -> Option<Self> {
        mutate_state(|s| s.busy_jobs.insert(job.to_string()).then(|| Self(job.to_string())))
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        mutate_state(|s| {
            s.busy_jobs.remove(&self.0);
        });
    }
}

/// One registry sync at a time.
#[derive(Debug)]
pub struct SyncGuard(());

impl SyncGuard {
    pub fn new() -> Option<Self> {
        mutate_state(|s| (!std::mem::replace(&mut s.sync_running, true)).then(|| Self(())))
    }
}

impl Drop for SyncGuard {
    fn drop(&mut self) {
        mutate_state(|s| s.sync_running = false);
    }
}

/// One receipt-batch signature at a time.
#[derive(Debug)]
pub struct BatchGuard(());

impl BatchGuard {
    pub fn new() -> Option<Self> {
        mutate_state(|s| (!std::mem::replace(&mut s.batch_running, true)).then(|| Self(())))
    }
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        mutate_state(|s| s.batch_running = false);
    }
}
