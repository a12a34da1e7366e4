//! Emulated chain-key (threshold) signatures with the IC's key derivation.
//!
//! The IC never holds a threshold master secret in one place; localnet does, because
//! there is one machine and nothing to protect. What canisters can observe is kept
//! faithful:
//!
//! * the derivation path is the IC's: the caller's canister id, then the user's path
//!   (`DerivationPath::from_canister_id_and_path`), starting from the master key with
//!   an all-zero chain code, exactly as `ic-secp256k1` / `ic-ed25519` derive mainnet
//!   keys. A canister can therefore derive child keys offline from the key and chain
//!   code that `ecdsa_public_key` / `schnorr_public_key` return;
//! * the key names `dfx_test_key`, `test_key_1` and `key_1` exist for ECDSA secp256k1,
//!   BIP340 Schnorr and Ed25519, each with its own master key (as on mainnet: sharing a
//!   key between algorithms would hide a canister using the wrong one);
//! * validation errors carry the IC's reject codes and messages.
//!
//! Master keys come from fixed, public seeds ([`master_key_seed`]) so that every
//! localnet run, whatever the net's own seed, sees the same keys. They are test keys:
//! anyone can compute their secrets.

use candid::Principal;
use ic_error_types::RejectCode;
use ic_management_canister_types::{
    EcdsaCurve, EcdsaKeyId, EcdsaPublicKeyArgs, EcdsaPublicKeyResult, SchnorrAlgorithm, SchnorrAux,
    SchnorrPublicKeyArgs, SchnorrPublicKeyResult, SignWithEcdsaArgs, SignWithEcdsaResult,
    SignWithSchnorrArgs, SignWithSchnorrResult,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// The key names localnet provides, for every algorithm.
pub const KEY_NAMES: [&str; 3] = ["dfx_test_key", "test_key_1", "key_1"];

/// A rejected management-canister threshold call, as the IC would reject it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ThresholdError {
    code: RejectCode,
    message: String,
}

impl ThresholdError {
    fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The reject code the caller sees.
    pub fn reject_code(&self) -> RejectCode {
        self.code
    }

    /// The reject message the caller sees.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The three kinds of master key, named as the seeds name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA over secp256k1 (`sign_with_ecdsa`).
    EcdsaSecp256k1,
    /// BIP340 Schnorr over secp256k1 (`sign_with_schnorr`, `bip340secp256k1`).
    SchnorrBip340,
    /// Ed25519 (`sign_with_schnorr`, `ed25519`).
    SchnorrEd25519,
}

impl Algorithm {
    fn seed_label(self) -> &'static str {
        match self {
            Algorithm::EcdsaSecp256k1 => "ecdsa-secp256k1",
            Algorithm::SchnorrBip340 => "schnorr-bip340secp256k1",
            Algorithm::SchnorrEd25519 => "schnorr-ed25519",
        }
    }

    /// The IC's display form of a key id of this algorithm (`MasterPublicKeyId`'s
    /// `Display`), used in its error messages.
    fn key_id_string(self, name: &str) -> String {
        match self {
            Algorithm::EcdsaSecp256k1 => format!("ecdsa:Secp256k1:{name}"),
            Algorithm::SchnorrBip340 => format!("schnorr:Bip340Secp256k1:{name}"),
            Algorithm::SchnorrEd25519 => format!("schnorr:Ed25519:{name}"),
        }
    }
}

/// The seed a master key is generated from: `tensormine-localnet/<algorithm>/<key name>`
/// (algorithm one of `ecdsa-secp256k1`, `schnorr-bip340secp256k1`, `schnorr-ed25519`),
/// passed to `generate_from_seed` of `ic-secp256k1` / `ic-ed25519`.
pub fn master_key_seed(algorithm: Algorithm, key_name: &str) -> Vec<u8> {
    format!("tensormine-localnet/{}/{key_name}", algorithm.seed_label()).into_bytes()
}

/// The master keys of every key name, per algorithm.
pub struct ThresholdKeys {
    ecdsa: Vec<(&'static str, ic_secp256k1::PrivateKey)>,
    bip340: Vec<(&'static str, ic_secp256k1::PrivateKey)>,
    ed25519: Vec<(&'static str, ic_ed25519::PrivateKey)>,
}

impl Default for ThresholdKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl ThresholdKeys {
    /// Generates the fixed master keys (see [`master_key_seed`]).
    pub fn new() -> Self {
        let secp = |algorithm| {
            KEY_NAMES
                .iter()
                .map(|name| {
                    let seed = master_key_seed(algorithm, name);
                    (*name, ic_secp256k1::PrivateKey::generate_from_seed(&seed))
                })
                .collect()
        };
        let ed25519 = KEY_NAMES
            .iter()
            .map(|name| {
                let seed = master_key_seed(Algorithm::SchnorrEd25519, name);
                (*name, ic_ed25519::PrivateKey::generate_from_seed(&seed))
            })
            .collect();
        Self {
            ecdsa: secp(Algorithm::EcdsaSecp256k1),
            bip340: secp(Algorithm::SchnorrBip340),
            ed25519,
        }
    }

    /// `ecdsa_public_key`: the key of `args.canister_id` (or the caller) at the path.
    pub fn ecdsa_public_key(
        &self,
        caller: Principal,
        args: &EcdsaPublicKeyArgs,
    ) -> Result<EcdsaPublicKeyResult, ThresholdError> {
        let master = self.ecdsa_master(&args.key_id, Purpose::PublicKey)?;
        let canister = args.canister_id.unwrap_or(caller);
        let (key, chain_code) = master.derive_subkey(&secp_path(canister, &args.derivation_path));
        Ok(EcdsaPublicKeyResult {
            public_key: key.public_key().serialize_sec1(true),
            chain_code: chain_code.to_vec(),
        })
    }

    /// `sign_with_ecdsa`: signs the 32-byte hash with the caller's key at the path.
    ///
    /// The signature is `r || s` (64 bytes) with low `s`, deterministic (RFC 6979).
    pub fn sign_with_ecdsa(
        &self,
        caller: Principal,
        args: &SignWithEcdsaArgs,
    ) -> Result<SignWithEcdsaResult, ThresholdError> {
        let master = self.ecdsa_master(&args.key_id, Purpose::Signing)?;
        if args.message_hash.len() != 32 {
            // The IC's `message_hash` is a `[u8; 32]`: any other length fails decoding.
            return Err(ThresholdError::new(
                RejectCode::CanisterReject,
                format!(
                    "Error decoding candid: message_hash must be 32 bytes, got {}",
                    args.message_hash.len()
                ),
            ));
        }
        let (key, _) = master.derive_subkey(&secp_path(caller, &args.derivation_path));
        Ok(SignWithEcdsaResult {
            signature: key.sign_digest_with_ecdsa(&args.message_hash).to_vec(),
        })
    }

    /// `schnorr_public_key`: the key of `args.canister_id` (or the caller) at the path.
    ///
    /// BIP340 keys are returned SEC1-compressed (33 bytes), Ed25519 keys raw (32 bytes),
    /// as the spec says.
    pub fn schnorr_public_key(
        &self,
        caller: Principal,
        args: &SchnorrPublicKeyArgs,
    ) -> Result<SchnorrPublicKeyResult, ThresholdError> {
        let canister = args.canister_id.unwrap_or(caller);
        let path = &args.derivation_path;
        let (public_key, chain_code) = match args.key_id.algorithm {
            SchnorrAlgorithm::Bip340secp256k1 => {
                let master = self.bip340_master(&args.key_id.name, Purpose::PublicKey)?;
                let (key, cc) = master.derive_subkey(&secp_path(canister, path));
                (key.public_key().serialize_sec1(true), cc)
            }
            SchnorrAlgorithm::Ed25519 => {
                let master = self.ed25519_master(&args.key_id.name, Purpose::PublicKey)?;
                let (key, cc) = master.derive_subkey(&ed25519_path(canister, path));
                (key.public_key().serialize_raw().to_vec(), cc)
            }
        };
        Ok(SchnorrPublicKeyResult {
            public_key,
            chain_code: chain_code.to_vec(),
        })
    }

    /// `sign_with_schnorr`: BIP340 (optionally BIP341-tweaked by `aux`) or Ed25519.
    ///
    /// BIP340 signing draws its auxiliary randomness from a ChaCha20 stream seeded with a
    /// hash of the inputs, so runs are reproducible; Ed25519 is deterministic anyway.
    pub fn sign_with_schnorr(
        &self,
        caller: Principal,
        args: &SignWithSchnorrArgs,
    ) -> Result<SignWithSchnorrResult, ThresholdError> {
        let signature = match args.key_id.algorithm {
            SchnorrAlgorithm::Bip340secp256k1 => self.sign_bip340(caller, args)?,
            SchnorrAlgorithm::Ed25519 => self.sign_ed25519(caller, args)?,
        };
        Ok(SignWithSchnorrResult { signature })
    }

    fn sign_bip340(
        &self,
        caller: Principal,
        args: &SignWithSchnorrArgs,
    ) -> Result<Vec<u8>, ThresholdError> {
        let master = self.bip340_master(&args.key_id.name, Purpose::Signing)?;
        let merkle_root = args
            .aux
            .as_ref()
            .map(|SchnorrAux::Bip341(aux)| aux.merkle_root_hash.as_slice());
        if merkle_root.is_some_and(|root| !root.is_empty() && root.len() != 32) {
            return Err(invalid_aux("Invalid aux field for Bip340Secp256k1"));
        }
        let (key, _) = master.derive_subkey(&secp_path(caller, &args.derivation_path));
        let mut rng = signing_rng(caller, args);
        let signature = match merkle_root {
            None => key.sign_message_with_bip340(&args.message, &mut rng),
            Some(root) => key
                .sign_message_with_bip341(&args.message, &mut rng, root)
                .map_err(|_| invalid_aux("Invalid aux field for Bip340Secp256k1"))?,
        };
        Ok(signature.to_vec())
    }

    fn sign_ed25519(
        &self,
        caller: Principal,
        args: &SignWithSchnorrArgs,
    ) -> Result<Vec<u8>, ThresholdError> {
        let master = self.ed25519_master(&args.key_id.name, Purpose::Signing)?;
        if args.aux.is_some() {
            return Err(invalid_aux(
                "Schnorr algorithm Ed25519 does not support aux input",
            ));
        }
        let (key, _) = master.derive_subkey(&ed25519_path(caller, &args.derivation_path));
        Ok(key.sign_message(&args.message).to_vec())
    }

    fn ecdsa_master(
        &self,
        key_id: &EcdsaKeyId,
        purpose: Purpose,
    ) -> Result<&ic_secp256k1::PrivateKey, ThresholdError> {
        // There is no secp256r1 key on the IC, so such a key id is simply unknown.
        let found = match key_id.curve {
            EcdsaCurve::Secp256k1 => find(&self.ecdsa, &key_id.name),
            EcdsaCurve::Secp256r1 => None,
        };
        found.ok_or_else(|| {
            let shown = format!("ecdsa:{:?}:{}", key_id.curve, key_id.name);
            unknown_key(purpose.ecdsa_method(), &shown, purpose)
        })
    }

    fn bip340_master(
        &self,
        name: &str,
        purpose: Purpose,
    ) -> Result<&ic_secp256k1::PrivateKey, ThresholdError> {
        find(&self.bip340, name).ok_or_else(|| {
            let shown = Algorithm::SchnorrBip340.key_id_string(name);
            unknown_key(purpose.schnorr_method(), &shown, purpose)
        })
    }

    fn ed25519_master(
        &self,
        name: &str,
        purpose: Purpose,
    ) -> Result<&ic_ed25519::PrivateKey, ThresholdError> {
        find(&self.ed25519, name).ok_or_else(|| {
            let shown = Algorithm::SchnorrEd25519.key_id_string(name);
            unknown_key(purpose.schnorr_method(), &shown, purpose)
        })
    }
}

/// Whether a key is wanted for its public key or for signing: the IC words the
/// unknown-key error differently for the two.
#[derive(Clone, Copy)]
enum Purpose {
    PublicKey,
    Signing,
}

impl Purpose {
    fn ecdsa_method(self) -> &'static str {
        match self {
            Purpose::PublicKey => "ecdsa_public_key",
            Purpose::Signing => "sign_with_ecdsa",
        }
    }

    fn schnorr_method(self) -> &'static str {
        match self {
            Purpose::PublicKey => "schnorr_public_key",
            Purpose::Signing => "sign_with_schnorr",
        }
    }
}

fn find<'a, K>(keys: &'a [(&'static str, K)], name: &str) -> Option<&'a K> {
    keys.iter().find(|(n, _)| *n == name).map(|(_, k)| k)
}

/// All key ids localnet holds, in the IC's sorted `[a, b, ...]` form.
fn existing_keys() -> String {
    let algorithms = [
        Algorithm::EcdsaSecp256k1,
        Algorithm::SchnorrBip340,
        Algorithm::SchnorrEd25519,
    ];
    let mut keys: Vec<String> = algorithms
        .iter()
        .flat_map(|a| KEY_NAMES.iter().map(|n| a.key_id_string(n)))
        .collect();
    keys.sort();
    format!("[{}]", keys.join(", "))
}

/// The IC fails to route a request for an unknown key: `DESTINATION_INVALID` with the
/// `Debug` form of its `ChainKeyError`.
fn unknown_key(method: &str, key: &str, purpose: Purpose) -> ThresholdError {
    let inner = match purpose {
        Purpose::PublicKey => format!(
            "Requested unknown threshold key: {key}, existing keys: {}",
            existing_keys()
        ),
        Purpose::Signing => format!(
            "Requested unknown or disabled threshold key: {key}, existing enabled keys: {}",
            existing_keys()
        ),
    };
    ThresholdError::new(
        RejectCode::DestinationInvalid,
        format!("Unable to route management canister request {method}: ChainKeyError({inner:?})"),
    )
}

fn invalid_aux(message: &str) -> ThresholdError {
    ThresholdError::new(RejectCode::CanisterReject, message)
}

fn secp_path(canister: Principal, path: &[Vec<u8>]) -> ic_secp256k1::DerivationPath {
    ic_secp256k1::DerivationPath::from_canister_id_and_path(canister.as_slice(), path)
}

fn ed25519_path(canister: Principal, path: &[Vec<u8>]) -> ic_ed25519::DerivationPath {
    ic_ed25519::DerivationPath::from_canister_id_and_path(canister.as_slice(), path)
}

/// An RNG seeded from everything that identifies a signing request, so the same
/// request always gets the same signature.
fn signing_rng(caller: Principal, args: &SignWithSchnorrArgs) -> ChaCha20Rng {
    let encoded = candid::encode_args((caller, args)).expect("candid encodes its own types");
    let seed: [u8; 32] = Sha256::new()
        .chain_update(b"tensormine-localnet/schnorr-aux-rand")
        .chain_update(encoded)
        .finalize()
        .into();
    ChaCha20Rng::from_seed(seed)
}

#[cfg(test)]
mod tests;
