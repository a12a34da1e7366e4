//! The conservation invariant, recomputed from the records.

use super::State;
use crate::types::*;
use candid::Principal;

impl State {
    // ---- the invariant -----------------------------------------------------

    /// Recomputes every total from the records and checks conservation:
    /// deposits − withdrawals = Σ available + Σ held + Σ bonded + treasury +
    /// pending payouts; also that each account's `held` is the sum of its
    /// open holds (no negative balance can exist: all are `u64` and every
    /// subtraction is checked or preceded by a check).
    pub fn check_invariants(&self) -> Result<(), String> {
        let totals = self.totals();
        let mut sums = Totals::default();
        let mut held_by: std::collections::BTreeMap<Principal, u128> = Default::default();
        for entry in self.accounts.iter() {
            let b = entry.value().0;
            if b.is_empty() {
                return Err(format!("empty account {} stored", entry.key()));
            }
            sums.available += b.available;
            sums.held += b.held;
            sums.bonded += b.bonded + b.unbonding;
            sums.accounts += 1;
        }
        for entry in self.holds.iter() {
            let h = entry.value().0;
            if h.settlement.is_none() {
                *held_by.entry(h.payer).or_default() += u128::from(h.amount);
                sums.holds_open += 1;
            } else {
                sums.holds_settled += 1;
            }
        }
        for (payer, held) in &held_by {
            let stored = u128::from(self.balance(payer).held);
            if stored != *held {
                return Err(format!(
                    "{payer} has held {stored}, open holds sum to {held}"
                ));
            }
        }
        if held_by.values().sum::<u128>() != u128::from(sums.held) {
            return Err("held balance without an open hold".into());
        }
        for entry in self.ledger_ops.iter() {
            if let LedgerOpKind::Withdrawal { amount, .. } = entry.value().0.kind {
                sums.pending_payouts += amount;
            }
        }
        sums.pending_payouts += self.btc_pending_sum();
        let checks = [
            ("available", totals.available, sums.available),
            ("held", totals.held, sums.held),
            ("bonded", totals.bonded, sums.bonded),
            (
                "pending_payouts",
                totals.pending_payouts,
                sums.pending_payouts,
            ),
            ("accounts", totals.accounts, sums.accounts),
            ("holds_open", totals.holds_open, sums.holds_open),
            ("holds_settled", totals.holds_settled, sums.holds_settled),
            ("ledger_ops", totals.ledger_ops, self.ledger_ops.len()),
            ("slashes", totals.slashes, self.slashes.len()),
        ];
        for (name, kept, recomputed) in checks {
            if kept != recomputed {
                return Err(format!(
                    "total {name} is {kept}, records sum to {recomputed}"
                ));
            }
        }
        let inside = u128::from(sums.available)
            + u128::from(sums.held)
            + u128::from(sums.bonded)
            + u128::from(totals.treasury)
            + u128::from(sums.pending_payouts);
        let net = i128::from(totals.deposits) - i128::from(totals.withdrawals);
        if net != inside as i128 {
            return Err(format!(
                "conservation: deposits {} − withdrawals {} ≠ {inside} held inside",
                totals.deposits, totals.withdrawals
            ));
        }
        Ok(())
    }
}
