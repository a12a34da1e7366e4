//! The registry's state: stable structures (miners, change feed, key and
//! endpoint indices, event log, configuration, counters) and heap-only
//! indices rebuilt after an upgrade (totals, challenge schedule, guards).
//! Everything goes through [`read_state`] / [`mutate_state`].

use crate::memory::{self, Memory};
use crate::types::*;
use candid::Principal;
use ic_stable_structures::{BTreeMap, Cell, Log};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeSet;

pub use tensormine_core::stable::Cbor;

/// Lifetime counters kept in stable memory.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub last_seq: u64,
    pub probes_ok: u64,
    pub probes_failed: u64,
    pub probe_rounds: u64,
    pub challenges_passed: u64,
    pub challenges_failed: u64,
    pub job_outcomes: u64,
    /// Cycles attached to HTTPS outcalls (priced by `cost_http_request_v2`).
    pub outcall_cycles: u128,
}

/// What happened, for the audit log (`/logs`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum EventKind {
    Init {
        config: Config,
    },
    Upgrade {
        config: Config,
    },
    ConfigChanged {
        by: Principal,
        config: Config,
    },
    Registered {
        endpoint: String,
    },
    Updated {
        endpoint: String,
    },
    Deregistered,
    StatusChanged {
        from: MinerStatus,
        to: MinerStatus,
        reason: String,
    },
    ChallengePassed {
        n: u32,
        elapsed_ms: u64,
        flops_lower_bound: u64,
    },
    ChallengeFailed {
        reason: String,
    },
    JobOutcome {
        job_id: String,
        verified: bool,
    },
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Event {
    pub at_ns: u64,
    pub principal: Option<Principal>,
    pub kind: EventKind,
}

pub struct State {
    pub config: Cell<Cbor<Config>, Memory>,
    pub miners: BTreeMap<Principal, Cbor<Miner>, Memory>,
    pub feed: BTreeMap<u64, Principal, Memory>,
    pub worker_keys: BTreeMap<[u8; 32], Principal, Memory>,
    pub endpoints: BTreeMap<String, Principal, Memory>,
    pub tombstones: BTreeMap<Principal, u64, Memory>,
    pub events: Log<Cbor<Event>, Memory, Memory>,
    pub counters: Cell<Cbor<Counters>, Memory>,
    // Heap only: rebuilt by `rebuild_indices` after an upgrade.
    pub totals: Totals,
    pub challenge_due: BTreeSet<(u64, Principal)>,
    /// What `list_miners` filters on, per miner (heap; rebuilt on upgrade):
    /// a filtered page scans this instead of decoding stable records.
    pub filter_facts: std::collections::BTreeMap<Principal, MinerFacts>,
    pub probe_cursor: Option<Principal>,
    /// Tasks holding a [`crate::guard::Guard`].
    pub running: BTreeSet<Task>,
    pub last_probe_round_instructions: u64,
}

/// What must not run twice at once (see [`crate::guard`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Task {
    /// At most one probe round at a time.
    ProbeRound,
    /// At most one challenge round at a time.
    ChallengeRound,
    /// At most one probe per miner at a time.
    Probe(Principal),
    /// At most one challenge per miner at a time.
    Challenge(Principal),
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::load());
}

pub fn read_state<R>(f: impl FnOnce(&State) -> R) -> R {
    STATE.with(|s| f(&s.borrow()))
}

pub fn mutate_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

fn status_slot(t: &mut Totals, status: MinerStatus) -> &mut u64 {
    match status {
        MinerStatus::Pending => &mut t.pending,
        MinerStatus::Online => &mut t.online,
        MinerStatus::Offline => &mut t.offline,
        MinerStatus::Suspended => &mut t.suspended,
    }
}

fn add_totals(t: &mut Totals, m: &Miner, sign: i8) {
    let gpus: u64 = m.profile.gpus.iter().map(|g| g.count as u64).sum();
    let mem: u128 = m
        .profile
        .gpus
        .iter()
        .map(|g| g.memory_bytes as u128 * g.count as u128)
        .sum();
    if sign > 0 {
        t.miners += 1;
        *status_slot(t, m.status) += 1;
        t.gpus += gpus;
        t.gpu_memory_bytes += mem;
    } else {
        t.miners -= 1;
        *status_slot(t, m.status) -= 1;
        t.gpus -= gpus;
        t.gpu_memory_bytes -= mem;
    }
}

impl State {
    fn load() -> Self {
        let mut state = Self {
            config: Cell::init(memory::get(memory::CONFIG), Cbor(Config::default())),
            miners: BTreeMap::init(memory::get(memory::MINERS)),
            feed: BTreeMap::init(memory::get(memory::FEED)),
            worker_keys: BTreeMap::init(memory::get(memory::WORKER_KEYS)),
            endpoints: BTreeMap::init(memory::get(memory::ENDPOINTS)),
            tombstones: BTreeMap::init(memory::get(memory::TOMBSTONES)),
            events: Log::init(
                memory::get(memory::EVENTS_INDEX),
                memory::get(memory::EVENTS_DATA),
            ),
            counters: Cell::init(memory::get(memory::COUNTERS), Cbor(Counters::default())),
            totals: Totals::default(),
            challenge_due: BTreeSet::new(),
            filter_facts: std::collections::BTreeMap::new(),
            probe_cursor: None,
            running: BTreeSet::new(),
            last_probe_round_instructions: 0,
        };
        state.rebuild_indices();
        state
    }

    /// Recomputes the heap indices from the stable miners.
    pub fn rebuild_indices(&mut self) {
        let mut totals = Totals::default();
        let mut due = BTreeSet::new();
        let mut facts = std::collections::BTreeMap::new();
        let interval = self
            .config()
            .challenge_interval_secs
            .saturating_mul(1_000_000_000);
        for entry in self.miners.iter() {
            let miner = entry.value().0;
            add_totals(&mut totals, &miner, 1);
            due.insert((challenge_due_at(&miner, interval), miner.principal));
            facts.insert(miner.principal, MinerFacts::of(&miner));
        }
        totals.last_seq = self.counters().last_seq;
        self.totals = totals;
        self.challenge_due = due;
        self.filter_facts = facts;
    }

    pub fn config(&self) -> Config {
        self.config.get().0.clone()
    }

    pub fn set_config(&mut self, config: Config) {
        self.config.set(Cbor(config));
    }

    pub fn counters(&self) -> Counters {
        self.counters.get().0.clone()
    }

    pub fn update_counters(&mut self, f: impl FnOnce(&mut Counters)) {
        let mut c = self.counters();
        f(&mut c);
        self.counters.set(Cbor(c));
    }

    pub fn miner(&self, p: &Principal) -> Option<Miner> {
        self.miners.get(p).map(|m| m.0)
    }

    pub fn record(&mut self, at_ns: u64, principal: Option<Principal>, kind: EventKind) {
        // An event log that cannot grow must not make the state change fail:
        // the change itself is already in the stable maps.
        let _ = self.events.append(&Cbor(Event {
            at_ns,
            principal,
            kind,
        }));
    }

    /// Stores `miner`. With `bump`, assigns it a new change-feed sequence
    /// number (profile, status, capability and reputation changes); without,
    /// the record is rewritten in place (probe timestamps and counters).
    pub fn put_miner(&mut self, mut miner: Miner, bump: bool) -> Miner {
        let old = self.miner(&miner.principal);
        if bump {
            let seq = self.counters().last_seq + 1;
            self.update_counters(|c| c.last_seq = seq);
            if let Some(old) = &old {
                self.feed.remove(&old.seq);
            } else if let Some(dead) = self.tombstones.remove(&miner.principal) {
                self.feed.remove(&dead);
            }
            self.feed.insert(seq, miner.principal);
            miner.seq = seq;
            self.totals.last_seq = seq;
        }
        let interval = self
            .config()
            .challenge_interval_secs
            .saturating_mul(1_000_000_000);
        if let Some(old) = &old {
            add_totals(&mut self.totals, old, -1);
            self.challenge_due
                .remove(&(challenge_due_at(old, interval), old.principal));
            if old.profile.worker_public_key != miner.profile.worker_public_key {
                if let Ok(k) = <[u8; 32]>::try_from(old.profile.worker_public_key.as_slice()) {
                    self.worker_keys.remove(&k);
                }
            }
            if old.profile.endpoint != miner.profile.endpoint {
                self.endpoints.remove(&old.profile.endpoint);
            }
        }
        if let Ok(k) = <[u8; 32]>::try_from(miner.profile.worker_public_key.as_slice()) {
            self.worker_keys.insert(k, miner.principal);
        }
        self.endpoints
            .insert(miner.profile.endpoint.clone(), miner.principal);
        add_totals(&mut self.totals, &miner, 1);
        self.challenge_due
            .insert((challenge_due_at(&miner, interval), miner.principal));
        self.filter_facts
            .insert(miner.principal, MinerFacts::of(&miner));
        self.miners.insert(miner.principal, Cbor(miner.clone()));
        miner
    }

    /// Removes a miner; its change-feed entry becomes a tombstone.
    pub fn remove_miner(&mut self, p: &Principal) -> Option<Miner> {
        let old = self.miners.remove(p)?.0;
        self.filter_facts.remove(p);
        let interval = self
            .config()
            .challenge_interval_secs
            .saturating_mul(1_000_000_000);
        add_totals(&mut self.totals, &old, -1);
        self.challenge_due
            .remove(&(challenge_due_at(&old, interval), old.principal));
        if let Ok(k) = <[u8; 32]>::try_from(old.profile.worker_public_key.as_slice()) {
            self.worker_keys.remove(&k);
        }
        self.endpoints.remove(&old.profile.endpoint);
        let seq = self.counters().last_seq + 1;
        self.update_counters(|c| c.last_seq = seq);
        self.feed.remove(&old.seq);
        self.feed.insert(seq, *p);
        self.tombstones.insert(*p, seq);
        self.totals.last_seq = seq;
        Some(old)
    }

    /// Who else holds this worker key or endpoint, if anyone.
    pub fn worker_owner(&self, key: &[u8], endpoint: &str) -> Option<Principal> {
        let by_key = <[u8; 32]>::try_from(key)
            .ok()
            .and_then(|k| self.worker_keys.get(&k));
        by_key.or_else(|| self.endpoints.get(&endpoint.to_string()))
    }
}

/// When a miner's next capability challenge is due: at once when it never
/// had one (new, or its worker changed), else `challenge_interval` after the
/// last (a suspended miner gets its next chance then, or asks for one).
pub fn challenge_due_at(miner: &Miner, interval_ns: u64) -> u64 {
    match miner.last_challenge_ns {
        None => 0,
        Some(last) => last.saturating_add(interval_ns),
    }
}
