//! The one place a flow changes a job, its money or a verdict and records
//! it: every step (submit, engine, verify, settle) calls these. A leaf: it
//! names only the state and the job, and calls nothing back, so the flows
//! depend on it and never on each other for bookkeeping.

use super::{mutate_state, EventKind};
use crate::job::{Assignment, Job};
use tensormine_core::router::*;

/// Counts `amount` of the assignment's miner's bond at stake until the job
/// is final ([`release_bond_stakes`]): matching requires a free bond that
/// covers each job's slash, and a bond counted for one open job is not free
/// for the next.
pub fn stake_bond(a: &mut Assignment, amount: u64) {
    a.bond_at_stake_sats = amount;
    mutate_state(|s| {
        let at_stake = s.bond_at_stake.get(&a.miner).unwrap_or(0);
        s.bond_at_stake.insert(a.miner, at_stake + amount);
    });
}

/// Frees the bond a final job's assignments had at stake (once: each
/// assignment's stake is zeroed).
pub fn release_bond_stakes(job: &mut Job) {
    mutate_state(|s| {
        for a in job
            .assignments
            .iter_mut()
            .filter(|a| a.bond_at_stake_sats > 0)
        {
            let left = s
                .bond_at_stake
                .get(&a.miner)
                .unwrap_or(0)
                .saturating_sub(a.bond_at_stake_sats);
            if left == 0 {
                s.bond_at_stake.remove(&a.miner);
            } else {
                s.bond_at_stake.insert(a.miner, left);
            }
            a.bond_at_stake_sats = 0;
        }
    });
}

/// Rejects assignment `i`'s result (it is slashed when settling).
pub fn reject(job: &mut Job, i: usize, reason: String, now: u64) {
    let kind = EventKind::Rejected {
        miner: job.assignments[i].miner,
        reason: reason.clone(),
    };
    event(now, job, kind);
    job.assignments[i].state = AssignmentState::Rejected { reason };
}

/// [`reject`] on a proof the canister checked itself (a failed spot check,
/// bytes that contradict the worker's own signature, a fraud proof): the
/// miner is also suspended from matching. A lost vote is not such a proof.
pub fn reject_proven(job: &mut Job, i: usize, reason: String, now: u64) {
    let miner = job.assignments[i].miner;
    reject(job, i, reason, now);
    suspend(now, job, miner);
}

/// Suspends `miner` from matching after a proven wrong result in `job`.
pub fn suspend(now: u64, job: &Job, miner: candid::Principal) {
    mutate_state(|s| {
        s.suspended.insert(miner, now);
        s.record(now, Some(&job.id), EventKind::Suspended { miner });
    });
}

/// Shortest time a job's throughput is computed over: the canister's clock
/// moves in rounds, and a shorter figure would only be noise.
const MIN_WORK_NS: u64 = 1_000_000_000;

/// Records the throughput assignment `i` showed on a matmul job whose
/// result the router checked itself: `2·m·k·n` FLOP over the time from
/// assignment to commitment (a lower bound: dispatch and polling included).
/// The miner's ranking uses the best such figure (`State::ranked`).
pub fn record_verified_work(job: &Job, i: usize) {
    let tensormine_core::api::JobSpec::Matmul(s) = &job.spec else {
        return;
    };
    let a = &job.assignments[i];
    if a.committed_at_ns <= a.assigned_at_ns {
        return;
    }
    let elapsed = (a.committed_at_ns - a.assigned_at_ns).max(MIN_WORK_NS) as u128;
    let work = 2 * s.m as u128 * s.k as u128 * s.n as u128;
    let flops = (work * 1_000_000_000 / elapsed).min(u64::MAX as u128) as u64;
    mutate_state(|st| {
        if flops > st.job_flops.get(&a.miner).unwrap_or(0) {
            st.job_flops.insert(a.miner, flops);
            if let Some(info) = st.miner(&a.miner) {
                let ranked = st.ranked(a.miner, &info);
                st.index.upsert(ranked);
            }
        }
    });
}

/// Stores the job (and reschedules it).
pub fn save(job: &Job) {
    mutate_state(|s| s.put_job(job.clone()));
}

/// Appends an event about `job` to the log.
pub fn event(now: u64, job: &Job, kind: EventKind) {
    mutate_state(|s| s.record(now, Some(&job.id), kind));
}

/// Marks the job for refunding (the settle step returns the money).
pub fn start_refund(job: &mut Job, now: u64, reason: String) {
    for a in job
        .assignments
        .iter_mut()
        .filter(|a| a.is_live() && !a.is_committed())
    {
        a.state = AssignmentState::TimedOut;
    }
    event(
        now,
        job,
        EventKind::Refunding {
            reason: reason.clone(),
        },
    );
    job.status = JobStatus::Refunding;
    job.reason = Some(reason);
    job.next_action_ns = now;
    job.updated_at_ns = now;
}

/// A job can be cancelled until a miner commits a result.
pub fn cancellable(job: &Job) -> bool {
    matches!(job.status, JobStatus::Matching | JobStatus::Running)
        && !job.assignments.iter().any(Assignment::is_committed)
}

/// Cancels for the submitter: live miners are stopped (and not reported)
/// and the hold is refunded.
pub fn cancel(job: &mut Job, now: u64) {
    for a in job.assignments.iter_mut().filter(|a| a.is_live()) {
        a.state = AssignmentState::Failed {
            reason: "job cancelled by the submitter".into(),
        };
        // Not the miner's fault: nothing to report.
        a.reported = true;
    }
    start_refund(job, now, "cancelled by the submitter".into());
}

/// Records one outcall's cycles on the job and in the totals.
pub fn charge(job: &mut Job, cycles: u128) {
    job.outcalls += 1;
    job.outcall_cycles += cycles;
    mutate_state(|s| {
        s.update_counters(|k| {
            k.totals.outcalls += 1;
            k.totals.outcall_cycles += cycles;
        })
    });
}
