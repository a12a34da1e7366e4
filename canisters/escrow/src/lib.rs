//! # tensormine escrow canister
//!
//! The only canister that holds value. Endpoints only; the logic is in the
//! modules: [`state`] (accounts, holds, bonds, ledger ops, BTC pool and
//! batches, totals, the event log and its replay, the conservation
//! invariant — all in stable memory) and [`memory`], [`api`] (router and
//! miner endpoints: authorization, idempotency), [`ledger`] (ckBTC
//! deposits, withdrawals, reconciliation), [`btc`] (native BTC deposits and
//! payouts), [`guard`], [`lifecycle`] (install, upgrade,
//! configuration, timer), [`metrics`], and [`runtime`] (all I/O behind a
//! trait). Interface: `candid/escrow.did`; rules: `docs/escrow.md`.

// The endpoint errors are candid variants, some carrying the hold they
// refer to; they are returned once per call, so boxing them would add
// indirection for no gain.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod btc;
pub mod guard;
pub mod ledger;
pub mod lifecycle;
pub mod memory;
pub mod metrics;
pub mod runtime;
pub mod state;
pub mod types;

use candid::Principal;
use ic_cdk::{init, post_upgrade, query, update};
use metrics::{HttpRequest, HttpResponse};
use runtime::IcRuntime;
use state::read_state;
use types::Event;
use types::*;

/// Most events returned by one `get_events` call.
pub const MAX_EVENTS_PER_PAGE: u64 = 2_000;

#[init]
fn init(arg: Option<EscrowArg>) {
    lifecycle::init(arg)
}

#[post_upgrade]
fn post_upgrade(arg: Option<EscrowArg>) {
    lifecycle::post_upgrade(arg)
}

/// Pulls `amount` ckBTC from the caller (who approved `amount + fee` for the
/// escrow on the ledger) and credits it.
#[update]
async fn deposit_ckbtc(amount: Sats) -> Result<DepositReceipt, DepositError> {
    ledger::deposit(&IcRuntime, amount).await
}

/// Sends `amount − ledger fee` ckBTC of the caller's available funds to `to`.
#[update]
async fn withdraw_ckbtc(amount: Sats, to: Account) -> Result<WithdrawalReceipt, WithdrawError> {
    ledger::withdraw(&IcRuntime, amount, to).await
}

/// The P2WPKH deposit address of `owner` (the caller by default) on the
/// configured network; the timer checks it for new deposits for a while.
#[update]
async fn get_btc_deposit_address(owner: Option<Principal>) -> Result<String, BtcAddressError> {
    btc::get_deposit_address(&IcRuntime, owner).await
}

/// Credits the caller's new BTC deposits (confirmed UTXOs at its deposit
/// address, each once; those below the minimum are reported and ignored).
#[update]
async fn update_btc_balance() -> Result<BtcBalanceUpdate, BtcBalanceError> {
    btc::update_balance(&IcRuntime).await
}

/// Debits `amount` and queues a BTC payout to `address`; the recipient gets
/// `amount −` its share of the batch transaction's fee.
#[update]
fn withdraw_btc(address: String, amount: Sats) -> Result<BtcPayoutRequest, BtcWithdrawError> {
    btc::withdraw(&IcRuntime, address, amount)
}

/// Queued and submitted BTC payouts of `owner`.
#[query]
fn get_btc_payouts(owner: Principal) -> Vec<BtcPayoutRequest> {
    read_state(|s| {
        s.btc_requests
            .iter()
            .map(|e| e.value().0)
            .filter(|r| r.owner == owner)
            .collect()
    })
}

/// Payout transactions submitted and not yet confirmed.
#[query]
fn get_btc_batches() -> Vec<BtcBatchInfo> {
    read_state(|s| s.btc_batches_list().iter().map(|b| b.info()).collect())
}

/// Locks `amount` of `payer`'s available funds for `job` (router only, idempotent).
#[update]
fn hold(job: String, payer: Principal, amount: Sats) -> Result<Hold, HoldError> {
    api::hold(&IcRuntime, job, payer, amount)
}

/// Pays the job's payees and the protocol fee; the rest goes back to the payer.
#[update]
fn release(
    job: String,
    payees: Vec<(Principal, Sats)>,
    fee: Sats,
) -> Result<Settlement, ReleaseError> {
    api::release(&IcRuntime, job, payees, fee)
}

/// Gives the job's hold back to the payer (router only, idempotent).
#[update]
fn refund(job: String) -> Result<Settlement, RefundError> {
    api::refund(&IcRuntime, job)
}

/// Moves `amount` of the caller's available funds into its bond.
#[update]
fn bond(amount: Sats) -> Result<Balance, BondError> {
    api::bond(&IcRuntime, amount)
}

/// Starts unbonding `amount` (claimable after the configured delay, slashable until then).
#[update]
fn unbond(amount: Sats) -> Result<Balance, BondError> {
    api::unbond(&IcRuntime, amount)
}

/// Makes the caller's unbonded amount available once the delay has passed.
#[update]
fn claim_unbonded() -> Result<Balance, BondError> {
    api::claim_unbonded(&IcRuntime)
}

/// Takes up to `amount` of `miner`'s bond for `job` and credits `beneficiary` (router only).
#[update]
fn slash(
    miner: Principal,
    amount: Sats,
    beneficiary: Principal,
    job: String,
) -> Result<Slash, SlashError> {
    api::slash(&IcRuntime, miner, amount, beneficiary, job)
}

/// Sends treasury funds to the configured fee account (controllers only).
#[update]
async fn withdraw_treasury(amount: Sats) -> Result<WithdrawalReceipt, WithdrawError> {
    ledger::withdraw_treasury(&IcRuntime, amount).await
}

/// Retries unfinished ledger calls now (controllers only; a timer does it too).
#[update]
async fn reconcile() -> Result<ReconcileReport, ConfigError> {
    if !ic_cdk::api::is_controller(&ic_cdk::api::msg_caller()) {
        return Err(ConfigError::NotController);
    }
    Ok(ledger::reconcile(&IcRuntime).await)
}

/// Settles a ledger op under review after a controller checked the ledger.
#[update]
fn resolve_ledger_op(op_id: u64, resolution: Resolution) -> Result<(), ResolveError> {
    ledger::resolve(&IcRuntime, op_id, resolution)
}

/// Changes the configuration (controllers only).
#[update]
fn set_config(update: ConfigUpdate) -> Result<Config, ConfigError> {
    let config = lifecycle::set_config(&IcRuntime, update)?;
    lifecycle::arm_timer();
    Ok(config)
}

#[query]
fn get_config() -> Config {
    read_state(|s| s.config())
}

#[query]
fn get_balance(owner: Principal) -> Balance {
    read_state(|s| s.balance(&owner))
}

#[query]
fn get_hold(job: String) -> Option<Hold> {
    read_state(|s| s.hold_of(&job))
}

#[query]
fn get_slash(miner: Principal, job: String) -> Option<Slash> {
    read_state(|s| s.slash_of(&miner, &job))
}

#[query]
fn totals() -> Totals {
    read_state(|s| s.totals())
}

/// Ledger calls not finished: in flight, unknown outcome, or under review.
#[query]
fn get_ledger_ops() -> Vec<LedgerOp> {
    read_state(|s| s.ledger_ops.iter().map(|e| e.value().0).collect())
}

/// Events `start..start + length` (at most 2000 per call).
#[query]
fn get_events(start: u64, length: u64) -> EventsPage {
    read_state(|s| {
        let total = s.events.len();
        let end = start
            .saturating_add(length.min(MAX_EVENTS_PER_PAGE))
            .min(total);
        let events: Vec<Event> = (start..end)
            .filter_map(|i| s.events.get(i))
            .map(|e| e.0)
            .collect();
        EventsPage { total, events }
    })
}

/// Recomputes all totals and checks conservation (`Err` names the violation).
#[query]
fn check_invariants() -> Result<(), String> {
    read_state(|s| s.check_invariants())
}

#[query]
fn http_request(request: HttpRequest) -> HttpResponse {
    metrics::http_request(request)
}

ic_cdk::export_candid!();

#[cfg(test)]
mod tests;
