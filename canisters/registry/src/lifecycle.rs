//! init / post_upgrade / configuration, and the timers they arm.

use crate::runtime::IcRuntime;
use crate::state::{mutate_state, read_state, EventKind};
use crate::types::*;
use candid::Principal;
use std::cell::RefCell;
use std::time::Duration;
use tensormine_core::config_update::require;

thread_local! {
    static TIMERS: RefCell<Vec<ic_cdk_timers::TimerId>> = const { RefCell::new(Vec::new()) };
}

/// Applies an update to a configuration, checking bounds.
pub fn apply_update(mut c: Config, u: ConfigUpdate) -> Result<Config, String> {
    tensormine_core::apply_update!(u => c; ConfigUpdate {
        router,
        btc_network,
        local,
        read_only,
        probe_interval_secs,
        probes_per_round,
        offline_after_failures,
        health_max_response_bytes,
        challenge_interval_secs,
        challenge_round_secs,
        challenges_per_round,
        challenge_n,
        challenge_rows,
        challenge_deadline_ms,
        challenge_cooldown_secs,
        max_miners,
    });
    require(
        (1..=86_400).contains(&c.probe_interval_secs),
        "probe_interval_secs must be 1..=86400",
    )?;
    require(
        (1..=1_000).contains(&c.probes_per_round),
        "probes_per_round must be 1..=1000",
    )?;
    require(
        (1..=100).contains(&c.offline_after_failures),
        "offline_after_failures must be 1..=100",
    )?;
    require(
        (512..=65_536).contains(&c.health_max_response_bytes),
        "health_max_response_bytes must be 512..=65536",
    )?;
    require(
        c.challenge_interval_secs >= 60,
        "challenge_interval_secs must be at least 60",
    )?;
    require(
        (1..=86_400).contains(&c.challenge_round_secs),
        "challenge_round_secs must be 1..=86400",
    )?;
    require(
        (1..=16).contains(&c.challenges_per_round),
        "challenges_per_round must be 1..=16",
    )?;
    require(
        (8..=2048).contains(&c.challenge_n),
        "challenge_n must be 8..=2048",
    )?;
    require(
        (1..=300).contains(&c.challenge_rows),
        "challenge_rows must be 1..=300",
    )?;
    require(
        (1..=600_000).contains(&c.challenge_deadline_ms),
        "challenge_deadline_ms must be 1..=600000",
    )?;
    require(
        c.max_miners <= 1_000_000,
        "max_miners must be at most 1000000",
    )?;
    Ok(c)
}

pub fn init(arg: Option<RegistryArg>) {
    let update = match arg {
        None => ConfigUpdate::default(),
        Some(RegistryArg::Init(u)) => u,
        Some(RegistryArg::Upgrade(_)) => ic_cdk::trap("install needs RegistryArg::Init"),
    };
    let config = apply_update(Config::default(), update).unwrap_or_else(|e| ic_cdk::trap(e));
    commit_config(config, |config| EventKind::Init { config });
}

pub fn post_upgrade(arg: Option<RegistryArg>) {
    let update = match arg {
        None | Some(RegistryArg::Upgrade(None)) => ConfigUpdate::default(),
        Some(RegistryArg::Upgrade(Some(u))) => u,
        Some(RegistryArg::Init(_)) => ic_cdk::trap("upgrade needs RegistryArg::Upgrade"),
    };
    let config =
        apply_update(read_state(|s| s.config()), update).unwrap_or_else(|e| ic_cdk::trap(e));
    commit_config(config, |config| EventKind::Upgrade { config });
}

pub fn set_config(caller: Principal, update: ConfigUpdate) -> Result<Config, ConfigError> {
    if !ic_cdk::api::is_controller(&caller) {
        return Err(ConfigError::NotController);
    }
    let current = read_state(|s| s.config());
    let config = apply_update(current, update).map_err(|reason| ConfigError::Invalid { reason })?;
    commit_config(config.clone(), |config| EventKind::ConfigChanged {
        by: caller,
        config,
    });
    Ok(config)
}

/// Stores `config`, rebuilds the indices that depend on it, logs the event
/// that carries it and re-arms the timers from it: the one place a
/// configuration takes effect.
fn commit_config(config: Config, event: impl FnOnce(Config) -> EventKind) {
    let now = ic_cdk::api::time();
    mutate_state(|s| {
        s.set_config(config.clone());
        s.rebuild_indices();
        s.record(now, None, event(config));
    });
    arm_timers();
}

/// (Re-)arms the probe and challenge timers from the configuration.
pub fn arm_timers() {
    TIMERS.with(|t| {
        for id in t.borrow_mut().drain(..) {
            ic_cdk_timers::clear_timer(id);
        }
    });
    let config = read_state(|s| s.config());
    let probe = ic_cdk_timers::set_timer_interval_serial(
        Duration::from_secs(config.probe_interval_secs),
        async || crate::tasks::probe::probe_round(&IcRuntime).await,
    );
    let challenge = ic_cdk_timers::set_timer_interval_serial(
        Duration::from_secs(config.challenge_round_secs),
        async || crate::challenge::challenge_round(&IcRuntime).await,
    );
    TIMERS.with(|t| t.borrow_mut().extend([probe, challenge]));
}
