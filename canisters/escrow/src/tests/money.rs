//! The endpoints on the fake ledger: deposits, withdrawals and their unknown
//! outcomes, holds, bonds, authorization, read-only, upgrade.

use super::fake::*;
use crate::api;
use crate::guard::{Guard, Task};
use crate::state::eventlog::replay;
use crate::state::{install_state, mutate_state, read_state, State};
use crate::types::*;
use ic_stable_structures::DefaultMemoryImpl;

fn available(p: candid::Principal) -> u64 {
    read_state(|s| s.balance(&p).available)
}

/// The escrow's ledger balance equals what its books say it holds, once no
/// withdrawal is in flight.
fn assert_books_match_ledger(rt: &FakeRuntime) {
    let t = read_state(|s| s.totals());
    assert_eq!(t.pending_payouts, 0);
    assert_eq!(
        rt.ledger.borrow().balance(ESCROW),
        t.deposits - t.withdrawals
    );
}

#[test]
fn deposit_credits_amount_and_withdrawal_pays_amount_minus_fee() {
    let rt = setup();
    let alice = user(1);
    rt.fund(alice, 10_010);
    let receipt = rt.deposit(alice, 10_000).unwrap();
    assert_eq!(receipt.amount, 10_000);
    assert_eq!(receipt.balance.available, 10_000);
    assert_eq!(
        rt.ledger.borrow().balance(alice),
        0,
        "the depositor paid the fee on top"
    );
    assert_books_match_ledger(&rt);

    let w = rt.withdraw(alice, 4_000).unwrap();
    assert_eq!((w.amount, w.ledger_fee), (4_000, 10));
    assert_eq!(rt.ledger.borrow().balance(alice), 3_990);
    assert_eq!(available(alice), 6_000);
    assert_books_match_ledger(&rt);
}

#[test]
fn deposit_errors_credit_nothing() {
    let rt = setup();
    let bob = user(2);
    assert_eq!(
        rt.deposit(bob, 500),
        Err(DepositError::InsufficientAllowance { allowance: 0 })
    );
    assert_eq!(
        rt.deposit(bob, 99),
        Err(DepositError::AmountTooSmall { min: 100 })
    );
    assert_eq!(
        rt.deposit(candid::Principal::anonymous(), 500),
        Err(DepositError::AnonymousCaller)
    );
    rt.fund(bob, 1_000);
    rt.fault(Fault::Reject);
    assert!(matches!(
        rt.deposit(bob, 500),
        Err(DepositError::Ledger(LedgerError::CallFailed { .. }))
    ));
    assert_eq!(available(bob), 0);
    assert_eq!(
        read_state(|s| s.ledger_ops.len()),
        0,
        "a definite failure leaves no op"
    );
}

#[test]
fn deposit_with_lost_reply_is_credited_once_by_reconciliation() {
    let rt = setup();
    let alice = user(1);
    rt.fund(alice, 5_000);
    rt.fault(Fault::ExecuteThenUnknown);
    assert_eq!(
        rt.deposit(alice, 1_000),
        Err(DepositError::OutcomeUnknown { op_id: 0 })
    );
    assert_eq!(available(alice), 0);
    assert_eq!(
        rt.ledger.borrow().balance(ESCROW),
        1_000,
        "the ledger did move it"
    );
    let report = rt.reconcile();
    assert_eq!((report.retried, report.settled), (1, 1));
    assert_eq!(available(alice), 1_000);
    assert_eq!(rt.reconcile().retried, 0);
    assert_eq!(available(alice), 1_000);
    assert_books_match_ledger(&rt);
}

#[test]
fn deposit_that_never_arrived_is_executed_once_by_reconciliation() {
    let rt = setup();
    let alice = user(1);
    rt.fund(alice, 5_000);
    rt.fault(Fault::UnknownWithoutExecuting);
    rt.fault(Fault::Unavailable);
    assert!(rt.deposit(alice, 1_000).is_err());
    let first = rt.reconcile();
    assert_eq!(
        (first.retried, first.still_unknown),
        (1, 1),
        "transient answers are retried"
    );
    rt.reconcile();
    assert_eq!(available(alice), 1_000);
    assert_eq!(rt.ledger.borrow().balance(alice), 3_990);
    assert_books_match_ledger(&rt);
}

#[test]
fn withdrawal_with_lost_reply_is_neither_lost_nor_sent_twice() {
    let rt = setup();
    let alice = user(1);
    rt.fund(alice, 10_010);
    rt.deposit(alice, 10_000).unwrap();
    rt.fault(Fault::ExecuteThenUnknown);
    assert_eq!(
        rt.withdraw(alice, 2_000),
        Err(WithdrawError::OutcomeUnknown { op_id: 1 })
    );
    assert_eq!(
        available(alice),
        8_000,
        "debited before the call, kept debited"
    );
    assert_eq!(read_state(|s| s.totals().pending_payouts), 2_000);
    rt.reconcile();
    rt.reconcile();
    assert_eq!(rt.ledger.borrow().balance(alice), 1_990, "sent once");
    assert_eq!(available(alice), 8_000);
    assert_books_match_ledger(&rt);
}

#[test]
fn withdrawal_that_never_arrived_is_sent_once_by_reconciliation() {
    let rt = setup();
    let alice = user(1);
    rt.fund(alice, 10_010);
    rt.deposit(alice, 10_000).unwrap();
    rt.fault(Fault::UnknownWithoutExecuting);
    assert!(rt.withdraw(alice, 2_000).is_err());
    assert_eq!(rt.ledger.borrow().balance(alice), 0);
    rt.reconcile();
    rt.reconcile();
    assert_eq!(rt.ledger.borrow().balance(alice), 1_990);
    assert_books_match_ledger(&rt);
}

#[test]
fn definite_withdrawal_failures_restore_the_balance() {
    let rt = setup();
    let alice = user(1);
    rt.fund(alice, 10_010);
    rt.deposit(alice, 10_000).unwrap();
    rt.fault(Fault::Reject);
    assert!(matches!(
        rt.withdraw(alice, 2_000),
        Err(WithdrawError::Ledger(LedgerError::CallFailed { .. }))
    ));
    rt.fault(Fault::Unavailable);
    assert_eq!(
        rt.withdraw(alice, 2_000),
        Err(WithdrawError::Ledger(LedgerError::TemporarilyUnavailable))
    );
    rt.ledger.borrow_mut().fee = 20;
    assert_eq!(
        rt.withdraw(alice, 2_000),
        Err(WithdrawError::Ledger(LedgerError::BadFee {
            expected_fee: 20
        }))
    );
    assert_eq!(
        read_state(|s| s.config().ckbtc_fee),
        20,
        "the fee is refreshed"
    );
    assert_eq!(available(alice), 10_000);
    assert_eq!(
        rt.withdraw(alice, 20_000),
        Err(WithdrawError::InsufficientFunds { available: 10_000 })
    );
    rt.withdraw(alice, 2_000).unwrap();
    assert_eq!(rt.ledger.borrow().balance(alice), 1_980);
    assert_books_match_ledger(&rt);
}

#[test]
fn retry_that_cannot_decide_goes_to_review_and_a_controller_resolves_it() {
    let rt = setup();
    let alice = user(1);
    rt.fund(alice, 10_010);
    rt.deposit(alice, 10_000).unwrap();
    rt.fault(Fault::UnknownWithoutExecuting);
    rt.fault(Fault::TooOld);
    assert!(rt.withdraw(alice, 2_000).is_err());
    assert_eq!(rt.reconcile().needs_review, 1);
    assert_eq!(
        rt.reconcile().retried,
        0,
        "ops under review are not retried"
    );
    let op = read_state(|s| s.ledger_op(1)).unwrap();
    assert_eq!(op.status, LedgerOpStatus::NeedsReview);
    rt.as_caller(alice);
    assert_eq!(
        crate::ledger::resolve(&rt, 1, Resolution::NotExecuted),
        Err(ResolveError::NotController)
    );
    rt.as_caller(ADMIN);
    crate::ledger::resolve(&rt, 1, Resolution::NotExecuted).unwrap();
    assert_eq!(available(alice), 10_000);
    assert_eq!(
        crate::ledger::resolve(&rt, 1, Resolution::NotExecuted),
        Err(ResolveError::UnknownOp)
    );
    assert_books_match_ledger(&rt);
}

#[test]
fn reconciliation_after_an_upgrade_retries_ops_left_in_flight() {
    let memory = DefaultMemoryImpl::default();
    let rt = fresh(memory.clone());
    let alice = user(1);
    rt.fund(alice, 10_010);
    rt.deposit(alice, 10_000).unwrap();
    // The old code debited and recorded the op, then the upgrade came.
    let now = 1_700_000_000_000_000_000;
    mutate_state(|s| s.start_withdrawal(Source::Account(alice), account(alice), 3_000, 10, now))
        .unwrap();
    install_state(State::new(memory));
    assert_eq!(available(alice), 7_000);
    assert_eq!(rt.reconcile().settled, 1);
    assert_eq!(rt.ledger.borrow().balance(alice), 2_990);
    assert_books_match_ledger(&rt);
}

#[test]
fn one_deposit_or_withdrawal_per_principal_at_a_time() {
    let rt = setup();
    let alice = user(1);
    rt.fund(alice, 10_010);
    let busy = Guard::new(Task::Principal(alice)).unwrap();
    assert_eq!(
        rt.deposit(alice, 1_000),
        Err(DepositError::AlreadyProcessing)
    );
    assert_eq!(
        rt.withdraw(alice, 1_000),
        Err(WithdrawError::AlreadyProcessing)
    );
    drop(busy);
    rt.deposit(alice, 1_000).unwrap();
    assert!(read_state(|s| s.running.is_empty()), "released on drop");
}

/// alice deposits 10 000 and the router holds 6 000 of it for `job`.
fn held_job(rt: &FakeRuntime, job: &str) -> candid::Principal {
    let alice = user(1);
    rt.fund(alice, 10_010);
    rt.deposit(alice, 10_000).unwrap();
    api::hold(rt.as_caller(ROUTER), job.into(), alice, 6_000).unwrap();
    alice
}

#[test]
fn hold_is_idempotent_and_checks_funds() {
    let rt = setup();
    let alice = held_job(&rt, "job-1");
    let again = api::hold(rt.as_caller(ROUTER), "job-1".into(), alice, 6_000).unwrap();
    assert_eq!(again.amount, 6_000);
    assert_eq!(read_state(|s| s.balance(&alice)).held, 6_000, "held once");
    assert!(matches!(
        api::hold(&rt, "job-1".into(), alice, 5_000),
        Err(HoldError::JobExists { .. })
    ));
    assert_eq!(
        api::hold(&rt, "job-2".into(), alice, 5_000),
        Err(HoldError::InsufficientFunds { available: 4_000 })
    );
    assert!(matches!(
        api::hold(&rt, "bad id".into(), alice, 1),
        Err(HoldError::InvalidJobId { .. })
    ));
    assert_eq!(
        api::hold(&rt, "job-3".into(), alice, 0),
        Err(HoldError::AmountTooSmall { min: 1 })
    );
}

#[test]
fn release_pays_payees_fee_and_refunds_the_rest_once() {
    let rt = setup();
    let alice = held_job(&rt, "job-1");
    let (m1, m2) = (user(7), user(8));
    let payees = vec![(m1, 3_000), (m2, 1_000)];
    let settlement =
        api::release(rt.as_caller(ROUTER), "job-1".into(), payees.clone(), 500).unwrap();
    assert!(matches!(
        settlement,
        Settlement::Released {
            refunded: 1_500,
            ..
        }
    ));
    let again = api::release(&rt, "job-1".into(), payees.clone(), 500).unwrap();
    assert_eq!(again, settlement, "a repeat returns the same result");
    assert_eq!(available(m1), 3_000);
    assert_eq!(available(m2), 1_000);
    assert_eq!(available(alice), 5_500);
    assert_eq!(read_state(|s| s.totals().treasury), 500);
    assert!(matches!(
        api::release(&rt, "job-1".into(), payees, 400),
        Err(ReleaseError::AlreadySettled { .. })
    ));
    assert!(matches!(
        api::refund(&rt, "job-1".into()),
        Err(RefundError::AlreadySettled { .. })
    ));
    assert_eq!(
        api::refund(&rt, "job-9".into()),
        Err(RefundError::UnknownJob)
    );
    assert_eq!(
        api::release(&rt, "job-9".into(), vec![], 0),
        Err(ReleaseError::UnknownJob)
    );
}

#[test]
fn release_cannot_exceed_the_hold() {
    let rt = setup();
    held_job(&rt, "job-1");
    assert_eq!(
        api::release(
            rt.as_caller(ROUTER),
            "job-1".into(),
            vec![(user(7), 6_000)],
            1
        ),
        Err(ReleaseError::ExceedsHold { held: 6_000 })
    );
    assert_eq!(
        api::release(
            &rt,
            "job-1".into(),
            vec![(user(7), u64::MAX), (user(8), 2)],
            0
        ),
        Err(ReleaseError::ExceedsHold { held: 6_000 }),
        "an overflowing sum is refused, not wrapped"
    );
    assert_eq!(read_state(|s| s.balance(&user(1))).held, 6_000);
}

#[test]
fn refund_is_idempotent() {
    let rt = setup();
    let alice = held_job(&rt, "job-1");
    let first = api::refund(rt.as_caller(ROUTER), "job-1".into()).unwrap();
    assert_eq!(api::refund(&rt, "job-1".into()).unwrap(), first);
    assert_eq!(available(alice), 10_000);
    assert!(matches!(
        api::release(&rt, "job-1".into(), vec![], 0),
        Err(ReleaseError::AlreadySettled { .. })
    ));
    assert!(matches!(
        api::hold(&rt, "job-1".into(), alice, 6_000),
        Err(HoldError::AlreadySettled { .. })
    ));
}

#[test]
fn only_the_router_holds_releases_refunds_and_slashes() {
    let rt = setup();
    let alice = held_job(&rt, "job-1");
    for caller in [alice, ADMIN, candid::Principal::anonymous()] {
        rt.as_caller(caller);
        assert_eq!(
            api::hold(&rt, "job-2".into(), alice, 1),
            Err(HoldError::NotRouter)
        );
        assert_eq!(
            api::release(&rt, "job-1".into(), vec![(caller, 6_000)], 0),
            Err(ReleaseError::NotRouter)
        );
        assert_eq!(
            api::refund(&rt, "job-1".into()),
            Err(RefundError::NotRouter)
        );
        assert_eq!(
            api::slash(&rt, alice, 1, caller, "job-1".into()),
            Err(SlashError::NotRouter)
        );
    }
    assert_eq!(read_state(|s| s.balance(&alice)).held, 6_000);
}

#[test]
fn bonds_unbond_after_the_delay_and_slashes_reach_unbonding_funds() {
    let rt = setup();
    let (miner, dev) = (user(3), user(4));
    rt.fund(miner, 5_010);
    rt.deposit(miner, 5_000).unwrap();
    rt.as_caller(miner);
    api::bond(&rt, 4_000).unwrap();
    assert_eq!(
        api::bond(&rt, 4_000),
        Err(BondError::InsufficientFunds { available: 1_000 })
    );
    let b = api::unbond(&rt, 3_000).unwrap();
    assert_eq!((b.bonded, b.unbonding), (1_000, 3_000));
    assert!(matches!(
        api::claim_unbonded(&rt),
        Err(BondError::NotReady { .. })
    ));
    let slash = api::slash(rt.as_caller(ROUTER), miner, 2_500, dev, "job-5".into()).unwrap();
    assert_eq!((slash.from_bonded, slash.from_unbonding), (1_000, 1_500));
    assert_eq!(
        api::slash(&rt, miner, 2_500, dev, "job-5".into()).unwrap(),
        slash
    );
    assert!(matches!(
        api::slash(&rt, miner, 100, dev, "job-5".into()),
        Err(SlashError::AlreadySlashed { .. })
    ));
    assert_eq!(available(dev), 2_500);
    rt.advance_secs(61);
    let b = api::claim_unbonded(rt.as_caller(miner)).unwrap();
    assert_eq!((b.available, b.bonded, b.unbonding), (2_500, 0, 0));
    assert_eq!(api::claim_unbonded(&rt), Err(BondError::NothingToClaim));
    assert_eq!(
        api::unbond(&rt, 1),
        Err(BondError::InsufficientBond { bonded: 0 })
    );
}

#[test]
fn read_only_refuses_new_movements() {
    let rt = setup();
    let alice = held_job(&rt, "job-1");
    crate::lifecycle::set_config(
        rt.as_caller(ADMIN),
        ConfigUpdate {
            read_only: Some(true),
            ..ConfigUpdate::default()
        },
    )
    .unwrap();
    assert_eq!(rt.deposit(alice, 1_000), Err(DepositError::ReadOnly));
    assert_eq!(rt.withdraw(alice, 1_000), Err(WithdrawError::ReadOnly));
    assert_eq!(
        api::bond(rt.as_caller(alice), 100),
        Err(BondError::ReadOnly)
    );
    assert_eq!(
        api::refund(rt.as_caller(ROUTER), "job-1".into()),
        Err(RefundError::ReadOnly)
    );
    assert_eq!(
        crate::lifecycle::set_config(rt.as_caller(alice), ConfigUpdate::default()),
        Err(ConfigError::NotController)
    );
}

#[test]
fn treasury_goes_to_the_fee_account_by_controllers_only() {
    let rt = setup();
    held_job(&rt, "job-1");
    api::release(rt.as_caller(ROUTER), "job-1".into(), vec![], 1_000).unwrap();
    rt.as_caller(user(1));
    assert_eq!(
        futures::executor::block_on(crate::ledger::withdraw_treasury(&rt, 500)),
        Err(WithdrawError::NotController)
    );
    rt.as_caller(ADMIN);
    futures::executor::block_on(crate::ledger::withdraw_treasury(&rt, 600)).unwrap();
    assert_eq!(rt.ledger.borrow().balance(ADMIN), 590);
    assert_eq!(read_state(|s| s.totals().treasury), 400);
    assert_books_match_ledger(&rt);
}

#[test]
fn upgrade_keeps_every_balance_and_the_log_replays_to_them() {
    let memory = DefaultMemoryImpl::default();
    let rt = fresh(memory.clone());
    let alice = held_job(&rt, "job-1");
    api::release(
        rt.as_caller(ROUTER),
        "job-1".into(),
        vec![(user(7), 2_000)],
        100,
    )
    .unwrap();
    rt.as_caller(user(7));
    api::bond(&rt, 1_500).unwrap();
    api::unbond(&rt, 500).unwrap();
    let before = snapshot();
    install_state(State::new(memory));
    assert_eq!(snapshot(), before);
    assert_eq!(
        api::release(
            rt.as_caller(ROUTER),
            "job-1".into(),
            vec![(user(7), 2_000)],
            100
        )
        .map(|_| ()),
        Ok(()),
        "idempotency survives the upgrade"
    );
    assert_eq!(available(alice), 7_900);
}

/// Balances, totals and holds, with the balances rebuilt from the event log.
pub fn snapshot() -> (Vec<(candid::Principal, Balance)>, Totals, Vec<Hold>) {
    read_state(|s| {
        let accounts: Vec<_> = s.accounts.iter().map(|e| (*e.key(), e.value().0)).collect();
        let events: Vec<_> = s.events.iter().map(|e| e.0).collect();
        let replayed = replay(&events);
        assert_eq!(replayed.accounts.into_iter().collect::<Vec<_>>(), accounts);
        let t = s.totals();
        assert_eq!(
            (
                replayed.treasury,
                replayed.pending_payouts,
                replayed.deposits,
                replayed.withdrawals
            ),
            (t.treasury, t.pending_payouts, t.deposits, t.withdrawals)
        );
        let holds = s.holds.iter().map(|e| e.value().0).collect();
        (accounts, t, holds)
    })
}

#[test]
fn metrics_and_logs_are_served() {
    let rt = setup();
    held_job(&rt, "job-1");
    let get = |url: &str| {
        crate::metrics::http_request(crate::metrics::HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: vec![],
            body: Default::default(),
        })
    };
    let metrics = String::from_utf8(get("/metrics").body.into_vec()).unwrap();
    assert!(metrics.contains("escrow_held_sats 6000"), "{metrics}");
    assert!(metrics.contains("escrow_invariant_ok 1"));
    let logs = String::from_utf8(get("/logs?limit=1").body.into_vec()).unwrap();
    assert_eq!(logs.lines().count(), 1);
    assert!(logs.contains("Held"));
    assert_eq!(get("/nope").status_code, 404);
}
