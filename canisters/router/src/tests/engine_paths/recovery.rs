//! Lost escrow answers, an upgrade mid-job, and receipt batches.

use super::*;

#[test]
fn lost_escrow_answers_settle_each_hold_exactly_once() {
    for every in [1, 2, 3] {
        let rt = FakeRuntime::new(&[Behaviour::Cheat, Behaviour::Honest]);
        rt.sync();
        let ids: Vec<String> = (0..3)
            .map(|i| {
                submit(
                    &rt,
                    user(1 + i % 2),
                    seeded_matmul(5, 4, 3, Tier::Freivalds),
                )
                .unwrap()
                .id
            })
            .collect();
        rt.escrow_lose_every.set(Some(every));
        if every == 1 {
            // Nothing ever answers: nothing may become final.
            for _ in 0..60 {
                tick(&rt);
                rt.advance(5 * SECOND);
            }
            assert!(ids.iter().all(|id| !job(id).status.is_final()));
            rt.escrow_lose_every.set(None);
        }
        run_to_final(&rt, 300);
        for id in &ids {
            assert_eq!(job(id).status, JobStatus::Settled, "every {every}");
        }
        check_escrow(&rt);
    }
}

#[test]
fn an_upgrade_mid_job_resumes_every_job() {
    let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Honest, Behaviour::Cheat]);
    rt.sync();
    let ids: Vec<String> = [
        seeded_matmul(5, 4, 3, Tier::Freivalds),
        embed(&["a", "b"], Tier::Redundant { k: 2 }),
        seeded_matmul(2, 2, 2, Tier::None),
    ]
    .into_iter()
    .map(|r| submit(&rt, user(1), r).unwrap().id)
    .collect();
    tick(&rt);
    rt.advance(2 * SECOND);
    tick(&rt);
    let before: Vec<_> = ids.iter().map(|id| job(id)).collect();
    let root = read_state(receipts::root);
    rt.upgrade();
    // Stable state is intact, heap caches are rebuilt from it.
    assert_eq!(ids.iter().map(|id| job(id)).collect::<Vec<_>>(), before);
    assert_eq!(
        read_state(|s| s.active.len()),
        before.iter().filter(|j| !j.status.is_final()).count() as u64
    );
    assert_eq!(
        read_state(|s| s.pending_of(user(1))),
        read_state(|s| s.active.len()) as u32
    );
    assert_eq!(
        read_state(|s| s
            .index
            .eligible_count(tensormine_core::registry::WorkloadKind::Matmul)),
        3
    );
    assert_eq!(*rt.certified.borrow(), root.0.to_vec());
    run_to_final(&rt, 200);
    check_escrow(&rt);
    assert!(ids.iter().all(|id| job(id).status.is_final()));
}

#[test]
fn receipts_are_signed_in_batches_and_verify_offline() {
    let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Cheat]);
    config(|c| c.receipt_batch_max = 3);
    rt.sync();
    let reqs = [
        seeded_matmul(4, 4, 4, Tier::Freivalds),
        embed(&["a", "b"], Tier::None),
        JobRequest {
            deadline_secs: 30,
            ..seeded_matmul(3, 3, 3, Tier::None)
        },
    ];
    let ids: Vec<String> = reqs
        .into_iter()
        .map(|r| submit(&rt, user(1), r).unwrap().id)
        .collect();
    // The third job is cancelled: a refunded receipt.
    let mut third = job(&ids[2]);
    audit::cancel(&mut third, rt.time_now());
    audit::save(&third);
    run_to_final(&rt, 100);
    assert_eq!(read_state(|s| s.counters().receipt_tree_size), 3);
    assert!(matches!(
        receipts::get_receipt(&ids[0], rt.time_now()),
        Err(ReceiptError::NotYetSigned { .. })
    ));
    futures::executor::block_on(receipts::sign_due(&rt));
    assert_eq!(read_state(|s| s.batches.len()), 1);
    let pk: [u8; 32] = rt.key.verifying_key().to_bytes();
    let root = read_state(receipts::root);
    assert_eq!(*rt.certified.borrow(), root.0.to_vec());
    let check = |id: &str| {
        let view = receipts::get_receipt(id, rt.time_now()).unwrap();
        assert_eq!(view.public_key, pk.to_vec());
        let receipt = verify_receipt(&view.to_proof().unwrap(), &pk).unwrap();
        assert_eq!(receipt.job_id, id);
        assert_eq!(receipt.router.0, router_id().as_slice());
        (view, receipt)
    };
    let mut outcomes = vec![];
    for id in &ids {
        let (view, receipt) = check(id);
        assert_eq!((view.batch_index, view.batch_tree_size), (0, 3));
        assert_eq!(view.batch_root, root.0.to_vec());
        outcomes.push(receipt.outcome);
    }
    let j0 = job(&ids[0]);
    if j0.assignments.len() == 1 {
        assert!(matches!(outcomes[0], ReceiptOutcome::Verified));
    }
    assert!(matches!(outcomes[2], ReceiptOutcome::Refunded { .. }));
    // A tampered receipt or another key fails.
    let view = receipts::get_receipt(&ids[1], rt.time_now()).unwrap();
    let mut proof = view.to_proof().unwrap();
    proof.receipt = proof.receipt.replace(&ids[1], &ids[0]);
    assert!(verify_receipt(&proof, &pk).is_err());
    assert!(verify_receipt(&view.to_proof().unwrap(), &[9; 32]).is_err());
    // A fourth receipt waits for the time limit, then batch 1 covers it;
    // the old receipts still prove against batch 0.
    let id4 = submit(&rt, user(2), seeded_matmul(2, 2, 2, Tier::None))
        .unwrap()
        .id;
    run_to_final(&rt, 50);
    assert_eq!(
        *rt.certified.borrow(),
        read_state(receipts::root).0.to_vec()
    );
    assert_ne!(read_state(receipts::root), root);
    futures::executor::block_on(receipts::sign_due(&rt));
    assert_eq!(read_state(|s| s.batches.len()), 1, "not due yet");
    rt.advance(test_config().receipt_batch_secs * SECOND);
    futures::executor::block_on(receipts::sign_due(&rt));
    assert_eq!(read_state(|s| s.batches.len()), 2);
    let (view, _) = check(&id4);
    assert_eq!((view.batch_index, view.batch_tree_size), (1, 4));
    let (view, _) = check(&ids[0]);
    assert_eq!(view.batch_index, 0);
}
