//! Instruction limits, the performance counter, and payload size limits.

use localnet::{
    ErrorCode, RejectCode, MAX_INGRESS_BYTES, QUERY_INSTRUCTION_LIMIT, UPDATE_INSTRUCTION_LIMIT,
};
use serde_bytes::ByteBuf;
use tensormine_integration_tests::*;

const MIB: u64 = 1024 * 1024;

#[test]
fn endless_update_loop_is_stopped_by_the_instruction_limit() {
    let (mut net, canister) = net_with_conformance();

    let reject = update_rejected(&mut net, canister, "spin_forever", ());

    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterInstructionLimitExceeded,
    );
    let logged = net
        .last_message(canister, "update spin_forever")
        .expect("the update was logged");
    assert!(logged.trapped);
    assert!(
        logged.instructions >= UPDATE_INSTRUCTION_LIMIT,
        "stopped at {} instructions",
        logged.instructions
    );
    assert_still_usable(&mut net, canister);
}

#[test]
fn endless_query_loop_is_stopped_by_the_query_instruction_limit() {
    let (mut net, canister) = net_with_conformance();

    let reject =
        expect_reject(net.query_call(canister, controller(), "spin_forever_query", encode(())));

    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterInstructionLimitExceeded,
    );
    let logged = net
        .last_message(canister, "query spin_forever_query")
        .expect("the query was logged");
    assert!(
        logged.instructions >= QUERY_INSTRUCTION_LIMIT
            && logged.instructions < UPDATE_INSTRUCTION_LIMIT
    );
    assert_still_usable(&mut net, canister);
}

#[test]
fn performance_counter_grows_with_the_work_done() {
    let (mut net, canister) = net_with_conformance();

    let short: u64 = update(&mut net, canister, "spin", (1_000u64,));
    let long: u64 = update(&mut net, canister, "spin", (1_000_000u64,));
    let idle: u64 = query(&mut net, canister, "instruction_count", ());

    assert!(idle > 0 && idle < short, "idle {idle}, short {short}");
    assert!(
        long >= short + 999_000,
        "every loop iteration costs at least one instruction: {short} vs {long}"
    );
    let logged = net
        .last_message(canister, "update spin")
        .expect("spin was logged");
    assert!(
        logged.instructions >= long,
        "the log counts the whole message: {} < {long}",
        logged.instructions
    );
}

#[test]
fn update_reply_over_2_mib_is_a_contract_violation() {
    let (mut net, canister) = net_with_conformance();

    let reject = update_rejected(&mut net, canister, "reply_of_size", (2 * MIB,));

    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterContractViolation,
    );
    let small: ByteBuf = update(&mut net, canister, "reply_of_size", (MIB,));
    assert_eq!(small.len() as u64, MIB);
}

#[test]
fn non_replicated_query_may_reply_up_to_3_mib() {
    let (mut net, canister) = net_with_conformance();

    let reply: ByteBuf = query(&mut net, canister, "reply_of_size", (2 * MIB + MIB / 2,));
    let reject =
        expect_reject(net.query_call(canister, controller(), "reply_of_size", encode((3 * MIB,))));

    assert_eq!(reply.len() as u64, 2 * MIB + MIB / 2);
    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterContractViolation,
    );
}

/// The IC refuses an ingress message over 2 MiB at its HTTP endpoint (413), so there is no
/// IC reject code to compare with: it must be refused before any execution, with a reject
/// whose code and error code agree.
#[test]
fn ingress_over_2_mib_is_refused_before_execution() {
    let (mut net, canister) = net_with_conformance();
    let log_len = net.message_log().len();
    let oversized = encode((ByteBuf::from(vec![0u8; MAX_INGRESS_BYTES]),));

    let update_reject =
        expect_reject(net.update_call(canister, controller(), "set_certified", oversized.clone()));
    let query_reject =
        expect_reject(net.query_call(canister, controller(), "get_certificate", oversized));

    for reject in [&update_reject, &query_reject] {
        assert_eq!(
            RejectCode::from(reject.error_code),
            reject.reject_code,
            "{reject}"
        );
        assert!(reject.reject_message.contains("exceeds"), "{reject}");
    }
    assert_eq!(net.message_log().len(), log_len, "nothing may execute");
    assert_still_usable(&mut net, canister);
}
