//! init / post_upgrade / configuration, and the reconciliation timer.

use crate::events::EventKind;
use crate::runtime::{IcRuntime, Runtime};
use crate::state::{mutate_state, read_state};
use crate::types::*;
use std::cell::RefCell;
use std::time::Duration;

thread_local! {
    static TIMER: RefCell<Option<ic_cdk_timers::TimerId>> = const { RefCell::new(None) };
}

/// Applies an update to a configuration, checking bounds.
pub fn apply_update(mut c: Config, u: ConfigUpdate) -> Result<Config, String> {
    let ConfigUpdate {
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
    } = u;
    set(&mut c.router, router);
    set(&mut c.ckbtc_ledger, ckbtc_ledger);
    set(&mut c.fee_account, fee_account);
    set(&mut c.ckbtc_fee, ckbtc_fee);
    set(&mut c.min_deposit, min_deposit);
    set(&mut c.min_withdrawal, min_withdrawal);
    set(&mut c.min_bond, min_bond);
    set(&mut c.unbond_delay_secs, unbond_delay_secs);
    set(&mut c.reconcile_interval_secs, reconcile_interval_secs);
    set(&mut c.max_payees, max_payees);
    set(&mut c.btc_network, btc_network);
    set(&mut c.read_only, read_only);
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
    check(
        c.min_withdrawal > c.ckbtc_fee,
        "min_withdrawal must exceed ckbtc_fee (the recipient gets amount − fee)",
    )?;
    check(c.min_deposit >= 1, "min_deposit must be at least 1")?;
    check(
        (1..=86_400).contains(&c.reconcile_interval_secs),
        "reconcile_interval_secs must be 1..=86400",
    )?;
    check(
        (1..=1_000).contains(&c.max_payees),
        "max_payees must be 1..=1000",
    )?;
    check(
        c.unbond_delay_secs <= 365 * 86_400,
        "unbond_delay_secs must be at most a year",
    )?;
    Ok(c)
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

pub fn init(arg: Option<EscrowArg>) {
    let update = match arg {
        None => ConfigUpdate::default(),
        Some(EscrowArg::Init(u)) => u,
        Some(EscrowArg::Upgrade(_)) => ic_cdk::trap("install needs EscrowArg::Init"),
    };
    let config = apply_update(Config::default(), update).unwrap_or_else(|e| ic_cdk::trap(e));
    let now = IcRuntime.time();
    mutate_state(|s| {
        s.set_config(config.clone());
        s.record(now, EventKind::Init { config });
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
    let now = IcRuntime.time();
    mutate_state(|s| {
        let config = apply_update(s.config(), update).unwrap_or_else(|e| ic_cdk::trap(e));
        s.set_config(config.clone());
        s.record(now, EventKind::Upgrade { config });
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
        .map_err(|reason| ConfigError::Invalid { reason })?;
    mutate_state(|s| {
        s.set_config(config.clone());
        s.record(
            rt.time(),
            EventKind::ConfigChanged {
                by: caller,
                config: config.clone(),
            },
        );
    });
    Ok(config)
}

/// (Re-)arms the reconciliation timer from the configuration.
pub fn arm_timer() {
    if let Some(id) = TIMER.with(|t| t.borrow_mut().take()) {
        ic_cdk_timers::clear_timer(id);
    }
    let secs = read_state(|s| s.config().reconcile_interval_secs);
    let id = ic_cdk_timers::set_timer_interval_serial(Duration::from_secs(secs), async || {
        if read_state(|s| s.ledger_ops.is_empty()) {
            return;
        }
        crate::ledger::reconcile(&IcRuntime).await;
    });
    TIMER.with(|t| *t.borrow_mut() = Some(id));
}
