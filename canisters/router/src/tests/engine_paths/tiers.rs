//! Each tier's honest path, cheaters, audits and divergent replicas.

use super::*;

#[test]
fn tier_none_honest_path() {
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(8, 6, 5, Tier::None)).unwrap();
    assert_eq!(v.status, JobStatus::Matching);
    assert_eq!(rt.escrow.borrow().account(user(1)).held, 10_000);
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    assert_eq!(states(&v.id), vec![AssignmentState::Accepted]);
    assert_eq!(j.paid_sats, MINER_PRICE);
    assert_eq!(challenges(&rt, 0), 0, "tier None never challenges");
    // The stored result is the real product.
    let (c, _) = compute(&j.spec, &rt.web.borrow());
    let stored = read_state(|s| s.results.get(&v.id)).unwrap();
    assert_eq!(stored, tensormine_core::encoding::f32_to_le_bytes(&c));
    assert_eq!(j.stored_result_bytes, 8 * 5 * 4);
    let e = rt.escrow.borrow();
    assert_eq!(e.account(miner_id(0)).available, MINER_PRICE);
    assert_eq!(
        e.account(user(1)).available,
        DEPOSIT - MINER_PRICE - j.fee_sats
    );
    assert_eq!(e.account(user(1)).held, 0);
    // Fee: protocol fee plus the outcalls at cost.
    let c = test_config();
    let expected_fee = crate::submit::protocol_fee(&c, MINER_PRICE)
        + crate::submit::cycles_to_sats(&c, j.outcall_cycles);
    assert_eq!(j.fee_sats, expected_fee);
    assert_eq!(e.treasury, expected_fee);
    drop(e);
    // Accepted on the signature alone: no evidence, so no reputation.
    assert!(reported(&rt, 0).is_empty());
    assert!(matches!(
        receipt_of(&v.id).outcome,
        ReceiptOutcome::Unverified
    ));
    assert_eq!(
        *rt.certified.borrow(),
        read_state(receipts::root).0.to_vec()
    );
    check_escrow(&rt);
}

#[test]
fn freivalds_honest_path() {
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(9, 7, 5, Tier::Freivalds)).unwrap();
    run_to_final(&rt, 50);
    assert_eq!(job(&v.id).status, JobStatus::Settled);
    assert_eq!(challenges(&rt, 0), 1);
    assert!(matches!(
        receipt_of(&v.id).outcome,
        ReceiptOutcome::Verified
    ));
    check_escrow(&rt);
}

/// The challenges sent to worker `i`: what a miner learns from being asked.
fn challenges_to(rt: &FakeRuntime, i: usize) -> Vec<tensormine_core::api::ChallengeRequest> {
    let prefix = format!("https://w{i}.test/");
    rt.outcalls
        .borrow()
        .iter()
        .filter(|o| o.url.starts_with(&prefix) && o.url.ends_with("/challenge"))
        .map(|o| serde_json::from_slice(o.body.as_deref().expect("a POST")).unwrap())
        .collect()
}

#[test]
fn a_replacement_is_not_asked_what_the_rejected_miner_was_asked() {
    let rt = FakeRuntime::new(&[Behaviour::Cheat]);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(64, 7, 5, Tier::Freivalds)).unwrap();
    tick(&rt);
    rt.add_worker(Behaviour::Honest, 100);
    rt.sync();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    let (cheater, replacement) = (challenges_to(&rt, 0), challenges_to(&rt, 1));
    assert!(!cheater.is_empty() && !replacement.is_empty());
    // Fresh raw_rand after the replacement committed: another r and other rows.
    assert_ne!(cheater[0].r_seed, replacement[0].r_seed);
    assert_ne!(cheater[0].rows, replacement[0].rows);
    // The public reason names no sampled row.
    let AssignmentState::Rejected { reason } = &j.assignments[0].state else {
        panic!("the cheater is rejected")
    };
    assert!(!reason.chars().any(|c| c.is_ascii_digit()), "{reason}");
}

#[test]
fn honest_root_with_other_delivered_bytes_is_rejected_and_slashed() {
    // Passes the spot checks on its honest root, but the bytes it signed the
    // sha256 of, and delivers, are others: caught when the router fetches
    // the result, from the worker's own signature.
    let rt = FakeRuntime::new(&[Behaviour::OtherBytes]);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(9, 7, 5, Tier::Freivalds)).unwrap();
    tick(&rt);
    rt.add_worker(Behaviour::Honest, 100);
    rt.sync();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    assert_eq!(
        j.assignments[0].state,
        AssignmentState::Rejected {
            reason: crate::verify::NOT_THE_COMMITTED_RESULT.into()
        }
    );
    assert!(j.assignments[0].slashed_sats > 0);
    assert_eq!(settle::payees(&j), vec![(miner_id(1), MINER_PRICE)]);
    // What is stored for the submitter is the honest product.
    let (c, _) = compute(&j.spec, &rt.web.borrow());
    let stored = read_state(|s| s.results.get(&v.id)).unwrap();
    assert_eq!(stored, tensormine_core::encoding::f32_to_le_bytes(&c));
    check_escrow(&rt);
}

#[test]
fn freivalds_cheater_is_rejected_slashed_and_replaced() {
    let rt = FakeRuntime::new(&[Behaviour::Cheat]);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(9, 7, 5, Tier::Freivalds)).unwrap();
    tick(&rt);
    assert_eq!(job(&v.id).assignments[0].miner, miner_id(0));
    rt.add_worker(Behaviour::Honest, 100);
    rt.sync();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    assert!(
        matches!(&j.assignments[0].state, AssignmentState::Rejected { reason } if reason.contains("Freivalds"))
    );
    assert_eq!(j.assignments[1].state, AssignmentState::Accepted);
    assert_eq!(j.assignments[1].miner, miner_id(1));
    assert_eq!(j.failovers, 1);
    assert_eq!(settle::payees(&j), vec![(miner_id(1), MINER_PRICE)]);
    // Slashed max(10 × price, 1000) in favour of the submitter.
    let slash = 1_000;
    assert_eq!(j.assignments[0].slashed_sats, slash);
    let e = rt.escrow.borrow();
    assert_eq!(e.account(miner_id(0)).bonded, BOND - slash);
    assert_eq!(e.account(miner_id(0)).available, 0);
    assert_eq!(
        e.account(user(1)).available,
        DEPOSIT + slash - MINER_PRICE - j.fee_sats
    );
    drop(e);
    assert_eq!(reported(&rt, 0), vec![false]);
    assert_eq!(reported(&rt, 1), vec![true]);
    // The failed non-replicated challenge was heard again from every
    // replica before the verdict; the honest miner's passed at once.
    let modes = |i: usize| -> Vec<bool> {
        let prefix = format!("https://w{i}.test/");
        rt.outcalls
            .borrow()
            .iter()
            .filter(|o| o.url.starts_with(&prefix) && o.url.ends_with("/challenge"))
            .map(|o| o.replicated)
            .collect()
    };
    assert_eq!(modes(0), vec![false, true]);
    assert_eq!(modes(1), vec![false]);
    let r = receipt_of(&v.id);
    assert_eq!(r.miners[0].slashed_sats, slash);
    assert_eq!(r.miners[0].paid_sats, 0);
    check_escrow(&rt);
}

#[test]
fn audit_of_a_new_miner_on_embeddings_brings_an_auditor() {
    let rt = FakeRuntime::new(&[]);
    rt.add_worker(Behaviour::Honest, 0);
    rt.add_worker(Behaviour::Honest, 0);
    rt.sync();
    let v = submit(
        &rt,
        user(1),
        embed(&["one", "two", "three"], Tier::Audit { rate_ppm: 0 }),
    )
    .unwrap();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    assert_eq!(j.audited, Some(true));
    let roles: Vec<_> = j.assignments.iter().map(|a| a.role.clone()).collect();
    assert_eq!(
        roles,
        vec![AssignmentRole::Primary, AssignmentRole::Auditor]
    );
    assert_eq!(states(&v.id), vec![AssignmentState::Accepted; 2]);
    assert_eq!(j.paid_sats, 2 * MINER_PRICE);
    assert_eq!(j.stored_result_bytes, 3 * EMBED_DIM as u64 * 4);
    assert!(matches!(
        receipt_of(&v.id).outcome,
        ReceiptOutcome::Verified
    ));
    check_escrow(&rt);
}

#[test]
fn audit_of_a_new_miner_on_seeded_matmul_uses_freivalds() {
    let rt = FakeRuntime::new(&[]);
    rt.add_worker(Behaviour::Honest, 0);
    rt.sync();
    let v = submit(
        &rt,
        user(1),
        seeded_matmul(6, 4, 3, Tier::Audit { rate_ppm: 0 }),
    )
    .unwrap();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(
        (j.status, j.audited, j.assignments.len()),
        (JobStatus::Settled, Some(true), 1)
    );
    assert_eq!(challenges(&rt, 0), 1);
    check_escrow(&rt);
}

#[test]
fn audit_not_drawn_for_an_established_miner() {
    let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Honest]);
    rt.sync();
    let v = submit(&rt, user(1), embed(&["a"], Tier::Audit { rate_ppm: 0 })).unwrap();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(
        (j.status, j.audited, j.assignments.len()),
        (JobStatus::Settled, Some(false), 1)
    );
    assert!(matches!(
        receipt_of(&v.id).outcome,
        ReceiptOutcome::Unverified
    ));
    check_escrow(&rt);
}

#[test]
fn unchecked_acceptances_are_not_reputation() {
    // A miner feeding itself cheap unchecked jobs (tier none, or audit not
    // drawn) gains no verified outcome, so it stays "new" and unrated.
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    rt.sync();
    for r in [
        seeded_matmul(4, 4, 4, Tier::None),
        embed(&["a"], Tier::None),
    ] {
        let v = submit(&rt, user(1), r).unwrap();
        run_to_final(&rt, 50);
        assert_eq!(job(&v.id).status, JobStatus::Settled);
        assert!(!job(&v.id).checked());
    }
    assert!(reported(&rt, 0).is_empty());
    let v = submit(&rt, user(1), seeded_matmul(4, 4, 4, Tier::Freivalds)).unwrap();
    run_to_final(&rt, 50);
    assert!(job(&v.id).checked());
    assert_eq!(reported(&rt, 0), vec![true]);
}

#[test]
fn a_submitter_is_never_its_own_miner() {
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    rt.sync();
    // Miner 0 submits: the only miner is itself, so nobody is matched…
    rt.escrow.borrow_mut().deposit(miner_id(0), DEPOSIT);
    let v = submit(&rt, miner_id(0), seeded_matmul(4, 4, 4, Tier::Freivalds)).unwrap();
    tick(&rt);
    assert!(job(&v.id).assignments.is_empty());
    // …until another miner comes.
    rt.add_worker(Behaviour::Honest, 100);
    rt.sync();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled);
    assert!(j.assignments.iter().all(|a| a.miner != miner_id(0)));
}

#[test]
fn redundant_honest_replicas_on_embeddings_and_url_matmul() {
    for url in [false, true] {
        let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Honest]);
        rt.sync();
        let r = if url {
            url_matmul(&rt, 5, 4, 3, Tier::Redundant { k: 2 })
        } else {
            embed(&["x", "y"], Tier::Redundant { k: 2 })
        };
        let v = submit(&rt, user(1), r).unwrap();
        run_to_final(&rt, 50);
        let j = job(&v.id);
        assert_eq!(j.status, JobStatus::Settled, "url: {url}");
        assert_eq!(states(&v.id), vec![AssignmentState::Accepted; 2]);
        let mut miners: Vec<_> = j.assignments.iter().map(|a| a.miner).collect();
        miners.sort();
        assert_eq!(miners, vec![miner_id(0), miner_id(1)]);
        assert_eq!(j.paid_sats, 2 * MINER_PRICE);
        // URL matmuls are compared by their answers to one shared challenge.
        assert_eq!(
            challenges(&rt, 0) + challenges(&rt, 1),
            if url { 2 } else { 0 }
        );
        check_escrow(&rt);
    }
}

#[test]
fn divergent_replicas_are_settled_by_a_tiebreaker() {
    for url in [false, true] {
        let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Cheat]);
        rt.sync();
        let r = if url {
            url_matmul(&rt, 5, 4, 3, Tier::Redundant { k: 2 })
        } else {
            embed(&["x", "y"], Tier::Redundant { k: 2 })
        };
        let v = submit(&rt, user(1), r).unwrap();
        tick(&rt);
        assert_eq!(job(&v.id).assignments.len(), 2);
        rt.add_worker(Behaviour::Honest, 100);
        rt.sync();
        run_to_final(&rt, 50);
        let j = job(&v.id);
        assert_eq!(j.status, JobStatus::Settled, "url: {url}");
        assert!(j.tiebreak);
        let by_miner = |i: usize| {
            j.assignments
                .iter()
                .find(|a| a.miner == miner_id(i))
                .unwrap()
                .clone()
        };
        assert_eq!(by_miner(2).role, AssignmentRole::TieBreaker);
        assert_eq!(by_miner(0).state, AssignmentState::Accepted);
        assert_eq!(by_miner(2).state, AssignmentState::Accepted);
        assert!(matches!(
            by_miner(1).state,
            AssignmentState::Rejected { .. }
        ));
        assert_eq!(by_miner(1).slashed_sats, 1_000);
        let mut paid: Vec<_> = settle::payees(&j).into_iter().map(|(p, _)| p).collect();
        paid.sort();
        assert_eq!(paid, vec![miner_id(0), miner_id(2)]);
        // The stored result is the honest one.
        let (c, _) = compute(&j.spec, &rt.web.borrow());
        assert_eq!(
            read_state(|s| s.results.get(&v.id)).unwrap(),
            tensormine_core::encoding::f32_to_le_bytes(&c)
        );
        assert_eq!(reported(&rt, 1), vec![false]);
        check_escrow(&rt);
    }
}

#[test]
fn three_way_disagreement_is_refunded() {
    let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Cheat]);
    rt.sync();
    let v = submit(&rt, user(1), embed(&["x"], Tier::Redundant { k: 2 })).unwrap();
    tick(&rt);
    // The tie-breaker cheats too, differently: no majority.
    rt.add_worker(Behaviour::Cheat, 100);
    rt.sync();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Refunded);
    assert!(j.tiebreak);
    assert_eq!(j.assignments.len(), 3);
    assert!(j
        .reason
        .as_deref()
        .unwrap()
        .contains("tie-breaker did not settle it"));
    assert_eq!(rt.escrow.borrow().account(user(1)).available, DEPOSIT);
    assert!(settle::payees(&j).is_empty());
    check_escrow(&rt);
}
