//! Registry canister on localnet: registration and its rejections, the
//! authorization matrix, malformed arguments, probes (mocked outcalls) and
//! an upgrade in the middle of a probe round.

use candid::Principal;
use std::time::Duration;
use tensormine_integration_tests::registry::*;
use tensormine_integration_tests::{controller, encode, stranger};

fn register(
    net: &mut localnet::LocalNet,
    c: Principal,
    who: Principal,
    p: MinerProfile,
) -> Result<Miner, RegisterError> {
    let (r,): (Result<Miner, RegisterError>,) =
        net.update_candid(c, who, "register_miner", (p,)).unwrap();
    r
}

#[test]
fn registration_happy_path_and_reads() {
    let (mut net, c) = net_with_registry(ConfigUpdate::default());
    let m = register(&mut net, c, miner(1), profile(1)).unwrap();
    assert_eq!(m.status, MinerStatus::Pending);
    assert_eq!(m.principal, miner(1));
    let (got,): (Option<Miner>,) = net
        .query_candid(c, stranger(), "get_miner", (miner(1),))
        .unwrap();
    assert_eq!(got.unwrap(), m);
    register(&mut net, c, miner(2), profile(2)).unwrap();
    let (page,): (ListPage,) = net
        .query_candid(
            c,
            stranger(),
            "list_miners",
            (ListRequest {
                filter: MinerFilter {
                    max_price_sats: Some(6),
                    workload: Some(WorkloadKind::Matmul),
                    ..Default::default()
                },
                start_after: None,
                limit: 10,
            },),
        )
        .unwrap();
    assert_eq!(
        page.miners.iter().map(|m| m.principal).collect::<Vec<_>>(),
        vec![miner(1)]
    );
    let (totals,): (Totals,) = net.query_candid(c, stranger(), "totals", ()).unwrap();
    assert_eq!((totals.miners, totals.pending, totals.gpus), (2, 2, 4));
    let (feed,): (ChangesPage,) = net
        .query_candid(c, stranger(), "changes_since", (0u64, 10u32))
        .unwrap();
    assert_eq!(feed.entries.len(), 2);
    let (r,): (Result<(), DeregisterError>,) = net
        .update_candid(c, miner(1), "deregister_miner", ())
        .unwrap();
    r.unwrap();
    let (feed2,): (ChangesPage,) = net
        .query_candid(c, stranger(), "changes_since", (feed.last_seq, 10u32))
        .unwrap();
    assert_eq!(feed2.entries.len(), 1);
    assert_eq!(feed2.entries[0].miner, None);
    println!(
        "register instructions: {}",
        net.last_message(c, "update register_miner")
            .unwrap()
            .instructions
    );
}

#[test]
fn every_rejection_is_typed_and_leaves_state_alone() {
    let (mut net, c) = net_with_registry(ConfigUpdate::default());
    let bad = |f: &dyn Fn(&mut MinerProfile)| {
        let mut p = profile(1);
        f(&mut p);
        p
    };
    let cases: Vec<(MinerProfile, &str)> = vec![
        (
            bad(&|p| p.endpoint = "http://w.example.com".into()),
            "InvalidEndpoint",
        ),
        (
            bad(&|p| p.endpoint = "https://w.example.com?x".into()),
            "InvalidEndpoint",
        ),
        (
            bad(&|p| p.endpoint = format!("https://{}.com", "a".repeat(300))),
            "InvalidEndpoint",
        ),
        (
            bad(&|p| p.worker_public_key = vec![1; 31]),
            "InvalidPublicKey",
        ),
        (
            bad(&|p| p.worker_public_key = vec![0; 32]),
            "InvalidPublicKey",
        ),
        (bad(&|p| p.gpus[0].count = 0), "InvalidGpus"),
        (
            bad(&|p| p.gpus = vec![p.gpus[0].clone(); 17]),
            "InvalidGpus",
        ),
        (bad(&|p| p.gpus[0].model = "x".repeat(65)), "InvalidGpus"),
        (bad(&|p| p.offers.clear()), "InvalidOffers"),
        (
            bad(&|p| p.offers[1].workload = WorkloadKind::Matmul),
            "InvalidOffers",
        ),
        (
            bad(&|p| p.offers[0].price_sats_per_unit = 0),
            "InvalidOffers",
        ),
        (
            bad(&|p| p.btc_address = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx".into()),
            "InvalidBtcAddress",
        ),
        (
            bad(&|p| p.btc_address = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb".into()),
            "InvalidBtcAddress",
        ),
        (bad(&|p| p.region = "r".repeat(33)), "InvalidRegion"),
        (bad(&|p| p.labels = vec!["Upper".into()]), "InvalidLabels"),
        (bad(&|p| p.labels = vec!["a".into(); 9]), "InvalidLabels"),
    ];
    for (p, expected) in cases {
        let err = register(&mut net, c, miner(1), p).unwrap_err();
        assert!(
            format!("{err:?}").contains(expected),
            "{err:?} should be {expected}"
        );
    }
    assert_eq!(
        register(&mut net, c, Principal::anonymous(), profile(1)),
        Err(RegisterError::AnonymousCaller)
    );
    register(&mut net, c, miner(1), profile(1)).unwrap();
    assert_eq!(
        register(&mut net, c, miner(1), profile(2)),
        Err(RegisterError::AlreadyRegistered)
    );
    assert_eq!(
        register(&mut net, c, miner(2), profile(1)),
        Err(RegisterError::WorkerInUse { by: miner(1) })
    );
    let (totals,): (Totals,) = net.query_candid(c, stranger(), "totals", ()).unwrap();
    assert_eq!(totals.miners, 1);
    // Full registry.
    let (r,): (Result<Config, ConfigError>,) = net
        .update_candid(
            c,
            controller(),
            "set_config",
            (ConfigUpdate {
                max_miners: Some(1),
                ..Default::default()
            },),
        )
        .unwrap();
    r.unwrap();
    assert_eq!(
        register(&mut net, c, miner(3), profile(3)),
        Err(RegisterError::RegistryFull { max_miners: 1 })
    );
}

#[test]
fn authorization_matrix() {
    let (mut net, c) = net_with_registry(ConfigUpdate::default());
    register(&mut net, c, miner(1), profile(1)).unwrap();
    for who in [Principal::anonymous(), miner(2), stranger(), router()] {
        let (u,): (Result<Miner, UpdateError>,) = net
            .update_candid(c, who, "update_miner", (profile(9),))
            .unwrap();
        let expected = if who == Principal::anonymous() {
            UpdateError::AnonymousCaller
        } else {
            UpdateError::NotRegistered
        };
        assert_eq!(u.unwrap_err(), expected);
        let (d,): (Result<(), DeregisterError>,) =
            net.update_candid(c, who, "deregister_miner", ()).unwrap();
        assert!(d.is_err());
        let (s,): (Result<Config, ConfigError>,) = net
            .update_candid(c, who, "set_config", (ConfigUpdate::default(),))
            .unwrap();
        assert_eq!(s.unwrap_err(), ConfigError::NotController);
        let (ch,): (Result<Capability, ChallengeError>,) =
            net.update_candid(c, who, "request_challenge", ()).unwrap();
        assert!(ch.is_err());
    }
    let outcome = JobOutcome {
        miner: miner(1),
        job_id: "j-1".into(),
        verified: true,
    };
    for who in [Principal::anonymous(), miner(1), stranger(), controller()] {
        let (r,): (Result<Reputation, ReportError>,) = net
            .update_candid(c, who, "report_job_outcome", (outcome.clone(),))
            .unwrap();
        assert_eq!(r.unwrap_err(), ReportError::NotRouter);
    }
    let (r,): (Result<Reputation, ReportError>,) = net
        .update_candid(c, router(), "report_job_outcome", (outcome.clone(),))
        .unwrap();
    assert_eq!(r.unwrap().jobs_verified, 1);
    let (r,): (Result<Reputation, ReportError>,) = net
        .update_candid(
            c,
            router(),
            "report_job_outcome",
            (JobOutcome {
                job_id: "bad/id".into(),
                ..outcome
            },),
        )
        .unwrap();
    assert!(matches!(r, Err(ReportError::InvalidJobId { .. })));
    // Read-only refuses every miner change, for everyone.
    let (s,): (Result<Config, ConfigError>,) = net
        .update_candid(
            c,
            controller(),
            "set_config",
            (ConfigUpdate {
                read_only: Some(true),
                ..Default::default()
            },),
        )
        .unwrap();
    assert!(s.unwrap().read_only);
    assert_eq!(
        register(&mut net, c, miner(5), profile(5)),
        Err(RegisterError::ReadOnly)
    );
    let (u,): (Result<Miner, UpdateError>,) = net
        .update_candid(c, miner(1), "update_miner", (profile(1),))
        .unwrap();
    assert_eq!(u.unwrap_err(), UpdateError::ReadOnly);
    // The owner may update its own record once writable again.
    let (s,): (Result<Config, ConfigError>,) = net
        .update_candid(
            c,
            controller(),
            "set_config",
            (ConfigUpdate {
                read_only: Some(false),
                ..Default::default()
            },),
        )
        .unwrap();
    s.unwrap();
    let (u,): (Result<Miner, UpdateError>,) = net
        .update_candid(c, miner(1), "update_miner", (profile(7),))
        .unwrap();
    assert_eq!(u.unwrap().profile.endpoint, "https://w7.example.com");
}

#[test]
fn malformed_and_oversized_arguments_are_refused() {
    let (mut net, c) = net_with_registry(ConfigUpdate::default());
    let err = net
        .update_call(c, miner(1), "register_miner", encode((42u64,)))
        .unwrap_err();
    assert!(
        format!("{err:?}").to_lowercase().contains("decod") || format!("{err:?}").contains("IDL"),
        "{err:?}"
    );
    let mut p = profile(1);
    p.labels = vec!["x".repeat(1_000_000)];
    let (r,): (Result<Miner, RegisterError>,) = net
        .update_candid(c, miner(1), "register_miner", (p,))
        .unwrap();
    assert!(matches!(
        r,
        Err(RegisterError::InvalidProfile(
            ProfileError::InvalidLabels { .. }
        ))
    ));
    let (totals,): (Totals,) = net.query_candid(c, stranger(), "totals", ()).unwrap();
    assert_eq!(totals.miners, 0);
}

fn status(net: &mut localnet::LocalNet, c: Principal, m: Principal) -> MinerStatus {
    let (got,): (Option<Miner>,) = net.query_candid(c, stranger(), "get_miner", (m,)).unwrap();
    got.unwrap().status
}

#[test]
fn probes_move_miners_online_offline_and_upgrade_keeps_everything() {
    let (mut net, c) = net_with_registry(ConfigUpdate {
        probe_interval_secs: Some(60),
        offline_after_failures: Some(2),
        challenge_round_secs: Some(86_400),
        ..Default::default()
    });
    for i in 1..=3 {
        register(&mut net, c, miner(i), profile(i)).unwrap();
    }
    let key = |i: u8| worker_key(i).verifying_key().to_bytes().to_vec();
    net.advance_time(Duration::from_secs(61));
    net.tick();
    // Worker 1 healthy (busy: the transform zeroes load), 2 refuses, 3 answers with another key.
    let n = answer_all(&mut net, |url| match url {
        u if u.starts_with("https://w1.") => Some(ok_response(health_body(&key(1), 5))),
        u if u.starts_with("https://w3.") => Some(ok_response(health_body(&key(9), 0))),
        _ => None,
    });
    assert_eq!(n, 3);
    assert_eq!(status(&mut net, c, miner(1)), MinerStatus::Online);
    assert_eq!(status(&mut net, c, miner(2)), MinerStatus::Pending);
    net.advance_time(Duration::from_secs(61));
    net.tick();
    // Upgrade while this round's probes are in flight.
    let before: (ListPage,) = net
        .query_candid(c, stranger(), "list_miners", (ListRequest::default(),))
        .unwrap();
    net.upgrade_canister(
        c,
        registry_wasm(),
        encode((Some(RegistryArg::Upgrade(None)),)),
    )
    .unwrap();
    let after: (ListPage,) = net
        .query_candid(c, stranger(), "list_miners", (ListRequest::default(),))
        .unwrap();
    assert_eq!(before, after);
    // Replies to calls made before the upgrade reach no live future (as on the IC): those
    // probes count for nothing, and no guard stays locked, so the next round probes again.
    answer_all(&mut net, |_| None);
    assert_eq!(status(&mut net, c, miner(2)), MinerStatus::Pending);
    net.advance_time(Duration::from_secs(61));
    net.tick();
    assert_eq!(answer_all(&mut net, |_| None), 3);
    assert_eq!(status(&mut net, c, miner(2)), MinerStatus::Offline);
    assert_eq!(status(&mut net, c, miner(3)), MinerStatus::Offline);
    // Timers were re-armed: the next round brings worker 2 back.
    net.advance_time(Duration::from_secs(61));
    net.tick();
    answer_all(&mut net, |url| {
        url.starts_with("https://w2.")
            .then(|| ok_response(health_body(&key(2), 0)))
    });
    assert_eq!(status(&mut net, c, miner(2)), MinerStatus::Online);
    let metrics = net
        .query_call(
            c,
            stranger(),
            "http_request",
            encode((tensormine_core::http::HttpRequest {
                method: "GET".into(),
                url: "/metrics".into(),
                headers: vec![],
                body: Default::default(),
            },)),
        )
        .unwrap();
    let (resp,): (tensormine_core::http::HttpResponse,) = candid::decode_args(&metrics).unwrap();
    let text = String::from_utf8(resp.body.into_vec()).unwrap();
    assert!(text.contains("registry_miners 3"), "{text}");
    // Worker 1 missed the last two rounds too.
    assert!(
        text.contains("registry_miners_online 1") && text.contains("registry_miners_offline 2"),
        "{text}"
    );
}
