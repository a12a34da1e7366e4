//! The IC HTTP interface in front of a [`LocalNet`](localnet::LocalNet), on loopback, so `ic-agent`,
//! `@dfinity/agent` and `dfx` talk to localnet unchanged.
//!
//! Endpoints (interface spec, "HTTPS Interface"): `GET /api/v2/status`;
//! `POST /api/v2/canister/<id>/call` (asynchronous), `/api/v3/canister/<id>/call`
//! and `/api/v4/canister/<id>/call` (synchronous, with a certificate),
//! `/api/v4/subnet/<id>/call` (canister creation); `/api/v2|v3/canister/<id>/query`
//! (node-signed), `/api/v3/subnet/<id>/query`; `/api/v2|v3/canister/<id>/read_state`
//! and `/api/v2|v3/subnet/<id>/read_state` (certificates signed by the net's
//! BLS root key). See docs/localnet.md, "HTTP interface".
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! let handle = localnet_server::Server::start(localnet_server::Config::default()).await?;
//! println!("{} {}", handle.url(), hex::encode(handle.root_key_der()));
//! # Ok(()) }
//! ```
//!
//! Layout: `server` starts the server and hands out its [`Handle`]; `routes`
//! maps URLs to the handlers in `call`, `query`, `read_state` and `regtest`;
//! `driver` is the background task (clock, ticks, live outcalls). They share
//! `shared` (the net, the registry of calls), `http` (errors, responses,
//! parsing), `effective` (effective ids), `certificate` (the state tree),
//! `auth` (envelopes and signatures), `cbor` and `tree`.

mod auth;
mod call;
mod cbor;
mod certificate;
mod clock;
mod config;
mod driver;
mod effective;
mod http;
mod query;
mod read_state;
mod regtest;
mod routes;
mod server;
mod shared;
mod tree;

pub use auth::MAX_INGRESS_TTL_NANOS;
pub use config::Config;
pub use server::{Handle, Server};

/// The interface-spec version this server implements.
pub const IC_API_VERSION: &str = "0.18.0";
