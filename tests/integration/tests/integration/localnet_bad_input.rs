//! Bad input gets the reject the IC gives, and the net stays usable afterwards.

use candid::Principal;
use localnet::{ErrorCode, InstallMode, LocalNet, RejectCode};
use tensormine_integration_tests::*;

fn unknown_canister() -> Principal {
    Principal::from_slice(&[0x00, 0x00, 0x00, 0x00, 0x0F, 0xFF, 0xFF, 0x01, 0x01, 0x01])
}

#[test]
fn garbage_wasm_is_rejected_as_invalid_wasm() {
    let mut net = LocalNet::new();
    let canister = net.create_canister(controller());

    let reject = expect_reject(net.install_code(
        controller(),
        canister,
        InstallMode::Install,
        b"\0asm but not really a module".to_vec(),
        encode(()),
    ));

    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterInvalidWasm,
    );
    net.install_canister(canister, conformance_wasm(), encode(()));
    assert_still_usable(&mut net, canister);
}

#[test]
fn install_mode_on_a_canister_with_code_is_rejected_as_non_empty() {
    let (mut net, canister) = net_with_conformance();
    let _: u64 = update(&mut net, canister, "inc", ());

    let reject = expect_reject(net.install_code(
        controller(),
        canister,
        InstallMode::Install,
        conformance_wasm(),
        encode(()),
    ));

    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterNonEmpty,
    );
    assert_still_usable(&mut net, canister);
    assert_eq!(
        query::<_, u64>(&mut net, canister, "counter", ()),
        2,
        "the code and state are untouched"
    );
}

#[test]
fn calls_to_an_unknown_canister_are_destination_invalid() {
    let (mut net, canister) = net_with_conformance();

    let update_reject =
        expect_reject(net.update_call(unknown_canister(), controller(), "inc", encode(())));
    let query_reject =
        expect_reject(net.query_call(unknown_canister(), controller(), "counter", encode(())));

    assert_reject(
        &update_reject,
        RejectCode::DestinationInvalid,
        ErrorCode::CanisterNotFound,
    );
    assert_reject(
        &query_reject,
        RejectCode::DestinationInvalid,
        ErrorCode::CanisterNotFound,
    );
    assert_still_usable(&mut net, canister);
}

#[test]
fn calls_to_an_unknown_method_are_method_not_found() {
    let (mut net, canister) = net_with_conformance();

    let update_reject = update_rejected(&mut net, canister, "no_such_method", ());
    let query_reject =
        expect_reject(net.query_call(canister, controller(), "no_such_method", encode(())));
    let update_only_as_query =
        expect_reject(net.query_call(canister, controller(), "inc", encode(())));

    assert_reject(
        &update_reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterMethodNotFound,
    );
    assert_reject(
        &query_reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterMethodNotFound,
    );
    assert_reject(
        &update_only_as_query,
        RejectCode::CanisterError,
        ErrorCode::CanisterMethodNotFound,
    );
    assert_still_usable(&mut net, canister);
}

#[test]
fn malformed_candid_traps_in_the_canister() {
    let (mut net, canister) = net_with_conformance();

    let not_candid = expect_reject(net.update_call(
        canister,
        controller(),
        "set_stable_value",
        b"garbage".to_vec(),
    ));
    let wrong_type = update_rejected(
        &mut net,
        canister,
        "set_stable_value",
        ("a text, not a nat64",),
    );

    assert_reject(
        &not_candid,
        RejectCode::CanisterError,
        ErrorCode::CanisterCalledTrap,
    );
    assert_reject(
        &wrong_type,
        RejectCode::CanisterError,
        ErrorCode::CanisterCalledTrap,
    );
    assert_eq!(
        query::<_, Option<u64>>(&mut net, canister, "stable_value", ()),
        None
    );
    assert_still_usable(&mut net, canister);
}

#[test]
fn calls_to_a_canister_without_code_are_rejected() {
    let mut net = LocalNet::new();
    let empty = net.create_canister(controller());

    let reject = expect_reject(net.update_call(empty, controller(), "inc", encode(())));

    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterWasmModuleNotFound,
    );
}

#[test]
fn a_stranger_cannot_install_upgrade_stop_or_read_status() {
    let (mut net, canister) = net_with_conformance();
    let _: u64 = update(&mut net, canister, "inc", ());
    let empty = net.create_canister(controller());
    let wasm = conformance_wasm();

    let rejects = [
        expect_reject(net.install_code(
            stranger(),
            empty,
            InstallMode::Install,
            wasm.clone(),
            encode(()),
        )),
        expect_reject(net.install_code(
            stranger(),
            canister,
            InstallMode::Upgrade,
            wasm.clone(),
            encode(()),
        )),
        expect_reject(net.install_code(
            stranger(),
            canister,
            InstallMode::Reinstall,
            wasm,
            encode(()),
        )),
        expect_reject(net.stop_canister(stranger(), canister)),
        expect_reject(net.delete_canister(stranger(), canister)),
        expect_reject(net.canister_status(stranger(), canister)),
    ];

    for reject in &rejects {
        assert_reject(
            reject,
            RejectCode::CanisterError,
            ErrorCode::CanisterInvalidController,
        );
    }
    assert!(!query::<_, bool>(
        &mut net,
        canister,
        "is_controller",
        (stranger(),)
    ));
    assert!(query::<_, bool>(
        &mut net,
        canister,
        "is_controller",
        (controller(),)
    ));
    assert_eq!(
        query::<_, u64>(&mut net, canister, "counter", ()),
        1,
        "the canister was not touched"
    );
    assert_still_usable(&mut net, canister);
}

#[test]
fn a_stopped_canister_rejects_calls_until_started() {
    let (mut net, canister) = net_with_conformance();
    net.stop_canister(controller(), canister)
        .expect("the controller stops it");

    let reject = update_rejected(&mut net, canister, "inc", ());
    let delete_running = {
        net.start_canister(controller(), canister)
            .expect("the controller starts it");
        expect_reject(net.delete_canister(controller(), canister))
    };

    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterStopped,
    );
    assert_reject(
        &delete_running,
        RejectCode::CanisterError,
        ErrorCode::CanisterNotStopped,
    );
    assert_still_usable(&mut net, canister);
}
