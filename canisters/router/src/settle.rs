//! Settlement: slash rejected miners, release (miners + protocol fee, the
//! rest back to the submitter) or refund through the escrow, report every
//! verdict to the registry, then close the job with its receipt. Every
//! escrow call is idempotent by job id, so a retry after a lost answer is
//! safe; the job becomes final only once the escrow confirmed.

use crate::clients::escrow::{refund_settlement, release_settlement, slashed_sats};
use crate::job::Job;
use crate::receipts;
use crate::runtime::Runtime;
use crate::state::audit::{event, release_bond_stakes, save};
use crate::state::{mutate_state, read_state, EventKind};
use crate::submit::{cycles_to_sats, protocol_fee};
use candid::Principal;
use tensormine_core::escrow::Settlement;
use tensormine_core::registry::JobOutcome;
use tensormine_core::router::*;

const RETRY_NS: u64 = 5_000_000_000;

/// Payees of a settling job: every accepted miner at its price.
pub fn payees(job: &Job) -> Vec<(Principal, u64)> {
    job.assignments
        .iter()
        .filter(|a| a.state == AssignmentState::Accepted)
        .map(|a| (a.miner, a.price_sats))
        .collect()
}

/// Protocol fee plus the job's outcall cycles, within what the hold has left.
pub fn fee(c: &Config, job: &Job, miners: u64) -> u64 {
    let wanted = protocol_fee(c, miners) + cycles_to_sats(c, job.outcall_cycles);
    wanted.min(job.request.max_price_sats.saturating_sub(miners))
}

/// What a rejected result of `price` sats costs the miner's bond (and what
/// matching requires its free bond to cover).
pub fn slash_amount(c: &Config, price: u64) -> u64 {
    price
        .saturating_mul(c.slash_multiplier as u64)
        .max(c.min_slash_sats)
}

pub async fn finish<R: Runtime>(rt: &R, mut job: Job) {
    let c = read_state(|s| s.config());
    let (escrow, registry) = (
        c.escrow.expect("escrow configured"),
        c.registry.expect("registry configured"),
    );
    if !slash_rejected(rt, &mut job, &c, escrow).await {
        return;
    }
    if let Some(until) = job.dispute_until_ns {
        if job.status == JobStatus::Settling && rt.time() < until {
            // The dispute window is open: pay when it closes.
            job.next_action_ns = until;
            return save(&job);
        }
    }
    let settlement = if job.status == JobStatus::Settling {
        let payees = payees(&job);
        let miners: u64 = payees.iter().map(|(_, s)| s).sum();
        rt.release(escrow, &job.id, &payees, fee(&c, &job, miners))
            .await
            .map(release_settlement)
    } else {
        rt.refund(escrow, &job.id).await.map(refund_settlement)
    };
    let now = rt.time();
    // A refusal or an unknown outcome: both are retried (the calls are
    // idempotent by job id).
    let settlement = match settlement.map_err(|e| e.to_string()).and_then(|r| r) {
        Ok(s) => s,
        Err(reason) => {
            event(now, &job, EventKind::SettleRetry { reason });
            job.next_action_ns = now + RETRY_NS;
            return save(&job);
        }
    };
    report_verdicts(rt, &mut job, registry).await;
    close(rt, job, settlement);
}

/// Slashes each rejected miner once. `false` when the escrow could not be
/// reached (retried later).
async fn slash_rejected<R: Runtime>(rt: &R, job: &mut Job, c: &Config, escrow: Principal) -> bool {
    for i in 0..job.assignments.len() {
        let a = &job.assignments[i];
        if !matches!(a.state, AssignmentState::Rejected { .. }) || a.slash_done {
            continue;
        }
        let amount = slash_amount(c, a.price_sats);
        let outcome = rt
            .slash(escrow, a.miner, amount, job.submitter, &job.id)
            .await
            .map(slashed_sats);
        let now = rt.time();
        match outcome {
            Ok(result) => {
                let miner = job.assignments[i].miner;
                let kind = match &result {
                    Ok(taken) => EventKind::Slashed {
                        miner,
                        requested_sats: amount,
                        taken_sats: *taken,
                    },
                    Err(reason) => EventKind::SlashRefused {
                        miner,
                        requested_sats: amount,
                        reason: reason.clone(),
                    },
                };
                event(now, job, kind);
                let a = &mut job.assignments[i];
                a.slashed_sats = result.unwrap_or(0);
                a.slash_done = true;
                mutate_state(|s| s.update_counters(|k| k.totals.slashes += 1));
                save(job);
            }
            Err(e) => {
                event(
                    now,
                    job,
                    EventKind::SlashRetry {
                        reason: e.to_string(),
                    },
                );
                job.next_action_ns = now + RETRY_NS;
                save(job);
                return false;
            }
        }
    }
    true
}

/// Reports verified and failed miners to the registry, once each; a report
/// that cannot be delivered is logged and dropped (reputation is evidence,
/// not money). An accepted answer is reported only when the tier's check ran
/// on it ([`Job::checked`]): acceptance on a signature alone is no evidence,
/// and counting it would let a miner leave "new miner" status, and raise its
/// reputation, with cheap unchecked jobs.
async fn report_verdicts<R: Runtime>(rt: &R, job: &mut Job, registry: Principal) {
    for i in 0..job.assignments.len() {
        let a = &job.assignments[i];
        let verified = match a.state {
            _ if a.reported => continue,
            AssignmentState::Accepted if !job.checked() => continue,
            AssignmentState::Accepted => true,
            AssignmentState::Rejected { .. }
            | AssignmentState::TimedOut
            | AssignmentState::Failed { .. } => false,
            _ => continue,
        };
        let outcome = JobOutcome {
            miner: a.miner,
            job_id: job.id.clone(),
            verified,
        };
        let failure = match rt.report_job_outcome(registry, outcome).await {
            Ok(Ok(_reputation)) => None,
            Ok(Err(refusal)) => Some(format!("{refusal:?}")),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = failure {
            let miner = job.assignments[i].miner;
            event(rt.time(), job, EventKind::ReportFailed { miner, reason: e });
        }
        job.assignments[i].reported = true;
        save(job);
    }
}

fn close<R: Runtime>(rt: &R, mut job: Job, settlement: Settlement) {
    let now = rt.time();
    match settlement {
        Settlement::Released {
            fee,
            refunded,
            payees,
            ..
        } => {
            job.status = JobStatus::Settled;
            job.paid_sats = payees.iter().map(|(_, s)| s).sum();
            job.fee_sats = fee;
            job.refunded_sats = refunded;
        }
        Settlement::Refunded { amount, .. } => {
            job.status = JobStatus::Refunded;
            job.refunded_sats = amount;
        }
    }
    job.updated_at_ns = now;
    release_bond_stakes(&mut job);
    let root = mutate_state(|s| {
        s.update_counters(|k| {
            let t = &mut k.totals;
            match job.status {
                JobStatus::Settled => t.settled += 1,
                _ => t.refunded += 1,
            }
            t.paid_sats += job.paid_sats;
            t.fee_sats += job.fee_sats;
            t.refunded_sats += job.refunded_sats;
        });
        let kind = if job.status == JobStatus::Settled {
            EventKind::Released {
                paid_sats: job.paid_sats,
                fee_sats: job.fee_sats,
                refunded_sats: job.refunded_sats,
            }
        } else {
            EventKind::Refunded {
                refunded_sats: job.refunded_sats,
            }
        };
        s.record(now, Some(&job.id), kind);
        let root = receipts::append(s, rt.id(), &mut job, now);
        s.put_job(job);
        root
    });
    rt.set_certified_data(&root.0);
}
