//! The registry as the router uses it: its change feed and job-outcome
//! reports, typed with `tensormine_core::registry` (checked against
//! `candid/registry.did` by the registry).

use super::CallError;
use candid::Principal;
use tensormine_core::registry::{ChangesPage, JobOutcome, ReportError, Reputation};

#[allow(async_fn_in_trait)]
pub trait RegistryApi {
    /// Records a verdict on a miner (idempotent by miner and job).
    async fn report_job_outcome(
        &self,
        registry: Principal,
        outcome: JobOutcome,
    ) -> Result<Result<Reputation, ReportError>, CallError>;
    /// Miner records changed after `seq`, at most `limit`.
    async fn changes_since(
        &self,
        registry: Principal,
        seq: u64,
        limit: u32,
    ) -> Result<ChangesPage, CallError>;
}
