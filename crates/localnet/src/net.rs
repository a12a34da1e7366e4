//! The net: canisters, message queues, call contexts and the scheduler.
//!
//! Messages (ingress, inter-canister requests and responses) go through one FIFO
//! queue, so calls between any two canisters are delivered in the order they
//! were made. Each request opens a call context; each call a canister makes
//! registers a callback in that context; a context is answered at most once and
//! closed when no callback is outstanding — "did not reply" if nobody answered.

use crate::error::RejectResponse;
use crate::execution::{Commit, EntryPoint, ExecError, Execution, WasmInstance};
use crate::stable::StableMemory;
use crate::system_api::{self, ApiType, MessageCtx, OutgoingCall, Response, StoreData};
use crate::wasm::{self, PreparedModule};
use candid::Principal;
use ic_error_types::{ErrorCode, RejectCode};
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
/// Messages processed per tick before the scheduler yields (a canister that
/// calls itself forever must not hang the test).
const MAX_MESSAGES_PER_TICK: usize = 1_000_000;
const MESSAGE_LOG_CAPACITY: usize = 200_000;
const CANISTER_LOG_CAPACITY: usize = 10_000;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunStatus {
    Running,
    Stopping,
    Stopped,
}

pub(crate) struct Canister {
    pub id: Principal,
    pub controllers: Vec<Principal>,
    pub cycles: u128,
    pub status: RunStatus,
    pub version: u64,
    pub wasm: Option<WasmInstance>,
    pub stable: StableMemory,
    pub certified_data: Vec<u8>,
    pub global_timer: u64,
    pub settings: crate::management::Settings,
    /// Answers owed to `stop_canister` callers once the canister has stopped.
    pub stop_waiters: Vec<ContextOrigin>,
    pub log: VecDeque<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum ContextOrigin {
    Ingress {
        id: MessageId,
    },
    Canister {
        callback_id: u64,
    },
    /// Timers and heartbeats: nobody waits for an answer.
    System,
}

pub(crate) struct CallContext {
    pub canister: Principal,
    pub caller: Principal,
    pub origin: ContextOrigin,
    pub responded: bool,
    pub cycles_available: u128,
    pub outstanding: u32,
    pub deadline: u64,
    pub instructions: u64,
}

pub(crate) struct Callback {
    pub canister: Principal,
    pub context: u64,
    pub call: OutgoingCall,
    /// Best-effort calls: when the caller gives up (SYS_UNKNOWN).
    pub deadline: Option<u64>,
    /// The module version the callback belongs to; a reinstall invalidates it.
    pub module_epoch: u64,
}

pub(crate) enum Message {
    Request(Request),
    Response(ResponseMsg),
}

pub(crate) struct Request {
    pub sender: Principal,
    pub receiver: Principal,
    pub method: String,
    pub payload: Vec<u8>,
    pub cycles: u128,
    pub origin: ContextOrigin,
    pub deadline: u64,
}

pub(crate) struct ResponseMsg {
    pub callback_id: u64,
    pub result: Result<Vec<u8>, (RejectCode, String)>,
    pub refund: u128,
}

pub(crate) struct HeldOutcall {
    pub canister: Principal,
    pub request: ic_management_canister_types::HttpRequestArgs,
    pub origin: ContextOrigin,
    pub refund: u128,
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
    trap_callback_after: BTreeMap<Principal, u32>,
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

    // ----- time -----------------------------------------------------------------

    /// The net's clock in nanoseconds since the Unix epoch.
    pub fn time(&self) -> u64 {
        self.time
    }

    /// Moves the clock forward (timers that become due fire on the next tick).
    pub fn advance_time(&mut self, by: Duration) {
        self.time = self.time.saturating_add(by.as_nanos() as u64);
    }

    /// Sets the clock; it never goes backwards (IC time is monotonic).
    pub fn set_time(&mut self, nanos: u64) -> Result<(), String> {
        if nanos < self.time {
            return Err(format!(
                "time is monotonic: cannot go back from {} to {nanos}",
                self.time
            ));
        }
        self.time = nanos;
        Ok(())
    }

    /// One round: expires best-effort calls past their deadline, runs due
    /// timers and heartbeats, then delivers every queued message.
    pub fn tick(&mut self) {
        self.expire_best_effort_calls();
        self.run_system_tasks();
        self.drain_queue();
    }

    /// Processes queued messages until none are left (bounded).
    pub(crate) fn drain_queue(&mut self) -> usize {
        let mut processed = 0;
        while processed < MAX_MESSAGES_PER_TICK {
            let Some(message) = self.queue.pop_front() else {
                break;
            };
            self.process(message);
            processed += 1;
        }
        processed
    }

    fn process(&mut self, message: Message) {
        match message {
            Message::Request(request) if request.receiver == Principal::management_canister() => {
                self.handle_management_request(request)
            }
            Message::Request(request)
                if request.receiver == crate::bitcoin::bitcoin_canister_id() =>
            {
                self.handle_bitcoin_request(request)
            }
            Message::Request(request) => self.deliver_request(request),
            Message::Response(response) => self.deliver_response(response),
        }
    }

    // ----- ingress --------------------------------------------------------------

    /// Submits an ingress update call; it runs on the next `tick`/`await_call`.
    pub fn submit_call(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<MessageId, RejectResponse> {
        if arg.len() > MAX_INGRESS_BYTES {
            return Err(RejectResponse::new(ErrorCode::CanisterContractViolation,
                format!(
                    "Request payload of {} bytes exceeds the ingress message limit of {MAX_INGRESS_BYTES} bytes",
                    arg.len()
                ),
            ));
        }
        if canister == Principal::management_canister() {
            crate::management::check_ingress_method(method)?;
        } else if canister == crate::bitcoin::bitcoin_canister_id() {
            // A system canister without Wasm: nothing to inspect, nobody to charge.
        } else {
            self.inspect_message(canister, sender, method, &arg)?;
            self.charge_ingress_induction(canister, method, &arg)?;
        }
        let id = MessageId(self.fresh_id());
        self.ingress.insert(id, IngressStatus::Processing);
        self.queue.push_back(Message::Request(Request {
            sender,
            receiver: canister,
            method: method.to_string(),
            payload: arg,
            cycles: 0,
            origin: ContextOrigin::Ingress { id },
            deadline: 0,
        }));
        Ok(id)
    }

    /// The receiving canister pays for inducting an ingress message.
    fn charge_ingress_induction(
        &mut self,
        canister: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<(), RejectResponse> {
        let fee = self
            .costs
            .ingress_induction((method.len() + arg.len()) as u64);
        let c = self
            .canisters
            .get_mut(&canister)
            .ok_or_else(|| RejectResponse::canister_not_found(&canister))?;
        if c.cycles < fee {
            return Err(out_of_cycles(&canister, c.cycles, fee));
        }
        c.cycles -= fee;
        Ok(())
    }

    pub fn ingress_status(&self, id: MessageId) -> IngressStatus {
        self.ingress
            .get(&id)
            .cloned()
            .unwrap_or(IngressStatus::Processing)
    }

    /// Runs the net until the ingress message completes. A call that cannot
    /// progress (e.g. waiting for a mocked outcall nobody answered) returns an
    /// `IngressMessageTimeout` error naming what it waits for.
    pub fn await_call(&mut self, id: MessageId) -> Result<Vec<u8>, RejectResponse> {
        const IDLE_TICKS: usize = 3;
        let mut idle = 0;
        loop {
            if let Some(IngressStatus::Completed(result)) = self.ingress.get(&id) {
                return result.clone();
            }
            let progressed = self.drain_queue() > 0;
            if !progressed {
                self.expire_best_effort_calls();
                let timers = self.run_system_tasks();
                if timers == 0 && self.queue.is_empty() {
                    idle += 1;
                }
            }
            if idle >= IDLE_TICKS {
                return Err(self.stuck_error(id));
            }
        }
    }

    fn stuck_error(&self, id: MessageId) -> RejectResponse {
        let waiting = self.held_outcalls.len();
        let reason = if waiting > 0 {
            format!(
                "it waits for {waiting} mocked HTTPS outcall(s): answer them with answer_http_outcall, then await_call({}) again",
                id.0
            )
        } else {
            "no message, timer or outcall can make progress on it".to_string()
        };
        RejectResponse::new(
            ErrorCode::IngressMessageTimeout,
            format!(
                "localnet: ingress message {} is still processing: {reason}",
                id.0
            ),
        )
    }

    /// Submits an update call and runs the net until it completes.
    pub fn update_call(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, RejectResponse> {
        let id = self.submit_call(canister, sender, method, arg)?;
        self.await_call(id)
    }

    /// A query through the query interface: non-replicated, state discarded,
    /// a data certificate available.
    pub fn query_call(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, RejectResponse> {
        if arg.len() > MAX_INGRESS_BYTES {
            return Err(RejectResponse::new(
                ErrorCode::CanisterContractViolation,
                format!(
                    "Query payload of {} bytes exceeds the limit of {MAX_INGRESS_BYTES} bytes",
                    arg.len()
                ),
            ));
        }
        let c = self
            .canisters
            .get(&canister)
            .ok_or_else(|| RejectResponse::canister_not_found(&canister))?;
        if c.status != RunStatus::Running {
            return Err(stopped_reject(&canister, c.status));
        }
        let Some(wasm) = &c.wasm else {
            return Err(empty_canister_reject(&canister));
        };
        if !wasm.prepared.exports.queries.contains(method) {
            let kind = if wasm.prepared.exports.composite_queries.contains(method) {
                "composite query methods are not supported by localnet"
            } else {
                "no query method"
            };
            return Err(RejectResponse::new(
                ErrorCode::CanisterMethodNotFound,
                format!("Error from Canister {canister}: Canister has {kind} '{method}'."),
            ));
        }
        let mut ctx = self.base_ctx(
            canister,
            ApiType::NonReplicatedQuery,
            QUERY_INSTRUCTION_LIMIT,
        );
        ctx.caller = sender;
        ctx.arg = arg;
        ctx.certificate = Some(self.certificate_source(canister));
        let exec = self.execute(
            canister,
            &EntryPoint::Export(format!("canister_query {method}")),
            ctx,
            Commit::Nothing,
            format!("query {method}"),
        );
        self.restore_stable(canister, exec.ctx.stable);
        match (exec.result, exec.ctx.response) {
            (Err(e), _) => Err(trap_reject(&canister, e)),
            (Ok(()), Some(Response::Reply(bytes))) => Ok(bytes),
            (Ok(()), Some(Response::Reject(msg))) => Err(RejectResponse::canister_reject(msg)),
            (Ok(()), None) => Err(did_not_reply(&canister)),
        }
    }

    fn certificate_source(&self, canister: Principal) -> system_api::CertificateSource {
        let root_key = self.root_key.clone();
        let time = self.time;
        let data = self.canisters[&canister].certified_data.clone();
        system_api::CertificateSource {
            build: Box::new(move || root_key.canister_data_certificate(time, canister, &data)),
            cached: None,
        }
    }

    /// Runs `canister_inspect_message` for an ingress update, if exported.
    fn inspect_message(
        &mut self,
        canister: Principal,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<(), RejectResponse> {
        let c = self
            .canisters
            .get(&canister)
            .ok_or_else(|| RejectResponse::canister_not_found(&canister))?;
        let Some(wasm) = &c.wasm else { return Ok(()) };
        if !wasm.prepared.exports.inspect_message || !wasm.prepared.exports.updates.contains(method)
        {
            return Ok(());
        }
        let mut ctx = self.base_ctx(canister, ApiType::InspectMessage, INSPECT_INSTRUCTION_LIMIT);
        ctx.caller = sender;
        ctx.method_name = method.to_string();
        ctx.arg = arg.to_vec();
        let exec = self.execute(
            canister,
            &EntryPoint::Export("canister_inspect_message".into()),
            ctx,
            Commit::Nothing,
            "inspect_message".into(),
        );
        self.restore_stable(canister, exec.ctx.stable);
        match exec.result {
            Err(e) => Err(trap_reject(&canister, e)),
            Ok(()) if exec.ctx.message_accepted => Ok(()),
            Ok(()) => Err(RejectResponse::new(
                ErrorCode::CanisterRejectedMessage,
                format!("Error from Canister {canister}: Canister rejected the message"),
            )),
        }
    }

    // ----- executing messages ---------------------------------------------------

    /// A context with the canister's current state; stable memory is moved in
    /// and must be put back with `restore_stable` (or `apply`).
    pub(crate) fn base_ctx(&mut self, canister: Principal, api: ApiType, limit: u64) -> MessageCtx {
        let mut ctx = MessageCtx::new(api, canister, self.costs.clone(), self.root_key_der.clone());
        let c = self
            .canisters
            .get_mut(&canister)
            .expect("base_ctx for an existing canister");
        ctx.balance = c.cycles;
        ctx.controllers = c.controllers.clone();
        ctx.status = match c.status {
            RunStatus::Running => 1,
            RunStatus::Stopping => 2,
            RunStatus::Stopped => 3,
        };
        ctx.version = c.version;
        ctx.stable = std::mem::take(&mut c.stable);
        ctx.global_timer = c.global_timer;
        ctx.env_vars = c.settings.environment_variables.clone();
        ctx.time = self.time;
        ctx.subnet_id = self.subnet_id;
        ctx.instruction_limit = limit;
        ctx
    }

    pub(crate) fn restore_stable(&mut self, canister: Principal, stable: StableMemory) {
        if let Some(c) = self.canisters.get_mut(&canister) {
            c.stable = stable;
        }
    }

    /// Runs an entry point of an installed canister and logs it.
    pub(crate) fn execute(
        &mut self,
        canister: Principal,
        entry: &EntryPoint,
        ctx: MessageCtx,
        commit: Commit,
        kind: String,
    ) -> Execution {
        let c = self
            .canisters
            .get_mut(&canister)
            .expect("execute on an existing canister");
        let wasm = c.wasm.as_mut().expect("execute on an installed canister");
        let exec = wasm.run(entry, ctx, commit);
        for line in &exec.ctx.debug_log {
            if std::env::var_os("LOCALNET_DEBUG_PRINT").is_some() {
                eprintln!("[{canister}] {line}");
            }
            if c.log.len() == CANISTER_LOG_CAPACITY {
                c.log.pop_front();
            }
            c.log.push_back(line.clone());
        }
        if let Err(e) = &exec.result {
            if c.log.len() == CANISTER_LOG_CAPACITY {
                c.log.pop_front();
            }
            c.log.push_back(format!("[TRAP] {kind}: {}", e.message));
        }
        self.log_message(canister, kind, exec.instructions, exec.result.is_err());
        exec
    }

    fn log_message(&mut self, canister: Principal, kind: String, instructions: u64, trapped: bool) {
        if self.message_log.len() >= MESSAGE_LOG_CAPACITY {
            self.message_log.drain(..MESSAGE_LOG_CAPACITY / 2);
        }
        self.message_log.push(ExecutedMessage {
            canister,
            kind,
            instructions,
            trapped,
            time: self.time,
        });
    }

    /// Applies a finished execution: stable memory always (already rolled back
    /// on a trap); on success the balance, certified data, timer and the calls
    /// made; the execution fee in every case.
    fn apply(&mut self, canister: Principal, context: Option<u64>, exec: &mut Execution) {
        let outgoing = std::mem::take(&mut exec.ctx.outgoing);
        let epoch = self.module_epoch(canister);
        self.commit_state(canister, exec);
        if exec.result.is_err() {
            return;
        }
        for call in outgoing {
            self.send_call(canister, context, call, epoch);
        }
    }

    /// Puts a finished execution's canister state back: stable memory always
    /// (already rolled back if it trapped); balance, certified data and timer
    /// only if it did not trap; the execution fee in every case.
    pub(crate) fn commit_state(&mut self, canister: Principal, exec: &mut Execution) {
        let fee = self.costs.update_execution(exec.instructions);
        let ctx = &mut exec.ctx;
        let c = self
            .canisters
            .get_mut(&canister)
            .expect("committing state of an existing canister");
        c.stable = std::mem::take(&mut ctx.stable);
        if exec.result.is_ok() {
            c.cycles = ctx.balance;
            if let Some(data) = ctx.certified_data.take() {
                c.certified_data = data;
            }
            c.global_timer = ctx.global_timer;
        }
        c.cycles = c.cycles.saturating_sub(fee);
    }

    fn send_call(
        &mut self,
        canister: Principal,
        context: Option<u64>,
        call: OutgoingCall,
        epoch: u64,
    ) {
        let callback_id = self.fresh_id();
        let deadline = call
            .timeout_seconds
            .map(|s| self.time + s as u64 * 1_000_000_000);
        let context = context.unwrap_or_else(|| self.system_context(canister));
        if let Some(ctx) = self.contexts.get_mut(&context) {
            ctx.outstanding += 1;
        }
        self.queue.push_back(Message::Request(Request {
            sender: canister,
            receiver: call.callee,
            method: call.method.clone(),
            payload: call.payload.clone(),
            cycles: call.cycles,
            origin: ContextOrigin::Canister { callback_id },
            deadline: deadline.unwrap_or(0),
        }));
        self.callbacks.insert(
            callback_id,
            Callback {
                canister,
                context,
                call,
                deadline,
                module_epoch: epoch,
            },
        );
    }

    /// A call context for a timer or heartbeat, which answers nobody.
    fn system_context(&mut self, canister: Principal) -> u64 {
        let id = self.fresh_id();
        self.contexts.insert(
            id,
            CallContext {
                canister,
                caller: Principal::management_canister(),
                origin: ContextOrigin::System,
                responded: true,
                cycles_available: 0,
                outstanding: 0,
                deadline: 0,
                instructions: 0,
            },
        );
        id
    }

    pub(crate) fn module_epoch(&self, canister: Principal) -> u64 {
        self.module_epochs.get(&canister).copied().unwrap_or(0)
    }

    /// Delivers a request to a canister's update or query method.
    fn deliver_request(&mut self, request: Request) {
        let receiver = request.receiver;
        let entry = match self.check_receiver(&request) {
            Ok(entry) => entry,
            Err(reject) => return self.answer_origin(&request.origin, Err(reject), request.cycles),
        };
        let (api, method_export, commit) = entry;
        let context_id = self.fresh_id();
        self.contexts.insert(
            context_id,
            CallContext {
                canister: receiver,
                caller: request.sender,
                origin: request.origin.clone(),
                responded: false,
                cycles_available: request.cycles,
                outstanding: 0,
                deadline: request.deadline,
                instructions: 0,
            },
        );
        let limit = if api == ApiType::ReplicatedQuery {
            QUERY_INSTRUCTION_LIMIT
        } else {
            UPDATE_INSTRUCTION_LIMIT
        };
        let mut ctx = self.base_ctx(receiver, api, limit);
        ctx.caller = request.sender;
        ctx.arg = request.payload;
        ctx.cycles_available = request.cycles;
        ctx.deadline = request.deadline;
        let kind = format!(
            "{} {}",
            if api == ApiType::Update {
                "update"
            } else {
                "query"
            },
            request.method
        );
        let mut exec = self.execute(
            receiver,
            &EntryPoint::Export(method_export),
            ctx,
            commit,
            kind,
        );
        if commit == Commit::Nothing && exec.result.is_ok() {
            // A query called as an update: its reply and the cycles it
            // accepted stand; its other effects do not (the spec's as_update).
            exec.ctx.outgoing.clear();
            exec.ctx.balance = self.canisters[&receiver].cycles + exec.ctx.cycles_accepted;
            exec.ctx.certified_data = None;
            exec.ctx.global_timer = self.canisters[&receiver].global_timer;
        }
        self.finish_message(receiver, context_id, exec);
    }

    /// Which entry point a request runs, or the reject the IC gives.
    fn check_receiver(
        &self,
        request: &Request,
    ) -> Result<(ApiType, String, Commit), RejectResponse> {
        let id = &request.receiver;
        let c = self
            .canisters
            .get(id)
            .ok_or_else(|| RejectResponse::canister_not_found(id))?;
        if c.status != RunStatus::Running {
            return Err(stopped_reject(id, c.status));
        }
        let wasm = c.wasm.as_ref().ok_or_else(|| empty_canister_reject(id))?;
        // The IC reserves the cost of a maximal execution before running a message.
        let prepay = self.costs.update_execution(UPDATE_INSTRUCTION_LIMIT);
        if c.cycles < prepay {
            return Err(out_of_cycles(id, c.cycles, prepay));
        }
        let exports = &wasm.prepared.exports;
        let method = &request.method;
        if exports.updates.contains(method) {
            Ok((
                ApiType::Update,
                format!("canister_update {method}"),
                Commit::All,
            ))
        } else if exports.queries.contains(method) {
            Ok((
                ApiType::ReplicatedQuery,
                format!("canister_query {method}"),
                Commit::Nothing,
            ))
        } else if exports.composite_queries.contains(method) {
            Err(RejectResponse::new(
                ErrorCode::CompositeQueryCalledInReplicatedMode,
                format!(
                    "Error from Canister {id}: Composite query cannot be called in replicated mode"
                ),
            ))
        } else {
            Err(RejectResponse::new(
                ErrorCode::CanisterMethodNotFound,
                format!("Error from Canister {id}: Canister has no update method '{method}'."),
            ))
        }
    }

    /// After a message of a call context ran: apply it, answer if it answered
    /// (or trapped with nothing left to answer), and close the context if done.
    fn finish_message(&mut self, canister: Principal, context_id: u64, mut exec: Execution) {
        if let Some(ctx) = self.contexts.get_mut(&context_id) {
            ctx.instructions += exec.instructions;
            if exec.result.is_ok() {
                ctx.cycles_available = exec.ctx.cycles_available;
            }
        }
        self.apply(canister, Some(context_id), &mut exec);
        match (&exec.result, exec.ctx.response.take()) {
            (Ok(()), Some(Response::Reply(bytes))) => self.respond(context_id, Ok(bytes)),
            (Ok(()), Some(Response::Reject(msg))) => {
                self.respond(context_id, Err(RejectResponse::canister_reject(msg)))
            }
            (Err(e), _) => {
                let outstanding = self.contexts.get(&context_id).map_or(0, |c| c.outstanding);
                if outstanding == 0 {
                    self.respond(context_id, Err(trap_reject(&canister, e.clone())));
                }
            }
            (Ok(()), None) => {}
        }
        self.close_context_if_done(context_id);
    }

    /// Answers a call context once; later answers are ignored (the system API
    /// already prevents a second reply within the canister).
    pub(crate) fn respond(&mut self, context_id: u64, result: Result<Vec<u8>, RejectResponse>) {
        let Some(ctx) = self.contexts.get_mut(&context_id) else {
            return;
        };
        if ctx.responded {
            return;
        }
        ctx.responded = true;
        let refund = std::mem::take(&mut ctx.cycles_available);
        let origin = ctx.origin.clone();
        self.answer_origin(&origin, result, refund);
    }

    /// Sends an answer to whoever made a request.
    pub(crate) fn answer_origin(
        &mut self,
        origin: &ContextOrigin,
        result: Result<Vec<u8>, RejectResponse>,
        refund: u128,
    ) {
        match origin {
            ContextOrigin::Ingress { id } => {
                self.ingress.insert(*id, IngressStatus::Completed(result));
            }
            ContextOrigin::Canister { callback_id, .. } => {
                let result = result.map_err(|r| (r.reject_code, r.reject_message));
                self.queue.push_back(Message::Response(ResponseMsg {
                    callback_id: *callback_id,
                    result,
                    refund,
                }));
            }
            ContextOrigin::System => {}
        }
    }

    fn close_context_if_done(&mut self, context_id: u64) {
        let Some(ctx) = self.contexts.get(&context_id) else {
            return;
        };
        if ctx.outstanding > 0 {
            return;
        }
        let canister = ctx.canister;
        if !ctx.responded {
            self.respond(context_id, Err(did_not_reply(&canister)));
        }
        self.contexts.remove(&context_id);
        self.complete_stop_if_idle(canister);
    }

    /// A stopping canister stops once it has no open call contexts.
    pub(crate) fn complete_stop_if_idle(&mut self, canister: Principal) {
        let open = self.contexts.values().any(|c| c.canister == canister);
        let Some(c) = self.canisters.get_mut(&canister) else {
            return;
        };
        if c.status != RunStatus::Stopping || open {
            return;
        }
        c.status = RunStatus::Stopped;
        let waiters = std::mem::take(&mut c.stop_waiters);
        for origin in waiters {
            self.answer_origin(&origin, Ok(candid::encode_one(()).expect("encoding ()")), 0);
        }
    }

    /// Runs the reply or reject callback of a call, then its cleanup if it trapped.
    fn deliver_response(&mut self, response: ResponseMsg) {
        let Some(callback) = self.callbacks.remove(&response.callback_id) else {
            return; // answered already (best-effort timeout) or the canister was reinstalled
        };
        let canister = callback.canister;
        let Some(context) = self.contexts.get_mut(&callback.context) else {
            return;
        };
        context.outstanding -= 1;
        let (caller, available, responded, deadline, used) = (
            context.caller,
            context.cycles_available,
            context.responded,
            context.deadline,
            context.instructions,
        );
        let installed = self
            .canisters
            .get(&canister)
            .is_some_and(|c| c.wasm.is_some());
        if !installed || callback.module_epoch != self.module_epoch(canister) {
            self.close_context_if_done(callback.context);
            return;
        }
        if let Some(c) = self.canisters.get_mut(&canister) {
            c.cycles += response.refund;
        }
        let (api, closure, kind) = match &response.result {
            Ok(_) => (
                ApiType::ReplyCallback,
                callback.call.on_reply,
                "reply callback",
            ),
            Err(_) => (
                ApiType::RejectCallback,
                callback.call.on_reject,
                "reject callback",
            ),
        };
        let limit = if self.injected_trap_due(canister) {
            0
        } else {
            UPDATE_INSTRUCTION_LIMIT
        };
        let mut ctx = self.base_ctx(canister, api, limit);
        ctx.caller = caller;
        ctx.cycles_available = available;
        ctx.already_responded = responded;
        ctx.deadline = deadline;
        ctx.cycles_refunded = response.refund;
        ctx.call_context_instructions = used;
        match response.result {
            Ok(bytes) => ctx.arg = bytes,
            Err((code, msg)) => ctx.reject = Some((code as u32, msg)),
        }
        let exec = self.execute(
            canister,
            &EntryPoint::Closure(closure),
            ctx,
            Commit::All,
            kind.into(),
        );
        let trapped = exec.result.is_err();
        if trapped {
            if let Some(cleanup) = callback.call.on_cleanup {
                self.run_cleanup(canister, callback.context, cleanup, exec);
                return;
            }
        }
        self.finish_message(canister, callback.context, exec);
    }

    /// Fault injection for tests: after `skip` more reply/reject callbacks of
    /// `canister` run normally, the next one traps on its first instruction
    /// (it gets an instruction limit of 0), exactly as a canister that traps
    /// after an `await`: the callback's changes roll back, `call_on_cleanup`
    /// runs, and what the canister committed before the await stays.
    pub fn trap_callback(&mut self, canister: Principal, skip: u32) {
        self.trap_callback_after.insert(canister, skip);
    }

    fn injected_trap_due(&mut self, canister: Principal) -> bool {
        match self.trap_callback_after.get_mut(&canister) {
            Some(0) => {
                self.trap_callback_after.remove(&canister);
                true
            }
            Some(n) => {
                *n -= 1;
                false
            }
            None => false,
        }
    }

    /// The spec's cleanup: after a callback traps (its changes rolled back),
    /// the cleanup closure runs; its own trap is rolled back too.
    fn run_cleanup(
        &mut self,
        canister: Principal,
        context: u64,
        cleanup: system_api::WasmClosure,
        trapped: Execution,
    ) {
        let mut trapped = trapped;
        self.apply(canister, Some(context), &mut trapped);
        let mut ctx = self.base_ctx(canister, ApiType::Cleanup, UPDATE_INSTRUCTION_LIMIT);
        ctx.reject = trapped.ctx.reject.take();
        ctx.caller = trapped.ctx.caller;
        let mut exec = self.execute(
            canister,
            &EntryPoint::Closure(cleanup),
            ctx,
            Commit::All,
            "cleanup".into(),
        );
        // Cleanup may change state but not call (the system API refuses it).
        self.commit_state(canister, &mut exec);
        let outstanding = self.contexts.get(&context).map_or(0, |c| c.outstanding);
        if outstanding == 0 {
            let error = trapped.result.expect_err("cleanup runs after a trap");
            self.respond(context, Err(trap_reject(&canister, error)));
        }
        self.close_context_if_done(context);
    }

    /// Best-effort calls whose deadline passed get a SYS_UNKNOWN reject now; a
    /// late real response finds no callback and is dropped.
    pub(crate) fn expire_best_effort_calls(&mut self) {
        let now = self.time;
        let expired: Vec<u64> = self
            .callbacks
            .iter()
            .filter(|(_, cb)| cb.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for callback_id in expired {
            if let Some(cb) = self.callbacks.get_mut(&callback_id) {
                cb.deadline = None; // reject once
            }
            self.queue.push_back(Message::Response(ResponseMsg {
                callback_id,
                result: Err((RejectCode::SysUnknown, "Timeout expired".into())),
                refund: 0,
            }));
        }
    }

    /// Runs due global timers and heartbeats; returns how many ran.
    pub(crate) fn run_system_tasks(&mut self) -> usize {
        let now = self.time;
        let mut due = Vec::new();
        for c in self.canisters.values() {
            let Some(wasm) = &c.wasm else { continue };
            if c.status != RunStatus::Running {
                continue;
            }
            if wasm.prepared.exports.global_timer && c.global_timer != 0 && c.global_timer <= now {
                due.push((c.id, "canister_global_timer", "timer"));
            }
            if wasm.prepared.exports.heartbeat {
                due.push((c.id, "canister_heartbeat", "heartbeat"));
            }
        }
        for (canister, export, kind) in &due {
            if *kind == "timer" {
                // The timer is deactivated before it runs; the canister re-arms it.
                self.canisters
                    .get_mut(canister)
                    .expect("listed above")
                    .global_timer = 0;
            }
            self.run_system_task(*canister, export, kind);
        }
        due.len()
    }

    fn run_system_task(&mut self, canister: Principal, export: &str, kind: &str) {
        let context = self.system_context(canister);
        let ctx = self.base_ctx(canister, ApiType::SystemTask, UPDATE_INSTRUCTION_LIMIT);
        let mut exec = self.execute(
            canister,
            &EntryPoint::Export(export.to_string()),
            ctx,
            Commit::All,
            kind.to_string(),
        );
        self.apply(canister, Some(context), &mut exec);
        self.close_context_if_done(context);
    }

    /// Prepares a module, reusing one already prepared from the same bytes.
    pub(crate) fn prepare_module(
        &mut self,
        wasm_bytes: &[u8],
    ) -> Result<Arc<PreparedModule>, wasm::InvalidWasm> {
        use sha2::Digest;
        let key: [u8; 32] = sha2::Sha256::digest(wasm_bytes).into();
        if let Some(prepared) = self.module_cache.get(&key) {
            return Ok(prepared.clone());
        }
        let prepared = Arc::new(wasm::prepare(&self.engine, &self.linker, wasm_bytes)?);
        self.module_cache.insert(key, prepared.clone());
        Ok(prepared)
    }

    // ----- observation ----------------------------------------------------------

    /// Every message executed so far (bounded to the most recent ones).
    pub fn message_log(&self) -> &[ExecutedMessage] {
        &self.message_log
    }

    /// The most recent executed message of `canister` whose kind starts with `kind`.
    pub fn last_message(&self, canister: Principal, kind: &str) -> Option<&ExecutedMessage> {
        self.message_log
            .iter()
            .rev()
            .find(|m| m.canister == canister && m.kind.starts_with(kind))
    }

    /// Debug prints and traps of a canister, oldest first (bounded).
    pub fn canister_log(&self, canister: Principal) -> Vec<String> {
        self.canisters
            .get(&canister)
            .map(|c| c.log.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn cycle_balance(&self, canister: Principal) -> u128 {
        self.canisters.get(&canister).map_or(0, |c| c.cycles)
    }

    /// Adds cycles to a canister (provisional top-up); returns the new balance.
    pub fn add_cycles(&mut self, canister: Principal, amount: u128) -> u128 {
        let c = self
            .canisters
            .get_mut(&canister)
            .expect("add_cycles on an existing canister");
        c.cycles += amount;
        c.cycles
    }

    /// The DER-encoded BLS public key that signs this net's certificates.
    pub fn root_key_der(&self) -> Vec<u8> {
        self.root_key_der.to_vec()
    }

    pub fn root_key(&self) -> &RootKey {
        &self.root_key
    }

    pub fn subnet_id(&self) -> Principal {
        self.subnet_id
    }

    pub fn canister_exists(&self, canister: Principal) -> bool {
        self.canisters.contains_key(&canister)
    }

    /// A copy of a canister's stable memory (for tests).
    pub fn stable_memory(&self, canister: Principal) -> Vec<u8> {
        self.canisters
            .get(&canister)
            .map(|c| c.stable.to_vec())
            .unwrap_or_default()
    }

    /// Replaces a canister's stable memory (a test control, like restoring a
    /// canister snapshot's stable memory): benchmarks build a large state
    /// natively, load it and upgrade the canister so it adopts it.
    pub fn load_stable_memory(&mut self, canister: Principal, bytes: &[u8]) -> Result<(), String> {
        let c = self
            .canisters
            .get_mut(&canister)
            .ok_or_else(|| format!("no canister {canister}"))?;
        c.stable.clear();
        let pages = (bytes.len() as u64).div_ceil(crate::stable::WASM_PAGE);
        c.stable
            .grow(pages, crate::stable::MAX_STABLE_PAGES)
            .ok_or("stable memory too large")?;
        c.stable.write(0, bytes).map_err(|e| e.to_string())
    }

    /// The certified data a canister last set.
    pub fn certified_data(&self, canister: Principal) -> Vec<u8> {
        self.canisters
            .get(&canister)
            .map(|c| c.certified_data.clone())
            .unwrap_or_default()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every canister on the net, in id order.
    pub fn canister_ids(&self) -> Vec<Principal> {
        self.canisters.keys().copied().collect()
    }

    /// The SHA-256 of the installed module; `None` for an empty or unknown canister.
    pub fn module_hash(&self, canister: Principal) -> Option<[u8; 32]> {
        self.canisters
            .get(&canister)?
            .wasm
            .as_ref()
            .map(|w| w.prepared.module_hash)
    }

    /// The canister's controllers; `None` if it does not exist.
    pub fn controllers(&self, canister: Principal) -> Option<Vec<Principal>> {
        self.canisters.get(&canister).map(|c| c.controllers.clone())
    }

    /// The installed module's `icp:public`/`icp:private` custom sections:
    /// name → (public, contents).
    pub fn canister_metadata(&self, canister: Principal) -> BTreeMap<String, (bool, Vec<u8>)> {
        self.canisters
            .get(&canister)
            .and_then(|c| c.wasm.as_ref())
            .map(|w| w.prepared.metadata.clone())
            .unwrap_or_default()
    }
}

pub(crate) fn stopped_reject(canister: &Principal, status: RunStatus) -> RejectResponse {
    match status {
        RunStatus::Stopping => RejectResponse::new(
            ErrorCode::CanisterStopping,
            format!("Canister {canister} is stopping"),
        ),
        _ => RejectResponse::new(
            ErrorCode::CanisterStopped,
            format!(
                "Canister {canister} is stopped and therefore does not have a CallContextManager"
            ),
        ),
    }
}

pub(crate) fn out_of_cycles(canister: &Principal, balance: u128, needed: u128) -> RejectResponse {
    RejectResponse::new(
        ErrorCode::CanisterOutOfCycles,
        format!("Canister {canister} is out of cycles: it holds {balance} and needs {needed}; top it up"),
    )
}

pub(crate) fn empty_canister_reject(canister: &Principal) -> RejectResponse {
    RejectResponse::new(ErrorCode::CanisterWasmModuleNotFound,
        format!("Error from Canister {canister}: Attempted to execute a message, but the canister contains no Wasm module."),
    )
}

pub(crate) fn did_not_reply(canister: &Principal) -> RejectResponse {
    RejectResponse::new(
        ErrorCode::CanisterDidNotReply,
        format!("Error from Canister {canister}: Canister did not reply to the call"),
    )
}

pub(crate) fn trap_reject(canister: &Principal, e: ExecError) -> RejectResponse {
    RejectResponse::new(
        e.code,
        format!("Error from Canister {canister}: {}", e.message),
    )
}
