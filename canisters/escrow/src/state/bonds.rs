//! Miner bonds, their unbonding delay, and slashes.

use super::{Cbor, State};
use crate::types::*;
use candid::Principal;

fn slash_key(miner: &Principal, job: &str) -> String {
    format!("{miner}|{job}")
}

impl State {
    // ---- bonds -------------------------------------------------------------

    /// available → bonded. `Err(available)`.
    pub fn bond(&mut self, miner: Principal, amount: Sats, now: u64) -> Result<Balance, Sats> {
        let mut b = self.balance(&miner);
        b.available = b.available.checked_sub(amount).ok_or(b.available)?;
        b.bonded += amount;
        self.put_balance(miner, b.clone());
        self.record(now, EventKind::Bonded { miner, amount });
        Ok(b)
    }

    /// bonded → unbonding until `ready_at_ns` (a new unbond restarts the
    /// delay for everything unbonding). `Err(bonded)`.
    pub fn unbond(
        &mut self,
        miner: Principal,
        amount: Sats,
        ready_at_ns: u64,
        now: u64,
    ) -> Result<Balance, Sats> {
        let mut b = self.balance(&miner);
        b.bonded = b.bonded.checked_sub(amount).ok_or(b.bonded)?;
        b.unbonding += amount;
        b.unbonding_ready_at_ns = ready_at_ns;
        self.put_balance(miner, b.clone());
        self.record(
            now,
            EventKind::UnbondStarted {
                miner,
                amount,
                ready_at_ns,
            },
        );
        Ok(b)
    }

    /// unbonding → available once the delay has passed.
    pub fn claim_unbonded(&mut self, miner: Principal, now: u64) -> Result<Balance, BondError> {
        let mut b = self.balance(&miner);
        if b.unbonding == 0 {
            return Err(BondError::NothingToClaim);
        }
        if now < b.unbonding_ready_at_ns {
            return Err(BondError::NotReady {
                ready_at_ns: b.unbonding_ready_at_ns,
            });
        }
        let amount = b.unbonding;
        b.available += amount;
        b.unbonding = 0;
        b.unbonding_ready_at_ns = 0;
        self.put_balance(miner, b.clone());
        self.record(now, EventKind::Unbonded { miner, amount });
        Ok(b)
    }

    pub fn slash_of(&self, miner: &Principal, job: &str) -> Option<Slash> {
        self.slashes.get(&slash_key(miner, job)).map(|s| s.0)
    }

    /// Takes up to `requested` from the miner's bond (bonded first, then
    /// unbonding) and credits it to `beneficiary`; recorded per (miner, job).
    pub fn slash(
        &mut self,
        miner: Principal,
        requested: Sats,
        beneficiary: Principal,
        job: &str,
        now: u64,
    ) -> Slash {
        let mut b = self.balance(&miner);
        let from_bonded = b.bonded.min(requested);
        let from_unbonding = b.unbonding.min(requested - from_bonded);
        b.bonded -= from_bonded;
        b.unbonding -= from_unbonding;
        if b.unbonding == 0 {
            b.unbonding_ready_at_ns = 0;
        }
        self.put_balance(miner, b);
        let mut to = self.balance(&beneficiary);
        to.available += from_bonded + from_unbonding;
        self.put_balance(beneficiary, to);
        let slash = Slash {
            job: job.to_string(),
            miner,
            beneficiary,
            requested,
            from_bonded,
            from_unbonding,
            at_ns: now,
        };
        self.slashes
            .insert(slash_key(&miner, job), Cbor(slash.clone()));
        self.update_totals(|t| t.slashes += 1);
        self.record(
            now,
            EventKind::Slashed {
                slash: slash.clone(),
            },
        );
        slash
    }
}
