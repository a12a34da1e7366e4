//! ckBTC deposits and the ledger operations (deposits, withdrawals) whose
//! calls may be outstanding or uncertain.

use super::{Cbor, State};
use crate::types::*;
use candid::Principal;

impl State {
    // ---- ckBTC deposits ----------------------------------------------------

    /// Credits ledger block `block_index` to `owner`, once: a block already
    /// credited changes nothing and returns `false`.
    pub fn credit_ckbtc(
        &mut self,
        owner: Principal,
        amount: Sats,
        block_index: u64,
        now: u64,
    ) -> bool {
        if self.ckbtc_blocks.contains_key(&block_index) {
            return false;
        }
        self.ckbtc_blocks.insert(block_index, owner);
        let mut b = self.balance(&owner);
        b.available += amount;
        self.put_balance(owner, b);
        self.update_totals(|t| t.deposits += amount);
        self.record(
            now,
            EventKind::CkbtcDeposited {
                owner,
                amount,
                block_index,
            },
        );
        true
    }

    // ---- ledger operations -------------------------------------------------

    pub(super) fn next_op(&mut self, kind: LedgerOpKind, memo_tag: &[u8], now: u64) -> LedgerOp {
        let mut c = self.counters.get().0.clone();
        let id = c.next_op_id;
        c.next_op_id += 1;
        c.totals.ledger_ops += 1;
        self.counters.set(Cbor(c));
        let mut memo = memo_tag.to_vec();
        memo.extend_from_slice(&id.to_be_bytes());
        let op = LedgerOp {
            id,
            kind,
            created_at_time: now,
            memo: serde_bytes::ByteBuf::from(memo),
            status: LedgerOpStatus::InFlight,
            attempts: 1,
            last_error: None,
        };
        self.ledger_ops.insert(id, Cbor(op.clone()));
        op
    }

    pub fn ledger_op(&self, id: u64) -> Option<LedgerOp> {
        self.ledger_ops.get(&id).map(|o| o.0)
    }

    pub fn put_ledger_op(&mut self, op: LedgerOp) {
        self.ledger_ops.insert(op.id, Cbor(op));
    }

    pub(super) fn remove_ledger_op(&mut self, id: u64) -> Option<LedgerOp> {
        let op = self.ledger_ops.remove(&id)?.0;
        self.update_totals(|t| t.ledger_ops -= 1);
        Some(op)
    }

    /// Records a deposit attempt before the `transfer_from` call (no money moves).
    pub fn start_deposit(
        &mut self,
        from: Principal,
        amount: Sats,
        fee: Sats,
        now: u64,
    ) -> LedgerOp {
        self.next_op(LedgerOpKind::Deposit { from, amount, fee }, b"tm-dep", now)
    }

    /// The deposit's transfer happened in `block_index`: credit it (once).
    pub fn complete_deposit(&mut self, op_id: u64, block_index: u64, now: u64) {
        if let Some(op) = self.remove_ledger_op(op_id) {
            if let LedgerOpKind::Deposit { from, amount, .. } = op.kind {
                self.credit_ckbtc(from, amount, block_index, now);
            }
        }
    }

    /// The deposit's transfer did not happen.
    pub fn abandon_deposit(&mut self, op_id: u64, reason: String, now: u64) {
        if self.remove_ledger_op(op_id).is_some() {
            self.record(now, EventKind::DepositAbandoned { op_id, reason });
        }
    }

    /// Debits `amount` from `source` into pending payouts before the
    /// `icrc1_transfer` call.
    pub fn start_withdrawal(
        &mut self,
        source: Source,
        to: Account,
        amount: Sats,
        fee: Sats,
        now: u64,
    ) -> Result<LedgerOp, Sats> {
        self.debit_source(&source, amount)?;
        self.update_totals(|t| t.pending_payouts += amount);
        let kind = LedgerOpKind::Withdrawal {
            source: source.clone(),
            to,
            amount,
            fee,
        };
        let op = self.next_op(kind, b"tm-wd", now);
        self.record(
            now,
            EventKind::WithdrawalStarted {
                op_id: op.id,
                source,
                to,
                amount,
                fee,
                created_at_time: op.created_at_time,
            },
        );
        Ok(op)
    }

    /// Takes `amount` from the source's available funds; `Err(available)`.
    pub(super) fn debit_source(&mut self, source: &Source, amount: Sats) -> Result<(), Sats> {
        match source {
            Source::Account(p) => {
                let mut b = self.balance(p);
                b.available = b.available.checked_sub(amount).ok_or(b.available)?;
                self.put_balance(*p, b);
            }
            Source::Treasury => {
                let treasury = self.totals().treasury;
                let left = treasury.checked_sub(amount).ok_or(treasury)?;
                self.update_totals(|t| t.treasury = left);
            }
        }
        Ok(())
    }

    pub(super) fn credit_source(&mut self, source: &Source, amount: Sats) {
        match source {
            Source::Account(p) => {
                let mut b = self.balance(p);
                b.available += amount;
                self.put_balance(*p, b);
            }
            Source::Treasury => self.update_totals(|t| t.treasury += amount),
        }
    }

    /// The ledger executed the withdrawal: pending payouts → withdrawn.
    pub fn complete_withdrawal(&mut self, op_id: u64, block_index: u64, now: u64) {
        let Some(op) = self.remove_ledger_op(op_id) else {
            return;
        };
        if let LedgerOpKind::Withdrawal { amount, .. } = op.kind {
            self.update_totals(|t| {
                t.pending_payouts -= amount;
                t.withdrawals += amount;
            });
            self.record(now, EventKind::WithdrawalCompleted { op_id, block_index });
        }
    }

    /// The ledger did not execute the withdrawal: the amount goes back.
    pub fn fail_withdrawal(&mut self, op_id: u64, reason: String, now: u64) {
        let Some(op) = self.remove_ledger_op(op_id) else {
            return;
        };
        if let LedgerOpKind::Withdrawal { source, amount, .. } = op.kind {
            self.update_totals(|t| t.pending_payouts -= amount);
            self.credit_source(&source, amount);
            self.record(now, EventKind::WithdrawalFailed { op_id, reason });
        }
    }

    /// The outcome of `op_id` is unknown (or undecidable: `NeedsReview`).
    pub fn mark_uncertain(&mut self, op_id: u64, status: LedgerOpStatus, reason: String, now: u64) {
        if let Some(mut op) = self.ledger_op(op_id) {
            op.status = status;
            op.last_error = Some(reason.clone());
            self.put_ledger_op(op);
            self.record(
                now,
                EventKind::LedgerOpUncertain {
                    op_id,
                    status,
                    reason,
                },
            );
        }
    }
}
