//! # tensormine-core
//!
//! The project's shared domain crate: pure functions and wire types that the
//! off-chain worker and the on-chain canisters (router, registry) must agree on
//! bit for bit. Nothing here performs I/O, reads clocks or draws randomness, and
//! the crate builds for `wasm32-unknown-unknown`.
//!
//! * [`prng`] — the seeded input generator (ChaCha20, random access by element),
//!   so a canister can regenerate any row of a seeded matrix.
//! * [`merkle`] — the Merkle tree over a result matrix's rows, with proofs.
//! * [`verify`] — Freivalds' check and the sampled-row recomputation, with
//!   floating-point tolerances that are sound for f32 GEMM.
//! * [`challenge`] — commit-then-challenge for matmul results: the challenge
//!   drawn after the commitment and the check of the worker's answer.
//! * [`signing`] — the domain-separated digests a worker signs with ed25519,
//!   and their verification.
//! * [`receipt`] — job receipts in an append-only RFC 6962 log, signed
//!   batches, and offline verification of a receipt proof.
//! * [`matching`] — the router's miner-matching index: eligible miners by
//!   workload, price and GPU memory, a seeded score-weighted pick with
//!   distinct owners, in a bounded number of steps.
//! * [`escrow`] — the escrow's candid types (configuration, holds,
//!   settlements, slashes, one error per endpoint, audit events).
//! * [`ledger`] — the ICRC ledger's install argument (the ICRC standard
//!   types themselves come from `icrc-ledger-types`).
//! * [`router`] — the router's candid types (job requests, tiers, views,
//!   errors, configuration) and the pricing units.
//! * [`stable`] — [`stable::Cbor`], how canisters keep values in stable structures.
//! * [`api`] — the worker's HTTP API request/response types (JSON).
//! * [`digest`], [`encoding`] — 32-byte digests in hex, float arrays in base64.

pub mod api;
pub mod challenge;
pub mod config_update;
pub mod digest;
pub mod dispute;
pub mod encoding;
pub mod escrow;
pub mod guard;
pub mod http;
pub mod ledger;
pub mod matching;
pub mod merkle;
pub mod prng;
pub mod receipt;
pub mod registry;
pub mod router;
pub mod signing;
pub mod stable;
pub mod verify;

pub use digest::Digest32;
