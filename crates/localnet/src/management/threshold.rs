//! Randomness and threshold keys: `raw_rand`, ECDSA and Schnorr public keys
//! and signatures (with the IC's key derivation and fees).

use super::{decode, insufficient_cycles, reply, Answer};
use crate::error::RejectResponse;
use crate::state::{LocalNet, Request};
use candid::CandidType;
use ic_error_types::ErrorCode;
use ic_management_canister_types::{
    EcdsaPublicKeyArgs, SchnorrPublicKeyArgs, SignWithEcdsaArgs, SignWithSchnorrArgs,
};
use rand::RngCore;

impl LocalNet {
    pub(super) fn raw_rand(&mut self) -> Result<Vec<u8>, RejectResponse> {
        let mut bytes = vec![0u8; 32];
        self.rng.fill_bytes(&mut bytes);
        reply(&bytes)
    }

    pub(super) fn ecdsa_public_key(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: EcdsaPublicKeyArgs = decode("ecdsa_public_key", &r.payload)?;
        let result = self
            .keys
            .ecdsa_public_key(r.sender, &args)
            .map_err(threshold_reject)?;
        reply(&result)
    }

    pub(super) fn schnorr_public_key(&mut self, r: &Request) -> Result<Vec<u8>, RejectResponse> {
        let args: SchnorrPublicKeyArgs = decode("schnorr_public_key", &r.payload)?;
        let result = self
            .keys
            .schnorr_public_key(r.sender, &args)
            .map_err(threshold_reject)?;
        reply(&result)
    }

    pub(super) fn sign_with_ecdsa(&mut self, r: &Request) -> Answer {
        let args: SignWithEcdsaArgs = match decode("sign_with_ecdsa", &r.payload) {
            Ok(a) => a,
            Err(e) => return Answer::Now(Err(e), 0),
        };
        let curve = args.key_id.curve as u32;
        let cost = self.costs.sign_with_ecdsa(&args.key_id.name, curve);
        self.paid_signature(r, "sign_with_ecdsa", cost, |net| {
            net.keys.sign_with_ecdsa(r.sender, &args)
        })
    }

    pub(super) fn sign_with_schnorr(&mut self, r: &Request) -> Answer {
        let args: SignWithSchnorrArgs = match decode("sign_with_schnorr", &r.payload) {
            Ok(a) => a,
            Err(e) => return Answer::Now(Err(e), 0),
        };
        let algorithm = args.key_id.algorithm as u32;
        let cost = self.costs.sign_with_schnorr(&args.key_id.name, algorithm);
        self.paid_signature(r, "sign_with_schnorr", cost, |net| {
            net.keys.sign_with_schnorr(r.sender, &args)
        })
    }

    /// A signature costs the key's fee, which the caller must attach.
    fn paid_signature<T: CandidType>(
        &mut self,
        r: &Request,
        method: &str,
        cost: Result<u128, u32>,
        sign: impl FnOnce(&mut Self) -> Result<T, localnet_services::threshold::ThresholdError>,
    ) -> Answer {
        if let Ok(cost) = cost {
            if r.cycles < cost {
                return Answer::Now(Err(insufficient_cycles(method, r.cycles, cost)), 0);
            }
        }
        match sign(self) {
            Ok(result) => Answer::Now(reply(&result), cost.unwrap_or(0)),
            Err(e) => Answer::Now(Err(threshold_reject(e)), 0),
        }
    }
}

fn threshold_reject(e: localnet_services::threshold::ThresholdError) -> RejectResponse {
    RejectResponse::custom(
        e.reject_code(),
        ErrorCode::CanisterRejectedMessage,
        e.to_string(),
    )
}
