//! Every effect the router's logic needs — the clock, `raw_rand`, HTTPS
//! outcalls, calls to the escrow and the registry, threshold Schnorr — behind
//! one trait, so the job engine runs natively in unit tests with a scripted
//! runtime and on the IC with [`IcRuntime`]. Calls to other canisters and
//! workers are typed domain calls ([`crate::clients`]), in the manner of the
//! ckBTC minter's `CanisterRuntime`; [`IcRuntime`] implements them on
//! ic-cdk's raw calls.

use crate::clients::worker::{Outcall, OutcallResponse, OutcallResult};
use crate::clients::{CallError, EscrowApi, RegistryApi, WorkerApi};
use candid::utils::ArgumentEncoder;
use candid::{CandidType, Deserialize, Principal};
use ic_cdk_management_canister::{
    transform_context_from_query, HttpHeader, HttpMethod, HttpRequest, SchnorrAlgorithm,
    SchnorrKeyId, SchnorrPublicKeyArgs, SignWithSchnorrArgs,
};
use tensormine_core::escrow::{
    Balance, Hold, HoldError, RefundError, ReleaseError, Sats, Settlement, Slash, SlashError,
};
use tensormine_core::registry::{ChangesPage, JobOutcome, ReportError, Reputation};

#[allow(async_fn_in_trait)]
pub trait Runtime: EscrowApi + RegistryApi + WorkerApi {
    /// Nanoseconds since the epoch.
    fn time(&self) -> u64;
    /// This canister's id.
    fn id(&self) -> Principal;
    /// 32 bytes from the management canister's `raw_rand`.
    async fn raw_rand(&self) -> Result<[u8; 32], String>;
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

impl WorkerApi for IcRuntime {
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
        let mut headers = Vec::new();
        if let Some(capability) = &request.capability {
            headers.push(HttpHeader {
                name: tensormine_core::api::CAPABILITY_HEADER.into(),
                value: tensormine_core::api::bearer(capability),
            });
        }
        if let Some(body) = request.body {
            headers.push(HttpHeader {
                name: "content-type".into(),
                value: "application/json".into(),
            });
            builder = builder.with_method(HttpMethod::POST).with_body(body);
        }
        if !headers.is_empty() {
            builder = builder.with_headers(headers);
        }
        let cycles = builder.get_cost();
        let response = builder.send().await.map_err(|e| e.to_string()).map(|r| {
            let total_length = r
                .headers
                .iter()
                .find(|h| {
                    h.name
                        .eq_ignore_ascii_case(tensormine_core::api::RESULT_LENGTH_HEADER)
                })
                .and_then(|h| h.value.parse().ok());
            OutcallResponse {
                status: u16::try_from(&r.status.0).unwrap_or(0),
                body: r.body,
                total_length,
            }
        });
        OutcallResult { response, cycles }
    }
}

/// A guaranteed-response (unbounded wait) call with candid arguments and a
/// single candid result.
async fn call<A: ArgumentEncoder, T: CandidType + for<'de> Deserialize<'de>>(
    canister: Principal,
    method: &str,
    args: &A,
) -> Result<T, CallError> {
    let response = ic_cdk::call::Call::unbounded_wait(canister, method)
        .with_args(args)
        .await
        .map_err(|e| rejected(method, canister, e))?;
    response.candid().map_err(|e| CallError::Undecodable {
        method: method.to_string(),
        reason: e.to_string(),
    })
}

fn rejected(method: &str, canister: Principal, e: ic_cdk::call::CallFailed) -> CallError {
    let code = match &e {
        ic_cdk::call::CallFailed::CallRejected(r) => r.raw_reject_code(),
        // Not sent (no cycles, or the system refused to enqueue it): a
        // transient reject as far as the caller can tell.
        _ => 2,
    };
    CallError::Rejected {
        code,
        message: format!("{method} on {canister}: {e}"),
    }
}

impl EscrowApi for IcRuntime {
    async fn hold(
        &self,
        escrow: Principal,
        job: &str,
        payer: Principal,
        amount: Sats,
    ) -> Result<Result<Hold, HoldError>, CallError> {
        call(escrow, "hold", &(job, payer, amount)).await
    }

    async fn release(
        &self,
        escrow: Principal,
        job: &str,
        payees: &[(Principal, Sats)],
        fee: Sats,
    ) -> Result<Result<Settlement, ReleaseError>, CallError> {
        call(escrow, "release", &(job, payees, fee)).await
    }

    async fn refund(
        &self,
        escrow: Principal,
        job: &str,
    ) -> Result<Result<Settlement, RefundError>, CallError> {
        call(escrow, "refund", &(job,)).await
    }

    async fn balance(&self, escrow: Principal, owner: Principal) -> Result<Balance, CallError> {
        call(escrow, "get_balance", &(owner,)).await
    }

    async fn slash(
        &self,
        escrow: Principal,
        miner: Principal,
        amount: Sats,
        beneficiary: Principal,
        job: &str,
    ) -> Result<Result<Slash, SlashError>, CallError> {
        call(escrow, "slash", &(miner, amount, beneficiary, job)).await
    }
}

impl RegistryApi for IcRuntime {
    async fn report_job_outcome(
        &self,
        registry: Principal,
        outcome: JobOutcome,
    ) -> Result<Result<Reputation, ReportError>, CallError> {
        call(registry, "report_job_outcome", &(outcome,)).await
    }

    async fn changes_since(
        &self,
        registry: Principal,
        seq: u64,
        limit: u32,
    ) -> Result<ChangesPage, CallError> {
        // A query method, called as an update from a canister (the IC allows it).
        call(registry, "changes_since", &(seq, limit)).await
    }
}
