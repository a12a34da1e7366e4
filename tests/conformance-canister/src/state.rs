//! Canister state: a heap part that upgrades wipe, and a stable part that survives them.

use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::{DefaultMemoryImpl, StableBTreeMap};
use std::cell::RefCell;

/// The stable-memory region holding [`STABLE_VALUES`].
pub const STABLE_VALUES_MEMORY: MemoryId = MemoryId::new(0);

/// Keys of the stable map.
pub const VALUE_KEY: u8 = 0;
pub const PRE_UPGRADE_COUNTER_KEY: u8 = 1;
pub const POST_UPGRADE_RUNS_KEY: u8 = 2;

type Memory = VirtualMemory<DefaultMemoryImpl>;

/// Everything kept on the Wasm heap; cleared by upgrade and reinstall.
#[derive(Default)]
pub struct Heap {
    pub counter: u64,
    pub note: String,
    pub timers_fired: u64,
    pub guard_held: bool,
    pub guard_drops: u64,
    pub guard_drops_during_cleanup: u64,
    pub recorded: Vec<u64>,
}

thread_local! {
    static HEAP: RefCell<Heap> = RefCell::default();
    static MEMORY_MANAGER: MemoryManager<DefaultMemoryImpl> =
        MemoryManager::init(DefaultMemoryImpl::default());
    static STABLE_VALUES: RefCell<StableBTreeMap<u8, u64, Memory>> = RefCell::new(
        StableBTreeMap::init(MEMORY_MANAGER.with(|manager| manager.get(STABLE_VALUES_MEMORY))),
    );
}

pub fn read_heap<R>(f: impl FnOnce(&Heap) -> R) -> R {
    HEAP.with_borrow(f)
}

pub fn update_heap<R>(f: impl FnOnce(&mut Heap) -> R) -> R {
    HEAP.with_borrow_mut(f)
}

pub fn stable_get(key: u8) -> Option<u64> {
    STABLE_VALUES.with_borrow(|map| map.get(&key))
}

pub fn stable_put(key: u8, value: u64) {
    STABLE_VALUES.with_borrow_mut(|map| map.insert(key, value));
}

/// Adds `delta` to the stable value under `key` (absent counts as 0); returns the new value.
pub fn stable_add(key: u8, delta: u64) -> u64 {
    let value = stable_get(key).unwrap_or(0) + delta;
    stable_put(key, value);
    value
}

/// Adds `delta` to the heap counter; returns the new value.
pub fn counter_add(delta: u64) -> u64 {
    update_heap(|heap| {
        heap.counter += delta;
        heap.counter
    })
}
