//! Every effect the registry's logic needs — the clock, `raw_rand`, HTTPS
//! outcalls — behind one trait, so probes and challenges run natively in
//! unit tests with a scripted runtime and on the IC with [`IcRuntime`].

use crate::state::mutate_state;
use ic_cdk_management_canister::{
    transform_context_from_query, HttpHeader, HttpMethod, HttpRequest,
};

/// Which transform the outcall's response goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// `transform_health`: headers dropped, `load` zeroed, body re-serialised.
    Health,
    /// `transform_body`: headers dropped, status and body kept.
    Body,
}

impl Transform {
    pub fn method(self) -> &'static str {
        match self {
            Transform::Health => "transform_health",
            Transform::Body => "transform_body",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcall {
    pub url: String,
    /// `None` for GET, the JSON body for POST.
    pub body: Option<Vec<u8>>,
    pub max_response_bytes: u64,
    pub transform: Transform,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcallResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

#[allow(async_fn_in_trait)]
pub trait Runtime {
    /// Nanoseconds since the epoch.
    fn time(&self) -> u64;
    /// 32 bytes from the management canister's `raw_rand`.
    async fn raw_rand(&self) -> Result<[u8; 32], String>;
    /// A replicated HTTPS outcall; `Err` when the system rejects it.
    async fn http(&self, request: Outcall) -> Result<OutcallResponse, String>;
}

/// The Internet Computer.
#[derive(Debug, Clone, Copy, Default)]
pub struct IcRuntime;

impl Runtime for IcRuntime {
    fn time(&self) -> u64 {
        ic_cdk::api::time()
    }

    async fn raw_rand(&self) -> Result<[u8; 32], String> {
        let bytes = ic_cdk_management_canister::raw_rand()
            .await
            .map_err(|e| format!("raw_rand failed: {e}"))?;
        bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("raw_rand returned {} bytes", b.len()))
    }

    async fn http(&self, request: Outcall) -> Result<OutcallResponse, String> {
        let mut builder = HttpRequest::new(request.url)
            .with_max_response_bytes(request.max_response_bytes)
            .with_expected_roundtrip_time_ms(30_000)
            .with_expected_transform_instructions(50_000_000)
            .with_transform(transform_context_from_query(
                request.transform.method().to_string(),
                Vec::new(),
            ));
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
        mutate_state(|s| s.update_counters(|c| c.outcall_cycles += cycles));
        let response = builder.send().await.map_err(|e| e.to_string())?;
        let status = u16::try_from(&response.status.0).unwrap_or(0);
        Ok(OutcallResponse {
            status,
            body: response.body,
        })
    }
}
