//! The net's state: canisters, the message queue, call contexts and callbacks,
//! held outcalls, keys and the clock, in one [`LocalNet`].
//!
//! This is the bottom of the crate's layering. The Bitcoin canister, the
//! management canister and the scheduler (`net`) all read and change this
//! state through the primitives here (running an entry point, answering a
//! call context); nothing here calls up into them.

mod answer;
mod canister;
mod controls;
mod message;
mod run;

pub(crate) use answer::{
    did_not_reply, empty_canister_reject, out_of_cycles, stopped_reject, trap_reject,
};
pub(crate) use canister::{Canister, RunStatus, Settings};
pub(crate) use message::{
    CallContext, Callback, ContextOrigin, HeldOutcall, Message, Request, ResponseMsg,
};

use crate::error::RejectResponse;
use crate::system_api::{self, StoreData};
use crate::wasm::PreparedModule;
use candid::Principal;
use localnet_services::certification::RootKey;
use localnet_services::cost::SubnetCosts as CostSchedule;
use localnet_services::http_outcall::LiveClient;
use localnet_services::threshold::ThresholdKeys;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Engine, Linker};

/// The IC's instruction limits.
pub const UPDATE_INSTRUCTION_LIMIT: u64 = 40_000_000_000;
pub const QUERY_INSTRUCTION_LIMIT: u64 = 5_000_000_000;
pub const INSTALL_INSTRUCTION_LIMIT: u64 = 300_000_000_000;
pub const INSPECT_INSTRUCTION_LIMIT: u64 = 200_000_000;
/// The IC's limit on an ingress message.
pub const MAX_INGRESS_BYTES: usize = 2 * 1024 * 1024;
/// Cycles a canister gets when a test creates it without saying how many.
pub const DEFAULT_CANISTER_CYCLES: u128 = 100_000_000_000_000;

/// How HTTPS outcalls are answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcallMode {
    /// Performed for real (against loopback servers), with the IC's limits.
    Live,
    /// Held until a test answers them with `answer_http_outcall`.
    Mock,
}

/// How a net is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// Seeds raw_rand and the root key, so runs are reproducible.
    pub seed: [u8; 32],
    pub outcalls: OutcallMode,
    /// Nodes in the simulated subnet; decides cycle costs (13 = application subnet).
    pub subnet_size: u64,
    /// The net's clock at start, in nanoseconds since the Unix epoch.
    pub start_time_nanos: u64,
    /// Allow `http://` outcall URLs (workers on loopback); the IC allows only https.
    pub allow_plain_http: bool,
    pub outcall_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: [0; 32],
            outcalls: OutcallMode::Mock,
            subnet_size: 13,
            // 2025-01-01T00:00:00Z: a fixed start makes runs reproducible.
            start_time_nanos: 1_735_689_600_000_000_000,
            allow_plain_http: true,
            outcall_timeout: Duration::from_secs(30),
        }
    }
}

/// Identifies an ingress message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u64);

/// Where an ingress message stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IngressStatus {
    Processing,
    Completed(Result<Vec<u8>, RejectResponse>),
}

/// One executed message, for tests and benchmarks that count instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutedMessage {
    pub canister: Principal,
    /// e.g. "update inc", "query get", "reply callback", "timer", "init".
    pub kind: String,
    pub instructions: u64,
    pub trapped: bool,
    pub time: u64,
}

/// An HTTPS outcall waiting for a test's answer (mock mode).
#[derive(Clone, Debug)]
pub struct PendingOutcall {
    pub id: u64,
    pub canister: Principal,
    pub request: ic_management_canister_types::HttpRequestArgs,
}

/// A local Internet Computer: one subnet, a management canister, and the
/// canisters installed on it.
pub struct LocalNet {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<StoreData>,
    pub(crate) config: Config,
    pub(crate) time: u64,
    pub(crate) canisters: BTreeMap<Principal, Canister>,
    pub(crate) next_canister_index: u64,
    pub(crate) queue: VecDeque<Message>,
    pub(crate) ingress: BTreeMap<MessageId, IngressStatus>,
    pub(crate) contexts: BTreeMap<u64, CallContext>,
    pub(crate) callbacks: BTreeMap<u64, Callback>,
    pub(crate) next_id: u64,
    pub(crate) held_outcalls: BTreeMap<u64, HeldOutcall>,
    pub(crate) message_log: Vec<ExecutedMessage>,
    pub(crate) rng: ChaCha20Rng,
    pub(crate) root_key: Arc<RootKey>,
    pub(crate) root_key_der: Arc<Vec<u8>>,
    pub(crate) keys: ThresholdKeys,
    pub(crate) costs: Arc<CostSchedule>,
    pub(crate) live_client: LiveClient,
    /// Fault injection: canister → how many more callbacks run normally
    /// before one traps (see [`LocalNet::trap_callback`]).
    pub(crate) trap_callback_after: BTreeMap<Principal, u32>,
    pub(crate) subnet_id: Principal,
    pub(crate) module_cache: HashMap<[u8; 32], Arc<PreparedModule>>,
    /// Bumped on every install/reinstall/uninstall, per canister.
    pub(crate) module_epochs: HashMap<Principal, u64>,
    /// The Bitcoin canister's regtest chain, created on first use.
    pub(crate) bitcoin: Option<Box<localnet_services::bitcoin::BitcoinCanister>>,
}

/// The wasmtime configuration: deterministic, as the replica's.
fn engine() -> Engine {
    let mut config = wasmtime::Config::new();
    config
        .consume_fuel(true)
        .cranelift_nan_canonicalization(true)
        .wasm_memory64(false)
        .wasm_multi_memory(false)
        .wasm_simd(true)
        .wasm_relaxed_simd(true)
        .relaxed_simd_deterministic(true)
        .wasm_bulk_memory(true)
        .async_stack_size(5 * 1024 * 1024 + 64 * 1024)
        .max_wasm_stack(5 * 1024 * 1024);
    Engine::new(&config).expect("a valid wasmtime configuration")
}

impl Default for LocalNet {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalNet {
    /// A net with the default configuration (mocked outcalls).
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Self {
        let engine = engine();
        let linker = system_api::linker(&engine);
        let root_key = RootKey::from_seed(config.seed);
        let root_key_der = Arc::new(root_key.public_key_der());
        let subnet_id = Principal::self_authenticating(root_key_der.as_slice());
        let live_client = LiveClient {
            timeout: config.outcall_timeout,
            allow_plain_http: config.allow_plain_http,
        };
        LocalNet {
            engine,
            linker,
            time: config.start_time_nanos,
            canisters: BTreeMap::new(),
            next_canister_index: 0,
            queue: VecDeque::new(),
            ingress: BTreeMap::new(),
            contexts: BTreeMap::new(),
            callbacks: BTreeMap::new(),
            next_id: 1,
            held_outcalls: BTreeMap::new(),
            message_log: Vec::new(),
            rng: ChaCha20Rng::from_seed(config.seed),
            root_key: Arc::new(root_key),
            root_key_der,
            keys: ThresholdKeys::new(),
            costs: Arc::new(CostSchedule::new(config.subnet_size as u32)),
            live_client,
            trap_callback_after: BTreeMap::new(),
            subnet_id,
            module_cache: HashMap::new(),
            module_epochs: HashMap::new(),
            bitcoin: None,
            config,
        }
    }

    pub(crate) fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}
