//! init / post_upgrade / configuration, and the timers: the engine tick,
//! the registry sync and receipt-batch signing. Jobs in flight need no
//! special care across an upgrade: they are in stable memory with their
//! next step, and the re-armed tick picks them up.

use crate::runtime::{IcRuntime, Runtime};
use crate::state::{mutate_state, read_state, EventKind};
use std::cell::RefCell;
use std::time::Duration;
use tensormine_core::config_update::{require, set};
use tensormine_core::router::*;

thread_local! {
    static TIMERS: RefCell<Vec<ic_cdk_timers::TimerId>> = const { RefCell::new(Vec::new()) };
}

/// Applies an update to a configuration, checking bounds. Field by field
/// rather than with `tensormine_core::apply_update!`: `registry` and `escrow`
/// are optional in the configuration too, and an update can only set them.
pub fn apply_update(mut c: Config, u: ConfigUpdate) -> Result<Config, String> {
    let ConfigUpdate {
        registry,
        escrow,
        schnorr_key_name,
        outcall_mode,
        local,
        read_only,
        fee_base_sats,
        fee_ppm,
        sats_per_tcycles,
        slash_multiplier,
        min_slash_sats,
        max_inline_bytes,
        max_sentences,
        max_matmul_dim,
        max_freivalds_elements,
        challenge_rows,
        max_stored_result_bytes,
        min_deadline_secs,
        max_deadline_secs,
        assignment_timeout_secs,
        max_failovers,
        dispatch_retries,
        poll_initial_ms,
        poll_max_ms,
        max_pending_per_principal,
        max_submits_per_minute,
        max_active_jobs,
        new_miner_jobs,
        sync_interval_secs,
        tick_interval_ms,
        receipt_batch_max,
        receipt_batch_secs,
        dispute_window_secs,
    } = u;
    c.registry = registry.or(c.registry);
    c.escrow = escrow.or(c.escrow);
    set(&mut c.schnorr_key_name, schnorr_key_name);
    set(&mut c.outcall_mode, outcall_mode);
    set(&mut c.local, local);
    set(&mut c.read_only, read_only);
    set(&mut c.fee_base_sats, fee_base_sats);
    set(&mut c.fee_ppm, fee_ppm);
    set(&mut c.sats_per_tcycles, sats_per_tcycles);
    set(&mut c.slash_multiplier, slash_multiplier);
    set(&mut c.min_slash_sats, min_slash_sats);
    set(&mut c.max_inline_bytes, max_inline_bytes);
    set(&mut c.max_sentences, max_sentences);
    set(&mut c.max_matmul_dim, max_matmul_dim);
    set(&mut c.max_freivalds_elements, max_freivalds_elements);
    set(&mut c.challenge_rows, challenge_rows);
    set(&mut c.max_stored_result_bytes, max_stored_result_bytes);
    set(&mut c.min_deadline_secs, min_deadline_secs);
    set(&mut c.max_deadline_secs, max_deadline_secs);
    set(&mut c.assignment_timeout_secs, assignment_timeout_secs);
    set(&mut c.max_failovers, max_failovers);
    set(&mut c.dispatch_retries, dispatch_retries);
    set(&mut c.poll_initial_ms, poll_initial_ms);
    set(&mut c.poll_max_ms, poll_max_ms);
    set(&mut c.max_pending_per_principal, max_pending_per_principal);
    set(&mut c.max_submits_per_minute, max_submits_per_minute);
    set(&mut c.max_active_jobs, max_active_jobs);
    set(&mut c.new_miner_jobs, new_miner_jobs);
    set(&mut c.sync_interval_secs, sync_interval_secs);
    set(&mut c.tick_interval_ms, tick_interval_ms);
    set(&mut c.receipt_batch_max, receipt_batch_max);
    set(&mut c.receipt_batch_secs, receipt_batch_secs);
    set(&mut c.dispute_window_secs, dispute_window_secs);
    check(&c)?;
    Ok(c)
}

fn check(c: &Config) -> Result<(), String> {
    require(
        c.registry.is_some() && c.escrow.is_some(),
        "registry and escrow must be set",
    )?;
    require(
        ["dfx_test_key", "test_key_1", "key_1"].contains(&c.schnorr_key_name.as_str()),
        "schnorr_key_name must be dfx_test_key, test_key_1 or key_1",
    )?;
    require(c.fee_ppm <= 1_000_000, "fee_ppm must be at most 1000000")?;
    require(
        c.max_inline_bytes <= 1_000_000,
        "max_inline_bytes must be at most 1000000 (the outcall request limit is 2 MB)",
    )?;
    require(
        (1..=4096).contains(&c.max_sentences),
        "max_sentences must be 1..=4096",
    )?;
    require(
        (1..=1_048_576).contains(&c.max_matmul_dim),
        "max_matmul_dim must be 1..=1048576",
    )?;
    require(
        c.max_freivalds_elements <= 64 * 1024 * 1024,
        "max_freivalds_elements must be at most 67108864 (the instruction limit)",
    )?;
    require(
        (1..=512).contains(&c.challenge_rows),
        "challenge_rows must be 1..=512",
    )?;
    require(
        c.max_stored_result_bytes <= 64 * 1024 * 1024,
        "max_stored_result_bytes must be at most 64 MiB",
    )?;
    require(
        1 <= c.min_deadline_secs
            && c.min_deadline_secs <= c.max_deadline_secs
            && c.max_deadline_secs <= 30 * 86_400,
        "deadlines must satisfy 1 ≤ min_deadline_secs ≤ max_deadline_secs ≤ 30 days",
    )?;
    require(
        c.assignment_timeout_secs >= 1,
        "assignment_timeout_secs must be at least 1",
    )?;
    require(c.max_failovers <= 20, "max_failovers must be at most 20")?;
    require(
        c.dispatch_retries <= 20,
        "dispatch_retries must be at most 20",
    )?;
    require(
        1 <= c.poll_initial_ms && c.poll_initial_ms <= c.poll_max_ms && c.poll_max_ms <= 600_000,
        "polling must satisfy 1 ≤ poll_initial_ms ≤ poll_max_ms ≤ 600000",
    )?;
    require(
        (1..=3_600).contains(&c.sync_interval_secs),
        "sync_interval_secs must be 1..=3600",
    )?;
    require(
        (100..=60_000).contains(&c.tick_interval_ms),
        "tick_interval_ms must be 100..=60000",
    )?;
    require(
        c.receipt_batch_max >= 1,
        "receipt_batch_max must be at least 1",
    )?;
    require(
        (1..=86_400).contains(&c.receipt_batch_secs),
        "receipt_batch_secs must be 1..=86400",
    )?;
    require(
        c.dispute_window_secs <= 7 * 86_400,
        "dispute_window_secs must be at most 604800 (7 days)",
    )
}

pub fn init(arg: Option<RouterArg>) {
    let update = match arg {
        Some(RouterArg::Init(u)) => u,
        None => ic_cdk::trap("install needs RouterArg::Init with the registry and escrow ids"),
        Some(RouterArg::Upgrade(_)) => ic_cdk::trap("install needs RouterArg::Init"),
    };
    let config = apply_update(Config::default(), update).unwrap_or_else(|e| ic_cdk::trap(e));
    let now = IcRuntime.time();
    mutate_state(|s| {
        s.set_config(config.clone());
        s.record(
            now,
            None,
            EventKind::Init {
                config: config.clone(),
            },
        );
    });
    arm_timers();
}

/// Jobs, miners and receipts are in stable memory; the heap caches were
/// rebuilt when the state was loaded. Certified data does not survive an
/// upgrade, so the receipt root is set again.
pub fn post_upgrade(arg: Option<RouterArg>) {
    let update = match arg {
        None | Some(RouterArg::Upgrade(None)) => ConfigUpdate::default(),
        Some(RouterArg::Upgrade(Some(u))) => u,
        Some(RouterArg::Init(_)) => ic_cdk::trap("upgrade needs RouterArg::Upgrade"),
    };
    let now = IcRuntime.time();
    let config =
        apply_update(read_state(|s| s.config()), update).unwrap_or_else(|e| ic_cdk::trap(e));
    let root = mutate_state(|s| {
        s.set_config(config.clone());
        s.record(
            now,
            None,
            EventKind::Upgrade {
                config: config.clone(),
            },
        );
        crate::receipts::root(s)
    });
    IcRuntime.set_certified_data(&root.0);
    arm_timers();
}

pub fn set_config(caller: candid::Principal, update: ConfigUpdate) -> Result<Config, ConfigError> {
    if !ic_cdk::api::is_controller(&caller) {
        return Err(ConfigError::NotController);
    }
    let config = apply_update(read_state(|s| s.config()), update)
        .map_err(|reason| ConfigError::Invalid { reason })?;
    mutate_state(|s| {
        s.set_config(config.clone());
        let kind = EventKind::ConfigChanged {
            by: caller,
            config: config.clone(),
        };
        s.record(IcRuntime.time(), None, kind);
    });
    arm_timers();
    Ok(config)
}

/// (Re-)arms the timers from the configuration.
pub fn arm_timers() {
    TIMERS.with(|t| {
        t.borrow_mut()
            .drain(..)
            .for_each(ic_cdk_timers::clear_timer)
    });
    let c = read_state(|s| s.config());
    // Ticks may overlap (a step can wait on a slow worker); each job has its guard.
    let tick =
        ic_cdk_timers::set_timer_interval(Duration::from_millis(c.tick_interval_ms), || async {
            crate::engine::tick(&IcRuntime).await;
        });
    let sync = ic_cdk_timers::set_timer_interval_serial(
        Duration::from_secs(c.sync_interval_secs),
        async || {
            crate::sync::run(&IcRuntime).await;
        },
    );
    let batch = ic_cdk_timers::set_timer_interval_serial(Duration::from_secs(5), async || {
        crate::receipts::sign_due(&IcRuntime).await;
    });
    let key_name = c.schnorr_key_name.clone();
    let first = ic_cdk_timers::set_timer(Duration::ZERO, async move {
        crate::sync::run(&IcRuntime).await;
        crate::receipts::ensure_public_key(&IcRuntime, &key_name).await;
    });
    TIMERS.with(|t| t.borrow_mut().extend([tick, sync, batch, first]));
}
