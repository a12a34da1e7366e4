//! The conformance canister (tests/conformance-canister): its Wasm, its Candid types,
//! and typed calls to it on a [`LocalNet`].

use candid::utils::ArgumentEncoder;
use candid::{CandidType, Deserialize, Principal};
use localnet::{LocalNet, RejectResponse};
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;
use std::path::PathBuf;

/// Environment variable that overrides where the conformance canister's Wasm is read from.
pub const CONFORMANCE_WASM_ENV: &str = "CONFORMANCE_WASM";

/// Where `scripts/build-canisters.sh` puts the conformance canister, relative to the workspace.
const CONFORMANCE_WASM_PATH: &str =
    "target/wasm32-unknown-unknown/canister-release/conformance_canister.wasm";

/// The threshold key every chain-key test uses (localnet provides it for all algorithms).
pub const KEY_NAME: &str = "key_1";

pub fn conformance_wasm_path() -> PathBuf {
    match std::env::var_os(CONFORMANCE_WASM_ENV) {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(CONFORMANCE_WASM_PATH),
    }
}

/// The built conformance canister. Panics, saying how to build it, when it is missing.
pub fn conformance_wasm() -> Vec<u8> {
    let path = conformance_wasm_path();
    std::fs::read(&path).unwrap_or_else(|err| {
        panic!(
            "cannot read the conformance canister Wasm at {} ({err}). \
             Build it with `scripts/build-canisters.sh` (or set {CONFORMANCE_WASM_ENV} to a built Wasm).",
            path.display()
        )
    })
}

/// The principal that creates and controls the canisters in these tests.
pub fn controller() -> Principal {
    Principal::from_slice(&[0xC0, 0x17, 0x01])
}

/// A principal that controls nothing.
pub fn stranger() -> Principal {
    Principal::from_slice(&[0x57, 0x2A, 0x9E])
}

/// Candid-encodes an argument tuple.
pub fn encode<A: ArgumentEncoder>(args: A) -> Vec<u8> {
    candid::encode_args(args).expect("test arguments encode as Candid")
}

/// Creates a canister controlled by [`controller`] and installs the conformance canister.
pub fn install_conformance(net: &mut LocalNet) -> Principal {
    let canister = net.create_canister(controller());
    net.install_canister(canister, conformance_wasm(), encode(()));
    canister
}

/// A fresh net (default config) with one conformance canister.
pub fn net_with_conformance() -> (LocalNet, Principal) {
    let mut net = LocalNet::new();
    let canister = install_conformance(&mut net);
    (net, canister)
}

/// An update call by [`controller`] that must succeed; decodes the single return value.
pub fn update<A: ArgumentEncoder, R: CandidType + DeserializeOwned>(
    net: &mut LocalNet,
    canister: Principal,
    method: &str,
    args: A,
) -> R {
    let (value,): (R,) = net
        .update_candid(canister, controller(), method, args)
        .unwrap_or_else(|err| panic!("update {method} failed: {err}"));
    value
}

/// An update call by [`controller`] to a method without return values that must succeed.
pub fn update_unit<A: ArgumentEncoder>(
    net: &mut LocalNet,
    canister: Principal,
    method: &str,
    args: A,
) {
    let () = net
        .update_candid(canister, controller(), method, args)
        .unwrap_or_else(|err| panic!("update {method} failed: {err}"));
}

/// A query call by [`controller`] that must succeed; decodes the single return value.
pub fn query<A: ArgumentEncoder, R: CandidType + DeserializeOwned>(
    net: &mut LocalNet,
    canister: Principal,
    method: &str,
    args: A,
) -> R {
    let (value,): (R,) = net
        .query_candid(canister, controller(), method, args)
        .unwrap_or_else(|err| panic!("query {method} failed: {err}"));
    value
}

/// An update call by [`controller`] that must be rejected.
pub fn update_rejected<A: ArgumentEncoder>(
    net: &mut LocalNet,
    canister: Principal,
    method: &str,
    args: A,
) -> RejectResponse {
    match net.update_call(canister, controller(), method, encode(args)) {
        Ok(reply) => panic!(
            "update {method} replied ({} bytes) but should be rejected",
            reply.len()
        ),
        Err(reject) => reject,
    }
}

/// Asserts the canister still executes updates: `inc` raises the counter by one.
pub fn assert_still_usable(net: &mut LocalNet, canister: Principal) {
    let before: u64 = query(net, canister, "counter", ());
    let after: u64 = update(net, canister, "inc", ());
    assert_eq!(
        after,
        before + 1,
        "a follow-up update must succeed and take effect"
    );
}

// ----- Candid types of the conformance canister (conformance.did) -----------------------

/// A reject as the calling canister saw it; `code` 0 means the call was never performed.
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RejectInfo {
    pub code: u32,
    pub message: String,
}

pub type CallReply = Result<ByteBuf, RejectInfo>;

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct StateSnapshot {
    pub counter: u64,
    pub stable_value: Option<u64>,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRecord {
    pub pre_upgrade_counter: Option<u64>,
    pub post_upgrade_runs: u64,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct GuardState {
    pub held: bool,
    pub drops: u64,
    pub drops_during_cleanup: u64,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CyclesCallReply {
    pub result: CallReply,
    pub refunded: u128,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AcceptReply {
    pub available: u128,
    pub accepted: u128,
}

#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyReply {
    pub public_key: ByteBuf,
    pub chain_code: ByteBuf,
}

/// Which transform function `http_get` names.
#[derive(CandidType, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "strip_headers")]
    StripHeaders,
    #[serde(rename = "keep_headers")]
    KeepHeaders,
}
