//! The router's miner-matching index: which miners may run a job, and a
//! fair, seeded pick among the best of them.
//!
//! The router keeps a copy of every registered miner (synced from the
//! registry's change feed) as a [`Candidate`] in a [`MinerIndex`], and calls
//! [`MinerIndex::select`] when a job needs one miner or `k` replicas. The
//! index is generic over the miner id so it can be tested natively; the
//! router uses the miner's principal.
//!
//! # Eligibility
//!
//! A miner can be chosen for a [`MatchRequest`] when it is online, offers the
//! workload at a price ≤ `max_price_per_unit`, has a GPU card with at least
//! `min_gpu_memory_bytes`, is not in `exclude`, and its owner (who gets paid)
//! is not in `exclude_owners`. All miners chosen by one call have pairwise
//! distinct owners, so replicas of a job are never paid to the same party.
//!
//! # Ranking and fairness
//!
//! Miners are ranked by verified throughput per sat, weighted by reputation:
//! [`score`] `= max(flops, UNVERIFIED_FLOPS_FLOOR) × reputation_ppm × 2³² / price`
//! (u128, price 0 counts as 1). `flops` is the registry's verified lower
//! bound (a capability challenge: `2n³` over the time from request to
//! commitment); the floor, 0.1 GFLOP/s, is below any figure a capability
//! challenge records on real hardware, so it only lets miners without one
//! still be drawn and never hides a measured difference. Always picking the top miner would starve
//! everyone else and make the router predictable, so `select` builds a pool
//! of the best `max(4·count, 8)` eligible miners with distinct owners
//! (extended over ties with the last one, so equal miners are treated
//! alike), then draws `count` of them without replacement with probability
//! proportional to score (scores scaled by a common power of two to fit the
//! draw, and at least 1). The draw is a function of `seed` only
//! (`sha256(seed ‖ counter)`), so every replica of the router canister
//! computes the same answer.
//!
//! # Cost
//!
//! Per workload the index keeps the online offering miners twice, ordered by
//! score (descending) and by price (ascending), each entry carrying the few
//! facts the filters need, so `select` never looks a miner up. `upsert` and
//! `remove` are O(w · log n) for a miner with w offers (the old entries are
//! removed before the new ones are inserted). `select` walks the score index
//! from the best for at most `SCAN_LIMIT / 2` entries; when that does not
//! fill the pool (the best-scored are over the price cap, filtered by GPU
//! memory or excluded), it walks the price index from the cheapest for the
//! rest of the [`SCAN_LIMIT`] budget, where every entry up to the cap
//! satisfies the price. So whatever the number of miners stored, one call
//! visits at most `SCAN_LIMIT` index entries (each O(1) amortised in a
//! B-tree iteration, plus O(log e) lookups in the e exclusions), sorts at
//! most that many candidates and draws with a Fenwick tree in
//! O(pool + count · log pool). The price of the bound: eligible miners that
//! are neither among the best `SCAN_LIMIT / 2` by score nor among the
//! cheapest `SCAN_LIMIT / 2` are not seen, so `select` may return fewer than
//! exist; the caller can relax the request (e.g. raise the price cap).

use core::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest as _, Sha256};

use crate::registry::WorkloadKind;
use crate::Digest32;

/// Most index entries one [`MinerIndex::select`] visits (score and price
/// walks together).
pub const SCAN_LIMIT: usize = 4_096;

/// The pool a draw is made from holds at least this many miners (when that
/// many are eligible), so even a single-miner job has a choice.
pub const MIN_POOL: usize = 8;

/// The pool holds `POOL_FACTOR × count` miners when that is more than
/// [`MIN_POOL`].
pub const POOL_FACTOR: usize = 4;

/// FLOP/s assumed for a miner without a verified capability (0.1 GFLOP/s):
/// new miners rank low but not at zero. It must stay under what capability
/// challenges measure (≈ 2–8 GFLOP/s for n = 1024 on one CPU core here), or
/// it hides the measured throughput from the ranking — as the old 100
/// GFLOP/s did, ranking every miner at the floor and by price alone.
pub const UNVERIFIED_FLOPS_FLOOR: u64 = 100_000_000;

/// Fixed-point scale of [`score`]: keeps precision at high prices. With
/// flops < 2⁶⁴ and reputation ≤ 10⁶ < 2²⁰ the product stays below 2¹¹⁶.
const SCORE_SCALE_BITS: u32 = 32;

/// Highest reputation in parts per million.
const MAX_PPM: u32 = 1_000_000;

/// A miner as the router sees it for matching.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Candidate<Id> {
    /// The miner's id (the router uses its principal).
    pub id: Id,
    /// Who gets paid: sha256 of the payout address. Replicas of one job
    /// need distinct owners.
    pub owner: Digest32,
    /// Registry status is Online (Pending, Offline and Suspended miners are
    /// kept but never matched).
    pub online: bool,
    /// Offered workloads with their price in sats per unit. A workload
    /// listed twice counts at its lowest price.
    pub offers: Vec<(WorkloadKind, u64)>,
    /// Largest memory of one GPU card.
    pub max_gpu_memory_bytes: u64,
    /// Number of GPU cards; kept for the caller (e.g. to size a job), not
    /// used by the ranking, which relies on the verified `flops` instead.
    pub gpu_count: u32,
    /// Verified capability lower bound in FLOP/s (0 if none yet).
    pub flops: u64,
    /// Reputation score in parts per million.
    pub reputation_ppm: u32,
}

/// What a job needs.
#[derive(Debug, Clone)]
pub struct MatchRequest<'a, Id> {
    /// The workload.
    pub workload: WorkloadKind,
    /// Highest acceptable price in sats per unit.
    pub max_price_per_unit: u64,
    /// Smallest acceptable memory of one GPU card.
    pub min_gpu_memory_bytes: u64,
    /// Miners wanted (1, or k replicas).
    pub count: usize,
    /// Miners already tried on this job (failed, timed out, or current
    /// replicas).
    pub exclude: &'a [Id],
    /// Owners that must not be chosen (e.g. those of current replicas).
    pub exclude_owners: &'a [Digest32],
    /// Randomness (the canister mixes `raw_rand` with the job id).
    pub seed: [u8; 32],
}

/// Rank of a miner for a workload at `price`: verified throughput per sat
/// weighted by reputation, `max(flops, UNVERIFIED_FLOPS_FLOOR) ×
/// min(reputation_ppm, 10⁶) × 2³² / max(price, 1)`. Never overflows.
pub fn score(flops: u64, reputation_ppm: u32, price: u64) -> u128 {
    let flops = u128::from(flops.max(UNVERIFIED_FLOPS_FLOOR));
    let reputation = u128::from(reputation_ppm.min(MAX_PPM));
    ((flops * reputation) << SCORE_SCALE_BITS) / u128::from(price.max(1))
}

/// The facts the filters need, stored with each index entry so a walk never
/// looks the miner up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    price: u64,
    score: u128,
    max_gpu_memory: u64,
    owner: Digest32,
}

/// The online miners offering one workload, ordered two ways.
#[derive(Debug, Clone)]
struct WorkloadIndex<Id> {
    /// Best score first; ties by id.
    by_score: BTreeMap<(Reverse<u128>, Id), Slot>,
    /// Cheapest first; ties by id.
    by_price: BTreeMap<(u64, Id), Slot>,
}

impl<Id: Ord> Default for WorkloadIndex<Id> {
    fn default() -> Self {
        Self {
            by_score: BTreeMap::new(),
            by_price: BTreeMap::new(),
        }
    }
}

/// Every known miner, with per-workload indexes of the matchable ones.
#[derive(Debug, Clone)]
pub struct MinerIndex<Id: Ord + Clone> {
    miners: BTreeMap<Id, Candidate<Id>>,
    workloads: BTreeMap<WorkloadKind, WorkloadIndex<Id>>,
}

impl<Id: Ord + Clone> Default for MinerIndex<Id> {
    fn default() -> Self {
        Self::new()
    }
}

/// What one `select` did, for cost checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SelectStats {
    /// Score-index entries visited.
    scanned_by_score: usize,
    /// Price-index entries visited.
    scanned_by_price: usize,
    /// Size of the pool drawn from.
    pool: usize,
}

impl<Id: Ord + Clone> MinerIndex<Id> {
    /// An empty index.
    pub fn new() -> Self {
        Self {
            miners: BTreeMap::new(),
            workloads: BTreeMap::new(),
        }
    }

    /// Number of miners stored (matchable or not).
    pub fn len(&self) -> usize {
        self.miners.len()
    }

    /// True when no miner is stored.
    pub fn is_empty(&self) -> bool {
        self.miners.is_empty()
    }

    /// The stored miner `id`.
    pub fn get(&self, id: &Id) -> Option<&Candidate<Id>> {
        self.miners.get(id)
    }

    /// Online miners offering `workload`, whatever their price or GPUs.
    pub fn eligible_count(&self, workload: WorkloadKind) -> usize {
        self.workloads
            .get(&workload)
            .map_or(0, |index| index.by_score.len())
    }

    /// Inserts the miner or replaces its previous state (its old index
    /// entries are removed first). O(offers · log n).
    pub fn upsert(&mut self, candidate: Candidate<Id>) {
        self.unindex(&candidate.id);
        self.index(&candidate);
        self.miners.insert(candidate.id.clone(), candidate);
    }

    /// Forgets miner `id`; false if it was not stored. O(offers · log n).
    pub fn remove(&mut self, id: &Id) -> bool {
        self.unindex(id);
        self.miners.remove(id).is_some()
    }

    /// Picks up to `request.count` eligible miners with distinct owners (see
    /// the module docs), fewer when fewer are eligible within the scan
    /// budget. Deterministic in `request.seed` and the index contents.
    pub fn select(&self, request: &MatchRequest<'_, Id>) -> Vec<Id> {
        self.select_with_stats(request, SCAN_LIMIT).0
    }

    /// `select` with the scan budget as a parameter, reporting its work.
    fn select_with_stats(
        &self,
        request: &MatchRequest<'_, Id>,
        scan_limit: usize,
    ) -> (Vec<Id>, SelectStats) {
        let mut stats = SelectStats::default();
        let index = match self.workloads.get(&request.workload) {
            Some(index) if request.count > 0 => index,
            _ => return (Vec::new(), stats),
        };
        let pool_size = request.count.saturating_mul(POOL_FACTOR).max(MIN_POOL);
        let mut collector = Collector::new(request);
        let score_budget = scan_limit / 2;
        stats.scanned_by_score = collector.walk_scores(index, score_budget, pool_size);
        let cut_short = stats.scanned_by_score == score_budget
            && index.by_score.len() > score_budget
            && collector.best.len() < pool_size;
        if cut_short {
            let price_budget = scan_limit - stats.scanned_by_score;
            stats.scanned_by_price = collector.walk_prices(index, price_budget);
        }
        let pool = collector.into_pool(pool_size);
        stats.pool = pool.len();
        (draw(pool, request.count, &request.seed), stats)
    }

    /// Adds the index entries of `candidate` if it is online.
    fn index(&mut self, candidate: &Candidate<Id>) {
        if !candidate.online {
            return;
        }
        for (workload, slot) in slots(candidate) {
            let index = self.workloads.entry(workload).or_default();
            let id = candidate.id.clone();
            index
                .by_score
                .insert((Reverse(slot.score), id.clone()), slot);
            index.by_price.insert((slot.price, id), slot);
        }
    }

    /// Removes the index entries of the stored miner `id`, if any.
    fn unindex(&mut self, id: &Id) {
        let Some(old) = self.miners.get(id) else {
            return;
        };
        if !old.online {
            return;
        }
        for (workload, slot) in slots(old) {
            let Some(index) = self.workloads.get_mut(&workload) else {
                continue;
            };
            index.by_score.remove(&(Reverse(slot.score), id.clone()));
            index.by_price.remove(&(slot.price, id.clone()));
            if index.by_score.is_empty() {
                self.workloads.remove(&workload);
            }
        }
    }

    /// Total entries in the score and price indexes (test invariant: twice
    /// the offers of online miners, nothing stale).
    #[cfg(test)]
    fn entry_counts(&self) -> (usize, usize) {
        self.workloads.values().fold((0, 0), |(s, p), index| {
            (s + index.by_score.len(), p + index.by_price.len())
        })
    }
}

/// The index facts of `candidate` per offered workload, at the lowest price
/// it asks for that workload.
fn slots<Id>(candidate: &Candidate<Id>) -> BTreeMap<WorkloadKind, Slot> {
    let mut prices = BTreeMap::<WorkloadKind, u64>::new();
    for &(workload, price) in &candidate.offers {
        let entry = prices.entry(workload).or_insert(price);
        *entry = (*entry).min(price);
    }
    prices
        .into_iter()
        .map(|(workload, price)| {
            let slot = Slot {
                price,
                score: score(candidate.flops, candidate.reputation_ppm, price),
                max_gpu_memory: candidate.max_gpu_memory_bytes,
                owner: candidate.owner,
            };
            (workload, slot)
        })
        .collect()
}

/// The eligible miners found by the walks: the best one per owner.
struct Collector<'r, Id> {
    request: &'r MatchRequest<'r, Id>,
    exclude: BTreeSet<&'r Id>,
    exclude_owners: BTreeSet<&'r Digest32>,
    /// Owner → best (rank key) of that owner seen so far.
    best: BTreeMap<Digest32, (Reverse<u128>, Id)>,
}

impl<'r, Id: Ord + Clone> Collector<'r, Id> {
    fn new(request: &'r MatchRequest<'r, Id>) -> Self {
        Self {
            request,
            exclude: request.exclude.iter().collect(),
            exclude_owners: request.exclude_owners.iter().collect(),
            best: BTreeMap::new(),
        }
    }

    /// True when the entry passes every filter of the request.
    fn eligible(&self, id: &Id, slot: &Slot) -> bool {
        slot.price <= self.request.max_price_per_unit
            && slot.max_gpu_memory >= self.request.min_gpu_memory_bytes
            && !self.exclude.contains(id)
            && !self.exclude_owners.contains(&slot.owner)
    }

    /// Keeps `id` if it is its owner's best so far.
    fn offer(&mut self, id: &Id, slot: &Slot) {
        let key = (Reverse(slot.score), id.clone());
        match self.best.get_mut(&slot.owner) {
            Some(kept) if *kept <= key => {}
            Some(kept) => *kept = key,
            None => {
                self.best.insert(slot.owner, key);
            }
        }
    }

    /// Walks the score index from the best for at most `budget` entries,
    /// stopping once `pool_size` owners are found and the score drops below
    /// the last one's (ties stay in). Returns the entries visited.
    fn walk_scores(&mut self, index: &WorkloadIndex<Id>, budget: usize, pool_size: usize) -> usize {
        let mut visited = 0;
        let mut cutoff = None;
        for ((Reverse(score), id), slot) in index.by_score.iter().take(budget) {
            visited += 1;
            if cutoff.is_some_and(|cut| *score < cut) {
                break;
            }
            if self.eligible(id, slot) {
                self.offer(id, slot);
                if cutoff.is_none() && self.best.len() >= pool_size {
                    cutoff = Some(*score);
                }
            }
        }
        visited
    }

    /// Walks the price index from the cheapest for at most `budget` entries,
    /// stopping at the first over the price cap. Returns the entries visited.
    fn walk_prices(&mut self, index: &WorkloadIndex<Id>, budget: usize) -> usize {
        let mut visited = 0;
        for ((price, id), slot) in index.by_price.iter().take(budget) {
            visited += 1;
            if *price > self.request.max_price_per_unit {
                break;
            }
            if self.eligible(id, slot) {
                self.offer(id, slot);
            }
        }
        visited
    }

    /// The best `pool_size` owners' miners, best first, extended over ties
    /// with the last one.
    fn into_pool(self, pool_size: usize) -> Vec<(u128, Id)> {
        let mut ranked: Vec<(Reverse<u128>, Id)> = self.best.into_values().collect();
        ranked.sort_unstable();
        if let Some((cut, _)) = ranked.get(pool_size.saturating_sub(1)).cloned() {
            let keep = ranked.partition_point(|(score, _)| *score <= cut);
            ranked.truncate(keep);
        }
        ranked
            .into_iter()
            .map(|(Reverse(score), id)| (score, id))
            .collect()
    }
}

/// Draws `count` of the pool (all of it if smaller) without replacement,
/// each draw with probability proportional to score among those left.
/// Owners in the pool are already distinct.
fn draw<Id>(pool: Vec<(u128, Id)>, count: usize, seed: &[u8; 32]) -> Vec<Id> {
    if pool.len() <= count {
        return pool.into_iter().map(|(_, id)| id).collect();
    }
    let weights = draw_weights(&pool);
    let mut tree = Fenwick::new(&weights);
    let mut slots: Vec<Option<Id>> = pool.into_iter().map(|(_, id)| Some(id)).collect();
    let mut chosen = Vec::with_capacity(count);
    for counter in 0..count as u64 {
        let position = tree.find(random_below(seed, counter, tree.total()));
        tree.subtract(position, weights[position]);
        chosen.extend(slots[position].take());
    }
    chosen
}

/// Scores scaled down by a common power of two so their sum stays below
/// 2⁶⁴ (a 128-bit random number reduced modulo the sum is then unbiased to
/// within 2⁻⁶⁴); every weight is at least 1 so any pooled miner can be drawn.
fn draw_weights<Id>(pool: &[(u128, Id)]) -> Vec<u128> {
    let max = pool.iter().map(|(score, _)| *score).max().unwrap_or(0);
    let bits = |x: u128| u128::BITS - x.leading_zeros();
    let length_bits = bits(pool.len() as u128);
    let shift = (bits(max) + length_bits).saturating_sub(64);
    pool.iter()
        .map(|(score, _)| (score >> shift).max(1))
        .collect()
}

/// Uniform in `0..bound` (bound > 0) from `sha256(seed ‖ counter_le)`.
fn random_below(seed: &[u8; 32], counter: u64, bound: u128) -> u128 {
    let digest = Sha256::new()
        .chain_update(seed)
        .chain_update(counter.to_le_bytes())
        .finalize();
    let mut word = [0u8; 16];
    word.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(word) % bound
}

/// A Fenwick (binary indexed) tree of weights: prefix sums and weighted
/// search in O(log n), so drawing k of n costs O(n + k log n).
struct Fenwick {
    /// 1-based partial sums.
    tree: Vec<u128>,
}

impl Fenwick {
    fn new(weights: &[u128]) -> Self {
        let mut tree = vec![0; weights.len() + 1];
        for (i, weight) in weights.iter().enumerate() {
            let node = i + 1;
            tree[node] += weight;
            let parent = node + (node & node.wrapping_neg());
            if parent < tree.len() {
                tree[parent] += tree[node];
            }
        }
        Self { tree }
    }

    /// Sum of all weights.
    fn total(&self) -> u128 {
        let mut sum = 0;
        let mut node = self.tree.len() - 1;
        while node > 0 {
            sum += self.tree[node];
            node &= node - 1;
        }
        sum
    }

    /// Lowers the weight at `position` (0-based) by `amount`.
    fn subtract(&mut self, position: usize, amount: u128) {
        let mut node = position + 1;
        while node < self.tree.len() {
            self.tree[node] -= amount;
            node += node & node.wrapping_neg();
        }
    }

    /// The 0-based position whose cumulative weight range contains `target`
    /// (`target` < total).
    fn find(&self, mut target: u128) -> usize {
        let len = self.tree.len() - 1;
        let mut position = 0;
        let mut step = if len == 0 {
            0
        } else {
            1 << (usize::BITS - 1 - len.leading_zeros())
        };
        while step > 0 {
            let next = position + step;
            if next <= len && self.tree[next] <= target {
                target -= self.tree[next];
                position = next;
            }
            step >>= 1;
        }
        position
    }
}

#[cfg(test)]
mod tests;
