//! Native BTC on the fake Bitcoin canister: deposits credited once (pages,
//! repeats, upgrades), withdrawals validated and batched, the transactions
//! the escrow sends verified input by input, RBF, finalisation, dust
//! refunds, and a property test of conservation with BTC operations.

use super::fake::*;
use super::fake_btc::{parse_tx, verify_witness};
use super::money::snapshot;
use crate::state::btc::Batch;
use crate::state::{install_state, read_state, State};
use crate::types::EventKind;
use crate::types::*;
use candid::Principal;
use ic_stable_structures::DefaultMemoryImpl;
use proptest::prelude::*;
use tensormine_bitcoin::derive::main_derivation_path;
use tensormine_bitcoin::{
    deposit_derivation_path, AddressError, BitcoinAddress, Network, SighashCache,
};

fn payee(i: u8) -> String {
    BitcoinAddress::P2wpkh([i; 20]).encode(Network::Regtest)
}

fn events() -> Vec<EventKind> {
    read_state(|s| s.events.iter().map(|e| e.0.kind).collect())
}

fn batches() -> Vec<Batch> {
    read_state(|s| s.btc_batches_list())
}

fn totals() -> Totals {
    read_state(|s| s.totals())
}

fn main_address_string(rt: &FakeRuntime) -> String {
    let key = rt.btc.borrow().public_key_at(&main_derivation_path());
    BitcoinAddress::p2wpkh_from_public_key(&key)
        .unwrap()
        .encode(Network::Regtest)
}

/// Pays `amount` to `p`'s deposit address, confirms it and credits it.
fn fund_btc(rt: &FakeRuntime, p: Principal, amount: u64) {
    let address = rt.btc_address(p);
    rt.btc.borrow_mut().pay(&address, amount);
    rt.btc.borrow_mut().blocks(1);
    let update = rt.update_btc(p).unwrap();
    assert_eq!(update.credited.len(), 1);
}

/// Mines what was sent, gives it the confirmations and runs a round.
fn confirm(rt: &FakeRuntime) {
    rt.btc.borrow_mut().mine();
    rt.btc.borrow_mut().blocks(1);
    rt.btc_round();
}

/// Every input of `raw` carries a valid low-S signature, by the key of the
/// address it spends, over the BIP-143 sighash the crate computes for the
/// transaction the escrow recorded; the txid is the recorded one.
fn assert_verifies(rt: &FakeRuntime, raw: &[u8], batch: &Batch) {
    let parsed = parse_tx(raw);
    assert_eq!(parsed.txid, batch.built.txid());
    assert_eq!(parsed.inputs.len(), batch.paths.len());
    let hasher = SighashCache::new(&batch.built.tx);
    for (i, path) in batch.paths.iter().enumerate() {
        assert_eq!(parsed.inputs[i], batch.built.spent_utxos[i].outpoint);
        let key = rt.btc.borrow().public_key_at(path);
        assert_eq!(parsed.witnesses[i].len(), 2);
        assert_eq!(
            parsed.witnesses[i][1], key,
            "input {i} names its owner's key"
        );
        let digest = hasher.p2wpkh_for_key(i, &key).unwrap();
        assert!(
            verify_witness(&parsed.witnesses[i][0], &key, &digest),
            "input {i}"
        );
    }
}

#[test]
fn deposits_are_credited_once_across_pages_repeats_and_upgrades() {
    let memory = DefaultMemoryImpl::default();
    let rt = fresh(memory.clone());
    let alice = user(1);
    let address = rt.btc_address(alice);
    let key = rt
        .btc
        .borrow()
        .public_key_at(&deposit_derivation_path(&alice, None));
    let expected = BitcoinAddress::p2wpkh_from_public_key(&key).unwrap();
    assert_eq!(address, expected.encode(Network::Regtest));
    assert!(address.starts_with("bcrt1q"));
    assert_ne!(address, rt.btc_address(user(2)));
    for value in [5_000, 7_000, 999, 3_000, 11_000] {
        rt.btc.borrow_mut().pay(&address, value);
    }
    // The last one has 1 confirmation of the 2 required; pages hold 2 UTXOs.
    let first = rt.update_btc(alice).unwrap();
    let mut credited: Vec<u64> = first.credited.iter().map(|u| u.amount).collect();
    credited.sort();
    assert_eq!(credited, [3_000, 5_000, 7_000]);
    assert_eq!(
        first
            .ignored_too_small
            .iter()
            .map(|u| u.amount)
            .collect::<Vec<_>>(),
        [999]
    );
    assert_eq!(first.min_deposit, 1_000);
    assert_eq!(first.balance.available, 15_000);
    let again = rt.update_btc(alice).unwrap();
    assert!(again.credited.is_empty() && again.ignored_too_small.is_empty());
    assert_eq!(again.balance.available, 15_000);
    rt.btc.borrow_mut().blocks(1);
    install_state(State::new(memory.clone()));
    let after_upgrade = rt.update_btc(alice).unwrap();
    assert_eq!(
        after_upgrade
            .credited
            .iter()
            .map(|u| u.amount)
            .collect::<Vec<_>>(),
        [11_000]
    );
    assert!(after_upgrade.ignored_too_small.is_empty());
    assert_eq!(after_upgrade.balance.available, 26_000);
    assert_eq!(totals().deposits, 26_000);
    assert_eq!(
        rt.btc.borrow().key_calls,
        1,
        "the key is fetched once and kept in stable memory"
    );
    let deposited = events()
        .iter()
        .filter(|e| matches!(e, EventKind::BtcDeposited { .. }))
        .count();
    assert_eq!(deposited, 4);
    assert_eq!(read_state(|s| s.btc_pool_utxos().len()), 4);
    assert!(read_state(|s| s
        .btc_pool_utxos()
        .iter()
        .all(|p| p.path == deposit_derivation_path(&alice, None))));
    snapshot();
}

#[test]
fn a_failed_page_credits_nothing_and_the_timer_credits_watched_addresses() {
    let rt = setup();
    let bob = user(2);
    let address = rt.btc_address(bob);
    for value in [2_000, 3_000, 4_000] {
        rt.btc.borrow_mut().pay(&address, value);
    }
    rt.btc.borrow_mut().blocks(2);
    rt.btc.borrow_mut().utxo_calls_to_fail = 1;
    assert!(matches!(
        rt.update_btc(bob),
        Err(BtcBalanceError::BitcoinCanister { .. })
    ));
    assert_eq!(totals().deposits, 0);
    // The timer checks addresses that were requested recently.
    rt.btc_round();
    assert_eq!(read_state(|s| s.balance(&bob)).available, 9_000);
    rt.btc_round();
    assert_eq!(totals().deposits, 9_000);
    // Looking up someone else's address does not make the timer watch it.
    let watched = |p: Principal| read_state(|s| s.btc_watch.contains_key(&p));
    rt.as_caller(user(9));
    futures::executor::block_on(crate::btc::get_deposit_address(&rt, Some(user(8)))).unwrap();
    assert!(!watched(user(8)));
    rt.as_caller(user(8));
    futures::executor::block_on(crate::btc::get_deposit_address(&rt, None)).unwrap();
    assert!(watched(user(8)), "an owner's own request is watched");
    // A week later the address is no longer watched.
    rt.advance_secs(8 * 86_400);
    rt.btc.borrow_mut().pay(&address, 5_000);
    rt.btc.borrow_mut().blocks(2);
    rt.btc_round();
    assert_eq!(totals().deposits, 9_000);
    assert_eq!(rt.update_btc(bob).unwrap().credited.len(), 1);
    snapshot();
}

#[test]
fn withdraw_btc_checks_the_address_amount_and_funds() {
    let rt = setup();
    let alice = user(1);
    fund_btc(&rt, alice, 10_000);
    let mainnet = BitcoinAddress::P2wpkh([1; 20]).encode(Network::Mainnet);
    assert!(matches!(
        rt.withdraw_btc(alice, &mainnet, 3_000),
        Err(BtcWithdrawError::InvalidAddress {
            reason: AddressError::WrongNetwork { .. }
        })
    ));
    assert!(matches!(
        rt.withdraw_btc(alice, "", 3_000),
        Err(BtcWithdrawError::InvalidAddress {
            reason: AddressError::Empty
        })
    ));
    assert_eq!(
        rt.withdraw_btc(alice, &payee(1), 1_999),
        Err(BtcWithdrawError::AmountTooSmall { min: 2_000 })
    );
    assert_eq!(
        rt.withdraw_btc(alice, &payee(1), 10_001),
        Err(BtcWithdrawError::InsufficientFunds { available: 10_000 })
    );
    assert_eq!(
        rt.withdraw_btc(Principal::anonymous(), &payee(1), 3_000),
        Err(BtcWithdrawError::AnonymousCaller)
    );
    let request = rt
        .withdraw_btc(alice, &payee(1).to_uppercase(), 3_000)
        .unwrap();
    assert_eq!(request.address, payee(1), "stored normalised");
    assert_eq!(read_state(|s| s.balance(&alice)).available, 7_000);
    assert_eq!(totals().pending_payouts, 3_000);
    // The key name is fixed once the key is cached; read-only refuses BTC moves.
    rt.as_caller(ADMIN);
    let rename = ConfigUpdate {
        ecdsa_key_name: Some("key_1".into()),
        ..ConfigUpdate::default()
    };
    assert!(matches!(
        crate::lifecycle::set_config(&rt, rename),
        Err(ConfigError::Invalid { .. })
    ));
    let network = ConfigUpdate {
        btc_network: Some(BtcNetwork::Testnet),
        ..ConfigUpdate::default()
    };
    assert!(matches!(
        crate::lifecycle::set_config(&rt, network),
        Err(ConfigError::Invalid { .. })
    ));
    let read_only = ConfigUpdate {
        read_only: Some(true),
        ..ConfigUpdate::default()
    };
    crate::lifecycle::set_config(&rt, read_only).unwrap();
    assert_eq!(
        rt.withdraw_btc(alice, &payee(1), 3_000),
        Err(BtcWithdrawError::ReadOnly)
    );
    assert_eq!(rt.update_btc(alice), Err(BtcBalanceError::ReadOnly));
    snapshot();
}

#[test]
fn payouts_are_batched_signed_sent_and_finalised() {
    let rt = setup();
    let alice = user(1);
    fund_btc(&rt, alice, 60_000);
    fund_btc(&rt, alice, 40_000);
    rt.withdraw_btc(alice, &payee(1), 30_000).unwrap();
    rt.withdraw_btc(alice, &payee(2), 20_000).unwrap();
    rt.btc_round();
    assert!(
        rt.btc.borrow().sent.is_empty(),
        "2 of 3 requests, not waited 10 minutes"
    );
    rt.withdraw_btc(alice, &payee(3), 5_000).unwrap();
    rt.btc_round();
    assert_eq!(rt.btc.borrow().sent.len(), 1);
    let batch = batches().pop().unwrap();
    assert_eq!(batch.requests.len(), 3);
    assert_eq!(
        batch
            .built
            .spent_utxos
            .iter()
            .map(|u| u.value)
            .collect::<Vec<_>>(),
        [60_000]
    );
    assert_eq!(
        read_state(|s| s.btc_pool_utxos().len()),
        1,
        "the spent input left the pool"
    );
    assert_verifies(&rt, &rt.btc.borrow().sent[0], &batch);
    assert_eq!(rt.btc.borrow().signatures, 1);
    let change = batch.built.change.unwrap();
    assert_eq!(change, 5_000);
    // Mined but with 1 of 2 confirmations: still pending.
    rt.btc.borrow_mut().mine();
    rt.btc_round();
    assert_eq!(batches().len(), 1);
    assert_eq!(totals().pending_payouts, 55_000);
    rt.btc.borrow_mut().blocks(1);
    rt.btc_round();
    assert!(batches().is_empty());
    let t = totals();
    assert_eq!(
        (t.pending_payouts, t.withdrawals, t.available),
        (0, 55_000, 45_000)
    );
    let shares = &batch.built.fee_shares;
    for (i, (amount, p)) in [(30_000, 1), (20_000, 2), (5_000, 3)]
        .into_iter()
        .enumerate()
    {
        assert_eq!(rt.btc.borrow().balance(&payee(p)), amount - shares[i]);
    }
    let pool = read_state(|s| s.btc_pool_utxos());
    let change_utxo = pool
        .iter()
        .find(|p| p.path == main_derivation_path())
        .unwrap();
    assert_eq!(change_utxo.utxo.value, change);
    // What the escrow holds on chain is what the books say.
    let on_chain = rt.btc.borrow().balance(&main_address_string(&rt))
        + rt.btc.borrow().balance(&rt.btc_address(alice));
    assert_eq!(on_chain, t.deposits - t.withdrawals);
    assert!(events()
        .iter()
        .any(|e| matches!(e, EventKind::BtcPayoutConfirmed { amount: 55_000, .. })));
    snapshot();
}

#[test]
fn a_lone_request_goes_out_after_the_wait_and_a_refused_send_is_retried() {
    let rt = setup();
    let alice = user(1);
    fund_btc(&rt, alice, 20_000);
    rt.withdraw_btc(alice, &payee(1), 8_000).unwrap();
    rt.advance_secs(599);
    rt.btc_round();
    assert!(batches().is_empty());
    rt.advance_secs(1);
    rt.btc.borrow_mut().sends_to_refuse = 1;
    rt.btc_round();
    let batch = batches().pop().unwrap();
    assert_eq!(batch.last_sent_ns, 0);
    assert!(batch.last_error.is_some());
    assert!(rt.btc.borrow().sent.is_empty());
    rt.btc_round();
    assert_eq!(rt.btc.borrow().sent.len(), 1);
    assert_eq!(
        rt.btc.borrow().signatures,
        1,
        "signed once, sent again without re-signing"
    );
    assert_verifies(&rt, &rt.btc.borrow().sent[0], &batches()[0]);
    confirm(&rt);
    assert!(batches().is_empty());
    assert_eq!(totals().withdrawals, 8_000);
    snapshot();
}

#[test]
fn an_unconfirmed_payout_is_replaced_by_fee_after_the_delay() {
    let memory = DefaultMemoryImpl::default();
    let rt = fresh(memory.clone());
    let alice = user(1);
    fund_btc(&rt, alice, 50_000);
    for i in 1..=3 {
        rt.withdraw_btc(alice, &payee(i), 10_000).unwrap();
    }
    rt.btc_round();
    let first = batches().pop().unwrap();
    rt.advance_secs(3_599);
    rt.btc_round();
    assert_eq!(rt.btc.borrow().sent.len(), 1, "not yet due");
    rt.advance_secs(1);
    install_state(State::new(memory.clone()));
    rt.btc.borrow_mut().percentiles = vec![5_000; 101];
    rt.btc_round();
    assert_eq!(rt.btc.borrow().sent.len(), 2);
    let second = batches().pop().unwrap();
    assert_eq!(second.versions.len(), 2);
    assert_eq!(
        second.built.spent_utxos, first.built.spent_utxos,
        "same inputs: the two conflict"
    );
    assert!(
        second.built.fee >= first.built.fee + second.built.vsize,
        "BIP-125 rules 3 and 4"
    );
    assert_eq!(second.built.fee, second.built.vsize * 5, "the current rate");
    assert_verifies(&rt, &rt.btc.borrow().sent[1], &second);
    assert!(events()
        .iter()
        .any(|e| matches!(e, EventKind::BtcTransactionReplaced { .. })));
    let mined = { rt.btc.borrow_mut().mine() };
    assert_eq!(mined.len(), 1);
    assert_eq!(mined[0].txid, second.built.txid());
    rt.btc.borrow_mut().blocks(1);
    rt.btc_round();
    assert!(batches().is_empty());
    let t = totals();
    assert_eq!((t.withdrawals, t.pending_payouts), (30_000, 0));
    for i in 1..=3u8 {
        let share = second.built.fee_shares[i as usize - 1];
        assert_eq!(rt.btc.borrow().balance(&payee(i)), 10_000 - share);
    }
    snapshot();
}

#[test]
fn a_mined_payout_is_not_replaced_while_it_gathers_confirmations() {
    let rt = setup();
    let alice = user(1);
    fund_btc(&rt, alice, 50_000);
    rt.withdraw_btc(alice, &payee(1), 10_000).unwrap();
    rt.advance_secs(600);
    rt.btc_round();
    rt.btc.borrow_mut().mine();
    rt.advance_secs(3_600);
    rt.btc_round();
    assert_eq!(rt.btc.borrow().sent.len(), 1, "in a block: no replacement");
    assert_eq!(batches()[0].versions.len(), 1);
    rt.btc.borrow_mut().blocks(1);
    rt.btc_round();
    assert!(batches().is_empty());
    assert_eq!(totals().withdrawals, 10_000);
    snapshot();
}

#[test]
fn inputs_from_several_deposit_addresses_are_each_signed_with_their_own_key() {
    let rt = setup();
    let (alice, bob) = (user(1), user(2));
    fund_btc(&rt, alice, 30_000);
    fund_btc(&rt, bob, 25_000);
    rt.withdraw_btc(alice, &payee(1), 28_000).unwrap();
    rt.withdraw_btc(bob, &payee(2), 20_000).unwrap();
    rt.advance_secs(600);
    rt.btc_round();
    let first = batches().pop().unwrap();
    assert_eq!(first.paths.len(), 2);
    assert_ne!(first.paths[0], first.paths[1]);
    assert_verifies(&rt, &rt.btc.borrow().sent[0], &first);
    rt.advance_secs(3_600);
    rt.btc.borrow_mut().percentiles = vec![4_000; 101];
    rt.btc_round();
    let second = batches().pop().unwrap();
    assert_eq!(second.versions.len(), 2);
    assert_verifies(&rt, &rt.btc.borrow().sent[1], &second);
    assert_eq!(rt.btc.borrow().signatures, 4);
    confirm(&rt);
    assert!(batches().is_empty());
    let t = totals();
    assert_eq!((t.withdrawals, t.pending_payouts), (48_000, 0));
    let pool = read_state(|s| s.btc_pool_utxos());
    assert_eq!(pool.len(), 1);
    assert_eq!(
        (pool[0].utxo.value, pool[0].path.clone()),
        (7_000, main_derivation_path())
    );
    let metrics = crate::metrics::metrics();
    for line in [
        "escrow_btc_pool_sats 7000",
        "escrow_btc_pool_utxos 1",
        "escrow_btc_transactions_unconfirmed 0",
        "escrow_btc_deposit_utxos_seen 2",
        "escrow_invariant_ok 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    snapshot();
}

#[test]
fn payouts_that_would_be_dust_after_their_fee_share_go_back_to_available() {
    let rt = setup();
    let alice = user(1);
    fund_btc(&rt, alice, 100_000);
    // 20 sat/vB: with two payouts and change each share is about 1,720 sat,
    // so 2,000 − share is under the 294-sat dust threshold of P2WPKH.
    rt.btc.borrow_mut().percentiles = vec![20_000; 101];
    let small = rt.withdraw_btc(alice, &payee(1), 2_000).unwrap();
    rt.withdraw_btc(alice, &payee(2), 50_000).unwrap();
    rt.advance_secs(600);
    rt.btc_round();
    let batch = batches().pop().unwrap();
    assert_eq!(batch.requests.len(), 1);
    assert!(read_state(|s| s.btc_request(small.id)).is_none());
    assert!(events().iter().any(|e| matches!(
        e,
        EventKind::BtcPayoutRejected { request_id, amount: 2_000, .. } if *request_id == small.id
    )));
    let t = totals();
    assert_eq!((t.available, t.pending_payouts), (50_000, 50_000));
    assert_verifies(&rt, &rt.btc.borrow().sent[0], &batch);
    confirm(&rt);
    assert_eq!(totals().withdrawals, 50_000);
    snapshot();
}

#[test]
fn change_too_small_to_keep_is_paid_by_the_treasury() {
    let rt = setup();
    let (alice, bob) = (user(1), user(2));
    fund_btc(&rt, alice, 10_200);
    fund_btc(&rt, bob, 1_000);
    // Bob's 1,000 reach the treasury as a job's fee.
    rt.as_caller(ROUTER);
    crate::api::hold(&rt, "j".into(), bob, 1_000).unwrap();
    crate::api::release(&rt, "j".into(), vec![], 1_000).unwrap();
    rt.withdraw_btc(alice, &payee(1), 10_000).unwrap();
    rt.advance_secs(600);
    rt.btc_round();
    let batch = batches().pop().unwrap();
    assert_eq!((batch.built.change, batch.built.change_to_fee), (None, 200));
    assert_eq!(batch.treasury_debit, 200);
    assert_eq!(totals().treasury, 800);
    assert_eq!(totals().pending_payouts, 10_200);
    // No change output: finalisation watches the payee's address.
    confirm(&rt);
    let t = totals();
    assert_eq!(
        (t.withdrawals, t.pending_payouts, t.treasury),
        (10_200, 0, 800)
    );
    assert_eq!(rt.btc.borrow().balance(&rt.btc_address(alice)), 0);
    assert_eq!(
        rt.btc.borrow().balance(&payee(1)),
        10_000 - batch.built.fee_shares[0]
    );
    assert_eq!(t.deposits - t.withdrawals, t.available + t.treasury);
    assert_eq!(
        t.deposits - t.withdrawals,
        rt.btc.borrow().balance(&rt.btc_address(bob))
    );
    snapshot();
}

#[derive(Debug, Clone)]
enum Op {
    Deposit { who: u8, amount: u64 },
    Withdraw { who: u8, to: u8, amount: u64 },
    Round { wait_secs: u64 },
    Mine { blocks: u32 },
    Rate { sat_per_vb: u64 },
    Hold { who: u8, amount: u64, fee: u64 },
    Upgrade,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3, 500u64..40_000).prop_map(|(who, amount)| Op::Deposit { who, amount }),
        3 => (0u8..3, 0u8..4, 0u64..25_000).prop_map(|(who, to, amount)| Op::Withdraw { who, to, amount }),
        3 => (0u64..4_000).prop_map(|wait_secs| Op::Round { wait_secs }),
        2 => (0u32..3).prop_map(|blocks| Op::Mine { blocks }),
        1 => (1u64..40).prop_map(|sat_per_vb| Op::Rate { sat_per_vb }),
        1 => (0u8..3, 1u64..5_000, 0u64..1_000).prop_map(|(who, amount, fee)| Op::Hold { who, amount, fee }),
        1 => Just(Op::Upgrade),
    ]
}

fn apply(rt: &FakeRuntime, memory: &DefaultMemoryImpl, op: Op, job: &mut u32) {
    match op {
        Op::Deposit { who, amount } => {
            let address = rt.btc_address(user(who));
            rt.btc.borrow_mut().pay(&address, amount);
            let _ = rt.update_btc(user(who));
        }
        Op::Withdraw { who, to, amount } => {
            let _ = rt.withdraw_btc(user(who), &payee(to), amount);
        }
        Op::Round { wait_secs } => {
            rt.advance_secs(wait_secs);
            rt.btc_round();
        }
        Op::Mine { blocks } => {
            rt.btc.borrow_mut().mine();
            rt.btc.borrow_mut().blocks(blocks);
        }
        Op::Rate { sat_per_vb } => rt.btc.borrow_mut().percentiles = vec![sat_per_vb * 1_000; 101],
        Op::Hold { who, amount, fee } => {
            *job += 1;
            rt.as_caller(ROUTER);
            if crate::api::hold(rt, job.to_string(), user(who), amount).is_ok() {
                crate::api::release(rt, job.to_string(), vec![], fee.min(amount)).unwrap();
            }
        }
        Op::Upgrade => install_state(State::new(memory.clone())),
    }
}

/// Value on chain at the escrow's addresses that the books count: credited
/// deposit UTXOs and confirmed change (ignored small deposits excluded).
fn escrow_on_chain(rt: &FakeRuntime) -> u64 {
    let (ignored, mut addresses): (u64, Vec<String>) = read_state(|s| {
        let ignored = s
            .btc_deposits
            .iter()
            .filter(|e| !e.value().0.credited)
            .map(|e| e.value().0.amount)
            .sum();
        (ignored, vec![])
    });
    addresses.push(main_address_string(rt));
    addresses.extend((0..3).map(|i| rt.btc_address(user(i))));
    addresses
        .iter()
        .map(|a| rt.btc.borrow().balance(a))
        .sum::<u64>()
        - ignored
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// `mutate_state` checks conservation after every change; at the end,
    /// once everything sent is mined and confirmed, the escrow's coins on
    /// chain equal deposits − withdrawals, the pool holds exactly them, and
    /// the log replays to the balances.
    #[test]
    fn conservation_holds_with_btc_deposits_payouts_and_replacements(ops in prop::collection::vec(op(), 1..40)) {
        let memory = DefaultMemoryImpl::default();
        let rt = fresh(memory.clone());
        let mut job = 0;
        for op in ops {
            apply(&rt, &memory, op, &mut job);
        }
        for _ in 0..6 {
            rt.btc.borrow_mut().blocks(2);
            for i in 0..3 {
                let _ = rt.update_btc(user(i));
            }
            rt.advance_secs(4_000);
            rt.btc_round();
            confirm(&rt);
        }
        rt.btc.borrow_mut().mine();
        rt.btc.borrow_mut().blocks(2);
        rt.btc_round();
        prop_assert!(batches().is_empty(), "every sent batch confirmed: {:?}", batches().iter().map(|b| b.info()).collect::<Vec<_>>());
        let t = totals();
        let pool: u64 = read_state(|s| s.btc_pool_utxos().iter().map(|p| p.utxo.value).sum());
        prop_assert_eq!(escrow_on_chain(&rt), t.deposits - t.withdrawals);
        prop_assert_eq!(pool, t.deposits - t.withdrawals);
        let queued: u64 = read_state(|s| s.btc_queued().iter().map(|r| r.amount).sum());
        prop_assert_eq!(t.pending_payouts, queued);
        prop_assert_eq!(t.deposits - t.withdrawals, t.available + t.treasury + t.pending_payouts);
        rt.btc.borrow().assert_no_double_spend();
        snapshot();
    }
}
