//! The net's clock and what tests observe or set directly: logs, balances,
//! keys, stable memory, certified data and module metadata.

use super::{Config, ExecutedMessage, LocalNet};
use candid::Principal;
use localnet_services::certification::RootKey;
use std::collections::BTreeMap;
use std::time::Duration;

impl LocalNet {
    /// The net's clock in nanoseconds since the Unix epoch.
    pub fn time(&self) -> u64 {
        self.time
    }

    /// Moves the clock forward (timers that become due fire on the next tick).
    pub fn advance_time(&mut self, by: Duration) {
        self.time = self.time.saturating_add(by.as_nanos() as u64);
    }

    /// Sets the clock; it never goes backwards (IC time is monotonic).
    pub fn set_time(&mut self, nanos: u64) -> Result<(), String> {
        if nanos < self.time {
            return Err(format!(
                "time is monotonic: cannot go back from {} to {nanos}",
                self.time
            ));
        }
        self.time = nanos;
        Ok(())
    }

    /// Every message executed so far (bounded to the most recent ones).
    pub fn message_log(&self) -> &[ExecutedMessage] {
        &self.message_log
    }

    /// The most recent executed message of `canister` whose kind starts with `kind`.
    pub fn last_message(&self, canister: Principal, kind: &str) -> Option<&ExecutedMessage> {
        self.message_log
            .iter()
            .rev()
            .find(|m| m.canister == canister && m.kind.starts_with(kind))
    }

    /// Debug prints and traps of a canister, oldest first (bounded).
    pub fn canister_log(&self, canister: Principal) -> Vec<String> {
        self.canisters
            .get(&canister)
            .map(|c| c.log.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn cycle_balance(&self, canister: Principal) -> u128 {
        self.canisters.get(&canister).map_or(0, |c| c.cycles)
    }

    /// Adds cycles to a canister (provisional top-up); returns the new balance.
    pub fn add_cycles(&mut self, canister: Principal, amount: u128) -> u128 {
        let c = self
            .canisters
            .get_mut(&canister)
            .expect("add_cycles on an existing canister");
        c.cycles += amount;
        c.cycles
    }

    /// The DER-encoded BLS public key that signs this net's certificates.
    pub fn root_key_der(&self) -> Vec<u8> {
        self.root_key_der.to_vec()
    }

    pub fn root_key(&self) -> &RootKey {
        &self.root_key
    }

    pub fn subnet_id(&self) -> Principal {
        self.subnet_id
    }

    pub fn canister_exists(&self, canister: Principal) -> bool {
        self.canisters.contains_key(&canister)
    }

    /// A copy of a canister's stable memory (for tests).
    pub fn stable_memory(&self, canister: Principal) -> Vec<u8> {
        self.canisters
            .get(&canister)
            .map(|c| c.stable.to_vec())
            .unwrap_or_default()
    }

    /// Replaces a canister's stable memory (a test control, like restoring a
    /// canister snapshot's stable memory): benchmarks build a large state
    /// natively, load it and upgrade the canister so it adopts it.
    pub fn load_stable_memory(&mut self, canister: Principal, bytes: &[u8]) -> Result<(), String> {
        let c = self
            .canisters
            .get_mut(&canister)
            .ok_or_else(|| format!("no canister {canister}"))?;
        c.stable.clear();
        let pages = (bytes.len() as u64).div_ceil(crate::stable::WASM_PAGE);
        c.stable
            .grow(pages, crate::stable::MAX_STABLE_PAGES)
            .ok_or("stable memory too large")?;
        c.stable.write(0, bytes).map_err(|e| e.to_string())
    }

    /// The certified data a canister last set.
    pub fn certified_data(&self, canister: Principal) -> Vec<u8> {
        self.canisters
            .get(&canister)
            .map(|c| c.certified_data.clone())
            .unwrap_or_default()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every canister on the net, in id order.
    pub fn canister_ids(&self) -> Vec<Principal> {
        self.canisters.keys().copied().collect()
    }

    /// The SHA-256 of the installed module; `None` for an empty or unknown canister.
    pub fn module_hash(&self, canister: Principal) -> Option<[u8; 32]> {
        self.canisters
            .get(&canister)?
            .wasm
            .as_ref()
            .map(|w| w.prepared.module_hash)
    }

    /// The canister's controllers; `None` if it does not exist.
    pub fn controllers(&self, canister: Principal) -> Option<Vec<Principal>> {
        self.canisters.get(&canister).map(|c| c.controllers.clone())
    }

    /// The installed module's `icp:public`/`icp:private` custom sections:
    /// name → (public, contents).
    pub fn canister_metadata(&self, canister: Principal) -> BTreeMap<String, (bool, Vec<u8>)> {
        self.canisters
            .get(&canister)
            .and_then(|c| c.wasm.as_ref())
            .map(|w| w.prepared.metadata.clone())
            .unwrap_or_default()
    }
}
