//! The hash functions Bitcoin uses.

use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-256 of SHA-256 (txids, sighashes, base58check checksums).
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    sha256(&sha256(data))
}

/// RIPEMD-160 of SHA-256 (public key hashes of P2PKH and P2WPKH).
pub fn hash160(data: &[u8]) -> [u8; 20] {
    Ripemd160::digest(Sha256::digest(data)).into()
}

/// An incremental double SHA-256.
#[derive(Default, Clone)]
pub(crate) struct Sha256d(Sha256);

impl Sha256d {
    pub(crate) fn new() -> Self {
        Self(Sha256::new())
    }
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    pub(crate) fn finish(self) -> [u8; 32] {
        sha256(&self.0.finalize())
    }
}
