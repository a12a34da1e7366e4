//! The job engine: a timer tick advances every due job one step — hold,
//! match, dispatch, poll, verify, settle — under a per-job guard. A step
//! saves the job before and after each await, so a trap, an upgrade or a
//! lost answer repeats at most an idempotent call (worker dispatch by job
//! id, escrow hold/release/refund/slash by job id).

use crate::clients::worker::{self, Reply};
use crate::guard::job_guard;
use crate::job::{replicas, Assignment, Job};
use crate::runtime::Runtime;
use crate::state::audit::{cancel, cancellable, charge, event, save, stake_bond, start_refund};
use crate::state::{mutate_state, read_state, EventKind};
use crate::{settle, submit, sync, verify};
use candid::Principal;
use tensormine_core::api::{JobState as WorkerState, Progress};
use tensormine_core::matching::MatchRequest;
use tensormine_core::router::*;
use tensormine_core::{signing, Digest32};

/// Most jobs one tick starts working on.
pub const MAX_JOBS_PER_TICK: usize = 32;
/// How long a job without an available miner waits before looking again.
const RETRY_MATCH_NS: u64 = 5_000_000_000;
pub use crate::job::MAX_POLL_ERRORS;
const SECOND_NS: u64 = 1_000_000_000;

/// Advances every due job (concurrently; each under its own guard).
pub async fn tick<R: Runtime>(rt: &R) {
    let now = rt.time();
    let due: Vec<String> = read_state(|s| {
        s.due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter(|(_, id)| !s.is_busy(id))
            .map(|(_, id)| id.clone())
            .take(MAX_JOBS_PER_TICK)
            .collect()
    });
    futures::future::join_all(due.iter().map(|id| advance(rt, id))).await;
}

/// One step of one job.
pub async fn advance<R: Runtime>(rt: &R, id: &str) {
    let Ok(_guard) = job_guard(id) else {
        return;
    };
    let Some(job) = read_state(|s| s.job(id)) else {
        return;
    };
    match job.status {
        JobStatus::Holding => {
            let _ = submit::hold(rt, job).await;
        }
        JobStatus::Matching | JobStatus::Running | JobStatus::Verifying => work(rt, job).await,
        JobStatus::Settling | JobStatus::Refunding => settle::finish(rt, job).await,
        JobStatus::Settled | JobStatus::Refunded | JobStatus::Rejected => {}
    }
}

/// Applies a cancellation asked while the job was busy.
fn take_cancel(job: &mut Job, now: u64) -> bool {
    let asked = mutate_state(|s| s.cancels.remove(&job.id));
    if asked && cancellable(job) {
        cancel(job, now);
        return true;
    }
    false
}

async fn work<R: Runtime>(rt: &R, mut job: Job) {
    let config = read_state(|s| s.config());
    let now = rt.time();
    if take_cancel(&mut job, now) {
        save(&job);
        return settle::finish(rt, job).await;
    }
    if now >= job.deadline_ns {
        start_refund(
            &mut job,
            now,
            "the deadline passed before a verified result".into(),
        );
        save(&job);
        return settle::finish(rt, job).await;
    }
    assign(rt, &mut job, &config, now).await;
    if job.status == JobStatus::Refunding {
        save(&job);
        return settle::finish(rt, job).await;
    }
    save(&job);
    poll_assignments(rt, &mut job, &config).await;
    let now = rt.time();
    update_status(&mut job, now);
    save(&job);
    if job.status == JobStatus::Verifying {
        verify::run(rt, &mut job, &config).await;
        save(&job);
    }
    if matches!(job.status, JobStatus::Settling | JobStatus::Refunding) {
        settle::finish(rt, job).await;
    }
}

/// Roles the job should have live now.
fn wanted(job: &Job) -> Vec<AssignmentRole> {
    let mut roles = vec![AssignmentRole::Primary];
    roles.extend((1..replicas(job.request.tier)).map(|_| AssignmentRole::Replica));
    if job.audited == Some(true) && !verify::freivalds_applies(job) {
        roles.push(AssignmentRole::Auditor);
    }
    if job.tiebreak {
        roles.push(AssignmentRole::TieBreaker);
    }
    roles
}

fn same_slot(a: &AssignmentRole, b: &AssignmentRole) -> bool {
    let base = |r: &AssignmentRole| matches!(r, AssignmentRole::Primary | AssignmentRole::Replica);
    a == b || (base(a) && base(b))
}

/// Roles without a live miner.
fn missing(job: &Job) -> Vec<AssignmentRole> {
    let mut live: Vec<AssignmentRole> = job.live().map(|(_, a)| a.role.clone()).collect();
    let mut out = Vec::new();
    for role in wanted(job) {
        match live.iter().position(|r| same_slot(r, &role)) {
            Some(i) => {
                live.swap_remove(i);
            }
            None => out.push(role),
        }
    }
    out
}

/// Fills every role without a live miner, within the failover bound.
async fn assign<R: Runtime>(rt: &R, job: &mut Job, c: &Config, now: u64) {
    let roles = missing(job);
    if roles.is_empty() {
        return;
    }
    let dead = job.assignments.iter().filter(|a| !a.is_live()).count() as u32;
    job.failovers = dead;
    if dead > c.max_failovers {
        let reason = format!("{dead} miners failed, timed out or were rejected; no failover left");
        return start_refund(job, now, reason);
    }
    let mut picked = pick(job, c, roles.len());
    if picked.len() < roles.len()
        && now.saturating_sub(read_state(|s| s.last_sync_ns)) > RETRY_MATCH_NS
    {
        // The feed may know miners the last sync did not.
        sync::run(rt).await;
        picked = pick(job, c, roles.len());
    }
    let Some(secret) = worker_secret(rt).await else {
        job.next_action_ns = rt.time() + RETRY_MATCH_NS;
        return;
    };
    let now = rt.time();
    for (role, miner) in roles.into_iter().zip(picked) {
        let Some(info) = read_state(|s| s.miner(&miner)) else {
            continue;
        };
        let ask = info
            .candidate
            .offers
            .iter()
            .find(|(w, _)| *w == job.request.workload.kind())
            .map_or(0, |(_, p)| *p);
        let price_sats = ask.saturating_mul(job.units);
        let at_stake = settle::slash_amount(c, price_sats);
        if !bond_covers(rt, job, c, miner, at_stake).await {
            continue;
        }
        let (worker_job_id, capability) =
            crate::state::State::worker_access(&secret, &job.id, job.assignments.len());
        let kind = EventKind::Assigned {
            miner,
            role: role.clone(),
            price_per_unit_sats: ask,
        };
        event(now, job, kind);
        job.assignments.push(Assignment {
            miner,
            endpoint: info.endpoint,
            worker_key: info.worker_key,
            owner: info.owner,
            price_sats,
            new_miner: info.jobs_verified < c.new_miner_jobs,
            role,
            state: AssignmentState::Dispatching { tries: 0 },
            commitment: None,
            progress: Progress::default(),
            assigned_at_ns: now,
            backoff_ms: c.poll_initial_ms,
            errors: 0,
            next_at_ns: now,
            slashed_sats: 0,
            slash_done: false,
            reported: false,
            bond_at_stake_sats: 0,
            worker_job_id,
            capability,
            committed_at_ns: 0,
        });
        stake_bond(job.assignments.last_mut().expect("pushed"), at_stake);
    }
    job.updated_at_ns = now;
    if missing(job).is_empty() {
        job.next_action_ns = now;
    } else {
        job.next_action_ns = now + RETRY_MATCH_NS;
    }
}

/// The router's secret for worker-side ids and capabilities, drawn from
/// `raw_rand` the first time (`None` when it cannot be drawn now).
async fn worker_secret<R: Runtime>(rt: &R) -> Option<[u8; 32]> {
    if let Some(secret) = read_state(|s| s.counters().worker_secret) {
        return Some(secret);
    }
    let drawn = rt.raw_rand().await.ok()?;
    Some(mutate_state(|s| {
        s.update_counters(|c| *c.worker_secret.get_or_insert(drawn))
    }))
}

/// Whether `miner`'s free bond — bonded in the escrow, less what its open
/// jobs have at stake — covers `needed`, the slash this job could take. A
/// miner that falls short is passed over for the rest of the job (a
/// `BondTooLow` event says by how much); an escrow that cannot answer now
/// passes it over for this turn only.
async fn bond_covers<R: Runtime>(
    rt: &R,
    job: &mut Job,
    c: &Config,
    miner: Principal,
    needed: u64,
) -> bool {
    let escrow = c.escrow.expect("escrow configured");
    let Ok(balance) = rt.balance(escrow, miner).await else {
        return false;
    };
    let at_stake = read_state(|s| s.bond_at_stake.get(&miner).unwrap_or(0));
    let free = balance.bonded.saturating_sub(at_stake);
    if free >= needed {
        return true;
    }
    let kind = EventKind::BondTooLow {
        miner,
        free_sats: free,
        needed_sats: needed,
    };
    event(rt.time(), job, kind);
    job.passed_over.push(miner);
    false
}

/// Miners for `count` more roles: online, offering the workload within the
/// job's price per unit, not tried on this job, owners distinct from the
/// live assignments', and never the submitter itself (a miner paying itself
/// would buy reputation, not compute).
fn pick(job: &Job, c: &Config, count: usize) -> Vec<Principal> {
    let Some(max_price) = submit::max_price_per_unit(c, &job.request) else {
        return vec![];
    };
    let tried: Vec<Principal> = read_state(|s| {
        job.assignments
            .iter()
            .map(|a| a.miner)
            .chain([job.submitter])
            .chain(job.passed_over.iter().copied())
            .chain(s.suspended.iter().map(|e| *e.key()))
            .collect()
    });
    let owners: Vec<Digest32> = job.live().map(|(_, a)| a.owner).collect();
    read_state(|s| {
        let mut seed = s.match_seed.to_vec();
        seed.extend_from_slice(job.id.as_bytes());
        seed.extend_from_slice(&(job.assignments.len() as u64).to_le_bytes());
        s.index.select(&MatchRequest {
            workload: job.request.workload.kind(),
            max_price_per_unit: max_price,
            min_gpu_memory_bytes: job.request.resources.min_gpu_memory_bytes.unwrap_or(0),
            count,
            exclude: &tried,
            exclude_owners: &owners,
            seed: Digest32::sha256(&seed).0,
        })
    })
}

/// Dispatches or polls every live assignment that is due, concurrently.
async fn poll_assignments<R: Runtime>(rt: &R, job: &mut Job, c: &Config) {
    let now = rt.time();
    let due: Vec<usize> = job
        .live()
        .filter(|(_, a)| !a.is_committed() && a.next_at_ns <= now)
        .map(|(i, _)| i)
        .collect();
    let replicated = c.outcall_mode == OutcallMode::Replicated;
    let steps = due.iter().map(|&i| step(rt, job, i, c, replicated));
    let updated = futures::future::join_all(steps).await;
    for (i, (a, cycles)) in due.into_iter().zip(updated) {
        charge(job, cycles);
        if a.state != job.assignments[i].state {
            let kind = EventKind::AssignmentChanged {
                miner: a.miner,
                state: a.state.clone(),
            };
            event(rt.time(), job, kind);
        }
        job.assignments[i] = a;
    }
}

/// One outcall for assignment `i`; the updated assignment and its cost.
async fn step<R: Runtime>(
    rt: &R,
    job: &Job,
    i: usize,
    c: &Config,
    replicated: bool,
) -> (Assignment, u128) {
    let mut a = job.assignments[i].clone();
    match a.state {
        AssignmentState::Dispatching { tries } => {
            let called = worker::dispatch(rt, &a, &job.id, &job.spec, replicated).await;
            let now = rt.time();
            on_dispatch(&mut a, job, called.reply, tries, c, now);
            (a, called.cycles)
        }
        AssignmentState::Running { polls } => {
            let called = worker::status(rt, &a, &job.id, replicated).await;
            let now = rt.time();
            on_status(&mut a, job, called.reply, polls, c, now);
            (a, called.cycles)
        }
        _ => (a, 0),
    }
}

fn on_dispatch(
    a: &mut Assignment,
    job: &Job,
    reply: Reply<tensormine_core::api::JobAck>,
    tries: u32,
    c: &Config,
    now: u64,
) {
    match reply {
        Reply::Ok(ack) if ack.spec_hash != job.spec_hash || ack.job_id != a.worker_id(&job.id) => {
            a.state = AssignmentState::Failed {
                reason: "the worker acknowledged another job or spec".into(),
            };
        }
        Reply::Ok(ack) if ack.worker_public_key.0 != a.worker_key => {
            a.state = AssignmentState::Failed {
                reason: "the worker's key differs from the registered one".into(),
            };
        }
        Reply::Ok(_) => {
            a.state = AssignmentState::Running { polls: 0 };
            a.errors = 0;
            a.next_at_ns = now + a.backoff_ms * 1_000_000;
        }
        Reply::Refused(reason) => a.state = AssignmentState::Failed { reason },
        Reply::Unavailable(reason) if tries + 1 > c.dispatch_retries => {
            a.state = AssignmentState::Failed {
                reason: format!("dispatch failed {} times: {reason}", tries + 1),
            };
        }
        Reply::Unavailable(_) => {
            a.state = AssignmentState::Dispatching { tries: tries + 1 };
            a.next_at_ns = now + (SECOND_NS << tries.min(6));
        }
    }
}

fn on_status(
    a: &mut Assignment,
    job: &Job,
    reply: Reply<tensormine_core::api::JobStatus>,
    polls: u32,
    c: &Config,
    now: u64,
) {
    let timed_out = now >= a.assigned_at_ns + c.assignment_timeout_secs * SECOND_NS;
    match reply {
        Reply::Ok(st) if st.job_id != a.worker_id(&job.id) || st.spec_hash != job.spec_hash => {
            a.state = AssignmentState::Failed {
                reason: "the worker reports another job or spec".into(),
            };
        }
        Reply::Ok(st) => match (st.state, st.result) {
            (WorkerState::Done, Some(result)) => match check_commitment(job, a, &result) {
                Ok(()) => {
                    a.commitment = Some(result);
                    a.state = AssignmentState::Committed;
                    a.committed_at_ns = now;
                    a.progress = Progress {
                        done: st.progress.total,
                        total: st.progress.total,
                    };
                }
                // Not slashable: a single replica's answer could be forged,
                // while a valid signature cannot.
                Err(reason) => a.state = AssignmentState::Failed { reason },
            },
            (WorkerState::Failed, _) | (WorkerState::Done, None) => {
                a.state = AssignmentState::Failed {
                    reason: format!(
                        "the worker failed the job: {}",
                        st.error.unwrap_or_else(|| "no result".into())
                    ),
                };
            }
            _ if timed_out => a.state = AssignmentState::TimedOut,
            _ => {
                a.progress = st.progress;
                a.errors = 0;
                a.state = AssignmentState::Running { polls: polls + 1 };
                a.backoff_ms = (a.backoff_ms * 2).min(c.poll_max_ms);
                a.next_at_ns = now + a.backoff_ms * 1_000_000;
            }
        },
        Reply::Refused(reason) => a.state = AssignmentState::Failed { reason },
        Reply::Unavailable(_) if timed_out => a.state = AssignmentState::TimedOut,
        Reply::Unavailable(reason) if a.errors + 1 >= MAX_POLL_ERRORS => {
            a.state = AssignmentState::Failed {
                reason: format!("worker unreachable for {} polls: {reason}", a.errors + 1),
            };
        }
        Reply::Unavailable(_) => {
            a.errors += 1;
            a.state = AssignmentState::Running { polls: polls + 1 };
            a.backoff_ms = (a.backoff_ms * 2).min(c.poll_max_ms);
            a.next_at_ns = now + a.backoff_ms * 1_000_000;
        }
    }
}

/// The commitment is signed by the registered worker key, for this job and
/// spec, with the result's expected shape.
fn check_commitment(
    job: &Job,
    a: &Assignment,
    r: &tensormine_core::api::SignedResult,
) -> Result<(), String> {
    signing::verify_result(
        &a.worker_key,
        a.worker_id(&job.id),
        &job.spec_hash,
        &r.commitment,
        &r.signature.0,
    )
    .map_err(|e| format!("result signature: {e}"))?;
    let cm = &r.commitment;
    let (rows, cols) = match &job.request.workload {
        WorkloadInput::Matmul { m, n, .. } => (*m as u64, Some(*n as u64)),
        WorkloadInput::Embed { sentences, .. } => (sentences.len() as u64, None),
    };
    let cols_ok = cols.is_none_or(|n| cm.cols == n) && cm.cols > 0;
    if cm.rows != rows || !cols_ok || cm.byte_len != cm.rows * cm.cols * 4 {
        return Err(format!(
            "commitment is {}×{} ({} bytes), expected {rows} rows",
            cm.rows, cm.cols, cm.byte_len
        ));
    }
    Ok(())
}

/// Running while miners compute; Verifying once every wanted role committed.
fn update_status(job: &mut Job, now: u64) {
    if !missing(job).is_empty() {
        job.status = if job.live().next().is_some() {
            JobStatus::Running
        } else {
            JobStatus::Matching
        };
        job.next_action_ns = job
            .next_action_ns
            .max(now)
            .min(next_poll(job).unwrap_or(u64::MAX));
        return;
    }
    if job.live().all(|(_, a)| a.is_committed()) {
        job.status = JobStatus::Verifying;
        job.next_action_ns = now;
    } else {
        job.status = JobStatus::Running;
        job.next_action_ns = next_poll(job).unwrap_or(now + SECOND_NS);
    }
    job.updated_at_ns = now;
}

fn next_poll(job: &Job) -> Option<u64> {
    job.live()
        .filter(|(_, a)| !a.is_committed())
        .map(|(_, a)| a.next_at_ns)
        .min()
}
