//! The escrow's native-BTC path on localnet: a deposit to the principal's
//! derived address on the simulated regtest chain is credited once; a
//! withdrawal is batched, signed input by input with localnet's threshold
//! ECDSA, and accepted by the Bitcoin canister, which verifies every input
//! with Bitcoin Core's consensus code; once mined, the payout is final and
//! the books balance.

use candid::{Principal, Reserved};
use localnet::LocalNet;
use std::time::Duration;
use tensormine_integration_tests::controller;
use tensormine_integration_tests::escrow::*;

const DEPOSIT: u64 = 200_000;
const PAYOUT: u64 = 50_000;

fn developer() -> Principal {
    Principal::from_slice(&[0x05, 0xE2, 0x42])
}

fn btc_escrow(net: &mut LocalNet) -> Principal {
    install_escrow(
        net,
        ConfigUpdate {
            btc_network: Some(BtcNetwork::Regtest),
            ecdsa_key_name: Some("dfx_test_key".into()),
            btc_min_confirmations: Some(1),
            btc_batch_min_requests: Some(1),
            ..Default::default()
        },
    )
}

fn balance(net: &mut LocalNet, escrow: Principal, owner: Principal) -> Balance {
    let (b,): (Balance,) = net
        .query_candid(escrow, owner, "get_balance", (owner,))
        .unwrap();
    b
}

fn timer_round(net: &mut LocalNet) {
    net.advance_time(Duration::from_secs(60));
    net.tick();
}

#[test]
fn deposit_then_batched_payout_passes_consensus_checks_and_settles() {
    let mut net = LocalNet::new();
    let escrow = btc_escrow(&mut net);
    let (address,): (Result<String, Reserved>,) = net
        .update_candid(
            escrow,
            developer(),
            "get_btc_deposit_address",
            (None::<Principal>,),
        )
        .unwrap();
    let address = address.expect("deposit address");
    assert!(address.starts_with("bcrt1q"), "{address}");

    net.bitcoin_send_to(&address, DEPOSIT).unwrap();
    let miner_reward = net.bitcoin_wallet_address();
    net.bitcoin_mine_blocks(1, &miner_reward).unwrap();
    let update = |net: &mut LocalNet| {
        let (r,): (Result<Reserved, Reserved>,) = net
            .update_candid(escrow, developer(), "update_btc_balance", ())
            .unwrap();
        r.expect("update_btc_balance");
    };
    update(&mut net);
    update(&mut net); // the same UTXO again: credited once
    assert_eq!(balance(&mut net, escrow, developer()).available, DEPOSIT);

    let payee = net.bitcoin_wallet_address();
    let (r,): (Result<Reserved, Reserved>,) = net
        .update_candid(escrow, developer(), "withdraw_btc", (payee.clone(), PAYOUT))
        .unwrap();
    r.expect("withdraw_btc");
    assert_eq!(
        balance(&mut net, escrow, developer()).available,
        DEPOSIT - PAYOUT
    );

    timer_round(&mut net);
    let (batches,): (Vec<BtcBatchInfo>,) = net
        .query_candid(escrow, controller(), "get_btc_batches", ())
        .unwrap();
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert_eq!(batches[0].last_error, None, "{batches:?}");
    let mempool = net.bitcoin_mempool();
    assert_eq!(
        mempool.len(),
        1,
        "the signed payout passed the consensus checks"
    );

    net.bitcoin_mine_blocks(1, &miner_reward).unwrap();
    timer_round(&mut net);
    let (totals,): (Totals,) = net
        .query_candid(escrow, controller(), "totals", ())
        .unwrap();
    assert_eq!((totals.deposits, totals.withdrawals), (DEPOSIT, PAYOUT));
    let (ok,): (Result<(), String>,) = net
        .query_candid(escrow, controller(), "check_invariants", ())
        .unwrap();
    ok.expect("conservation invariant");
    let (batches,): (Vec<BtcBatchInfo>,) = net
        .query_candid(escrow, controller(), "get_btc_batches", ())
        .unwrap();
    assert!(
        batches.is_empty(),
        "finalised batches leave the open list: {batches:?}"
    );
    // The payee got the payout minus its share of the network fee.
    let paid: u64 = net
        .bitcoin_utxos(&payee)
        .unwrap()
        .iter()
        .filter(|u| u.value < 1_000_000)
        .map(|u| u.value)
        .sum();
    assert!(
        paid > PAYOUT - 5_000 && paid < PAYOUT,
        "payee received {paid}"
    );
}

/// A regtest P2WPKH address of test key `i` (distinct payees).
fn payee(i: u32) -> String {
    use localnet::localnet_services::bitcoin::rust_bitcoin::{
        secp256k1, Address, CompressedPublicKey, Network,
    };
    let mut secret = [0x11u8; 32];
    secret[..4].copy_from_slice(&i.to_be_bytes());
    let key = secp256k1::SecretKey::from_slice(&secret).unwrap();
    let public = CompressedPublicKey(key.public_key(&secp256k1::Secp256k1::new()));
    Address::p2wpkh(&public, Network::Regtest).to_string()
}

#[test]
fn one_hundred_withdrawals_are_paid_by_one_consensus_valid_transaction() {
    let mut net = LocalNet::new();
    let escrow = btc_escrow(&mut net);
    let (address,): (Result<String, Reserved>,) = net
        .update_candid(
            escrow,
            developer(),
            "get_btc_deposit_address",
            (None::<Principal>,),
        )
        .unwrap();
    net.bitcoin_send_to(&address.unwrap(), 10_000_000).unwrap();
    let reward = net.bitcoin_wallet_address();
    net.bitcoin_mine_blocks(1, &reward).unwrap();
    let (r,): (Result<Reserved, Reserved>,) = net
        .update_candid(escrow, developer(), "update_btc_balance", ())
        .unwrap();
    r.unwrap();
    for i in 0..100 {
        let (r,): (Result<Reserved, Reserved>,) = net
            .update_candid(escrow, developer(), "withdraw_btc", (payee(i), 20_000u64))
            .unwrap();
        r.unwrap_or_else(|_| panic!("withdrawal {i} refused"));
    }
    timer_round(&mut net);
    let mempool = net.bitcoin_mempool();
    assert_eq!(mempool.len(), 1, "one transaction pays all 100");
    let tx = &mempool[0];
    assert_eq!(tx.tx.output.len(), 101, "100 payouts and the change");
    let per_payout = tx.vsize as f64 / 100.0;
    println!(
        "100 payouts: {} vbytes = {per_payout:.2} vbytes per payout, {} inputs (one signature each), fee {} sat",
        tx.vsize,
        tx.tx.input.len(),
        tx.fee.to_sat()
    );
    assert!(per_payout <= 32.5, "{per_payout} vbytes per payout");
    net.bitcoin_mine_blocks(1, &reward).unwrap();
    timer_round(&mut net);
    let (totals,): (Totals,) = net
        .query_candid(escrow, controller(), "totals", ())
        .unwrap();
    assert_eq!(totals.withdrawals, 100 * 20_000);
    for i in [0, 57, 99] {
        let utxos = net.bitcoin_utxos(&payee(i)).unwrap();
        assert_eq!(utxos.len(), 1);
        assert!(
            utxos[0].value < 20_000 && utxos[0].value > 19_000,
            "{}",
            utxos[0].value
        );
    }
    let (ok,): (Result<(), String>,) = net
        .query_candid(escrow, controller(), "check_invariants", ())
        .unwrap();
    ok.expect("conservation invariant");
}

fn funded_escrow(net: &mut LocalNet, sats: u64) -> Principal {
    let escrow = btc_escrow(net);
    let (address,): (Result<String, Reserved>,) = net
        .update_candid(
            escrow,
            developer(),
            "get_btc_deposit_address",
            (None::<Principal>,),
        )
        .unwrap();
    net.bitcoin_send_to(&address.unwrap(), sats).unwrap();
    let reward = net.bitcoin_wallet_address();
    net.bitcoin_mine_blocks(1, &reward).unwrap();
    let (r,): (Result<Reserved, Reserved>,) = net
        .update_candid(escrow, developer(), "update_btc_balance", ())
        .unwrap();
    r.unwrap();
    escrow
}

#[test]
fn a_stuck_payout_survives_an_upgrade_is_replaced_by_fee_and_settles() {
    let mut net = LocalNet::new();
    let escrow = funded_escrow(&mut net, 1_000_000);
    let (r,): (Result<Reserved, Reserved>,) = net
        .update_candid(escrow, developer(), "withdraw_btc", (payee(1), 100_000u64))
        .unwrap();
    r.unwrap();
    timer_round(&mut net);
    let first = net.bitcoin_mempool();
    assert_eq!(first.len(), 1);
    // An upgrade while the batch is in flight keeps it (and its signing paths).
    net.upgrade_canister(
        escrow,
        escrow_wasm(),
        tensormine_integration_tests::encode((None::<EscrowArg>,)),
    )
    .expect("upgrade");
    // Nobody mines it; after the resubmission delay (1 h) the escrow bumps the fee.
    net.advance_time(Duration::from_secs(3_600));
    net.tick();
    let second = net.bitcoin_mempool();
    assert_eq!(
        second.len(),
        1,
        "the replacement evicted the original (BIP125)"
    );
    assert_ne!(second[0].tx.compute_txid(), first[0].tx.compute_txid());
    assert!(second[0].fee > first[0].fee);
    let (batches,): (Vec<BtcBatchInfo>,) = net
        .query_candid(escrow, controller(), "get_btc_batches", ())
        .unwrap();
    assert_eq!(batches[0].txids.len(), 2, "{batches:?}");
    let reward = net.bitcoin_wallet_address();
    net.bitcoin_mine_blocks(1, &reward).unwrap();
    timer_round(&mut net);
    let (totals,): (Totals,) = net
        .query_candid(escrow, controller(), "totals", ())
        .unwrap();
    assert_eq!(totals.withdrawals, 100_000);
    let (ok,): (Result<(), String>,) = net
        .query_candid(escrow, controller(), "check_invariants", ())
        .unwrap();
    ok.expect("conservation invariant");
}

#[test]
fn malformed_and_wrong_network_addresses_are_refused_and_nothing_is_debited() {
    let mut net = LocalNet::new();
    let escrow = funded_escrow(&mut net, 100_000);
    for bad in [
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", // mainnet
        "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", // testnet
        "bcrt1qnot-an-address",
        "",
    ] {
        let (r,): (Result<Reserved, Reserved>,) = net
            .update_candid(
                escrow,
                developer(),
                "withdraw_btc",
                (bad.to_string(), 20_000u64),
            )
            .unwrap();
        assert!(r.is_err(), "{bad:?} was accepted");
    }
    let stranger = Principal::from_slice(&[0x0B, 0xAD]);
    let (r,): (Result<Reserved, Reserved>,) = net
        .update_candid(escrow, stranger, "withdraw_btc", (payee(2), 20_000u64))
        .unwrap();
    assert!(r.is_err(), "a principal without funds cannot withdraw");
    let (r,): (Result<Reserved, Reserved>,) = net
        .update_candid(
            escrow,
            Principal::anonymous(),
            "withdraw_btc",
            (payee(2), 20_000u64),
        )
        .unwrap();
    assert!(r.is_err(), "anonymous callers are refused");
    assert_eq!(balance(&mut net, escrow, developer()).available, 100_000);
    assert!(net.bitcoin_mempool().is_empty());
}

#[test]
fn a_trap_after_any_await_of_a_payout_round_loses_and_duplicates_nothing() {
    // The payout round awaits the Bitcoin canister and the signing API several
    // times; a trap after each of them in turn must leave the escrow able to
    // finish: exactly one payout on chain, books balanced. `skip` walks the
    // round's callbacks until the round has no more.
    for skip in 0.. {
        let mut net = LocalNet::new();
        let escrow = funded_escrow(&mut net, 1_000_000);
        let (r,): (Result<Reserved, Reserved>,) = net
            .update_candid(escrow, developer(), "withdraw_btc", (payee(7), 100_000u64))
            .unwrap();
        r.unwrap();
        net.trap_callback(escrow, skip);
        timer_round(&mut net);
        let trapped = net
            .message_log()
            .iter()
            .any(|m| m.canister == escrow && m.trapped && m.kind.ends_with("callback"));
        if !trapped {
            assert!(
                skip >= 4,
                "the payout round awaits at least 4 times, saw {skip}"
            );
            break;
        }
        for _ in 0..3 {
            timer_round(&mut net);
        }
        assert_eq!(
            net.bitcoin_mempool().len(),
            1,
            "skip {skip}: one payout transaction"
        );
        let reward = net.bitcoin_wallet_address();
        net.bitcoin_mine_blocks(1, &reward).unwrap();
        timer_round(&mut net);
        let utxos = net.bitcoin_utxos(&payee(7)).unwrap();
        assert_eq!(utxos.len(), 1, "skip {skip}: paid once");
        let (totals,): (Totals,) = net
            .query_candid(escrow, controller(), "totals", ())
            .unwrap();
        assert_eq!(totals.withdrawals, 100_000, "skip {skip}");
        let (ok,): (Result<(), String>,) = net
            .query_candid(escrow, controller(), "check_invariants", ())
            .unwrap();
        ok.unwrap_or_else(|e| panic!("skip {skip}: {e}"));
    }
}
