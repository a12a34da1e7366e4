//! Cancellation by the submitter, also while a step is in flight.

use super::*;

#[test]
fn cancel_refunds_and_reports_nobody() {
    for busy in [false, true] {
        let rt = FakeRuntime::new(&[Behaviour::Hang]);
        rt.sync();
        let v = submit(&rt, user(1), seeded_matmul(4, 4, 4, Tier::None)).unwrap();
        tick(&rt);
        rt.advance(5 * SECOND);
        tick(&rt);
        let mut j = job(&v.id);
        assert_eq!(j.status, JobStatus::Running);
        assert!(audit::cancellable(&j));
        if busy {
            // What cancel_job does while a step is in flight.
            mutate_state(|s| s.cancels.insert(v.id.clone()));
        } else {
            audit::cancel(&mut j, rt.time_now());
            audit::save(&j);
        }
        run_to_final(&rt, 20);
        let j = job(&v.id);
        assert_eq!(j.status, JobStatus::Refunded, "busy: {busy}");
        assert_eq!(j.reason.as_deref(), Some("cancelled by the submitter"));
        assert!(!audit::cancellable(&j));
        assert!(
            rt.reports.borrow().is_empty(),
            "a cancelled miner is not at fault"
        );
        check_escrow(&rt);
    }
}

#[test]
fn a_cancel_during_a_step_is_applied_when_the_step_ends() {
    let rt = FakeRuntime::new(&[Behaviour::Hang]);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(4, 4, 4, Tier::None)).unwrap();
    tick(&rt);
    rt.advance(5 * SECOND);
    rt.yield_outcalls.set(true);
    let id = v.id.clone();
    // join polls the step first: it runs up to its poll outcall, which is
    // pending once; then the cancel arrives.
    let ((), cancelled) =
        futures::executor::block_on(futures::future::join(engine::advance(&rt, &id), async {
            // The poll outcall is in flight: the job is busy.
            assert!(read_state(|s| s.is_busy(&id)));
            cancel_endpoint(&rt, &id)
        }));
    assert_eq!(cancelled, Ok(()));
    // Deferred: the step in flight saved the job without the cancel.
    assert_eq!(job(&v.id).status, JobStatus::Running);
    assert!(read_state(|s| s.cancels.contains(&v.id)));
    tick(&rt);
    run_to_final(&rt, 20);
    assert_eq!(job(&v.id).status, JobStatus::Refunded);
    assert!(read_state(|s| s.cancels.is_empty()));
    check_escrow(&rt);
}

#[test]
fn overlapping_ticks_never_step_a_job_twice() {
    let rt = FakeRuntime::new(&[Behaviour::Honest, Behaviour::Honest]);
    rt.sync();
    rt.yield_outcalls.set(true);
    let ids: Vec<String> = (0..4)
        .map(|_| {
            submit(&rt, user(1), seeded_matmul(3, 3, 3, Tier::Freivalds))
                .unwrap()
                .id
        })
        .collect();
    for _ in 0..40 {
        futures::executor::block_on(futures::future::join(engine::tick(&rt), engine::tick(&rt)));
        rt.advance(SECOND);
    }
    assert!(ids.iter().all(|id| job(id).status == JobStatus::Settled));
    // One dispatch per job (the second tick found each job busy or not due).
    let dispatches = rt
        .outcalls
        .borrow()
        .iter()
        .filter(|o| o.url.ends_with("/v1/jobs"))
        .count();
    assert_eq!(dispatches, ids.len());
    check_escrow(&rt);
}

#[test]
fn committed_jobs_are_not_cancellable() {
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    rt.sync();
    let v = submit(&rt, user(1), seeded_matmul(4, 4, 4, Tier::None)).unwrap();
    let mut j = job(&v.id);
    assert!(audit::cancellable(&j));
    run_to_final(&rt, 50);
    assert!(!audit::cancellable(&job(&v.id)));
    // A Running job with a committed miner (the others still computing).
    j.status = JobStatus::Running;
    j.assignments = job(&v.id).assignments;
    j.assignments[0].state = AssignmentState::Committed;
    assert!(!audit::cancellable(&j));
}
