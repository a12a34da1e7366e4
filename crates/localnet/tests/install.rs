//! Install-time checks and rollback mechanics, on hand-written WAT modules so
//! each test controls exactly what the module imports, exports and does.

use candid::Principal;
use localnet::{ErrorCode, InstallMode, LocalNet, RejectCode, RejectResponse};
use std::io::Write;

fn controller() -> Principal {
    Principal::from_slice(&[7, 7])
}

/// A canister with a heap counter in a mutable global and in memory, and
/// endpoints that change both and then trap, or grow memory and then trap.
const COUNTER_WAT: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (memory 1)
  (global $g (mut i32) (i32.const 0))
  (data (i32.const 0) "DIDL\00\01\7c")
  ;; replies with candid (int) of the value at address 16 plus the global, as a one-byte LEB128
  (func $reply_state
    (i32.store8 (i32.const 7) (i32.add (i32.load (i32.const 16)) (global.get $g)))
    (call $append (i32.const 0) (i32.const 8))
    (call $reply))
  (func (export "canister_query state") (call $reply_state))
  (func (export "canister_query pages")
    (i32.store8 (i32.const 7) (memory.size))
    (call $append (i32.const 0) (i32.const 8))
    (call $reply))
  (func (export "canister_update bump")
    (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 1)))
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (call $reply_state))
  (func (export "canister_update bump_then_trap")
    (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 10)))
    (global.set $g (i32.add (global.get $g) (i32.const 10)))
    (call $trap (i32.const 0) (i32.const 4)))
  (func (export "canister_update grow_then_trap")
    (drop (memory.grow (i32.const 3)))
    (i32.store (i32.const 16) (i32.const 99))
    unreachable)
)
"#;

fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("test WAT parses")
}

fn net_with(wasm_bytes: Vec<u8>) -> (LocalNet, Principal, Result<(), RejectResponse>) {
    let mut net = LocalNet::new();
    let canister = net.create_canister(controller());
    let result = net.install_code(
        controller(),
        canister,
        InstallMode::Install,
        wasm_bytes,
        vec![],
    );
    (net, canister, result)
}

fn state(net: &mut LocalNet, canister: Principal, method: &str) -> i64 {
    let bytes = net
        .query_call(
            canister,
            controller(),
            method,
            candid::encode_args(()).unwrap(),
        )
        .unwrap();
    candid::decode_one::<candid::Int>(&bytes)
        .unwrap()
        .0
        .try_into()
        .unwrap()
}

fn invalid_wasm(result: Result<(), RejectResponse>) -> String {
    let reject = result.expect_err("the module must be refused");
    assert_eq!(
        reject.error_code,
        ErrorCode::CanisterInvalidWasm,
        "{reject}"
    );
    assert_eq!(reject.reject_code, RejectCode::CanisterError, "{reject}");
    reject.reject_message
}

#[test]
fn gzipped_module_installs_and_runs() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&wasm(COUNTER_WAT)).unwrap();
    let (mut net, canister, result) = net_with(gz.finish().unwrap());
    result.expect("a gzipped module installs");
    net.update_call(canister, controller(), "bump", vec![])
        .unwrap();
    assert_eq!(state(&mut net, canister, "state"), 2);
}

#[test]
fn unknown_system_import_is_refused_naming_it() {
    let module = r#"(module (import "ic0" "no_such_call" (func)) (memory 1))"#;
    let (mut net, canister, result) = net_with(wasm(module));
    assert!(invalid_wasm(result).contains("ic0.no_such_call"));
    let status = net.canister_status(controller(), canister).unwrap();
    assert_eq!(
        status.module_hash, None,
        "a refused module leaves the canister empty"
    );
}

#[test]
fn system_import_with_wrong_signature_is_refused_naming_it() {
    let module = r#"(module (import "ic0" "msg_reply" (func (param i32))) (memory 1))"#;
    let (_, _, result) = net_with(wasm(module));
    assert!(invalid_wasm(result).contains("msg_reply"));
}

#[test]
fn import_outside_ic0_is_refused() {
    let module = r#"(module (import "env" "print" (func)) (memory 1))"#;
    let (_, _, result) = net_with(wasm(module));
    assert!(invalid_wasm(result).contains("env.print"));
}

#[test]
fn reserved_and_duplicate_exports_are_refused() {
    let reserved = r#"(module (memory 1) (func (export "canister_foo")))"#;
    assert!(invalid_wasm(net_with(wasm(reserved)).2).contains("canister_foo"));
    let duplicate = r#"(module (memory 1) (func $f) (export "canister_update m" (func $f)) (export "canister_query m" (func $f)))"#;
    assert!(invalid_wasm(net_with(wasm(duplicate)).2).contains("'m'"));
}

#[test]
fn trap_rolls_back_memory_and_globals() {
    let (mut net, canister, result) = net_with(wasm(COUNTER_WAT));
    result.unwrap();
    net.update_call(canister, controller(), "bump", vec![])
        .unwrap();
    let reject = net
        .update_call(canister, controller(), "bump_then_trap", vec![])
        .unwrap_err();
    assert_eq!(reject.error_code, ErrorCode::CanisterCalledTrap);
    assert_eq!(
        state(&mut net, canister, "state"),
        2,
        "memory and the global are as before the trap"
    );
}

#[test]
fn trap_after_memory_grow_restores_the_memory_size() {
    let (mut net, canister, result) = net_with(wasm(COUNTER_WAT));
    result.unwrap();
    net.update_call(canister, controller(), "bump", vec![])
        .unwrap();
    let reject = net
        .update_call(canister, controller(), "grow_then_trap", vec![])
        .unwrap_err();
    assert_eq!(reject.error_code, ErrorCode::CanisterTrapped);
    assert!(reject.reject_message.contains("unreachable"), "{reject}");
    assert_eq!(
        state(&mut net, canister, "pages"),
        1,
        "memory.grow is rolled back"
    );
    assert_eq!(
        state(&mut net, canister, "state"),
        2,
        "and so is the content"
    );
    net.update_call(canister, controller(), "bump", vec![])
        .unwrap();
    assert_eq!(
        state(&mut net, canister, "state"),
        4,
        "the restored instance keeps working"
    );
}

#[test]
fn trapping_init_leaves_the_canister_empty() {
    let module = r#"(module (import "ic0" "trap" (func $t (param i32 i32))) (memory 1)
                     (func (export "canister_init") (call $t (i32.const 0) (i32.const 0))))"#;
    let (mut net, canister, result) = net_with(wasm(module));
    let reject = result.unwrap_err();
    assert_eq!(reject.error_code, ErrorCode::CanisterCalledTrap);
    assert_eq!(
        net.canister_status(controller(), canister)
            .unwrap()
            .module_hash,
        None
    );
}

#[test]
fn calls_from_a_query_are_a_contract_violation() {
    let module = r#"(module
        (import "ic0" "call_new" (func $new (param i32 i32 i32 i32 i32 i32 i32 i32)))
        (memory 1)
        (func (export "canister_query q") (call $new (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                                                      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))))"#;
    let (mut net, canister, result) = net_with(wasm(module));
    result.unwrap();
    let reject = net
        .query_call(canister, controller(), "q", vec![])
        .unwrap_err();
    assert_eq!(
        reject.error_code,
        ErrorCode::CanisterContractViolation,
        "{reject}"
    );
    assert!(reject.reject_message.contains("call_new"), "{reject}");
}

#[test]
fn a_canister_without_cycles_for_a_message_rejects_calls() {
    let mut net = LocalNet::new();
    let canister = net.create_canister_with_cycles(controller(), 1_000_000_000);
    net.install_code(
        controller(),
        canister,
        InstallMode::Install,
        wasm(COUNTER_WAT),
        vec![],
    )
    .unwrap();
    let reject = net
        .update_call(canister, controller(), "bump", vec![])
        .unwrap_err();
    assert_eq!(
        reject.error_code,
        ErrorCode::CanisterOutOfCycles,
        "{reject}"
    );
    assert_eq!(reject.reject_code, RejectCode::SysTransient);
    net.add_cycles(canister, 100_000_000_000);
    net.update_call(canister, controller(), "bump", vec![])
        .expect("topped up, it runs again");
}

#[test]
fn ingress_induction_is_paid_by_the_receiver() {
    let (mut net, canister, result) = net_with(wasm(COUNTER_WAT));
    result.unwrap();
    let before = net.cycle_balance(canister);
    net.update_call(canister, controller(), "bump", vec![0; 1000])
        .unwrap();
    let paid = before - net.cycle_balance(canister);
    let induction =
        localnet::localnet_services::cost::SubnetCosts::new(13).ingress_induction(4 + 1000);
    let execution = localnet::localnet_services::cost::SubnetCosts::new(13).update_execution(
        net.last_message(canister, "update bump")
            .unwrap()
            .instructions,
    );
    assert_eq!(paid, induction + execution);
}
