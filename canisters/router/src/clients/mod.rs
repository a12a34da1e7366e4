//! Typed clients for what the router talks to: the [`escrow`] and the
//! [`registry`] (inter-canister calls with their interface types from
//! `tensormine_core`) and the [`worker`]s (HTTPS outcalls to their JSON
//! API). The traits are the seam between the logic and the world: the IC
//! runtime implements them with real calls, the native tests with fakes.
//! This module names nothing else of the router.

pub mod error;
pub mod escrow;
pub mod registry;
pub mod worker;

pub use error::CallError;
pub use escrow::EscrowApi;
pub use registry::RegistryApi;
pub use worker::WorkerApi;
