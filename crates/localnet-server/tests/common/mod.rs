//! A small canister in WAT and helpers to install it through the HTTP interface.
#![allow(dead_code)]

use candid::Principal;
use ic_agent::{Agent, AgentError, Identity};
use localnet_server::{Config, Handle, Server};

/// `inc` (update): counter += 1, certified data := counter (8 bytes LE), replies the counter.
/// `get` (query): the counter. `cert` (query): the data certificate.
/// `whoami` (update and query `whoami_q`): the caller's principal bytes.
/// `reject` (update): rejects with "nope". `trap` (update): traps.
/// `set_certified` (update): certified data := the argument (raw bytes).
pub const CANISTER_WAT: &str = r#"
(module
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reject" (func $reject (param i32 i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (import "ic0" "certified_data_set" (func $certified_data_set (param i32 i32)))
  (import "ic0" "data_certificate_size" (func $cert_size (result i32)))
  (import "ic0" "data_certificate_copy" (func $cert_copy (param i32 i32 i32)))
  (import "ic0" "msg_caller_size" (func $caller_size (result i32)))
  (import "ic0" "msg_caller_copy" (func $caller_copy (param i32 i32 i32)))
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (memory 1)
  (data (i32.const 100) "nope")
  (func (export "canister_update inc")
    (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (i64.const 1)))
    (call $certified_data_set (i32.const 0) (i32.const 8))
    (call $append (i32.const 0) (i32.const 8))
    (call $reply))
  (func (export "canister_query get")
    (call $append (i32.const 0) (i32.const 8))
    (call $reply))
  (func (export "canister_query cert")
    (call $cert_copy (i32.const 1024) (i32.const 0) (call $cert_size))
    (call $append (i32.const 1024) (call $cert_size))
    (call $reply))
  (func $whoami
    (call $caller_copy (i32.const 200) (i32.const 0) (call $caller_size))
    (call $append (i32.const 200) (call $caller_size))
    (call $reply))
  (func (export "canister_update whoami") (call $whoami))
  (func (export "canister_query whoami_q") (call $whoami))
  (func (export "canister_update set_certified")
    (call $arg_copy (i32.const 512) (i32.const 0) (call $arg_size))
    (call $certified_data_set (i32.const 512) (call $arg_size))
    (call $reply))
  (func (export "canister_update reject") (call $reject (i32.const 100) (i32.const 4)))
  (func (export "canister_update trap") (call $trap (i32.const 100) (i32.const 4)))
  (@custom "icp:public candid:service" "service : { inc : () -> () }")
  (@custom "icp:private secret" "only for controllers")
)
"#;

pub fn canister_wasm() -> Vec<u8> {
    wat::parse_str(CANISTER_WAT).expect("the test canister parses")
}

pub async fn start() -> Handle {
    Server::start(Config::default())
        .await
        .expect("the server starts")
}

pub async fn agent(handle: &Handle, identity: impl Identity + 'static) -> Agent {
    let agent = Agent::builder()
        .with_url(handle.url())
        .with_identity(identity)
        .build()
        .expect("an agent");
    agent
        .fetch_root_key()
        .await
        .expect("the status endpoint answers");
    agent
}

/// Creates a canister (provisional API) controlled by the agent's identity and
/// installs the test canister, all through the HTTP interface.
pub async fn install(agent: &Agent) -> Principal {
    use ic_management_canister_types::{
        CanisterIdRecord, CanisterInstallMode, InstallCodeArgs,
        ProvisionalCreateCanisterWithCyclesArgs,
    };
    let create = ProvisionalCreateCanisterWithCyclesArgs {
        amount: Some(candid::Nat::from(10_000_000_000_000u64)),
        settings: None,
        specified_id: None,
        sender_canister_version: None,
    };
    let reply = agent
        .update(
            &Principal::management_canister(),
            "provisional_create_canister_with_cycles",
        )
        .with_effective_canister_id(Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 1, 1]))
        .with_arg(candid::encode_one(create).unwrap())
        .call_and_wait()
        .await
        .expect("provisional_create_canister_with_cycles");
    let CanisterIdRecord { canister_id } = candid::decode_one(&reply).unwrap();
    let install = InstallCodeArgs {
        mode: CanisterInstallMode::Install,
        canister_id,
        wasm_module: canister_wasm(),
        arg: vec![],
        sender_canister_version: None,
    };
    agent
        .update(&Principal::management_canister(), "install_code")
        .with_effective_canister_id(canister_id)
        .with_arg(candid::encode_one(install).unwrap())
        .call_and_wait()
        .await
        .expect("install_code");
    canister_id
}

pub fn ed25519_identity(seed: u8) -> ic_agent::identity::BasicIdentity {
    ic_agent::identity::BasicIdentity::from_raw_key(&[seed; 32])
}

pub fn secp256k1_identity(seed: u8) -> ic_agent::identity::Secp256k1Identity {
    let key = k256::SecretKey::from_slice(&[seed; 32]).expect("a valid secp256k1 key");
    ic_agent::identity::Secp256k1Identity::from_private_key(key)
}

pub fn p256_identity(seed: u8) -> ic_agent::identity::Prime256v1Identity {
    let key = p256::SecretKey::from_slice(&[seed; 32]).expect("a valid P-256 key");
    ic_agent::identity::Prime256v1Identity::from_private_key(key)
}

/// POSTs raw CBOR to the server; returns the status and body.
pub async fn post(handle: &Handle, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", handle.url()))
        .header("content-type", "application/cbor")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// The counter the test canister replies (8 bytes, little-endian).
pub fn counter(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

/// The HTTP status of an agent error, if it is one.
pub fn http_status(e: &AgentError) -> Option<u16> {
    match e {
        AgentError::HttpError(payload) => Some(payload.status),
        _ => None,
    }
}
