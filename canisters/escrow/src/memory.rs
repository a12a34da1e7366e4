//! Stable memory layout. Each structure has its own virtual memory; ids are
//! never reused or renumbered (an upgrade reads what the old code wrote).

use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::DefaultMemoryImpl;

pub type Memory = VirtualMemory<DefaultMemoryImpl>;

/// `StableCell<Config>`.
pub const CONFIG: MemoryId = MemoryId::new(0);
/// `StableBTreeMap<Principal, Balance>`: accounts (empty ones removed).
pub const ACCOUNTS: MemoryId = MemoryId::new(1);
/// `StableBTreeMap<String job, Hold>`: open and settled holds.
pub const HOLDS: MemoryId = MemoryId::new(2);
/// `StableBTreeMap<u64 block, Principal>`: ckBTC ledger blocks credited.
pub const CKBTC_BLOCKS: MemoryId = MemoryId::new(3);
/// `StableBTreeMap<u64 id, LedgerOp>`: ledger calls not finished.
pub const LEDGER_OPS: MemoryId = MemoryId::new(4);
/// `StableBTreeMap<String "miner|job", Slash>`.
pub const SLASHES: MemoryId = MemoryId::new(5);
/// `StableCell<Counters>`: totals and id counters.
pub const COUNTERS: MemoryId = MemoryId::new(6);
/// `StableLog<Event>` index and data.
pub const EVENTS_INDEX: MemoryId = MemoryId::new(7);
pub const EVENTS_DATA: MemoryId = MemoryId::new(8);
/// `StableBTreeMap<String outpoint, SeenDeposit>`: every deposit UTXO ever
/// seen (credited or too small), so each is considered once.
pub const BTC_DEPOSITS: MemoryId = MemoryId::new(9);
/// `StableBTreeMap<String outpoint, PoolUtxo>`: the escrow's spendable UTXOs
/// with the derivation path of the key that owns each.
pub const BTC_POOL: MemoryId = MemoryId::new(10);
/// `StableBTreeMap<u64 id, BtcPayoutRequest>`: payouts debited, not confirmed.
pub const BTC_REQUESTS: MemoryId = MemoryId::new(11);
/// `StableBTreeMap<u64 id, Batch>`: payout transactions submitted, not confirmed.
pub const BTC_BATCHES: MemoryId = MemoryId::new(12);
/// `StableCell<BtcMeta>`: the cached threshold key and id counters.
pub const BTC_META: MemoryId = MemoryId::new(13);
/// `StableBTreeMap<Principal, Watch>`: deposit addresses the timer checks.
pub const BTC_WATCH: MemoryId = MemoryId::new(14);

/// The virtual memory `id` of `manager`.
pub fn get(manager: &MemoryManager<DefaultMemoryImpl>, id: MemoryId) -> Memory {
    manager.get(id)
}
