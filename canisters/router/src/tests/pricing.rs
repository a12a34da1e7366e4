//! Validation (every `SpecError`), pricing and quotes.

use super::fake::*;
use crate::job::payments_reserved;
use crate::submit::{self, max_price_per_unit, min_max_price, protocol_fee, validate};
use proptest::prelude::*;
use tensormine_core::router::*;

fn mm(m: u32, k: u32, n: u32, a: OperandInput, b: OperandInput, tier: Tier) -> JobRequest {
    JobRequest {
        workload: WorkloadInput::Matmul { m, k, n, a, b },
        ..seeded_matmul(1, 1, 1, tier)
    }
}

fn seed() -> OperandInput {
    OperandInput::Seeded(vec![1; 32])
}

fn inline(values: &[f32]) -> OperandInput {
    OperandInput::Inline(tensormine_core::encoding::f32_to_le_bytes(values))
}

fn url(u: &str) -> OperandInput {
    OperandInput::Url {
        url: u.into(),
        sha256: vec![0; 32],
    }
}

fn err(r: &JobRequest) -> SpecError {
    validate(&test_config(), r).expect_err("invalid")
}

#[test]
fn valid_requests_pass() {
    let c = test_config();
    for tier in [
        Tier::None,
        Tier::Freivalds,
        Tier::Audit {
            rate_ppm: 1_000_000,
        },
        Tier::Redundant { k: 5 },
    ] {
        validate(&c, &seeded_matmul(4, 4, 4, tier)).unwrap();
    }
    validate(
        &c,
        &mm(
            1,
            2,
            1,
            inline(&[1.0, 2.0]),
            inline(&[3.0, 4.0]),
            Tier::Freivalds,
        ),
    )
    .unwrap();
    validate(&c, &embed(&["hello"], Tier::Redundant { k: 2 })).unwrap();
    validate(
        &c,
        &mm(
            2,
            2,
            2,
            url("https://x/a"),
            seed(),
            Tier::Audit { rate_ppm: 0 },
        ),
    )
    .unwrap();
}

#[test]
fn dimensions() {
    let max = test_config().max_matmul_dim;
    for (m, k, n) in [(0, 1, 1), (1, 0, 1), (1, 1, 0), (max + 1, 1, 1)] {
        assert!(matches!(
            err(&mm(m, k, n, seed(), seed(), Tier::None)),
            SpecError::InvalidDimensions { .. }
        ));
    }
}

#[test]
fn operands() {
    let op = |e: SpecError| match e {
        SpecError::InvalidOperand { operand, reason } => (operand, reason),
        other => panic!("{other:?}"),
    };
    let (o, r) = op(err(&mm(
        2,
        2,
        2,
        OperandInput::Seeded(vec![1; 31]),
        seed(),
        Tier::None,
    )));
    assert_eq!(o, "a seed");
    assert!(r.contains("32 bytes"), "{r}");
    let (o, _) = op(err(&mm(1, 2, 1, seed(), inline(&[1.0]), Tier::None)));
    assert_eq!(o, "b");
    let (_, r) = op(err(&mm(
        1,
        2,
        1,
        inline(&[1.0, f32::NAN]),
        seed(),
        Tier::None,
    )));
    assert!(r.contains("value 1 is not finite"), "{r}");
    let (_, r) = op(err(&mm(
        1,
        1,
        1,
        inline(&[f32::INFINITY]),
        seed(),
        Tier::None,
    )));
    assert!(r.contains("not finite"), "{r}");
    // Scheme: http only on a local network.
    op(err(&mm(1, 1, 1, url("http://x/a"), seed(), Tier::None)));
    op(err(&mm(1, 1, 1, url("https://x/a b"), seed(), Tier::None)));
    op(err(&mm(
        1,
        1,
        1,
        url(&format!("https://{}", "x".repeat(512))),
        seed(),
        Tier::None,
    )));
    let local = Config {
        local: true,
        ..test_config()
    };
    validate(&local, &mm(1, 1, 1, url("http://x/a"), seed(), Tier::None)).unwrap();
    let short_sha = OperandInput::Url {
        url: "https://x/a".into(),
        sha256: vec![0; 16],
    };
    op(err(&mm(1, 1, 1, short_sha, seed(), Tier::None)));
}

#[test]
fn inline_too_large() {
    let c = Config {
        max_inline_bytes: 32,
        ..test_config()
    };
    // 2·2 + 2·2 values = 32 bytes: fits; 2·3 + 3·2 = 48: does not.
    validate(
        &c,
        &mm(2, 2, 2, inline(&[1.0; 4]), inline(&[1.0; 4]), Tier::None),
    )
    .unwrap();
    let e = validate(
        &c,
        &mm(2, 3, 2, inline(&[1.0; 6]), inline(&[1.0; 6]), Tier::None),
    )
    .unwrap_err();
    assert_eq!(e, SpecError::InlineTooLarge { bytes: 48, max: 32 });
    let e = validate(
        &c,
        &embed(
            &["0123456789", "0123456789", "0123456789", "0123"],
            Tier::None,
        ),
    )
    .unwrap_err();
    assert_eq!(e, SpecError::InlineTooLarge { bytes: 34, max: 32 });
}

#[test]
fn model_and_sentences() {
    let mut r = embed(&["a"], Tier::None);
    r.workload = WorkloadInput::Embed {
        model: vec![0; 31],
        sentences: vec!["a".into()],
    };
    assert!(matches!(err(&r), SpecError::InvalidModel { .. }));
    assert!(matches!(
        err(&embed(&[], Tier::None)),
        SpecError::InvalidSentences { .. }
    ));
    assert!(matches!(
        err(&embed(&["a", "  "], Tier::None)),
        SpecError::InvalidSentences { .. }
    ));
    let long = "x".repeat(submit::MAX_SENTENCE_BYTES + 1);
    assert!(matches!(
        err(&embed(&[&long], Tier::None)),
        SpecError::InvalidSentences { .. }
    ));
    let many = vec!["s"; test_config().max_sentences as usize + 1];
    assert!(matches!(
        err(&embed(&many, Tier::None)),
        SpecError::InvalidSentences { .. }
    ));
}

#[test]
fn tiers() {
    let tier_err = |r: &JobRequest| matches!(err(r), SpecError::InvalidTier { .. });
    assert!(tier_err(&seeded_matmul(
        2,
        2,
        2,
        Tier::Audit {
            rate_ppm: 1_000_001
        }
    )));
    assert!(tier_err(&seeded_matmul(2, 2, 2, Tier::Redundant { k: 1 })));
    assert!(tier_err(&seeded_matmul(2, 2, 2, Tier::Redundant { k: 6 })));
    assert!(tier_err(&embed(&["a"], Tier::Freivalds)));
    assert!(tier_err(&mm(
        2,
        2,
        2,
        url("https://x/a"),
        seed(),
        Tier::Freivalds
    )));
    // Too many elements for an on-chain Freivalds check.
    let c = test_config();
    // m·k + k·n with m = 4096, n = 1: k = 1023 fits 4 Mi elements, 1024 does not.
    assert_eq!(c.max_freivalds_elements, 4 * 1024 * 1024);
    validate(&c, &seeded_matmul(4096, 1023, 1, Tier::Freivalds)).unwrap();
    assert!(tier_err(&seeded_matmul(4096, 1024, 1, Tier::Freivalds)));
    // Challenges are asked in batches of rows, so any size the default
    // max_matmul_dim allows fits (one row of 65536 f32 and y of 65536 f64)…
    validate(
        &c,
        &mm(
            65_536,
            1,
            65_536,
            url("https://x/a"),
            seed(),
            Tier::Audit { rate_ppm: 1 },
        ),
    )
    .unwrap();
    // …but with a raised dimension cap one opened row exceeds the outcall
    // limit (URL matmul, audited).
    let wide = Config {
        max_matmul_dim: 1_000_000,
        ..test_config()
    };
    let wide_matmul = |tier| mm(1_000, 1, 1_000_000, url("https://x/a"), seed(), tier);
    assert!(matches!(
        validate(&wide, &wide_matmul(Tier::Audit { rate_ppm: 1 })),
        Err(SpecError::InvalidTier { .. })
    ));
    // ...and Tier::None never challenges.
    validate(&wide, &wide_matmul(Tier::None)).unwrap();
}

#[test]
fn deadline_and_idempotency_key() {
    let c = test_config();
    for secs in [c.min_deadline_secs - 1, c.max_deadline_secs + 1] {
        let r = JobRequest {
            deadline_secs: secs,
            ..seeded_matmul(2, 2, 2, Tier::None)
        };
        assert_eq!(
            err(&r),
            SpecError::InvalidDeadline {
                min_secs: c.min_deadline_secs,
                max_secs: c.max_deadline_secs
            }
        );
    }
    for key in ["x".repeat(65), "a b".to_string(), String::new()] {
        let r = JobRequest {
            idempotency_key: Some(key.clone()),
            ..seeded_matmul(2, 2, 2, Tier::None)
        };
        assert!(
            matches!(err(&r), SpecError::InvalidIdempotencyKey { .. }),
            "{key:?}"
        );
    }
}

#[test]
fn submit_errors_before_the_hold() {
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    let r = seeded_matmul(2, 2, 2, Tier::None);
    assert_eq!(
        submit(&rt, candid::Principal::anonymous(), r.clone()),
        Err(SubmitError::AnonymousCaller)
    );
    let cheap = JobRequest {
        max_price_sats: 10,
        ..r.clone()
    };
    let c = test_config();
    assert_eq!(
        submit(&rt, user(1), cheap.clone()),
        Err(SubmitError::PriceTooLow {
            min_sats: min_max_price(&c, &cheap, 1)
        })
    );
    let bad = JobRequest {
        deadline_secs: 1,
        ..r.clone()
    };
    assert!(matches!(
        submit(&rt, user(1), bad),
        Err(SubmitError::InvalidSpec(SpecError::InvalidDeadline { .. }))
    ));
    crate::state::mutate_state(|s| {
        s.set_config(Config {
            read_only: true,
            ..test_config()
        })
    });
    assert_eq!(submit(&rt, user(1), r), Err(SubmitError::ReadOnly));
    // Nothing was held or created.
    assert!(rt.escrow.borrow().holds.is_empty());
    assert_eq!(crate::state::read_state(|s| s.counters().next_job), 0);
}

#[test]
fn rate_limits_pending_limit_and_idempotency() {
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    crate::state::mutate_state(|s| {
        s.set_config(Config {
            max_submits_per_minute: 2,
            max_pending_per_principal: 3,
            ..test_config()
        })
    });
    let r = seeded_matmul(2, 2, 2, Tier::None);
    submit(&rt, user(1), r.clone()).unwrap();
    submit(&rt, user(1), r.clone()).unwrap();
    assert!(
        matches!(submit(&rt, user(1), r.clone()), Err(SubmitError::RateLimited { retry_after_ns }) if retry_after_ns <= 60 * SECOND)
    );
    // Another principal has its own window.
    submit(&rt, user(2), r.clone()).unwrap();
    rt.advance(60 * SECOND);
    submit(&rt, user(1), r.clone()).unwrap();
    assert_eq!(
        submit(&rt, user(1), r.clone()),
        Err(SubmitError::TooManyPendingJobs { max: 3 })
    );
    // Idempotency: same key and request → same job; other request → conflict.
    let keyed = JobRequest {
        idempotency_key: Some("k1".into()),
        ..r.clone()
    };
    let first = submit(&rt, user(2), keyed.clone()).unwrap();
    let again = submit(&rt, user(2), keyed.clone()).unwrap();
    assert_eq!(first.id, again.id);
    let other = JobRequest {
        max_price_sats: 20_000,
        ..keyed
    };
    assert_eq!(
        submit(&rt, user(2), other),
        Err(SubmitError::IdempotencyConflict { job_id: first.id })
    );
}

#[test]
fn hold_refused_rejects_the_job() {
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    let r = JobRequest {
        max_price_sats: DEPOSIT + 1,
        ..seeded_matmul(2, 2, 2, Tier::None)
    };
    let e = submit(&rt, user(1), r).unwrap_err();
    assert!(
        matches!(&e, SubmitError::HoldRefused { reason } if reason.contains("InsufficientFunds")),
        "{e:?}"
    );
    let j = job("job-1");
    assert_eq!(j.status, JobStatus::Rejected);
    assert!(crate::state::read_state(|s| s.active.is_empty()));
    assert_eq!(rt.escrow.borrow().account(user(1)).available, DEPOSIT);
}

#[test]
fn a_lost_hold_answer_is_retried_by_the_engine() {
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    rt.sync();
    rt.escrow_lose_every.set(Some(1));
    let e = submit(&rt, user(1), seeded_matmul(2, 2, 2, Tier::None)).unwrap_err();
    assert_eq!(
        e,
        SubmitError::HoldPending {
            job_id: "job-1".into()
        }
    );
    assert_eq!(job("job-1").status, JobStatus::Holding);
    rt.escrow_lose_every.set(None);
    run_to_final(&rt, 50);
    assert_eq!(job("job-1").status, JobStatus::Settled);
    // Held once (the retry found the same hold), settled once.
    assert_eq!(rt.escrow.borrow().holds.len(), 1);
    assert_eq!(rt.escrow.borrow().settlements_applied["job-1"], 1);
}

#[test]
fn quote_reports_best_price_and_eligible_miners() {
    let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Honest]);
    rt.sync();
    let r = seeded_matmul(2, 2, 2, Tier::Redundant { k: 2 });
    let q = submit::quote(&r).unwrap();
    let c = test_config();
    assert_eq!(q.units, 1);
    assert_eq!(q.payments_reserved, 3);
    assert_eq!(q.eligible_miners, 2);
    assert_eq!(q.best_price_per_unit, Some(MINER_PRICE));
    assert_eq!(
        q.min_max_price_sats,
        Some(min_max_price(&c, &r, MINER_PRICE))
    );
    assert_eq!(
        q.fee_sats,
        c.fee_base_sats + submit::cycles_reserve_sats(&c, r.tier)
    );
    // The quoted minimum is enough for the best miner, one sat less is not.
    let at = |p: u64| {
        max_price_per_unit(
            &c,
            &JobRequest {
                max_price_sats: p,
                ..r.clone()
            },
        )
    };
    assert!(at(q.min_max_price_sats.unwrap()).unwrap() >= MINER_PRICE);
    assert!(at(q.min_max_price_sats.unwrap() - 1).is_none_or(|p| p < MINER_PRICE));
    assert!(matches!(
        submit::quote(&embed(&[], Tier::None)),
        Err(QuoteError::InvalidSpec(_))
    ));
}

fn tier_strategy() -> impl Strategy<Value = Tier> {
    prop_oneof![
        Just(Tier::None),
        Just(Tier::Freivalds),
        (0u32..=1_000_000).prop_map(|rate_ppm| Tier::Audit { rate_ppm }),
        (2u8..=5).prop_map(|k| Tier::Redundant { k }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the price per unit allows, the reserved payments plus the
    /// fee and the cycles reserve fit the hold, and one more sat per unit
    /// does not; `min_max_price` is the least hold that allows a price.
    #[test]
    fn pricing_bounds(
        max_price in 0u64..50_000_000,
        fee_base in 0u64..1_000,
        fee_ppm in 0u32..=1_000_000,
        sats_per_tcycles in 0u64..10_000,
        (m, k, n) in (1u32..5_000, 1u32..5_000, 1u32..5_000),
        tier in tier_strategy(),
        ask in 1u64..10_000,
    ) {
        let c = Config { fee_base_sats: fee_base, fee_ppm, sats_per_tcycles, ..test_config() };
        let r = JobRequest { max_price_sats: max_price, ..seeded_matmul(m, k, n, tier) };
        let units = units(&r.workload);
        let reserved = payments_reserved(tier) as u64;
        let cost = |per_unit: u64| {
            let miners = per_unit * units * reserved;
            miners + protocol_fee(&c, miners) + submit::cycles_reserve_sats(&c, tier)
        };
        if let Some(p) = max_price_per_unit(&c, &r) {
            prop_assert!(p >= 1);
            prop_assert!(cost(p) <= max_price, "price {p} costs {} > {max_price}", cost(p));
        }
        // `min_max_price` is exactly the least hold that allows `ask`.
        let least = min_max_price(&c, &r, ask);
        let allows = |hold: u64| max_price_per_unit(&c, &JobRequest { max_price_sats: hold, ..r.clone() }).is_some_and(|p| p >= ask);
        prop_assert_eq!(allows(max_price), max_price >= least);
        prop_assert!(allows(least));
        prop_assert!(!allows(least - 1));
    }

    /// The settlement fee never makes payees + fee exceed the hold.
    #[test]
    fn settlement_fee_fits_the_hold(
        hold in 1u64..1_000_000,
        payees in proptest::collection::vec(0u64..400_000, 0..4),
        cycles in 0u128..1_000_000_000_000_000,
        fee_ppm in 0u32..=1_000_000,
    ) {
        let c = Config { fee_ppm, ..test_config() };
        let mut j = stub_job(hold);
        j.outcall_cycles = cycles;
        let miners: u64 = payees.iter().sum();
        prop_assume!(miners <= hold);
        let fee = crate::settle::fee(&c, &j, miners);
        prop_assert!(miners + fee <= hold);
        let wanted = protocol_fee(&c, miners) + submit::cycles_to_sats(&c, cycles);
        prop_assert_eq!(fee, wanted.min(hold - miners));
    }
}

/// A job with only what `settle::fee` reads.
fn stub_job(hold: u64) -> crate::job::Job {
    let r = JobRequest {
        max_price_sats: hold.max(1),
        ..seeded_matmul(2, 2, 2, Tier::None)
    };
    let mut j = crate::job::Job {
        id: "job-x".into(),
        submitter: user(1),
        units: 1,
        spec_hash: tensormine_core::Digest32([0; 32]),
        spec: validate(&test_config(), &r).unwrap(),
        status: JobStatus::Settling,
        submitted_at_ns: 0,
        deadline_ns: 0,
        updated_at_ns: 0,
        next_action_ns: 0,
        assignments: vec![],
        failovers: 0,
        randomness: None,
        randomness_assignments: 0,
        audited: None,
        tiebreak: false,
        fetch_tries: 0,
        accepted: None,
        stored_result_bytes: 0,
        paid_sats: 0,
        fee_sats: 0,
        refunded_sats: 0,
        reason: None,
        receipt_index: None,
        outcall_cycles: 0,
        outcalls: 0,
        passed_over: vec![],
        dispute_until_ns: None,
        request: r,
    };
    j.request.max_price_sats = hold;
    j
}
