//! The IC HTTP interface in front of a [`LocalNet`], on loopback, so `ic-agent`,
//! `@dfinity/agent` and `dfx` talk to localnet unchanged.
//!
//! Endpoints (interface spec, "HTTPS Interface"): `GET /api/v2/status`;
//! `POST /api/v2/canister/<id>/call` (asynchronous), `/api/v3/canister/<id>/call`
//! and `/api/v4/canister/<id>/call` (synchronous, with a certificate),
//! `/api/v4/subnet/<id>/call` (canister creation); `/api/v2|v3/canister/<id>/query`
//! (node-signed), `/api/v3/subnet/<id>/query`; `/api/v2|v3/canister/<id>/read_state`
//! and `/api/v2|v3/subnet/<id>/read_state` (certificates signed by the net's
//! BLS root key). See docs/localnet.md, "HTTP interface".
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! let handle = localnet_server::Server::start(localnet_server::Config::default()).await?;
//! println!("{} {}", handle.url(), hex::encode(handle.root_key_der()));
//! # Ok(()) }
//! ```

mod auth;
mod cbor;
mod tree;

pub use auth::MAX_INGRESS_TTL_NANOS;

use auth::{Envelope, RequestType};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use candid::Principal;
use ciborium::value::Value;
use ic_certification::hash_tree::Hash;
use localnet::localnet_services::http_outcall::LiveClient;
use localnet::{IngressStatus, LocalNet, MessageId, OutcallMode, RejectResponse};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, watch};
use tree::Node;

/// The interface-spec version this server implements.
pub const IC_API_VERSION: &str = "0.18.0";
/// Requests larger than this are refused with 413 (the IC's 2 MiB ingress limit
/// plus room for the envelope).
const MAX_REQUEST_BYTES: usize = localnet::MAX_INGRESS_BYTES + 64 * 1024;
/// How long a request status stays readable after its `ingress_expiry`.
const STATUS_RETENTION_NANOS: u64 = 5 * 60 * 1_000_000_000;

/// How to run the server.
#[derive(Clone, Debug)]
pub struct Config {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// The net's configuration. Its clock is moved to wall-clock time as the
    /// server runs (never backwards).
    pub net: localnet::Config,
    /// How long `/api/v3|v4/.../call` waits for a call to finish before
    /// answering 202 (the replica's default is 10 s).
    pub sync_call_timeout: Duration,
    /// How often the background task advances the clock and ticks the net
    /// (timers, heartbeats, best-effort deadlines, queued messages).
    pub tick_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            net: localnet::Config {
                outcalls: OutcallMode::Live,
                allow_plain_http: true,
                start_time_nanos: wall_nanos(),
                ..localnet::Config::default()
            },
            sync_call_timeout: Duration::from_secs(10),
            tick_interval: Duration::from_millis(100),
        }
    }
}

impl Config {
    /// The default configuration with the net seeded by `seed` (root key,
    /// `raw_rand`, node key).
    pub fn with_seed(seed: [u8; 32]) -> Self {
        let mut config = Config::default();
        config.net.seed = seed;
        config
    }
}

pub struct Server;

/// A running server. Dropping it stops the server (the net stays usable
/// through [`Handle::net`]).
pub struct Handle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Handle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The DER-encoded BLS root key that signs every certificate.
    pub fn root_key_der(&self) -> Vec<u8> {
        self.shared.root_key_der.clone()
    }

    /// The net, for in-process use (lock it briefly: requests wait meanwhile).
    pub fn net(&self) -> Arc<Mutex<LocalNet>> {
        self.shared.net.clone()
    }

    pub fn subnet_id(&self) -> Principal {
        self.shared.subnet_id
    }

    /// The principal of the node that signs query responses.
    pub fn node_id(&self) -> Principal {
        self.shared.node.id
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The key of the (single) node that answers queries.
struct NodeKey {
    key: ic_ed25519::PrivateKey,
    der: Vec<u8>,
    id: Principal,
}

/// Where a call was sent: the effective canister id or effective subnet id of
/// its URL. `read_state` of its status must use the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effective {
    Canister(Principal),
    Subnet(Principal),
}

struct Record {
    message: MessageId,
    sender: Principal,
    effective: Effective,
    ingress_expiry: u64,
    /// The hash of `/request_status/<id>` once it can no longer change.
    final_digest: Option<Hash>,
}

#[derive(Default)]
struct Registry {
    requests: HashMap<[u8; 32], Record>,
}

struct Shared {
    net: Arc<Mutex<LocalNet>>,
    registry: Mutex<Registry>,
    node: NodeKey,
    subnet_id: Principal,
    root_key_der: Vec<u8>,
    /// Bumped whenever the net has made progress (waiting synchronous calls re-check).
    progress: watch::Sender<u64>,
    /// Live outcalls performed by the server outside the net's lock.
    live: Option<LiveClient>,
    in_flight: Mutex<HashSet<u64>>,
    config: Config,
}

fn wall_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos() as u64
}

/// Moves the net's clock to wall-clock time (never backwards) and returns it.
fn sync_time(net: &mut LocalNet) -> u64 {
    let now = wall_nanos();
    if now > net.time() {
        net.set_time(now).expect("moving forward");
    }
    net.time()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Server {
    /// Builds the net and serves it on `127.0.0.1:<port>` until the handle is
    /// dropped or shut down. Must be called within a Tokio runtime.
    pub async fn start(config: Config) -> std::io::Result<Handle> {
        let mut net_config = config.net.clone();
        // Live outcalls are performed by this server, outside the net's lock, so
        // a slow outcall does not stall other requests: the net holds them
        // (mock mode) and the background task answers them with the real response.
        let live = (net_config.outcalls == OutcallMode::Live).then(|| LiveClient {
            timeout: net_config.outcall_timeout,
            allow_plain_http: net_config.allow_plain_http,
        });
        net_config.outcalls = OutcallMode::Mock;
        let net = LocalNet::with_config(net_config);
        let node_key = ic_ed25519::PrivateKey::generate_from_seed(
            &[b"localnet node key".as_slice(), &config.net.seed].concat(),
        );
        let node_der = node_key.public_key().serialize_rfc8410_der();
        let node = NodeKey {
            id: Principal::self_authenticating(&node_der),
            der: node_der,
            key: node_key,
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let (progress, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            subnet_id: net.subnet_id(),
            root_key_der: net.root_key_der(),
            net: Arc::new(Mutex::new(net)),
            registry: Mutex::new(Registry::default()),
            node,
            progress,
            live,
            in_flight: Mutex::new(HashSet::new()),
            config,
        });
        let app = router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let driver_shared = shared.clone();
        let task = tokio::spawn(async move {
            let driver = tokio::spawn(drive(driver_shared));
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            driver.abort();
        });
        Ok(Handle {
            addr,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// The background task: wall-clock time, ticks, live outcalls.
async fn drive(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(shared.config.tick_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let s = shared.clone();
        let Ok(outcalls) = tokio::task::spawn_blocking(move || s.tick_and_collect()).await else {
            return;
        };
        shared.progress.send_modify(|g| *g += 1);
        for (id, request) in outcalls {
            let s = shared.clone();
            tokio::task::spawn_blocking(move || s.perform_outcall(id, request));
        }
    }
}

impl Shared {
    /// One background round; returns the live outcalls to start.
    fn tick_and_collect(&self) -> Vec<(u64, ic_management_canister_types::HttpRequestArgs)> {
        let mut net = lock(&self.net);
        let now = sync_time(&mut net);
        net.tick();
        lock(&self.registry)
            .requests
            .retain(|_, r| r.ingress_expiry.saturating_add(STATUS_RETENTION_NANOS) >= now);
        if self.live.is_none() {
            return Vec::new();
        }
        let mut in_flight = lock(&self.in_flight);
        net.pending_http_outcalls()
            .into_iter()
            .filter(|o| in_flight.insert(o.id))
            .map(|o| (o.id, o.request))
            .collect()
    }

    /// Performs an outcall without holding the net, then hands the result in.
    fn perform_outcall(&self, id: u64, request: ic_management_canister_types::HttpRequestArgs) {
        let client = self.live.as_ref().expect("live outcalls only");
        let result = client.perform(&request).map_err(|e| (e.code, e.message));
        {
            let mut net = lock(&self.net);
            // The net applies the response limit and the transform, as in live mode.
            let _ = net.answer_http_outcall(id, result);
            sync_time(&mut net);
            net.tick();
        }
        lock(&self.in_flight).remove(&id);
        self.progress.send_modify(|g| *g += 1);
    }
}

// ----- HTTP ------------------------------------------------------------------------

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v2/status", get(status))
        .route("/api/{version}/canister/{id}/call", post(call_canister))
        .route("/api/{version}/subnet/{id}/call", post(call_subnet))
        .route("/api/{version}/canister/{id}/query", post(query_canister))
        .route("/api/{version}/subnet/{id}/query", post(query_subnet))
        .route(
            "/api/{version}/canister/{id}/read_state",
            post(read_state_canister),
        )
        .route(
            "/api/{version}/subnet/{id}/read_state",
            post(read_state_subnet),
        )
        .route("/_/bitcoin/send_to", post(btc_send_to))
        .route("/_/bitcoin/mine", post(btc_mine))
        .route("/_/bitcoin/tip", get(btc_tip))
        .route("/_/bitcoin/mempool", get(btc_mempool))
        .route("/_/bitcoin/utxos/{address}", get(btc_utxos))
        .route("/_/bitcoin/tx/{txid}", get(btc_tx))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn(cors))
        .with_state(shared)
}

// ----- regtest test controls (local only) --------------------------------------------
//
// Not part of the IC interface: the controls `LocalNet` offers tests in Rust
// (docs/localnet.md, "Test controls"), over JSON, so a demo or a script can
// fund a deposit address and mine blocks. The server listens on 127.0.0.1 only.

fn json_response(value: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn with_net<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&mut LocalNet) -> T + Send + 'static,
) -> Result<T, HttpError> {
    let net = shared.net.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut net = lock(&net);
        sync_time(&mut net);
        f(&mut net)
    })
    .await
    .map_err(|e| {
        HttpError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("test control failed: {e}"),
        )
    })?;
    shared.progress.send_modify(|g| *g += 1);
    Ok(out)
}

fn json_body(body: &[u8]) -> Result<serde_json::Value, HttpError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("the body is not JSON: {e}")))
}

/// `POST /_/bitcoin/send_to {"address": "bcrt1…", "sats": N}` → `{"txid": "…"}`:
/// the test wallet pays `address` (the transaction waits in the mempool).
async fn btc_send_to(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let v = json_body(&body)?;
    let (Some(address), Some(sats)) =
        (v["address"].as_str().map(str::to_owned), v["sats"].as_u64())
    else {
        return Err(bad_request(
            "expected {\"address\": string, \"sats\": number}",
        ));
    };
    let txid = with_net(&shared, move |net| net.bitcoin_send_to(&address, sats))
        .await?
        .map_err(|e| bad_request(format!("send_to failed: {e}")))?;
    Ok(json_response(
        serde_json::json!({ "txid": txid.to_string() }),
    ))
}

/// `POST /_/bitcoin/mine {"blocks": N, "address": "bcrt1…"?}` → `{"block_hashes":
/// […], "tip_height": H}`; the address defaults to the test wallet's.
async fn btc_mine(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, HttpError> {
    let v = json_body(&body)?;
    let blocks = v["blocks"].as_u64().unwrap_or(1).min(1000) as u32;
    let address = v["address"].as_str().map(str::to_owned);
    let (hashes, tip) = with_net(&shared, move |net| {
        let address = address.unwrap_or_else(|| net.bitcoin_wallet_address());
        net.bitcoin_mine_blocks(blocks, &address)
            .map(|h| (h, net.bitcoin_tip_height()))
    })
    .await?
    .map_err(|e| bad_request(format!("mine failed: {e}")))?;
    let hashes: Vec<String> = hashes.iter().map(|h| h.to_string()).collect();
    Ok(json_response(
        serde_json::json!({ "block_hashes": hashes, "tip_height": tip }),
    ))
}

/// `GET /_/bitcoin/tip` → `{"tip_height": H}`.
async fn btc_tip(State(shared): State<Arc<Shared>>) -> Result<Response, HttpError> {
    let tip = with_net(&shared, |net| net.bitcoin_tip_height()).await?;
    Ok(json_response(serde_json::json!({ "tip_height": tip })))
}

/// `GET /_/bitcoin/mempool` → `{"txids": […]}` in arrival order.
async fn btc_mempool(State(shared): State<Arc<Shared>>) -> Result<Response, HttpError> {
    let txids = with_net(&shared, |net| {
        net.bitcoin_mempool()
            .iter()
            .map(|e| e.tx.compute_txid().to_string())
            .collect::<Vec<_>>()
    })
    .await?;
    Ok(json_response(serde_json::json!({ "txids": txids })))
}

/// `GET /_/bitcoin/utxos/{address}` → `{"utxos": [{"txid", "vout", "value", "height"}]}`.
async fn btc_utxos(
    State(shared): State<Arc<Shared>>,
    Path(address): Path<String>,
) -> Result<Response, HttpError> {
    let utxos = with_net(&shared, move |net| net.bitcoin_utxos(&address))
        .await?
        .map_err(|e| bad_request(format!("utxos failed: {e}")))?;
    let utxos: Vec<serde_json::Value> = utxos
        .iter()
        .map(|u| {
            serde_json::json!({
                "txid": u.outpoint.txid.to_string(),
                "vout": u.outpoint.vout,
                "value": u.value,
                "height": u.height,
            })
        })
        .collect();
    Ok(json_response(serde_json::json!({ "utxos": utxos })))
}

/// `GET /_/bitcoin/tx/{txid}` → `{"txid", "height": H|null, "inputs": N,
/// "outputs": [{"value", "address"|null}]}`; 404 for an unknown transaction.
async fn btc_tx(
    State(shared): State<Arc<Shared>>,
    Path(txid): Path<String>,
) -> Result<Response, HttpError> {
    use localnet::localnet_services::bitcoin::rust_bitcoin::{Address, Network, Txid};
    let parsed: Txid = txid
        .parse()
        .map_err(|e| bad_request(format!("bad txid {txid}: {e}")))?;
    let Some((tx, height)) = with_net(&shared, move |net| net.bitcoin_transaction(&parsed)).await?
    else {
        return Err(HttpError(
            StatusCode::NOT_FOUND,
            format!("no transaction {txid}"),
        ));
    };
    let outputs: Vec<serde_json::Value> = tx
        .output
        .iter()
        .map(|o| {
            let address = Address::from_script(&o.script_pubkey, Network::Regtest)
                .ok()
                .map(|a| a.to_string());
            serde_json::json!({ "value": o.value.to_sat(), "address": address })
        })
        .collect();
    Ok(json_response(serde_json::json!({
        "txid": tx.compute_txid().to_string(),
        "height": height,
        "inputs": tx.input.len(),
        "outputs": outputs,
    })))
}

/// Browsers (`@dfinity/agent` in a page) need CORS, as the replica allows it.
async fn cors(request: Request<Body>, next: Next) -> Response {
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, HEAD, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Accept, Authorization, Content-Type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("7200"),
    );
    response
}

/// An error answered with a status code and a plain-text body naming the problem.
struct HttpError(StatusCode, String);

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.1,
        )
            .into_response()
    }
}

fn bad_request(msg: impl Into<String>) -> HttpError {
    HttpError(StatusCode::BAD_REQUEST, msg.into())
}

fn cbor_response(status: StatusCode, value: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/cbor")],
        cbor::encode_tagged(value),
    )
        .into_response()
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    cbor_response(
        StatusCode::OK,
        cbor::map(vec![
            ("ic_api_version", Value::Text(IC_API_VERSION.into())),
            (
                "impl_source",
                Value::Text("https://github.com/tensormine/tensormine".into()),
            ),
            (
                "impl_version",
                Value::Text(format!("localnet-server {}", env!("CARGO_PKG_VERSION"))),
            ),
            ("replica_health_status", Value::Text("healthy".into())),
            ("root_key", Value::Bytes(shared.root_key_der.clone())),
        ]),
    )
}

fn parse_principal(text: &str, what: &str) -> Result<Principal, HttpError> {
    Principal::from_text(text).map_err(|e| {
        bad_request(format!(
            "the {what} `{text}` in the URL is not a principal: {e}"
        ))
    })
}

fn parse_request(body: &[u8], expected: RequestType) -> Result<Envelope, HttpError> {
    let envelope = auth::parse(body).map_err(|e| {
        bad_request(format!(
            "Could not parse body as {} message: {e}",
            expected.name()
        ))
    })?;
    if envelope.content.request_type != expected {
        return Err(bad_request(format!(
            "Expected a `{}` request, got request_type `{}`",
            expected.name(),
            envelope.content.request_type.name()
        )));
    }
    Ok(envelope)
}

fn check_subnet(shared: &Shared, id: Principal) -> Result<(), HttpError> {
    if id != shared.subnet_id {
        return Err(HttpError(
            StatusCode::NOT_FOUND,
            format!(
                "subnet {id} does not exist; localnet has the subnet {}",
                shared.subnet_id
            ),
        ));
    }
    Ok(())
}

/// The `canister_id` field of a management call's Candid record argument.
fn management_target(method: &str, arg: &[u8]) -> Option<Principal> {
    let args = candid::IDLArgs::from_bytes(arg).ok()?;
    let Some(candid::types::value::IDLValue::Record(fields)) = args.args.first() else {
        return None;
    };
    let field = if method == "install_chunked_code" {
        "target_canister"
    } else {
        "canister_id"
    };
    fields
        .iter()
        .find(|f| f.id.get_id() == candid::idl_hash(field))
        .and_then(|f| match &f.val {
            candid::types::value::IDLValue::Principal(p) => Some(*p),
            _ => None,
        })
}

const CREATION_METHODS: [&str; 2] = ["create_canister", "provisional_create_canister_with_cycles"];

/// Checks the effective canister id of a call or query (interface spec,
/// "Effective canister id") and returns the canister delegations must allow.
fn check_effective_canister(envelope: &Envelope, ecid: Principal) -> Result<Principal, HttpError> {
    let c = &envelope.content;
    if c.canister_id != Principal::management_canister() {
        if c.canister_id != ecid {
            return Err(bad_request(format!(
                "Specified CanisterId {} does not match effective canister id in URL {ecid}",
                c.canister_id
            )));
        }
        return Ok(ecid);
    }
    let any_allowed = match c.request_type {
        RequestType::Call => CREATION_METHODS.contains(&c.method_name.as_str()),
        _ => c.method_name == "list_canisters",
    };
    if any_allowed {
        return Ok(ecid);
    }
    match management_target(&c.method_name, &c.arg) {
        Some(target) if target == ecid => Ok(ecid),
        Some(target) => Err(bad_request(format!(
            "Specified CanisterId {target} (in the argument of management method {}) does not match effective canister id in URL {ecid}",
            c.method_name
        ))),
        None => Err(bad_request(format!(
            "The effective canister id of a call to management method {} cannot be determined: its argument has no canister_id",
            c.method_name
        ))),
    }
}

fn authenticate(
    envelope: &Envelope,
    now: u64,
    target: Option<Principal>,
    root_key_der: &[u8],
) -> Result<(), HttpError> {
    envelope
        .authenticate(now, target, root_key_der)
        .map_err(|e| {
            bad_request(format!(
                "Failed to authenticate request 0x{}: {e}",
                hex::encode(envelope.content.request_id)
            ))
        })
}

fn error_code_text(r: &RejectResponse) -> String {
    format!("IC{:04}", r.error_code as u64)
}

fn reject_fields(r: &RejectResponse) -> Vec<(&'static str, Value)> {
    vec![
        ("reject_code", cbor::int(r.reject_code as u64)),
        ("reject_message", Value::Text(r.reject_message.clone())),
        ("error_code", Value::Text(error_code_text(r))),
    ]
}

async fn call_canister(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let ecid = parse_principal(&id, "effective canister id")?;
    let envelope = parse_request(&body, RequestType::Call)?;
    let target = check_effective_canister(&envelope, ecid)?;
    call(
        shared,
        version,
        Effective::Canister(ecid),
        Some(target),
        envelope,
    )
    .await
}

async fn call_subnet(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let subnet = parse_principal(&id, "effective subnet id")?;
    if version != "v4" {
        return Err(HttpError(
            StatusCode::NOT_FOUND,
            format!("/api/{version}/subnet/<id>/call does not exist; use /api/v4"),
        ));
    }
    check_subnet(&shared, subnet)?;
    let envelope = parse_request(&body, RequestType::Call)?;
    let c = &envelope.content;
    if c.canister_id != Principal::management_canister()
        || !CREATION_METHODS.contains(&c.method_name.as_str())
    {
        return Err(bad_request(format!(
            "subnet-scoped calls are only for create_canister and provisional_create_canister_with_cycles of aaaaa-aa, not {}.{}",
            c.canister_id, c.method_name
        )));
    }
    call(shared, version, Effective::Subnet(subnet), None, envelope).await
}

/// What happened to a submitted call.
enum Submitted {
    /// Refused before it entered the state (a non-replicated rejection).
    Refused(RejectResponse),
    /// Known to the net; the certificate if it has completed.
    Known(Option<Vec<u8>>),
}

async fn call(
    shared: Arc<Shared>,
    version: String,
    effective: Effective,
    target: Option<Principal>,
    envelope: Envelope,
) -> Result<Response, HttpError> {
    let synchronous = match version.as_str() {
        "v2" => false,
        "v3" | "v4" => true,
        other => {
            return Err(HttpError(
                StatusCode::NOT_FOUND,
                format!("/api/{other}/.../call does not exist"),
            ))
        }
    };
    let request_id = envelope.content.request_id;
    let mut progress = shared.progress.subscribe();
    let s = shared.clone();
    let submitted =
        tokio::task::spawn_blocking(move || s.submit(effective, target, envelope, synchronous))
            .await
            .map_err(|e| {
                HttpError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the call panicked: {e}"),
                )
            })??;
    shared.progress.send_modify(|g| *g += 1);
    match submitted {
        Submitted::Refused(reject) if synchronous => {
            let mut fields = vec![("status", Value::Text("non_replicated_rejection".into()))];
            fields.extend(reject_fields(&reject));
            Ok(cbor_response(StatusCode::OK, cbor::map(fields)))
        }
        Submitted::Refused(reject) => Ok(cbor_response(
            StatusCode::OK,
            cbor::map(reject_fields(&reject)),
        )),
        Submitted::Known(_) if !synchronous => Ok(StatusCode::ACCEPTED.into_response()),
        Submitted::Known(Some(certificate)) => Ok(replied(certificate)),
        Submitted::Known(None) => {
            let deadline = tokio::time::Instant::now() + shared.config.sync_call_timeout;
            loop {
                if tokio::time::timeout_at(deadline, progress.changed())
                    .await
                    .is_err()
                {
                    return Ok(StatusCode::ACCEPTED.into_response());
                }
                let s = shared.clone();
                let done =
                    tokio::task::spawn_blocking(move || s.completed_certificate(&request_id))
                        .await
                        .map_err(|e| {
                            HttpError(StatusCode::INTERNAL_SERVER_ERROR, format!("panicked: {e}"))
                        })?;
                if let Some(certificate) = done {
                    return Ok(replied(certificate));
                }
            }
        }
    }
}

fn replied(certificate: Vec<u8>) -> Response {
    cbor_response(
        StatusCode::OK,
        cbor::map(vec![
            ("status", Value::Text("replied".into())),
            ("certificate", Value::Bytes(certificate)),
        ]),
    )
}

impl Shared {
    /// Authenticates and submits a call (a request id already known is not
    /// submitted again), runs the net, and certifies the status if complete.
    fn submit(
        &self,
        effective: Effective,
        target: Option<Principal>,
        envelope: Envelope,
        certify: bool,
    ) -> Result<Submitted, HttpError> {
        let mut net = lock(&self.net);
        let now = sync_time(&mut net);
        authenticate(&envelope, now, target, &self.root_key_der)?;
        let c = envelope.content;
        {
            let mut registry = lock(&self.registry);
            if !registry.requests.contains_key(&c.request_id) {
                match net.submit_call(c.canister_id, c.sender, &c.method_name, c.arg) {
                    Err(reject) => return Ok(Submitted::Refused(reject)),
                    Ok(message) => {
                        registry.requests.insert(
                            c.request_id,
                            Record {
                                message,
                                sender: c.sender,
                                effective,
                                ingress_expiry: c.ingress_expiry,
                                final_digest: None,
                            },
                        );
                    }
                }
            }
        }
        net.tick();
        if !certify {
            return Ok(Submitted::Known(None));
        }
        Ok(Submitted::Known(
            self.certificate_if_complete(&net, &c.request_id),
        ))
    }

    fn completed_certificate(&self, request_id: &[u8; 32]) -> Option<Vec<u8>> {
        let mut net = lock(&self.net);
        sync_time(&mut net);
        self.certificate_if_complete(&net, request_id)
    }

    fn certificate_if_complete(&self, net: &LocalNet, request_id: &[u8; 32]) -> Option<Vec<u8>> {
        let message = lock(&self.registry).requests.get(request_id)?.message;
        match net.ingress_status(message) {
            IngressStatus::Processing => None,
            IngressStatus::Completed(_) => {
                let path = vec![b"request_status".to_vec(), request_id.to_vec()];
                Some(self.certify(net, &[path], Some(request_id)))
            }
        }
    }

    /// The state tree, with `/request_status/<requested>` in full and every
    /// other request status as its hash.
    fn state_tree(&self, net: &LocalNet, requested: Option<&[u8; 32]>) -> Node {
        let mut root = Node::sub();
        let mut time = Vec::new();
        leb128::write::unsigned(&mut time, net.time()).expect("writing to a Vec");
        root.insert("time", Node::Leaf(time));

        let ranges = cbor::encode_tagged(Value::Array(vec![Value::Array(vec![
            Value::Bytes(RANGE_START.to_vec()),
            Value::Bytes(RANGE_END.to_vec()),
        ])]));
        let subnet_label = self.subnet_id.as_slice().to_vec();
        root.insert("canister_ranges", Node::sub())
            .insert(subnet_label.clone(), Node::sub())
            .insert(RANGE_START.to_vec(), Node::Leaf(ranges.clone()));
        let subnet = root
            .insert("subnet", Node::sub())
            .insert(subnet_label, Node::sub());
        subnet.insert("public_key", Node::Leaf(self.root_key_der.clone()));
        subnet.insert("canister_ranges", Node::Leaf(ranges));
        subnet.insert("type", Node::Leaf(b"application".to_vec()));
        subnet
            .insert("node", Node::sub())
            .insert(self.node.id.as_slice().to_vec(), Node::sub())
            .insert("public_key", Node::Leaf(self.node.der.clone()));

        let canisters = root.insert("canister", Node::sub());
        for id in net.canister_ids() {
            let c = canisters.insert(id.as_slice().to_vec(), Node::sub());
            c.insert("certified_data", Node::Leaf(net.certified_data(id)));
            let controllers = net.controllers(id).unwrap_or_default();
            c.insert(
                "controllers",
                Node::Leaf(cbor::encode_tagged(Value::Array(
                    controllers
                        .iter()
                        .map(|p| Value::Bytes(p.as_slice().to_vec()))
                        .collect(),
                ))),
            );
            if let Some(hash) = net.module_hash(id) {
                c.insert("module_hash", Node::Leaf(hash.to_vec()));
                let metadata = net.canister_metadata(id);
                if !metadata.is_empty() {
                    let m = c.insert("metadata", Node::sub());
                    for (name, (_, data)) in metadata {
                        m.insert(name.into_bytes(), Node::Leaf(data));
                    }
                }
            }
        }

        let statuses = root.insert("request_status", Node::sub());
        let mut registry = lock(&self.registry);
        for (id, record) in registry.requests.iter_mut() {
            if Some(id) != requested {
                if let Some(digest) = record.final_digest {
                    // A completed status never changes: its hash is enough.
                    statuses.insert(id.to_vec(), Node::Opaque(digest));
                    continue;
                }
            }
            let (node, complete) = request_status_node(net, record.message);
            if complete {
                record.final_digest = Some(node.digest());
            }
            if Some(id) == requested {
                statuses.insert(id.to_vec(), node);
            } else {
                statuses.insert(id.to_vec(), Node::Opaque(node.digest()));
            }
        }
        root
    }

    /// A certificate revealing `paths` (and `/time`), signed by the root key.
    fn certify(
        &self,
        net: &LocalNet,
        paths: &[Vec<Vec<u8>>],
        request: Option<&[u8; 32]>,
    ) -> Vec<u8> {
        let tree = self.state_tree(net, request);
        let time = vec![b"time".to_vec()];
        let mut refs: Vec<&[Vec<u8>]> = paths.iter().map(Vec::as_slice).collect();
        refs.push(&time);
        net.root_key().certify(tree::witness(&tree, &refs))
    }
}

/// `/request_status/<id>`: `processing`, `replied` with `reply`, or `rejected`
/// with `reject_code`, `reject_message` and `error_code`; and whether it is final.
fn request_status_node(net: &LocalNet, message: MessageId) -> (Node, bool) {
    let mut node = Node::sub();
    match net.ingress_status(message) {
        IngressStatus::Processing => {
            node.insert("status", Node::Leaf(b"processing".to_vec()));
            return (node, false);
        }
        IngressStatus::Completed(Ok(reply)) => {
            node.insert("status", Node::Leaf(b"replied".to_vec()));
            node.insert("reply", Node::Leaf(reply));
        }
        IngressStatus::Completed(Err(reject)) => {
            let mut code = Vec::new();
            leb128::write::unsigned(&mut code, reject.reject_code as u64)
                .expect("writing to a Vec");
            node.insert("status", Node::Leaf(b"rejected".to_vec()));
            node.insert("reject_code", Node::Leaf(code));
            node.insert(
                "reject_message",
                Node::Leaf(reject.reject_message.clone().into_bytes()),
            );
            node.insert(
                "error_code",
                Node::Leaf(error_code_text(&reject).into_bytes()),
            );
        }
    }
    (node, true)
}

/// The canister range of localnet's one subnet: every principal of at least
/// one byte (the lowest is `[0x00]`, the highest 29 bytes of `0xff`), so
/// canisters created at any specified id belong to it.
const RANGE_START: [u8; 1] = [0x00];
const RANGE_END: [u8; 29] = [0xff; 29];

// ----- query -----------------------------------------------------------------------

async fn query_canister(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, HttpError> {
    if version != "v2" && version != "v3" {
        return Err(HttpError(
            StatusCode::NOT_FOUND,
            format!("/api/{version}/canister/<id>/query does not exist"),
        ));
    }
    let ecid = parse_principal(&id, "effective canister id")?;
    let envelope = parse_request(&body, RequestType::Query)?;
    let target = check_effective_canister(&envelope, ecid)?;
    let s = shared.clone();
    tokio::task::spawn_blocking(move || s.query(envelope, Some(target)))
        .await
        .map_err(|e| {
            HttpError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the query panicked: {e}"),
            )
        })?
}

async fn query_subnet(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let subnet = parse_principal(&id, "effective subnet id")?;
    if version != "v3" {
        return Err(HttpError(
            StatusCode::NOT_FOUND,
            format!("/api/{version}/subnet/<id>/query does not exist; use /api/v3"),
        ));
    }
    check_subnet(&shared, subnet)?;
    let envelope = parse_request(&body, RequestType::Query)?;
    let c = &envelope.content;
    if c.canister_id != Principal::management_canister() || c.method_name != "list_canisters" {
        return Err(bad_request(
            "subnet-scoped queries are only for list_canisters of aaaaa-aa",
        ));
    }
    let s = shared.clone();
    tokio::task::spawn_blocking(move || s.query(envelope, None))
        .await
        .map_err(|e| {
            HttpError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the query panicked: {e}"),
            )
        })?
}

impl Shared {
    fn query(&self, envelope: Envelope, target: Option<Principal>) -> Result<Response, HttpError> {
        let mut net = lock(&self.net);
        let now = sync_time(&mut net);
        authenticate(&envelope, now, target, &self.root_key_der)?;
        let c = envelope.content;
        let result = net.query_call(c.canister_id, c.sender, &c.method_name, c.arg);
        drop(net);
        let timestamp = now;
        let (mut fields, signed) = match &result {
            Ok(reply) => {
                let reply = cbor::map(vec![("arg", Value::Bytes(reply.clone()))]);
                (
                    vec![
                        ("status", Value::Text("replied".into())),
                        ("reply", reply.clone()),
                    ],
                    vec![("status", Value::Text("replied".into())), ("reply", reply)],
                )
            }
            Err(reject) => {
                let mut f = vec![("status", Value::Text("rejected".into()))];
                f.extend(reject_fields(reject));
                (f.clone(), f)
            }
        };
        let mut signed = signed;
        signed.push(("timestamp", cbor::int(timestamp)));
        signed.push(("request_id", Value::Bytes(c.request_id.to_vec())));
        let hash = cbor::hash_of_map(&cbor::map(signed)).expect("a well-formed map");
        let signature = self
            .node
            .key
            .sign_message(&[b"\x0Bic-response".as_slice(), &hash].concat());
        fields.push((
            "signatures",
            Value::Array(vec![cbor::map(vec![
                ("timestamp", cbor::int(timestamp)),
                ("signature", Value::Bytes(signature.to_vec())),
                ("identity", Value::Bytes(self.node.id.as_slice().to_vec())),
            ])]),
        ));
        Ok(cbor_response(StatusCode::OK, cbor::map(fields)))
    }
}

// ----- read_state ------------------------------------------------------------------

async fn read_state_canister(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let ecid = parse_principal(&id, "effective canister id")?;
    read_state(shared, version, Effective::Canister(ecid), body).await
}

async fn read_state_subnet(
    State(shared): State<Arc<Shared>>,
    Path((version, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, HttpError> {
    let subnet = parse_principal(&id, "effective subnet id")?;
    check_subnet(&shared, subnet)?;
    read_state(shared, version, Effective::Subnet(subnet), body).await
}

async fn read_state(
    shared: Arc<Shared>,
    version: String,
    effective: Effective,
    body: Bytes,
) -> Result<Response, HttpError> {
    if version != "v2" && version != "v3" {
        return Err(HttpError(
            StatusCode::NOT_FOUND,
            format!("/api/{version}/.../read_state does not exist"),
        ));
    }
    let envelope = parse_request(&body, RequestType::ReadState)?;
    let s = shared.clone();
    tokio::task::spawn_blocking(move || s.read_state(envelope, effective, version == "v2"))
        .await
        .map_err(|e| {
            HttpError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("read_state panicked: {e}"),
            )
        })?
}

impl Shared {
    fn read_state(
        &self,
        envelope: Envelope,
        effective: Effective,
        v2: bool,
    ) -> Result<Response, HttpError> {
        let target = match effective {
            Effective::Canister(id) => Some(id),
            Effective::Subnet(_) => None,
        };
        let mut net = lock(&self.net);
        let now = sync_time(&mut net);
        authenticate(&envelope, now, target, &self.root_key_der)?;
        let c = &envelope.content;
        let request = self.check_paths(&net, c, effective, v2)?;
        let certificate = self.certify(&net, &c.paths, request.as_ref());
        drop(net);
        Ok(cbor_response(
            StatusCode::OK,
            cbor::map(vec![("certificate", Value::Bytes(certificate))]),
        ))
    }

    /// The spec's rules on which paths may be requested where ("Request: Read
    /// state"); returns the request id whose status is asked for, if any.
    fn check_paths(
        &self,
        net: &LocalNet,
        c: &auth::Content,
        effective: Effective,
        v2: bool,
    ) -> Result<Option<[u8; 32]>, HttpError> {
        let invalid = |path: &[Vec<u8>], why: &str| {
            let shown: Vec<String> = path
                .iter()
                .map(|l| match std::str::from_utf8(l) {
                    Ok(s) if s.chars().all(|ch| ch.is_ascii_graphic()) => s.to_string(),
                    _ => hex::encode(l),
                })
                .collect();
            bad_request(format!(
                "Invalid path requested: /{}: {why}",
                shown.join("/")
            ))
        };
        let forbidden = |msg: String| HttpError(StatusCode::FORBIDDEN, msg);
        let mut request_id: Option<[u8; 32]> = None;
        let mut ranges_subnet: Option<&[u8]> = None;
        for path in &c.paths {
            let labels: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
            match labels.as_slice() {
                [b"time"] => {}
                [b"api_boundary_nodes", rest @ ..] => match rest {
                    [] | [_] | [_, b"domain" | b"ipv4_address" | b"ipv6_address"] => {}
                    _ => return Err(invalid(path, "no such path")),
                },
                [b"subnet", rest @ ..] => match rest {
                    []
                    | [_]
                    | [_, b"public_key" | b"type" | b"node"]
                    | [_, b"node", _]
                    | [_, b"node", _, b"public_key"] => {}
                    [subnet, b"canister_ranges"] => {
                        // Only the root subnet's may be asked for at the v3 endpoints;
                        // localnet's one subnet is the root subnet.
                        if !v2 && *subnet != self.subnet_id.as_slice() {
                            return Err(invalid(
                                path,
                                "canister ranges of a non-root subnet are under /canister_ranges",
                            ));
                        }
                    }
                    [subnet, b"metrics"] => {
                        if effective != Effective::Subnet(Principal::from_slice(subnet)) {
                            return Err(invalid(
                                path,
                                "subnet metrics can only be read at /api/v2|v3/subnet/<that subnet>/read_state",
                            ));
                        }
                    }
                    _ => return Err(invalid(path, "no such path")),
                },
                [b"canister_ranges", subnet] => {
                    if !matches!(effective, Effective::Subnet(_)) {
                        return Err(invalid(
                            path,
                            "canister ranges can only be read at /api/v2|v3/subnet/<id>/read_state",
                        ));
                    }
                    if ranges_subnet.is_some_and(|s| s != *subnet) {
                        return Err(invalid(
                            path,
                            "all /canister_ranges paths must name the same subnet",
                        ));
                    }
                    ranges_subnet = Some(subnet);
                }
                [b"request_status", id, rest @ ..] => {
                    if !matches!(
                        rest,
                        [] | [b"status"
                            | b"reply"
                            | b"reject_code"
                            | b"reject_message"
                            | b"error_code"]
                    ) {
                        return Err(invalid(path, "no such path"));
                    }
                    let Ok(id) = <[u8; 32]>::try_from(*id) else {
                        return Err(invalid(path, "a request id is 32 bytes"));
                    };
                    if request_id.is_some_and(|r| r != id) {
                        return Err(invalid(
                            path,
                            "all /request_status paths must refer to the same request id",
                        ));
                    }
                    request_id = Some(id);
                    if let Some(record) = lock(&self.registry).requests.get(&id) {
                        if record.sender != c.sender {
                            return Err(forbidden(format!(
                                "Request 0x{} was sent by {}, not by the sender {} of this read_state request",
                                hex::encode(id),
                                record.sender,
                                c.sender
                            )));
                        }
                        if record.effective != effective {
                            return Err(forbidden(format!(
                                "Request 0x{} was sent to {:?}, not to {:?} of this read_state request",
                                hex::encode(id),
                                record.effective,
                                effective
                            )));
                        }
                    }
                }
                [b"canister", canister, rest @ ..] => {
                    let canister = Principal::try_from_slice(canister)
                        .map_err(|_| invalid(path, "not a principal"))?;
                    if effective != Effective::Canister(canister) {
                        return Err(invalid(
                            path,
                            "canister information can only be read at /api/v2|v3/canister/<that canister>/read_state",
                        ));
                    }
                    match rest {
                        [b"module_hash" | b"controllers"] => {}
                        [b"metadata", name] => {
                            let name =
                                std::str::from_utf8(name).map_err(|_| invalid(path, "metadata names are UTF-8"))?;
                            if let Some((false, _)) = net.canister_metadata(canister).get(name) {
                                let controllers = net.controllers(canister).unwrap_or_default();
                                if !controllers.contains(&c.sender) {
                                    return Err(forbidden(format!(
                                        "Custom section {name} of canister {canister} is private: only its controllers may read it"
                                    )));
                                }
                            }
                        }
                        [b"certified_data"] => {
                            return Err(invalid(
                                path,
                                "certified data is only exposed to the canister itself (ic0.data_certificate_copy)",
                            ))
                        }
                        _ => return Err(invalid(path, "no such path")),
                    }
                }
                _ => return Err(invalid(path, "no such path")),
            }
        }
        Ok(request_id)
    }
}
