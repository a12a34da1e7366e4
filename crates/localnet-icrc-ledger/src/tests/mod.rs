//! Native tests of the ledger logic (on in-memory stable structures) and of
//! the Candid interface against `ledger.did`.

use crate::approve::{icrc2_allowance, icrc2_approve};
use crate::blocks::{self, hash_value};
use crate::ledger::{PERMITTED_DRIFT_NANOS, TRANSACTION_WINDOW_NANOS};
use crate::lifecycle;
use crate::memory;
use crate::state::{AccountKey, AllowanceRecord, State, Tip};
use crate::transaction::{TxError, ERROR_CODE_SUPPLY_OVERFLOW};
use crate::transfer::{icrc1_transfer, icrc2_transfer_from};
use crate::types::{InitArgs, LedgerArg, UpgradeArgs};
use candid::{Nat, Principal};
use ic_stable_structures::Storable;
use icrc_ledger_types::icrc::generic_value::ICRC3Value;
use icrc_ledger_types::icrc1::account::Account;
use icrc_ledger_types::icrc1::transfer::{Memo, TransferArg, TransferError};
use icrc_ledger_types::icrc2::allowance::AllowanceArgs;
use icrc_ledger_types::icrc2::approve::ApproveArgs;
use icrc_ledger_types::icrc2::transfer_from::TransferFromArgs;
use icrc_ledger_types::icrc3::blocks::GetBlocksRequest;
use serde_bytes::ByteBuf;

const FEE: u64 = 10;
const T0: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;

fn principal(i: u8) -> Principal {
    Principal::from_slice(&[0xAB, i])
}

fn account(i: u8) -> Account {
    Account::from(principal(i))
}

fn minter() -> Account {
    Account::from(Principal::from_slice(&[0x4D]))
}

fn init_args(balances: &[(Account, u64)]) -> InitArgs {
    InitArgs {
        minting_account: minter(),
        transfer_fee: Nat::from(FEE),
        token_symbol: "ckBTC".into(),
        token_name: "ckBTC".into(),
        decimals: None,
        max_memo_length: None,
        metadata: vec![],
        initial_balances: balances.iter().map(|(a, n)| (*a, Nat::from(*n))).collect(),
        max_transactions_in_window: None,
    }
}

/// A ledger installed at `T0` with `balances` minted (one block each).
fn ledger(balances: &[(Account, u64)]) -> State {
    ledger_with(init_args(balances))
}

fn ledger_with(args: InitArgs) -> State {
    let mut state = State::new(&memory::manager());
    lifecycle::init(&mut state, LedgerArg::Init(args), T0).unwrap();
    state
}

fn transfer_arg(to: Account, amount: u64) -> TransferArg {
    TransferArg {
        from_subaccount: None,
        to,
        fee: None,
        created_at_time: None,
        memo: None,
        amount: Nat::from(amount),
    }
}

fn send(state: &mut State, from: u8, arg: TransferArg, now: u64) -> Result<u64, TxError> {
    icrc1_transfer(state, principal(from), arg, now)
}

fn approve_arg(spender: Account, amount: u64) -> ApproveArgs {
    ApproveArgs {
        from_subaccount: None,
        spender,
        amount: Nat::from(amount),
        expected_allowance: None,
        expires_at: None,
        fee: None,
        memo: None,
        created_at_time: None,
    }
}

fn transfer_from_arg(from: Account, to: Account, amount: u64) -> TransferFromArgs {
    TransferFromArgs {
        spender_subaccount: None,
        from,
        to,
        amount: Nat::from(amount),
        fee: None,
        memo: None,
        created_at_time: None,
    }
}

fn allowance_of(state: &State, owner: Account, spender: Account, now: u64) -> (u64, Option<u64>) {
    let a = icrc2_allowance(
        state,
        &AllowanceArgs {
            account: owner,
            spender,
        },
        now,
    );
    (u64::try_from(&a.allowance.0).unwrap(), a.expires_at)
}

fn field<'a>(value: &'a ICRC3Value, key: &str) -> Option<&'a ICRC3Value> {
    match value {
        ICRC3Value::Map(map) => map.get(key),
        _ => panic!("not a map: {value:?}"),
    }
}

fn nat(n: u64) -> ICRC3Value {
    ICRC3Value::Nat(Nat::from(n))
}

#[test]
fn check_candid_interface() {
    use candid_parser::utils::{service_equal, CandidSource};
    let generated = super::__export_service();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ledger.did");
    if std::env::var_os("UPDATE_CANDID").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    service_equal(
        CandidSource::Text(&generated),
        CandidSource::File(std::path::Path::new(path)),
    )
    .unwrap_or_else(|e| {
        panic!("ledger.did differs from the code (UPDATE_CANDID=1 rewrites it): {e:?}")
    });
}

#[test]
fn initial_balances_are_mint_blocks() {
    let state = ledger(&[(account(1), 1_000), (account(2), 500)]);
    assert_eq!(state.balance(&account(1)), 1_000);
    assert_eq!(state.balance(&account(2)), 500);
    assert_eq!(state.tip.get().total_supply, 1_500);
    assert_eq!(blocks::chain_length(&state), 2);
    let first = blocks::block(&state, 0).unwrap();
    let tx = field(&first, "tx").unwrap();
    assert_eq!(field(tx, "op"), Some(&ICRC3Value::Text("mint".into())));
    assert_eq!(field(tx, "amt"), Some(&nat(1_000)));
    assert_eq!(field(&first, "ts"), Some(&nat(T0)));
    assert_eq!(
        field(&first, "phash"),
        None,
        "the first block has no parent"
    );
}

#[test]
fn transfer_moves_amount_and_burns_the_fee() {
    let mut state = ledger(&[(account(1), 1_000)]);
    let index = send(&mut state, 1, transfer_arg(account(2), 300), T0).unwrap();
    assert_eq!(index, 1);
    assert_eq!(state.balance(&account(1)), 1_000 - 300 - FEE);
    assert_eq!(state.balance(&account(2)), 300);
    assert_eq!(state.tip.get().total_supply, 1_000 - FEE);
    let block = blocks::block(&state, 1).unwrap();
    // The fee the ledger chose goes in the block, not in `tx`.
    assert_eq!(field(&block, "fee"), Some(&nat(FEE)));
    let tx = field(&block, "tx").unwrap();
    assert_eq!(field(tx, "op"), Some(&ICRC3Value::Text("xfer".into())));
    assert_eq!(field(tx, "fee"), None);
}

#[test]
fn transfer_with_explicit_fee_records_it_in_tx() {
    let mut state = ledger(&[(account(1), 1_000)]);
    let arg = TransferArg {
        fee: Some(Nat::from(FEE)),
        ..transfer_arg(account(2), 1)
    };
    let index = send(&mut state, 1, arg, T0).unwrap();
    let block = blocks::block(&state, index).unwrap();
    assert_eq!(field(&block, "fee"), None);
    assert_eq!(field(field(&block, "tx").unwrap(), "fee"), Some(&nat(FEE)));
}

#[test]
fn transfer_errors() {
    let mut state = ledger(&[(account(1), 100)]);
    let bad_fee = TransferArg {
        fee: Some(Nat::from(FEE - 1)),
        ..transfer_arg(account(2), 1)
    };
    assert_eq!(
        send(&mut state, 1, bad_fee, T0),
        Err(TxError::BadFee { expected_fee: FEE })
    );
    // Amount + fee must be covered.
    assert_eq!(
        send(&mut state, 1, transfer_arg(account(2), 91), T0),
        Err(TxError::InsufficientFunds { balance: 100 })
    );
    let huge = TransferArg {
        amount: Nat::from(u128::MAX),
        ..transfer_arg(account(2), 0)
    };
    assert_eq!(
        send(&mut state, 1, huge, T0),
        Err(TxError::InsufficientFunds { balance: 100 })
    );
    assert_eq!(
        send(&mut state, 3, transfer_arg(account(2), 0), T0),
        Err(TxError::InsufficientFunds { balance: 0 })
    );
    assert_eq!(
        blocks::chain_length(&state),
        1,
        "failed transfers append no block"
    );
    send(&mut state, 1, transfer_arg(account(2), 90), T0).unwrap();
    assert_eq!(state.balance(&account(1)), 0);
}

#[test]
fn memo_up_to_the_limit() {
    let mut state = ledger(&[(account(1), 100)]);
    let with_memo = |n: usize| TransferArg {
        memo: Some(Memo::from(vec![7u8; n])),
        ..transfer_arg(account(2), 1)
    };
    send(&mut state, 1, with_memo(32), T0).unwrap();
    let refused = send(&mut state, 1, with_memo(33), T0).unwrap_err();
    assert!(
        matches!(refused, TxError::Refused(ref m) if m.contains("33 bytes")),
        "{refused:?}"
    );
    assert!(refused.into_transfer_error().is_err(), "the endpoint traps");
}

#[test]
fn minting_account_mints_and_receives_burns() {
    let mut state = ledger(&[(account(1), 100)]);
    let minter_principal = minter().owner;
    let mint = |fee: Option<u64>| TransferArg {
        fee: fee.map(Nat::from),
        ..transfer_arg(account(2), 50)
    };
    assert_eq!(
        icrc1_transfer(&mut state, minter_principal, mint(Some(FEE)), T0),
        Err(TxError::BadFee { expected_fee: 0 })
    );
    icrc1_transfer(&mut state, minter_principal, mint(Some(0)), T0).unwrap();
    icrc1_transfer(&mut state, minter_principal, mint(None), T0).unwrap();
    assert_eq!(state.balance(&account(2)), 100);
    assert_eq!(state.tip.get().total_supply, 200);

    assert_eq!(
        send(&mut state, 1, transfer_arg(minter(), FEE - 1), T0),
        Err(TxError::BadBurn {
            min_burn_amount: FEE
        })
    );
    let burn_fee = TransferArg {
        fee: Some(Nat::from(FEE)),
        ..transfer_arg(minter(), 20)
    };
    assert_eq!(
        send(&mut state, 1, burn_fee, T0),
        Err(TxError::BadFee { expected_fee: 0 })
    );
    let index = send(&mut state, 1, transfer_arg(minter(), 20), T0).unwrap();
    assert_eq!(state.balance(&account(1)), 80, "a burn costs no fee");
    assert_eq!(state.tip.get().total_supply, 180);
    let tx = field(&blocks::block(&state, index).unwrap(), "tx")
        .cloned()
        .unwrap();
    assert_eq!(field(&tx, "op"), Some(&ICRC3Value::Text("burn".into())));
}

#[test]
fn a_balance_under_the_fee_can_be_burnt_whole_but_never_zero() {
    let mut state = ledger(&[(account(1), 4)]);
    assert_eq!(
        send(&mut state, 1, transfer_arg(minter(), 3), T0),
        Err(TxError::BadBurn { min_burn_amount: 4 })
    );
    send(&mut state, 1, transfer_arg(minter(), 4), T0).unwrap();
    assert_eq!(
        send(&mut state, 1, transfer_arg(minter(), 0), T0),
        Err(TxError::BadBurn {
            min_burn_amount: FEE
        })
    );
}

#[test]
fn minting_past_u64_is_a_generic_error() {
    let mut state = ledger(&[(account(1), u64::MAX - 5)]);
    let result = icrc1_transfer(&mut state, minter().owner, transfer_arg(account(2), 6), T0);
    assert!(
        matches!(result, Err(TxError::GenericError { error_code, .. }) if error_code == ERROR_CODE_SUPPLY_OVERFLOW),
        "{result:?}"
    );
}

#[test]
fn created_at_time_window_and_deduplication() {
    let mut state = ledger(&[(account(1), 1_000)]);
    let now = T0 + 2 * TRANSACTION_WINDOW_NANOS;
    let at = |t: u64| TransferArg {
        created_at_time: Some(t),
        ..transfer_arg(account(2), 1)
    };
    let oldest = now - TRANSACTION_WINDOW_NANOS - PERMITTED_DRIFT_NANOS;
    assert_eq!(
        send(&mut state, 1, at(oldest - 1), now),
        Err(TxError::TooOld)
    );
    assert_eq!(
        send(&mut state, 1, at(now + PERMITTED_DRIFT_NANOS + 1), now),
        Err(TxError::CreatedInFuture { ledger_time: now })
    );
    send(&mut state, 1, at(now + PERMITTED_DRIFT_NANOS), now).unwrap();
    let first = send(&mut state, 1, at(oldest), now).unwrap();
    assert_eq!(
        send(&mut state, 1, at(oldest), now),
        Err(TxError::Duplicate {
            duplicate_of: first
        })
    );
    // Another caller is another transaction: it gets past deduplication
    // (and fails on its balance: account 2 holds the 2 tokens sent above).
    assert_eq!(
        send(&mut state, 2, at(oldest), now),
        Err(TxError::InsufficientFunds { balance: 2 })
    );
    let other_memo = TransferArg {
        memo: Some(Memo::from(1u64)),
        ..at(oldest)
    };
    send(&mut state, 1, other_memo, now).unwrap();
    // Without created_at_time nothing is deduplicated.
    let a = send(&mut state, 1, transfer_arg(account(2), 1), now).unwrap();
    let b = send(&mut state, 1, transfer_arg(account(2), 1), now).unwrap();
    assert_ne!(a, b);
}

#[test]
fn duplicates_are_forgotten_once_out_of_the_window() {
    let mut state = ledger(&[(account(1), 1_000)]);
    let arg = TransferArg {
        created_at_time: Some(T0),
        ..transfer_arg(account(2), 1)
    };
    send(&mut state, 1, arg.clone(), T0).unwrap();
    assert_eq!(state.dedup.len(), 1);
    let later = T0 + TRANSACTION_WINDOW_NANOS + PERMITTED_DRIFT_NANOS + 1;
    assert_eq!(send(&mut state, 1, arg, later), Err(TxError::TooOld));
    assert_eq!(state.dedup.len(), 0);
    assert_eq!(state.dedup_by_time.len(), 0);
}

#[test]
fn a_full_window_makes_the_ledger_temporarily_unavailable() {
    let mut state = ledger_with(InitArgs {
        max_transactions_in_window: Some(2),
        ..init_args(&[(account(1), 1_000)])
    });
    let at = |t: u64| TransferArg {
        created_at_time: Some(t),
        ..transfer_arg(account(2), 1)
    };
    send(&mut state, 1, at(T0), T0).unwrap();
    send(&mut state, 1, at(T0 + 1), T0).unwrap();
    assert_eq!(
        send(&mut state, 1, at(T0 + 2), T0),
        Err(TxError::TemporarilyUnavailable)
    );
    assert_eq!(
        send(&mut state, 1, transfer_arg(account(2), 1), T0),
        Err(TxError::TemporarilyUnavailable)
    );
    let later = T0 + TRANSACTION_WINDOW_NANOS + PERMITTED_DRIFT_NANOS + 2;
    send(&mut state, 1, at(later), later).unwrap();
}

#[test]
fn blocks_form_a_hash_chain_and_the_tip_is_certified() {
    let mut state = ledger(&[(account(1), 1_000)]);
    send(&mut state, 1, transfer_arg(account(2), 1), T0).unwrap();
    icrc2_approve(&mut state, principal(1), approve_arg(account(2), 5), T0).unwrap();
    let n = blocks::chain_length(&state);
    for i in 1..n {
        let parent = hash_value(&blocks::block(&state, i - 1).unwrap());
        let block = blocks::block(&state, i).unwrap();
        assert_eq!(
            field(&block, "phash"),
            Some(&ICRC3Value::Blob(ByteBuf::from(parent.to_vec())))
        );
    }
    let last_hash = hash_value(&blocks::block(&state, n - 1).unwrap());
    assert_eq!(state.tip.get().last_block_hash, Some(last_hash));
    let tree = blocks::tip_hash_tree(&state);
    assert_eq!(
        tree.lookup_path(["last_block_hash"]),
        ic_certification::LookupResult::Found(&last_hash[..])
    );
    assert_eq!(
        tree.lookup_path(["last_block_index"]),
        ic_certification::LookupResult::Found(&[(n - 1) as u8][..])
    );
    assert_eq!(blocks::certified_data(&state), tree.digest());
}

#[test]
fn icrc3_get_blocks_serves_ranges_up_to_the_limit() {
    let mut state = ledger(&[(account(1), 100_000)]);
    for _ in 0..5 {
        send(&mut state, 1, transfer_arg(account(2), 1), T0).unwrap();
    }
    let range = |start: u64, length: u64| GetBlocksRequest {
        start: Nat::from(start),
        length: Nat::from(length),
    };
    let result = blocks::icrc3_get_blocks(&state, &[range(1, 2), range(4, 10), range(99, 1)]);
    assert_eq!(result.log_length, Nat::from(6u8));
    let ids: Vec<Nat> = result.blocks.iter().map(|b| b.id.clone()).collect();
    assert_eq!(ids, [1u8, 2, 4, 5].map(Nat::from).to_vec());
    assert!(result.archived_blocks.is_empty());
    let all = blocks::icrc3_get_blocks(&state, &[range(0, u64::MAX)]);
    assert_eq!(all.blocks.len(), 6);
    assert_eq!(all.blocks[3].block, blocks::block(&state, 3).unwrap());
}

#[test]
fn upgrade_keeps_state_and_applies_changes() {
    let manager = memory::manager();
    let mut state = State::new(&manager);
    lifecycle::init(
        &mut state,
        LedgerArg::Init(init_args(&[(account(1), 100)])),
        T0,
    )
    .unwrap();
    drop(state);
    // A new `State` on the same memory is what the upgraded code sees.
    let mut state = State::new(&manager);
    assert_eq!(state.balance(&account(1)), 100);
    lifecycle::upgrade(&mut state, Some(LedgerArg::Upgrade(None))).unwrap();
    let raise_fee = UpgradeArgs {
        transfer_fee: Some(Nat::from(20u8)),
        ..Default::default()
    };
    lifecycle::upgrade(&mut state, Some(LedgerArg::Upgrade(Some(raise_fee)))).unwrap();
    assert_eq!(state.config().transfer_fee, 20);
    let shrink_memo = UpgradeArgs {
        max_memo_length: Some(16),
        ..Default::default()
    };
    assert!(lifecycle::upgrade(&mut state, Some(LedgerArg::Upgrade(Some(shrink_memo)))).is_err());
    send(&mut state, 1, transfer_arg(account(2), 10), T0).unwrap();
    assert_eq!(state.balance(&account(1)), 70);
}

#[test]
fn stored_records_round_trip() {
    let sub = Account {
        owner: principal(7),
        subaccount: Some([3; 32]),
    };
    assert_eq!(
        AccountKey::from_bytes(AccountKey::of(&sub).to_bytes()).account(),
        sub
    );
    let record = AllowanceRecord {
        amount: 5,
        expires_at: Some(9),
    };
    assert_eq!(AllowanceRecord::from_bytes(record.to_bytes()), record);
    let tip = Tip {
        total_supply: 3,
        last_block_hash: Some([1; 32]),
    };
    assert_eq!(Tip::from_bytes(tip.to_bytes()), tip);
    assert_eq!(Tip::from_bytes(Tip::default().to_bytes()), Tip::default());
}

#[test]
fn errors_outside_a_method_trap_instead_of_changing_variant() {
    assert!(TxError::InsufficientAllowance { allowance: 1 }
        .into_transfer_error()
        .is_err());
    assert!(TxError::Expired { ledger_time: 1 }
        .into_transfer_from_error()
        .is_err());
    assert_eq!(
        TxError::TooOld.into_transfer_error(),
        Ok(TransferError::TooOld)
    );
}

mod allowances;
