//! Keeps the router's copy of the registry's miners current from the
//! registry's change feed (`changes_since`): by timer, and on demand when a
//! job finds no miner. Each miner's latest record replaces the old one in
//! the stable copy and in the matching index; a deregistered miner leaves.

use crate::guard::{Task, TaskGuard};
use crate::runtime::Runtime;
use crate::state::{mutate_state, read_state, EventKind, MinerInfo};

/// Feed entries per call.
pub const PAGE: u32 = 500;
/// Pages per sync round (the rest follows in the next round).
pub const MAX_PAGES: usize = 20;

pub async fn run<R: Runtime>(rt: &R) {
    let Ok(_guard) = TaskGuard::new(Task::RegistrySync) else {
        return;
    };
    let Some(registry) = read_state(|s| s.config().registry) else {
        return;
    };
    if let Ok(seed) = rt.raw_rand().await {
        mutate_state(|s| s.match_seed = seed);
    }
    for _ in 0..MAX_PAGES {
        let from = read_state(|s| s.counters().registry_seq);
        let page = match rt.changes_since(registry, from, PAGE).await {
            Ok(page) => page,
            Err(e) => {
                mutate_state(|s| {
                    s.record(
                        rt.time(),
                        None,
                        EventKind::SyncFailed {
                            reason: e.to_string(),
                        },
                    )
                });
                return;
            }
        };
        let done = page.entries.is_empty();
        mutate_state(|s| {
            let mut seq = from;
            for entry in page.entries {
                seq = seq.max(entry.seq);
                match entry.miner {
                    Some(m) => {
                        let info = MinerInfo::of(&m);
                        s.lift_suspension(entry.principal, &info, rt.time());
                        s.upsert_miner(entry.principal, info);
                    }
                    None => s.remove_miner(&entry.principal),
                }
            }
            if done {
                seq = seq.max(page.last_seq);
            }
            s.update_counters(|c| c.registry_seq = seq);
            s.last_sync_ns = rt.time();
        });
        if done {
            return;
        }
    }
}
