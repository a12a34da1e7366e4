//! Tests of tensormine-bitcoin against references: rust-bitcoin (encoding,
//! txids, sighashes, addresses, BIP-32), libbitcoinconsensus (script
//! verification of signed transactions), ic-secp256k1 (the IC's key
//! derivation), and published address test vectors. One test binary.

mod addresses;
mod build;
mod common;
mod derive;
mod sign;
mod tx;
