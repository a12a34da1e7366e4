//! Inter-canister calls: reply and reject codes, ordering, best-effort timeouts, cycles.

use candid::Principal;
use localnet::{ErrorCode, IngressStatus, LocalNet, RejectCode};
use serde_bytes::ByteBuf;
use std::time::Duration;
use tensormine_integration_tests::*;

const SYS_UNKNOWN: u32 = RejectCode::SysUnknown as u32;
const DESTINATION_INVALID: u32 = RejectCode::DestinationInvalid as u32;
const CANISTER_REJECT: u32 = RejectCode::CanisterReject as u32;
const CANISTER_ERROR: u32 = RejectCode::CanisterError as u32;

/// Execution and transmission fees are far below this; attached amounts are far above it.
const FEE_TOLERANCE: u128 = 1_000_000_000;

fn two_canisters() -> (LocalNet, Principal, Principal) {
    let mut net = LocalNet::new();
    let caller = install_conformance(&mut net);
    let callee = install_conformance(&mut net);
    (net, caller, callee)
}

fn call_other(
    net: &mut LocalNet,
    caller: Principal,
    callee: Principal,
    method: &str,
    arg: Vec<u8>,
) -> CallReply {
    update(
        net,
        caller,
        "call_other",
        (callee, method, ByteBuf::from(arg)),
    )
}

fn expect_call_reject(reply: CallReply) -> RejectInfo {
    reply.expect_err("the inter-canister call must be rejected")
}

#[test]
fn inter_canister_reply_carries_the_callee_reply_bytes() {
    let (mut net, caller, callee) = two_canisters();

    let reply = call_other(&mut net, caller, callee, "inc", encode(())).expect("inc replies");

    assert_eq!(candid::decode_one::<u64>(&reply).expect("a nat64 reply"), 1);
    assert_eq!(query::<_, u64>(&mut net, callee, "counter", ()), 1);
}

#[test]
fn callee_msg_reject_is_canister_reject_with_its_message() {
    let (mut net, caller, callee) = two_canisters();

    let inter_canister = expect_call_reject(call_other(
        &mut net,
        caller,
        callee,
        "reject",
        encode(("nope",)),
    ));
    let ingress = update_rejected(&mut net, callee, "reject", ("nope",));

    assert_eq!(
        inter_canister,
        RejectInfo {
            code: CANISTER_REJECT,
            message: "nope".into()
        }
    );
    assert_reject(
        &ingress,
        RejectCode::CanisterReject,
        ErrorCode::CanisterRejectedMessage,
    );
    assert_eq!(ingress.reject_message, "nope");
}

#[test]
fn callee_trap_and_missing_method_are_canister_error() {
    let (mut net, caller, callee) = two_canisters();

    let trapped = expect_call_reject(call_other(
        &mut net,
        caller,
        callee,
        "trap",
        encode(("boom",)),
    ));
    let missing = expect_call_reject(call_other(
        &mut net,
        caller,
        callee,
        "no_such_method",
        encode(()),
    ));

    assert_eq!(trapped.code, CANISTER_ERROR);
    assert!(trapped.message.contains("boom"), "{trapped:?}");
    assert_eq!(missing.code, CANISTER_ERROR);
    assert_still_usable(&mut net, caller);
}

#[test]
fn call_to_an_unknown_canister_is_destination_invalid() {
    let (mut net, caller, _) = two_canisters();
    let unknown =
        Principal::from_slice(&[0x00, 0x00, 0x00, 0x00, 0x0F, 0xFF, 0xFF, 0x01, 0x01, 0x01]);

    let reject = expect_call_reject(call_other(&mut net, caller, unknown, "noop", encode(())));

    assert_eq!(reject.code, DESTINATION_INVALID, "{reject:?}");
    assert_still_usable(&mut net, caller);
}

#[test]
fn requests_between_two_canisters_are_delivered_in_order() {
    let (mut net, caller, callee) = two_canisters();
    const COUNT: u64 = 50;

    update_unit(&mut net, caller, "send_sequence", (callee, COUNT));
    for _ in 0..10 {
        net.tick();
    }

    let recorded: Vec<u64> = query(&mut net, callee, "recorded", ());
    assert_eq!(recorded, (0..COUNT).collect::<Vec<_>>());
}

#[test]
fn bounded_wait_call_that_returns_in_time_gets_the_reply() {
    let (mut net, caller, callee) = two_canisters();

    let reply: CallReply = update(
        &mut net,
        caller,
        "call_other_bounded",
        (callee, "inc", ByteBuf::from(encode(())), 60u32),
    );

    assert_eq!(
        candid::decode_one::<u64>(&reply.expect("inc replies")).expect("a nat64"),
        1
    );
}

#[test]
fn best_effort_call_past_its_deadline_is_sys_unknown() {
    let (mut net, caller, callee) = two_canisters();
    let arg = encode((callee, "never_replies", ByteBuf::from(encode(())), 1u32));
    let id = net
        .submit_call(caller, controller(), "call_other_bounded", arg)
        .expect("submitted");
    net.tick();
    assert_eq!(
        net.ingress_status(id),
        IngressStatus::Processing,
        "the callee has not replied yet"
    );

    net.advance_time(Duration::from_secs(2));
    net.tick();

    let reply: CallReply =
        candid::decode_one(&net.await_call(id).expect("the caller replies")).expect("a CallReply");
    assert_eq!(expect_call_reject(reply).code, SYS_UNKNOWN);
    assert_still_usable(&mut net, caller);
}

#[test]
fn late_reply_to_an_expired_best_effort_call_is_dropped() {
    let (mut net, caller, callee) = two_canisters();
    let arg = encode((callee, "never_replies", ByteBuf::from(encode(())), 1u32));
    let id = net
        .submit_call(caller, controller(), "call_other_bounded", arg)
        .expect("submitted");
    net.tick();
    net.advance_time(Duration::from_secs(2));
    net.tick();
    let _ = net
        .await_call(id)
        .expect("the caller replied with SYS_UNKNOWN");
    let parked = net.pending_http_outcalls();
    assert_eq!(parked.len(), 1, "the callee is parked on its outcall");

    let log_len = net.message_log().len();
    let body = ic_management_canister_types::HttpRequestResult {
        status: 200u32.into(),
        headers: vec![],
        body: vec![1],
    };
    net.answer_http_outcall(parked[0].id, Ok(body))
        .expect("answered");
    net.tick();

    let callee_replied = net.message_log()[log_len..]
        .iter()
        .any(|m| m.canister == callee && !m.trapped);
    let caller_callbacks = net.message_log()[log_len..]
        .iter()
        .filter(|m| m.canister == caller && m.kind.ends_with("callback"))
        .count();
    assert!(callee_replied, "the callee ran its callback and replied");
    assert_eq!(
        caller_callbacks, 0,
        "the reply to an expired best-effort call must be dropped"
    );
    assert_still_usable(&mut net, caller);
    assert_still_usable(&mut net, callee);
}

#[test]
fn attached_cycles_split_into_accepted_and_refunded() {
    let (mut net, caller, callee) = two_canisters();
    let attached: u128 = 500_000_000_000;
    let to_accept: u128 = 200_000_000_000;
    let (caller_before, callee_before) = (net.cycle_balance(caller), net.cycle_balance(callee));

    let reply: CyclesCallReply = update(
        &mut net,
        caller,
        "call_with_cycles",
        (
            callee,
            "accept_cycles",
            ByteBuf::from(encode((to_accept,))),
            attached,
        ),
    );

    let accept: AcceptReply =
        candid::decode_one(&reply.result.expect("accept_cycles replies")).expect("AcceptReply");
    assert_eq!(
        accept,
        AcceptReply {
            available: attached,
            accepted: to_accept
        }
    );
    assert_eq!(reply.refunded, attached - to_accept);
    let callee_gain = net.cycle_balance(callee) - callee_before;
    let caller_loss = caller_before - net.cycle_balance(caller);
    assert!(
        callee_gain <= to_accept && callee_gain + FEE_TOLERANCE > to_accept,
        "callee gained {callee_gain}"
    );
    assert!(
        caller_loss >= to_accept && caller_loss < to_accept + FEE_TOLERANCE,
        "caller lost {caller_loss}"
    );
}

#[test]
fn cycles_attached_to_a_rejected_call_are_all_refunded() {
    let (mut net, caller, callee) = two_canisters();
    let attached: u128 = 300_000_000_000;
    let callee_before = net.cycle_balance(callee);

    let reply: CyclesCallReply = update(
        &mut net,
        caller,
        "call_with_cycles",
        (callee, "reject", ByteBuf::from(encode(("no",))), attached),
    );

    assert_eq!(reply.refunded, attached);
    assert_eq!(
        reply.result,
        Err(RejectInfo {
            code: CANISTER_REJECT,
            message: "no".into()
        })
    );
    assert!(
        net.cycle_balance(callee) <= callee_before,
        "the callee keeps nothing"
    );
}

#[test]
fn cycles_attached_to_a_trapping_callee_are_all_refunded() {
    let (mut net, caller, callee) = two_canisters();
    let attached: u128 = 300_000_000_000;

    let reply: CyclesCallReply = update(
        &mut net,
        caller,
        "call_with_cycles",
        (callee, "trap", ByteBuf::from(encode(("no",))), attached),
    );

    assert_eq!(reply.refunded, attached);
    assert_eq!(
        reply.result.expect_err("the callee trapped").code,
        CANISTER_ERROR
    );
}

/// An update costs the ingress induction fee, 5M cycles and one cycle per instruction
/// (13-node subnet); the canister pays.
#[test]
fn executing_an_update_burns_the_execution_fee() {
    let (mut net, canister) = net_with_conformance();
    let before = net.cycle_balance(canister);

    let _: u64 = update(&mut net, canister, "spin", (1_000_000u64,));

    let instructions = u128::from(
        net.last_message(canister, "update spin")
            .expect("logged")
            .instructions,
    );
    let burned = before - net.cycle_balance(canister);
    let execution_fee = 5_000_000 + instructions;
    assert!(
        burned >= execution_fee,
        "burned {burned}, execution alone costs {execution_fee}"
    );
    assert!(
        burned < 2 * execution_fee,
        "burned {burned}, far more than {execution_fee}"
    );
}

#[test]
fn cycle_balance_seen_by_the_canister_matches_the_net() {
    let (mut net, canister) = net_with_conformance();

    let seen: u128 = query(&mut net, canister, "cycle_balance", ());

    assert_eq!(seen, net.cycle_balance(canister));
}

#[test]
fn identity_endpoints_report_caller_self_and_time() {
    let (mut net, canister) = net_with_conformance();

    let caller: Principal = query(&mut net, canister, "caller", ());
    let own_id: Principal = query(&mut net, canister, "self_id", ());
    let time: u64 = query(&mut net, canister, "time", ());

    assert_eq!((caller, own_id, time), (controller(), canister, net.time()));
}
