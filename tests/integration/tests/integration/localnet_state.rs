//! Message atomicity, commit points at awaits, cleanup callbacks, query rollback, upgrades.

use localnet::{ErrorCode, LocalNet, RejectCode};
use std::time::Duration;
use tensormine_integration_tests::*;

fn snapshot(net: &mut LocalNet, canister: candid::Principal) -> StateSnapshot {
    query(net, canister, "snapshot", ())
}

#[test]
fn trap_after_await_keeps_the_state_from_before_the_await() {
    let (mut net, canister) = net_with_conformance();
    update_unit(&mut net, canister, "set_stable_value", (10u64,));

    let reject = update_rejected(&mut net, canister, "inc_then_trap_after_await", (canister,));

    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterCalledTrap,
    );
    assert!(
        reject.reject_message.contains("trap after await"),
        "{reject}"
    );
    assert_eq!(
        snapshot(&mut net, canister),
        StateSnapshot {
            counter: 1,
            stable_value: Some(11)
        }
    );
    assert_still_usable(&mut net, canister);
}

#[test]
fn trapping_reply_callback_runs_cleanup_which_releases_the_guard() {
    let mut net = LocalNet::new();
    let canister = install_conformance(&mut net);
    let callee = install_conformance(&mut net);

    let reject = update_rejected(&mut net, canister, "guarded_call", (callee, true));

    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterCalledTrap,
    );
    let guard: GuardState = query(&mut net, canister, "guard_state", ());
    assert_eq!(
        guard,
        GuardState {
            held: false,
            drops: 1,
            drops_during_cleanup: 1
        }
    );
    let callback = net
        .last_message(canister, "reply callback")
        .expect("the reply callback ran");
    assert!(
        callback.trapped,
        "the reply callback must be logged as trapped"
    );
    let cleanup = net
        .last_message(canister, "cleanup")
        .expect("the cleanup callback ran");
    assert!(!cleanup.trapped, "the cleanup callback itself must succeed");
}

#[test]
fn guard_is_released_normally_when_the_callback_does_not_trap() {
    let mut net = LocalNet::new();
    let canister = install_conformance(&mut net);
    let callee = install_conformance(&mut net);
    let _ = update_rejected(&mut net, canister, "guarded_call", (callee, true));

    update_unit(&mut net, canister, "guarded_call", (callee, false));

    let guard: GuardState = query(&mut net, canister, "guard_state", ());
    assert_eq!(
        guard,
        GuardState {
            held: false,
            drops: 2,
            drops_during_cleanup: 1
        }
    );
}

#[test]
fn query_writes_are_discarded_after_the_query() {
    let (mut net, canister) = net_with_conformance();
    update_unit(&mut net, canister, "set_stable_value", (5u64,));
    let _: u64 = update(&mut net, canister, "inc", ());

    let seen_by_query: StateSnapshot = query(&mut net, canister, "query_that_writes", ());
    let seen_again: StateSnapshot = query(&mut net, canister, "query_that_writes", ());

    let expected_inside = StateSnapshot {
        counter: 2,
        stable_value: Some(6),
    };
    assert_eq!(
        seen_by_query, expected_inside,
        "a query sees its own writes"
    );
    assert_eq!(
        seen_again, expected_inside,
        "a second query does not see the first one's writes"
    );
    assert_eq!(
        snapshot(&mut net, canister),
        StateSnapshot {
            counter: 1,
            stable_value: Some(5)
        }
    );
    assert_eq!(
        update::<_, u64>(&mut net, canister, "inc", ()),
        2,
        "an update does not see them either"
    );
}

/// A query method called through an update call executes in replicated mode, yet its state
/// changes are still discarded (the IC runs it as a "replicated query").
#[test]
fn query_method_called_as_update_runs_replicated_and_still_discards_writes() {
    let (mut net, canister) = net_with_conformance();

    let written: StateSnapshot = update(&mut net, canister, "query_that_writes", ());

    assert_eq!(
        written,
        StateSnapshot {
            counter: 1,
            stable_value: Some(1)
        }
    );
    assert_eq!(
        snapshot(&mut net, canister),
        StateSnapshot {
            counter: 0,
            stable_value: None
        }
    );
    assert!(!query::<_, bool>(
        &mut net,
        canister,
        "in_replicated_execution",
        ()
    ));
    assert!(update::<_, bool>(
        &mut net,
        canister,
        "in_replicated_execution",
        ()
    ));
}

#[test]
fn upgrade_keeps_stable_memory_clears_the_heap_and_runs_both_hooks() {
    let (mut net, canister) = net_with_conformance();
    update_unit(&mut net, canister, "set_stable_value", (42u64,));
    update_unit(&mut net, canister, "set_heap_note", ("before upgrade",));
    for _ in 0..3 {
        let _: u64 = update(&mut net, canister, "inc", ());
    }
    let pages_before: u64 = query(&mut net, canister, "stable_size", ());
    assert!(
        pages_before > 0,
        "the stable map must have grown stable memory"
    );

    net.upgrade_canister(canister, conformance_wasm(), encode((Some(7u64),)))
        .expect("upgrade");

    assert_eq!(
        snapshot(&mut net, canister),
        StateSnapshot {
            counter: 7,
            stable_value: Some(42)
        }
    );
    assert_eq!(query::<_, String>(&mut net, canister, "heap_note", ()), "");
    let record: UpgradeRecord = query(&mut net, canister, "upgrade_record", ());
    assert_eq!(
        record,
        UpgradeRecord {
            pre_upgrade_counter: Some(3),
            post_upgrade_runs: 1
        }
    );
    assert_eq!(
        query::<_, u64>(&mut net, canister, "stable_size", ()),
        pages_before
    );
}

#[test]
fn upgrade_deactivates_the_global_timer() {
    let (mut net, canister) = net_with_conformance();
    update_unit(
        &mut net,
        canister,
        "set_timer",
        (Duration::from_secs(10).as_nanos() as u64,),
    );
    net.upgrade_canister(canister, conformance_wasm(), encode(()))
        .expect("upgrade");
    let log_len_after_upgrade = net.message_log().len();

    net.advance_time(Duration::from_secs(60));
    net.tick();

    let timer_runs = net.message_log()[log_len_after_upgrade..]
        .iter()
        .filter(|m| m.canister == canister && m.kind == "timer")
        .count();
    assert_eq!(timer_runs, 0, "no timer may fire after the upgrade");
    assert_eq!(query::<_, u64>(&mut net, canister, "timers_fired", ()), 0);
    let previous: u64 = update(&mut net, canister, "swap_global_timer", (0u64,));
    assert_eq!(
        previous, 0,
        "the upgrade must have deactivated the global timer"
    );
}

#[test]
fn reinstall_clears_stable_memory_too() {
    let (mut net, canister) = net_with_conformance();
    update_unit(&mut net, canister, "set_stable_value", (9u64,));

    net.reinstall_canister(canister, conformance_wasm(), encode(()))
        .expect("reinstall");

    assert_eq!(query::<_, u64>(&mut net, canister, "stable_size", ()), 0);
    assert_eq!(
        snapshot(&mut net, canister),
        StateSnapshot {
            counter: 0,
            stable_value: None
        }
    );
    let record: UpgradeRecord = query(&mut net, canister, "upgrade_record", ());
    assert_eq!(
        record,
        UpgradeRecord {
            pre_upgrade_counter: None,
            post_upgrade_runs: 0
        }
    );
}

#[test]
fn upgrade_whose_post_upgrade_traps_leaves_code_heap_and_stable_memory_untouched() {
    let (mut net, canister) = net_with_conformance();
    update_unit(&mut net, canister, "set_heap_note", ("kept",));
    update_unit(&mut net, canister, "set_stable_value", (3u64,));
    let _: u64 = update(&mut net, canister, "inc", ());

    // Not Candid at all (a wrong Candid type would decode as `null` into the `opt nat64`).
    let not_candid = b"post_upgrade cannot decode this".to_vec();
    let reject = expect_reject(net.upgrade_canister(canister, conformance_wasm(), not_candid));

    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterCalledTrap,
    );
    assert_eq!(
        query::<_, String>(&mut net, canister, "heap_note", ()),
        "kept"
    );
    assert_eq!(
        snapshot(&mut net, canister),
        StateSnapshot {
            counter: 1,
            stable_value: Some(3)
        }
    );
    let record: UpgradeRecord = query(&mut net, canister, "upgrade_record", ());
    assert_eq!(
        record,
        UpgradeRecord {
            pre_upgrade_counter: None,
            post_upgrade_runs: 0
        },
        "pre_upgrade's write is rolled back"
    );
    assert_still_usable(&mut net, canister);
}

#[test]
fn install_whose_init_traps_leaves_the_canister_empty() {
    let mut net = LocalNet::new();
    let canister = net.create_canister(controller());

    let reject = expect_reject(net.install_code(
        controller(),
        canister,
        localnet::InstallMode::Install,
        conformance_wasm(),
        b"init cannot decode this".to_vec(),
    ));

    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterCalledTrap,
    );
    let call = expect_reject(net.update_call(canister, controller(), "inc", encode(())));
    assert_reject(
        &call,
        RejectCode::CanisterError,
        ErrorCode::CanisterWasmModuleNotFound,
    );
    net.install_canister(canister, conformance_wasm(), encode(()));
    assert_still_usable(&mut net, canister);
}

#[test]
fn stopping_waits_for_open_call_contexts_and_rejects_new_calls_meanwhile() {
    let (mut net, canister) = net_with_conformance();
    let open_call = net
        .submit_call(canister, controller(), "never_replies", encode(()))
        .expect("submitted");
    net.tick();
    let stop_arg = encode((ic_management_canister_types::CanisterIdRecord {
        canister_id: canister,
    },));
    let stop = net
        .submit_call(
            candid::Principal::management_canister(),
            controller(),
            "stop_canister",
            stop_arg,
        )
        .expect("submitted");
    net.tick();

    assert_eq!(
        net.ingress_status(stop),
        localnet::IngressStatus::Processing,
        "an open call context keeps it stopping"
    );
    let meanwhile = update_rejected(&mut net, canister, "inc", ());
    assert_reject(
        &meanwhile,
        RejectCode::CanisterError,
        ErrorCode::CanisterStopping,
    );

    let outcall = net.pending_http_outcalls().remove(0);
    let body = ic_management_canister_types::HttpRequestResult {
        status: 200u32.into(),
        headers: vec![],
        body: vec![7; 3],
    };
    net.answer_http_outcall(outcall.id, Ok(body))
        .expect("answered");
    net.tick();

    let open_reply = net
        .await_call(open_call)
        .expect("the open call still gets its reply");
    let reply: Result<u64, RejectInfo> =
        candid::decode_one(&open_reply).expect("never_replies' reply");
    assert_eq!(reply, Ok(3));
    net.await_call(stop)
        .expect("the canister stopped once its last call context closed");
    let stopped = update_rejected(&mut net, canister, "inc", ());
    assert_reject(
        &stopped,
        RejectCode::CanisterError,
        ErrorCode::CanisterStopped,
    );
}
