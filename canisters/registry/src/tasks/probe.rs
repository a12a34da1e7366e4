//! Liveness: `GET {endpoint}/v1/health` by HTTPS outcall, a bounded batch
//! of miners per round (round-robin), with a tight `max_response_bytes` and
//! a transform that drops headers and zeroes the varying `load`.

use crate::guard::{Guard, Task};
use crate::runtime::{Outcall, OutcallResponse, Runtime, Transform};
use crate::state::{mutate_state, read_state, EventKind, State};
use crate::types::*;
use candid::Principal;
use tensormine_core::api::{Health, Load};

/// The transform: a health body with `load` zeroed and re-serialised (so
/// replicas agree), or an empty body when it is not a health document.
pub fn normalise_health(status: u16, body: &[u8]) -> Vec<u8> {
    if status != 200 {
        return Vec::new();
    }
    match serde_json::from_slice::<Health>(body) {
        Ok(mut health) => {
            health.load = Load::default();
            serde_json::to_vec(&health).unwrap_or_default()
        }
        Err(_) => Vec::new(),
    }
}

/// Is the (transformed) answer a healthy worker with the registered key?
pub fn judge(answer: &Result<OutcallResponse, String>, key: &[u8]) -> Result<(), String> {
    let response = answer
        .as_ref()
        .map_err(|e| format!("outcall failed: {e}"))?;
    if response.status != 200 {
        return Err(format!("status {}", response.status));
    }
    let health: Health = serde_json::from_slice(&response.body)
        .map_err(|e| format!("not a health document: {e}"))?;
    if health.public_key.0 != key {
        return Err("worker answers with another public key".into());
    }
    Ok(())
}

/// Records one probe's verdict on the miner (if it still has `key`).
pub fn apply(s: &mut State, p: Principal, key: &[u8], verdict: Result<(), String>, now: u64) {
    let Some(mut miner) = s.miner(&p) else { return };
    if miner.profile.worker_public_key != key {
        return;
    }
    let config = s.config();
    let before = miner.status;
    miner.last_probe_ns = Some(now);
    let reason = match &verdict {
        Ok(()) => {
            miner.consecutive_probe_failures = 0;
            miner.reputation.probes_ok += 1;
            if matches!(before, MinerStatus::Pending | MinerStatus::Offline) {
                miner.status = MinerStatus::Online;
            }
            "health probe answered".to_string()
        }
        Err(e) => {
            miner.consecutive_probe_failures = miner.consecutive_probe_failures.saturating_add(1);
            miner.reputation.probes_failed += 1;
            if miner.consecutive_probe_failures >= config.offline_after_failures.max(1)
                && matches!(before, MinerStatus::Pending | MinerStatus::Online)
            {
                miner.status = MinerStatus::Offline;
            }
            format!(
                "{} consecutive failed probes, last: {e}",
                miner.consecutive_probe_failures
            )
        }
    };
    let old_score = miner.reputation.score_ppm;
    miner.reputation.score_ppm = reputation_score(&miner.reputation);
    let changed = miner.status != before;
    // Only status and material score changes go to the change feed.
    let bump = changed || old_score.abs_diff(miner.reputation.score_ppm) >= 10_000;
    let after = miner.status;
    s.put_miner(miner, bump);
    s.update_counters(|c| match verdict {
        Ok(()) => c.probes_ok += 1,
        Err(_) => c.probes_failed += 1,
    });
    if changed {
        s.record(
            now,
            Some(p),
            EventKind::StatusChanged {
                from: before,
                to: after,
                reason,
            },
        );
    }
}

/// The next `n` miners after the round-robin cursor (wrapping once).
pub fn next_batch(s: &mut State, n: usize) -> Vec<(Principal, String, Vec<u8>)> {
    let mut batch = Vec::with_capacity(n.min(1024));
    let start = s.probe_cursor;
    let take = |iter: &mut dyn Iterator<Item = (Principal, Miner)>,
                batch: &mut Vec<(Principal, String, Vec<u8>)>| {
        for (p, m) in iter {
            if batch.len() >= n || batch.iter().any(|(q, _, _)| *q == p) {
                break;
            }
            batch.push((p, m.profile.endpoint, m.profile.worker_public_key));
        }
    };
    let mut after: Box<dyn Iterator<Item = (Principal, Miner)>> = match start {
        Some(c) => Box::new(
            s.miners
                .range((std::ops::Bound::Excluded(c), std::ops::Bound::Unbounded))
                .map(|e| (*e.key(), e.value().0)),
        ),
        None => Box::new(s.miners.iter().map(|e| (*e.key(), e.value().0))),
    };
    take(&mut after, &mut batch);
    drop(after);
    if batch.len() < n && start.is_some() {
        let mut from_start = s.miners.iter().map(|e| (*e.key(), e.value().0));
        take(&mut from_start, &mut batch);
    }
    s.probe_cursor = batch.last().map(|(p, _, _)| *p);
    batch
}

/// One round: probes up to `probes_per_round` miners concurrently.
pub async fn probe_round<R: Runtime>(rt: &R) {
    let Ok(_round) = Guard::new(Task::ProbeRound) else {
        return;
    };
    let config = read_state(|s| s.config());
    if config.read_only {
        return;
    }
    let batch = mutate_state(|s| next_batch(s, config.probes_per_round as usize));
    let probes = batch.into_iter().map(|(p, endpoint, key)| {
        probe_one(rt, p, endpoint, key, config.health_max_response_bytes)
    });
    futures::future::join_all(probes).await;
    mutate_state(|s| s.update_counters(|c| c.probe_rounds += 1));
}

async fn probe_one<R: Runtime>(rt: &R, p: Principal, endpoint: String, key: Vec<u8>, max: u64) {
    let Ok(_guard) = Guard::new(Task::Probe(p)) else {
        return;
    };
    let answer = rt
        .http(Outcall {
            url: format!("{endpoint}/v1/health"),
            body: None,
            max_response_bytes: max,
            transform: Transform::Health,
        })
        .await;
    let verdict = judge(&answer, &key);
    let now = rt.time();
    mutate_state(|s| apply(s, p, &key, verdict, now));
}
