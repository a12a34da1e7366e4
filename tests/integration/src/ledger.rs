//! The ICRC ledger (local ckBTC) on localnet: its Wasm, installation, and
//! typed calls. The ICRC-1/2/3 Candid types are DFINITY's `icrc-ledger-types`
//! (what clients of the real ckBTC ledger use, re-exported by
//! `tensormine_core::ledger`), so the tests check that the wire interface is
//! the one real clients speak; the ICRC-3 hashes are recomputed here
//! independently of that crate.

use crate::{controller, encode};
use candid::{Nat, Principal};
use localnet::LocalNet;
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

pub use tensormine_core::ledger::{
    Account, Allowance, AllowanceArgs, ApproveArgs, ApproveError, BlockWithId, GetBlocksRequest,
    GetBlocksResult, ICRC3DataCertificate as DataCertificate, ICRC3Value as Value, InitArgs,
    LedgerArg, Memo, MetadataValue, StandardRecord, TransferArg, TransferError, TransferFromArgs,
    TransferFromError, UpgradeArgs,
};

/// The field `key` of an ICRC-3 map value (`None` for a missing key or a
/// value that is not a map).
pub fn field<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Map(map) => map.get(key),
        _ => None,
    }
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
        let args = vec![GetBlocksRequest {
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
