//! # tensormine-cli
//!
//! The `tensormine` command-line tool as a library: each command group is a
//! module of async functions taking an [`env::Env`] (an `ic_agent::Agent`, the
//! canister ids and the caller's principal), so the demo and end-to-end tests
//! call them with an agent they built. `main.rs` only parses and prints.
//!
//! * [`network`] — start/stop `localnet-server`, `.tensormine/local.json`.
//! * [`demo`] — `tensormine demo`: the whole market locally in one command.
//! * [`deploy`] — build and install ledger, registry, escrow and router, wired.
//! * [`miner`] — registry: register, update, status, deregister, challenges.
//! * [`job`] — router: quote, submit, wait, status, list, cancel, results.
//! * [`account`] — escrow and ckBTC ledger: deposits, balances, withdrawals, bonds.
//! * [`receipt`] — receipt proofs: fetch, save, verify offline.
//! * [`identity`], [`config`], [`env`] — identities, networks and ids files, calls.
//! * [`types`] — client-side Candid types of the escrow, registry errors and ledger.

pub mod account;
pub mod cli;
pub mod config;
pub mod demo;
pub mod deploy;
pub mod dispute;
pub mod env;
pub mod errors;
pub mod identity;
pub mod job;
pub mod miner;
pub mod network;
pub mod parse;
pub mod receipt;
pub mod receipt_key;
pub mod types;

pub use env::Env;
