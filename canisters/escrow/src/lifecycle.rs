//! init / post_upgrade / configuration, and the reconciliation timer.

use crate::runtime::{IcRuntime, Runtime};
use crate::state::{mutate_state, read_state};
use crate::types::EventKind;
use crate::types::*;
use std::cell::RefCell;
use std::time::Duration;
use tensormine_core::config_update::require;

thread_local! {
    static TIMER: RefCell<Option<ic_cdk_timers::TimerId>> = const { RefCell::new(None) };
}

/// Applies an update to a configuration, checking bounds.
pub fn apply_update(mut c: Config, u: ConfigUpdate) -> Result<Config, String> {
    tensormine_core::apply_update!(u => c; ConfigUpdate {
        router,
        ckbtc_ledger,
        fee_account,
        ckbtc_fee,
        min_deposit,
        min_withdrawal,
        min_bond,
        unbond_delay_secs,
        reconcile_interval_secs,
        max_payees,
        btc_network,
        read_only,
        ecdsa_key_name,
        btc_min_confirmations,
        btc_min_deposit,
        btc_min_withdrawal,
        btc_batch_min_requests,
        btc_batch_max_wait_secs,
        btc_resubmit_after_secs,
        btc_watch_secs,
        btc_watch_per_round,
    });
    require(
        c.min_withdrawal > c.ckbtc_fee,
        "min_withdrawal must exceed ckbtc_fee (the recipient gets amount − fee)",
    )?;
    require(c.min_deposit >= 1, "min_deposit must be at least 1")?;
    require(
        (1..=86_400).contains(&c.reconcile_interval_secs),
        "reconcile_interval_secs must be 1..=86400",
    )?;
    require(
        (1..=1_000).contains(&c.max_payees),
        "max_payees must be 1..=1000",
    )?;
    require(
        c.unbond_delay_secs <= 365 * 86_400,
        "unbond_delay_secs must be at most a year",
    )?;
    check_btc(&c)?;
    Ok(c)
}

fn check_btc(c: &Config) -> Result<(), String> {
    require(
        ["dfx_test_key", "test_key_1", "key_1"].contains(&c.ecdsa_key_name.as_str()),
        "ecdsa_key_name must be dfx_test_key, test_key_1 or key_1",
    )?;
    require(
        (1..=144).contains(&c.btc_min_confirmations),
        "btc_min_confirmations must be 1..=144",
    )?;
    require(c.btc_min_deposit >= 1, "btc_min_deposit must be at least 1")?;
    // Above the largest dust threshold (P2PKH, 546), so a lone payout can
    // carry a fee share.
    require(
        c.btc_min_withdrawal > 546,
        "btc_min_withdrawal must exceed 546 sat (the largest dust threshold)",
    )?;
    require(
        (1..=100).contains(&c.btc_batch_min_requests),
        "btc_batch_min_requests must be 1..=100",
    )?;
    require(
        c.btc_batch_max_wait_secs <= 86_400,
        "btc_batch_max_wait_secs must be at most a day",
    )?;
    require(
        (60..=7 * 86_400).contains(&c.btc_resubmit_after_secs),
        "btc_resubmit_after_secs must be 60..=604800",
    )?;
    require(
        (1..=1_000).contains(&c.btc_watch_per_round),
        "btc_watch_per_round must be 1..=1000",
    )
}

/// The key name and the Bitcoin network cannot change once the key is
/// cached: every deposit address and pooled coin belongs to that key on that
/// network.
fn check_key_name(config: &Config) -> Result<(), String> {
    let cached = read_state(|s| s.btc_key().is_some());
    let old = read_state(|s| s.config());
    if cached && old.ecdsa_key_name != config.ecdsa_key_name {
        return Err(format!(
            "ecdsa_key_name is fixed to {}: the escrow's addresses derive from that key",
            old.ecdsa_key_name
        ));
    }
    if cached && old.btc_network != config.btc_network {
        return Err(format!(
            "btc_network is fixed to {:?}: the escrow's coins are on that network",
            old.btc_network
        ));
    }
    Ok(())
}

pub fn init(arg: Option<EscrowArg>) {
    let update = match arg {
        None => ConfigUpdate::default(),
        Some(EscrowArg::Init(u)) => u,
        Some(EscrowArg::Upgrade(_)) => ic_cdk::trap("install needs EscrowArg::Init"),
    };
    let config = apply_update(Config::default(), update).unwrap_or_else(|e| ic_cdk::trap(e));
    commit_config(IcRuntime.time(), config, |config| EventKind::Init {
        config,
    });
    arm_timer();
}

/// Balances need no rebuilding: they live in stable structures. Ledger ops
/// left `InFlight` by the old code are retried by the next reconciliation
/// (no call survives an upgrade, so none is outstanding).
pub fn post_upgrade(arg: Option<EscrowArg>) {
    let update = match arg {
        None | Some(EscrowArg::Upgrade(None)) => ConfigUpdate::default(),
        Some(EscrowArg::Upgrade(Some(u))) => u,
        Some(EscrowArg::Init(_)) => ic_cdk::trap("upgrade needs EscrowArg::Upgrade"),
    };
    let config = apply_update(read_state(|s| s.config()), update)
        .and_then(|c| check_key_name(&c).map(|()| c))
        .unwrap_or_else(|e| ic_cdk::trap(e));
    commit_config(IcRuntime.time(), config, |config| EventKind::Upgrade {
        config,
    });
    arm_timer();
}

/// `set_config` (controllers only).
pub fn set_config<R: Runtime>(rt: &R, update: ConfigUpdate) -> Result<Config, ConfigError> {
    let caller = rt.caller();
    if !rt.is_controller(&caller) {
        return Err(ConfigError::NotController);
    }
    let config = apply_update(read_state(|s| s.config()), update)
        .and_then(|c| check_key_name(&c).map(|()| c))
        .map_err(|reason| ConfigError::Invalid { reason })?;
    commit_config(rt.time(), config.clone(), |config| {
        EventKind::ConfigChanged { by: caller, config }
    });
    Ok(config)
}

/// Stores `config` and logs the event that carries it: the one place a
/// configuration is written (timers are re-armed from it by [`arm_timer`],
/// called by the install/upgrade hooks and the `set_config` endpoint).
fn commit_config(now: u64, config: Config, event: impl FnOnce(Config) -> EventKind) {
    mutate_state(|s| {
        s.set_config(config.clone());
        s.record(now, event(config));
    });
}

/// (Re-)arms the reconciliation timer from the configuration.
pub fn arm_timer() {
    if let Some(id) = TIMER.with(|t| t.borrow_mut().take()) {
        ic_cdk_timers::clear_timer(id);
    }
    let secs = read_state(|s| s.config().reconcile_interval_secs);
    let id = ic_cdk_timers::set_timer_interval_serial(Duration::from_secs(secs), async || {
        if !read_state(|s| s.ledger_ops.is_empty()) {
            crate::ledger::reconcile(&IcRuntime).await;
        }
        // Calls the Bitcoin canister only when there is BTC work: payouts
        // queued or unconfirmed, or deposit addresses being watched.
        if read_state(|s| {
            !(s.btc_requests.is_empty() && s.btc_batches.is_empty() && s.btc_watch.is_empty())
        }) {
            crate::btc::round(&IcRuntime).await;
        }
    });
    TIMER.with(|t| *t.borrow_mut() = Some(id));
}
