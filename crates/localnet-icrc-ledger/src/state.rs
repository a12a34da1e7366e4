//! The ledger's state, all in stable structures so an upgrade keeps it, and
//! the fixed-size keys and records stored in them. Canister code reaches it
//! through [`read_state`] / [`mutate_state`]; tests build a [`State`] on a
//! fresh memory with [`State::new`].

use crate::memory::{self, Memory};
use candid::{CandidType, Decode, Deserialize, Encode, Principal};
use ic_stable_structures::memory_manager::MemoryManager;
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{BTreeMap, Cell, DefaultMemoryImpl, Log, Storable};
use icrc_ledger_types::icrc::generic_metadata_value::MetadataValue;
use icrc_ledger_types::icrc1::account::Account;
use std::borrow::Cow;
use std::cell::RefCell;

pub type Hash = [u8; 32];

/// Settings fixed at installation (some may change on upgrade).
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct Config {
    pub token_symbol: String,
    pub token_name: String,
    pub decimals: u8,
    pub transfer_fee: u64,
    pub minting_account: Account,
    pub max_memo_length: u16,
    pub metadata: Vec<(String, MetadataValue)>,
    pub max_transactions_in_window: u64,
}

/// What the next block needs from the previous ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tip {
    pub total_supply: u64,
    pub last_block_hash: Option<Hash>,
}

pub struct State {
    config: Cell<Candid<Option<Config>>, Memory>,
    pub tip: Cell<Tip, Memory>,
    pub balances: BTreeMap<AccountKey, u64, Memory>,
    pub allowances: BTreeMap<(AccountKey, AccountKey), AllowanceRecord, Memory>,
    pub blocks: Log<Vec<u8>, Memory, Memory>,
    pub dedup: BTreeMap<Hash, u64, Memory>,
    pub dedup_by_time: BTreeMap<(u64, u64), Hash, Memory>,
}

impl State {
    /// Opens (or, on fresh memory, creates) every structure.
    pub fn new(manager: &MemoryManager<DefaultMemoryImpl>) -> Self {
        Self {
            config: Cell::init(manager.get(memory::CONFIG), Candid(None)),
            tip: Cell::init(manager.get(memory::TIP), Tip::default()),
            balances: BTreeMap::init(manager.get(memory::BALANCES)),
            allowances: BTreeMap::init(manager.get(memory::ALLOWANCES)),
            blocks: Log::init(
                manager.get(memory::BLOCKS_INDEX),
                manager.get(memory::BLOCKS_DATA),
            ),
            dedup: BTreeMap::init(manager.get(memory::DEDUP)),
            dedup_by_time: BTreeMap::init(manager.get(memory::DEDUP_BY_TIME)),
        }
    }

    /// The configuration. Every endpoint runs after `canister_init`, which sets it.
    pub fn config(&self) -> &Config {
        self.config
            .get()
            .0
            .as_ref()
            .expect("the ledger is initialized at install")
    }

    pub fn set_config(&mut self, config: Config) {
        self.config.set(Candid(Some(config)));
    }

    pub fn balance(&self, account: &Account) -> u64 {
        self.balances.get(&AccountKey::of(account)).unwrap_or(0)
    }

    /// Zero balances are not stored, so the map holds only funded accounts.
    pub fn set_balance(&mut self, account: &Account, amount: u64) {
        let key = AccountKey::of(account);
        if amount == 0 {
            self.balances.remove(&key);
        } else {
            self.balances.insert(key, amount);
        }
    }

    pub fn update_tip(&mut self, update: impl FnOnce(&mut Tip)) {
        let mut tip = *self.tip.get();
        update(&mut tip);
        self.tip.set(tip);
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::new(&memory::manager()));
}

pub fn read_state<R>(f: impl FnOnce(&State) -> R) -> R {
    STATE.with(|s| f(&s.borrow()))
}

pub fn mutate_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// A value stored Candid-encoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Candid<T>(pub T);

impl<T: CandidType + for<'de> Deserialize<'de>> Storable for Candid<T> {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(Encode!(&self.0).expect("Candid encoding to memory succeeds"))
    }
    fn into_bytes(self) -> Vec<u8> {
        Encode!(&self.0).expect("Candid encoding to memory succeeds")
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        Candid(Decode!(bytes.as_ref(), T).expect("stored Candid value decodes"))
    }
    const BOUND: Bound = Bound::Unbounded;
}

const TIP_LEN: usize = 8 + 1 + 32;

impl Storable for Tip {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.into_bytes())
    }
    fn into_bytes(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(TIP_LEN);
        bytes.extend_from_slice(&self.total_supply.to_le_bytes());
        bytes.push(self.last_block_hash.is_some() as u8);
        bytes.extend_from_slice(&self.last_block_hash.unwrap_or_default());
        bytes
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        let total_supply = u64::from_le_bytes(bytes[0..8].try_into().expect("8 bytes"));
        let hash: Hash = bytes[9..41].try_into().expect("32 bytes");
        Tip {
            total_supply,
            last_block_hash: (bytes[8] == 1).then_some(hash),
        }
    }
    const BOUND: Bound = Bound::Bounded {
        max_size: TIP_LEN as u32,
        is_fixed_size: true,
    };
}

/// An account as a fixed-size key: principal length, principal bytes padded
/// to 29, then the effective subaccount (so `None` and the all-zero
/// subaccount are the same account, as ICRC-1 says).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccountKey([u8; ACCOUNT_KEY_LEN]);

const MAX_PRINCIPAL_LEN: usize = 29;
const ACCOUNT_KEY_LEN: usize = 1 + MAX_PRINCIPAL_LEN + 32;

impl AccountKey {
    pub fn of(account: &Account) -> Self {
        let owner = account.owner.as_slice();
        let mut key = [0u8; ACCOUNT_KEY_LEN];
        key[0] = owner.len() as u8;
        key[1..1 + owner.len()].copy_from_slice(owner);
        key[1 + MAX_PRINCIPAL_LEN..].copy_from_slice(account.effective_subaccount());
        AccountKey(key)
    }

    pub fn account(&self) -> Account {
        let len = self.0[0] as usize;
        let subaccount: [u8; 32] = self.0[1 + MAX_PRINCIPAL_LEN..]
            .try_into()
            .expect("32 bytes");
        Account {
            owner: Principal::from_slice(&self.0[1..1 + len]),
            subaccount: (subaccount != [0; 32]).then_some(subaccount),
        }
    }
}

impl Storable for AccountKey {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0)
    }
    fn into_bytes(self) -> Vec<u8> {
        self.0.to_vec()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        AccountKey(bytes.as_ref().try_into().expect("account key size"))
    }
    const BOUND: Bound = Bound::Bounded {
        max_size: ACCOUNT_KEY_LEN as u32,
        is_fixed_size: true,
    };
}

/// An allowance as stored: the amount left and when it expires (ledger time, ns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowanceRecord {
    pub amount: u64,
    pub expires_at: Option<u64>,
}

impl AllowanceRecord {
    /// An allowance counts as zero from its expiry on.
    pub fn live_amount(&self, now: u64) -> u64 {
        match self.expires_at {
            Some(expires_at) if expires_at <= now => 0,
            _ => self.amount,
        }
    }
}

const ALLOWANCE_LEN: usize = 8 + 1 + 8;

impl Storable for AllowanceRecord {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.into_bytes())
    }
    fn into_bytes(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(ALLOWANCE_LEN);
        bytes.extend_from_slice(&self.amount.to_le_bytes());
        bytes.push(self.expires_at.is_some() as u8);
        bytes.extend_from_slice(&self.expires_at.unwrap_or(0).to_le_bytes());
        bytes
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        let amount = u64::from_le_bytes(bytes[0..8].try_into().expect("8 bytes"));
        let expires_at = u64::from_le_bytes(bytes[9..17].try_into().expect("8 bytes"));
        AllowanceRecord {
            amount,
            expires_at: (bytes[8] == 1).then_some(expires_at),
        }
    }
    const BOUND: Bound = Bound::Bounded {
        max_size: ALLOWANCE_LEN as u32,
        is_fixed_size: true,
    };
}
