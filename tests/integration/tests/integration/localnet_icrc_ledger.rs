//! The ICRC ledger (local ckBTC) on localnet: metadata, transfers and every
//! error the standard fixes, deduplication on the net's clock, the ICRC-2
//! deposit/withdraw flow the escrow uses, the ICRC-3 block chain checked
//! with an independent hash, the certified tip, and upgrades.

use candid::{Nat, Principal};
use ic_certification::{HashTree, LookupResult};
use localnet::{ErrorCode, LocalNet, RejectCode};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tensormine_integration_tests::ledger::*;
use tensormine_integration_tests::{assert_reject, encode, expect_reject, stranger};

const BTC: u64 = 100_000_000;

fn net_with_ledger(balances: &[(Account, u64)]) -> (LocalNet, Principal) {
    let mut net = LocalNet::new();
    // A realistic clock: created_at_time checks subtract a day from it.
    net.set_time(1_767_225_600_000_000_000).unwrap();
    let init = ckbtc_init(balances.iter().map(|(a, n)| (*a, Nat::from(*n))).collect());
    let ledger = install_ledger(&mut net, init);
    (net, ledger)
}

fn minting_account() -> Account {
    Account {
        owner: minter(),
        subaccount: None,
    }
}

/// An escrow-like canister principal (the spender of ICRC-2 deposits).
fn escrow() -> Account {
    Account {
        owner: Principal::from_slice(&[0xE5, 0xC0, 0x01]),
        subaccount: None,
    }
}

#[test]
fn ckbtc_metadata_supply_and_initial_balances() {
    let (mut net, id) = net_with_ledger(&[(user(1), BTC), (user(2), 5)]);
    let q = |net: &mut LocalNet, method: &str| -> Vec<u8> {
        net.query_call(id, stranger(), method, encode(())).unwrap()
    };
    let decode_text = |bytes: Vec<u8>| candid::decode_one::<String>(&bytes).unwrap();
    assert_eq!(decode_text(q(&mut net, "icrc1_symbol")), "ckBTC");
    assert_eq!(decode_text(q(&mut net, "icrc1_name")), "ckBTC");
    assert_eq!(
        candid::decode_one::<u8>(&q(&mut net, "icrc1_decimals")).unwrap(),
        8
    );
    assert_eq!(
        candid::decode_one::<Nat>(&q(&mut net, "icrc1_fee")).unwrap(),
        Nat::from(CKBTC_FEE)
    );
    assert_eq!(
        candid::decode_one::<Nat>(&q(&mut net, "icrc1_total_supply")).unwrap(),
        Nat::from(BTC + 5)
    );
    assert_eq!(
        candid::decode_one::<Option<Account>>(&q(&mut net, "icrc1_minting_account")).unwrap(),
        Some(minting_account())
    );
    let metadata: Vec<(String, MetadataValue)> =
        candid::decode_one(&q(&mut net, "icrc1_metadata")).unwrap();
    assert!(metadata.contains(&("icrc1:fee".into(), MetadataValue::Nat(Nat::from(CKBTC_FEE)))));
    assert!(metadata.contains(&("icrc1:decimals".into(), MetadataValue::Nat(Nat::from(8u8)))));
    let standards: Vec<StandardRecord> =
        candid::decode_one(&q(&mut net, "icrc1_supported_standards")).unwrap();
    let names: Vec<&str> = standards.iter().map(|s| s.name.as_str()).collect();
    assert!(
        ["ICRC-1", "ICRC-2", "ICRC-3"]
            .iter()
            .all(|n| names.contains(n)),
        "{names:?}"
    );
    let mut ledger = Ledger { net: &mut net, id };
    assert_eq!(ledger.balance(user(1)), Nat::from(BTC));
    assert_eq!(
        ledger.blocks(0, 10).log_length,
        Nat::from(2u8),
        "one mint block per initial balance"
    );
}

#[test]
fn transfers_return_block_indices_and_the_standard_errors() {
    let (mut net, id) = net_with_ledger(&[(user(1), 1_000)]);
    let mut ledger = Ledger { net: &mut net, id };
    let u1 = user(1).owner;
    assert_eq!(
        ledger.transfer(u1, transfer_arg(user(2), 100)),
        Ok(Nat::from(1u8))
    );
    assert_eq!(
        ledger.transfer(u1, transfer_arg(user(2), 100)),
        Ok(Nat::from(2u8))
    );
    assert_eq!(
        ledger.balance(user(1)),
        Nat::from(1_000 - 2 * (100 + CKBTC_FEE))
    );
    let bad_fee = TransferArg {
        fee: Some(Nat::from(1u8)),
        ..transfer_arg(user(2), 1)
    };
    assert_eq!(
        ledger.transfer(u1, bad_fee),
        Err(TransferError::BadFee {
            expected_fee: Nat::from(CKBTC_FEE)
        })
    );
    assert_eq!(
        ledger.transfer(u1, transfer_arg(user(2), 1_000)),
        Err(TransferError::InsufficientFunds {
            balance: Nat::from(780u32)
        })
    );
    assert_eq!(
        ledger.transfer(u1, transfer_arg(minting_account(), CKBTC_FEE - 1)),
        Err(TransferError::BadBurn {
            min_burn_amount: Nat::from(CKBTC_FEE)
        })
    );
    // The minting account mints without a fee; sending to it burns.
    assert_eq!(
        ledger.transfer(minter(), transfer_arg(user(3), 50)),
        Ok(Nat::from(3u8))
    );
    assert_eq!(
        ledger.transfer(user(3).owner, transfer_arg(minting_account(), 50)),
        Ok(Nat::from(4u8))
    );
    assert_eq!(ledger.balance(user(3)), Nat::from(0u8));

    let long_memo = TransferArg {
        memo: Some(Memo::from(vec![1; 33])),
        ..transfer_arg(user(2), 1)
    };
    let reject = expect_reject(ledger.net.update_call(
        id,
        u1,
        "icrc1_transfer",
        encode((long_memo,)),
    ));
    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterCalledTrap,
    );
    assert!(reject.reject_message.contains("memo"), "{reject}");
    let memo_32 = TransferArg {
        memo: Some(Memo::from(vec![1; 32])),
        ..transfer_arg(user(2), 1)
    };
    assert_eq!(ledger.transfer(u1, memo_32), Ok(Nat::from(5u8)));
}

#[test]
fn deduplication_follows_the_ledger_clock() {
    let (mut net, id) = net_with_ledger(&[(user(1), 1_000)]);
    let now = net.time();
    let mut ledger = Ledger { net: &mut net, id };
    let u1 = user(1).owner;
    let at = |t: u64| TransferArg {
        created_at_time: Some(t),
        ..transfer_arg(user(2), 1)
    };
    let first = ledger.transfer(u1, at(now)).unwrap();
    assert_eq!(
        ledger.transfer(u1, at(now)),
        Err(TransferError::Duplicate {
            duplicate_of: first
        })
    );
    assert_eq!(
        ledger.transfer(u1, at(now + 61_000_000_000)),
        Err(TransferError::CreatedInFuture { ledger_time: now })
    );
    ledger.net.advance_time(Duration::from_secs(24 * 3600 + 61));
    assert_eq!(ledger.transfer(u1, at(now)), Err(TransferError::TooOld));
    let later = ledger.net.time();
    assert!(ledger.transfer(u1, at(later)).is_ok());
}

#[test]
fn icrc2_deposit_and_withdraw_as_the_escrow_does() {
    let (mut net, id) = net_with_ledger(&[(user(1), BTC)]);
    let mut ledger = Ledger { net: &mut net, id };
    let developer = user(1);
    let deposit = 10_000;
    // The developer allows the escrow to take the deposit and its fee.
    ledger
        .approve(developer.owner, approve_arg(escrow(), deposit + CKBTC_FEE))
        .unwrap();
    assert_eq!(
        ledger.allowance(developer, escrow()),
        Allowance {
            allowance: Nat::from(deposit + CKBTC_FEE),
            expires_at: None
        }
    );
    let escrow_sub = Account {
        owner: escrow().owner,
        subaccount: Some([1; 32]),
    };
    let too_much = transfer_from_arg(developer, escrow_sub, deposit + 1);
    assert_eq!(
        ledger.transfer_from(escrow().owner, too_much),
        Err(TransferFromError::InsufficientAllowance {
            allowance: Nat::from(deposit + CKBTC_FEE)
        })
    );
    ledger
        .transfer_from(
            escrow().owner,
            transfer_from_arg(developer, escrow_sub, deposit),
        )
        .unwrap();
    assert_eq!(ledger.balance(escrow_sub), Nat::from(deposit));
    assert_eq!(
        ledger.allowance(developer, escrow()).allowance,
        Nat::from(0u8)
    );
    assert_eq!(
        ledger.balance(developer),
        Nat::from(BTC - CKBTC_FEE - deposit - CKBTC_FEE)
    );
    // Withdrawal: the escrow pays a miner from its subaccount.
    let payout = TransferArg {
        from_subaccount: Some([1; 32]),
        ..transfer_arg(user(9), deposit - CKBTC_FEE)
    };
    ledger.transfer(escrow().owner, payout).unwrap();
    assert_eq!(ledger.balance(escrow_sub), Nat::from(0u8));
    assert_eq!(ledger.balance(user(9)), Nat::from(deposit - CKBTC_FEE));
}

#[test]
fn approve_errors_and_expiry() {
    let (mut net, id) = net_with_ledger(&[(user(1), 1_000)]);
    let now = net.time();
    let mut ledger = Ledger { net: &mut net, id };
    let owner = user(1).owner;
    let expiring = ApproveArgs {
        expires_at: Some(now + 1_000_000_000),
        ..approve_arg(escrow(), 500)
    };
    ledger.approve(owner, expiring).unwrap();
    let expect = ApproveArgs {
        expected_allowance: Some(Nat::from(1u8)),
        ..approve_arg(escrow(), 5)
    };
    assert_eq!(
        ledger.approve(owner, expect),
        Err(ApproveError::AllowanceChanged {
            current_allowance: Nat::from(500u32)
        })
    );
    let past = ApproveArgs {
        expires_at: Some(now),
        ..approve_arg(escrow(), 5)
    };
    assert_eq!(
        ledger.approve(owner, past),
        Err(ApproveError::Expired { ledger_time: now })
    );
    ledger.net.advance_time(Duration::from_secs(1));
    assert_eq!(
        ledger.allowance(user(1), escrow()),
        Allowance {
            allowance: Nat::from(0u8),
            expires_at: None
        }
    );
    assert_eq!(
        ledger.transfer_from(escrow().owner, transfer_from_arg(user(1), escrow(), 1)),
        Err(TransferFromError::InsufficientAllowance {
            allowance: Nat::from(0u8)
        })
    );
    let self_approval = approve_arg(
        Account {
            owner,
            subaccount: Some([2; 32]),
        },
        5,
    );
    let reject = expect_reject(ledger.net.update_call(
        id,
        owner,
        "icrc2_approve",
        encode((self_approval,)),
    ));
    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterCalledTrap,
    );
    assert!(reject.reject_message.contains("self approval"), "{reject}");
}

/// ICRC-3's representation-independent hash, written here from the standard.
fn icrc3_hash(value: &Value) -> [u8; 32] {
    let sha = |bytes: &[u8]| -> [u8; 32] { Sha256::digest(bytes).into() };
    match value {
        Value::Blob(b) => sha(b),
        Value::Text(t) => sha(t.as_bytes()),
        Value::Nat(n) => {
            let mut buf = Vec::new();
            leb128::write::unsigned(&mut buf, u64::try_from(&n.0).expect("u64 in tests")).unwrap();
            sha(&buf)
        }
        Value::Int(i) => {
            let mut buf = Vec::new();
            leb128::write::signed(&mut buf, i64::try_from(&i.0).expect("i64 in tests")).unwrap();
            sha(&buf)
        }
        Value::Array(items) => sha(&items.iter().flat_map(icrc3_hash).collect::<Vec<u8>>()),
        Value::Map(map) => {
            let mut pairs: Vec<([u8; 32], [u8; 32])> = map
                .iter()
                .map(|(k, v)| (sha(k.as_bytes()), icrc3_hash(v)))
                .collect();
            pairs.sort();
            sha(&pairs
                .iter()
                .flat_map(|(k, v)| k.iter().chain(v).copied())
                .collect::<Vec<u8>>())
        }
    }
}

#[test]
fn blocks_chain_by_phash_and_the_tip_is_certified() {
    let (mut net, id) = net_with_ledger(&[(user(1), 1_000)]);
    let mut ledger = Ledger { net: &mut net, id };
    ledger
        .transfer(user(1).owner, transfer_arg(user(2), 10))
        .unwrap();
    ledger
        .approve(user(1).owner, approve_arg(escrow(), 100))
        .unwrap();
    ledger
        .transfer_from(escrow().owner, transfer_from_arg(user(1), user(3), 20))
        .unwrap();
    let result = ledger.blocks(0, 100);
    assert_eq!(result.log_length, Nat::from(4u8));
    assert!(result.archived_blocks.is_empty());
    let blocks: Vec<Value> = result.blocks.into_iter().map(|b| b.block).collect();
    assert_eq!(field(&blocks[0], "phash"), None);
    for pair in blocks.windows(2) {
        let parent = ByteBuf::from(icrc3_hash(&pair[0]).to_vec());
        assert_eq!(field(&pair[1], "phash"), Some(&Value::Blob(parent)));
    }
    let ops: Vec<&Value> = blocks
        .iter()
        .map(|b| field(b, "tx").and_then(|tx| field(tx, "op")).unwrap())
        .collect();
    let texts: Vec<Value> = ["mint", "xfer", "approve", "xfer"]
        .iter()
        .map(|s| Value::Text(s.to_string()))
        .collect();
    assert_eq!(ops, texts.iter().collect::<Vec<_>>());

    let (certificate,): (Option<DataCertificate>,) = ledger
        .net
        .query_candid(id, stranger(), "icrc3_get_tip_certificate", ())
        .unwrap();
    let certificate = certificate.expect("a query gets a certificate");
    assert!(!certificate.certificate.is_empty());
    let tree: HashTree = ciborium::from_reader(certificate.hash_tree.as_slice()).unwrap();
    assert_eq!(
        tree.digest().to_vec(),
        ledger.net.certified_data(id),
        "the tree is what is certified"
    );
    let last_hash = icrc3_hash(&blocks[3]);
    assert_eq!(
        tree.lookup_path([b"last_block_hash"]),
        LookupResult::Found(&last_hash[..])
    );
    assert_eq!(
        tree.lookup_path([b"last_block_index"]),
        LookupResult::Found(&[3u8][..])
    );
}

#[test]
fn upgrade_keeps_balances_allowances_and_blocks() {
    let (mut net, id) = net_with_ledger(&[(user(1), 1_000)]);
    {
        let mut ledger = Ledger { net: &mut net, id };
        ledger
            .transfer(user(1).owner, transfer_arg(user(2), 10))
            .unwrap();
        ledger
            .approve(user(1).owner, approve_arg(escrow(), 100))
            .unwrap();
    }
    let certified = net.certified_data(id);
    net.upgrade_canister(id, ledger_wasm(), encode((LedgerArg::Upgrade(None),)))
        .unwrap();
    assert_eq!(net.certified_data(id), certified);
    let raise_fee = UpgradeArgs {
        transfer_fee: Some(Nat::from(20u8)),
        ..Default::default()
    };
    net.upgrade_canister(
        id,
        ledger_wasm(),
        encode((LedgerArg::Upgrade(Some(raise_fee)),)),
    )
    .unwrap();
    let mut ledger = Ledger { net: &mut net, id };
    assert_eq!(ledger.balance(user(2)), Nat::from(10u8));
    assert_eq!(
        ledger.allowance(user(1), escrow()).allowance,
        Nat::from(100u8)
    );
    assert_eq!(ledger.blocks(0, 10).log_length, Nat::from(3u8));
    assert_eq!(
        ledger.transfer(
            user(1).owner,
            TransferArg {
                fee: Some(Nat::from(CKBTC_FEE)),
                ..transfer_arg(user(2), 1)
            }
        ),
        Err(TransferError::BadFee {
            expected_fee: Nat::from(20u8)
        })
    );
}
