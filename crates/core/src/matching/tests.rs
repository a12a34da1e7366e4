use super::*;
use proptest::prelude::*;
use WorkloadKind::{Embed, Matmul};

const GIB: u64 = 1 << 30;
const TFLOPS: u64 = 1_000_000_000_000;

fn owner(n: u32) -> Digest32 {
    Digest32::sha256(&n.to_le_bytes())
}

/// An online Matmul miner owned by itself, 24 GiB, 10 TFLOP/s, ½ reputation.
fn miner(id: u32, price: u64) -> Candidate<u32> {
    Candidate {
        id,
        owner: owner(id),
        online: true,
        offers: vec![(Matmul, price)],
        max_gpu_memory_bytes: 24 * GIB,
        gpu_count: 1,
        flops: 10 * TFLOPS,
        reputation_ppm: 500_000,
    }
}

fn request(count: usize) -> MatchRequest<'static, u32> {
    MatchRequest {
        workload: Matmul,
        max_price_per_unit: u64::MAX,
        min_gpu_memory_bytes: 0,
        count,
        exclude: &[],
        exclude_owners: &[],
        seed: [0; 32],
    }
}

fn seed(n: u64) -> [u8; 32] {
    Digest32::sha256(&n.to_le_bytes()).0
}

fn index_of(miners: impl IntoIterator<Item = Candidate<u32>>) -> MinerIndex<u32> {
    let mut index = MinerIndex::new();
    miners.into_iter().for_each(|m| index.upsert(m));
    index
}

/// Every id chosen by `select` over `seeds` different seeds, sorted.
fn chosen_over_seeds(
    index: &MinerIndex<u32>,
    req: &MatchRequest<u32>,
    seeds: u64,
) -> BTreeSet<u32> {
    (0..seeds)
        .flat_map(|n| {
            index.select(&MatchRequest {
                seed: seed(n),
                ..req.clone()
            })
        })
        .collect()
}

/// Two online miners at the same price and reputation: one with twice the
/// verified throughput of the other. Over many jobs the faster one wins in
/// proportion to its throughput (2 : 1), not half of them.
#[test]
fn a_faster_miner_at_the_same_price_wins_clearly_more_jobs() {
    const GFLOPS: u64 = 1_000_000_000;
    let index = index_of(
        [(1u32, 2 * GFLOPS), (2u32, 4 * GFLOPS)].map(|(id, flops)| Candidate {
            flops,
            ..miner(id, 10)
        }),
    );
    let jobs = 3_000u64;
    let mut wins = [0u32; 3];
    for n in 0..jobs {
        let picked = index.select(&MatchRequest {
            seed: seed(n),
            ..request(1)
        });
        wins[picked[0] as usize] += 1;
    }
    let fast_share = wins[2] as f64 / jobs as f64;
    assert!((fast_share - 2.0 / 3.0).abs() < 0.03, "{wins:?}");
}

#[test]
fn score_ranks_throughput_per_sat_and_reputation() {
    assert_eq!(score(TFLOPS, 500_000, 0), score(TFLOPS, 500_000, 1));
    assert!(score(TFLOPS, 500_000, 10) > score(TFLOPS, 500_000, 11));
    assert!(score(2 * TFLOPS, 500_000, 10) > score(TFLOPS, 500_000, 10));
    assert!(score(TFLOPS, 600_000, 10) > score(TFLOPS, 500_000, 10));
    assert_eq!(
        score(0, 500_000, 10),
        score(UNVERIFIED_FLOPS_FLOOR, 500_000, 10)
    );
    assert!(score(0, 500_000, 10) > 0);
    assert_eq!(score(TFLOPS, u32::MAX, 10), score(TFLOPS, 1_000_000, 10));
    // The extremes neither overflow nor vanish.
    assert_eq!(
        score(u64::MAX, u32::MAX, 0),
        (u128::from(u64::MAX) * 1_000_000) << 32
    );
    assert!(score(0, 1, crate::registry::MAX_PRICE_SATS) > 0);
}

#[test]
fn price_cap_is_respected() {
    let index = index_of([miner(1, 10), miner(2, 20), miner(3, 30)]);
    let req = MatchRequest {
        max_price_per_unit: 20,
        ..request(3)
    };
    assert_eq!(chosen_over_seeds(&index, &req, 50), BTreeSet::from([1, 2]));
    assert_eq!(index.select(&req).len(), 2);
    let req = MatchRequest {
        max_price_per_unit: 9,
        ..request(1)
    };
    assert!(index.select(&req).is_empty());
}

#[test]
fn gpu_memory_filter_is_respected() {
    let small = Candidate {
        max_gpu_memory_bytes: 8 * GIB,
        ..miner(1, 10)
    };
    let index = index_of([small, miner(2, 10)]);
    let req = MatchRequest {
        min_gpu_memory_bytes: 16 * GIB,
        ..request(2)
    };
    assert_eq!(chosen_over_seeds(&index, &req, 50), BTreeSet::from([2]));
    let req = MatchRequest {
        min_gpu_memory_bytes: 24 * GIB,
        ..request(2)
    };
    assert_eq!(index.select(&req).len(), 1);
    let req = MatchRequest {
        min_gpu_memory_bytes: 8 * GIB,
        ..request(2)
    };
    assert_eq!(index.select(&req).len(), 2);
}

#[test]
fn offline_miners_are_never_chosen() {
    // Offline, or not Online for any reason (Pending, Suspended): the
    // router maps every non-Online status to `online: false`.
    let offline = Candidate {
        online: false,
        flops: 1000 * TFLOPS,
        ..miner(1, 1)
    };
    let index = index_of([offline, miner(2, 100)]);
    assert_eq!(
        chosen_over_seeds(&index, &request(2), 50),
        BTreeSet::from([2])
    );
    assert_eq!(index.eligible_count(Matmul), 1);
    assert_eq!(index.len(), 2);
    assert_eq!(index.entry_counts(), (1, 1));
}

#[test]
fn excluded_ids_and_owners_are_never_chosen() {
    let shared = Candidate {
        owner: owner(3),
        ..miner(4, 10)
    };
    let index = index_of([miner(1, 10), miner(2, 10), miner(3, 10), shared]);
    let exclude = [1];
    let exclude_owners = [owner(3)];
    let req = MatchRequest {
        exclude: &exclude,
        exclude_owners: &exclude_owners,
        ..request(4)
    };
    assert_eq!(chosen_over_seeds(&index, &req, 50), BTreeSet::from([2]));
    assert_eq!(index.select(&req), vec![2]);
}

#[test]
fn replicas_have_distinct_owners() {
    let twin = Candidate {
        owner: owner(1),
        ..miner(2, 10)
    };
    let index = index_of([miner(1, 10), twin]);
    for n in 0..100 {
        let chosen = index.select(&MatchRequest {
            seed: seed(n),
            ..request(2)
        });
        assert_eq!(chosen.len(), 1, "one owner, one replica");
    }
    // Equal scores: the owner's lower id represents it.
    assert_eq!(
        chosen_over_seeds(&index, &request(2), 100),
        BTreeSet::from([1])
    );
    let mut index = index;
    index.upsert(miner(3, 10));
    for n in 0..100 {
        let chosen = index.select(&MatchRequest {
            seed: seed(n),
            ..request(3)
        });
        assert_eq!(chosen.len(), 2);
        assert!(chosen.contains(&3));
    }
}

#[test]
fn fewer_eligible_than_count_returns_all_of_them() {
    let index = index_of([miner(1, 10), miner(2, 10), miner(3, 1_000)]);
    let req = MatchRequest {
        max_price_per_unit: 10,
        ..request(5)
    };
    let mut chosen = index.select(&req);
    chosen.sort_unstable();
    assert_eq!(chosen, vec![1, 2]);
    assert!(index.select(&request(0)).is_empty());
    assert!(index
        .select(&MatchRequest {
            workload: Embed,
            ..request(1)
        })
        .is_empty());
}

#[test]
fn same_seed_same_choice() {
    let index = index_of((0..50).map(|id| miner(id, 10 + u64::from(id))));
    for n in 0..20 {
        let req = MatchRequest {
            seed: seed(n),
            ..request(3)
        };
        assert_eq!(index.select(&req), index.select(&req));
    }
}

#[test]
fn upsert_replaces_old_offers_and_score() {
    let mut index = index_of([miner(1, 10), miner(2, 10)]);
    assert_eq!(index.entry_counts(), (2, 2));
    // Miner 1 doubles its Matmul price and adds Embed (listed twice: the
    // lowest price counts).
    let changed = Candidate {
        offers: vec![(Matmul, 20), (Embed, 7), (Embed, 5)],
        flops: 50 * TFLOPS,
        ..miner(1, 0)
    };
    index.upsert(changed.clone());
    assert_eq!(index.len(), 2);
    assert_eq!(index.get(&1), Some(&changed));
    assert_eq!(index.entry_counts(), (3, 3));
    assert_eq!(index.eligible_count(Matmul), 2);
    assert_eq!(index.eligible_count(Embed), 1);
    let req = MatchRequest {
        max_price_per_unit: 10,
        ..request(2)
    };
    assert_eq!(index.select(&req), vec![2], "the old price 10 is gone");
    let embed = MatchRequest {
        workload: Embed,
        max_price_per_unit: 5,
        ..request(1)
    };
    assert_eq!(index.select(&embed), vec![1]);
    let expected = score(50 * TFLOPS, 500_000, 20);
    let matmul = &index.workloads[&Matmul];
    assert!(matmul.by_score.contains_key(&(Reverse(expected), 1)));
    assert!(matmul.by_price.contains_key(&(20, 1)));
    // Going offline drops every index entry but keeps the record.
    index.upsert(Candidate {
        online: false,
        ..changed
    });
    assert_eq!(index.entry_counts(), (1, 1));
    assert_eq!(index.eligible_count(Embed), 0);
    assert!(index.get(&1).is_some());
}

#[test]
fn remove_forgets_the_miner() {
    let mut index = index_of([miner(1, 10), miner(2, 10)]);
    assert!(index.remove(&1));
    assert!(!index.remove(&1));
    assert!(!index.remove(&9));
    assert_eq!(index.len(), 1);
    assert_eq!(index.get(&1), None);
    assert_eq!(index.entry_counts(), (1, 1));
    assert_eq!(
        chosen_over_seeds(&index, &request(1), 20),
        BTreeSet::from([2])
    );
    assert!(index.remove(&2));
    assert!(index.is_empty());
    assert_eq!(index.entry_counts(), (0, 0));
    assert!(index.select(&request(1)).is_empty());
}

#[test]
fn only_the_best_are_pooled() {
    // Scores strictly decrease with the id: the pool for one miner is
    // ids 0..8.
    let index = index_of((0..20).map(|id| miner(id, 10 + u64::from(id))));
    let chosen = chosen_over_seeds(&index, &request(1), 500);
    assert_eq!(chosen, (0..8).collect());
    let chosen = chosen_over_seeds(&index, &request(3), 500);
    assert_eq!(chosen, (0..12).collect());
}

#[test]
fn equal_miners_share_the_work() {
    let index = index_of((0..10).map(|id| miner(id, 10)));
    let mut wins = [0u32; 10];
    for n in 0..1_000 {
        let chosen = index.select(&MatchRequest {
            seed: seed(n),
            ..request(1)
        });
        assert_eq!(chosen.len(), 1);
        wins[chosen[0] as usize] += 1;
    }
    assert!(wins.iter().all(|&w| (1..=250).contains(&w)), "{wins:?}");
}

#[test]
fn a_better_score_wins_more_often() {
    let strong = Candidate {
        flops: 40 * TFLOPS,
        ..miner(0, 10)
    };
    let index = index_of(std::iter::once(strong).chain((1..10).map(|id| miner(id, 10))));
    let mut wins = [0u32; 10];
    for n in 0..1_000 {
        wins[index.select(&MatchRequest {
            seed: seed(n),
            ..request(1)
        })[0] as usize] += 1;
    }
    // Expected: 4/13 of the draws for the strong miner, 1/13 for each
    // of the 7 weak ones in the pool.
    let best_weak = wins[1..].iter().max().copied().unwrap_or(0);
    assert!(wins[0] > 2 * best_weak, "{wins:?}");
}

#[test]
fn price_walk_finds_cheap_miners_below_expensive_stars() {
    // 30 fast expensive miners outrank 5 slow cheap ones; with a budget
    // of 10 the score walk alone never reaches the cheap ones.
    let stars = (0..30).map(|id| Candidate {
        flops: 1000 * TFLOPS,
        ..miner(id, 100)
    });
    let cheap = (100..105).map(|id| Candidate {
        flops: 0,
        ..miner(id, 5)
    });
    let index = index_of(stars.chain(cheap));
    let req = MatchRequest {
        max_price_per_unit: 5,
        ..request(2)
    };
    let (chosen, stats) = index.select_with_stats(&req, 10);
    assert_eq!(chosen.len(), 2);
    assert!(chosen.iter().all(|id| (100..105).contains(id)));
    assert_eq!(stats.scanned_by_score, 5);
    assert_eq!(stats.scanned_by_price, 5);
}

#[test]
fn an_owner_is_represented_by_its_best_miner() {
    // The price walk meets the owner's cheap weak miner 100 before its
    // strong miner 101; the strong one must stand for the owner.
    let stars = (0..30).map(|id| Candidate {
        flops: 10_000 * TFLOPS,
        ..miner(id, 100)
    });
    let weak = Candidate {
        flops: 0,
        ..miner(100, 4)
    };
    let strong = Candidate {
        owner: owner(100),
        flops: 100 * TFLOPS,
        ..miner(101, 5)
    };
    let index = index_of(stars.chain([weak, strong]));
    for n in 0..20 {
        let req = MatchRequest {
            max_price_per_unit: 5,
            seed: seed(n),
            ..request(1)
        };
        let (chosen, stats) = index.select_with_stats(&req, 10);
        assert_eq!(chosen, vec![101]);
        assert_eq!(stats.scanned_by_price, 3);
    }
}

#[test]
fn fenwick_search_matches_a_linear_scan() {
    let weights: Vec<u128> = (0..37u128)
        .map(|i| (i * 7919) % 13 + u128::from(i % 5 == 0))
        .collect();
    let mut tree = Fenwick::new(&weights);
    let mut live = weights.clone();
    let linear = |live: &[u128], target: u128| {
        let mut sum = 0;
        live.iter().position(|w| {
            sum += w;
            sum > target
        })
    };
    for removed in [3usize, 0, 36, 17] {
        assert_eq!(tree.total(), live.iter().sum::<u128>());
        for target in 0..tree.total() {
            assert_eq!(
                Some(tree.find(target)),
                linear(&live, target),
                "target {target}"
            );
        }
        tree.subtract(removed, live[removed]);
        live[removed] = 0;
    }
}

#[test]
fn draw_weights_fit_in_64_bits() {
    let pool: Vec<(u128, u32)> = (0..4096).map(|i| (u128::MAX >> 12, i)).collect();
    let weights = draw_weights(&pool);
    assert!(weights.iter().sum::<u128>() < 1 << 64);
    assert!(weights.iter().all(|&w| w > 0));
    let small = [(0u128, 1u32), (5, 2)];
    assert_eq!(draw_weights(&small), vec![1, 5]);
}

/// 100,000 miners: the expensive fast ones outrank 1,000 cheap slow ones.
fn large_index() -> MinerIndex<u32> {
    let mut index = MinerIndex::new();
    for id in 0..100_000u32 {
        let candidate = if id % 100 == 0 {
            Candidate {
                flops: 0,
                reputation_ppm: 1 + id / 100,
                ..miner(id, 10)
            }
        } else {
            let price = 1_000 + u64::from(id % 500);
            Candidate {
                flops: 10 * TFLOPS + u64::from(id) * 1_000_000,
                ..miner(id, price)
            }
        };
        index.upsert(candidate);
    }
    index
}

#[test]
fn select_cost_is_bounded_with_100k_miners() {
    let index = large_index();
    assert_eq!(index.eligible_count(Matmul), 100_000);
    let budget = |stats: SelectStats| stats.scanned_by_score + stats.scanned_by_price;

    // Unconstrained: the score walk fills the pool at once.
    let (chosen, stats) = index.select_with_stats(&request(3), SCAN_LIMIT);
    assert_eq!(chosen.len(), 3);
    assert_eq!(stats.pool, 12);
    assert_eq!((stats.scanned_by_score, stats.scanned_by_price), (13, 0));

    // Price cap below every top miner: the price walk finds the cheap.
    let req = MatchRequest {
        max_price_per_unit: 10,
        ..request(3)
    };
    let (chosen, stats) = index.select_with_stats(&req, SCAN_LIMIT);
    assert_eq!(chosen.len(), 3);
    assert!(chosen.iter().all(|id| id % 100 == 0));
    assert_eq!(stats.scanned_by_score, SCAN_LIMIT / 2);
    assert_eq!(
        stats.scanned_by_price, 1_001,
        "the 1,000 cheap and the first over the cap"
    );
    assert_eq!(stats.pool, 12);
    assert!(budget(stats) <= SCAN_LIMIT);

    // Nobody qualifies: the whole budget, and not one entry more.
    let req = MatchRequest {
        min_gpu_memory_bytes: 80 * GIB,
        ..request(1)
    };
    let (chosen, stats) = index.select_with_stats(&req, SCAN_LIMIT);
    assert!(chosen.is_empty());
    assert_eq!(budget(stats), SCAN_LIMIT);
    assert_eq!(stats.pool, 0);
}

/// A random miner for the property test (small id and owner spaces so
/// replacements, shared owners and exclusions happen often).
fn arb_candidate() -> impl Strategy<Value = Candidate<u32>> {
    let offer = (prop::bool::ANY, 0..100u64)
        .prop_map(|(embed, price)| (if embed { Embed } else { Matmul }, price));
    (
        (0..40u32, 0..15u32, prop::bool::weighted(0.8)),
        prop::collection::vec(offer, 0..4),
        (0..4u64, 0..4u64, 0..1_100_000u32),
    )
        .prop_map(
            |((id, owner_n, online), offers, (mem, flops, rep))| Candidate {
                id,
                owner: owner(owner_n),
                online,
                offers,
                max_gpu_memory_bytes: mem * GIB,
                gpu_count: 1,
                flops: flops * TFLOPS,
                reputation_ppm: rep,
            },
        )
}

#[derive(Debug, Clone)]
enum Op {
    Upsert(Candidate<u32>),
    Remove(u32),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![4 => arb_candidate().prop_map(Op::Upsert), 1 => (0..40u32).prop_map(Op::Remove)]
}

/// The lowest price `c` asks for `workload`, if it offers it online.
fn reference_price(c: &Candidate<u32>, workload: WorkloadKind) -> Option<u64> {
    let prices = c.offers.iter().filter(|(w, _)| *w == workload);
    prices.map(|(_, p)| *p).min().filter(|_| c.online)
}

/// Brute-force eligibility.
fn reference_eligible(c: &Candidate<u32>, req: &MatchRequest<u32>) -> bool {
    reference_price(c, req.workload).is_some_and(|p| p <= req.max_price_per_unit)
        && c.max_gpu_memory_bytes >= req.min_gpu_memory_bytes
        && !req.exclude.contains(&c.id)
        && !req.exclude_owners.contains(&c.owner)
}

/// Distinct owners among the eligible miners `select` can reach with
/// `limit`: the first `limit / 2` by score and the next `limit - limit / 2`
/// by price (the walks' budgets).
fn reference_reach(
    all: &BTreeMap<u32, Candidate<u32>>,
    req: &MatchRequest<u32>,
    limit: usize,
) -> usize {
    let offering: Vec<(&Candidate<u32>, u64)> = all
        .values()
        .filter_map(|c| reference_price(c, req.workload).map(|p| (c, p)))
        .collect();
    let mut by_score: Vec<_> = offering
        .iter()
        .map(|(c, p)| (Reverse(score(c.flops, c.reputation_ppm, *p)), c.id))
        .collect();
    by_score.sort_unstable();
    let mut by_price: Vec<_> = offering.iter().map(|(c, p)| (*p, c.id)).collect();
    by_price.sort_unstable();
    let reached = by_score.iter().take(limit / 2).map(|(_, id)| *id);
    let reached = reached.chain(by_price.iter().take(limit - limit / 2).map(|(_, id)| *id));
    let owners: BTreeSet<Digest32> = reached
        .map(|id| &all[&id])
        .filter(|c| reference_eligible(c, req))
        .map(|c| c.owner)
        .collect();
    owners.len()
}

proptest! {
    #[test]
    fn select_agrees_with_brute_force(
        ops in prop::collection::vec(arb_op(), 0..80),
        embed in prop::bool::ANY,
        cap in 0..120u64,
        min_mem in 0..4u64,
        count in 0..6usize,
        exclude in prop::collection::vec(0..40u32, 0..5),
        exclude_owners in prop::collection::vec(0..15u32, 0..3),
        seed in prop::array::uniform32(any::<u8>()),
        limit in prop_oneof![Just(SCAN_LIMIT), 0..20usize],
    ) {
        let mut index = MinerIndex::new();
        let mut all = BTreeMap::new();
        for op in ops {
            match op {
                Op::Upsert(c) => {
                    all.insert(c.id, c.clone());
                    index.upsert(c);
                }
                Op::Remove(id) => prop_assert_eq!(index.remove(&id), all.remove(&id).is_some()),
            }
        }
        prop_assert_eq!(index.len(), all.len());
        let entries: usize = all.values().map(|c| {
            [Matmul, Embed].iter().filter(|w| reference_price(c, **w).is_some()).count()
        }).sum();
        prop_assert_eq!(index.entry_counts(), (entries, entries));

        let exclude_owners: Vec<Digest32> = exclude_owners.into_iter().map(owner).collect();
        let req = MatchRequest {
            workload: if embed { Embed } else { Matmul },
            max_price_per_unit: cap,
            min_gpu_memory_bytes: min_mem * GIB,
            count,
            exclude: &exclude,
            exclude_owners: &exclude_owners,
            seed,
        };
        let (chosen, stats) = index.select_with_stats(&req, limit);
        prop_assert!(stats.scanned_by_score + stats.scanned_by_price <= limit);
        let ids: BTreeSet<u32> = chosen.iter().copied().collect();
        let owners: BTreeSet<Digest32> = chosen.iter().map(|id| all[id].owner).collect();
        prop_assert_eq!(ids.len(), chosen.len());
        prop_assert_eq!(owners.len(), chosen.len());
        for id in &chosen {
            prop_assert!(reference_eligible(&all[id], &req), "{} is not eligible", id);
        }
        let reach = reference_reach(&all, &req, limit);
        prop_assert_eq!(chosen.len(), count.min(reach));
    }
}
