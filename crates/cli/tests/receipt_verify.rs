//! `tensormine receipt verify FILE` (the binary, offline): a proof signed in
//! the test passes and prints the receipt; any one changed byte — in the
//! receipt, the path, the batch or the key — fails with exit code 1 and the
//! reason.

use std::collections::BTreeMap;
use std::process::Command;
use tensormine_cli::receipt::SavedReceipt;
use tensormine_core::api::{HexBytes, Workload};
use tensormine_core::receipt::*;
use tensormine_core::Digest32;

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
        tier: VerificationTier::Freivalds,
        outcome: ReceiptOutcome::Verified,
        result: Some(ResultRef {
            rows: 4,
            cols: 8,
            merkle_root: Digest32([0x22; 32]),
            sha256: Digest32([0x33; 32]),
        }),
        miners: vec![MinerLine {
            miner: HexBytes(vec![0x01]),
            paid_sats: 900,
            verdict: MinerVerdict::Accepted,
            slashed_sats: 0,
        }],
        held_sats: 2000,
        fee_sats: 100,
        refunded_sats: 1000,
        submitted_at_ns: 1_700_000_000_000_000_000,
        settled_at_ns: 1_700_000_060_000_000_000,
    }
}

/// A log of 6 receipts, a batch over all of them signed with a test key, and leaf 3's proof.
fn saved() -> (SavedReceipt, ed25519_dalek::SigningKey) {
    use ed25519_dalek::Signer;
    let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let texts: Vec<String> = (0..6)
        .map(|i| String::from_utf8(receipt(i).to_bytes()).unwrap())
        .collect();
    let mut tree = ReceiptTree::new(BTreeMap::new(), 0);
    for t in &texts {
        tree.append(leaf_hash(t.as_bytes()));
    }
    let root = tree.root();
    let message = batch_message(&ROUTER, 1, 6, &root);
    let proof = ReceiptProof {
        receipt: texts[3].clone(),
        leaf_index: 3,
        path: tree.inclusion_proof(3, 6),
        batch: SignedBatch {
            router: HexBytes(ROUTER.to_vec()),
            index: 1,
            tree_size: 6,
            root,
            signature: HexBytes(key.sign(&message.0).to_bytes().to_vec()),
        },
    };
    (
        SavedReceipt {
            public_key: hex::encode(key.verifying_key().to_bytes()),
            proof,
        },
        key,
    )
}

/// Runs the binary with a network that does not exist: verification must not need one.
fn verify(file: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tensormine"))
        .args(["--network", "http://127.0.0.1:9", "receipt", "verify"])
        .arg(file)
        .args(extra)
        .env("TENSORMINE_DIR", file.parent().unwrap().join("state"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_valid_receipt_verifies_and_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let (saved, _) = saved();
    let file = dir.path().join("r.json");
    std::fs::write(&file, serde_json::to_string_pretty(&saved).unwrap()).unwrap();
    let (code, stdout, stderr) = verify(&file, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("receipt verified\n"), "{stdout}");
    for fragment in [
        "job-3",
        "freivalds",
        "verified",
        "paid 900 sats",
        "2023-11-14 22:13:20 UTC",
        &"33".repeat(32),
    ] {
        assert!(stdout.contains(fragment), "{stdout} lacks {fragment}");
    }
    // No state was created: verification is offline and needs no identity.
    assert!(!dir.path().join("state").exists());
}

#[test]
fn one_changed_byte_fails_with_exit_code_1_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (saved, _) = saved();
    let file = dir.path().join("r.json");
    let cases: Vec<(SavedReceipt, &str)> = vec![
        // The receipt text: one digit of the paid amount.
        (
            {
                let mut s = saved.clone();
                s.proof.receipt = s
                    .proof
                    .receipt
                    .replace("\"paid_sats\":900", "\"paid_sats\":901");
                s
            },
            "inclusion path does not lead to the batch root",
        ),
        // One byte of the audit path.
        (
            {
                let mut s = saved.clone();
                s.proof.path[1].0[7] ^= 1;
                s
            },
            "inclusion path does not lead to the batch root",
        ),
        // One byte of the signature.
        (
            {
                let mut s = saved.clone();
                s.proof.batch.signature.0[0] ^= 1;
                s
            },
            "batch signature does not verify",
        ),
        // The batch index (signed, so the signature fails).
        (
            {
                let mut s = saved.clone();
                s.proof.batch.index = 2;
                s
            },
            "batch signature does not verify",
        ),
        // One byte of the root.
        (
            {
                let mut s = saved.clone();
                s.proof.batch.root.0[31] ^= 1;
                s
            },
            "inclusion path does not lead to the batch root",
        ),
        // One byte of the public key.
        (
            {
                let mut s = saved.clone();
                let mut k = hex::decode(&s.public_key).unwrap();
                k[5] ^= 1;
                s.public_key = hex::encode(k);
                s
            },
            "does not verify",
        ),
        // The leaf index.
        (
            {
                let mut s = saved.clone();
                s.proof.leaf_index = 4;
                s
            },
            "receipt index 3 differs from the proof's leaf index 4",
        ),
    ];
    for (case, reason) in cases {
        assert_ne!(case, saved);
        std::fs::write(&file, serde_json::to_string(&case).unwrap()).unwrap();
        let (code, stdout, stderr) = verify(&file, &[]);
        assert_eq!(code, 1, "{reason}: {stdout}{stderr}");
        assert!(
            stderr.starts_with("error: receipt does not verify: "),
            "{stderr}"
        );
        assert!(stderr.contains(reason), "{stderr} lacks {reason}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
    }
    // The unchanged file still passes (the loop really changed something).
    std::fs::write(&file, serde_json::to_string(&saved).unwrap()).unwrap();
    assert_eq!(verify(&file, &[]).0, 0);
}

#[test]
fn the_key_can_be_given_and_a_bare_proof_needs_one() {
    let dir = tempfile::tempdir().unwrap();
    let (saved, key) = saved();
    let file = dir.path().join("proof.json");
    std::fs::write(&file, serde_json::to_string(&saved.proof).unwrap()).unwrap();
    let (code, _, stderr) = verify(&file, &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("holds no public key") && stderr.contains("--public-key"),
        "{stderr}"
    );
    let good = hex::encode(key.verifying_key().to_bytes());
    assert_eq!(verify(&file, &["--public-key", &good]).0, 0);
    let other = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[43; 32])
            .verifying_key()
            .to_bytes(),
    );
    let (code, _, stderr) = verify(&file, &["--public-key", &other]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("batch signature does not verify"),
        "{stderr}"
    );
    // A key given on the command line overrides the file's.
    let saved_file = dir.path().join("saved.json");
    std::fs::write(&saved_file, serde_json::to_string(&saved).unwrap()).unwrap();
    assert_eq!(verify(&saved_file, &["--public-key", &other]).0, 1);
    // Not a receipt at all.
    std::fs::write(&file, "{\"hello\":1}").unwrap();
    let (code, _, stderr) = verify(&file, &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("is not a receipt proof") && stderr.contains("receipt get"),
        "{stderr}"
    );
}
