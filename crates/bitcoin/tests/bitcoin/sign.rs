//! End to end, as the escrow will do it: derive deposit addresses from a
//! canister key, build a payout spending deposits of several accounts,
//! compute the sighashes, sign with the derived private keys (standing in
//! for `sign_with_ecdsa`), attach witnesses, and verify every input with
//! libbitcoinconsensus given the spent outputs.

use crate::common::{bytes, private_key};
use candid::Principal;
use ic_secp256k1::{DerivationIndex, DerivationPath, PrivateKey};
use k256::elliptic_curve::PrimeField;
use std::collections::BTreeMap;
use tensormine_bitcoin::derive::{deposit_derivation_path, main_derivation_path};
use tensormine_bitcoin::tx::verify_p2wpkh_signature;
use tensormine_bitcoin::{
    build_payout, hash160, BitcoinAddress, BuiltTransaction, ExtendedPublicKey, InputWitness,
    OutPoint, PayoutRequest, SighashCache, SignedTransaction, Utxo,
};

/// The IC side: a canister's secret key and chain code, as threshold ECDSA
/// would hold them (shared among the subnet's nodes).
struct FakeIc {
    canister_secret: PrivateKey,
    canister_chain_code: [u8; 32],
}

impl FakeIc {
    fn new() -> Self {
        let master = private_key("ic-master");
        let canister = Principal::from_text("ryjl3-tyaaa-aaaaa-aaaba-cai").unwrap();
        let (canister_secret, canister_chain_code) = master.derive_subkey_with_chain_code(
            &DerivationPath::new(vec![DerivationIndex(canister.as_slice().to_vec())]),
            &bytes("ic-chain", 0),
        );
        Self {
            canister_secret,
            canister_chain_code,
        }
    }

    /// `ecdsa_public_key` with an empty path.
    fn canister_key(&self) -> ExtendedPublicKey {
        ExtendedPublicKey::new(
            &self.canister_secret.public_key().serialize_sec1(true),
            &self.canister_chain_code,
        )
        .unwrap()
    }

    /// `sign_with_ecdsa`: a 64-byte r || s; `high_s` returns the other
    /// (equally valid) S, as an implementation is free to.
    fn sign(&self, path: &[Vec<u8>], digest: &[u8; 32], high_s: bool) -> Vec<u8> {
        let path = DerivationPath::new(path.iter().map(|i| DerivationIndex(i.clone())).collect());
        let (key, _) = self
            .canister_secret
            .derive_subkey_with_chain_code(&path, &self.canister_chain_code);
        let mut sig = key.sign_digest_with_ecdsa(digest).to_vec();
        if high_s {
            let mut s_bytes = k256::FieldBytes::default();
            s_bytes.copy_from_slice(&sig[32..]);
            let s = k256::Scalar::from_repr(s_bytes).unwrap();
            let current: [u8; 32] = s.to_bytes().into();
            let negated: [u8; 32] = (-s).to_bytes().into();
            sig[32..].copy_from_slice(&current.max(negated));
        }
        sig
    }
}

struct Account {
    path: Vec<Vec<u8>>,
    public_key: Vec<u8>,
    address: BitcoinAddress,
}

fn account(key: &ExtendedPublicKey, path: Vec<Vec<u8>>) -> Account {
    let derived = key.derive(&path).unwrap();
    Account {
        address: derived.p2wpkh_address().unwrap(),
        public_key: derived.public_key,
        path,
    }
}

fn sign_all(
    ic: &FakeIc,
    built: &BuiltTransaction,
    owner_of: &BTreeMap<OutPoint, &Account>,
    high_s: bool,
) -> SignedTransaction {
    let hasher = SighashCache::new(&built.tx);
    let witnesses = built
        .spent_utxos
        .iter()
        .enumerate()
        .map(|(i, utxo)| {
            let account = owner_of[&utxo.outpoint];
            let digest = hasher.p2wpkh(i, &hash160(&account.public_key)).unwrap();
            let sig = ic.sign(&account.path, &digest, high_s && i % 2 == 0);
            assert!(verify_p2wpkh_signature(&account.public_key, &digest, &sig));
            InputWitness::from_compact(&sig, &account.public_key).unwrap()
        })
        .collect();
    built.tx.sign(witnesses).unwrap()
}

/// Verifies every input with libbitcoinconsensus (all soft forks, taproot
/// included, which needs all spent outputs).
fn consensus_verify(
    signed: &SignedTransaction,
    spent: &[Utxo],
    owner_of: &BTreeMap<OutPoint, &Account>,
) -> Result<(), (usize, bitcoinconsensus::Error)> {
    let bytes = signed.serialize();
    let scripts: Vec<Vec<u8>> = spent
        .iter()
        .map(|u| owner_of[&u.outpoint].address.script_pubkey())
        .collect();
    let spent_outputs: Vec<bitcoinconsensus::Utxo> = spent
        .iter()
        .zip(&scripts)
        .map(|(u, s)| bitcoinconsensus::Utxo {
            script_pubkey: s.as_ptr(),
            script_pubkey_len: s.len() as u32,
            value: u.value as i64,
        })
        .collect();
    for (i, u) in spent.iter().enumerate() {
        bitcoinconsensus::verify(&scripts[i], u.value, &bytes, Some(&spent_outputs), i)
            .map_err(|e| (i, e))?;
    }
    Ok(())
}

#[test]
fn payout_spending_several_deposit_accounts_verifies() {
    let ic = FakeIc::new();
    let key = ic.canister_key();
    let main = account(&key, main_derivation_path());
    let users: Vec<Account> = (0..4u8)
        .map(|i| {
            account(
                &key,
                deposit_derivation_path(&Principal::from_slice(&[i + 1; 10]), Some(&[i; 32])),
            )
        })
        .collect();
    let mut owner_of = BTreeMap::new();
    let mut utxos = Vec::new();
    for (i, acc) in users.iter().chain([&main]).enumerate() {
        for j in 0..3u32 {
            let u = Utxo {
                outpoint: OutPoint {
                    txid: bytes("deposit", i as u64),
                    vout: j,
                },
                value: 40_000 + 10_000 * (i as u64) + u64::from(j),
                height: 100,
            };
            owner_of.insert(u.outpoint, acc);
            utxos.push(u);
        }
    }
    let requests = vec![
        PayoutRequest {
            address: BitcoinAddress::P2wpkh(bytes("miner", 1)),
            amount: 120_000,
        },
        PayoutRequest {
            address: BitcoinAddress::P2tr(bytes("miner", 2)),
            amount: 50_000,
        },
        PayoutRequest {
            address: BitcoinAddress::P2pkh(bytes("miner", 3)),
            amount: 30_000,
        },
        PayoutRequest {
            address: BitcoinAddress::P2sh(bytes("miner", 4)),
            amount: 25_000,
        },
        PayoutRequest {
            address: BitcoinAddress::P2wsh(bytes("miner", 5)),
            amount: 20_000,
        },
    ];
    let built = build_payout(&requests, &utxos, &main.address, 12_345).unwrap();
    assert!(built.spent_utxos.len() >= 4, "spends several accounts");
    assert!(built.change.is_some());

    for high_s in [false, true] {
        let signed = sign_all(&ic, &built, &owner_of, high_s);
        assert_eq!(signed.txid(), built.txid());
        assert!(
            signed.vsize() <= built.vsize,
            "fake signatures bound the size"
        );
        assert!(
            built.fee * 1000 >= signed.vsize() * built.fee_rate,
            "effective rate >= target"
        );
        consensus_verify(&signed, &built.spent_utxos, &owner_of).unwrap();
        // rust-bitcoin decodes it to the same txid.
        let decoded: bitcoin::Transaction =
            bitcoin::consensus::deserialize(&signed.serialize()).unwrap();
        assert_eq!(
            bitcoin::hashes::Hash::to_byte_array(decoded.compute_txid()),
            signed.txid()
        );
        for input in &signed.inputs {
            tensormine_bitcoin::tx::validate_witness_signature(&input.witness.signature).unwrap();
        }
    }

    // Tampering breaks it: a changed output value, or signatures swapped
    // between inputs.
    let signed = sign_all(&ic, &built, &owner_of, false);
    let mut tampered = signed.clone();
    tampered.outputs[0].value += 1;
    assert!(consensus_verify(&tampered, &built.spent_utxos, &owner_of).is_err());
    let mut swapped = signed.clone();
    let w0 = swapped.inputs[0].witness.clone();
    swapped.inputs[0].witness = swapped.inputs[1].witness.clone();
    swapped.inputs[1].witness = w0;
    assert!(consensus_verify(&swapped, &built.spent_utxos, &owner_of).is_err());
    // A sighash over the wrong spent value does not verify either.
    let mut wrong_value = built.clone();
    wrong_value.tx.inputs[0].value += 1;
    let bad = sign_all(&ic, &wrong_value, &owner_of, false);
    assert_eq!(
        consensus_verify(&bad, &built.spent_utxos, &owner_of).map_err(|(i, _)| i),
        Err(0)
    );
}
