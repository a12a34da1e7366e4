//! The escrow canister on localnet with the real ICRC ledger Wasm (local
//! ckBTC): a developer deposits by ICRC-2, the router holds and releases,
//! the miner withdraws by ICRC-1; every satoshi is accounted for on both
//! sides, bad callers get typed errors, and an upgrade keeps the books.

use candid::{Nat, Principal};
use localnet::LocalNet;
use tensormine_integration_tests::escrow::*;
use tensormine_integration_tests::ledger::{self, Ledger, CKBTC_FEE};
use tensormine_integration_tests::{controller, encode};

const FUNDS: u64 = 1_000_000;

fn router() -> Principal {
    Principal::from_slice(&[0x70, 0x07, 0xE5])
}

struct Market {
    net: LocalNet,
    ledger: Principal,
    escrow: Principal,
}

fn market() -> Market {
    let mut net = LocalNet::new();
    let developer = ledger::user(1);
    let ledger_id = ledger::install_ledger(
        &mut net,
        ledger::ckbtc_init(vec![(developer, Nat::from(FUNDS))]),
    );
    let escrow = install_escrow(
        &mut net,
        ConfigUpdate {
            router: Some(Some(router())),
            ckbtc_ledger: Some(Some(ledger_id)),
            ckbtc_fee: Some(CKBTC_FEE),
            ..Default::default()
        },
    );
    Market {
        net,
        ledger: ledger_id,
        escrow,
    }
}

impl Market {
    fn ledger(&mut self) -> Ledger<'_> {
        Ledger {
            net: &mut self.net,
            id: self.ledger,
        }
    }

    fn ledger_balance(&mut self, owner: Principal) -> u64 {
        let account = ledger::Account {
            owner,
            subaccount: None,
        };
        u64::try_from(self.ledger().balance(account).0).unwrap()
    }

    fn balance(&mut self, owner: Principal) -> Balance {
        let (b,): (Balance,) = self
            .net
            .query_candid(self.escrow, owner, "get_balance", (owner,))
            .unwrap();
        b
    }

    fn invariants_hold(&mut self) {
        let (r,): (Result<(), String>,) = self
            .net
            .query_candid(self.escrow, controller(), "check_invariants", ())
            .unwrap();
        r.expect("conservation invariant");
    }

    fn deposit(&mut self, who: Principal, amount: u64) -> Result<DepositReceipt, OtherError> {
        let escrow = ledger::Account {
            owner: self.escrow,
            subaccount: None,
        };
        self.ledger()
            .approve(who, ledger::approve_arg(escrow, amount + CKBTC_FEE))
            .expect("approve");
        let (r,): (Result<DepositReceipt, OtherError>,) = self
            .net
            .update_candid(self.escrow, who, "deposit_ckbtc", (amount,))
            .unwrap();
        r
    }
}

#[test]
fn deposit_hold_release_withdraw_moves_every_satoshi_once() {
    let mut m = market();
    let developer = ledger::user(1).owner;
    let miner = Principal::from_slice(&[0x3A, 0x1E, 0x09]);

    let receipt = m.deposit(developer, 500_000).unwrap();
    assert_eq!(receipt.amount, 500_000);
    assert_eq!(m.balance(developer).available, 500_000);
    // The depositor pays the ledger fee on top; the escrow holds exactly the deposit.
    assert_eq!(
        m.ledger_balance(developer),
        FUNDS - 500_000 - CKBTC_FEE - CKBTC_FEE
    );
    assert_eq!(m.ledger_balance(m.escrow), 500_000);

    let (held,): (Result<Hold, HoldError>,) = m
        .net
        .update_candid(
            m.escrow,
            router(),
            "hold",
            ("job-1".to_string(), developer, 200_000u64),
        )
        .unwrap();
    assert_eq!(held.unwrap().amount, 200_000);
    let release = ("job-1".to_string(), vec![(miner, 150_000u64)], 5_000u64);
    let (settled,): (Result<Settlement, ReleaseError>,) = m
        .net
        .update_candid(m.escrow, router(), "release", release.clone())
        .unwrap();
    let Settlement::Released { refunded, .. } = settled.clone().unwrap() else {
        panic!("expected Released, got {settled:?}");
    };
    assert_eq!(refunded, 45_000);
    // Idempotent: the same release again returns the same settlement and moves nothing.
    let (again,): (Result<Settlement, ReleaseError>,) = m
        .net
        .update_candid(m.escrow, router(), "release", release)
        .unwrap();
    assert_eq!(again, settled);
    assert_eq!(m.balance(developer).available, 345_000);
    assert_eq!(m.balance(miner).available, 150_000);
    m.invariants_hold();

    let to = ledger::Account {
        owner: miner,
        subaccount: None,
    };
    let (w,): (Result<WithdrawalReceipt, OtherError>,) = m
        .net
        .update_candid(m.escrow, miner, "withdraw_ckbtc", (100_000u64, to))
        .unwrap();
    let w = w.unwrap();
    assert_eq!((w.amount, w.ledger_fee), (100_000, CKBTC_FEE));
    assert_eq!(m.ledger_balance(miner), 100_000 - CKBTC_FEE);
    assert_eq!(m.balance(miner).available, 50_000);
    // On the ledger the escrow holds deposits − withdrawals; in its books the same.
    assert_eq!(m.ledger_balance(m.escrow), 400_000);
    let (t,): (Totals,) = m
        .net
        .query_candid(m.escrow, controller(), "totals", ())
        .unwrap();
    assert_eq!(t.deposits - t.withdrawals, 400_000);
    m.invariants_hold();
}

#[test]
fn only_the_router_settles_and_bad_amounts_are_typed_errors() {
    let mut m = market();
    let developer = ledger::user(1).owner;
    m.deposit(developer, 10_000).unwrap();
    let (r,): (Result<Hold, HoldError>,) = m
        .net
        .update_candid(
            m.escrow,
            developer,
            "hold",
            ("job-2".to_string(), developer, 1_000u64),
        )
        .unwrap();
    assert_eq!(r.unwrap_err(), HoldError::NotRouter);
    let (r,): (Result<Hold, HoldError>,) = m
        .net
        .update_candid(
            m.escrow,
            router(),
            "hold",
            ("job-2".to_string(), developer, 20_000u64),
        )
        .unwrap();
    assert!(
        matches!(r, Err(HoldError::InsufficientFunds { .. })),
        "{r:?}"
    );
    let (r,): (Result<Settlement, RefundError>,) = m
        .net
        .update_candid(m.escrow, router(), "refund", ("no-such-job".to_string(),))
        .unwrap();
    assert_eq!(r.unwrap_err(), RefundError::UnknownJob);
    // A deposit larger than the allowance is refused by the ledger, and nothing is credited.
    let (r,): (Result<DepositReceipt, OtherError>,) = m
        .net
        .update_candid(m.escrow, developer, "deposit_ckbtc", (50_000u64,))
        .unwrap();
    assert!(r.is_err(), "{r:?}");
    assert_eq!(m.balance(developer).available, 10_000);
    m.invariants_hold();
}

#[test]
fn an_upgrade_keeps_balances_and_holds() {
    let mut m = market();
    let developer = ledger::user(1).owner;
    m.deposit(developer, 30_000).unwrap();
    let (r,): (Result<Hold, HoldError>,) = m
        .net
        .update_candid(
            m.escrow,
            router(),
            "hold",
            ("job-3".to_string(), developer, 12_000u64),
        )
        .unwrap();
    r.unwrap();
    let before = m.balance(developer);
    m.net
        .upgrade_canister(m.escrow, escrow_wasm(), encode((None::<EscrowArg>,)))
        .expect("upgrade");
    assert_eq!(m.balance(developer), before);
    let (r,): (Result<Settlement, RefundError>,) = m
        .net
        .update_candid(m.escrow, router(), "refund", ("job-3".to_string(),))
        .unwrap();
    r.unwrap();
    assert_eq!(m.balance(developer).available, 30_000);
    m.invariants_hold();
}

#[test]
fn authorization_matrix_over_the_router_and_controller_endpoints() {
    let mut m = market();
    let developer = ledger::user(1).owner;
    m.deposit(developer, 10_000).unwrap();
    let job = || "job-auth".to_string();
    for caller in [developer, Principal::anonymous(), controller()] {
        let (r,): (Result<Hold, HoldError>,) = m
            .net
            .update_candid(m.escrow, caller, "hold", (job(), developer, 1_000u64))
            .unwrap();
        assert!(
            matches!(r, Err(HoldError::NotRouter | HoldError::AnonymousCaller)),
            "{caller}: {r:?}"
        );
        let (r,): (Result<Settlement, ReleaseError>,) = m
            .net
            .update_candid(
                m.escrow,
                caller,
                "release",
                (job(), Vec::<(Principal, u64)>::new(), 0u64),
            )
            .unwrap();
        assert!(
            matches!(
                r,
                Err(ReleaseError::NotRouter | ReleaseError::AnonymousCaller)
            ),
            "{caller}: {r:?}"
        );
        let (r,): (Result<Settlement, RefundError>,) = m
            .net
            .update_candid(m.escrow, caller, "refund", (job(),))
            .unwrap();
        assert_eq!(r, Err(RefundError::NotRouter), "{caller}");
        let (r,): (Result<OtherError, OtherError>,) = m
            .net
            .update_candid(m.escrow, caller, "slash", (developer, 1u64, caller, job()))
            .unwrap();
        assert!(r.is_err(), "{caller} slashed");
    }
    for caller in [developer, router(), Principal::anonymous()] {
        let (r,): (Result<OtherError, OtherError>,) = m
            .net
            .update_candid(m.escrow, caller, "set_config", (ConfigUpdate::default(),))
            .unwrap();
        assert!(r.is_err(), "{caller} changed the configuration");
        let (r,): (Result<OtherError, OtherError>,) = m
            .net
            .update_candid(m.escrow, caller, "withdraw_treasury", (1u64,))
            .unwrap();
        assert!(r.is_err(), "{caller} withdrew the treasury");
    }
    assert_eq!(m.balance(developer).available, 10_000);
    m.invariants_hold();
}

#[test]
fn instructions_and_cycles_per_hold_and_release() {
    let mut m = market();
    let developer = ledger::user(1).owner;
    let miner = Principal::from_slice(&[0x3A, 0x1E, 0x0A]);
    m.deposit(developer, 100_000).unwrap();
    let before = m.net.cycle_balance(m.escrow);
    let (r,): (Result<Hold, HoldError>,) = m
        .net
        .update_candid(
            m.escrow,
            router(),
            "hold",
            ("job-cost".to_string(), developer, 50_000u64),
        )
        .unwrap();
    r.unwrap();
    let after_hold = m.net.cycle_balance(m.escrow);
    let (r,): (Result<Settlement, ReleaseError>,) = m
        .net
        .update_candid(
            m.escrow,
            router(),
            "release",
            ("job-cost".to_string(), vec![(miner, 40_000u64)], 2_000u64),
        )
        .unwrap();
    r.unwrap();
    let after_release = m.net.cycle_balance(m.escrow);
    let hold = m
        .net
        .last_message(m.escrow, "update hold")
        .unwrap()
        .instructions;
    let release = m
        .net
        .last_message(m.escrow, "update release")
        .unwrap()
        .instructions;
    println!(
        "hold: {hold} instructions, {} cycles; release: {release} instructions, {} cycles (incl. ingress induction)",
        before - after_hold,
        after_hold - after_release
    );
    assert!(hold > 0 && release > 0 && hold < 50_000_000 && release < 50_000_000);
}
