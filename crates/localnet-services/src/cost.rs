//! The IC's cycle cost formulas, for an application subnet of `n` nodes.
//!
//! Fees are set for a reference subnet of 13 nodes and scale linearly with the subnet
//! size (`fee * n / 13`), except HTTPS outcalls, whose formula has `n` in it. The
//! functions mirror the `ic0.cost_*` system calls so the executor can answer them.
//! Sources: IC docs "Cycles cost formulas" and the IC's `subnet_config.rs` /
//! `cycles_account_manager.rs`.

use candid::{CandidType, Deserialize, Reserved};

/// The subnet size the fee schedule is defined for.
pub const REFERENCE_SUBNET_SIZE: u128 = 13;
/// The size of an ordinary application subnet.
pub const DEFAULT_SUBNET_SIZE: u32 = 13;
/// The size of the subnet holding the production threshold keys (`key_1`, fiduciary).
pub const KEY_1_SUBNET_SIZE: u128 = 34;

/// Per ingress message received (13 nodes).
pub const INGRESS_MESSAGE_RECEPTION_FEE: u128 = 1_200_000;
/// Per ingress byte received (13 nodes).
pub const INGRESS_BYTE_RECEPTION_FEE: u128 = 2_000;
/// Per update message executed (13 nodes).
pub const UPDATE_MESSAGE_EXECUTION_FEE: u128 = 5_000_000;
/// Per ten update instructions executed (13 nodes).
pub const TEN_UPDATE_INSTRUCTIONS_EXECUTION_FEE: u128 = 10;
/// Per inter-canister call sent (13 nodes).
pub const XNET_CALL_FEE: u128 = 260_000;
/// Per byte of an inter-canister call (method name and payload, 13 nodes).
pub const XNET_BYTE_TRANSMISSION_FEE: u128 = 1_000;
/// Per canister created (13 nodes).
pub const CANISTER_CREATION_FEE: u128 = 500_000_000_000;
/// Per threshold signature or vetKD key, on a 13-node key subnet.
pub const THRESHOLD_SIGNATURE_FEE: u128 = 10_000_000_000;
/// The `max_response_bytes` assumed when a request leaves it out.
pub const MAX_RESPONSE_BYTES: u64 = 2_000_000;

/// `ic0.cost_sign_with_*` / `cost_vetkd_derive_key` result code: unknown curve or algorithm.
pub const INVALID_CURVE_OR_ALGORITHM: u32 = 1;
/// `ic0.cost_sign_with_*` / `cost_vetkd_derive_key` result code: unknown key name.
pub const INVALID_KEY_NAME: u32 = 2;

/// Costs on a subnet of a given size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubnetCosts {
    /// Number of nodes on the subnet.
    pub nodes: u32,
}

impl Default for SubnetCosts {
    fn default() -> Self {
        Self {
            nodes: DEFAULT_SUBNET_SIZE,
        }
    }
}

impl SubnetCosts {
    /// Costs on a subnet of `nodes` nodes.
    pub fn new(nodes: u32) -> Self {
        Self { nodes }
    }

    fn n(&self) -> u128 {
        u128::from(self.nodes)
    }

    /// Scales a 13-node fee to this subnet, rounding down as the IC does.
    fn scale(&self, fee: u128) -> u128 {
        fee * self.n() / REFERENCE_SUBNET_SIZE
    }

    /// Inducting an ingress message of `bytes` bytes (method name + payload).
    pub fn ingress_induction(&self, bytes: u64) -> u128 {
        self.scale(INGRESS_MESSAGE_RECEPTION_FEE + INGRESS_BYTE_RECEPTION_FEE * u128::from(bytes))
    }

    /// Executing an update message that ran `instructions` instructions.
    pub fn update_execution(&self, instructions: u64) -> u128 {
        let per_instruction = TEN_UPDATE_INSTRUCTIONS_EXECUTION_FEE * u128::from(instructions) / 10;
        self.scale(UPDATE_MESSAGE_EXECUTION_FEE + per_instruction)
    }

    /// `ic0.cost_call`: sending an inter-canister call with a method name and payload of
    /// these sizes (the call and its bytes; execution of the callee is not included).
    pub fn call(&self, method_name_size: u64, payload_size: u64) -> u128 {
        let bytes = u128::from(method_name_size) + u128::from(payload_size);
        self.scale(XNET_CALL_FEE + XNET_BYTE_TRANSMISSION_FEE * bytes)
    }

    /// `ic0.cost_create_canister`.
    pub fn create_canister(&self) -> u128 {
        self.scale(CANISTER_CREATION_FEE)
    }

    /// `ic0.cost_http_request` (pricing version 1):
    /// `(3_000_000 + 60_000 n) n + 400 n request_size + 800 n max_res_bytes`.
    pub fn http_request(&self, request_size: u64, max_res_bytes: u64) -> u128 {
        let n = self.n();
        (3_000_000 + 60_000 * n) * n
            + 400 * n * u128::from(request_size)
            + 800 * n * u128::from(max_res_bytes)
    }

    /// `ic0.cost_http_request_v2`: `params` is the Candid encoding of
    /// [`CostHttpRequestV2Params`]. Returns `None` when it does not decode (the system
    /// call traps then).
    ///
    /// A fully replicated outcall costs, per the interface spec,
    /// `n * (1_000_000 + 50 * request_bytes + 140_000 * n + 800 * n * n
    /// + 50 * raw_response_bytes + 300 * http_roundtrip_time_ms
    /// + transform_instructions / 13 + (10 * n + 650) * transformed_response_bytes)`.
    ///
    /// Non-replicated and flexible outcalls replace the replication part of the base
    /// fee (`140_000 * n + 800 * n * n`) by the IC's flexible base fee
    /// (`90_000 * n + 2_000 * n * m + 100_000 * m` for `m` required responses,
    /// `m = 1` when non-replicated).
    pub fn http_request_v2(&self, params: &[u8]) -> Option<u128> {
        let p: CostHttpRequestV2Params = candid::decode_one(params).ok()?;
        let n = self.n();
        let replication = match &p.outcall_type {
            None | Some(HttpOutcallType::FullyReplicated(_)) => 140_000 * n + 800 * n * n,
            Some(HttpOutcallType::NonReplicated(_)) => flexible_base(n, 1),
            Some(HttpOutcallType::Flexible(counts)) => {
                let m = counts
                    .as_ref()
                    .map_or(2 * n / 3 + 1, |c| u128::from(c.min_responses));
                flexible_base(n, m)
            }
        };
        let per_node = 1_000_000
            + 50 * u128::from(p.request_bytes)
            + replication
            + 50 * u128::from(p.raw_response_bytes)
            + 300 * u128::from(p.http_roundtrip_time_ms)
            + u128::from(p.transform_instructions) / 13
            + (10 * n + 650) * u128::from(p.transformed_response_bytes);
        Some(n * per_node)
    }

    /// `ic0.cost_sign_with_ecdsa`: `Err(1)` for a curve other than secp256k1 (`0`),
    /// `Err(2)` for an unknown key name.
    pub fn sign_with_ecdsa(&self, key_name: &str, curve: u32) -> Result<u128, u32> {
        check(curve, 1)?;
        key_fee(key_name)
    }

    /// `ic0.cost_sign_with_schnorr`: algorithms `0` (bip340secp256k1) and `1` (ed25519).
    pub fn sign_with_schnorr(&self, key_name: &str, algorithm: u32) -> Result<u128, u32> {
        check(algorithm, 2)?;
        key_fee(key_name)
    }

    /// `ic0.cost_vetkd_derive_key`: curve `0` (bls12_381_g2).
    pub fn vetkd_derive_key(&self, key_name: &str, curve: u32) -> Result<u128, u32> {
        check(curve, 1)?;
        key_fee(key_name)
    }
}

/// The flexible-outcall base fee's replication part, for `m` required responses.
fn flexible_base(n: u128, m: u128) -> u128 {
    90_000 * n + 2_000 * n * m + 100_000 * m
}

fn check(code: u32, known: u32) -> Result<(), u32> {
    if code < known {
        Ok(())
    } else {
        Err(INVALID_CURVE_OR_ALGORITHM)
    }
}

/// Threshold fees are charged at the size of the subnet holding the key, not the
/// caller's: `key_1` lives on a 34-node subnet, the test keys on 13-node ones.
fn key_fee(key_name: &str) -> Result<u128, u32> {
    let key_subnet = match key_name {
        "key_1" => KEY_1_SUBNET_SIZE,
        "test_key_1" | "dfx_test_key" => REFERENCE_SUBNET_SIZE,
        _ => return Err(INVALID_KEY_NAME),
    };
    Ok(THRESHOLD_SIGNATURE_FEE * key_subnet / REFERENCE_SUBNET_SIZE)
}

/// The parameter record of `ic0.cost_http_request_v2`, as `ic-cdk-management-canister`
/// encodes it.
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CostHttpRequestV2Params {
    /// Bytes of the URL, header names and values, body, transform method name and context.
    pub request_bytes: u64,
    /// Milliseconds between sending the request and receiving the whole response.
    pub http_roundtrip_time_ms: u64,
    /// Bytes of the response before the transform.
    pub raw_response_bytes: u64,
    /// Bytes of the response after the transform.
    pub transformed_response_bytes: u64,
    /// Instructions the transform uses.
    pub transform_instructions: u64,
    /// The kind of outcall; absent means fully replicated.
    pub outcall_type: Option<HttpOutcallType>,
}

/// Which kind of outcall [`CostHttpRequestV2Params`] prices.
#[derive(CandidType, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum HttpOutcallType {
    /// `http_request` with `is_replicated` absent or true.
    #[serde(rename = "fully_replicated")]
    FullyReplicated(Reserved),
    /// `http_request` with `is_replicated = false`.
    #[serde(rename = "non_replicated")]
    NonReplicated(Reserved),
    /// `flexible_http_request`, with its replication counts if given.
    #[serde(rename = "flexible")]
    Flexible(Option<ic_management_canister_types::ReplicationCounts>),
}

#[cfg(test)]
mod tests;
