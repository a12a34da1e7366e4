//! All integration tests in one binary: each test binary links wasmtime, the
//! canisters' Rust code and PocketIC's client, and ten such binaries cost
//! gigabytes of disk and minutes of linking on a 2-core CI machine.

mod adversary;
mod escrow_btc;
mod escrow_ckbtc;
mod localnet_bad_input;
mod localnet_bitcoin;
mod localnet_calls;
mod localnet_certification;
mod localnet_chain_key;
mod localnet_http;
mod localnet_icrc_ledger;
mod localnet_limits;
mod localnet_state;
mod localnet_timers;
mod registry_challenge;
mod registry_registration;
mod router_disputes;
mod router_endpoints;
mod router_jobs;
mod runtime_backends;
