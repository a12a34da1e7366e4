//! Transactions against rust-bitcoin: serialization, txid, wtxid, sizes,
//! BIP-143 sighashes; signature encoding.

use crate::common::{bytes, signed_to_rust_bitcoin, unsigned_to_rust_bitcoin};
use bitcoin::hashes::Hash;
use proptest::prelude::*;
use tensormine_bitcoin::tx::{
    der_from_compact, estimate_weight, txid_to_string, validate_witness_signature,
    witness_signature_from_compact, SEQUENCE_RBF,
};
use tensormine_bitcoin::{
    fake_sign, BitcoinAddress, InputWitness, OutPoint, SighashCache, SignatureError, TxOut,
    UnsignedTransaction,
};

fn address(kind: u8, seed: u64) -> BitcoinAddress {
    match kind % 5 {
        0 => BitcoinAddress::P2wpkh(bytes("o", seed)),
        1 => BitcoinAddress::P2wsh(bytes("o", seed)),
        2 => BitcoinAddress::P2tr(bytes("o", seed)),
        3 => BitcoinAddress::P2pkh(bytes("o", seed)),
        _ => BitcoinAddress::P2sh(bytes("o", seed)),
    }
}

fn arb_tx() -> impl Strategy<Value = UnsignedTransaction> {
    let input = (
        any::<u64>(),
        any::<u32>(),
        1u64..=2_100_000_000_000_000,
        any::<u32>(),
    );
    let output = (any::<u8>(), any::<u64>(), 0u64..=2_100_000_000_000_000);
    (
        // At least one input: rust-bitcoin writes a transaction without
        // inputs in the segwit form (a legacy one would be ambiguous), and
        // such a transaction is invalid anyway.
        prop::collection::vec(input, 1..6),
        prop::collection::vec(output, 0..6),
        any::<u32>(),
    )
        .prop_map(|(inputs, outputs, lock_time)| UnsignedTransaction {
            inputs: inputs
                .into_iter()
                .map(
                    |(seed, vout, value, sequence)| tensormine_bitcoin::tx::UnsignedInput {
                        previous_output: OutPoint {
                            txid: bytes("txid", seed),
                            vout,
                        },
                        value,
                        sequence,
                    },
                )
                .collect(),
            outputs: outputs
                .into_iter()
                .map(|(kind, seed, value)| TxOut {
                    value,
                    address: address(kind, seed),
                })
                .collect(),
            lock_time,
        })
}

proptest! {
    /// Unsigned and (fake-)signed serializations, txid, wtxid and sizes are
    /// rust-bitcoin's; rust-bitcoin decodes our bytes to the same transaction.
    #[test]
    fn encoding_matches_rust_bitcoin(tx in arb_tx()) {
        let theirs = unsigned_to_rust_bitcoin(&tx);
        // Without witnesses both serialize the legacy way.
        prop_assert_eq!(tx.serialize(), bitcoin::consensus::serialize(&theirs));
        prop_assert_eq!(tx.txid(), theirs.compute_txid().to_byte_array());

        let signed = fake_sign(&tx);
        let theirs = signed_to_rust_bitcoin(&signed);
        {
            prop_assert_eq!(signed.serialize(), bitcoin::consensus::serialize(&theirs));
            let decoded: bitcoin::Transaction =
                bitcoin::consensus::deserialize(&signed.serialize()).unwrap();
            prop_assert_eq!(&decoded, &theirs);
            prop_assert_eq!(signed.wtxid(), theirs.compute_wtxid().to_byte_array());
            prop_assert_eq!(signed.total_size(), theirs.total_size());
            prop_assert_eq!(signed.weight(), theirs.weight().to_wu());
            prop_assert_eq!(signed.vsize(), theirs.vsize() as u64);
        }
        prop_assert_eq!(signed.serialize_base(), tx.serialize());
        prop_assert_eq!(signed.txid(), tx.txid());
        prop_assert_eq!(signed.base_size(), theirs.base_size());
        let outputs: Vec<_> = tx.outputs.iter().map(|o| o.address.clone()).collect();
        prop_assert_eq!(estimate_weight(tx.inputs.len(), &outputs), signed.weight());
    }

    /// BIP-143 sighashes are rust-bitcoin's `p2wpkh_signature_hash` for every input.
    #[test]
    fn sighash_matches_rust_bitcoin(tx in arb_tx(), key_seed in any::<u64>()) {
        let theirs = unsigned_to_rust_bitcoin(&tx);
        let mut cache = bitcoin::sighash::SighashCache::new(&theirs);
        let ours = SighashCache::new(&tx);
        let pubkey_hash: [u8; 20] = bytes("pkh", key_seed);
        let spk = bitcoin::ScriptBuf::from_bytes(BitcoinAddress::P2wpkh(pubkey_hash).script_pubkey());
        for (i, input) in tx.inputs.iter().enumerate() {
            let expected = cache
                .p2wpkh_signature_hash(i, &spk, bitcoin::Amount::from_sat(input.value), bitcoin::EcdsaSighashType::All)
                .unwrap();
            prop_assert_eq!(ours.p2wpkh(i, &pubkey_hash).unwrap(), expected.to_byte_array());
        }
        prop_assert_eq!(
            ours.p2wpkh(tx.inputs.len(), &pubkey_hash),
            Err(SignatureError::InputIndexOutOfRange { index: tx.inputs.len() as u32, inputs: tx.inputs.len() as u32 })
        );
    }

    /// Any valid compact signature becomes a strict-DER, low-S signature that
    /// rust-bitcoin (libsecp256k1) parses to the normalized signature.
    #[test]
    fn der_conversion_matches_libsecp256k1(r in any::<[u8; 32]>(), s in any::<[u8; 32]>()) {
        let compact = [r, s].concat();
        let Ok(theirs) = bitcoin::secp256k1::ecdsa::Signature::from_compact(&compact) else {
            return Ok(()); // r or s out of range
        };
        if r == [0; 32] || s == [0; 32] {
            prop_assert!(der_from_compact(&compact).is_err());
            return Ok(());
        }
        let mut normalized = theirs;
        normalized.normalize_s();
        let der = der_from_compact(&compact).unwrap();
        prop_assert_eq!(&der[..], &normalized.serialize_der()[..]);
        let witness_sig = witness_signature_from_compact(&compact).unwrap();
        prop_assert!(witness_sig.len() <= tensormine_bitcoin::tx::MAX_WITNESS_SIGNATURE_LEN);
        prop_assert_eq!(validate_witness_signature(&witness_sig), Ok(()));
    }
}

#[test]
fn high_s_is_normalized_and_detected() {
    // s = n - 1 is high; its low form is 1.
    let n_minus_1 =
        hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140").unwrap();
    let r = [0x11u8; 32];
    let compact = [&r[..], &n_minus_1[..]].concat();
    let der = der_from_compact(&compact).unwrap();
    assert_eq!(hex::encode(&der[der.len() - 3..]), "020101");
    // The high form itself is refused by the validator.
    let mut high = vec![0x30, 0x45, 0x02, 0x20];
    high.extend(r);
    high.extend([0x02, 0x21, 0x00]);
    high.extend(&n_minus_1);
    high.push(0x01);
    assert_eq!(
        validate_witness_signature(&high),
        Err(SignatureError::HighS)
    );
    // Wrong sighash byte.
    let mut other = witness_signature_from_compact(&compact).unwrap();
    *other.last_mut().unwrap() = 0x81;
    assert_eq!(
        validate_witness_signature(&other),
        Err(SignatureError::WrongSighashType { sighash_type: 0x81 })
    );
    assert_eq!(
        der_from_compact(&[0; 63]),
        Err(SignatureError::InvalidCompactLength { length: 63 })
    );
    assert_eq!(
        der_from_compact(&[0; 64]),
        Err(SignatureError::ScalarOutOfRange)
    );
}

#[test]
fn sign_checks_witnesses() {
    let tx = UnsignedTransaction {
        inputs: vec![tensormine_bitcoin::tx::UnsignedInput {
            previous_output: OutPoint {
                txid: [1; 32],
                vout: 0,
            },
            value: 1000,
            sequence: SEQUENCE_RBF,
        }],
        outputs: vec![TxOut {
            value: 500,
            address: BitcoinAddress::P2wpkh([2; 20]),
        }],
        lock_time: 0,
    };
    assert_eq!(
        tx.sign(vec![]),
        Err(SignatureError::WitnessCount {
            inputs: 1,
            witnesses: 0
        })
    );
    let key = crate::common::private_key("w")
        .public_key()
        .serialize_sec1(true);
    let good = InputWitness::from_compact(&[[7u8; 32], [9u8; 32]].concat(), &key).unwrap();
    assert!(tx.sign(vec![good.clone()]).is_ok());
    let bad_key = InputWitness {
        public_key: vec![4; 65],
        ..good.clone()
    };
    assert!(matches!(
        tx.sign(vec![bad_key]),
        Err(SignatureError::InvalidPublicKey { .. })
    ));
    let bad_sig = InputWitness {
        signature: vec![0x30, 0x00, 0x01],
        ..good
    };
    assert!(matches!(
        tx.sign(vec![bad_sig]),
        Err(SignatureError::InvalidDer { .. })
    ));
}

#[test]
fn txid_display_is_reversed() {
    let mut txid = [0u8; 32];
    txid[0] = 0xab;
    txid[31] = 0x01;
    let s = txid_to_string(&txid);
    assert!(s.starts_with("01") && s.ends_with("ab"));
    assert_eq!(s, bitcoin::Txid::from_byte_array(txid).to_string());
}
