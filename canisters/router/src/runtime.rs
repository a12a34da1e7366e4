//! Every effect the router's logic needs — the clock, `raw_rand`, HTTPS
//! outcalls, calls to the escrow and the registry, threshold Schnorr — behind
//! one trait, so the job engine runs natively in unit tests with a scripted
//! runtime and on the IC with [`IcRuntime`].

use candid::Principal;
use ic_cdk_management_canister::{
    transform_context_from_query, HttpHeader, HttpMethod, HttpRequest, SchnorrAlgorithm,
    SchnorrKeyId, SchnorrPublicKeyArgs, SignWithSchnorrArgs,
};

/// An HTTPS outcall to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcall {
    pub url: String,
    /// `None` for GET, the JSON body for POST.
    pub body: Option<Vec<u8>>,
    pub max_response_bytes: u64,
    /// Made by every replica (with the `transform_body` transform) or by one.
    pub replicated: bool,
    /// How long the worker may take to answer; the outcall's fee grows with
    /// it (300 cycles per ms per node), so small answers reserve little.
    pub expected_roundtrip_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcallResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// `x-tensormine-result-length` when present (result chunks).
    pub total_length: Option<u64>,
}

/// An outcall's answer and the cycles it was charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcallResult {
    pub response: Result<OutcallResponse, String>,
    pub cycles: u128,
}

#[allow(async_fn_in_trait)]
pub trait Runtime {
    /// Nanoseconds since the epoch.
    fn time(&self) -> u64;
    /// This canister's id.
    fn id(&self) -> Principal;
    /// 32 bytes from the management canister's `raw_rand`.
    async fn raw_rand(&self) -> Result<[u8; 32], String>;
    async fn http(&self, request: Outcall) -> OutcallResult;
    /// A bounded-time-free (guaranteed response) call with candid bytes;
    /// `Err` when the system rejected it (the callee may or may not have run).
    async fn call(&self, canister: Principal, method: &str, arg: Vec<u8>) -> Result<Vec<u8>, String>;
    /// Threshold Schnorr (ed25519) signature of `message` with the canister's key.
    async fn sign(&self, key_name: &str, message: Vec<u8>) -> Result<(Vec<u8>, u128), String>;
    async fn public_key(&self, key_name: &str) -> Result<Vec<u8>, String>;
    fn set_certified_data(&self, data: &[u8]);
}

/// The Internet Computer.
#[derive(Debug, Clone, Copy, Default)]
pub struct IcRuntime;

fn key_id(name: &str) -> SchnorrKeyId {
    SchnorrKeyId {
        algorithm: SchnorrAlgorithm::Ed25519,
        name: name.to_string(),
    }
}

impl Runtime for IcRuntime {
    fn time(&self) -> u64 {
        ic_cdk::api::time()
    }

    fn id(&self) -> Principal {
        ic_cdk::api::canister_self()
    }

    async fn raw_rand(&self) -> Result<[u8; 32], String> {
        let bytes = ic_cdk_management_canister::raw_rand()
            .await
            .map_err(|e| format!("raw_rand failed: {e}"))?;
        bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("raw_rand returned {} bytes", b.len()))
    }

    async fn http(&self, request: Outcall) -> OutcallResult {
        let mut builder = HttpRequest::new(request.url)
            .with_max_response_bytes(request.max_response_bytes)
            .with_expected_roundtrip_time_ms(request.expected_roundtrip_ms);
        builder = if request.replicated {
            builder
                .with_transform(transform_context_from_query(
                    "transform_body".to_string(),
                    Vec::new(),
                ))
                // Filtering headers and copying the body: well under 10M.
                .with_expected_transform_instructions(10_000_000)
        } else {
            builder.non_replicated()
        };
        if let Some(body) = request.body {
            builder = builder
                .with_method(HttpMethod::POST)
                .with_headers(vec![HttpHeader {
                    name: "content-type".into(),
                    value: "application/json".into(),
                }])
                .with_body(body);
        }
        let cycles = builder.get_cost();
        let response = builder.send().await.map_err(|e| e.to_string()).map(|r| {
            let total_length = r
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(tensormine_core::api::RESULT_LENGTH_HEADER))
                .and_then(|h| h.value.parse().ok());
            OutcallResponse {
                status: u16::try_from(&r.status.0).unwrap_or(0),
                body: r.body,
                total_length,
            }
        });
        OutcallResult { response, cycles }
    }

    async fn call(&self, canister: Principal, method: &str, arg: Vec<u8>) -> Result<Vec<u8>, String> {
        ic_cdk::call::Call::unbounded_wait(canister, method)
            .with_raw_args(&arg)
            .await
            .map(|r| r.into_bytes())
            .map_err(|e| format!("{method} on {canister}: {e}"))
    }

    async fn sign(&self, key_name: &str, message: Vec<u8>) -> Result<(Vec<u8>, u128), String> {
        let args = SignWithSchnorrArgs {
            message,
            derivation_path: vec![],
            key_id: key_id(key_name),
            aux: None,
        };
        let cycles = ic_cdk::api::cost_sign_with_schnorr(key_name, 1).unwrap_or(0);
        ic_cdk_management_canister::sign_with_schnorr(&args)
            .await
            .map(|r| (r.signature, cycles))
            .map_err(|e| format!("sign_with_schnorr: {e}"))
    }

    async fn public_key(&self, key_name: &str) -> Result<Vec<u8>, String> {
        let args = SchnorrPublicKeyArgs {
            canister_id: None,
            derivation_path: vec![],
            key_id: key_id(key_name),
        };
        ic_cdk_management_canister::schnorr_public_key(&args)
            .await
            .map(|r| r.public_key)
            .map_err(|e| format!("schnorr_public_key: {e}"))
    }

    fn set_certified_data(&self, data: &[u8]) {
        ic_cdk::api::certified_data_set(data)
    }
}
