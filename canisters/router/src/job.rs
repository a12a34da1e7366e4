//! A job as the router stores it, and its candid view.

use candid::Principal;
use serde::{Deserialize, Serialize};
use tensormine_core::api::{JobSpec, Progress, SignedResult};
use tensormine_core::router::*;
use tensormine_core::Digest32;

/// Consecutive failed outcalls (polls, challenges) after which a worker is
/// given up on.
pub const MAX_POLL_ERRORS: u32 = 5;

/// One miner's part in a job.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Assignment {
    pub miner: Principal,
    pub endpoint: String,
    pub worker_key: Vec<u8>,
    pub owner: Digest32,
    /// What this miner is paid if its result is accepted.
    pub price_sats: u64,
    /// The miner was new (too few verified jobs) when assigned.
    pub new_miner: bool,
    pub role: AssignmentRole,
    pub state: AssignmentState,
    pub commitment: Option<SignedResult>,
    pub progress: Progress,
    pub assigned_at_ns: u64,
    /// Next poll delay (doubles up to the configured maximum).
    pub backoff_ms: u64,
    /// Consecutive failed outcalls (dispatch tries or polls).
    pub errors: u32,
    /// The bond slash for a rejected result was settled with the escrow.
    pub slash_done: bool,
    pub next_at_ns: u64,
    /// Bond slashed for a rejected result.
    pub slashed_sats: u64,
    /// The outcome was reported to the registry.
    pub reported: bool,
    /// Bond counted at stake for this assignment until the job is final.
    #[serde(default)]
    pub bond_at_stake_sats: u64,
    /// The job's id on this assignment's worker: the router's id and an
    /// unguessable suffix, different per assignment and per router, so no
    /// third party can post it first and no signature is valid for another
    /// assignment. Empty for assignments made before it existed (then the
    /// router's id is used).
    #[serde(default)]
    pub worker_job_id: String,
    /// The secret the worker answers this job's status, challenges and
    /// result to (never in a view or an event; the submitter is told it
    /// with `get_result`'s `NotStored` once the job is verified).
    #[serde(default)]
    pub capability: String,
    /// When the router saw the signed commitment (0: not yet).
    #[serde(default)]
    pub committed_at_ns: u64,
}

impl Assignment {
    /// The job's id on the worker.
    pub fn worker_id<'a>(&'a self, job_id: &'a str) -> &'a str {
        if self.worker_job_id.is_empty() {
            job_id
        } else {
            &self.worker_job_id
        }
    }

    /// The capability to present, if the assignment has one.
    pub fn capability(&self) -> Option<&str> {
        (!self.capability.is_empty()).then_some(self.capability.as_str())
    }

    /// Still in the running: not rejected, timed out or failed.
    pub fn is_live(&self) -> bool {
        !matches!(
            self.state,
            AssignmentState::Rejected { .. }
                | AssignmentState::TimedOut
                | AssignmentState::Failed { .. }
        )
    }

    pub fn is_committed(&self) -> bool {
        matches!(
            self.state,
            AssignmentState::Committed | AssignmentState::Accepted
        )
    }

    pub fn view(&self) -> AssignmentView {
        AssignmentView {
            miner: self.miner,
            endpoint: self.endpoint.clone(),
            worker_public_key: self.worker_key.clone(),
            role: self.role.clone(),
            state: self.state.clone(),
            price_sats: self.price_sats,
            commitment: self.commitment.as_ref().map(commitment_view),
            progress_done: self.progress.done,
            progress_total: self.progress.total,
        }
    }
}

pub fn commitment_view(r: &SignedResult) -> CommitmentView {
    let c = &r.commitment;
    CommitmentView {
        rows: c.rows,
        cols: c.cols,
        merkle_root: c.merkle_root.0.to_vec(),
        sha256: c.sha256.0.to_vec(),
        byte_len: c.byte_len,
        signature: r.signature.0.clone(),
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub submitter: Principal,
    pub request: JobRequest,
    /// The worker-API form of the request (what is dispatched and signed).
    pub spec: JobSpec,
    pub spec_hash: Digest32,
    pub units: u64,
    pub status: JobStatus,
    pub submitted_at_ns: u64,
    pub deadline_ns: u64,
    pub updated_at_ns: u64,
    /// When the engine should look at the job again.
    pub next_action_ns: u64,
    pub assignments: Vec<Assignment>,
    pub failovers: u32,
    /// `raw_rand` bytes drawn after the commitments they check (audit draw,
    /// challenge); drawn again whenever miners were added since, so no
    /// replacement, auditor or tie-breaker is asked what an earlier miner
    /// was asked.
    pub randomness: Option<[u8; 32]>,
    /// How many assignments the job had when `randomness` was drawn.
    #[serde(default)]
    pub randomness_assignments: u32,
    /// Whether an audit was drawn (audit tier).
    pub audited: Option<bool>,
    /// Replicas disagreed without a majority: one more miner breaks the tie.
    pub tiebreak: bool,
    /// Attempts to fetch the accepted result for storage.
    pub fetch_tries: u32,
    /// Index of the assignment whose result is the job's result.
    pub accepted: Option<usize>,
    pub stored_result_bytes: u64,
    pub paid_sats: u64,
    pub fee_sats: u64,
    pub refunded_sats: u64,
    pub reason: Option<String>,
    pub receipt_index: Option<u64>,
    pub outcall_cycles: u128,
    pub outcalls: u32,
    /// Miners picked but passed over because their free bond did not cover
    /// the job's slash (not picked again for this job).
    #[serde(default)]
    pub passed_over: Vec<Principal>,
    /// Until when a fraud proof against the verified result is heard.
    #[serde(default)]
    pub dispute_until_ns: Option<u64>,
}

impl Job {
    /// Whether the tier's check runs on this job's result: not for tier
    /// `none`, nor for an audit-tier job not drawn for audit.
    pub fn checked(&self) -> bool {
        !matches!(self.request.tier, Tier::None) && self.audited != Some(false)
    }

    pub fn view(&self) -> JobView {
        JobView {
            id: self.id.clone(),
            submitter: self.submitter,
            workload: self.request.workload.kind(),
            tier: self.request.tier,
            spec_hash: self.spec_hash.0.to_vec(),
            units: self.units,
            status: self.status,
            max_price_sats: self.request.max_price_sats,
            submitted_at_ns: self.submitted_at_ns,
            deadline_ns: self.deadline_ns,
            updated_at_ns: self.updated_at_ns,
            assignments: self.assignments.iter().map(Assignment::view).collect(),
            failovers: self.failovers,
            result: self
                .accepted
                .and_then(|i| self.assignments[i].commitment.as_ref())
                .filter(|_| {
                    // Settled, or verified and waiting in its dispute window.
                    self.status == JobStatus::Settled
                        || (self.status == JobStatus::Settling && self.dispute_until_ns.is_some())
                })
                .map(commitment_view),
            stored_result_bytes: self.stored_result_bytes,
            paid_sats: self.paid_sats,
            fee_sats: self.fee_sats,
            refunded_sats: self.refunded_sats,
            reason: self.reason.clone(),
            receipt_index: self.receipt_index,
            dispute_until_ns: self.dispute_until_ns,
            outcalls: self.outcalls,
            outcall_cycles: self.outcall_cycles,
        }
    }

    /// Miner payments the hold must cover for this tier.
    pub fn payments_reserved(&self) -> u32 {
        payments_reserved(self.request.tier)
    }

    pub fn live(&self) -> impl Iterator<Item = (usize, &Assignment)> {
        self.assignments
            .iter()
            .enumerate()
            .filter(|(_, a)| a.is_live())
    }
}

/// Miner payments a tier may need: the replicas plus one more miner (an
/// auditor or a tie-breaker) — failed or rejected miners are not paid.
pub fn payments_reserved(tier: Tier) -> u32 {
    match tier {
        Tier::None | Tier::Freivalds => 1,
        Tier::Audit { .. } => 2,
        Tier::Redundant { k } => k as u32 + 1,
    }
}

/// Replicas the tier starts with.
pub fn replicas(tier: Tier) -> usize {
    match tier {
        Tier::Redundant { k } => k as usize,
        _ => 1,
    }
}
