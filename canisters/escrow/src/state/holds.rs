//! Job holds: taken at submission, settled once by release or refund.

use super::{Cbor, State};
use crate::types::*;
use candid::Principal;

/// `JobExists`/`AlreadySettled` distinction of a hold that is already there.
pub enum Existing {
    Same(Hold),
    Different(Hold),
    Settled(Hold),
}

/// A release that pays out more than the hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExceedsHold;

impl State {
    // ---- holds -------------------------------------------------------------

    pub fn hold_of(&self, job: &str) -> Option<Hold> {
        self.holds.get(&job.to_string()).map(|h| h.0)
    }

    /// What is there already for `job`, compared with a new hold request.
    pub fn existing_hold(&self, job: &str, payer: Principal, amount: Sats) -> Option<Existing> {
        let hold = self.hold_of(job)?;
        Some(if hold.settlement.is_some() {
            Existing::Settled(hold)
        } else if hold.payer == payer && hold.amount == amount {
            Existing::Same(hold)
        } else {
            Existing::Different(hold)
        })
    }

    /// Moves `amount` of `payer` from available to held for `job` (a new
    /// job: callers check [`Self::existing_hold`] first). `Err(available)`.
    pub fn hold(
        &mut self,
        job: &str,
        payer: Principal,
        amount: Sats,
        now: u64,
    ) -> Result<Hold, Sats> {
        let mut b = self.balance(&payer);
        b.available = b.available.checked_sub(amount).ok_or(b.available)?;
        b.held += amount;
        self.put_balance(payer, b);
        let hold = Hold {
            job: job.to_string(),
            payer,
            amount,
            held_at_ns: now,
            settlement: None,
        };
        self.holds.insert(job.to_string(), Cbor(hold.clone()));
        self.update_totals(|t| t.holds_open += 1);
        self.record(
            now,
            EventKind::Held {
                job: job.to_string(),
                payer,
                amount,
            },
        );
        Ok(hold)
    }

    /// Settles the open `hold`: payees and the treasury are paid, the rest
    /// goes back to the payer. `Err(ExceedsHold)` when Σ payees + fee > the
    /// hold (nothing changes).
    pub fn release(
        &mut self,
        mut hold: Hold,
        payees: Vec<(Principal, Sats)>,
        fee: Sats,
        now: u64,
    ) -> Result<Settlement, ExceedsHold> {
        let paid = payees
            .iter()
            .try_fold(fee, |sum, (_, amount)| sum.checked_add(*amount))
            .ok_or(ExceedsHold)?;
        let refunded = hold.amount.checked_sub(paid).ok_or(ExceedsHold)?;
        let mut b = self.balance(&hold.payer);
        b.held -= hold.amount;
        b.available += refunded;
        self.put_balance(hold.payer, b);
        for (payee, amount) in &payees {
            let mut b = self.balance(payee);
            b.available += amount;
            self.put_balance(*payee, b);
        }
        self.update_totals(|t| t.treasury += fee);
        let settlement = Settlement::Released {
            payees: payees.clone(),
            fee,
            refunded,
            at_ns: now,
        };
        self.settle(&mut hold, settlement.clone());
        self.record(
            now,
            EventKind::Released {
                job: hold.job.clone(),
                payer: hold.payer,
                payees,
                fee,
                refunded,
            },
        );
        Ok(settlement)
    }

    /// Gives the open `hold` back to its payer.
    pub fn refund(&mut self, mut hold: Hold, now: u64) -> Settlement {
        let mut b = self.balance(&hold.payer);
        b.held -= hold.amount;
        b.available += hold.amount;
        self.put_balance(hold.payer, b);
        let settlement = Settlement::Refunded {
            amount: hold.amount,
            at_ns: now,
        };
        self.settle(&mut hold, settlement.clone());
        self.record(
            now,
            EventKind::Refunded {
                job: hold.job.clone(),
                payer: hold.payer,
                amount: hold.amount,
            },
        );
        settlement
    }

    pub(super) fn settle(&mut self, hold: &mut Hold, settlement: Settlement) {
        hold.settlement = Some(settlement);
        self.holds.insert(hold.job.clone(), Cbor(hold.clone()));
        self.update_totals(|t| {
            t.holds_open -= 1;
            t.holds_settled += 1;
        });
    }
}
