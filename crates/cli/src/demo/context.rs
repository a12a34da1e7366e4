//! The state every phase of the demo shares.

use super::processes::{NetGuard, Proc, TmpDir};
use super::regtest::Regtest;
use super::summary::DemoMiner;
use super::ui::Ui;
use super::DemoOptions;
use crate::config::CanisterIds;
use crate::Env;
use candid::Principal;
use std::path::PathBuf;

/// One demo miner: how it calls the canisters, what the summary reports
/// about it, and its worker's data directory.
pub(super) struct MinerSlot {
    pub env: Env,
    pub miner: DemoMiner,
    pub data_dir: PathBuf,
}

/// The running demo: the network, the canisters, the identities and the
/// processes, stopped and removed when dropped.
pub(super) struct Demo<'a> {
    pub opts: &'a DemoOptions,
    pub ui: Ui,
    /// The temporary directory holding the network state, the worker data
    /// directories and their logs.
    pub workdir: PathBuf,
    pub regtest: Regtest,
    pub ids: CanisterIds,
    /// The deployer, a controller of the canisters.
    pub admin: Env,
    /// The developer who pays for the jobs.
    pub dev: Env,
    /// Filled by the miners phase.
    pub miners: Vec<MinerSlot>,
    /// Fields drop in order: the workers stop first, then the server, and
    /// the directory they used is removed last.
    pub workers: Vec<Proc>,
    pub _network: NetGuard,
    pub _workdir: TmpDir,
}

impl Demo<'_> {
    /// The dishonest miner (the demo always starts one).
    pub fn cheater(&self) -> &MinerSlot {
        self.miners
            .iter()
            .find(|s| s.miner.dishonest)
            .expect("the demo starts a dishonest miner")
    }

    pub fn cheater_mut(&mut self) -> &mut MinerSlot {
        self.miners
            .iter_mut()
            .find(|s| s.miner.dishonest)
            .expect("the demo starts a dishonest miner")
    }

    pub fn honest_mut(&mut self) -> impl Iterator<Item = &mut MinerSlot> {
        self.miners.iter_mut().filter(|s| !s.miner.dishonest)
    }

    pub fn miner_named(&self, name: &str) -> &DemoMiner {
        &self
            .miners
            .iter()
            .find(|s| s.miner.name == name)
            .unwrap_or_else(|| panic!("the demo starts a miner {name}"))
            .miner
    }

    /// The miner's demo name, or its principal for one the demo did not start.
    pub fn name_of(&self, principal: Principal) -> String {
        self.miners
            .iter()
            .find(|s| s.miner.principal == principal)
            .map(|s| s.miner.name.clone())
            .unwrap_or_else(|| principal.to_text())
    }
}
