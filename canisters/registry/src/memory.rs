//! Stable memory layout. Each structure has its own virtual memory; ids are
//! never reused or renumbered (an upgrade reads what the old code wrote).

use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::DefaultMemoryImpl;
use std::cell::RefCell;

pub type Memory = VirtualMemory<DefaultMemoryImpl>;

/// `StableCell<Config>`.
pub const CONFIG: MemoryId = MemoryId::new(0);
/// `StableBTreeMap<Principal, Miner>`.
pub const MINERS: MemoryId = MemoryId::new(1);
/// `StableBTreeMap<u64 seq, Principal>`: the change feed (latest change per miner).
pub const FEED: MemoryId = MemoryId::new(2);
/// `StableBTreeMap<[u8; 32] worker key, Principal>`: one miner per worker key.
pub const WORKER_KEYS: MemoryId = MemoryId::new(3);
/// `StableLog<Event>` index.
pub const EVENTS_INDEX: MemoryId = MemoryId::new(4);
/// `StableLog<Event>` data.
pub const EVENTS_DATA: MemoryId = MemoryId::new(5);
/// `StableCell<Counters>`: sequence numbers and lifetime counters.
pub const COUNTERS: MemoryId = MemoryId::new(6);
/// `StableBTreeMap<String endpoint, Principal>`: one miner per endpoint.
pub const ENDPOINTS: MemoryId = MemoryId::new(7);
/// `StableBTreeMap<Principal, u64 seq>`: change-feed seq of deregistered miners.
pub const TOMBSTONES: MemoryId = MemoryId::new(8);

thread_local! {
    static MANAGER: RefCell<MemoryManager<DefaultMemoryImpl>> =
        RefCell::new(MemoryManager::init(DefaultMemoryImpl::default()));
}

pub fn get(id: MemoryId) -> Memory {
    MANAGER.with(|m| m.borrow().get(id))
}
