//! Deposit addresses: derivation paths and local derivation of child public
//! keys, exactly as the IC's threshold ECDSA derives them.
//!
//! # How the escrow uses it
//!
//! 1. Once (and after each upgrade, or cached in stable memory), the escrow
//!    calls the management canister's `ecdsa_public_key` with an **empty**
//!    derivation path. The IC always puts the calling canister's id first in
//!    the path, so the answer is the canister's own key: the master key
//!    derived along `[canister id]`, with its chain code. That pair is an
//!    [`ExtendedPublicKey`].
//! 2. A user's deposit address is that key derived locally along
//!    [`deposit_derivation_path`], as P2WPKH ([`deposit_address`]): no call.
//! 3. To spend a deposit UTXO the escrow calls `sign_with_ecdsa` with the same
//!    derivation path; the IC signs with the key whose public key step 2
//!    computed (derivation along `[canister id] ++ path` in one go equals
//!    derivation along `[canister id]` then along `path`).
//!
//! # Derivation path layout
//!
//! | path                                            | key                          |
//! |-------------------------------------------------|------------------------------|
//! | `[]`                                            | the canister's key (not used for addresses) |
//! | `[[0x00]]`                                      | the escrow's main account: change of payouts |
//! | `[[0x01], owner principal bytes, subaccount (32 bytes)]` | a user's deposit address |
//!
//! The first component is a schema byte, so the main account (one
//! component) and deposit accounts (three) can never collide, and a later
//! layout can use another schema byte. The owner is the principal's raw
//! bytes (0 to 29); the subaccount is always 32 bytes, all zero for the
//! default subaccount, so `None` and `Some([0; 32])` are the same account
//! (as in ICRC-1).
//!
//! # The derivation
//!
//! The IC interface spec's scheme (which is BIP-32 public derivation
//! generalised to byte-string indices, as in SLIP-10): for each index `i` of
//! the path, with the current public key `P` and chain code `c`,
//! `I = HMAC-SHA512(key = c, data = SEC1-compressed(P) || i)`;
//! the child key is `P + I[0..32]·G` and its chain code `I[32..64]`. If
//! `I[0..32]` is not below the curve order, or the child is the point at
//! infinity, the step is retried with `data = 0x01 || I[32..64] || i`.
//! For 4-byte indices below 2^31 this is exactly BIP-32.

use crate::address::{validate_compressed_public_key, AddressError, BitcoinAddress};
use candid::{CandidType, Principal};
use hmac::{Hmac, Mac};
use k256::elliptic_curve::group::Group;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use serde::{Deserialize, Serialize};
use sha2::Sha512;

/// First component of the escrow's main account path.
pub const MAIN_ACCOUNT_SCHEMA: u8 = 0x00;
/// First component of a deposit account path (version 1 of the layout).
pub const DEPOSIT_SCHEMA_V1: u8 = 0x01;

/// A public key with its chain code, as the management canister's
/// `ecdsa_public_key` returns them: `public_key` is the 33-byte compressed
/// SEC1 point, `chain_code` 32 bytes.
#[derive(CandidType, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExtendedPublicKey {
    /// Compressed SEC1 public key (33 bytes).
    pub public_key: Vec<u8>,
    /// Chain code (32 bytes).
    pub chain_code: Vec<u8>,
}

/// Why a key could not be used.
#[derive(CandidType, Serialize, Deserialize, thiserror::Error, Clone, Debug, PartialEq, Eq)]
pub enum DeriveError {
    /// The public key is not a compressed secp256k1 point.
    #[error("invalid public key: {reason}")]
    InvalidPublicKey {
        /// What is wrong.
        reason: String,
    },
    /// The chain code is not 32 bytes.
    #[error("chain code of {length} bytes, expected 32")]
    InvalidChainCode {
        /// Its length.
        length: u32,
    },
}

impl From<AddressError> for DeriveError {
    fn from(e: AddressError) -> Self {
        match e {
            AddressError::InvalidPublicKey { reason } => DeriveError::InvalidPublicKey { reason },
            other => DeriveError::InvalidPublicKey {
                reason: other.to_string(),
            },
        }
    }
}

impl ExtendedPublicKey {
    /// Checks and wraps what `ecdsa_public_key` returned.
    pub fn new(public_key: &[u8], chain_code: &[u8]) -> Result<Self, DeriveError> {
        let key = Self {
            public_key: public_key.to_vec(),
            chain_code: chain_code.to_vec(),
        };
        key.parts()?;
        Ok(key)
    }

    fn parts(&self) -> Result<(AffinePoint, [u8; 32]), DeriveError> {
        validate_compressed_public_key(&self.public_key)?;
        let point = k256::PublicKey::from_sec1_bytes(&self.public_key)
            .expect("validated above")
            .as_affine()
            .to_owned();
        let chain_code: [u8; 32] =
            self.chain_code
                .as_slice()
                .try_into()
                .map_err(|_| DeriveError::InvalidChainCode {
                    length: self.chain_code.len() as u32,
                })?;
        Ok((point, chain_code))
    }

    /// The key derived along `path` (each component an arbitrary byte
    /// string), with its chain code, as the IC derives it.
    pub fn derive(&self, path: &[Vec<u8>]) -> Result<ExtendedPublicKey, DeriveError> {
        let (mut point, mut chain_code) = self.parts()?;
        for index in path {
            let (next_point, next_chain_code) = derive_step(index, point, &chain_code);
            point = next_point;
            chain_code = next_chain_code;
        }
        Ok(ExtendedPublicKey {
            public_key: point.to_encoded_point(true).as_bytes().to_vec(),
            chain_code: chain_code.to_vec(),
        })
    }

    /// The P2WPKH address of this key.
    pub fn p2wpkh_address(&self) -> Result<BitcoinAddress, DeriveError> {
        Ok(BitcoinAddress::p2wpkh_from_public_key(&self.public_key)?)
    }
}

/// `HMAC-SHA512(key = chain_code, data = input || index)`, split into the
/// tweak (retried while it is not below the curve order) and the next chain code.
fn tweak(index: &[u8], input: &[u8], chain_code: &[u8; 32]) -> (Scalar, [u8; 32]) {
    let mut input = input.to_vec();
    loop {
        let mut mac =
            Hmac::<Sha512>::new_from_slice(chain_code).expect("HMAC accepts any key length");
        mac.update(&input);
        mac.update(index);
        let out = mac.finalize().into_bytes();
        let next_chain_code: [u8; 32] = out[32..].try_into().expect("64-byte HMAC-SHA512");
        let mut il = k256::FieldBytes::default();
        il.copy_from_slice(&out[..32]);
        if let Some(scalar) = Option::<Scalar>::from(Scalar::from_repr(il)) {
            return (scalar, next_chain_code);
        }
        // I_L >= n (probability ~2^-127): retry with 0x01 || I_R.
        input = [&[0x01u8][..], &next_chain_code[..]].concat();
    }
}

/// One derivation step: the child of `point` at `index`.
fn derive_step(index: &[u8], point: AffinePoint, chain_code: &[u8; 32]) -> (AffinePoint, [u8; 32]) {
    let mut input = point.to_encoded_point(true).as_bytes().to_vec();
    let parent = ProjectivePoint::from(point);
    loop {
        let (offset, next_chain_code) = tweak(index, &input, chain_code);
        let child = parent + ProjectivePoint::GENERATOR * offset;
        if !bool::from(child.is_identity()) {
            return (child.to_affine(), next_chain_code);
        }
        // The point at infinity (probability ~2^-128): retry with 0x01 || I_R.
        input = [&[0x01u8][..], &next_chain_code[..]].concat();
    }
}

/// The derivation path of the escrow's main account (change of payouts):
/// `[[0x00]]`.
pub fn main_derivation_path() -> Vec<Vec<u8>> {
    vec![vec![MAIN_ACCOUNT_SCHEMA]]
}

/// The derivation path of `owner`'s deposit address for a subaccount:
/// `[[0x01], owner bytes, subaccount]`, the subaccount 32 zero bytes when
/// `None`.
pub fn deposit_derivation_path(owner: &Principal, subaccount: Option<&[u8; 32]>) -> Vec<Vec<u8>> {
    vec![
        vec![DEPOSIT_SCHEMA_V1],
        owner.as_slice().to_vec(),
        subaccount.copied().unwrap_or([0; 32]).to_vec(),
    ]
}

/// `owner`'s P2WPKH deposit address: `canister_key` (what `ecdsa_public_key`
/// returns for the escrow with an empty derivation path) derived along
/// [`deposit_derivation_path`].
pub fn deposit_address(
    canister_key: &ExtendedPublicKey,
    owner: &Principal,
    subaccount: Option<&[u8; 32]>,
) -> Result<BitcoinAddress, DeriveError> {
    canister_key
        .derive(&deposit_derivation_path(owner, subaccount))?
        .p2wpkh_address()
}

/// The escrow's main P2WPKH address (change of payouts): `canister_key`
/// derived along [`main_derivation_path`].
pub fn main_address(canister_key: &ExtendedPublicKey) -> Result<BitcoinAddress, DeriveError> {
    canister_key
        .derive(&main_derivation_path())?
        .p2wpkh_address()
}
