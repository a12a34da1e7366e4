//! Capability ("proof of useful work"): a seeded n×n×n matmul with a
//! deadline, commit-then-challenge. The worker commits (signed Merkle root
//! over C's rows); only then does the canister draw `raw_rand` for the
//! Freivalds vector and the sampled rows, and checks the answer with
//! `tensormine_core` (Merkle paths, Freivalds, recomputed rows). A pass
//! records `2·n³ / elapsed` FLOP/s as a lower bound; a failure suspends.

use crate::guard::{Guard, Task};
use crate::runtime::{Outcall, OutcallResponse, Runtime, Transform};
use crate::state::{mutate_state, read_state, EventKind, State};
use crate::types::*;
use candid::Principal;
use tensormine_core::api::JobSpec;
use tensormine_core::api::{
    challenge_response_size, CapabilityChallenge, CapabilityCommitment, ChallengeRequest,
    ChallengeResponse,
};
use tensormine_core::challenge::{check_matmul_answer, r_seed, sample_rows};
use tensormine_core::{signing, Digest32};

/// The coarsest the canister's clock can be trusted for a round trip (the
/// IC's block time): elapsed times are rounded up to it, so the recorded
/// FLOP/s is a true lower bound.
pub const MIN_ELAPSED_MS: u64 = 1_000;
/// Largest challenge answer we accept (below the 2 MB outcall cap).
const MAX_ANSWER_BYTES: u64 = 1_990_000;

/// What a challenge established.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed(Capability),
    Failed(String),
}

fn body_excerpt(r: &OutcallResponse) -> String {
    String::from_utf8_lossy(&r.body[..r.body.len().min(200)]).into_owned()
}

/// Checks the worker's commitment to the challenge.
pub fn check_commitment(
    challenge: &CapabilityChallenge,
    key: &[u8],
    answer: &Result<OutcallResponse, String>,
) -> Result<CapabilityCommitment, String> {
    let r = answer.as_ref().map_err(|e| format!("no commitment: {e}"))?;
    if r.status != 200 {
        return Err(format!(
            "commitment refused with status {}: {}",
            r.status,
            body_excerpt(r)
        ));
    }
    let c: CapabilityCommitment =
        serde_json::from_slice(&r.body).map_err(|e| format!("malformed commitment: {e}"))?;
    let n = challenge.n as u64;
    if c.challenge_id != challenge.challenge_id || c.job_id != challenge.job_id() {
        return Err("commitment names another challenge".into());
    }
    if c.spec_hash != signing::spec_hash(&challenge.spec()) {
        return Err("commitment has the wrong spec hash".into());
    }
    let cm = &c.result.commitment;
    if cm.rows != n || cm.cols != n || cm.byte_len != n * n * 4 {
        return Err(format!(
            "commitment is {}x{}, expected {n}x{n}",
            cm.rows, cm.cols
        ));
    }
    signing::verify_result(key, &c.job_id, &c.spec_hash, cm, &c.result.signature.0)
        .map_err(|e| format!("commitment signature: {e}"))?;
    Ok(c)
}

/// Checks the opened rows and `y` against the commitment and the seeded inputs.
pub fn check_answer(
    challenge: &CapabilityChallenge,
    commitment: &CapabilityCommitment,
    request: &ChallengeRequest,
    answer: &Result<OutcallResponse, String>,
) -> Result<(), String> {
    let r = answer
        .as_ref()
        .map_err(|e| format!("no challenge answer: {e}"))?;
    if r.status != 200 {
        return Err(format!(
            "challenge refused with status {}: {}",
            r.status,
            body_excerpt(r)
        ));
    }
    let a: ChallengeResponse =
        serde_json::from_slice(&r.body).map_err(|e| format!("malformed challenge answer: {e}"))?;
    let JobSpec::Matmul(spec) = challenge.spec() else {
        unreachable!("a capability challenge is a matmul")
    };
    check_matmul_answer(
        &spec,
        &commitment.result.commitment.merkle_root,
        request,
        &a,
    )
    .map_err(|e| e.to_string())
}

/// Runs the whole challenge against one miner; `Err` when it could not run.
pub async fn run<R: Runtime>(rt: &R, p: Principal) -> Result<Capability, ChallengeError> {
    let _guard = Guard::new(Task::Challenge(p)).map_err(|_| ChallengeError::AlreadyRunning)?;
    let miner = read_state(|s| s.miner(&p)).ok_or(ChallengeError::NotRegistered)?;
    let config = read_state(|s| s.config());
    let key = miner.profile.worker_public_key.clone();
    let endpoint = miner.profile.endpoint.clone();
    let seed = rt
        .raw_rand()
        .await
        .map_err(|reason| ChallengeError::Failed { reason })?;
    let challenge = CapabilityChallenge {
        challenge_id: format!("reg-{}-{}", miner.seq, &Digest32(seed).to_hex()[..16]),
        n: config.challenge_n.max(1),
        seed: Digest32(seed),
        deadline_ms: config.challenge_deadline_ms,
    };
    let outcome = attempt(rt, &challenge, &key, &endpoint, config.challenge_rows).await;
    let now = rt.time();
    mutate_state(|s| apply(s, p, &key, &endpoint, outcome, now))
}

async fn attempt<R: Runtime>(
    rt: &R,
    challenge: &CapabilityChallenge,
    key: &[u8],
    endpoint: &str,
    rows: u32,
) -> Outcome {
    let started = rt.time();
    let answer = rt
        .http(Outcall {
            url: format!("{endpoint}/v1/challenges"),
            body: Some(serde_json::to_vec(challenge).expect("challenge serialises")),
            max_response_bytes: 4_096,
            transform: Transform::Body,
        })
        .await;
    let elapsed_ms = rt.time().saturating_sub(started) / 1_000_000;
    let commitment = match check_commitment(challenge, key, &answer) {
        Ok(c) => c,
        Err(reason) => return Outcome::Failed(reason),
    };
    if elapsed_ms > challenge.deadline_ms {
        return Outcome::Failed(format!(
            "commitment after {elapsed_ms} ms, deadline {} ms",
            challenge.deadline_ms
        ));
    }
    // Randomness drawn only now, after the worker is bound to its result.
    let rand = match rt.raw_rand().await {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("raw_rand: {e}")),
    };
    let n = challenge.n as u64;
    let mut s = rows.clamp(1, challenge.n);
    while s > 1 && challenge_response_size(n, n, s as u64) > MAX_ANSWER_BYTES {
        s -= 1;
    }
    let request = ChallengeRequest {
        r_seed: r_seed(&rand),
        rows: sample_rows(&rand, challenge.n as u64, s),
    };
    let answer = rt
        .http(Outcall {
            url: format!("{endpoint}/v1/jobs/{}/challenge", commitment.job_id),
            body: Some(serde_json::to_vec(&request).expect("request serialises")),
            max_response_bytes: (challenge_response_size(n, n, s as u64) + 8_192).min(2_000_000),
            transform: Transform::Body,
        })
        .await;
    match check_answer(challenge, &commitment, &request, &answer) {
        Ok(()) => {
            let elapsed = elapsed_ms.max(MIN_ELAPSED_MS);
            let flops = 2u128 * (n as u128).pow(3) * 1_000 / elapsed as u128;
            Outcome::Passed(Capability {
                n: challenge.n,
                elapsed_ms: elapsed,
                flops_lower_bound: flops.min(u64::MAX as u128) as u64,
                verified_at_ns: 0,
            })
        }
        Err(reason) => Outcome::Failed(reason),
    }
}

/// Records a challenge outcome on the miner, unless its worker changed meanwhile.
pub fn apply(
    s: &mut State,
    p: Principal,
    key: &[u8],
    endpoint: &str,
    outcome: Outcome,
    now: u64,
) -> Result<Capability, ChallengeError> {
    let Some(mut miner) = s.miner(&p) else {
        return Err(ChallengeError::Superseded);
    };
    if miner.profile.worker_public_key != key || miner.profile.endpoint != endpoint {
        return Err(ChallengeError::Superseded);
    }
    let before = miner.status;
    miner.last_challenge_ns = Some(now);
    let result = match outcome {
        Outcome::Passed(mut cap) => {
            cap.verified_at_ns = now;
            miner.reputation.challenges_passed += 1;
            miner.capability = Some(cap.clone());
            miner.suspension_reason = None;
            if before == MinerStatus::Suspended {
                miner.status =
                    if miner.last_probe_ns.is_some() && miner.consecutive_probe_failures == 0 {
                        MinerStatus::Online
                    } else {
                        MinerStatus::Pending
                    };
            }
            s.update_counters(|c| c.challenges_passed += 1);
            s.record(
                now,
                Some(p),
                EventKind::ChallengePassed {
                    n: cap.n,
                    elapsed_ms: cap.elapsed_ms,
                    flops_lower_bound: cap.flops_lower_bound,
                },
            );
            Ok(cap)
        }
        Outcome::Failed(reason) => {
            miner.reputation.challenges_failed += 1;
            miner.capability = None;
            miner.status = MinerStatus::Suspended;
            miner.suspension_reason = Some(reason.clone());
            s.update_counters(|c| c.challenges_failed += 1);
            s.record(
                now,
                Some(p),
                EventKind::ChallengeFailed {
                    reason: reason.clone(),
                },
            );
            Err(ChallengeError::Failed { reason })
        }
    };
    miner.reputation.score_ppm = reputation_score(&miner.reputation);
    if miner.status != before {
        s.record(
            now,
            Some(p),
            EventKind::StatusChanged {
                from: before,
                to: miner.status,
                reason: "capability challenge".into(),
            },
        );
    }
    s.put_miner(miner, true);
    result
}

/// One round: starts the challenges that are due (bounded per round).
pub async fn challenge_round<R: Runtime>(rt: &R) {
    let Ok(_round) = Guard::new(Task::ChallengeRound) else {
        return;
    };
    let config = read_state(|s| s.config());
    if config.read_only {
        return;
    }
    let now = rt.time();
    let due: Vec<Principal> = read_state(|s| {
        s.challenge_due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter(|(_, p)| !s.running.contains(&Task::Challenge(*p)))
            .take(config.challenges_per_round as usize)
            .map(|(_, p)| *p)
            .collect()
    });
    futures::future::join_all(due.into_iter().map(|p| run(rt, p))).await;
}
