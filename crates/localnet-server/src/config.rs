//! How the server is run: port, the net's configuration, timeouts.

use crate::clock::wall_nanos;
use localnet::OutcallMode;
use std::time::Duration;

/// How to run the server.
#[derive(Clone, Debug)]
pub struct Config {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// The net's configuration. Its clock is moved to wall-clock time as the
    /// server runs (never backwards).
    pub net: localnet::Config,
    /// How long `/api/v3|v4/.../call` waits for a call to finish before
    /// answering 202 (the replica's default is 10 s).
    pub sync_call_timeout: Duration,
    /// How often the background task advances the clock and ticks the net
    /// (timers, heartbeats, best-effort deadlines, queued messages).
    pub tick_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            net: localnet::Config {
                outcalls: OutcallMode::Live,
                allow_plain_http: true,
                start_time_nanos: wall_nanos(),
                ..localnet::Config::default()
            },
            sync_call_timeout: Duration::from_secs(10),
            tick_interval: Duration::from_millis(100),
        }
    }
}

impl Config {
    /// The default configuration with the net seeded by `seed` (root key,
    /// `raw_rand`, node key).
    pub fn with_seed(seed: [u8; 32]) -> Self {
        let mut config = Config::default();
        config.net.seed = seed;
        config
    }
}
