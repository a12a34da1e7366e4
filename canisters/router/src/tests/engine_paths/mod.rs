//! The job engine end to end on the fake runtime: each tier's honest path,
//! cheaters, divergent replicas, failing workers, deadlines, cancellation,
//! the failover bound, settlement retries and receipts — one file per
//! concern; the shared checks are here.

mod bonds;
mod cancel;
mod disputes;
mod failures;
mod ranking;
mod recovery;
mod tiers;

use super::fake::*;
use crate::engine;
use crate::job::MAX_POLL_ERRORS;
use crate::state::audit;
use crate::state::{mutate_state, read_state};
use crate::{receipts, settle};
use tensormine_core::receipt::{verify_receipt, Receipt, ReceiptOutcome};
use tensormine_core::router::*;

pub fn config(f: impl FnOnce(&mut Config)) {
    let mut c = test_config();
    f(&mut c);
    mutate_state(|s| s.set_config(c));
}

/// Money is conserved and every final job's hold is settled once, as its status says.
pub fn check_escrow(rt: &FakeRuntime) {
    let e = rt.escrow.borrow();
    assert_eq!(e.total(), e.deposits, "money created or destroyed");
    assert!(
        e.conflicting_settles.is_empty(),
        "{:?}",
        e.conflicting_settles
    );
    let jobs: Vec<crate::job::Job> = read_state(|s| s.jobs.iter().map(|e| e.value().0).collect());
    for j in jobs {
        if let Some(index) = j.receipt_index {
            check_receipt(&j, index);
        }
        let hold = e.holds.get(&j.id);
        match j.status {
            JobStatus::Settled => {
                let Some(Settlement::Released {
                    payees,
                    fee,
                    refunded,
                    ..
                }) = hold.and_then(|h| h.settlement.clone())
                else {
                    panic!("{} settled without a release: {hold:?}", j.id)
                };
                assert_eq!(payees, settle::payees(&j), "{}", j.id);
                assert_eq!((j.fee_sats, j.refunded_sats), (fee, refunded));
                assert_eq!(j.paid_sats + fee + refunded, j.request.max_price_sats);
                assert_eq!(e.settlements_applied[&j.id], 1);
            }
            JobStatus::Refunded => {
                assert!(
                    matches!(hold.and_then(|h| h.settlement.clone()), Some(Settlement::Refunded { amount, .. }) if amount == j.request.max_price_sats),
                    "{} refunded without a refund: {hold:?}",
                    j.id
                );
                assert_eq!(e.settlements_applied[&j.id], 1);
            }
            JobStatus::Rejected => assert!(hold.is_none()),
            _ => assert!(
                hold.is_none_or(|h| h.settlement.is_none()),
                "{} settled early",
                j.id
            ),
        }
    }
}

/// A receipt says what the escrow did: miners paid (only on a settled
/// job, what the release paid them), fee and refund adding up to the hold.
pub fn check_receipt(j: &crate::job::Job, index: u64) {
    let bytes = read_state(|s| s.receipts.get(&index)).unwrap();
    let r = Receipt::from_bytes(&bytes).unwrap();
    assert_eq!(r.job_id, j.id);
    let paid: u64 = r.miners.iter().map(|m| m.paid_sats).sum();
    assert_eq!(
        paid + r.fee_sats + r.refunded_sats,
        r.held_sats,
        "{}: receipt does not add up: {r:?}",
        j.id
    );
    assert_eq!(paid, j.paid_sats, "{}", j.id);
    let payees = settle::payees(j);
    for (m, a) in r.miners.iter().zip(&j.assignments) {
        let expected = if j.status == JobStatus::Settled {
            payees
                .iter()
                .find(|(p, _)| *p == a.miner)
                .map_or(0, |(_, s)| *s)
        } else {
            0
        };
        assert_eq!(m.paid_sats, expected, "{}: miner line {m:?}", j.id);
        assert_eq!(m.slashed_sats, a.slashed_sats);
    }
}

pub fn receipt_of(id: &str) -> Receipt {
    let index = job(id).receipt_index.expect("a receipt");
    let bytes = read_state(|s| s.receipts.get(&index)).unwrap();
    Receipt::from_bytes(&bytes).unwrap()
}

/// The router's events about job `id`, oldest first.
pub fn events_of(id: &str) -> Vec<crate::state::Event> {
    read_state(|s| {
        s.events
            .iter()
            .map(|e| e.0)
            .filter(|e| e.job.as_deref() == Some(id))
            .collect()
    })
}

pub fn states(id: &str) -> Vec<AssignmentState> {
    job(id)
        .assignments
        .iter()
        .map(|a| a.state.clone())
        .collect()
}

pub fn reported(rt: &FakeRuntime, i: usize) -> Vec<bool> {
    rt.reports
        .borrow()
        .iter()
        .filter(|r| r.miner == miner_id(i))
        .map(|r| r.verified)
        .collect()
}

pub fn challenges(rt: &FakeRuntime, i: usize) -> usize {
    let prefix = format!("https://w{i}.test/");
    rt.outcalls
        .borrow()
        .iter()
        .filter(|o| o.url.starts_with(&prefix) && o.url.ends_with("/challenge"))
        .count()
}

impl FakeRuntime {
    pub fn time_now(&self) -> u64 {
        crate::runtime::Runtime::time(self)
    }
}
