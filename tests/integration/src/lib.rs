//! Helpers for the integration tests in `tests/`: loading the built conformance canister,
//! calling it on localnet, asserting rejects, a loopback HTTP server for live outcalls, and an
//! `ic_canister_runtime::Runtime` for PocketIC.
//! No product code lives here.

pub mod conformance;
pub mod escrow;
pub mod ledger;
pub mod loopback;
pub mod market;
pub mod pocket;
pub mod registry;
pub mod rejects;
pub mod worker;

pub use conformance::*;
pub use pocket::PocketIcRuntime;
pub use rejects::*;
