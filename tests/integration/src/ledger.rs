//! The ICRC ledger (local ckBTC) on localnet: its Wasm, installation, and
//! the standard's Candid types as a client writes them from ICRC-1/2/3
//! (deliberately not the canister's own Rust types, so the tests also check
//! that the wire interface is the standard's).

use crate::{controller, encode};
use candid::{CandidType, Deserialize, Int, Nat, Principal};
use localnet::LocalNet;
use serde_bytes::ByteBuf;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Overrides where the ledger Wasm is read from.
pub const ICRC_LEDGER_WASM_ENV: &str = "ICRC_LEDGER_WASM";
const ICRC_LEDGER_WASM_PATH: &str =
    "target/wasm32-unknown-unknown/canister-release/localnet_icrc_ledger.wasm";

/// ckBTC's transfer fee, in satoshi.
pub const CKBTC_FEE: u64 = 10;

/// The ledger Wasm, gzipped (installs stay well under the ingress limit).
pub fn ledger_wasm() -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&ledger_wasm_plain()).expect("gzip in memory");
    gz.finish().expect("gzip in memory")
}

pub fn ledger_wasm_plain() -> Vec<u8> {
    let path = match std::env::var_os(ICRC_LEDGER_WASM_ENV) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(ICRC_LEDGER_WASM_PATH),
    };
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("cannot read the ICRC ledger Wasm at {} ({e}); build it with scripts/build-canisters.sh or set {ICRC_LEDGER_WASM_ENV}", path.display())
    })
}

/// The minting account of test ledgers (the ckBTC minter's role).
pub fn minter() -> Principal {
    Principal::from_slice(&[0x3C, 0xB7, 0xC0])
}

/// A ledger user's default account.
pub fn user(i: u8) -> Account {
    Account {
        owner: Principal::from_slice(&[0x05, 0xE2, i]),
        subaccount: None,
    }
}

/// ckBTC's settings: 8 decimals, fee 10, minting account [`minter`].
pub fn ckbtc_init(initial_balances: Vec<(Account, Nat)>) -> InitArgs {
    InitArgs {
        minting_account: Account {
            owner: minter(),
            subaccount: None,
        },
        transfer_fee: Nat::from(CKBTC_FEE),
        token_symbol: "ckBTC".into(),
        token_name: "ckBTC".into(),
        decimals: Some(8),
        max_memo_length: None,
        metadata: vec![],
        initial_balances,
        max_transactions_in_window: None,
    }
}

/// Creates a canister controlled by [`controller`](crate::controller) and installs the ledger.
pub fn install_ledger(net: &mut LocalNet, init: InitArgs) -> Principal {
    let canister = net.create_canister(controller());
    net.install_canister(canister, ledger_wasm(), encode((LedgerArg::Init(init),)));
    canister
}

#[derive(CandidType, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    pub owner: Principal,
    pub subaccount: Option<[u8; 32]>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub enum LedgerArg {
    Init(InitArgs),
    Upgrade(Option<UpgradeArgs>),
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct InitArgs {
    pub minting_account: Account,
    pub transfer_fee: Nat,
    pub token_symbol: String,
    pub token_name: String,
    pub decimals: Option<u8>,
    pub max_memo_length: Option<u16>,
    pub metadata: Vec<(String, MetadataValue)>,
    pub initial_balances: Vec<(Account, Nat)>,
    pub max_transactions_in_window: Option<u64>,
}

#[derive(CandidType, Deserialize, Clone, Debug, Default)]
pub struct UpgradeArgs {
    pub token_symbol: Option<String>,
    pub token_name: Option<String>,
    pub transfer_fee: Option<Nat>,
    pub metadata: Option<Vec<(String, MetadataValue)>>,
    pub max_memo_length: Option<u16>,
    pub max_transactions_in_window: Option<u64>,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum MetadataValue {
    Nat(Nat),
    Int(Int),
    Text(String),
    Blob(ByteBuf),
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct StandardRecord {
    pub name: String,
    pub url: String,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct TransferArg {
    pub from_subaccount: Option<[u8; 32]>,
    pub to: Account,
    pub amount: Nat,
    pub fee: Option<Nat>,
    pub memo: Option<ByteBuf>,
    pub created_at_time: Option<u64>,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum TransferError {
    BadFee { expected_fee: Nat },
    BadBurn { min_burn_amount: Nat },
    InsufficientFunds { balance: Nat },
    TooOld,
    CreatedInFuture { ledger_time: u64 },
    TemporarilyUnavailable,
    Duplicate { duplicate_of: Nat },
    GenericError { error_code: Nat, message: String },
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct ApproveArgs {
    pub from_subaccount: Option<[u8; 32]>,
    pub spender: Account,
    pub amount: Nat,
    pub expected_allowance: Option<Nat>,
    pub expires_at: Option<u64>,
    pub fee: Option<Nat>,
    pub memo: Option<ByteBuf>,
    pub created_at_time: Option<u64>,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum ApproveError {
    BadFee { expected_fee: Nat },
    InsufficientFunds { balance: Nat },
    AllowanceChanged { current_allowance: Nat },
    Expired { ledger_time: u64 },
    TooOld,
    CreatedInFuture { ledger_time: u64 },
    Duplicate { duplicate_of: Nat },
    TemporarilyUnavailable,
    GenericError { error_code: Nat, message: String },
}

/// A plain transfer: default subaccount, ledger's fee, no memo or time.
pub fn transfer_arg(to: Account, amount: u64) -> TransferArg {
    TransferArg {
        from_subaccount: None,
        to,
        amount: Nat::from(amount),
        fee: None,
        memo: None,
        created_at_time: None,
    }
}

/// A plain approval: no expected allowance, expiry, fee, memo or time.
pub fn approve_arg(spender: Account, amount: u64) -> ApproveArgs {
    ApproveArgs {
        from_subaccount: None,
        spender,
        amount: Nat::from(amount),
        expected_allowance: None,
        expires_at: None,
        fee: None,
        memo: None,
        created_at_time: None,
    }
}

/// A plain transfer_from: default spender subaccount, ledger's fee.
pub fn transfer_from_arg(from: Account, to: Account, amount: u64) -> TransferFromArgs {
    TransferFromArgs {
        spender_subaccount: None,
        from,
        to,
        amount: Nat::from(amount),
        fee: None,
        memo: None,
        created_at_time: None,
    }
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct TransferFromArgs {
    pub spender_subaccount: Option<[u8; 32]>,
    pub from: Account,
    pub to: Account,
    pub amount: Nat,
    pub fee: Option<Nat>,
    pub memo: Option<ByteBuf>,
    pub created_at_time: Option<u64>,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum TransferFromError {
    BadFee { expected_fee: Nat },
    BadBurn { min_burn_amount: Nat },
    InsufficientFunds { balance: Nat },
    InsufficientAllowance { allowance: Nat },
    TooOld,
    CreatedInFuture { ledger_time: u64 },
    Duplicate { duplicate_of: Nat },
    TemporarilyUnavailable,
    GenericError { error_code: Nat, message: String },
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct AllowanceArgs {
    pub account: Account,
    pub spender: Account,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Allowance {
    pub allowance: Nat,
    pub expires_at: Option<u64>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct GetBlocksArgs {
    pub start: Nat,
    pub length: Nat,
}

/// ICRC-3's `Value`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Blob(ByteBuf),
    Text(String),
    Nat(Nat),
    Int(Int),
    Array(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(map) => map.get(key),
            _ => None,
        }
    }
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct BlockWithId {
    pub id: Nat,
    pub block: Value,
}

/// `archived_blocks` is decoded as a count only: this ledger never archives.
#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct GetBlocksResult {
    pub log_length: Nat,
    pub blocks: Vec<BlockWithId>,
    pub archived_blocks: Vec<candid::Reserved>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct DataCertificate {
    pub certificate: ByteBuf,
    pub hash_tree: ByteBuf,
}

/// Typed calls on one ledger, for brevity in tests.
pub struct Ledger<'a> {
    pub net: &'a mut LocalNet,
    pub id: Principal,
}

impl Ledger<'_> {
    pub fn transfer(&mut self, from: Principal, arg: TransferArg) -> Result<Nat, TransferError> {
        let (r,): (Result<Nat, TransferError>,) = self
            .net
            .update_candid(self.id, from, "icrc1_transfer", (arg,))
            .expect("icrc1_transfer replies");
        r
    }

    pub fn approve(&mut self, from: Principal, arg: ApproveArgs) -> Result<Nat, ApproveError> {
        let (r,): (Result<Nat, ApproveError>,) = self
            .net
            .update_candid(self.id, from, "icrc2_approve", (arg,))
            .expect("icrc2_approve replies");
        r
    }

    pub fn transfer_from(
        &mut self,
        spender: Principal,
        arg: TransferFromArgs,
    ) -> Result<Nat, TransferFromError> {
        let (r,): (Result<Nat, TransferFromError>,) = self
            .net
            .update_candid(self.id, spender, "icrc2_transfer_from", (arg,))
            .expect("icrc2_transfer_from replies");
        r
    }

    pub fn balance(&mut self, account: Account) -> Nat {
        let (n,): (Nat,) = self
            .net
            .query_candid(self.id, account.owner, "icrc1_balance_of", (account,))
            .expect("icrc1_balance_of replies");
        n
    }

    pub fn allowance(&mut self, account: Account, spender: Account) -> Allowance {
        let (a,): (Allowance,) = self
            .net
            .query_candid(
                self.id,
                account.owner,
                "icrc2_allowance",
                (AllowanceArgs { account, spender },),
            )
            .expect("icrc2_allowance replies");
        a
    }

    pub fn blocks(&mut self, start: u64, length: u64) -> GetBlocksResult {
        let args = vec![GetBlocksArgs {
            start: Nat::from(start),
            length: Nat::from(length),
        }];
        let (r,): (GetBlocksResult,) = self
            .net
            .query_candid(self.id, controller(), "icrc3_get_blocks", (args,))
            .expect("icrc3_get_blocks replies");
        r
    }
}
