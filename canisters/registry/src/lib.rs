//! # tensormine registry canister
//!
//! Endpoints only; the logic is in the modules: [`miners`] (register,
//! update, deregister, reads), [`validate`] and [`address`] (profiles and
//! payout addresses), [`tasks::probe`] (liveness), [`challenge`]
//! (capability), [`state`] and [`memory`] (stable state), [`guard`],
//! [`lifecycle`] (install, upgrade, configuration, timers), [`metrics`],
//! and [`runtime`] (all I/O behind a trait). Interface: `candid/registry.did`.

pub mod address;
pub mod challenge;
pub mod guard;
pub mod lifecycle;
pub mod memory;
pub mod metrics;
pub mod miners;
pub mod runtime;
pub mod state;
pub mod tasks;
pub mod types;
pub mod validate;

use candid::Principal;
use ic_cdk::{init, post_upgrade, query, update};
use ic_cdk_management_canister::{HttpRequestResult, TransformArgs};
use metrics::{HttpRequest, HttpResponse};
use runtime::IcRuntime;
use state::read_state;
use types::*;

fn caller() -> Principal {
    ic_cdk::api::msg_caller()
}

fn now() -> u64 {
    ic_cdk::api::time()
}

#[init]
fn init(arg: Option<RegistryArg>) {
    lifecycle::init(arg)
}

#[post_upgrade]
fn post_upgrade(arg: Option<RegistryArg>) {
    lifecycle::post_upgrade(arg)
}

/// Registers the caller as a miner; its first probe and challenge follow.
#[update]
fn register_miner(profile: MinerProfile) -> Result<Miner, RegisterError> {
    miners::register(caller(), profile, now())
}

/// Replaces the caller's profile.
#[update]
fn update_miner(profile: MinerProfile) -> Result<Miner, UpdateError> {
    miners::update(caller(), profile, now())
}

/// Removes the caller's registration.
#[update]
fn deregister_miner() -> Result<(), DeregisterError> {
    miners::deregister(caller(), now())
}

/// Runs a capability challenge on the caller's worker now (rate-limited).
#[update]
async fn request_challenge() -> Result<Capability, ChallengeError> {
    let p = caller();
    if p == Principal::anonymous() {
        return Err(ChallengeError::AnonymousCaller);
    }
    let config = read_state(|s| s.config());
    if config.read_only {
        return Err(ChallengeError::ReadOnly);
    }
    let miner = read_state(|s| s.miner(&p)).ok_or(ChallengeError::NotRegistered)?;
    if let Some(last) = miner.last_challenge_ns {
        let next =
            last.saturating_add(config.challenge_cooldown_secs.saturating_mul(1_000_000_000));
        if now() < next {
            return Err(ChallengeError::TooSoon {
                retry_after_ns: next,
            });
        }
    }
    challenge::run(&IcRuntime, p).await
}

/// A verified or failed job, reported by the router.
#[update]
fn report_job_outcome(outcome: JobOutcome) -> Result<Reputation, ReportError> {
    miners::report_job_outcome(caller(), outcome, now())
}

/// Changes the configuration (controllers only).
#[update]
fn set_config(update: ConfigUpdate) -> Result<Config, ConfigError> {
    lifecycle::set_config(caller(), update)
}

#[query]
fn get_config() -> Config {
    read_state(|s| s.config())
}

#[query]
fn get_miner(principal: Principal) -> Option<Miner> {
    read_state(|s| s.miner(&principal))
}

#[query]
fn list_miners(request: ListRequest) -> ListPage {
    miners::list(request)
}

#[query]
fn totals() -> Totals {
    read_state(|s| s.totals.clone())
}

/// Miners changed after `seq` (latest change per miner; `miner = null` once deregistered).
#[query]
fn changes_since(seq: u64, limit: u32) -> ChangesPage {
    miners::changes_since(seq, limit)
}

#[query]
fn http_request(request: HttpRequest) -> HttpResponse {
    metrics::http_request(request)
}

/// Outcall transform for health probes.
#[query]
fn transform_health(args: TransformArgs) -> HttpRequestResult {
    let status = u16::try_from(&args.response.status.0).unwrap_or(0);
    HttpRequestResult {
        body: tasks::probe::normalise_health(status, &args.response.body),
        headers: Vec::new(),
        status: args.response.status,
    }
}

/// Outcall transform for challenge answers: headers dropped (bodies are deterministic).
#[query]
fn transform_body(args: TransformArgs) -> HttpRequestResult {
    HttpRequestResult {
        headers: Vec::new(),
        ..args.response
    }
}

ic_cdk::export_candid!();

#[cfg(test)]
mod tests;
