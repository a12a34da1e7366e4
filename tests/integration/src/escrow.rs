//! The escrow canister on localnet: its Wasm (gzipped: the plain module is
//! over the 2 MiB ingress limit), installation with a configuration, and the
//! Candid types a client writes from `candid/escrow.did` (this crate cannot
//! link two canister crates: their exported entry points collide).

use crate::{controller, encode};
use candid::{CandidType, Deserialize, Principal};
use localnet::LocalNet;
use std::path::PathBuf;

pub type Sats = u64;

/// The fields of the escrow's `ConfigUpdate` the tests set (the others, all
/// `opt`, decode as absent).
#[derive(CandidType, Deserialize, Debug, Clone, Default)]
pub struct ConfigUpdate {
    pub router: Option<Option<Principal>>,
    pub ckbtc_ledger: Option<Option<Principal>>,
    pub ckbtc_fee: Option<Sats>,
    pub btc_network: Option<BtcNetwork>,
    pub ecdsa_key_name: Option<String>,
    pub btc_min_confirmations: Option<u32>,
    pub btc_batch_min_requests: Option<u32>,
}

#[derive(CandidType, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BtcNetwork {
    Mainnet,
    Testnet,
    Regtest,
}

/// The fields of `BtcBatchInfo` the tests read.
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct BtcBatchInfo {
    pub id: u64,
    pub txids: Vec<String>,
    pub fee: Sats,
    pub inputs: u32,
    pub last_error: Option<String>,
}

#[derive(CandidType, Deserialize, Debug, Clone)]
pub enum EscrowArg {
    Init(ConfigUpdate),
    Upgrade(Option<ConfigUpdate>),
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub available: Sats,
    pub held: Sats,
    pub bonded: Sats,
    pub unbonding: Sats,
    pub unbonding_ready_at_ns: u64,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Released { payees: Vec<(Principal, Sats)>, fee: Sats, refunded: Sats, at_ns: u64 },
    Refunded { amount: Sats, at_ns: u64 },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub job: String,
    pub payer: Principal,
    pub amount: Sats,
    pub held_at_ns: u64,
    pub settlement: Option<Settlement>,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DepositReceipt {
    pub block_index: u64,
    pub amount: Sats,
    pub balance: Balance,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalReceipt {
    pub block_index: u64,
    pub amount: Sats,
    pub ledger_fee: Sats,
}

/// The fields of `Totals` the tests read.
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub deposits: Sats,
    pub withdrawals: Sats,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum HoldError {
    NotRouter,
    ReadOnly,
    InvalidJobId { reason: String },
    AnonymousCaller,
    AmountTooSmall { min: Sats },
    InsufficientFunds { available: Sats },
    JobExists { hold: Hold },
    AlreadySettled { hold: Hold },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ReleaseError {
    NotRouter,
    ReadOnly,
    UnknownJob,
    AnonymousCaller,
    TooManyPayees { max: u32 },
    ExceedsHold { held: Sats },
    AlreadySettled { hold: Hold },
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RefundError {
    NotRouter,
    ReadOnly,
    UnknownJob,
    AlreadySettled { hold: Hold },
}

/// Errors whose details the tests don't read (any variant decodes).
pub type OtherError = candid::Reserved;

/// Overrides where the escrow Wasm is read from.
pub const ESCROW_WASM_ENV: &str = "ESCROW_WASM";
const ESCROW_WASM_PATH: &str =
    "target/wasm32-unknown-unknown/canister-release/tensormine_escrow.wasm";

pub fn escrow_wasm() -> Vec<u8> {
    use std::io::Write;
    let path = match std::env::var_os(ESCROW_WASM_ENV) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(ESCROW_WASM_PATH),
    };
    let plain = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("cannot read the escrow Wasm at {} ({e}); build it with scripts/build-canisters.sh or set {ESCROW_WASM_ENV}", path.display())
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).expect("gzip in memory");
    gz.finish().expect("gzip in memory")
}

/// Creates a canister controlled by [`controller`](crate::controller) and installs the escrow.
pub fn install_escrow(net: &mut LocalNet, config: ConfigUpdate) -> Principal {
    let canister = net.create_canister(controller());
    net.install_canister(canister, escrow_wasm(), encode((Some(EscrowArg::Init(config)),)));
    canister
}
