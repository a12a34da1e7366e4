//! Registry domain types shared by the registry canister, the router (which
//! syncs from the registry's change feed) and front ends: the miner record,
//! its GPUs and workload offers, liveness status, verified capability,
//! reputation evidence, change-feed entries, the field limits, and the
//! reputation score. Candid types; no I/O.

mod canister;
pub use canister::*;

use candid::{CandidType, Principal};
use serde::{Deserialize, Serialize};

/// Longest worker endpoint URL.
pub const MAX_URL_LEN: usize = 256;
/// Worker ed25519 public key length.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Most GPU entries per miner.
pub const MAX_GPUS: usize = 16;
/// Longest GPU model name.
pub const MAX_GPU_MODEL_LEN: usize = 64;
/// Most GPUs of one model (an entry's `count`).
pub const MAX_GPU_COUNT: u32 = 1024;
/// Most workload offers per miner (one per workload).
pub const MAX_OFFERS: usize = 8;
/// Longest BTC address (a P2TR address has 62 characters, bech32 allows 90).
pub const MAX_BTC_ADDRESS_LEN: usize = 90;
/// Longest region name.
pub const MAX_REGION_LEN: usize = 32;
/// Most labels per miner.
pub const MAX_LABELS: usize = 8;
/// Longest label.
pub const MAX_LABEL_LEN: usize = 32;
/// Highest asking price, in sats per unit (21M BTC).
pub const MAX_PRICE_SATS: u64 = 2_100_000_000_000_000;
/// Largest page of a listing.
pub const MAX_PAGE: u32 = 100;

/// A workload a miner offers (the worker API's [`crate::api::Workload`]).
#[derive(
    CandidType, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
pub enum WorkloadKind {
    /// Dense f32 GEMM; unit: GFLOP (10⁹ multiply-adds × 2).
    #[serde(rename = "matmul")]
    Matmul,
    /// Sentence embeddings; unit: 1,000 sentences.
    #[serde(rename = "embed")]
    Embed,
}

impl From<WorkloadKind> for crate::api::Workload {
    fn from(kind: WorkloadKind) -> Self {
        match kind {
            WorkloadKind::Matmul => crate::api::Workload::Matmul,
            WorkloadKind::Embed => crate::api::Workload::Embed,
        }
    }
}

impl From<crate::api::Workload> for WorkloadKind {
    fn from(w: crate::api::Workload) -> Self {
        match w {
            crate::api::Workload::Matmul => WorkloadKind::Matmul,
            crate::api::Workload::Embed => WorkloadKind::Embed,
        }
    }
}

/// GPUs of one model.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Gpu {
    /// Model name, e.g. "NVIDIA RTX 4090".
    pub model: String,
    /// Memory of one card in bytes.
    pub memory_bytes: u64,
    /// Number of such cards (≥ 1).
    pub count: u32,
}

/// A workload and its asking price.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WorkloadOffer {
    /// The workload.
    pub workload: WorkloadKind,
    /// Asking price in satoshis per unit of the workload.
    pub price_sats_per_unit: u64,
}

/// What a miner declares (register and update).
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct MinerProfile {
    /// Worker base URL (`https://host[:port]`, no query or fragment).
    pub endpoint: String,
    /// The worker's ed25519 public key (32 bytes).
    pub worker_public_key: Vec<u8>,
    /// Hardware.
    pub gpus: Vec<Gpu>,
    /// Workloads with prices (each workload at most once).
    pub offers: Vec<WorkloadOffer>,
    /// Bitcoin payout address for the configured network.
    pub btc_address: String,
    /// Region, e.g. "eu-west".
    pub region: String,
    /// Free labels (`a-z 0-9 - _ . :`).
    pub labels: Vec<String>,
}

/// Liveness and standing of a miner.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MinerStatus {
    /// Registered; no health probe has answered yet.
    Pending,
    /// The last probe answered with a health body matching the registered key.
    Online,
    /// `offline_after_failures` consecutive probes failed.
    Offline,
    /// A capability challenge failed; only a passed challenge (after an
    /// update) lifts it.
    Suspended,
}

/// A verified capability: a seeded n×n×n matmul committed within `elapsed_ms`
/// and checked by Freivalds plus sampled rows.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// Matrix size of the challenge.
    pub n: u32,
    /// Time from sending the challenge to receiving the commitment (the
    /// canister's clock, at least 1 ms).
    pub elapsed_ms: u64,
    /// `2·n³ / elapsed`: a lower bound on the worker's FLOP/s.
    pub flops_lower_bound: u64,
    /// When it was verified (ns since the epoch).
    pub verified_at_ns: u64,
}

/// Evidence behind a miner's reputation.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Reputation {
    /// Jobs the router reported as verified.
    pub jobs_verified: u64,
    /// Jobs the router reported as failed verification or timed out.
    pub jobs_failed: u64,
    /// Capability challenges passed.
    pub challenges_passed: u64,
    /// Capability challenges failed.
    pub challenges_failed: u64,
    /// Health probes answered.
    pub probes_ok: u64,
    /// Health probes failed.
    pub probes_failed: u64,
    /// Score in parts per million ([`reputation_score`]).
    pub score_ppm: u32,
}

/// Reputation score in parts per million from the evidence counts: a
/// Laplace-smoothed success rate of each kind of evidence (so a new miner
/// starts at one half), weighted jobs 60 %, challenges 25 %, uptime 15 %.
/// A miner with any failed challenge among its last evidence is capped by
/// the challenge term, which drops quickly.
pub fn reputation_score(r: &Reputation) -> u32 {
    fn rate(good: u64, bad: u64) -> f64 {
        (good as f64 + 1.0) / ((good + bad) as f64 + 2.0)
    }
    let jobs = rate(r.jobs_verified, r.jobs_failed.saturating_mul(4));
    let challenges = rate(r.challenges_passed, r.challenges_failed.saturating_mul(4));
    let uptime = rate(r.probes_ok, r.probes_failed);
    let score = 0.60 * jobs + 0.25 * challenges + 0.15 * uptime;
    (score * 1_000_000.0).round().clamp(0.0, 1_000_000.0) as u32
}

/// A registered miner.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Miner {
    /// The miner's principal (the caller that registered).
    pub principal: Principal,
    /// What the miner declared.
    pub profile: MinerProfile,
    /// Liveness and standing.
    pub status: MinerStatus,
    /// Registration time (ns).
    pub registered_at_ns: u64,
    /// Last profile update (ns).
    pub updated_at_ns: u64,
    /// Last health probe (ns), if any.
    pub last_probe_ns: Option<u64>,
    /// Consecutive failed probes.
    pub consecutive_probe_failures: u32,
    /// Best current verified capability.
    pub capability: Option<Capability>,
    /// Last capability challenge (ns), if any.
    pub last_challenge_ns: Option<u64>,
    /// Why the last challenge failed, while suspended.
    pub suspension_reason: Option<String>,
    /// Reputation with its evidence.
    pub reputation: Reputation,
    /// Sequence number of the miner's last change (see [`ChangeEntry`]).
    pub seq: u64,
}

impl Miner {
    /// Lowest asking price for `workload`, if offered.
    pub fn price_of(&self, workload: WorkloadKind) -> Option<u64> {
        self.profile
            .offers
            .iter()
            .find(|o| o.workload == workload)
            .map(|o| o.price_sats_per_unit)
    }

    /// Largest memory of one GPU card.
    pub fn max_gpu_memory(&self) -> u64 {
        self.profile
            .gpus
            .iter()
            .map(|g| g.memory_bytes)
            .max()
            .unwrap_or(0)
    }
}

/// One entry of the change feed: the miner's current record, or `None` once
/// it deregistered. Only the latest change of each miner is kept, so a
/// reader that resumes from its last `seq` gets every miner that changed.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ChangeEntry {
    /// Sequence number (strictly increasing).
    pub seq: u64,
    /// The miner.
    pub principal: Principal,
    /// Current record; `None` when deregistered.
    pub miner: Option<Miner>,
}

/// A verified or failed job, reported by the router to the registry.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    pub miner: Principal,
    pub job_id: String,
    pub verified: bool,
}

/// Answer of `changes_since`.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ChangesPage {
    /// Changes with `seq` greater than the request's, oldest first.
    pub entries: Vec<ChangeEntry>,
    /// The highest sequence number assigned so far; resume from the last
    /// entry's seq, or from this when `entries` is empty.
    pub last_seq: u64,
}

/// Filters of `list_miners`.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct MinerFilter {
    /// Only miners offering this workload.
    pub workload: Option<WorkloadKind>,
    /// Only miners with a GPU card of at least this memory.
    pub min_gpu_memory_bytes: Option<u64>,
    /// Only miners in this status.
    pub status: Option<MinerStatus>,
    /// Only miners whose price (for `workload`, or their lowest) is at most this.
    pub max_price_sats: Option<u64>,
}

/// What a [`MinerFilter`] looks at: small enough for the registry to keep
/// for every miner in memory, so filtered listings don't decode records
/// that don't match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerFacts {
    /// Liveness and standing.
    pub status: MinerStatus,
    /// Largest memory of one GPU card.
    pub max_gpu_memory: u64,
    /// Asking price per offered workload.
    pub prices: Vec<(WorkloadKind, u64)>,
}

impl MinerFacts {
    /// The facts of `miner`.
    pub fn of(miner: &Miner) -> Self {
        Self {
            status: miner.status,
            max_gpu_memory: miner.max_gpu_memory(),
            prices: miner
                .profile
                .offers
                .iter()
                .map(|o| (o.workload, o.price_sats_per_unit))
                .collect(),
        }
    }
}

impl MinerFilter {
    /// True when `miner` passes every set filter.
    pub fn matches(&self, miner: &Miner) -> bool {
        self.matches_facts(&MinerFacts::of(miner))
    }

    /// True when a miner with these facts passes every set filter.
    pub fn matches_facts(&self, facts: &MinerFacts) -> bool {
        if self.status.is_some_and(|status| facts.status != status) {
            return false;
        }
        if self
            .min_gpu_memory_bytes
            .is_some_and(|min| facts.max_gpu_memory < min)
        {
            return false;
        }
        let price = match self.workload {
            Some(w) => match facts.prices.iter().find(|(kind, _)| *kind == w) {
                Some((_, p)) => Some(*p),
                None => return false,
            },
            None => facts.prices.iter().map(|(_, p)| *p).min(),
        };
        match self.max_price_sats {
            Some(max) => price.is_some_and(|p| p <= max),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miner(offers: Vec<WorkloadOffer>, mem: u64, status: MinerStatus) -> Miner {
        Miner {
            principal: Principal::anonymous(),
            profile: MinerProfile {
                endpoint: "https://w".into(),
                worker_public_key: vec![0; 32],
                gpus: vec![Gpu {
                    model: "g".into(),
                    memory_bytes: mem,
                    count: 1,
                }],
                offers,
                btc_address: String::new(),
                region: String::new(),
                labels: vec![],
            },
            status,
            registered_at_ns: 0,
            updated_at_ns: 0,
            last_probe_ns: None,
            consecutive_probe_failures: 0,
            capability: None,
            last_challenge_ns: None,
            suspension_reason: None,
            reputation: Reputation::default(),
            seq: 0,
        }
    }

    #[test]
    fn filter_checks_each_field() {
        let offer = |w, p| WorkloadOffer {
            workload: w,
            price_sats_per_unit: p,
        };
        let m = miner(
            vec![offer(WorkloadKind::Matmul, 10)],
            24 << 30,
            MinerStatus::Online,
        );
        assert!(MinerFilter::default().matches(&m));
        let f = |workload, mem, status, price| MinerFilter {
            workload,
            min_gpu_memory_bytes: mem,
            status,
            max_price_sats: price,
        };
        assert!(f(
            Some(WorkloadKind::Matmul),
            Some(24 << 30),
            Some(MinerStatus::Online),
            Some(10)
        )
        .matches(&m));
        assert!(!f(Some(WorkloadKind::Embed), None, None, None).matches(&m));
        assert!(!f(None, Some((24 << 30) + 1), None, None).matches(&m));
        assert!(!f(None, None, Some(MinerStatus::Offline), None).matches(&m));
        assert!(!f(None, None, None, Some(9)).matches(&m));
        let no_offers = miner(vec![], 1, MinerStatus::Online);
        assert!(!f(None, None, None, Some(u64::MAX)).matches(&no_offers));
    }

    #[test]
    fn reputation_rewards_evidence_and_punishes_failures() {
        let fresh = reputation_score(&Reputation::default());
        assert_eq!(fresh, 500_000);
        let good = Reputation {
            jobs_verified: 50,
            challenges_passed: 5,
            probes_ok: 1000,
            ..Default::default()
        };
        let bad = Reputation {
            jobs_failed: 3,
            ..good.clone()
        };
        assert!(reputation_score(&good) > 900_000);
        assert!(reputation_score(&bad) < reputation_score(&good));
        let max = Reputation {
            jobs_verified: u64::MAX,
            challenges_passed: u64::MAX,
            probes_ok: u64::MAX,
            ..Default::default()
        };
        assert!(reputation_score(&max) <= 1_000_000);
    }
}
