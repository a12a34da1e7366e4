use super::*;

fn sample_tx(inputs: usize, outputs: usize) -> UnsignedTransaction {
    UnsignedTransaction {
        inputs: (0..inputs)
            .map(|i| UnsignedInput {
                previous_output: OutPoint {
                    txid: [i as u8; 32],
                    vout: i as u32,
                },
                value: 10_000,
                sequence: SEQUENCE_RBF,
            })
            .collect(),
        outputs: (0..outputs)
            .map(|i| TxOut {
                value: 1_000,
                address: BitcoinAddress::P2wpkh([i as u8; 20]),
            })
            .collect(),
        lock_time: 0,
    }
}

#[test]
fn fake_signature_is_valid_and_maximal() {
    let tx = fake_sign(&sample_tx(1, 1));
    let sig = &tx.inputs[0].witness.signature;
    assert_eq!(sig.len(), MAX_WITNESS_SIGNATURE_LEN);
    validate_witness_signature(sig).unwrap();
}

#[test]
fn estimate_matches_fake_sign() {
    for (i, o) in [(1, 1), (1, 2), (3, 7), (100, 101), (1, 253), (253, 1)] {
        let tx = sample_tx(i, o);
        let outputs: Vec<_> = tx.outputs.iter().map(|o| o.address.clone()).collect();
        assert_eq!(
            fake_sign(&tx).weight(),
            estimate_weight(i, &outputs),
            "{i} in {o} out"
        );
    }
}

#[test]
fn compact_size_boundaries() {
    for (n, len) in [(0, 1), (252, 1), (253, 3), (65535, 3), (65536, 5)] {
        assert_eq!(compact_size_len(n), len);
        let mut v = Vec::new();
        put_compact_size(n, &mut v);
        assert_eq!(v.len(), len);
    }
}
