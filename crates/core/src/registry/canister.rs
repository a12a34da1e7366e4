//! The registry canister's own Candid API types (the ones the router also
//! reads are in the parent module): configuration, install arguments, one
//! error enum per endpoint, listing and totals.

use super::*;
use candid::{CandidType, Principal};
use serde::{Deserialize, Serialize};

/// Bitcoin network the payout addresses must belong to.
pub use tensormine_bitcoin::Network as BtcNetwork;

/// The registry's configuration (set at install, changed by controllers).
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The only principal that may report job outcomes.
    pub router: Option<Principal>,
    /// Network of payout addresses.
    pub btc_network: BtcNetwork,
    /// Local network: worker endpoints may be plain `http://`.
    pub local: bool,
    /// Refuse every state change except configuration.
    pub read_only: bool,
    /// Seconds between probe rounds.
    pub probe_interval_secs: u64,
    /// Most health probes per round.
    pub probes_per_round: u32,
    /// Consecutive failed probes that mark a miner Offline.
    pub offline_after_failures: u32,
    /// `max_response_bytes` of a health probe.
    pub health_max_response_bytes: u64,
    /// Seconds between two capability challenges of one miner.
    pub challenge_interval_secs: u64,
    /// Seconds between challenge rounds (challenges due are started then).
    pub challenge_round_secs: u64,
    /// Most challenges started per round.
    pub challenges_per_round: u32,
    /// Challenge matrix size n (n×n×n matmul).
    pub challenge_n: u32,
    /// Rows of C sampled (with Merkle paths) per challenge.
    pub challenge_rows: u32,
    /// Milliseconds the worker has to commit.
    pub challenge_deadline_ms: u64,
    /// Seconds a miner must wait between challenges it requests.
    pub challenge_cooldown_secs: u64,
    /// Most registered miners.
    pub max_miners: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            router: None,
            btc_network: BtcNetwork::Mainnet,
            local: false,
            read_only: false,
            probe_interval_secs: 60,
            probes_per_round: 100,
            offline_after_failures: 3,
            health_max_response_bytes: 4_096,
            challenge_interval_secs: 86_400,
            challenge_round_secs: 300,
            challenges_per_round: 2,
            challenge_n: 1024,
            challenge_rows: 16,
            challenge_deadline_ms: 120_000,
            challenge_cooldown_secs: 600,
            max_miners: 100_000,
        }
    }
}

/// Changes to the configuration; absent fields keep their value.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigUpdate {
    /// `Some(None)` clears the router.
    pub router: Option<Option<Principal>>,
    pub btc_network: Option<BtcNetwork>,
    pub local: Option<bool>,
    pub read_only: Option<bool>,
    pub probe_interval_secs: Option<u64>,
    pub probes_per_round: Option<u32>,
    pub offline_after_failures: Option<u32>,
    pub health_max_response_bytes: Option<u64>,
    pub challenge_interval_secs: Option<u64>,
    pub challenge_round_secs: Option<u64>,
    pub challenges_per_round: Option<u32>,
    pub challenge_n: Option<u32>,
    pub challenge_rows: Option<u32>,
    pub challenge_deadline_ms: Option<u64>,
    pub challenge_cooldown_secs: Option<u64>,
    pub max_miners: Option<u64>,
}

/// Install argument: `Init` on install, `Upgrade` on upgrade.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum RegistryArg {
    Init(ConfigUpdate),
    Upgrade(Option<ConfigUpdate>),
}

/// Why a profile was refused (shared by register and update).
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ProfileError {
    InvalidEndpoint { reason: String },
    InvalidPublicKey { reason: String },
    InvalidGpus { reason: String },
    InvalidOffers { reason: String },
    InvalidBtcAddress { reason: String },
    InvalidRegion { reason: String },
    InvalidLabels { reason: String },
}

/// `register_miner` errors.
#[derive(CandidType, Serialize, Deserialize, Clone, PartialEq, Eq)]
pub enum RegisterError {
    AnonymousCaller,
    ReadOnly,
    AlreadyRegistered,
    /// Another miner registered this worker public key or endpoint.
    WorkerInUse {
        by: Principal,
    },
    RegistryFull {
        max_miners: u64,
    },
    InvalidProfile(ProfileError),
}

/// `update_miner` errors.
#[derive(CandidType, Serialize, Deserialize, Clone, PartialEq, Eq)]
pub enum UpdateError {
    AnonymousCaller,
    ReadOnly,
    NotRegistered,
    WorkerInUse { by: Principal },
    InvalidProfile(ProfileError),
}

/// `deregister_miner` errors.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum DeregisterError {
    AnonymousCaller,
    ReadOnly,
    NotRegistered,
}

/// `request_challenge` errors.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ChallengeError {
    AnonymousCaller,
    ReadOnly,
    NotRegistered,
    AlreadyRunning,
    TooSoon {
        retry_after_ns: u64,
    },
    /// The challenge ran and the miner failed it (now Suspended).
    Failed {
        reason: String,
    },
    /// The miner changed or deregistered while the challenge ran.
    Superseded,
}

/// `report_job_outcome` errors.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ReportError {
    NotRouter,
    ReadOnly,
    UnknownMiner,
    InvalidJobId { reason: String },
}

/// `set_config` errors.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    NotController,
    Invalid { reason: String },
}

/// `list_miners` argument.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    pub filter: MinerFilter,
    /// Resume after this principal (the previous page's `next`).
    pub start_after: Option<Principal>,
    /// Page size, 1–100 (0 means 100).
    pub limit: u32,
}

/// `list_miners` answer.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    pub miners: Vec<Miner>,
    /// Where to resume; `None` at the end. A page may hold fewer than
    /// `limit` miners (at most `MAX_SCAN` records are examined per call).
    pub next: Option<Principal>,
}

/// `totals` answer.
#[derive(CandidType, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub miners: u64,
    pub pending: u64,
    pub online: u64,
    pub offline: u64,
    pub suspended: u64,
    pub gpus: u64,
    pub gpu_memory_bytes: u128,
    pub last_seq: u64,
}

// Debug by hand: principals in their text form, not as byte arrays (the CLI
// prints these errors to users).
impl std::fmt::Debug for RegisterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegisterError::ReadOnly => write!(f, "ReadOnly"),
            RegisterError::WorkerInUse { by } => write!(f, "WorkerInUse {{ by: {by} }}"),
            RegisterError::InvalidProfile(p) => write!(f, "InvalidProfile({p:?})"),
            RegisterError::AlreadyRegistered => write!(f, "AlreadyRegistered"),
            RegisterError::RegistryFull { max_miners } => {
                write!(f, "RegistryFull {{ max_miners: {max_miners} }}")
            }
            RegisterError::AnonymousCaller => write!(f, "AnonymousCaller"),
        }
    }
}

impl std::fmt::Debug for UpdateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpdateError::NotRegistered => write!(f, "NotRegistered"),
            UpdateError::ReadOnly => write!(f, "ReadOnly"),
            UpdateError::WorkerInUse { by } => write!(f, "WorkerInUse {{ by: {by} }}"),
            UpdateError::InvalidProfile(p) => write!(f, "InvalidProfile({p:?})"),
            UpdateError::AnonymousCaller => write!(f, "AnonymousCaller"),
        }
    }
}
