//! ICRC-2: approvals, allowances, transfer_from, and subaccounts.

use super::*;

#[test]
fn approve_sets_allowance_and_charges_the_fee() {
    let mut state = ledger(&[(account(1), 1_000)]);
    let index = icrc2_approve(&mut state, principal(1), approve_arg(account(2), 500), T0).unwrap();
    assert_eq!(
        allowance_of(&state, account(1), account(2), T0),
        (500, None)
    );
    assert_eq!(state.balance(&account(1)), 1_000 - FEE);
    assert_eq!(state.tip.get().total_supply, 1_000 - FEE);
    let block = blocks::block(&state, index).unwrap();
    assert_eq!(field(&block, "fee"), Some(&nat(FEE)));
    let tx = field(&block, "tx").unwrap();
    assert_eq!(field(tx, "op"), Some(&ICRC3Value::Text("approve".into())));
    // A new approval replaces the old one.
    icrc2_approve(&mut state, principal(1), approve_arg(account(2), 7), T0).unwrap();
    assert_eq!(allowance_of(&state, account(1), account(2), T0), (7, None));
    icrc2_approve(&mut state, principal(1), approve_arg(account(2), 0), T0).unwrap();
    assert_eq!(state.allowances.len(), 0, "a zero allowance is not kept");
}

#[test]
fn approve_errors() {
    let mut state = ledger(&[(account(1), 1_000), (account(3), 5)]);
    let approve =
        |s: &mut State, who: u8, arg: ApproveArgs| icrc2_approve(s, principal(who), arg, T0);
    let bad_fee = ApproveArgs {
        fee: Some(Nat::from(1u8)),
        ..approve_arg(account(2), 5)
    };
    assert_eq!(
        approve(&mut state, 1, bad_fee),
        Err(TxError::BadFee { expected_fee: FEE })
    );
    assert_eq!(
        approve(&mut state, 3, approve_arg(account(2), 5)),
        Err(TxError::InsufficientFunds { balance: 5 })
    );
    let expired = ApproveArgs {
        expires_at: Some(T0),
        ..approve_arg(account(2), 5)
    };
    assert_eq!(
        approve(&mut state, 1, expired),
        Err(TxError::Expired { ledger_time: T0 })
    );
    let expect = |n: u64| ApproveArgs {
        expected_allowance: Some(Nat::from(n)),
        ..approve_arg(account(2), 9)
    };
    assert_eq!(
        approve(&mut state, 1, expect(1)),
        Err(TxError::AllowanceChanged {
            current_allowance: 0
        })
    );
    approve(&mut state, 1, expect(0)).unwrap();
    assert_eq!(
        approve(&mut state, 1, expect(0)),
        Err(TxError::AllowanceChanged {
            current_allowance: 9
        })
    );
    approve(&mut state, 1, expect(9)).unwrap();
    let self_approval = ApproveArgs {
        spender: Account {
            owner: principal(1),
            subaccount: Some([1; 32]),
        },
        ..approve_arg(account(2), 5)
    };
    assert!(matches!(
        approve(&mut state, 1, self_approval),
        Err(TxError::Refused(_))
    ));
    assert!(matches!(
        icrc2_approve(&mut state, minter().owner, approve_arg(account(2), 5), T0),
        Err(TxError::Refused(_))
    ));
    assert_eq!(
        state.balance(&account(1)),
        1_000 - 2 * FEE,
        "only the two approvals were charged"
    );
}

#[test]
fn transfer_from_consumes_amount_plus_fee() {
    let mut state = ledger(&[(account(1), 1_000)]);
    icrc2_approve(&mut state, principal(1), approve_arg(account(2), 200), T0).unwrap();
    let spend = |s: &mut State, amount: u64| {
        icrc2_transfer_from(
            s,
            principal(2),
            transfer_from_arg(account(1), account(3), amount),
            T0,
        )
    };
    assert_eq!(
        spend(&mut state, 191),
        Err(TxError::InsufficientAllowance { allowance: 200 })
    );
    let index = spend(&mut state, 100).unwrap();
    assert_eq!(
        allowance_of(&state, account(1), account(2), T0),
        (200 - 100 - FEE, None)
    );
    assert_eq!(state.balance(&account(3)), 100);
    assert_eq!(state.balance(&account(1)), 1_000 - FEE - 100 - FEE);
    let tx = field(&blocks::block(&state, index).unwrap(), "tx")
        .cloned()
        .unwrap();
    assert_eq!(field(&tx, "op"), Some(&ICRC3Value::Text("xfer".into())));
    assert!(field(&tx, "spender").is_some());
    spend(&mut state, 80).unwrap();
    assert_eq!(state.allowances.len(), 0, "a used-up allowance is removed");
    assert_eq!(
        spend(&mut state, 1),
        Err(TxError::InsufficientAllowance { allowance: 0 })
    );
}

#[test]
fn transfer_from_checks_allowance_before_balance() {
    let mut state = ledger(&[(account(1), 50)]);
    icrc2_approve(&mut state, principal(1), approve_arg(account(2), 1_000), T0).unwrap();
    let arg = transfer_from_arg(account(1), account(3), 100);
    assert_eq!(
        icrc2_transfer_from(&mut state, principal(2), arg, T0),
        Err(TxError::InsufficientFunds { balance: 40 })
    );
    let too_much = transfer_from_arg(account(1), account(3), 2_000);
    assert_eq!(
        icrc2_transfer_from(&mut state, principal(2), too_much, T0),
        Err(TxError::InsufficientAllowance { allowance: 1_000 })
    );
}

#[test]
fn expired_allowances_count_as_zero() {
    let mut state = ledger(&[(account(1), 1_000)]);
    let arg = ApproveArgs {
        expires_at: Some(T0 + SECOND),
        ..approve_arg(account(2), 500)
    };
    icrc2_approve(&mut state, principal(1), arg, T0).unwrap();
    assert_eq!(
        allowance_of(&state, account(1), account(2), T0),
        (500, Some(T0 + SECOND))
    );
    assert_eq!(
        allowance_of(&state, account(1), account(2), T0 + SECOND),
        (0, None)
    );
    let spend = transfer_from_arg(account(1), account(3), 1);
    assert_eq!(
        icrc2_transfer_from(&mut state, principal(2), spend, T0 + SECOND),
        Err(TxError::InsufficientAllowance { allowance: 0 })
    );
}

#[test]
fn transfer_from_to_the_minting_account_burns_without_fee() {
    let mut state = ledger(&[(account(1), 1_000)]);
    icrc2_approve(&mut state, principal(1), approve_arg(account(2), 100), T0).unwrap();
    let burn = transfer_from_arg(account(1), minter(), 60);
    icrc2_transfer_from(&mut state, principal(2), burn, T0).unwrap();
    assert_eq!(allowance_of(&state, account(1), account(2), T0).0, 40);
    assert_eq!(state.tip.get().total_supply, 1_000 - FEE - 60);
    let mint = transfer_from_arg(minter(), account(3), 1);
    assert!(matches!(
        icrc2_transfer_from(&mut state, principal(2), mint, T0),
        Err(TxError::Refused(_))
    ));
}

#[test]
fn transfer_from_own_account_needs_no_allowance() {
    let mut state = ledger(&[(account(1), 100)]);
    let own = transfer_from_arg(account(1), account(3), 10);
    icrc2_transfer_from(&mut state, principal(1), own, T0).unwrap();
    assert_eq!(state.balance(&account(1)), 100 - 10 - FEE);
}

#[test]
fn subaccounts_are_separate_and_none_is_the_zero_subaccount() {
    let mut state = ledger(&[(account(1), 100)]);
    let sub = Account {
        owner: principal(2),
        subaccount: Some([9; 32]),
    };
    send(&mut state, 1, transfer_arg(sub, 30), T0).unwrap();
    assert_eq!(state.balance(&sub), 30);
    assert_eq!(state.balance(&account(2)), 0);
    let zero = Account {
        owner: principal(1),
        subaccount: Some([0; 32]),
    };
    assert_eq!(state.balance(&zero), 100 - 30 - FEE);
}
