//! Proof of useful work in the ranking: the throughput a miner shows on a
//! real matmul job the router checked itself enters its score.

use super::*;
use tensormine_core::matching::MatchRequest;
use tensormine_core::registry::WorkloadKind;

#[test]
fn verified_work_on_a_real_job_ranks_the_miner_by_its_throughput() {
    let rt = FakeRuntime::new(&[Behaviour::Honest]);
    rt.sync();
    // 1024×512×1024: 1.07 GFLOP, checked by the router itself.
    let v = submit(
        &rt,
        user(1),
        seeded_matmul(1024, 512, 1024, Tier::Freivalds),
    )
    .unwrap();
    run_to_final(&rt, 50);
    let j = job(&v.id);
    assert_eq!(j.status, JobStatus::Settled, "{:?}", j.reason);
    let a = &j.assignments[0];
    let elapsed = (a.committed_at_ns - a.assigned_at_ns).max(SECOND) as u128;
    let expected = (2u128 * 1024 * 512 * 1024 * SECOND as u128 / elapsed) as u64;
    let flops = read_state(|s| s.job_flops.get(&miner_id(0)));
    assert_eq!(flops, Some(expected));
    // Dispatch, then the polls: 3 s of the fake's clock, ≈ 0.36 GFLOP/s,
    // over three times the floor of a miner without verified work.
    assert!(
        expected > 3 * tensormine_core::matching::UNVERIFIED_FLOPS_FLOOR,
        "{expected} FLOP/s over {elapsed} ns"
    );
    // A second miner at the same price, with no verified work: the first is
    // drawn in proportion to its throughput (≈ 3.6 : 1, 78 %), not half the time.
    rt.add_worker(Behaviour::Honest, 100);
    rt.sync();
    let draws = 3_000u64;
    let first = (0..draws)
        .filter(|n| {
            let seed = tensormine_core::Digest32::sha256(&n.to_le_bytes()).0;
            read_state(|s| {
                s.index.select(&MatchRequest {
                    workload: WorkloadKind::Matmul,
                    max_price_per_unit: u64::MAX,
                    min_gpu_memory_bytes: 0,
                    count: 1,
                    exclude: &[],
                    exclude_owners: &[],
                    seed,
                })
            }) == vec![miner_id(0)]
        })
        .count() as f64
        / draws as f64;
    let floor = tensormine_core::matching::UNVERIFIED_FLOPS_FLOOR as f64;
    let share = expected as f64 / (expected as f64 + floor);
    assert!(
        (first - share).abs() < 0.03,
        "drawn {first}, expected {share}"
    );
    // It survives an upgrade (stable memory, the index rebuilt from it).
    rt.upgrade();
    assert_eq!(
        read_state(|s| s.job_flops.get(&miner_id(0))),
        Some(expected)
    );
}
