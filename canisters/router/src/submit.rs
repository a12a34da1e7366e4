//! Job intake: validation with typed errors, pricing and quotes, rate
//! limits, and the escrow hold.

use crate::guard::job_guard;
use crate::job::{payments_reserved, Job};
use crate::runtime::Runtime;
use crate::state::{mutate_state, read_state, EventKind, State};
use candid::Principal;
use tensormine_core::api::{self, EmbedSpec, JobSpec, MatmulSpec, MatrixSource};
use tensormine_core::encoding::F32Array;
use tensormine_core::matching::MatchRequest;
use tensormine_core::router::*;
use tensormine_core::{signing, Digest32};

/// Longest sentence of an embed job, in bytes.
pub const MAX_SENTENCE_BYTES: usize = 2_048;
/// Longest operand URL.
pub const MAX_URL_LEN: usize = 512;
/// Most replicas of a redundant job.
pub const MAX_REPLICAS: u8 = 5;
/// Outcalls a job is expected to need per miner (dispatch, polls, fetches).
const OUTCALLS_PER_MINER: u128 = 20;
/// A generous bound on one outcall's average cost: a replicated status poll
/// (4 KB answer) on a 13-node subnet costs ≈ 92M cycles, a non-replicated
/// one ≈ 7M; result fetches and challenges are rarer and larger.
const OUTCALL_CYCLES_BOUND: u128 = 1_000_000_000;

fn digest(bytes: &[u8], what: &str) -> Result<Digest32, SpecError> {
    <[u8; 32]>::try_from(bytes)
        .map(Digest32)
        .map_err(|_| SpecError::InvalidOperand {
            operand: what.into(),
            reason: format!("{what} must be 32 bytes, got {}", bytes.len()),
        })
}

fn operand(
    input: &OperandInput,
    name: &str,
    values: u64,
    local: bool,
    inline_bytes: &mut u64,
) -> Result<MatrixSource, SpecError> {
    let invalid = |reason: String| SpecError::InvalidOperand {
        operand: name.into(),
        reason,
    };
    match input {
        OperandInput::Seeded(seed) => Ok(MatrixSource::Seeded {
            seed: digest(seed, &format!("{name} seed"))?,
        }),
        OperandInput::Inline(bytes) => {
            if bytes.len() as u64 != values * 4 {
                return Err(invalid(format!(
                    "{} bytes inline, the dimensions need {values} f32 values ({} bytes)",
                    bytes.len(),
                    values * 4
                )));
            }
            *inline_bytes += bytes.len() as u64;
            let data = tensormine_core::encoding::f32_from_le_bytes(bytes).expect("length checked");
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(invalid(format!("value {i} is not finite")));
            }
            Ok(MatrixSource::Inline {
                data: F32Array(data),
            })
        }
        OperandInput::Url { url, sha256 } => {
            let scheme_ok = url.starts_with("https://") || (local && url.starts_with("http://"));
            if !scheme_ok || url.len() > MAX_URL_LEN || url.chars().any(char::is_whitespace) {
                return Err(invalid(format!(
                    "URL must be https:// (http:// on a local network), at most {MAX_URL_LEN} characters, without spaces: {url:?}"
                )));
            }
            Ok(MatrixSource::Url {
                url: url.clone(),
                sha256: digest(sha256, &format!("{name} sha256"))?,
            })
        }
    }
}

fn matmul_spec(
    c: &Config,
    (m, k, n): (u32, u32, u32),
    a: &OperandInput,
    b: &OperandInput,
) -> Result<MatmulSpec, SpecError> {
    if [m, k, n].iter().any(|&d| d == 0 || d > c.max_matmul_dim) {
        return Err(SpecError::InvalidDimensions {
            reason: format!(
                "m, k and n must be 1..={}, got {m}×{k}×{n}",
                c.max_matmul_dim
            ),
        });
    }
    let mut inline = 0;
    let a = operand(a, "a", m as u64 * k as u64, c.local, &mut inline)?;
    let b = operand(b, "b", k as u64 * n as u64, c.local, &mut inline)?;
    if inline > c.max_inline_bytes {
        return Err(SpecError::InlineTooLarge {
            bytes: inline,
            max: c.max_inline_bytes,
        });
    }
    Ok(MatmulSpec { m, k, n, a, b })
}

fn embed_spec(c: &Config, model: &[u8], sentences: &[String]) -> Result<EmbedSpec, SpecError> {
    let model = <[u8; 32]>::try_from(model)
        .map(Digest32)
        .map_err(|_| SpecError::InvalidModel {
            reason: format!("the model id is 32 bytes, got {}", model.len()),
        })?;
    let bad = |reason: String| Err(SpecError::InvalidSentences { reason });
    if sentences.is_empty() || sentences.len() > c.max_sentences as usize {
        return bad(format!(
            "1 to {} sentences, got {}",
            c.max_sentences,
            sentences.len()
        ));
    }
    if let Some(i) = sentences
        .iter()
        .position(|s| s.trim().is_empty() || s.len() > MAX_SENTENCE_BYTES)
    {
        return bad(format!(
            "sentence {i} is empty or longer than {MAX_SENTENCE_BYTES} bytes"
        ));
    }
    let total: u64 = sentences.iter().map(|s| s.len() as u64).sum();
    if total > c.max_inline_bytes {
        return Err(SpecError::InlineTooLarge {
            bytes: total,
            max: c.max_inline_bytes,
        });
    }
    Ok(EmbedSpec {
        model,
        sentences: sentences.to_vec(),
    })
}

fn check_tier(c: &Config, tier: Tier, spec: &JobSpec) -> Result<(), SpecError> {
    let invalid = |reason: &str| {
        Err(SpecError::InvalidTier {
            reason: reason.into(),
        })
    };
    match (tier, spec) {
        (Tier::Audit { rate_ppm }, _) if rate_ppm > 1_000_000 => {
            invalid("audit rate_ppm must be at most 1000000")
        }
        (Tier::Redundant { k }, _) if !(2..=MAX_REPLICAS).contains(&k) => {
            invalid("redundant k must be 2..=5")
        }
        (Tier::Freivalds, JobSpec::Embed(_)) => {
            invalid("freivalds checks matmul jobs; use audit or redundant for embed")
        }
        (Tier::Freivalds, JobSpec::Matmul(s)) if !tensormine_core::challenge::operands_held(s) => {
            invalid("freivalds needs seeded or inline operands (the router recomputes A·(B·r)); use audit or redundant for URL operands")
        }
        (Tier::Freivalds, JobSpec::Matmul(s))
            if s.m as u64 * s.k as u64 + s.k as u64 * s.n as u64 > c.max_freivalds_elements =>
        {
            invalid("matrices too large for an on-chain Freivalds check (max_freivalds_elements); use audit or redundant")
        }
        (Tier::None, _) => Ok(()),
        (_, JobSpec::Matmul(s))
            if api::challenge_rows_per_answer(
                s.m as u64,
                s.n as u64,
                crate::clients::worker::MAX_ANSWER_BYTES,
            ) == 0 =>
        {
            invalid("one opened row of these dimensions exceeds the 2 MB outcall limit")
        }
        _ => Ok(()),
    }
}

/// The worker-API spec of a request, validated.
pub fn validate(c: &Config, r: &JobRequest) -> Result<JobSpec, SpecError> {
    let spec = match &r.workload {
        WorkloadInput::Matmul { m, k, n, a, b } => {
            JobSpec::Matmul(matmul_spec(c, (*m, *k, *n), a, b)?)
        }
        WorkloadInput::Embed { model, sentences } => {
            JobSpec::Embed(embed_spec(c, model, sentences)?)
        }
    };
    check_tier(c, r.tier, &spec)?;
    if !(c.min_deadline_secs..=c.max_deadline_secs).contains(&r.deadline_secs) {
        return Err(SpecError::InvalidDeadline {
            min_secs: c.min_deadline_secs,
            max_secs: c.max_deadline_secs,
        });
    }
    if let Some(key) = &r.idempotency_key {
        if key.len() > 64 {
            return Err(SpecError::InvalidIdempotencyKey {
                reason: "at most 64 characters".into(),
            });
        }
        api::validate_id(key).map_err(|reason| SpecError::InvalidIdempotencyKey { reason })?;
    }
    Ok(spec)
}

/// Sats set aside for outcall cycles (charged at cost at settlement).
pub fn cycles_reserve_sats(c: &Config, tier: Tier) -> u64 {
    let cycles = payments_reserved(tier) as u128 * OUTCALLS_PER_MINER * OUTCALL_CYCLES_BOUND;
    cycles_to_sats(c, cycles)
}

pub fn cycles_to_sats(c: &Config, cycles: u128) -> u64 {
    (cycles * c.sats_per_tcycles as u128).div_ceil(1_000_000_000_000) as u64
}

/// Protocol fee on `miner_total` sats of payments (without cycles).
pub fn protocol_fee(c: &Config, miner_total: u64) -> u64 {
    c.fee_base_sats + (miner_total as u128 * c.fee_ppm as u128).div_ceil(1_000_000) as u64
}

/// Highest price per unit a miner may ask so that the reserved payments,
/// the fee and the cycles fit in `max_price_sats`; `None` if not even 1 sat fits.
pub fn max_price_per_unit(c: &Config, r: &JobRequest) -> Option<u64> {
    let units = units(&r.workload);
    let reserved = payments_reserved(r.tier) as u64;
    let budget = r
        .max_price_sats
        .checked_sub(c.fee_base_sats + cycles_reserve_sats(c, r.tier))?;
    // budget ≥ miners + miners·ppm/10⁶ (+1 for rounding up)
    let miners =
        (budget.saturating_sub(1) as u128 * 1_000_000 / (1_000_000 + c.fee_ppm as u128)) as u64;
    let per_unit = miners / reserved / units;
    (per_unit >= 1).then_some(per_unit)
}

/// Smallest `max_price_sats` that lets miners asking `price_per_unit` take the job.
pub fn min_max_price(c: &Config, r: &JobRequest, price_per_unit: u64) -> u64 {
    let miners = price_per_unit.max(1) * units(&r.workload) * payments_reserved(r.tier) as u64;
    miners + protocol_fee(c, miners) + cycles_reserve_sats(c, r.tier) + 1
}

pub fn quote(r: &JobRequest) -> Result<Quote, QuoteError> {
    let c = read_state(|s| s.config());
    validate(&c, r).map_err(QuoteError::InvalidSpec)?;
    let reserved = payments_reserved(r.tier);
    let (eligible, best) = read_state(|s| {
        let kind = r.workload.kind();
        let picked = s.index.select(&MatchRequest {
            workload: kind,
            max_price_per_unit: u64::MAX,
            min_gpu_memory_bytes: r.resources.min_gpu_memory_bytes.unwrap_or(0),
            count: 8,
            exclude: &[],
            exclude_owners: &[],
            seed: s.match_seed,
        });
        let best = picked
            .iter()
            .filter_map(|p| s.index.get(p))
            .filter_map(|c| c.offers.iter().find(|(w, _)| *w == kind).map(|(_, p)| *p))
            .min();
        (s.index.eligible_count(kind) as u64, best)
    });
    Ok(Quote {
        units: units(&r.workload),
        payments_reserved: reserved,
        best_price_per_unit: best,
        eligible_miners: eligible,
        fee_sats: c.fee_base_sats + cycles_reserve_sats(&c, r.tier),
        min_max_price_sats: best.map(|p| min_max_price(&c, r, p)),
    })
}

fn check_limits(s: &mut State, c: &Config, p: Principal, now: u64) -> Result<(), SubmitError> {
    let minute = now / 60_000_000_000;
    let pending = s.pending_of(p);
    let window = s.submit_window.entry(p).or_insert((minute, 0));
    if window.0 != minute {
        *window = (minute, 0);
    }
    if window.1 >= c.max_submits_per_minute {
        return Err(SubmitError::RateLimited {
            retry_after_ns: (minute + 1) * 60_000_000_000 - now,
        });
    }
    if pending >= c.max_pending_per_principal {
        return Err(SubmitError::TooManyPendingJobs {
            max: c.max_pending_per_principal,
        });
    }
    if s.active.len() >= c.max_active_jobs {
        return Err(SubmitError::RouterBusy {
            active_jobs: s.active.len(),
        });
    }
    window.1 += 1;
    Ok(())
}

fn idempotency_key(p: Principal, r: &JobRequest) -> Option<String> {
    r.idempotency_key.as_ref().map(|k| format!("{p}|{k}"))
}

/// The job a repeated request names, if its idempotency key was used.
fn existing(s: &State, p: Principal, r: &JobRequest) -> Option<Result<Job, SubmitError>> {
    let id = s.idempotency.get(&idempotency_key(p, r)?)?;
    let job = s.job(&id).expect("idempotency keys name stored jobs");
    Some(if job.request == *r {
        Ok(job)
    } else {
        Err(SubmitError::IdempotencyConflict { job_id: id })
    })
}

fn create(s: &mut State, p: Principal, r: JobRequest, spec: JobSpec, now: u64) -> Job {
    let n = s.update_counters(|c| {
        c.next_job += 1;
        c.totals.jobs += 1;
        c.next_job
    });
    let job = Job {
        id: format!("job-{n}"),
        submitter: p,
        units: units(&r.workload),
        spec_hash: signing::spec_hash(&spec),
        spec,
        status: JobStatus::Holding,
        submitted_at_ns: now,
        deadline_ns: now.saturating_add(r.deadline_secs.saturating_mul(1_000_000_000)),
        updated_at_ns: now,
        next_action_ns: now,
        assignments: vec![],
        failovers: 0,
        randomness: None,
        randomness_assignments: 0,
        audited: None,
        tiebreak: false,
        fetch_tries: 0,
        accepted: None,
        stored_result_bytes: 0,
        paid_sats: 0,
        fee_sats: 0,
        refunded_sats: 0,
        reason: None,
        receipt_index: None,
        outcall_cycles: 0,
        outcalls: 0,
        passed_over: vec![],
        dispute_until_ns: None,
        request: r,
    };
    if let Some(key) = idempotency_key(p, &job.request) {
        s.idempotency.insert(key, job.id.clone());
    }
    s.by_submitter.insert((p, n), ());
    let kind = EventKind::Submitted {
        by: p,
        max_price_sats: job.request.max_price_sats,
    };
    s.record(now, Some(&job.id), kind);
    s.put_job(job.clone());
    job
}

pub async fn submit<R: Runtime>(
    rt: &R,
    p: Principal,
    r: JobRequest,
) -> Result<JobView, SubmitError> {
    if p == Principal::anonymous() {
        return Err(SubmitError::AnonymousCaller);
    }
    let c = read_state(|s| s.config());
    if c.read_only {
        return Err(SubmitError::ReadOnly);
    }
    let spec = validate(&c, &r).map_err(SubmitError::InvalidSpec)?;
    if max_price_per_unit(&c, &r).is_none() {
        return Err(SubmitError::PriceTooLow {
            min_sats: min_max_price(&c, &r, 1),
        });
    }
    let now = rt.time();
    if let Some(found) = read_state(|s| existing(s, p, &r)) {
        return found.map(|j| j.view());
    }
    let job = mutate_state(|s| {
        check_limits(s, &c, p, now)?;
        Ok(create(s, p, r, spec, now))
    })?;
    let _guard = job_guard(&job.id).expect("a new job is not busy");
    hold(rt, job).await
}

/// Places the escrow hold for a `Holding` job (also retried by the engine
/// when the escrow's answer was lost).
pub async fn hold<R: Runtime>(rt: &R, mut job: Job) -> Result<JobView, SubmitError> {
    let escrow = read_state(|s| s.config().escrow).expect("the escrow is configured");
    let outcome = rt
        .hold(escrow, &job.id, job.submitter, job.request.max_price_sats)
        .await;
    let now = rt.time();
    job.updated_at_ns = now;
    let result = match outcome {
        Ok(Ok(_hold)) => {
            job.status = JobStatus::Matching;
            job.next_action_ns = now;
            Ok(())
        }
        Ok(Err(refusal)) => {
            let reason = format!("{refusal:?}");
            job.status = JobStatus::Rejected;
            job.reason = Some(format!("escrow refused the hold: {reason}"));
            Err(SubmitError::HoldRefused { reason })
        }
        Err(_unknown) => {
            job.next_action_ns = now + 5_000_000_000;
            Err(SubmitError::HoldPending {
                job_id: job.id.clone(),
            })
        }
    };
    mutate_state(|s| {
        match &result {
            Ok(()) => {
                let amount_sats = job.request.max_price_sats;
                s.record(now, Some(&job.id), EventKind::Held { amount_sats })
            }
            Err(SubmitError::HoldRefused { reason }) => {
                s.update_counters(|c| c.totals.rejected += 1);
                let reason = reason.clone();
                s.record(now, Some(&job.id), EventKind::HoldRefused { reason })
            }
            Err(_) => {}
        }
        s.put_job(job.clone());
    });
    result.map(|()| job.view())
}
