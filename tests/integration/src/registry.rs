//! The registry canister on localnet: its Wasm, installation with a
//! configuration, miner profiles, and answers to its HTTPS outcalls.

use crate::{controller, encode};
use candid::Principal;
use ic_management_canister_types::HttpRequestResult;
use localnet::{Config as NetConfig, LocalNet, OutcallMode};
use std::path::PathBuf;
pub use tensormine_core::registry::*;

/// Overrides where the registry Wasm is read from.
pub const REGISTRY_WASM_ENV: &str = "REGISTRY_WASM";
const REGISTRY_WASM_PATH: &str =
    "target/wasm32-unknown-unknown/canister-release/tensormine_registry.wasm";

/// The registry Wasm, gzipped (the plain module exceeds the 2 MiB ingress limit).
pub fn registry_wasm() -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&registry_wasm_plain())
        .expect("gzip in memory");
    gz.finish().expect("gzip in memory")
}

pub fn registry_wasm_plain() -> Vec<u8> {
    let path = match std::env::var_os(REGISTRY_WASM_ENV) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(REGISTRY_WASM_PATH),
    };
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("cannot read the registry Wasm at {} ({e}); build it with scripts/build-canisters.sh or set {REGISTRY_WASM_ENV}", path.display())
    })
}

/// The router principal configured in tests.
pub fn router() -> Principal {
    Principal::from_slice(&[0x70, 0x07, 0xE4])
}

/// A miner principal.
pub fn miner(i: u8) -> Principal {
    Principal::from_slice(&[0x3A, 0x1E, i])
}

/// A net in mock outcall mode with the registry installed (local mode, mainnet addresses).
pub fn net_with_registry(update: ConfigUpdate) -> (LocalNet, Principal) {
    let mut net = LocalNet::with_config(NetConfig {
        outcalls: OutcallMode::Mock,
        ..NetConfig::default()
    });
    let canister = install_registry(&mut net, update);
    (net, canister)
}

pub fn install_registry(net: &mut LocalNet, update: ConfigUpdate) -> Principal {
    let canister = net.create_canister(controller());
    let update = ConfigUpdate {
        router: update.router.or(Some(Some(router()))),
        ..update
    };
    net.install_canister(
        canister,
        registry_wasm(),
        encode((Some(RegistryArg::Init(update)),)),
    );
    canister
}

/// The ed25519 key of test worker `i`.
pub fn worker_key(i: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[i; 32])
}

/// A valid profile for worker `i` (endpoint `https://w<i>.example.com`).
pub fn profile(i: u8) -> MinerProfile {
    MinerProfile {
        endpoint: format!("https://w{i}.example.com"),
        worker_public_key: worker_key(i).verifying_key().to_bytes().to_vec(),
        gpus: vec![Gpu {
            model: "NVIDIA RTX 4090".into(),
            memory_bytes: 24 << 30,
            count: 2,
        }],
        offers: vec![
            WorkloadOffer {
                workload: WorkloadKind::Matmul,
                price_sats_per_unit: 5 + i as u64,
            },
            WorkloadOffer {
                workload: WorkloadKind::Embed,
                price_sats_per_unit: 50,
            },
        ],
        btc_address: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into(),
        region: "eu-west".into(),
        labels: vec!["solar".into(), "tier:a".into()],
    }
}

/// A worker's `/v1/health` body for `key`, with the given load.
pub fn health_body(key: &[u8], queued: u32) -> Vec<u8> {
    let health = tensormine_core::api::Health {
        version: "0.1.0".into(),
        public_key: tensormine_core::api::HexBytes(key.to_vec()),
        workloads: vec![tensormine_core::api::Workload::Matmul],
        models: vec![],
        inventory: Default::default(),
        load: tensormine_core::api::Load { queued, running: 0 },
    };
    serde_json::to_vec(&health).expect("health serialises")
}

pub fn ok_response(body: Vec<u8>) -> HttpRequestResult {
    HttpRequestResult {
        status: 200u32.into(),
        headers: vec![],
        body,
    }
}

/// Answers every pending outcall with `answer(url)` and delivers the replies.
pub fn answer_all(
    net: &mut LocalNet,
    mut answer: impl FnMut(&str) -> Option<HttpRequestResult>,
) -> usize {
    let pending = net.pending_http_outcalls();
    for p in &pending {
        let result = match answer(&p.request.url) {
            Some(r) => Ok(r),
            None => Err((
                localnet::RejectCode::SysTransient,
                "connection refused".to_string(),
            )),
        };
        net.answer_http_outcall(p.id, result)
            .expect("pending outcall answered");
    }
    net.tick();
    pending.len()
}
