//! Stable memory layout. Each structure has its own virtual memory; ids are
//! never reused or renumbered (an upgrade reads what the old code wrote).

use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::DefaultMemoryImpl;

pub type Memory = VirtualMemory<DefaultMemoryImpl>;

/// `Cell<Option<Config>>`: token and fee settings.
pub const CONFIG: MemoryId = MemoryId::new(0);
/// `Cell<Tip>`: total supply and the hash of the last block.
pub const TIP: MemoryId = MemoryId::new(1);
/// `BTreeMap<AccountKey, u64>`: non-zero balances.
pub const BALANCES: MemoryId = MemoryId::new(2);
/// `BTreeMap<(AccountKey owner, AccountKey spender), AllowanceRecord>`.
pub const ALLOWANCES: MemoryId = MemoryId::new(3);
/// `Log<Vec<u8>>` index: the blocks, each a Candid-encoded ICRC-3 value.
pub const BLOCKS_INDEX: MemoryId = MemoryId::new(4);
/// `Log<Vec<u8>>` data.
pub const BLOCKS_DATA: MemoryId = MemoryId::new(5);
/// `BTreeMap<[u8; 32] transaction hash, u64 block index>`: deduplication.
pub const DEDUP: MemoryId = MemoryId::new(6);
/// `BTreeMap<(u64 created_at_time, u64 block index), [u8; 32]>`: what to
/// forget from `DEDUP` once it leaves the window, oldest first.
pub const DEDUP_BY_TIME: MemoryId = MemoryId::new(7);

pub fn manager() -> MemoryManager<DefaultMemoryImpl> {
    MemoryManager::init(DefaultMemoryImpl::default())
}
