//! Key derivation: ours against ic-secp256k1 (the IC's implementation) and,
//! for BIP-32-shaped paths, rust-bitcoin's BIP-32.

use crate::common::{bytes, private_key};
use candid::Principal;
use ic_secp256k1::{DerivationIndex, DerivationPath, PublicKey as IcPublicKey};
use tensormine_bitcoin::derive::{
    deposit_address, deposit_derivation_path, main_address, main_derivation_path, DEPOSIT_SCHEMA_V1,
};
use tensormine_bitcoin::{BitcoinAddress, DeriveError, ExtendedPublicKey, Network};

fn ic_derive(key: &IcPublicKey, chain_code: &[u8; 32], path: &[Vec<u8>]) -> (Vec<u8>, [u8; 32]) {
    let path = DerivationPath::new(path.iter().map(|i| DerivationIndex(i.clone())).collect());
    let (child, cc) = key.derive_subkey_with_chain_code(&path, chain_code);
    (child.serialize_sec1(true), cc)
}

fn paths() -> Vec<Vec<Vec<u8>>> {
    let principal = Principal::from_text("rrkah-fqaaa-aaaaa-aaaaq-cai").unwrap();
    vec![
        vec![],
        vec![vec![]],
        vec![vec![0]],
        vec![vec![1, 2, 3, 4]],
        main_derivation_path(),
        deposit_derivation_path(&Principal::anonymous(), None),
        deposit_derivation_path(&principal, Some(&[9; 32])),
        deposit_derivation_path(&Principal::management_canister(), None),
        (0..20).map(|i| vec![i; i as usize]).collect(),
        vec![vec![0xff; 200]],
    ]
}

/// Our derivation gives ic-secp256k1's key and chain code for many keys,
/// chain codes and paths.
#[test]
fn matches_ic_secp256k1() {
    for k in 0..8u64 {
        let master = private_key(&format!("master-{k}")).public_key();
        let chain_code: [u8; 32] = bytes("chain", k);
        let ours = ExtendedPublicKey::new(&master.serialize_sec1(true), &chain_code).unwrap();
        for path in paths() {
            let derived = ours.derive(&path).unwrap();
            let (key, cc) = ic_derive(&master, &chain_code, &path);
            assert_eq!(derived.public_key, key, "key {k} path {path:?}");
            assert_eq!(derived.chain_code, cc.to_vec(), "key {k} path {path:?}");
        }
    }
}

/// The escrow gets its canister key from `ecdsa_public_key` with an empty
/// path (the IC derives along [canister id]); deriving from it locally
/// gives the key the IC would return for the full path, and the key whose
/// private counterpart signs for it. Checked on the IC's mainnet and
/// PocketIC master keys as ic-secp256k1 derives them.
#[test]
fn canister_key_then_local_path_equals_ic_derivation() {
    let escrow = Principal::from_text("ryjl3-tyaaa-aaaaa-aaaba-cai").unwrap();
    let owner = Principal::from_text("2vxsx-fae").unwrap();
    let path = deposit_derivation_path(&owner, Some(&[1; 32]));
    let canister_id = ic_secp256k1::CanisterId::from_slice(escrow.as_slice());

    // Mainnet key_1 (no chain code of its own: zero).
    let (canister_key, canister_cc) = IcPublicKey::derive_mainnet_key(
        ic_secp256k1::MasterPublicKeyId::EcdsaKey1,
        &canister_id,
        &[],
    );
    let (full_key, full_cc) = IcPublicKey::derive_mainnet_key(
        ic_secp256k1::MasterPublicKeyId::EcdsaKey1,
        &canister_id,
        &path,
    );
    let ours = ExtendedPublicKey::new(&canister_key.serialize_sec1(true), &canister_cc).unwrap();
    let derived = ours.derive(&path).unwrap();
    assert_eq!(derived.public_key, full_key.serialize_sec1(true));
    assert_eq!(derived.chain_code, full_cc.to_vec());
    assert_eq!(
        deposit_address(&ours, &owner, Some(&[1; 32])).unwrap(),
        BitcoinAddress::p2wpkh_from_public_key(&full_key.serialize_sec1(true)).unwrap()
    );

    // PocketIC's key, whose secret is known: derive the private key the same
    // way and check it matches the public derivation.
    let (pk_canister, pk_cc) = IcPublicKey::derive_pocketic_key(
        ic_secp256k1::PocketIcMasterPublicKeyId::EcdsaKey1,
        &canister_id,
        &[],
    );
    let secret = ic_secp256k1::PrivateKey::deserialize_sec1(
        &hex::decode("6f65b33c736ceaf3d89e6b913a508e0612a2f43d872128606d59ab855b80d288").unwrap(),
    )
    .unwrap();
    let full_path = DerivationPath::from_canister_id_and_path(escrow.as_slice(), &path);
    let (child_secret, _) = secret.derive_subkey(&full_path);
    let ours = ExtendedPublicKey::new(&pk_canister.serialize_sec1(true), &pk_cc).unwrap();
    assert_eq!(
        ours.derive(&path).unwrap().public_key,
        child_secret.public_key().serialize_sec1(true)
    );
}

/// With 4-byte indices below 2^31 the IC's scheme is BIP-32 public derivation.
#[test]
fn four_byte_indices_are_bip32() {
    use bitcoin::bip32::{ChainCode, ChildNumber, Fingerprint, Xpub};
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    for k in 0..4u64 {
        let master = private_key(&format!("bip32-{k}"))
            .public_key()
            .serialize_sec1(true);
        let chain_code: [u8; 32] = bytes("bip32-chain", k);
        let mut xpub = Xpub {
            network: bitcoin::NetworkKind::Main,
            depth: 0,
            parent_fingerprint: Fingerprint::default(),
            child_number: ChildNumber::from_normal_idx(0).unwrap(),
            public_key: bitcoin::secp256k1::PublicKey::from_slice(&master).unwrap(),
            chain_code: ChainCode::from(chain_code),
        };
        let indices = [0u32, 1, 44, 0x7fff_ffff];
        let path: Vec<Vec<u8>> = indices.iter().map(|i| i.to_be_bytes().to_vec()).collect();
        let derived = ExtendedPublicKey::new(&master, &chain_code)
            .unwrap()
            .derive(&path)
            .unwrap();
        for i in indices {
            xpub = xpub
                .ckd_pub(&secp, ChildNumber::from_normal_idx(i).unwrap())
                .unwrap();
        }
        assert_eq!(derived.public_key, xpub.public_key.serialize().to_vec());
        assert_eq!(derived.chain_code, xpub.chain_code.to_bytes().to_vec());
    }
}

#[test]
fn path_layout() {
    let owner = Principal::from_text("rrkah-fqaaa-aaaaa-aaaaq-cai").unwrap();
    let path = deposit_derivation_path(&owner, None);
    assert_eq!(path.len(), 3);
    assert_eq!(path[0], vec![DEPOSIT_SCHEMA_V1]);
    assert_eq!(path[1], owner.as_slice());
    assert_eq!(path[2], vec![0; 32]);
    assert_eq!(path, deposit_derivation_path(&owner, Some(&[0; 32])));
    assert_eq!(main_derivation_path(), vec![vec![0]]);
}

#[test]
fn deposit_addresses_are_distinct_and_deterministic() {
    let key = ExtendedPublicKey::new(
        &private_key("escrow").public_key().serialize_sec1(true),
        &[3; 32],
    )
    .unwrap();
    let alice = Principal::from_slice(&[1; 29]);
    let bob = Principal::from_slice(&[2; 29]);
    let a0 = deposit_address(&key, &alice, None).unwrap();
    let a1 = deposit_address(&key, &alice, Some(&[1; 32])).unwrap();
    let b0 = deposit_address(&key, &bob, None).unwrap();
    let main = main_address(&key).unwrap();
    let all = [&a0, &a1, &b0, &main];
    for (i, x) in all.iter().enumerate() {
        for y in &all[i + 1..] {
            assert_ne!(x, y);
        }
    }
    assert_eq!(a0, deposit_address(&key, &alice, None).unwrap());
    assert!(a0.encode(Network::Mainnet).starts_with("bc1q"));
    assert!(a0.encode(Network::Regtest).starts_with("bcrt1q"));
}

#[test]
fn bad_keys_are_refused() {
    assert!(matches!(
        ExtendedPublicKey::new(&[2; 32], &[0; 32]),
        Err(DeriveError::InvalidPublicKey { .. })
    ));
    let key = private_key("k").public_key().serialize_sec1(true);
    assert_eq!(
        ExtendedPublicKey::new(&key, &[0; 31]),
        Err(DeriveError::InvalidChainCode { length: 31 })
    );
    let uncompressed = private_key("k").public_key().serialize_sec1(false);
    assert!(matches!(
        ExtendedPublicKey::new(&uncompressed, &[0; 32]),
        Err(DeriveError::InvalidPublicKey { .. })
    ));
}
