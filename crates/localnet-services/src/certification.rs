//! A local root of trust: a BLS12-381 key standing in for the IC's root key, and
//! certificates in the IC's format signed by it.
//!
//! A certificate is the CBOR encoding (behind the self-describing tag 55799, as the IC
//! sends it) of `{ tree, signature }`, where `signature` is a BLS signature over
//! `domain_sep("ic-state-root") || root_hash(tree)` and `domain_sep(s)` is one byte
//! holding `|s|` followed by `s` (interface spec, "Certification"). Localnet signs with
//! the root key itself, so certificates carry no delegation.

use candid::Principal;
use ic_certification::hash_tree::{fork, label, leaf};
use ic_certification::{Certificate, HashTree, LookupResult};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Deserialize;

/// The DER prefix of an IC BLS12-381 G2 public key (an RFC 5480 `SubjectPublicKeyInfo`
/// with the IC's algorithm OID 1.3.6.1.4.1.44668.5.3.1.2.1 and curve OID
/// 1.3.6.1.4.1.44668.5.3.2.1), as `/api/v2/status` returns the root key.
const DER_PREFIX: [u8; 37] = [
    0x30, 0x81, 0x82, 0x30, 0x1d, 0x06, 0x0d, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xdc, 0x7c, 0x05,
    0x03, 0x01, 0x02, 0x01, 0x06, 0x0c, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xdc, 0x7c, 0x05, 0x03,
    0x02, 0x01, 0x03, 0x61, 0x00,
];

/// The length of a raw (compressed G2) BLS public key.
const RAW_KEY_LEN: usize = 96;

/// The CBOR self-describing tag the IC puts in front of certificates.
const SELF_DESCRIBING_TAG: u64 = 55799;

/// The message the root key signs for a tree with root hash `root_hash`.
pub fn state_root_message(root_hash: &[u8; 32]) -> Vec<u8> {
    const DOMAIN: &[u8] = b"ic-state-root";
    let mut message = Vec::with_capacity(1 + DOMAIN.len() + 32);
    message.push(DOMAIN.len() as u8);
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(root_hash);
    message
}

/// Why a certificate was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The root key is not the DER encoding of a BLS12-381 G2 key.
    #[error("root key is not a DER-encoded BLS12-381 public key")]
    MalformedRootKey,
    /// The bytes are not a CBOR certificate.
    #[error("certificate is not valid CBOR: {0}")]
    MalformedCertificate(String),
    /// Delegations are not produced by localnet and not followed here.
    #[error("certificate carries a delegation, which is not supported")]
    UnexpectedDelegation,
    /// The BLS signature does not verify against the root key.
    #[error("certificate signature does not verify")]
    InvalidSignature,
    /// A required path is not in the tree.
    #[error("certificate has no value at /{0}")]
    MissingPath(String),
    /// `/time` is not a LEB128 number.
    #[error("certificate time is not LEB128")]
    MalformedTime,
}

/// The local root key.
pub struct RootKey {
    key: ic_verify_bls_signature::PrivateKey,
}

impl RootKey {
    /// Derives the key from a seed, so a net started with the same seed has the
    /// same root key.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut rng = ChaCha20Rng::from_seed(seed);
        Self {
            key: ic_verify_bls_signature::PrivateKey::random(&mut rng),
        }
    }

    /// The raw 96-byte public key.
    pub fn public_key_raw(&self) -> [u8; RAW_KEY_LEN] {
        self.key.public_key().serialize()
    }

    /// The public key in the DER form the IC's `/api/v2/status` returns
    /// (what `ic-agent`'s `fetch_root_key` and `dfx` expect).
    pub fn public_key_der(&self) -> Vec<u8> {
        [DER_PREFIX.as_slice(), &self.public_key_raw()].concat()
    }

    /// Signs `tree` and returns the certificate as CBOR with the self-describing tag.
    pub fn certify(&self, tree: HashTree) -> Vec<u8> {
        let signature = self.key.sign(&state_root_message(&tree.digest()));
        let certificate = Certificate {
            tree,
            signature: signature.serialize().to_vec(),
            delegation: None,
        };
        let tagged = ciborium::tag::Required::<_, SELF_DESCRIBING_TAG>(certificate);
        let mut out = Vec::new();
        ciborium::into_writer(&tagged, &mut out).expect("writing CBOR to a Vec cannot fail");
        out
    }

    /// The certificate `ic0.data_certificate` gives a canister: a tree holding only
    /// `/time` (nanoseconds, LEB128) and `/canister/<id>/certified_data`.
    pub fn canister_data_certificate(
        &self,
        time_nanos: u64,
        canister: Principal,
        certified_data: &[u8],
    ) -> Vec<u8> {
        self.certify(canister_data_tree(time_nanos, canister, certified_data))
    }
}

/// The tree of a canister's data certificate. Labels are in order (`canister` <
/// `time`), as the IC's trees are.
fn canister_data_tree(time_nanos: u64, canister: Principal, certified_data: &[u8]) -> HashTree {
    let mut time = Vec::new();
    leb128::write::unsigned(&mut time, time_nanos).expect("writing to a Vec cannot fail");
    let data = label("certified_data", leaf(certified_data.to_vec()));
    fork(
        label("canister", label(canister.as_slice(), data)),
        label("time", leaf(time)),
    )
}

/// The wire form of a certificate, for reading one back (`ic-certification`'s
/// `Certificate` only serializes).
#[derive(Deserialize)]
struct WireCertificate {
    tree: HashTree,
    #[serde(with = "serde_bytes")]
    signature: Vec<u8>,
    delegation: Option<serde::de::IgnoredAny>,
}

/// Checks a certificate the way a client of a canister would (signature against the
/// root key, then lookups) and returns its time and the canister's certified data.
pub fn verify_canister_data_certificate(
    cert: &[u8],
    root_key_der: &[u8],
    canister: Principal,
) -> Result<(u64, Vec<u8>), CertificateError> {
    let root_key = root_key_der
        .strip_prefix(DER_PREFIX.as_slice())
        .filter(|raw| raw.len() == RAW_KEY_LEN)
        .ok_or(CertificateError::MalformedRootKey)?;
    let certificate = decode_certificate(cert)?;
    let message = state_root_message(&certificate.tree.digest());
    ic_verify_bls_signature::verify_bls_signature(&certificate.signature, &message, root_key)
        .map_err(|()| CertificateError::InvalidSignature)?;
    let tree = &certificate.tree;
    let time = lookup(tree, &[b"time".as_slice()])?;
    let time =
        leb128::read::unsigned(&mut &time[..]).map_err(|_| CertificateError::MalformedTime)?;
    let data_path = [
        b"canister".as_slice(),
        canister.as_slice(),
        b"certified_data",
    ];
    Ok((time, lookup(tree, &data_path)?))
}

fn decode_certificate(cert: &[u8]) -> Result<WireCertificate, CertificateError> {
    let tagged: ciborium::tag::Accepted<WireCertificate, SELF_DESCRIBING_TAG> =
        ciborium::from_reader(cert)
            .map_err(|e| CertificateError::MalformedCertificate(e.to_string()))?;
    let certificate = tagged.0;
    if certificate.delegation.is_some() {
        return Err(CertificateError::UnexpectedDelegation);
    }
    Ok(certificate)
}

fn lookup(tree: &HashTree, path: &[&[u8]]) -> Result<Vec<u8>, CertificateError> {
    match tree.lookup_path(path.iter().copied()) {
        LookupResult::Found(value) => Ok(value.to_vec()),
        _ => Err(CertificateError::MissingPath(
            path.iter().map(hex::encode).collect::<Vec<_>>().join("/"),
        )),
    }
}

#[cfg(test)]
mod tests;
