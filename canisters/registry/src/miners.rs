//! Registration, updates, deregistration, job outcomes and the reads.

use crate::state::{mutate_state, read_state, EventKind};
use crate::types::*;
use crate::validate;
use candid::Principal;

/// Most miners examined by one `list_miners` call (bounds its instructions:
/// the in-memory filter facts cost a few hundred instructions per miner, a
/// decoded record tens of thousands, so only matches are decoded).
pub const MAX_SCAN: usize = 25_000;
/// Most entries returned by one `changes_since` call.
pub const MAX_CHANGES: u32 = 500;

pub fn register(
    caller: Principal,
    profile: MinerProfile,
    now: u64,
) -> Result<Miner, RegisterError> {
    if caller == Principal::anonymous() {
        return Err(RegisterError::AnonymousCaller);
    }
    let config = read_state(|s| s.config());
    if config.read_only {
        return Err(RegisterError::ReadOnly);
    }
    let profile = validate::profile(&profile, &config).map_err(RegisterError::InvalidProfile)?;
    mutate_state(|s| {
        if s.miners.contains_key(&caller) {
            return Err(RegisterError::AlreadyRegistered);
        }
        if let Some(by) = s.worker_owner(&profile.worker_public_key, &profile.endpoint) {
            return Err(RegisterError::WorkerInUse { by });
        }
        if s.miners.len() >= config.max_miners {
            return Err(RegisterError::RegistryFull {
                max_miners: config.max_miners,
            });
        }
        let mut reputation = Reputation::default();
        reputation.score_ppm = reputation_score(&reputation);
        let endpoint = profile.endpoint.clone();
        let miner = Miner {
            principal: caller,
            profile,
            status: MinerStatus::Pending,
            registered_at_ns: now,
            updated_at_ns: now,
            last_probe_ns: None,
            consecutive_probe_failures: 0,
            capability: None,
            last_challenge_ns: None,
            suspension_reason: None,
            reputation,
            seq: 0,
        };
        let miner = s.put_miner(miner, true);
        s.record(now, Some(caller), EventKind::Registered { endpoint });
        Ok(miner)
    })
}

pub fn update(caller: Principal, profile: MinerProfile, now: u64) -> Result<Miner, UpdateError> {
    if caller == Principal::anonymous() {
        return Err(UpdateError::AnonymousCaller);
    }
    let config = read_state(|s| s.config());
    if config.read_only {
        return Err(UpdateError::ReadOnly);
    }
    let profile = validate::profile(&profile, &config).map_err(UpdateError::InvalidProfile)?;
    mutate_state(|s| {
        let mut miner = s.miner(&caller).ok_or(UpdateError::NotRegistered)?;
        if let Some(by) = s.worker_owner(&profile.worker_public_key, &profile.endpoint) {
            if by != caller {
                return Err(UpdateError::WorkerInUse { by });
            }
        }
        let worker_changed = miner.profile.worker_public_key != profile.worker_public_key
            || miner.profile.endpoint != profile.endpoint;
        if worker_changed {
            // A new worker proves itself again: liveness and capability reset;
            // a suspension stays until a challenge passes.
            miner.capability = None;
            miner.last_challenge_ns = None;
            miner.last_probe_ns = None;
            miner.consecutive_probe_failures = 0;
            if miner.status != MinerStatus::Suspended {
                miner.status = MinerStatus::Pending;
            }
        }
        let endpoint = profile.endpoint.clone();
        miner.profile = profile;
        miner.updated_at_ns = now;
        let miner = s.put_miner(miner, true);
        s.record(now, Some(caller), EventKind::Updated { endpoint });
        Ok(miner)
    })
}

pub fn deregister(caller: Principal, now: u64) -> Result<(), DeregisterError> {
    if caller == Principal::anonymous() {
        return Err(DeregisterError::AnonymousCaller);
    }
    if read_state(|s| s.config().read_only) {
        return Err(DeregisterError::ReadOnly);
    }
    mutate_state(|s| {
        s.remove_miner(&caller)
            .ok_or(DeregisterError::NotRegistered)?;
        s.record(now, Some(caller), EventKind::Deregistered);
        Ok(())
    })
}

pub fn report_job_outcome(
    caller: Principal,
    outcome: JobOutcome,
    now: u64,
) -> Result<Reputation, ReportError> {
    let config = read_state(|s| s.config());
    if config.router != Some(caller) {
        return Err(ReportError::NotRouter);
    }
    if config.read_only {
        return Err(ReportError::ReadOnly);
    }
    tensormine_core::api::validate_id(&outcome.job_id)
        .map_err(|reason| ReportError::InvalidJobId { reason })?;
    mutate_state(|s| {
        let mut miner = s.miner(&outcome.miner).ok_or(ReportError::UnknownMiner)?;
        if outcome.verified {
            miner.reputation.jobs_verified += 1;
        } else {
            miner.reputation.jobs_failed += 1;
        }
        miner.reputation.score_ppm = reputation_score(&miner.reputation);
        let reputation = miner.reputation.clone();
        s.put_miner(miner, true);
        s.update_counters(|c| c.job_outcomes += 1);
        s.record(
            now,
            Some(outcome.miner),
            EventKind::JobOutcome {
                job_id: outcome.job_id,
                verified: outcome.verified,
            },
        );
        Ok(reputation)
    })
}

pub fn list(request: ListRequest) -> ListPage {
    let limit = match request.limit {
        0 => MAX_PAGE,
        l => l.min(MAX_PAGE),
    } as usize;
    read_state(|s| {
        let from = match request.start_after {
            Some(p) => std::ops::Bound::Excluded(p),
            None => std::ops::Bound::Unbounded,
        };
        let mut miners = Vec::with_capacity(limit);
        let mut last = None;
        let mut exhausted = true;
        for (scanned, (p, facts)) in s
            .filter_facts
            .range((from, std::ops::Bound::Unbounded))
            .enumerate()
        {
            if miners.len() >= limit || scanned >= MAX_SCAN {
                exhausted = false;
                break;
            }
            last = Some(*p);
            if request.filter.matches_facts(facts) {
                miners.extend(s.miner(p));
            }
        }
        ListPage {
            miners,
            next: if exhausted { None } else { last },
        }
    })
}

pub fn changes_since(seq: u64, limit: u32) -> ChangesPage {
    let limit = match limit {
        0 => MAX_CHANGES,
        l => l.min(MAX_CHANGES),
    } as usize;
    read_state(|s| ChangesPage {
        entries: s
            .feed
            .range((std::ops::Bound::Excluded(seq), std::ops::Bound::Unbounded))
            .take(limit)
            .map(|e| {
                let principal = e.value();
                ChangeEntry {
                    seq: *e.key(),
                    principal,
                    miner: s.miner(&principal),
                }
            })
            .collect(),
        last_seq: s.counters().last_seq,
    })
}
