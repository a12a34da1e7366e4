//! init / post_upgrade / configuration, and the timers they arm.

use crate::runtime::IcRuntime;
use crate::state::{mutate_state, read_state, EventKind};
use crate::types::*;
use candid::Principal;
use std::cell::RefCell;
use std::time::Duration;

thread_local! {
    static TIMERS: RefCell<Vec<ic_cdk_timers::TimerId>> = const { RefCell::new(Vec::new()) };
}

/// Applies an update to a configuration, checking bounds.
pub fn apply_update(mut c: Config, u: ConfigUpdate) -> Result<Config, String> {
    if let Some(v) = u.router {
        c.router = v;
    }
    if let Some(v) = u.btc_network {
        c.btc_network = v;
    }
    if let Some(v) = u.local {
        c.local = v;
    }
    if let Some(v) = u.read_only {
        c.read_only = v;
    }
    if let Some(v) = u.probe_interval_secs {
        c.probe_interval_secs = v;
    }
    if let Some(v) = u.probes_per_round {
        c.probes_per_round = v;
    }
    if let Some(v) = u.offline_after_failures {
        c.offline_after_failures = v;
    }
    if let Some(v) = u.health_max_response_bytes {
        c.health_max_response_bytes = v;
    }
    if let Some(v) = u.challenge_interval_secs {
        c.challenge_interval_secs = v;
    }
    if let Some(v) = u.challenge_round_secs {
        c.challenge_round_secs = v;
    }
    if let Some(v) = u.challenges_per_round {
        c.challenges_per_round = v;
    }
    if let Some(v) = u.challenge_n {
        c.challenge_n = v;
    }
    if let Some(v) = u.challenge_rows {
        c.challenge_rows = v;
    }
    if let Some(v) = u.challenge_deadline_ms {
        c.challenge_deadline_ms = v;
    }
    if let Some(v) = u.challenge_cooldown_secs {
        c.challenge_cooldown_secs = v;
    }
    if let Some(v) = u.max_miners {
        c.max_miners = v;
    }
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
    check(
        (1..=86_400).contains(&c.probe_interval_secs),
        "probe_interval_secs must be 1..=86400",
    )?;
    check(
        (1..=1_000).contains(&c.probes_per_round),
        "probes_per_round must be 1..=1000",
    )?;
    check(
        (1..=100).contains(&c.offline_after_failures),
        "offline_after_failures must be 1..=100",
    )?;
    check(
        (512..=65_536).contains(&c.health_max_response_bytes),
        "health_max_response_bytes must be 512..=65536",
    )?;
    check(
        c.challenge_interval_secs >= 60,
        "challenge_interval_secs must be at least 60",
    )?;
    check(
        (1..=86_400).contains(&c.challenge_round_secs),
        "challenge_round_secs must be 1..=86400",
    )?;
    check(
        (1..=16).contains(&c.challenges_per_round),
        "challenges_per_round must be 1..=16",
    )?;
    check(
        (8..=2048).contains(&c.challenge_n),
        "challenge_n must be 8..=2048",
    )?;
    check(
        (1..=300).contains(&c.challenge_rows),
        "challenge_rows must be 1..=300",
    )?;
    check(
        (1..=600_000).contains(&c.challenge_deadline_ms),
        "challenge_deadline_ms must be 1..=600000",
    )?;
    check(
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
    let now = ic_cdk::api::time();
    mutate_state(|s| {
        s.set_config(config.clone());
        s.record(now, None, EventKind::Init { config });
    });
    arm_timers();
}

pub fn post_upgrade(arg: Option<RegistryArg>) {
    let update = match arg {
        None | Some(RegistryArg::Upgrade(None)) => ConfigUpdate::default(),
        Some(RegistryArg::Upgrade(Some(u))) => u,
        Some(RegistryArg::Init(_)) => ic_cdk::trap("upgrade needs RegistryArg::Upgrade"),
    };
    let now = ic_cdk::api::time();
    mutate_state(|s| {
        let config = apply_update(s.config(), update).unwrap_or_else(|e| ic_cdk::trap(e));
        s.set_config(config.clone());
        s.rebuild_indices();
        s.record(now, None, EventKind::Upgrade { config });
    });
    arm_timers();
}

pub fn set_config(caller: Principal, update: ConfigUpdate) -> Result<Config, ConfigError> {
    if !ic_cdk::api::is_controller(&caller) {
        return Err(ConfigError::NotController);
    }
    let current = read_state(|s| s.config());
    let config = apply_update(current, update).map_err(|reason| ConfigError::Invalid { reason })?;
    let now = ic_cdk::api::time();
    mutate_state(|s| {
        s.set_config(config.clone());
        s.rebuild_indices();
        s.record(
            now,
            None,
            EventKind::ConfigChanged {
                by: caller,
                config: config.clone(),
            },
        );
    });
    arm_timers();
    Ok(config)
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
