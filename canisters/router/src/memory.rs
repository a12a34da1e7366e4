//! Stable memory layout. Each structure has its own virtual memory; ids are
//! never reused or renumbered (an upgrade reads what the old code wrote).

use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::DefaultMemoryImpl;

pub type Memory = VirtualMemory<DefaultMemoryImpl>;

/// `StableCell<Config>`.
pub const CONFIG: MemoryId = MemoryId::new(0);
/// `StableCell<Counters>`: totals, id counters, registry feed position, receipt tree size.
pub const COUNTERS: MemoryId = MemoryId::new(1);
/// `StableBTreeMap<String job id, Job>`: every job.
pub const JOBS: MemoryId = MemoryId::new(2);
/// `StableBTreeMap<String job id, ()>`: jobs not final (the engine's work list).
pub const ACTIVE: MemoryId = MemoryId::new(3);
/// `StableBTreeMap<(Principal, u64 job number), ()>`: jobs by submitter.
pub const BY_SUBMITTER: MemoryId = MemoryId::new(4);
/// `StableBTreeMap<String "principal|key", String job id>`: idempotency keys.
pub const IDEMPOTENCY: MemoryId = MemoryId::new(5);
/// `StableBTreeMap<Principal, MinerInfo>`: the registry's miners as last synced.
pub const MINERS: MemoryId = MemoryId::new(6);
/// `StableBTreeMap<String "job|slot", Vec<u8>>`: fetched result bytes (embed
/// replicas under comparison; the accepted result under slot `result`).
pub const RESULTS: MemoryId = MemoryId::new(7);
/// `StableBTreeMap<u128 (level, index), [u8; 32]>`: the receipt tree's complete subtrees.
pub const RECEIPT_NODES: MemoryId = MemoryId::new(8);
/// `StableBTreeMap<u64 index, Vec<u8>>`: each receipt's canonical JSON, in leaf order.
pub const RECEIPTS: MemoryId = MemoryId::new(9);
/// `StableBTreeMap<u64 batch, SignedBatch>`.
pub const RECEIPT_BATCHES: MemoryId = MemoryId::new(10);
/// `StableLog<Event>` index and data.
pub const EVENTS_INDEX: MemoryId = MemoryId::new(11);
pub const EVENTS_DATA: MemoryId = MemoryId::new(12);
/// `StableBTreeMap<Principal, u64>`: bond (sats) each miner has at stake in
/// jobs not final — the slashes those jobs could take.
pub const BOND_AT_STAKE: MemoryId = MemoryId::new(13);
/// `StableBTreeMap<Principal, u64 ns>`: miners suspended from matching by a
/// proven wrong result, and when.
pub const SUSPENDED: MemoryId = MemoryId::new(14);
/// `StableBTreeMap<Principal, u64 FLOP/s>`: the best throughput each miner
/// showed on real matmul jobs the router checked itself.
pub const JOB_FLOPS: MemoryId = MemoryId::new(15);

/// The virtual memory `id` of `manager`.
pub fn get(manager: &MemoryManager<DefaultMemoryImpl>, id: MemoryId) -> Memory {
    manager.get(id)
}
