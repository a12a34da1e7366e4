//! IC services emulated by localnet without Wasm.
//!
//! * [`threshold`] — chain-key ECDSA / Schnorr keys with the IC's derivation;
//! * [`certification`] — a BLS root key and IC certificates;
//! * [`cost`] — the cycle cost formulas behind the `ic0.cost_*` system calls;
//! * [`http_outcall`] — HTTPS outcall validation, limits and a live client;
//! * [`bitcoin`] — the Bitcoin canister over a simulated regtest chain.
//!
//! Types are those of `ic-management-canister-types` 0.11, which canisters built with
//! `ic-cdk-management-canister` 0.3 use, so both sides agree on the Candid.

#![warn(missing_docs)]

pub mod bitcoin;
pub mod certification;
pub mod cost;
pub mod http_outcall;
pub mod threshold;

pub use certification::{verify_canister_data_certificate, CertificateError, RootKey};
pub use cost::SubnetCosts;
pub use http_outcall::{LiveClient, OutcallError};
pub use threshold::{ThresholdError, ThresholdKeys};
