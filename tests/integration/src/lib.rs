//! Helpers for the integration tests in `tests/`: loading the built conformance canister,
//! calling it on localnet, asserting rejects, and a loopback HTTP server for live outcalls.
//! No product code lives here.

pub mod conformance;
pub mod loopback;
pub mod rejects;

pub use conformance::*;
pub use rejects::*;
