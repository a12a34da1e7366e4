//! The in-memory escrow: the real accounting semantics (idempotent by job
//! id, `release` pays payees and fee and refunds the rest, a settled hold
//! answers `AlreadySettled` with its settlement), typed with the escrow's
//! interface types from `tensormine_core::escrow` — the same the router's
//! client uses, so the fake cannot drift from `candid/escrow.did`.

use candid::Principal;
use std::collections::BTreeMap;
pub use tensormine_core::escrow::{
    Hold, HoldError, RefundError, ReleaseError, Settlement, Slash, SlashError,
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Account {
    pub available: u64,
    pub held: u64,
    pub bonded: u64,
}

/// The escrow's accounting with the real semantics: idempotent by job id,
/// `release` pays payees and fee and refunds the rest, a settled hold
/// answers `AlreadySettled` with its settlement.
#[derive(Debug, Default)]
pub struct FakeEscrow {
    pub accounts: BTreeMap<Principal, Account>,
    pub treasury: u64,
    /// Everything ever credited from outside (deposits and bonds).
    pub deposits: u64,
    pub holds: BTreeMap<String, Hold>,
    pub slashes: BTreeMap<(Principal, String), Slash>,
    /// Holds that changed state on settlement, per job (must end at 1).
    pub settlements_applied: BTreeMap<String, u32>,
    /// release after refund or refund after release, or a release with other payees.
    pub conflicting_settles: Vec<String>,
    pub release_calls: u32,
    pub refund_calls: u32,
}

impl FakeEscrow {
    pub fn deposit(&mut self, p: Principal, amount: u64) {
        self.accounts.entry(p).or_default().available += amount;
        self.deposits += amount;
    }
    pub fn bond(&mut self, p: Principal, amount: u64) {
        self.accounts.entry(p).or_default().bonded += amount;
        self.deposits += amount;
    }
    pub fn account(&self, p: Principal) -> Account {
        self.accounts.get(&p).copied().unwrap_or_default()
    }
    /// Σ (available + held + bonded) + treasury.
    pub fn total(&self) -> u64 {
        self.accounts
            .values()
            .map(|a| a.available + a.held + a.bonded)
            .sum::<u64>()
            + self.treasury
    }

    pub fn hold(
        &mut self,
        job: String,
        payer: Principal,
        amount: u64,
        now: u64,
    ) -> Result<Hold, HoldError> {
        if amount == 0 {
            return Err(HoldError::AmountTooSmall { min: 1 });
        }
        if let Some(h) = self.holds.get(&job) {
            return if h.settlement.is_some() {
                Err(HoldError::AlreadySettled { hold: h.clone() })
            } else if h.payer == payer && h.amount == amount {
                Ok(h.clone())
            } else {
                Err(HoldError::JobExists { hold: h.clone() })
            };
        }
        let a = self.accounts.entry(payer).or_default();
        if a.available < amount {
            return Err(HoldError::InsufficientFunds {
                available: a.available,
            });
        }
        a.available -= amount;
        a.held += amount;
        let h = Hold {
            job: job.clone(),
            payer,
            amount,
            held_at_ns: now,
            settlement: None,
        };
        self.holds.insert(job, h.clone());
        Ok(h)
    }

    pub fn release(
        &mut self,
        job: String,
        payees: Vec<(Principal, u64)>,
        fee: u64,
        now: u64,
    ) -> Result<Settlement, ReleaseError> {
        self.release_calls += 1;
        let hold = self
            .holds
            .get(&job)
            .cloned()
            .ok_or(ReleaseError::UnknownJob)?;
        match &hold.settlement {
            Some(
                s @ Settlement::Released {
                    payees: p, fee: f, ..
                },
            ) if *p == payees && *f == fee => return Ok(s.clone()),
            Some(_) => {
                self.conflicting_settles
                    .push(format!("release {job} after {:?}", hold.settlement));
                return Err(ReleaseError::AlreadySettled { hold });
            }
            None => {}
        }
        let paid = payees.iter().try_fold(fee, |s, (_, a)| s.checked_add(*a));
        let Some(refunded) = paid.and_then(|p| hold.amount.checked_sub(p)) else {
            return Err(ReleaseError::ExceedsHold { held: hold.amount });
        };
        let payer = self.accounts.entry(hold.payer).or_default();
        payer.held -= hold.amount;
        payer.available += refunded;
        for (p, a) in &payees {
            self.accounts.entry(*p).or_default().available += a;
        }
        self.treasury += fee;
        let s = Settlement::Released {
            fee,
            at_ns: now,
            refunded,
            payees,
        };
        self.holds.get_mut(&job).unwrap().settlement = Some(s.clone());
        *self.settlements_applied.entry(job).or_default() += 1;
        Ok(s)
    }

    pub fn refund(&mut self, job: String, now: u64) -> Result<Settlement, RefundError> {
        self.refund_calls += 1;
        let hold = self
            .holds
            .get(&job)
            .cloned()
            .ok_or(RefundError::UnknownJob)?;
        match &hold.settlement {
            Some(s @ Settlement::Refunded { .. }) => return Ok(s.clone()),
            Some(_) => {
                self.conflicting_settles
                    .push(format!("refund {job} after release"));
                return Err(RefundError::AlreadySettled { hold });
            }
            None => {}
        }
        let payer = self.accounts.entry(hold.payer).or_default();
        payer.held -= hold.amount;
        payer.available += hold.amount;
        let s = Settlement::Refunded {
            at_ns: now,
            amount: hold.amount,
        };
        self.holds.get_mut(&job).unwrap().settlement = Some(s.clone());
        *self.settlements_applied.entry(job).or_default() += 1;
        Ok(s)
    }

    pub fn slash(
        &mut self,
        miner: Principal,
        amount: u64,
        beneficiary: Principal,
        job: String,
        now: u64,
    ) -> Result<Slash, SlashError> {
        if amount == 0 {
            return Err(SlashError::AmountTooSmall { min: 1 });
        }
        let key = (miner, job.clone());
        if let Some(s) = self.slashes.get(&key) {
            return if s.requested == amount && s.beneficiary == beneficiary {
                Ok(s.clone())
            } else {
                Err(SlashError::AlreadySlashed { slash: s.clone() })
            };
        }
        let m = self.accounts.entry(miner).or_default();
        let taken = m.bonded.min(amount);
        m.bonded -= taken;
        self.accounts.entry(beneficiary).or_default().available += taken;
        let s = Slash {
            job,
            miner,
            requested: amount,
            at_ns: now,
            beneficiary,
            from_unbonding: 0,
            from_bonded: taken,
        };
        self.slashes.insert(key, s.clone());
        Ok(s)
    }
}
