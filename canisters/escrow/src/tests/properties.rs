//! Random sequences of every operation — deposits and withdrawals with lost
//! replies, holds, releases, refunds, bonds, slashes, upgrades — through the
//! real endpoints on the fake ledger. `mutate_state` checks the conservation
//! invariant after every change (a violation panics); at the end the books
//! must match the ledger and the event log must replay to the balances.

use super::fake::*;
use super::money::snapshot;
use crate::api;
use crate::state::{install_state, read_state, State};
use candid::Principal;
use ic_stable_structures::DefaultMemoryImpl;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Deposit {
        who: u8,
        amount: u64,
        fault: Option<Fault>,
    },
    Withdraw {
        who: u8,
        amount: u64,
        fault: Option<Fault>,
    },
    Hold {
        job: u8,
        payer: u8,
        amount: u64,
    },
    Release {
        job: u8,
        payees: Vec<(u8, u64)>,
        fee: u64,
    },
    Refund {
        job: u8,
    },
    Bond {
        who: u8,
        amount: u64,
    },
    Unbond {
        who: u8,
        amount: u64,
    },
    Claim {
        who: u8,
        wait_secs: u64,
    },
    Slash {
        miner: u8,
        amount: u64,
        beneficiary: u8,
        job: u8,
    },
    Reconcile,
    Upgrade,
}

fn fault() -> impl Strategy<Value = Option<Fault>> {
    prop_oneof![
        6 => Just(None),
        1 => Just(Some(Fault::ExecuteThenUnknown)),
        1 => Just(Some(Fault::UnknownWithoutExecuting)),
        1 => Just(Some(Fault::Reject)),
        1 => Just(Some(Fault::Unavailable)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0u8..4;
    let amount = 0u64..6_000;
    prop_oneof![
        3 => (who.clone(), amount.clone(), fault()).prop_map(|(who, amount, fault)| Op::Deposit { who, amount, fault }),
        2 => (who.clone(), amount.clone(), fault()).prop_map(|(who, amount, fault)| Op::Withdraw { who, amount, fault }),
        3 => (0u8..6, who.clone(), amount.clone()).prop_map(|(job, payer, amount)| Op::Hold { job, payer, amount }),
        2 => (0u8..6, prop::collection::vec((who.clone(), 0u64..3_000), 0..3), 0u64..500)
            .prop_map(|(job, payees, fee)| Op::Release { job, payees, fee }),
        1 => (0u8..6).prop_map(|job| Op::Refund { job }),
        1 => (who.clone(), amount.clone()).prop_map(|(who, amount)| Op::Bond { who, amount }),
        1 => (who.clone(), amount.clone()).prop_map(|(who, amount)| Op::Unbond { who, amount }),
        1 => (who.clone(), 0u64..120).prop_map(|(who, wait_secs)| Op::Claim { who, wait_secs }),
        1 => (who.clone(), amount, who, 0u8..6)
            .prop_map(|(miner, amount, beneficiary, job)| Op::Slash { miner, amount, beneficiary, job }),
        1 => Just(Op::Reconcile),
        1 => Just(Op::Upgrade),
    ]
}

fn job(j: u8) -> String {
    format!("job-{j}")
}

/// Runs `op`; errors are expected outcomes (insufficient funds, settled jobs…).
fn run(rt: &FakeRuntime, memory: &DefaultMemoryImpl, op: Op) {
    match op {
        Op::Deposit { who, amount, fault } => {
            rt.fund(user(who), amount + 10);
            fault.into_iter().for_each(|f| rt.fault(f));
            let _ = rt.deposit(user(who), amount);
        }
        Op::Withdraw { who, amount, fault } => {
            fault.into_iter().for_each(|f| rt.fault(f));
            let _ = rt.withdraw(user(who), amount);
        }
        Op::Hold {
            job: j,
            payer,
            amount,
        } => {
            let _ = api::hold(rt.as_caller(ROUTER), job(j), user(payer), amount);
        }
        Op::Release {
            job: j,
            payees,
            fee,
        } => {
            let payees = payees.into_iter().map(|(p, a)| (user(p), a)).collect();
            let _ = api::release(rt.as_caller(ROUTER), job(j), payees, fee);
        }
        Op::Refund { job: j } => {
            let _ = api::refund(rt.as_caller(ROUTER), job(j));
        }
        Op::Bond { who, amount } => {
            let _ = api::bond(rt.as_caller(user(who)), amount);
        }
        Op::Unbond { who, amount } => {
            let _ = api::unbond(rt.as_caller(user(who)), amount);
        }
        Op::Claim { who, wait_secs } => {
            rt.advance_secs(wait_secs);
            let _ = api::claim_unbonded(rt.as_caller(user(who)));
        }
        Op::Slash {
            miner,
            amount,
            beneficiary,
            job: j,
        } => {
            let _ = api::slash(
                rt.as_caller(ROUTER),
                user(miner),
                amount,
                user(beneficiary),
                job(j),
            );
        }
        Op::Reconcile => {
            rt.reconcile();
        }
        Op::Upgrade => {
            let before = snapshot();
            install_state(State::new(memory.clone()));
            assert_eq!(snapshot(), before, "an upgrade changed the books");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn money_is_conserved_under_random_operations(ops in prop::collection::vec(op(), 1..60)) {
        let memory = DefaultMemoryImpl::default();
        let rt = fresh(memory.clone());
        for op in ops {
            run(&rt, &memory, op);
            read_state(|s| s.check_invariants()).map_err(TestCaseError::fail)?;
        }
        // Faults are over: reconciliation settles every unfinished call.
        rt.ledger.borrow_mut().faults.clear();
        rt.reconcile();
        let t = read_state(|s| s.totals());
        prop_assert_eq!(t.ledger_ops, 0);
        prop_assert_eq!(t.pending_payouts, 0);
        prop_assert_eq!(rt.ledger.borrow().balance(ESCROW), t.deposits - t.withdrawals);
        let inside = t.available + t.held + t.bonded + t.treasury;
        prop_assert_eq!(inside, t.deposits - t.withdrawals);
        snapshot();
    }
}

#[test]
fn the_check_notices_corrupted_books() {
    use crate::state::Cbor;
    let rt = setup();
    let p: Principal = user(1);
    rt.fund(p, 3_010);
    rt.deposit(p, 3_000).unwrap();
    api::hold(rt.as_caller(ROUTER), job(1), p, 1_000).unwrap();
    crate::state::mutate_state(|s| {
        let honest = s.balance(&p);
        // Held funds without a hold behind them.
        let mut moved = honest.clone();
        moved.held -= 1;
        moved.available += 1;
        s.accounts.insert(p, Cbor(moved));
        assert!(s.check_invariants().unwrap_err().contains("held"));
        // A satoshi from nowhere, with totals that agree with the accounts:
        // only conservation can tell.
        let mut minted = honest.clone();
        minted.available += 1;
        s.accounts.insert(p, Cbor(minted));
        let mut counters = s.counters.get().0.clone();
        counters.totals.available += 1;
        s.counters.set(Cbor(counters.clone()));
        assert!(s.check_invariants().unwrap_err().contains("conservation"));
        counters.totals.available -= 1;
        s.counters.set(Cbor(counters));
        s.accounts.insert(p, Cbor(honest));
    });
}
