//! Receipt JSON, batch signatures and offline verification.

use super::*;
use ed25519_dalek::{Signer, SigningKey};

type MemoryTree = ReceiptTree<BTreeMap<(u8, u64), Digest32>>;

const ROUTER: [u8; 10] = [0, 0, 0, 0, 0, 0x30, 0, 0x01, 0x01, 0x01];

fn receipt(index: u64) -> Receipt {
    Receipt {
        version: RECEIPT_VERSION,
        router: HexBytes(ROUTER.to_vec()),
        index,
        job_id: format!("job-{index}"),
        spec_hash: Digest32([0x11; 32]),
        submitter: HexBytes(vec![0xab, 0xcd, 0x02]),
        workload: Workload::Matmul,
        tier: VerificationTier::Redundant { k: 2 },
        outcome: ReceiptOutcome::Verified,
        result: Some(ResultRef {
            rows: 4,
            cols: 8,
            merkle_root: Digest32([0x22; 32]),
            sha256: Digest32([0x33; 32]),
        }),
        miners: vec![
            MinerLine {
                miner: HexBytes(vec![0x01]),
                paid_sats: 900,
                verdict: MinerVerdict::Accepted,
                slashed_sats: 0,
            },
            MinerLine {
                miner: HexBytes(vec![0x02]),
                paid_sats: 0,
                verdict: MinerVerdict::Rejected {
                    reason: "row 3 mismatch".into(),
                },
                slashed_sats: 500,
            },
        ],
        held_sats: 2000,
        fee_sats: 100,
        refunded_sats: 1000,
        submitted_at_ns: 1_700_000_000_000_000_000,
        settled_at_ns: 1_700_000_060_000_000_000 + index,
    }
}

#[test]
fn receipt_json_is_pinned_and_round_trips() {
    let r = receipt(7);
    let json = String::from_utf8(r.to_bytes()).unwrap();
    // Pinned: receipts already in a log must keep hashing to their leaves.
    let expected = format!(
        concat!(
            r#"{{"version":1,"router":"00000000003000010101","index":7,"job_id":"job-7","#,
            r#""spec_hash":"{}","submitter":"abcd02","workload":"matmul","#,
            r#""tier":{{"kind":"redundant","k":2}},"outcome":{{"kind":"verified"}},"#,
            r#""result":{{"rows":4,"cols":8,"merkle_root":"{}","sha256":"{}"}},"#,
            r#""miners":[{{"miner":"01","paid_sats":900,"verdict":{{"kind":"accepted"}},"slashed_sats":0}},"#,
            r#"{{"miner":"02","paid_sats":0,"verdict":{{"kind":"rejected","reason":"row 3 mismatch"}},"slashed_sats":500}}],"#,
            r#""held_sats":2000,"fee_sats":100,"refunded_sats":1000,"#,
            r#""submitted_at_ns":1700000000000000000,"settled_at_ns":1700000060000000007}}"#
        ),
        "11".repeat(32),
        "22".repeat(32),
        "33".repeat(32)
    );
    assert_eq!(json, expected);
    assert_eq!(Receipt::from_bytes(json.as_bytes()).unwrap(), r);
    assert_eq!(r.leaf_hash(), leaf_hash(json.as_bytes()));

    // Every variant round-trips too.
    let variants = [
        (
            VerificationTier::None,
            ReceiptOutcome::Unverified,
            MinerVerdict::TimedOut,
        ),
        (
            VerificationTier::Audit { rate_ppm: 50_000 },
            ReceiptOutcome::Refunded {
                reason: "all miners timed out".into(),
            },
            MinerVerdict::TimedOut,
        ),
        (
            VerificationTier::Freivalds,
            ReceiptOutcome::Verified,
            MinerVerdict::Accepted,
        ),
    ];
    for (tier, outcome, verdict) in variants {
        let mut r = receipt(1);
        r.tier = tier;
        r.outcome = outcome;
        r.result = None;
        r.miners[0].verdict = verdict;
        assert_eq!(Receipt::from_bytes(&r.to_bytes()).unwrap(), r);
    }
    let mut r = receipt(1);
    r.tier = VerificationTier::None;
    r.outcome = ReceiptOutcome::Unverified;
    let json = String::from_utf8(r.to_bytes()).unwrap();
    assert!(json.contains(r#""tier":{"kind":"none"},"outcome":{"kind":"unverified"}"#));
}

#[test]
fn only_canonical_receipts_parse() {
    let json = String::from_utf8(receipt(3).to_bytes()).unwrap();
    let pretty = serde_json::to_string_pretty(&receipt(3)).unwrap();
    let upper = json.replace(&"11".repeat(32), &"11".repeat(32).to_uppercase());
    let upper = upper.replace("abcd02", "ABCD02");
    let extra = json.replacen('{', r#"{"extra":1,"#, 1);
    let v2 = String::from_utf8(
        Receipt {
            version: 2,
            ..receipt(3)
        }
        .to_bytes(),
    )
    .unwrap();
    for text in [
        pretty.as_str(),
        upper.as_str(),
        extra.as_str(),
        v2.as_str(),
        "",
        "null",
        &json[1..],
    ] {
        assert!(
            matches!(
                Receipt::from_bytes(text.as_bytes()),
                Err(ReceiptError::Malformed(_))
            ),
            "{text}"
        );
    }
    // Sanity: the edits above did change the text.
    assert_ne!(upper, json);
}

// ---- signed batches and offline verification ----

struct Log {
    key: SigningKey,
    tree: MemoryTree,
    texts: Vec<String>,
}

impl Log {
    fn new(receipts: impl IntoIterator<Item = Receipt>) -> Self {
        let mut tree = ReceiptTree::new(BTreeMap::new(), 0);
        let texts: Vec<String> = receipts
            .into_iter()
            .map(|r| String::from_utf8(r.to_bytes()).unwrap())
            .collect();
        for text in &texts {
            tree.append(leaf_hash(text.as_bytes()));
        }
        Self {
            key: SigningKey::from_bytes(&[9; 32]),
            tree,
            texts,
        }
    }

    fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    fn batch(&self, index: u64, tree_size: u64) -> SignedBatch {
        let root = self.tree.root_at(tree_size);
        let message = batch_message(&ROUTER, index, tree_size, &root);
        SignedBatch {
            router: HexBytes(ROUTER.to_vec()),
            index,
            tree_size,
            root,
            signature: HexBytes(self.key.sign(&message.0).to_bytes().to_vec()),
        }
    }

    fn proof(&self, leaf: u64, tree_size: u64) -> ReceiptProof {
        ReceiptProof {
            receipt: self.texts[leaf as usize].clone(),
            leaf_index: leaf,
            path: self.tree.inclusion_proof(leaf, tree_size),
            batch: self.batch(tree_size / 4, tree_size),
        }
    }
}

fn honest_log(n: u64) -> Log {
    Log::new((0..n).map(receipt))
}

#[test]
fn valid_proofs_verify_offline() {
    let log = honest_log(13);
    for size in 1..=13 {
        for leaf in 0..size {
            let proof = log.proof(leaf, size);
            assert_eq!(verify_receipt(&proof, &log.public_key()), Ok(receipt(leaf)));
            // What the CLI saves and reloads.
            let saved = serde_json::to_string(&proof).unwrap();
            let loaded: ReceiptProof = serde_json::from_str(&saved).unwrap();
            assert_eq!(
                verify_receipt(&loaded, &log.public_key()),
                Ok(receipt(leaf))
            );
        }
    }
}

fn flip_each_byte(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    (0..bytes.len()).map(move |i| {
        let mut b = bytes.to_vec();
        b[i] ^= 0x01;
        b
    })
}

fn assert_rejected(proof: &ReceiptProof, key: &[u8; 32], what: &str) {
    let result = verify_receipt(proof, key);
    assert!(result.is_err(), "{what}: accepted");
}

#[test]
fn any_single_change_is_rejected() {
    let log = honest_log(13);
    let key = log.public_key();
    for (leaf, size) in [(0, 1), (5, 13), (12, 13), (6, 8)] {
        let proof = log.proof(leaf, size);
        verify_receipt(&proof, &key).unwrap();

        for text in flip_each_byte(proof.receipt.as_bytes()) {
            let receipt = String::from_utf8(text).unwrap(); // ASCII stays ASCII
            assert_rejected(
                &ReceiptProof {
                    receipt,
                    ..proof.clone()
                },
                &key,
                "receipt byte",
            );
        }
        for (entry, digest) in proof.path.iter().enumerate() {
            for bytes in flip_each_byte(&digest.0) {
                let mut p = proof.clone();
                p.path[entry] = Digest32(bytes.try_into().unwrap());
                assert_rejected(&p, &key, "path byte");
            }
        }
        for bytes in flip_each_byte(&proof.batch.root.0) {
            let mut p = proof.clone();
            p.batch.root = Digest32(bytes.try_into().unwrap());
            assert_rejected(&p, &key, "root byte");
        }
        for bytes in flip_each_byte(&proof.batch.signature.0) {
            let mut p = proof.clone();
            p.batch.signature = HexBytes(bytes);
            assert_rejected(&p, &key, "signature byte");
        }
        for bytes in flip_each_byte(&proof.batch.router.0) {
            let mut p = proof.clone();
            p.batch.router = HexBytes(bytes);
            assert_rejected(&p, &key, "router byte");
        }
        for delta in [1i64, -1] {
            let shift = |v: u64| v.wrapping_add_signed(delta);
            let mut p = proof.clone();
            p.leaf_index = shift(p.leaf_index);
            assert_rejected(&p, &key, "leaf index");
            let mut p = proof.clone();
            p.batch.tree_size = shift(p.batch.tree_size);
            assert_rejected(&p, &key, "tree size");
            let mut p = proof.clone();
            p.batch.index = shift(p.batch.index);
            assert_rejected(&p, &key, "batch index");
        }
        let mut p = proof.clone();
        p.path.push(Digest32::default());
        assert_rejected(&p, &key, "longer path");
        let other = SigningKey::from_bytes(&[10; 32]).verifying_key().to_bytes();
        assert_eq!(
            verify_receipt(&proof, &other),
            Err(ReceiptError::BadSignature)
        );
    }
}

#[test]
fn every_error_is_reachable() {
    let log = honest_log(13);
    let key = log.public_key();
    let good = log.proof(4, 13);

    let p = ReceiptProof {
        receipt: "{}".into(),
        ..good.clone()
    };
    assert!(matches!(
        verify_receipt(&p, &key),
        Err(ReceiptError::Malformed(_))
    ));

    // A log whose receipt 2 claims to be receipt 3, honestly signed.
    let shuffled = Log::new([receipt(0), receipt(1), receipt(3)]);
    assert_eq!(
        verify_receipt(&shuffled.proof(2, 3), &shuffled.public_key()),
        Err(ReceiptError::IndexMismatch {
            receipt: 3,
            leaf: 2
        })
    );

    // A receipt naming another router, in this router's honestly signed batch.
    let foreign = Log::new((0..3).map(|i| Receipt {
        router: HexBytes(vec![0x42]),
        ..receipt(i)
    }));
    assert_eq!(
        verify_receipt(&foreign.proof(1, 3), &foreign.public_key()),
        Err(ReceiptError::RouterMismatch)
    );

    // Leaf 12 with an honestly signed batch over the first 12 leaves.
    let p = ReceiptProof {
        batch: log.batch(3, 12),
        ..log.proof(12, 13)
    };
    assert_eq!(
        verify_receipt(&p, &key),
        Err(ReceiptError::LeafBeyondTreeSize {
            leaf_index: 12,
            tree_size: 12
        })
    );

    let mut p = good.clone();
    p.path[1].0[0] ^= 1;
    assert_eq!(
        verify_receipt(&p, &key),
        Err(ReceiptError::BadInclusionPath)
    );

    // A y coordinate with no point on the curve, and the (small-order) identity.
    let off_curve = (0..=255u8)
        .map(|b| {
            let mut k = [0u8; 32];
            k[0] = b;
            k
        })
        .find(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_err())
        .expect("half of all y values are off the curve");
    let mut identity = [0u8; 32];
    identity[0] = 1;
    for bad_key in [off_curve, identity] {
        assert_eq!(
            verify_receipt(&good, &bad_key),
            Err(ReceiptError::BadPublicKey)
        );
    }

    let mut p = good.clone();
    p.batch.signature.0.pop();
    assert_eq!(verify_receipt(&p, &key), Err(ReceiptError::BadSignature));
    let mut p = good.clone();
    p.batch.index += 1;
    assert_eq!(verify_receipt(&p, &key), Err(ReceiptError::BadSignature));

    assert_eq!(verify_receipt(&good, &key), Ok(receipt(4)));
}

#[test]
fn batch_message_binds_every_field() {
    let root = Digest32([5; 32]);
    let base = batch_message(&ROUTER, 1, 2, &root);
    assert_ne!(base, batch_message(&ROUTER[..9], 1, 2, &root));
    assert_ne!(base, batch_message(&ROUTER, 2, 2, &root));
    assert_ne!(base, batch_message(&ROUTER, 1, 3, &root));
    assert_ne!(base, batch_message(&ROUTER, 1, 2, &Digest32([6; 32])));
    // Swapping the two integers must not collide either.
    assert_ne!(
        batch_message(&ROUTER, 2, 1, &root),
        batch_message(&ROUTER, 1, 2, &root)
    );
    // Pinned: the router canister computes the same digest independently.
    let mut expected = vec![BATCH_TAG.len() as u8];
    expected.extend_from_slice(BATCH_TAG.as_bytes());
    expected.extend_from_slice(&10u64.to_le_bytes());
    expected.extend_from_slice(&ROUTER);
    expected.extend_from_slice(&1u64.to_le_bytes());
    expected.extend_from_slice(&2u64.to_le_bytes());
    expected.extend_from_slice(&root.0);
    assert_eq!(base, Digest32::sha256(&expected));
}
