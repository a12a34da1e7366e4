//! Capability challenges against real `tensormine-worker` servers on
//! loopback: an honest worker passes (at registration, by the challenge
//! timer); one that corrupts rows of C is caught and suspended; one that
//! commits after the deadline is suspended without being asked to open rows.

use candid::{Decode, Encode, Principal};
use localnet::{Config as NetConfig, LocalNet, OutcallMode};
use localnet_services::http_outcall::LiveClient;
use std::sync::Arc;
use std::time::Duration;
use tensormine_integration_tests::registry::*;
use tensormine_integration_tests::stranger;
use tensormine_integration_tests::worker::{real_executor, CorruptRows, LoopbackWorker};

const N: u32 = 96;
const ROUND_SECS: u64 = 60;
const DEADLINE_MS: u64 = 5_000;

fn challenge_config() -> ConfigUpdate {
    ConfigUpdate {
        local: Some(true),
        challenge_n: Some(N),
        challenge_rows: Some(8),
        challenge_deadline_ms: Some(DEADLINE_MS),
        challenge_round_secs: Some(ROUND_SECS),
        probe_interval_secs: Some(ROUND_SECS),
        ..Default::default()
    }
}

fn net(outcalls: OutcallMode) -> (LocalNet, Principal) {
    let mut net = LocalNet::with_config(NetConfig {
        outcalls,
        ..NetConfig::default()
    });
    let canister = install_registry(&mut net, challenge_config());
    (net, canister)
}

fn register_worker(net: &mut LocalNet, c: Principal, who: Principal, url: &str, key: Vec<u8>) {
    let mut p = profile(1);
    p.endpoint = url.to_string();
    p.worker_public_key = key;
    let (r,): (Result<Miner, RegisterError>,) =
        net.update_candid(c, who, "register_miner", (p,)).unwrap();
    r.unwrap();
}

fn get_miner(net: &mut LocalNet, c: Principal, who: Principal) -> Miner {
    let (m,): (Option<Miner>,) = net
        .query_candid(c, stranger(), "get_miner", (who,))
        .unwrap();
    m.expect("miner registered")
}

fn request_challenge(
    net: &mut LocalNet,
    c: Principal,
    who: Principal,
) -> Result<Capability, ChallengeError> {
    let (r,): (Result<Capability, ChallengeError>,) =
        net.update_candid(c, who, "request_challenge", ()).unwrap();
    r
}

#[test]
fn honest_worker_passes_the_challenge_the_timer_starts_after_registration() {
    let worker = LoopbackWorker::start(11, None);
    let (mut net, c) = net(OutcallMode::Live);
    register_worker(&mut net, c, miner(1), &worker.url, worker.public_key());
    assert_eq!(get_miner(&mut net, c, miner(1)).capability, None);

    net.advance_time(Duration::from_secs(ROUND_SECS));
    net.tick();

    let m = get_miner(&mut net, c, miner(1));
    let cap = m.capability.expect("challenge passed");
    assert_eq!(cap.n, N);
    assert!(
        cap.elapsed_ms >= 1_000,
        "elapsed is rounded up to the block time"
    );
    assert_eq!(
        cap.flops_lower_bound,
        2 * (N as u64).pow(3) * 1_000 / cap.elapsed_ms
    );
    assert_eq!(m.reputation.challenges_passed, 1);
    assert_eq!(m.reputation.challenges_failed, 0);
    assert_eq!(
        m.status,
        MinerStatus::Online,
        "the probe in the same round found it healthy"
    );
    assert_eq!(m.last_challenge_ns, Some(net.time()));
    let verification = net
        .message_log()
        .iter()
        .filter(|e| e.canister == c && e.kind.ends_with("callback"))
        .map(|e| e.instructions)
        .max()
        .unwrap();
    println!("largest challenge callback (n = {N}): {verification} instructions");
}

#[test]
fn worker_corrupting_rows_fails_the_challenge_and_is_suspended() {
    // 8 of 96 rows off by 0.5 in one element each. (A single wrong element is
    // missed when its r[col] happens to be tiny and its row is not sampled:
    // localnet's deterministic raw_rand drew |r[0]| = 0.007 for this test once.)
    let cheat = CorruptRows {
        inner: real_executor(),
        rows: vec![3, 17, 29, 41, 53, 60, 72, 88],
        delta: 0.5,
    };
    let worker = LoopbackWorker::start(12, Some(Arc::new(cheat)));
    let (mut net, c) = net(OutcallMode::Live);
    register_worker(&mut net, c, miner(2), &worker.url, worker.public_key());

    let err = request_challenge(&mut net, c, miner(2)).unwrap_err();
    let ChallengeError::Failed { reason } = err else {
        panic!("expected Failed, got {err:?}");
    };
    assert!(
        reason.to_lowercase().contains("freivalds") || reason.contains("row"),
        "{reason}"
    );
    println!("failure recorded: {reason}");
    let m = get_miner(&mut net, c, miner(2));
    assert_eq!(m.status, MinerStatus::Suspended);
    assert_eq!(m.suspension_reason.as_deref(), Some(reason.as_str()));
    assert_eq!(m.capability, None);
    assert_eq!(m.reputation.challenges_failed, 1);
    let (totals,): (Totals,) = net.query_candid(c, stranger(), "totals", ()).unwrap();
    assert_eq!(totals.suspended, 1);

    // A suspended miner is not listed as a candidate for work.
    let (page,): (ListPage,) = net
        .query_candid(
            c,
            stranger(),
            "list_miners",
            (ListRequest {
                filter: MinerFilter {
                    status: Some(MinerStatus::Online),
                    ..Default::default()
                },
                start_after: None,
                limit: 10,
            },),
        )
        .unwrap();
    assert!(page.miners.is_empty());
}

#[test]
fn worker_committing_after_the_deadline_is_suspended() {
    let worker = LoopbackWorker::start(13, None);
    let (mut net, c) = net(OutcallMode::Mock);
    register_worker(&mut net, c, miner(3), &worker.url, worker.public_key());

    let call = net
        .submit_call(c, miner(3), "request_challenge", Encode!().unwrap())
        .unwrap();
    net.tick();
    let pending = net.pending_http_outcalls();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].request.url.ends_with("/v1/challenges"));
    // The real worker computes a valid, signed commitment, but it arrives late.
    let live = LiveClient {
        timeout: Duration::from_secs(60),
        allow_plain_http: true,
    };
    let commitment = live.perform(&pending[0].request).expect("worker answers");
    net.advance_time(Duration::from_millis(DEADLINE_MS + 1_000));
    net.answer_http_outcall(pending[0].id, Ok(commitment))
        .unwrap();

    let reply = net.await_call(call).unwrap();
    let result = Decode!(&reply, Result<Capability, ChallengeError>).unwrap();
    let Err(ChallengeError::Failed { reason }) = result else {
        panic!("expected Failed, got {result:?}");
    };
    assert!(reason.contains("deadline"), "{reason}");
    assert!(
        net.pending_http_outcalls().is_empty(),
        "no rows are asked of a late worker"
    );
    assert_eq!(
        get_miner(&mut net, c, miner(3)).status,
        MinerStatus::Suspended
    );
}

#[test]
fn commitment_in_time_through_a_mocked_outcall_passes() {
    let worker = LoopbackWorker::start(14, None);
    let (mut net, c) = net(OutcallMode::Mock);
    register_worker(&mut net, c, miner(4), &worker.url, worker.public_key());
    let call = net
        .submit_call(c, miner(4), "request_challenge", Encode!().unwrap())
        .unwrap();
    let live = LiveClient {
        timeout: Duration::from_secs(60),
        allow_plain_http: true,
    };
    // Two outcalls: the commitment (2 s late of nothing: within the deadline), then the rows.
    for elapsed in [2_000, 500] {
        net.tick();
        let pending = net.pending_http_outcalls();
        assert_eq!(pending.len(), 1);
        let answer = live.perform(&pending[0].request).expect("worker answers");
        net.advance_time(Duration::from_millis(elapsed));
        net.answer_http_outcall(pending[0].id, Ok(answer)).unwrap();
    }
    let reply = net.await_call(call).unwrap();
    let cap = Decode!(&reply, Result<Capability, ChallengeError>)
        .unwrap()
        .unwrap();
    // The FLOP/s bound uses the measured commitment time (2 s), not the row opening.
    assert_eq!(cap.elapsed_ms, 2_000);
    assert_eq!(cap.flops_lower_bound, 2 * (N as u64).pow(3) / 2);
}
