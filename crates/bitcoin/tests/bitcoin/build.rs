//! Batch payouts: the size formula, dust and fee-share edge cases, errors,
//! determinism, RBF replacements, and value conservation (property tests).

use crate::common::bytes;
use proptest::prelude::*;
use tensormine_bitcoin::build::{distribute, MAX_INPUTS, MAX_REQUESTS};
use tensormine_bitcoin::fees::INCREMENTAL_RELAY_FEE_RATE;
use tensormine_bitcoin::tx::SEQUENCE_RBF;
use tensormine_bitcoin::{
    build_payout, fake_sign, fee_for_vsize, replace, BitcoinAddress, BuildError, BuiltTransaction,
    OutPoint, PayoutRequest, Utxo,
};

fn change() -> BitcoinAddress {
    BitcoinAddress::P2wpkh([0xcc; 20])
}

fn utxo(seed: u64, value: u64) -> Utxo {
    Utxo {
        outpoint: OutPoint {
            txid: bytes("utxo", seed),
            vout: (seed % 7) as u32,
        },
        value,
        height: 1,
    }
}

fn p2wpkh_request(i: u64, amount: u64) -> PayoutRequest {
    PayoutRequest {
        address: BitcoinAddress::P2wpkh(bytes("payee", i)),
        amount,
    }
}

fn address(kind: u8, seed: u64) -> BitcoinAddress {
    match kind % 5 {
        0 => BitcoinAddress::P2wpkh(bytes("a", seed)),
        1 => BitcoinAddress::P2wsh(bytes("a", seed)),
        2 => BitcoinAddress::P2tr(bytes("a", seed)),
        3 => BitcoinAddress::P2pkh(bytes("a", seed)),
        _ => BitcoinAddress::P2sh(bytes("a", seed)),
    }
}

/// One P2WPKH input, N P2WPKH payouts and a P2WPKH change output: weight
/// 438 + 124·N, i.e. 109.5 + 31·N vbytes (rounded up by Bitcoin: 110 + 31·N).
#[test]
fn p2wpkh_batch_size_formula() {
    for n in 1..=MAX_REQUESTS as u64 {
        let requests: Vec<_> = (0..n).map(|i| p2wpkh_request(i, 100_000)).collect();
        let built = build_payout(&requests, &[utxo(0, 1_000_000_000)], &change(), 1_000).unwrap();
        assert_eq!(built.tx.inputs.len(), 1);
        assert_eq!(built.tx.outputs.len() as u64, n + 1);
        let signed = fake_sign(&built.tx);
        assert_eq!(signed.weight(), 438 + 124 * n, "N = {n}");
        // 109.5 + 31 N, rounded up.
        assert_eq!(built.vsize, (2 * (1095 + 310 * n)).div_ceil(20), "N = {n}");
        assert_eq!(built.vsize, 110 + 31 * n);
        assert_eq!(built.fee, built.vsize); // 1 sat/vB
    }
    // Each further input adds 68 vbytes (272 weight units).
    let requests: Vec<_> = (0..10).map(|i| p2wpkh_request(i, 100_000)).collect();
    let utxos: Vec<_> = (0..5).map(|i| utxo(i, 260_000)).collect();
    let built = build_payout(&requests, &utxos, &change(), 1_000).unwrap();
    assert_eq!(built.tx.inputs.len(), 4);
    assert_eq!(fake_sign(&built.tx).weight(), 438 + 124 * 10 + 3 * 272);
}

/// The shares for a given shape, found by building with large amounts.
fn shares_for(requests: &[PayoutRequest], utxos: &[Utxo], rate: u64) -> Vec<u64> {
    let big: Vec<_> = requests
        .iter()
        .map(|r| PayoutRequest {
            amount: 10_000,
            ..r.clone()
        })
        .collect();
    build_payout(&big, utxos, &change(), rate)
        .unwrap()
        .fee_shares
}

#[test]
fn payout_at_dust_after_fee_share_is_refused_one_above_is_paid() {
    let utxos = [utxo(0, 10_000_000)];
    let rate = 2_500;
    let kinds = [
        BitcoinAddress::P2wpkh([1; 20]),
        BitcoinAddress::P2tr([2; 32]),
        BitcoinAddress::P2pkh([3; 20]),
        BitcoinAddress::P2sh([4; 20]),
        BitcoinAddress::P2wsh([5; 32]),
    ];
    let requests: Vec<_> = kinds
        .iter()
        .map(|a| PayoutRequest {
            address: a.clone(),
            amount: 0,
        })
        .collect();
    let shares = shares_for(&requests, &utxos, rate);
    // Exactly at dust + share: every one refused, each named.
    let at: Vec<_> = requests
        .iter()
        .zip(&shares)
        .map(|(r, s)| PayoutRequest {
            amount: s + r.address.dust_threshold(),
            ..r.clone()
        })
        .collect();
    match build_payout(&at, &utxos, &change(), rate) {
        Err(BuildError::DustOutputs { outputs }) => {
            assert_eq!(outputs.len(), kinds.len());
            for (i, o) in outputs.iter().enumerate() {
                assert_eq!(o.request_index as usize, i);
                assert_eq!(o.address, kinds[i]);
                assert_eq!(o.fee_share, shares[i]);
                assert_eq!(o.amount, shares[i] + o.dust_threshold);
            }
            let thresholds: Vec<_> = outputs.iter().map(|o| o.dust_threshold).collect();
            assert_eq!(thresholds, vec![294, 330, 546, 540, 330]);
        }
        other => panic!("expected dust outputs, got {other:?}"),
    }
    // One satoshi more: all paid, each receiving dust + 1.
    let above: Vec<_> = at
        .iter()
        .map(|r| PayoutRequest {
            amount: r.amount + 1,
            ..r.clone()
        })
        .collect();
    let built = build_payout(&above, &utxos, &change(), rate).unwrap();
    for (value, r) in built.payout_values().iter().zip(&above) {
        assert_eq!(*value, r.address.dust_threshold() + 1);
    }
    // Only the second one at dust: only it is named.
    let mut mixed = above.clone();
    mixed[1].amount -= 1;
    match build_payout(&mixed, &utxos, &change(), rate) {
        Err(BuildError::DustOutputs { outputs }) => {
            assert_eq!(outputs.len(), 1);
            assert_eq!(outputs[0].request_index, 1);
        }
        other => panic!("expected dust outputs, got {other:?}"),
    }
    // An amount of zero is dust whatever the fee.
    assert!(matches!(
        build_payout(&[p2wpkh_request(0, 0)], &utxos, &change(), 0),
        Err(BuildError::DustOutputs { .. })
    ));
}

#[test]
fn fee_is_shared_equally_remainder_first() {
    let requests: Vec<_> = (0..3).map(|i| p2wpkh_request(i, 50_000)).collect();
    let built = build_payout(&requests, &[utxo(0, 1_000_000)], &change(), 1_000).unwrap();
    // 1 input, 3 payouts + change: 10.5 + 68 + 4·31 = 202.5 -> 203 vB -> 203 sat.
    assert_eq!(built.vsize, 203);
    assert_eq!(built.fee, 203);
    assert_eq!(built.fee_shares, vec![68, 68, 67]);
    assert_eq!(built.payout_values(), vec![49_932, 49_932, 49_933]);
    assert_eq!(built.change, Some(1_000_000 - 150_000));
    assert_eq!(built.change_to_fee, 0);
    assert_eq!(distribute(203, 3), built.fee_shares);
    // The fee is rounded up: 203 vB at 1.5 sat/vB = 304.5 -> 305.
    let built = build_payout(&requests, &[utxo(0, 1_000_000)], &change(), 1_500).unwrap();
    assert_eq!(built.fee, 305);
}

#[test]
fn change_at_dust_goes_to_fee_and_pays_part_of_it() {
    let requests = vec![p2wpkh_request(0, 100_000), p2wpkh_request(1, 100_000)];
    // Change of exactly 294 (P2WPKH dust): no change output, 294 to the fee.
    let built = build_payout(&requests, &[utxo(0, 200_294)], &change(), 1_000).unwrap();
    assert_eq!(built.change, None);
    assert_eq!(built.tx.outputs.len(), 2);
    assert_eq!(built.change_to_fee, 294);
    // 1 input, 2 outputs: 10.5 + 68 + 62 = 140.5 -> 141 vB at 1 sat/vB: the
    // dropped change covers it, the payouts pay nothing.
    assert_eq!(built.vsize, 141);
    assert_eq!(built.fee_shares, vec![0, 0]);
    assert_eq!(built.fee, 294);
    assert_eq!(built.payout_values(), vec![100_000, 100_000]);
    // At 5 sat/vB (705 sat) the payouts share 705 - 294 = 411.
    let built = build_payout(&requests, &[utxo(0, 200_294)], &change(), 5_000).unwrap();
    assert_eq!(built.fee_shares, vec![206, 205]);
    assert_eq!(built.fee, 705);
    // One satoshi more: a change output of 295, and the payouts pay the fee
    // of the larger transaction (172 vB).
    let built = build_payout(&requests, &[utxo(0, 200_295)], &change(), 1_000).unwrap();
    assert_eq!(built.change, Some(295));
    assert_eq!(built.tx.outputs.len(), 3);
    assert_eq!(built.tx.outputs[2].address, change());
    assert_eq!(built.vsize, 172);
    assert_eq!(built.fee, 172);
    assert_eq!(built.fee_shares, vec![86, 86]);
    // Exact amount: no change at all.
    let built = build_payout(&requests, &[utxo(0, 200_000)], &change(), 1_000).unwrap();
    assert_eq!((built.change, built.change_to_fee), (None, 0));
}

#[test]
fn selection_is_largest_first_and_order_independent() {
    let utxos: Vec<_> = [5_000u64, 80_000, 20_000, 80_000, 1_000, 0, 60_000]
        .iter()
        .enumerate()
        .map(|(i, v)| utxo(i as u64, *v))
        .collect();
    let requests = vec![p2wpkh_request(0, 150_000)];
    let built = build_payout(&requests, &utxos, &change(), 1_000).unwrap();
    let values: Vec<_> = built.spent_utxos.iter().map(|u| u.value).collect();
    assert_eq!(values, vec![80_000, 80_000]);
    // Ties broken by outpoint.
    assert!(built.spent_utxos[0].outpoint < built.spent_utxos[1].outpoint);
    for (input, u) in built.tx.inputs.iter().zip(&built.spent_utxos) {
        assert_eq!(input.previous_output, u.outpoint);
        assert_eq!(input.value, u.value);
        assert_eq!(input.sequence, SEQUENCE_RBF);
    }
    assert_eq!(built.tx.lock_time, 0);
    let mut reversed = utxos.clone();
    reversed.reverse();
    assert_eq!(
        build_payout(&requests, &reversed, &change(), 1_000).unwrap(),
        built
    );
    let requests = vec![p2wpkh_request(0, 160_001)];
    let built = build_payout(&requests, &utxos, &change(), 1_000).unwrap();
    let values: Vec<_> = built.spent_utxos.iter().map(|u| u.value).collect();
    assert_eq!(values, vec![80_000, 80_000, 60_000]);
}

#[test]
fn typed_errors() {
    let utxos: Vec<_> = (0..150).map(|i| utxo(i, 1_000)).collect();
    assert_eq!(
        build_payout(&[], &utxos, &change(), 1_000),
        Err(BuildError::NoRequests)
    );
    let many: Vec<_> = (0..101).map(|i| p2wpkh_request(i, 1_000)).collect();
    assert_eq!(
        build_payout(&many, &utxos, &change(), 1_000),
        Err(BuildError::TooManyRequests {
            count: 101,
            max: 100
        })
    );
    assert_eq!(
        build_payout(&[p2wpkh_request(0, 150_001)], &utxos, &change(), 1_000),
        Err(BuildError::InsufficientFunds {
            requested: 150_001,
            available: 150_000
        })
    );
    assert_eq!(
        build_payout(&[p2wpkh_request(0, 100_001)], &utxos, &change(), 1_000),
        Err(BuildError::TooManyInputs {
            needed: 101,
            max: MAX_INPUTS as u32,
            requested: 100_001
        })
    );
    // Exactly 100 inputs is fine.
    let built = build_payout(&[p2wpkh_request(0, 100_000)], &utxos, &change(), 1_000).unwrap();
    assert_eq!(built.tx.inputs.len(), 100);
    let dup = vec![utxo(1, 5_000), utxo(2, 5_000), utxo(1, 5_000)];
    assert_eq!(
        build_payout(&[p2wpkh_request(0, 1_000)], &dup, &change(), 1_000),
        Err(BuildError::DuplicateUtxo {
            outpoint: utxo(1, 0).outpoint
        })
    );
    assert_eq!(
        build_payout(
            &[p2wpkh_request(0, u64::MAX), p2wpkh_request(1, 1)],
            &utxos,
            &change(),
            1_000
        ),
        Err(BuildError::AmountOverflow)
    );
    let e = BuildError::DustOutputs {
        outputs: vec![tensormine_bitcoin::DustOutput {
            request_index: 3,
            address: change(),
            amount: 300,
            fee_share: 10,
            dust_threshold: 294,
        }],
    };
    assert!(e.to_string().contains("requests 3"), "{e}");
}

#[test]
fn replacement_pays_old_fee_plus_incremental_relay_fee() {
    let requests: Vec<_> = (0..20).map(|i| p2wpkh_request(i, 30_000 + i)).collect();
    let utxos: Vec<_> = (0..10).map(|i| utxo(i, 100_000)).collect();
    let built = build_payout(&requests, &utxos, &change(), 2_000).unwrap();

    // Same rate: the minimum bump, old fee + vsize × 1 sat/vB.
    let bumped = replace(&built, 2_000).unwrap();
    assert_eq!(bumped.spent_utxos, built.spent_utxos);
    assert_eq!(
        bumped
            .tx
            .inputs
            .iter()
            .map(|i| i.previous_output)
            .collect::<Vec<_>>(),
        built
            .tx
            .inputs
            .iter()
            .map(|i| i.previous_output)
            .collect::<Vec<_>>()
    );
    assert_eq!(bumped.vsize, built.vsize);
    assert_eq!(
        bumped.fee,
        built.fee + fee_for_vsize(built.vsize, INCREMENTAL_RELAY_FEE_RATE)
    );
    assert_ne!(bumped.txid(), built.txid());
    assert_eq!(bumped.change, built.change);
    // A much higher rate: the fee at that rate.
    let high = replace(&built, 20_000).unwrap();
    assert_eq!(high.fee, fee_for_vsize(built.vsize, 20_000));
    // Replacing the replacement bumps again (rule 3 against the latest).
    let again = replace(&bumped, 1_000).unwrap();
    assert_eq!(again.fee, bumped.fee + built.vsize);
    // The payouts bear it; when they cannot, it is refused.
    assert!(matches!(
        replace(&built, 5_000_000),
        Err(BuildError::DustOutputs { .. })
    ));
}

#[test]
fn candid_round_trip_of_built_transaction() {
    use candid::{Decode, Encode};
    let requests = vec![
        p2wpkh_request(0, 50_000),
        PayoutRequest {
            address: address(2, 9),
            amount: 70_000,
        },
    ];
    let built = build_payout(&requests, &[utxo(0, 1_000_000)], &change(), 3_000).unwrap();
    let bytes = Encode!(&built).unwrap();
    assert_eq!(Decode!(&bytes, BuiltTransaction).unwrap(), built);
    let e = BuildError::InsufficientFunds {
        requested: 1,
        available: 0,
    };
    assert_eq!(Decode!(&Encode!(&e).unwrap(), BuildError).unwrap(), e);
}

fn check_invariants(built: &BuiltTransaction, requests: &[PayoutRequest], rate: u64) {
    let inputs: u64 = built.spent_utxos.iter().map(|u| u.value).sum();
    let outputs = built.tx.output_value();
    assert_eq!(inputs, outputs + built.fee, "inputs = outputs + fee");
    assert_eq!(built.tx.input_value(), inputs);
    assert_eq!(
        built.fee,
        built.fee_shares.iter().sum::<u64>() + built.change_to_fee,
        "fee = shares + change to fee"
    );
    assert!(
        built.fee >= fee_for_vsize(built.vsize, rate),
        "fee covers the rate"
    );
    assert_eq!(built.vsize, fake_sign(&built.tx).vsize());
    assert!(built.tx.inputs.len() <= MAX_INPUTS);
    assert_eq!(
        built.tx.outputs.len(),
        requests.len() + usize::from(built.change.is_some())
    );
    let max = built.fee_shares.iter().max().unwrap();
    let min = built.fee_shares.iter().min().unwrap();
    assert!(max - min <= 1, "shares equal up to a satoshi");
    for (i, r) in requests.iter().enumerate() {
        let out = &built.tx.outputs[i];
        assert_eq!(out.address, r.address);
        assert_eq!(out.value, r.amount - built.fee_shares[i]);
        assert!(out.value > r.address.dust_threshold(), "no dust payout");
    }
    match built.change {
        Some(c) => {
            let last = built.tx.outputs.last().unwrap();
            assert_eq!((last.value, &last.address), (c, &built.change_address));
            assert!(c > built.change_address.dust_threshold());
            assert_eq!(built.change_to_fee, 0);
        }
        None => assert!(built.change_to_fee <= built.change_address.dust_threshold()),
    }
    let requested: u64 = requests.iter().map(|r| r.amount).sum();
    assert_eq!(
        inputs,
        requested + built.change.unwrap_or(0) + built.change_to_fee,
        "inputs = requested + change"
    );
}

fn arb_case() -> impl Strategy<Value = (Vec<PayoutRequest>, Vec<Utxo>, u64)> {
    (
        prop::collection::vec((any::<u8>(), any::<u64>(), 0u64..2_000_000), 1..40),
        prop::collection::vec((any::<u64>(), 0u64..3_000_000), 0..60),
        0u64..60_000,
    )
        .prop_map(|(requests, utxos, rate)| {
            (
                requests
                    .into_iter()
                    .map(|(kind, seed, amount)| PayoutRequest {
                        address: address(kind, seed),
                        amount,
                    })
                    .collect(),
                utxos
                    .into_iter()
                    .enumerate()
                    .map(|(i, (seed, value))| Utxo {
                        outpoint: OutPoint {
                            txid: bytes("p", seed),
                            vout: i as u32,
                        },
                        value,
                        height: 0,
                    })
                    .collect(),
                rate,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever the requests, UTXOs and rate: a built transaction conserves
    /// value (Σ inputs = Σ outputs + fee), pays at least the rate, has no
    /// dust payout; a replacement does the same with a higher fee; and a
    /// refusal has its stated reason.
    #[test]
    fn build_conserves_value((requests, utxos, rate) in arb_case(), bump in 0u64..60_000) {
        let requested: u64 = requests.iter().map(|r| r.amount).sum();
        let available: u64 = utxos.iter().map(|u| u.value).sum();
        match build_payout(&requests, &utxos, &change(), rate) {
            Ok(built) => {
                check_invariants(&built, &requests, rate);
                let mut shuffled = utxos.clone();
                shuffled.reverse();
                prop_assert_eq!(&build_payout(&requests, &shuffled, &change(), rate).unwrap(), &built);
                if let Ok(replacement) = replace(&built, bump) {
                    check_invariants(&replacement, &requests, bump);
                    prop_assert_eq!(&replacement.spent_utxos, &built.spent_utxos);
                    prop_assert!(replacement.fee >= built.fee + fee_for_vsize(built.vsize, INCREMENTAL_RELAY_FEE_RATE));
                }
            }
            Err(BuildError::InsufficientFunds { requested: r, available: a }) => {
                prop_assert_eq!((r, a), (requested, available));
                prop_assert!(available < requested);
            }
            Err(BuildError::TooManyInputs { needed, .. }) => {
                prop_assert!(needed as usize > MAX_INPUTS);
            }
            Err(BuildError::DustOutputs { outputs }) => {
                prop_assert!(!outputs.is_empty());
                for o in outputs {
                    let r = &requests[o.request_index as usize];
                    prop_assert_eq!(o.amount, r.amount);
                    prop_assert!(o.amount <= o.fee_share + o.dust_threshold);
                }
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}
