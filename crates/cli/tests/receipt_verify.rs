//! `tensormine receipt verify FILE` (the binary, offline): a proof signed in
//! the test with the key localnet derives for the router passes and prints
//! the receipt; any one changed byte — in the receipt, the path or the batch —
//! fails with exit code 1 and the reason; the key named in the file is never
//! trusted; `--job` and `--router` must match.

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

/// The router's receipt key as localnet derives it: its `dfx_test_key`
/// Ed25519 master (from its public seed) at the router's canister id.
fn router_key() -> ic_ed25519::DerivedPrivateKey {
    let master = ic_ed25519::PrivateKey::generate_from_seed(
        b"tensormine-localnet/schnorr-ed25519/dfx_test_key",
    );
    let path = ic_ed25519::DerivationPath::from_canister_id_and_path(&ROUTER, &[]);
    master.derive_subkey(&path).0
}

fn router_text() -> String {
    candid::Principal::from_slice(&ROUTER).to_text()
}

/// A log of 6 receipts, a batch over all of them signed with `sign`, and leaf 3's proof.
fn signed_by(sign: impl Fn(&[u8]) -> Vec<u8>, public_key: [u8; 32]) -> SavedReceipt {
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
            signature: HexBytes(sign(&message.0)),
        },
    };
    SavedReceipt {
        public_key: hex::encode(public_key),
        proof,
    }
}

/// [`signed_by`] the router's real (derived) key.
fn saved() -> SavedReceipt {
    let key = router_key();
    signed_by(
        |m| key.sign_message(m).to_vec(),
        key.public_key().serialize_raw(),
    )
}

/// Runs the binary with a (loopback, so localnet-keyed) network that does
/// not exist: verification must not need one.
fn verify(file: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tensormine"))
        .args(["--network", "http://127.0.0.1:9", "receipt", "verify"])
        .arg(file)
        .args(["--router", &router_text()])
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
    let saved = saved();
    let file = dir.path().join("r.json");
    std::fs::write(&file, serde_json::to_string_pretty(&saved).unwrap()).unwrap();
    let (code, stdout, stderr) = verify(&file, &[]);
    assert_eq!(code, 0, "{stderr}");
    let key = hex::encode(router_key().public_key().serialize_raw());
    assert!(
        stdout.starts_with(&format!("receipt verified against router key {key}\n")),
        "{stdout}"
    );
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
    let saved = saved();
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
fn a_bare_proof_verifies_against_the_derived_key_or_a_given_one() {
    let dir = tempfile::tempdir().unwrap();
    let saved = saved();
    let file = dir.path().join("proof.json");
    std::fs::write(&file, serde_json::to_string(&saved.proof).unwrap()).unwrap();
    assert_eq!(verify(&file, &[]).0, 0);
    let good = hex::encode(router_key().public_key().serialize_raw());
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
    // Another key name derives another key.
    let (code, _, stderr) = verify(&file, &["--key-name", "test_key_1"]);
    assert_eq!(code, 1, "{stderr}");
    // Not a receipt at all.
    std::fs::write(&file, "{\"hello\":1}").unwrap();
    let (code, _, stderr) = verify(&file, &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("is not a receipt proof") && stderr.contains("receipt get"),
        "{stderr}"
    );
}

#[test]
fn a_receipt_signed_with_the_key_in_its_own_file_is_not_trusted() {
    use ed25519_dalek::Signer;
    let dir = tempfile::tempdir().unwrap();
    let forger = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let forged = signed_by(
        |m| forger.sign(m).to_bytes().to_vec(),
        forger.verifying_key().to_bytes(),
    );
    // It verifies under the key it names…
    tensormine_core::receipt::verify_receipt(&forged.proof, &forger.verifying_key().to_bytes())
        .unwrap();
    // …but not under the router's.
    let file = dir.path().join("forged.json");
    std::fs::write(&file, serde_json::to_string(&forged).unwrap()).unwrap();
    let (code, stdout, stderr) = verify(&file, &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stderr.contains("batch signature does not verify")
            && stderr.contains("it was not signed by this router"),
        "{stderr}"
    );
}

#[test]
fn the_job_and_the_router_asked_for_must_match() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.json");
    std::fs::write(&file, serde_json::to_string(&saved()).unwrap()).unwrap();
    assert_eq!(verify(&file, &["--job", "job-3"]).0, 0);
    let (code, _, stderr) = verify(&file, &["--job", "job-4"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("it is the receipt of job \"job-3\", not of \"job-4\""),
        "{stderr}"
    );
    // The right key but another router: the receipt is not that router's.
    let good = hex::encode(router_key().public_key().serialize_raw());
    let out = Command::new(env!("CARGO_BIN_EXE_tensormine"))
        .args(["--network", "http://127.0.0.1:9", "receipt", "verify"])
        .arg(&file)
        .args(["--router", "aaaaa-aa", "--public-key", &good])
        .env("TENSORMINE_DIR", dir.path().join("state"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("not aaaaa-aa"), "{stderr}");
    // No router known (no --router, no canister ids) and no key: told what to pass.
    let out = Command::new(env!("CARGO_BIN_EXE_tensormine"))
        .args(["--network", "http://127.0.0.1:9", "receipt", "verify"])
        .arg(&file)
        .env("TENSORMINE_DIR", dir.path().join("state"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("--router") && stderr.contains("never trusted"),
        "{stderr}"
    );
}
