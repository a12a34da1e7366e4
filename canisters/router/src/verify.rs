//! Verification of committed results, by tier. Randomness is drawn with
//! `raw_rand` only after the commitments (so a worker cannot know what will
//! be checked). Matmul jobs whose operands the router holds are checked with
//! Freivalds plus opened rows against each miner's own commitment; other
//! jobs compare replicas: embeddings row by row (cosine ≥ 0.9999), URL
//! matmuls by their answers `y = C·r` to one shared challenge. A mismatch
//! brings in a tie-breaking miner; the majority wins and the others are
//! rejected (and slashed when settling).

use crate::clients::worker::{self, Reply, RESULT_CHUNK_BYTES};
use crate::job::{Assignment, Job};
use crate::runtime::Runtime;
use crate::state::audit::{
    charge, event, record_verified_work, reject, reject_proven, start_refund,
};
use crate::state::{mutate_state, EventKind};
use tensormine_core::api::{self, ChallengeRequest, ChallengeResponse, JobSpec};
use tensormine_core::challenge::{
    challenge_request, check_matmul_answer, opened_rows, operands_held,
};
use tensormine_core::encoding::{f32_from_le_bytes, f64_from_le_bytes, f64_to_le_bytes};
use tensormine_core::router::*;
use tensormine_core::{merkle, prng, Digest32};

/// Embeddings of honest replicas agree to this cosine similarity per row.
pub const MIN_COSINE: f64 = 0.9999;
/// Relative tolerance between two honest replicas' `y = C·r`.
pub const Y_RTOL: f64 = 1e-3;
/// Why a worker whose signed sha256 and Merkle root name different bytes is
/// rejected (and slashed): provable from its own signature.
pub const NOT_THE_COMMITTED_RESULT: &str =
    "delivered bytes match the signed sha256 but not the committed Merkle root";
/// Attempts to fetch the accepted result for storage before settling without it.
const MAX_FETCH_TRIES: u32 = 3;
const RETRY_NS: u64 = 2_000_000_000;

/// Matmul with operands the router holds: each miner is checked on its own.
pub fn freivalds_applies(job: &Job) -> bool {
    matches!(&job.spec, JobSpec::Matmul(s) if operands_held(s))
        && !matches!(job.request.tier, Tier::None)
}

fn result_key(job: &str, slot: usize) -> String {
    format!("{job}|{slot}")
}

fn accept(job: &mut Job, i: usize) {
    job.assignments[i].state = AssignmentState::Accepted;
}

/// Checks what can be checked now; leaves the job Settling, Running (a
/// replacement, auditor or tie-breaker is needed), Verifying (retry later)
/// or Refunding.
pub async fn run<R: Runtime>(rt: &R, job: &mut Job, c: &Config) {
    let assignments = job.assignments.len() as u32;
    if job.randomness.is_none() || job.randomness_assignments != assignments {
        match rt.raw_rand().await {
            Ok(r) => {
                job.randomness = Some(r);
                job.randomness_assignments = assignments;
                forget_challenge_answers(job);
            }
            Err(e) => return retry(job, rt.time(), &e),
        }
    }
    let rand = job.randomness.expect("drawn above");
    if let Tier::Audit { rate_ppm } = job.request.tier {
        if job.audited.is_none() {
            let draw = u32::from_le_bytes(Digest32::sha256(&rand).0[..4].try_into().expect("4"))
                % 1_000_000;
            let primary_new = job
                .assignments
                .iter()
                .any(|a| a.role == AssignmentRole::Primary && a.is_live() && a.new_miner);
            let audited = primary_new || draw < rate_ppm;
            let kind = EventKind::AuditDrawn {
                audited,
                new_miner: primary_new,
            };
            event(rt.time(), job, kind);
            job.audited = Some(audited);
            if audited && !freivalds_applies(job) {
                // An auditor must run it too: back to matching.
                job.status = JobStatus::Running;
                job.next_action_ns = rt.time();
                return;
            }
        }
    }
    if !job.checked() {
        let i = job
            .live()
            .map(|(i, _)| i)
            .next()
            .expect("a committed miner");
        accept(job, i);
    } else if freivalds_applies(job) {
        if !freivalds_all(rt, job, c, &rand).await {
            return;
        }
    } else if !compare(rt, job, c, &rand).await {
        return;
    }
    if job.status != JobStatus::Verifying {
        return;
    }
    if job.live().next().is_none()
        || job
            .live()
            .any(|(_, a)| !matches!(a.state, AssignmentState::Accepted))
    {
        // Every result was rejected (or one still waits): a replacement is matched next.
        job.status = JobStatus::Running;
        job.next_action_ns = rt.time();
        return;
    }
    store_result(rt, job, c).await;
}

/// Drops the stored `y` answers of a matmul job's replicas: they answered
/// the old challenge, and comparing them with answers to the new one would
/// be meaningless. (Stored embeddings are results, valid whatever is drawn.)
fn forget_challenge_answers(job: &Job) {
    if matches!(job.spec, JobSpec::Matmul(_)) {
        mutate_state(|s| {
            for i in 0..job.assignments.len() {
                s.results.remove(&result_key(&job.id, i));
            }
        });
    }
}

/// Counts a failed outcall to a committed miner; after
/// [`MAX_POLL_ERRORS`](crate::job::MAX_POLL_ERRORS) in a row the miner is
/// given up on (a replacement is matched) instead of holding the job until
/// its deadline. Answers whether it was given up on.
fn give_up_after_errors(job: &mut Job, i: usize, why: &str, now: u64) -> bool {
    let a = &mut job.assignments[i];
    a.errors += 1;
    if a.errors < crate::job::MAX_POLL_ERRORS {
        retry(job, now, why);
        return false;
    }
    a.state = AssignmentState::Failed {
        reason: format!("worker unreachable after committing: {why}"),
    };
    let kind = EventKind::AssignmentChanged {
        miner: job.assignments[i].miner,
        state: job.assignments[i].state.clone(),
    };
    event(now, job, kind);
    true
}

fn retry(job: &mut Job, now: u64, why: &str) {
    event(
        now,
        job,
        EventKind::VerifyRetry {
            reason: why.to_string(),
        },
    );
    job.next_action_ns = now + RETRY_NS;
}

/// Freivalds on every committed, unchecked miner. `false` when the step
/// must be retried later.
async fn freivalds_all<R: Runtime>(rt: &R, job: &mut Job, c: &Config, rand: &[u8; 32]) -> bool {
    let JobSpec::Matmul(spec) = job.spec.clone() else {
        unreachable!("freivalds applies to matmul")
    };
    let request = challenge_request(rand, spec.m as u64, c.challenge_rows);
    let todo: Vec<usize> = job
        .live()
        .filter(|(_, a)| a.state == AssignmentState::Committed)
        .map(|(i, _)| i)
        .collect();
    for i in todo {
        let root = job.assignments[i]
            .commitment
            .as_ref()
            .expect("committed")
            .commitment
            .merkle_root;
        let verdict = challenge(
            rt,
            job,
            i,
            &request,
            spec.m,
            spec.n,
            c.outcall_mode == OutcallMode::Replicated,
        )
        .await;
        let now = rt.time();
        let verdict = match verdict {
            Reply::Ok(answer) => {
                check_matmul_answer(&spec, &root, &request, &answer).map_err(|e| e.to_string())
            }
            Reply::Refused(reason) => {
                job.assignments[i].state = AssignmentState::Failed { reason };
                continue;
            }
            Reply::Unavailable(e) => {
                if give_up_after_errors(job, i, &e, now) {
                    continue;
                }
                return false;
            }
        };
        job.assignments[i].errors = 0;
        let verdict = match verdict {
            // One replica answered a non-replicated outcall: before a verdict
            // that costs the miner its bond, hear every replica.
            Err(_) if c.outcall_mode == OutcallMode::NonReplicated => {
                match challenge(rt, job, i, &request, spec.m, spec.n, true).await {
                    Reply::Ok(answer) => check_matmul_answer(&spec, &root, &request, &answer)
                        .map_err(|e| e.to_string()),
                    Reply::Refused(reason) | Reply::Unavailable(reason) => {
                        retry(job, rt.time(), &reason);
                        return false;
                    }
                }
            }
            v => v,
        };
        match verdict {
            Ok(()) => {
                accept(job, i);
                record_verified_work(job, i);
            }
            Err(reason) => reject_proven(
                job,
                i,
                format!("failed the Freivalds check: {reason}"),
                rt.time(),
            ),
        }
    }
    true
}

/// Asks miner `i` the challenge, in as many outcalls as the 2 MB answer
/// limit needs (rows in request order, the same `r` each time), and merges
/// the answers. An answer that changes `y` between batches is merged with an
/// empty `y`, which the check rejects as not `C·r` of the committed rows.
async fn challenge<R: Runtime>(
    rt: &R,
    job: &mut Job,
    i: usize,
    request: &ChallengeRequest,
    m: u32,
    n: u32,
    replicated: bool,
) -> Reply<ChallengeResponse> {
    let (m, n) = (m as u64, n as u64);
    let per_answer = api::challenge_rows_per_answer(m, n, worker::MAX_ANSWER_BYTES).max(1) as usize;
    let a = job.assignments[i].clone();
    let mut merged: Option<ChallengeResponse> = None;
    for rows in request.rows.chunks(per_answer) {
        let batch = ChallengeRequest {
            r_seed: request.r_seed,
            rows: rows.to_vec(),
        };
        let called = worker::challenge(rt, &a, &job.id, &batch, m, n, replicated).await;
        charge(job, called.cycles);
        let answer = match called.reply {
            Reply::Ok(answer) => answer,
            other => return other,
        };
        match &mut merged {
            None => merged = Some(answer),
            Some(whole) => {
                if whole.y != answer.y || whole.merkle_root != answer.merkle_root {
                    whole.y.0.clear();
                }
                whole.rows.extend(answer.rows);
            }
        }
    }
    match merged {
        Some(answer) => Reply::Ok(answer),
        None => Reply::Refused("a challenge of no rows".into()),
    }
}

/// Fetches a committed result in chunks and checks it against the signed
/// sha256 and length.
pub async fn fetch_result<R: Runtime>(
    rt: &R,
    job: &mut Job,
    i: usize,
    replicated: bool,
) -> Reply<Vec<u8>> {
    let a: Assignment = job.assignments[i].clone();
    let cm = a.commitment.clone().expect("committed").commitment;
    let mut bytes = Vec::with_capacity(cm.byte_len as usize);
    while (bytes.len() as u64) < cm.byte_len {
        let length = (cm.byte_len - bytes.len() as u64).min(RESULT_CHUNK_BYTES);
        let called =
            worker::result_chunk(rt, &a, &job.id, bytes.len() as u64, length, replicated).await;
        charge(job, called.cycles);
        match called.reply {
            Reply::Ok(chunk) => bytes.extend_from_slice(&chunk),
            Reply::Refused(e) => return Reply::Refused(e),
            Reply::Unavailable(e) => return Reply::Unavailable(e),
        }
    }
    if Digest32::sha256(&bytes) != cm.sha256 {
        // Signed sha256 vs. bytes that one replica may have altered: retry.
        return Reply::Unavailable("result bytes do not match the committed sha256".into());
    }
    if merkle::root_of_bytes(&bytes, cm.cols as usize) != Some(cm.merkle_root) {
        // The worker signed both: its sha256 names other bytes than the
        // rows its root commits to (and the spot checks opened).
        return Reply::Refused(NOT_THE_COMMITTED_RESULT.into());
    }
    Reply::Ok(bytes)
}

/// What two replicas are compared on: the embeddings, or `y = C·r`.
async fn fingerprint<R: Runtime>(
    rt: &R,
    job: &mut Job,
    i: usize,
    c: &Config,
    rand: &[u8; 32],
) -> Reply<Vec<u8>> {
    let replicated = c.outcall_mode == OutcallMode::Replicated;
    match job.spec.clone() {
        JobSpec::Embed(_) => fetch_result(rt, job, i, replicated).await,
        JobSpec::Matmul(spec) => {
            let request = challenge_request(rand, spec.m as u64, c.challenge_rows);
            let root = job.assignments[i]
                .commitment
                .as_ref()
                .expect("committed")
                .commitment
                .merkle_root;
            let r = prng::challenge_vector(&request.r_seed.0, spec.n as usize);
            match challenge(rt, job, i, &request, spec.m, spec.n, replicated).await {
                Reply::Ok(a)
                    if opened_rows(&root, spec.m as u64, spec.n as usize, &r, &request, &a)
                        .is_ok() =>
                {
                    Reply::Ok(f64_to_le_bytes(&a.y.0))
                }
                Reply::Ok(_) => {
                    Reply::Unavailable("challenge answer does not open the commitment".into())
                }
                other => other.map_err_kind(),
            }
        }
    }
}

trait MapKind {
    fn map_err_kind(self) -> Reply<Vec<u8>>;
}

impl MapKind for Reply<ChallengeResponse> {
    fn map_err_kind(self) -> Reply<Vec<u8>> {
        match self {
            Reply::Ok(_) => unreachable!("handled by the caller"),
            Reply::Refused(e) => Reply::Refused(e),
            Reply::Unavailable(e) => Reply::Unavailable(e),
        }
    }
}

fn embeddings_agree(x: &[u8], y: &[u8], cols: usize) -> bool {
    let (Some(x), Some(y)) = (f32_from_le_bytes(x), f32_from_le_bytes(y)) else {
        return false;
    };
    x.len() == y.len()
        && cols > 0
        && x.chunks_exact(cols)
            .zip(y.chunks_exact(cols))
            .all(|(a, b)| {
                let dot: f64 = a.iter().zip(b).map(|(&p, &q)| p as f64 * q as f64).sum();
                let na: f64 = a.iter().map(|&p| (p as f64).powi(2)).sum::<f64>().sqrt();
                let nb: f64 = b.iter().map(|&q| (q as f64).powi(2)).sum::<f64>().sqrt();
                na > 0.0 && nb > 0.0 && dot / (na * nb) >= MIN_COSINE
            })
}

fn ys_agree(x: &[u8], y: &[u8]) -> bool {
    let (Some(x), Some(y)) = (f64_from_le_bytes(x), f64_from_le_bytes(y)) else {
        return false;
    };
    x.len() == y.len()
        && x.iter()
            .zip(&y)
            .all(|(p, q)| (p - q).abs() <= Y_RTOL * p.abs().max(q.abs()).max(1.0))
}

/// Whether results `i` and `j` agree.
fn agree(job: &Job, x: &[u8], y: &[u8], i: usize, j: usize) -> bool {
    let cols = |k: usize| {
        job.assignments[k]
            .commitment
            .as_ref()
            .map_or(0, |r| r.commitment.cols)
    };
    match job.spec {
        JobSpec::Embed(_) => cols(i) == cols(j) && embeddings_agree(x, y, cols(i) as usize),
        JobSpec::Matmul(_) => ys_agree(x, y),
    }
}

/// Compares the live committed replicas. `false` when the step must be
/// retried later.
async fn compare<R: Runtime>(rt: &R, job: &mut Job, c: &Config, rand: &[u8; 32]) -> bool {
    let live: Vec<usize> = job.live().map(|(i, _)| i).collect();
    for &i in &live {
        if mutate_state(|s| s.results.contains_key(&result_key(&job.id, i))) {
            continue;
        }
        match fingerprint(rt, job, i, c, rand).await {
            Reply::Ok(bytes) => mutate_state(|s| {
                s.results.insert(result_key(&job.id, i), bytes);
            }),
            Reply::Refused(reason) => {
                if reason == NOT_THE_COMMITTED_RESULT {
                    reject_proven(job, i, reason, rt.time());
                } else {
                    job.assignments[i].state = AssignmentState::Failed { reason };
                }
                job.status = JobStatus::Running;
                job.next_action_ns = rt.time();
                return false;
            }
            Reply::Unavailable(e) => {
                if give_up_after_errors(job, i, &e, rt.time()) {
                    job.status = JobStatus::Running;
                    job.next_action_ns = rt.time();
                }
                return false;
            }
        }
    }
    let prints: Vec<Vec<u8>> = crate::state::read_state(|s| {
        live.iter()
            .map(|&i| {
                s.results
                    .get(&result_key(&job.id, i))
                    .expect("fetched above")
            })
            .collect()
    });
    let agrees = |a: usize, b: usize| agree(job, &prints[a], &prints[b], live[a], live[b]);
    let now = rt.time();
    if (0..live.len()).all(|a| (0..live.len()).all(|b| a >= b || agrees(a, b))) {
        live.iter().for_each(|&i| accept(job, i));
        return true;
    }
    // The largest group agreeing with one member, if a strict majority.
    let best = (0..live.len())
        .map(|a| {
            (0..live.len())
                .filter(|&b| agrees(a, b))
                .collect::<Vec<_>>()
        })
        .max_by_key(Vec::len)
        .unwrap_or_default();
    if best.len() >= 2 && best.len() * 2 > live.len() {
        for (pos, &i) in live.iter().enumerate() {
            if best.contains(&pos) {
                accept(job, i);
            } else {
                reject(
                    job,
                    i,
                    "result disagrees with the majority of replicas".into(),
                    now,
                );
            }
        }
        return true;
    }
    if !job.tiebreak {
        let kind = EventKind::TieBreak {
            replicas: live.len() as u32,
        };
        event(now, job, kind);
        job.tiebreak = true;
        job.status = JobStatus::Running;
        job.next_action_ns = now;
        return false;
    }
    start_refund(
        job,
        now,
        "replicas disagree and the tie-breaker did not settle it".into(),
    );
    false
}

/// Keeps the accepted result for the submitter (when small enough), then
/// moves the job to Settling.
async fn store_result<R: Runtime>(rt: &R, job: &mut Job, c: &Config) {
    let accepted = job
        .live()
        .find(|(_, a)| a.role == AssignmentRole::Primary)
        .or_else(|| job.live().next())
        .map(|(i, _)| i)
        .expect("an accepted miner");
    job.accepted = Some(accepted);
    let byte_len = job.assignments[accepted]
        .commitment
        .as_ref()
        .expect("committed")
        .commitment
        .byte_len;
    let fetched = mutate_state(|s| s.results.remove(&result_key(&job.id, accepted)));
    let bytes = match fetched {
        Some(b) if matches!(job.spec, JobSpec::Embed(_)) => Some(b),
        _ if byte_len <= c.max_stored_result_bytes && job.fetch_tries < MAX_FETCH_TRIES => {
            job.fetch_tries += 1;
            match fetch_result(rt, job, accepted, c.outcall_mode == OutcallMode::Replicated).await {
                Reply::Ok(b) => Some(b),
                Reply::Refused(reason) if reason == NOT_THE_COMMITTED_RESULT => {
                    // Not the verified result: reject it and find another miner.
                    job.accepted = None;
                    reject_proven(job, accepted, reason, rt.time());
                    job.status = JobStatus::Running;
                    job.next_action_ns = rt.time();
                    return;
                }
                Reply::Unavailable(e) if job.fetch_tries < MAX_FETCH_TRIES => {
                    return retry(job, rt.time(), &e)
                }
                _ => None,
            }
        }
        _ => None,
    };
    mutate_state(|s| {
        for i in 0..job.assignments.len() {
            s.results.remove(&result_key(&job.id, i));
        }
        if let Some(b) = &bytes {
            s.results.insert(job.id.clone(), b.clone());
        }
    });
    job.stored_result_bytes = bytes.map_or(0, |b| b.len() as u64);
    let now = rt.time();
    let kind = EventKind::Verified {
        miner: job.assignments[accepted].miner,
        checked: job.checked(),
    };
    event(now, job, kind);
    job.status = JobStatus::Settling;
    job.next_action_ns = now;
    job.updated_at_ns = now;
    if c.dispute_window_secs > 0 && crate::dispute::disputable(job) {
        // Paid once the window closes, unless a fraud proof comes first.
        let until = now.saturating_add(c.dispute_window_secs.saturating_mul(1_000_000_000));
        job.dispute_until_ns = Some(until);
        job.next_action_ns = until;
    }
}
