//! Guards released on `Drop`, so a task that traps or returns early never
//! leaves a miner or a round locked.

use crate::state::mutate_state;
use candid::Principal;

/// At most one probe round at a time.
#[derive(Debug)]
pub struct ProbeRoundGuard(());

impl ProbeRoundGuard {
    pub fn new() -> Option<Self> {
        mutate_state(|s| {
            if s.probe_round_running {
                None
            } else {
                s.probe_round_running = true;
                Some(Self(()))
            }
        })
    }
}

impl Drop for ProbeRoundGuard {
    fn drop(&mut self) {
        mutate_state(|s| s.probe_round_running = false);
    }
}

/// At most one challenge round at a time.
#[derive(Debug)]
pub struct ChallengeRoundGuard(());

impl ChallengeRoundGuard {
    pub fn new() -> Option<Self> {
        mutate_state(|s| {
            if s.challenge_round_running {
                None
            } else {
                s.challenge_round_running = true;
                Some(Self(()))
            }
        })
    }
}

impl Drop for ChallengeRoundGuard {
    fn drop(&mut self) {
        mutate_state(|s| s.challenge_round_running = false);
    }
}

/// At most one challenge per miner at a time.
#[derive(Debug)]
pub struct ChallengeGuard(Principal);

impl ChallengeGuard {
    pub fn new(miner: Principal) -> Option<Self> {
        mutate_state(|s| s.challenges_in_flight.insert(miner).then_some(Self(miner)))
    }
}

impl Drop for ChallengeGuard {
    fn drop(&mut self) {
        mutate_state(|s| {
            s.challenges_in_flight.remove(&self.0);
        });
    }
}

/// At most one probe per miner at a time.
#[derive(Debug)]
pub struct ProbeGuard(Principal);

impl ProbeGuard {
    pub fn new(miner: Principal) -> Option<Self> {
        mutate_state(|s| s.probes_in_flight.insert(miner).then_some(Self(miner)))
    }
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        mutate_state(|s| {
            s.probes_in_flight.remove(&self.0);
        });
    }
}
