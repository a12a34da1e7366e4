//! Timers fire once due (after advance_time + tick), never before, and only once.

use std::time::Duration;
use tensormine_integration_tests::*;

fn nanos(duration: Duration) -> u64 {
    duration.as_nanos() as u64
}

#[test]
fn one_shot_timer_fires_after_its_delay_and_not_before() {
    let (mut net, canister) = net_with_conformance();
    update_unit(
        &mut net,
        canister,
        "set_timer",
        (nanos(Duration::from_secs(10)),),
    );
    let fired = |net: &mut localnet::LocalNet| query::<_, u64>(net, canister, "timers_fired", ());

    net.tick();
    assert_eq!(fired(&mut net), 0, "not due yet");
    net.advance_time(Duration::from_secs(9));
    net.tick();
    assert_eq!(fired(&mut net), 0, "still not due after 9 s");
    net.advance_time(Duration::from_secs(2));
    assert_eq!(fired(&mut net), 0, "due, but timers only fire on a tick");
    net.tick();
    assert_eq!(fired(&mut net), 1, "fired after 11 s and a tick");
    net.advance_time(Duration::from_secs(100));
    net.tick();
    assert_eq!(fired(&mut net), 1, "a one-shot timer fires once");
}

#[test]
fn timers_fire_in_deadline_order_as_time_passes() {
    let (mut net, canister) = net_with_conformance();
    for seconds in [25, 5, 15] {
        update_unit(
            &mut net,
            canister,
            "set_timer",
            (nanos(Duration::from_secs(seconds)),),
        );
    }

    let mut fired_after = Vec::new();
    for _ in 0..4 {
        net.advance_time(Duration::from_secs(10));
        net.tick();
        fired_after.push(query::<_, u64>(&mut net, canister, "timers_fired", ()));
    }

    assert_eq!(fired_after, vec![1, 2, 3, 3]);
}

#[test]
fn global_timer_runs_canister_global_timer_once_and_then_deactivates() {
    let (mut net, canister) = net_with_conformance();
    let deadline = net.time() + nanos(Duration::from_secs(5));

    let previous: u64 = update(&mut net, canister, "swap_global_timer", (deadline,));
    assert_eq!(previous, 0, "no timer was set");
    let log_len = net.message_log().len();
    net.advance_time(Duration::from_secs(6));
    net.tick();
    net.advance_time(Duration::from_secs(6));
    net.tick();

    let runs = net.message_log()[log_len..]
        .iter()
        .filter(|m| m.canister == canister && m.kind == "timer")
        .count();
    assert_eq!(runs, 1, "the global timer fires once");
    let after: u64 = update(&mut net, canister, "swap_global_timer", (0u64,));
    assert_eq!(after, 0, "a fired global timer is deactivated");
}
