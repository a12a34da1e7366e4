//! Threshold ECDSA / BIP340 / Ed25519 through the management canister: public keys equal
//! the ones derived offline from the master public key, and signatures verify with
//! independent implementations (k256, ed25519-dalek).

use candid::Principal;
use ic_management_canister_types::SchnorrAlgorithm;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::elliptic_curve::PrimeField;
use k256::{ProjectivePoint, Scalar};
use localnet::LocalNet;
use localnet_services::threshold::{master_key_seed, Algorithm};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use tensormine_integration_tests::*;

const PATH: [&[u8]; 2] = [b"tensormine", b"conformance"];
const MESSAGE: &[u8] = b"pay 1000 sat to the miner of job 42";

fn path() -> Vec<Vec<u8>> {
    PATH.iter().map(|p| p.to_vec()).collect()
}

fn candid_path(path: &[Vec<u8>]) -> Vec<ByteBuf> {
    path.iter().cloned().map(ByteBuf::from).collect()
}

fn ok<T>(result: Result<T, RejectInfo>) -> T {
    result.unwrap_or_else(|reject| panic!("management call rejected: {reject:?}"))
}

fn ecdsa_key(net: &mut LocalNet, canister: Principal, path: &[Vec<u8>]) -> PublicKeyReply {
    ok(update(
        net,
        canister,
        "ecdsa_public_key",
        (KEY_NAME, candid_path(path)),
    ))
}

fn schnorr_key(
    net: &mut LocalNet,
    canister: Principal,
    algorithm: SchnorrAlgorithm,
) -> PublicKeyReply {
    ok(update(
        net,
        canister,
        "schnorr_public_key",
        (algorithm, KEY_NAME, candid_path(&path())),
    ))
}

fn schnorr_sign(
    net: &mut LocalNet,
    canister: Principal,
    algorithm: SchnorrAlgorithm,
    merkle_root: Option<Vec<u8>>,
) -> Vec<u8> {
    let args = (
        algorithm,
        KEY_NAME,
        candid_path(&path()),
        ByteBuf::from(MESSAGE),
        merkle_root.map(ByteBuf::from),
    );
    ok::<ByteBuf>(update(net, canister, "schnorr_sign", args)).into_vec()
}

fn secp256k1_master(algorithm: Algorithm) -> ic_secp256k1::PublicKey {
    ic_secp256k1::PrivateKey::generate_from_seed(&master_key_seed(algorithm, KEY_NAME)).public_key()
}

/// The canister's secp256k1 key at `path`, derived offline from the master public key.
fn offline_secp256k1_key(
    algorithm: Algorithm,
    canister: Principal,
    path: &[Vec<u8>],
) -> (Vec<u8>, [u8; 32]) {
    let derivation =
        ic_secp256k1::DerivationPath::from_canister_id_and_path(canister.as_slice(), path);
    let (key, chain_code) = secp256k1_master(algorithm).derive_subkey(&derivation);
    (key.serialize_sec1(true), chain_code)
}

#[test]
fn ecdsa_public_key_equals_offline_derivation_from_the_master_key() {
    let (mut net, canister) = net_with_conformance();

    let reply = ecdsa_key(&mut net, canister, &path());

    let (expected_key, expected_chain_code) =
        offline_secp256k1_key(Algorithm::EcdsaSecp256k1, canister, &path());
    assert_eq!(reply.public_key.as_slice(), expected_key.as_slice());
    assert_eq!(reply.chain_code.as_slice(), expected_chain_code.as_slice());
}

#[test]
fn ecdsa_child_key_derives_offline_from_parent_key_and_chain_code() {
    let (mut net, canister) = net_with_conformance();
    let parent = ecdsa_key(&mut net, canister, &path()[..1]);
    let child = ecdsa_key(&mut net, canister, &path());

    let parent_key =
        ic_secp256k1::PublicKey::deserialize_sec1(&parent.public_key).expect("SEC1 key");
    let chain_code: [u8; 32] = parent
        .chain_code
        .as_slice()
        .try_into()
        .expect("32-byte chain code");
    let step =
        ic_secp256k1::DerivationPath::new(vec![ic_secp256k1::DerivationIndex(PATH[1].to_vec())]);
    let (derived, derived_chain_code) =
        parent_key.derive_subkey_with_chain_code(&step, &chain_code);

    assert_eq!(derived.serialize_sec1(true), child.public_key.into_vec());
    assert_eq!(derived_chain_code.as_slice(), child.chain_code.as_slice());
}

#[test]
fn ecdsa_signature_verifies_with_k256() {
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    let (mut net, canister) = net_with_conformance();
    let hash = Sha256::digest(MESSAGE).to_vec();

    let signature: ByteBuf = ok(update(
        &mut net,
        canister,
        "ecdsa_sign",
        (KEY_NAME, candid_path(&path()), ByteBuf::from(hash.clone())),
    ));

    let (key, _) = offline_secp256k1_key(Algorithm::EcdsaSecp256k1, canister, &path());
    let verifying_key = k256::ecdsa::VerifyingKey::from_sec1_bytes(&key).expect("SEC1 key");
    let signature = k256::ecdsa::Signature::from_slice(&signature).expect("64-byte r||s");
    verifying_key
        .verify_prehash(&hash, &signature)
        .expect("ECDSA signature verifies");
    let other_hash = Sha256::digest(b"another message");
    assert!(verifying_key
        .verify_prehash(&other_hash, &signature)
        .is_err());
}

#[test]
fn bip340_signature_verifies_with_k256() {
    let (mut net, canister) = net_with_conformance();

    let reply = schnorr_key(&mut net, canister, SchnorrAlgorithm::Bip340secp256k1);
    let signature = schnorr_sign(&mut net, canister, SchnorrAlgorithm::Bip340secp256k1, None);

    let (expected_key, _) = offline_secp256k1_key(Algorithm::SchnorrBip340, canister, &path());
    assert_eq!(reply.public_key.as_slice(), expected_key.as_slice());
    let x_only = k256::schnorr::VerifyingKey::from_bytes(&expected_key[1..]).expect("x-only key");
    let signature =
        k256::schnorr::Signature::try_from(signature.as_slice()).expect("64-byte signature");
    x_only
        .verify_raw(MESSAGE, &signature)
        .expect("BIP340 signature verifies");
    assert!(x_only.verify_raw(b"another message", &signature).is_err());
}

/// BIP341 output key: `P + H_TapTweak(P_x || merkle_root)·G`, x-only.
fn taproot_output_key(internal_x_only: &[u8], merkle_root: &[u8]) -> k256::schnorr::VerifyingKey {
    let internal = k256::schnorr::VerifyingKey::from_bytes(internal_x_only).expect("x-only key");
    let tag = Sha256::digest(b"TapTweak");
    let tweak = Sha256::new()
        .chain_update(tag)
        .chain_update(tag)
        .chain_update(internal_x_only)
        .chain_update(merkle_root)
        .finalize();
    let tweak =
        Option::<Scalar>::from(Scalar::from_repr(tweak)).expect("tweak below the group order");
    let output = (ProjectivePoint::from(*internal.as_affine())
        + ProjectivePoint::GENERATOR * tweak)
        .to_affine();
    k256::schnorr::VerifyingKey::from_bytes(&output.x()).expect("x-only output key")
}

#[test]
fn bip341_tweaked_signature_verifies_under_the_taproot_output_key() {
    let (mut net, canister) = net_with_conformance();
    let merkle_root = Sha256::digest(b"a tap tree").to_vec();

    let signature = schnorr_sign(
        &mut net,
        canister,
        SchnorrAlgorithm::Bip340secp256k1,
        Some(merkle_root.clone()),
    );

    let (internal_key, _) = offline_secp256k1_key(Algorithm::SchnorrBip340, canister, &path());
    let signature =
        k256::schnorr::Signature::try_from(signature.as_slice()).expect("64-byte signature");
    let output_key = taproot_output_key(&internal_key[1..], &merkle_root);
    output_key
        .verify_raw(MESSAGE, &signature)
        .expect("BIP341 signature verifies under the tweaked key");
    let internal = k256::schnorr::VerifyingKey::from_bytes(&internal_key[1..]).expect("x-only key");
    assert!(
        internal.verify_raw(MESSAGE, &signature).is_err(),
        "not under the untweaked key"
    );
}

#[test]
fn bip341_key_path_only_tweak_uses_an_empty_merkle_root() {
    let (mut net, canister) = net_with_conformance();

    let signature = schnorr_sign(
        &mut net,
        canister,
        SchnorrAlgorithm::Bip340secp256k1,
        Some(Vec::new()),
    );

    let (internal_key, _) = offline_secp256k1_key(Algorithm::SchnorrBip340, canister, &path());
    let signature =
        k256::schnorr::Signature::try_from(signature.as_slice()).expect("64-byte signature");
    taproot_output_key(&internal_key[1..], &[])
        .verify_raw(MESSAGE, &signature)
        .expect("verifies under P + H(P)·G");
}

#[test]
fn ed25519_signature_verifies_with_ed25519_dalek() {
    let (mut net, canister) = net_with_conformance();

    let reply = schnorr_key(&mut net, canister, SchnorrAlgorithm::Ed25519);
    let signature = schnorr_sign(&mut net, canister, SchnorrAlgorithm::Ed25519, None);

    let master = ic_ed25519::PrivateKey::generate_from_seed(&master_key_seed(
        Algorithm::SchnorrEd25519,
        KEY_NAME,
    ))
    .public_key();
    let derivation =
        ic_ed25519::DerivationPath::from_canister_id_and_path(canister.as_slice(), &path());
    let (expected_key, expected_chain_code) = master.derive_subkey(&derivation);
    assert_eq!(
        reply.public_key.as_slice(),
        expected_key.serialize_raw().as_slice()
    );
    assert_eq!(reply.chain_code.as_slice(), expected_chain_code.as_slice());
    let key = ed25519_dalek::VerifyingKey::from_bytes(&expected_key.serialize_raw())
        .expect("Ed25519 key");
    let signature = ed25519_dalek::Signature::from_slice(&signature).expect("64-byte signature");
    key.verify_strict(MESSAGE, &signature)
        .expect("Ed25519 signature verifies");
    assert!(key.verify_strict(b"another message", &signature).is_err());
}

#[test]
fn keys_differ_per_canister_and_per_algorithm() {
    let mut net = LocalNet::new();
    let first = install_conformance(&mut net);
    let second = install_conformance(&mut net);

    let ecdsa_first = ecdsa_key(&mut net, first, &path());
    let ecdsa_second = ecdsa_key(&mut net, second, &path());
    let bip340_first = schnorr_key(&mut net, first, SchnorrAlgorithm::Bip340secp256k1);

    assert_ne!(ecdsa_first.public_key, ecdsa_second.public_key);
    assert_ne!(ecdsa_first.public_key, bip340_first.public_key);
}

#[test]
fn raw_rand_gives_32_fresh_bytes_per_call() {
    let (mut net, canister) = net_with_conformance();

    let first: ByteBuf = ok(update(&mut net, canister, "raw_rand", ()));
    let second: ByteBuf = ok(update(&mut net, canister, "raw_rand", ()));

    assert_eq!((first.len(), second.len()), (32, 32));
    assert_ne!(first, second);
}
