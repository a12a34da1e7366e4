use super::*;
use ic_management_canister_types::{Bip341, SchnorrKeyId};
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::sec1::ToEncodedPoint;

fn canister() -> Principal {
    Principal::from_text("rrkah-fqaaa-aaaaa-aaaaq-cai").unwrap()
}

fn ecdsa_key(name: &str) -> EcdsaKeyId {
    EcdsaKeyId {
        curve: EcdsaCurve::Secp256k1,
        name: name.to_string(),
    }
}

fn schnorr_key(algorithm: SchnorrAlgorithm, name: &str) -> SchnorrKeyId {
    SchnorrKeyId {
        algorithm,
        name: name.to_string(),
    }
}

fn path() -> Vec<Vec<u8>> {
    vec![b"job".to_vec(), vec![0, 0, 0, 7], vec![]]
}

fn schnorr_pk(keys: &ThresholdKeys, algorithm: SchnorrAlgorithm, p: Vec<Vec<u8>>) -> Vec<u8> {
    let args = SchnorrPublicKeyArgs {
        canister_id: None,
        derivation_path: p,
        key_id: schnorr_key(algorithm, "test_key_1"),
    };
    keys.schnorr_public_key(canister(), &args)
        .unwrap()
        .public_key
}

fn sign_schnorr(
    keys: &ThresholdKeys,
    algorithm: SchnorrAlgorithm,
    message: &[u8],
    aux: Option<SchnorrAux>,
) -> Result<Vec<u8>, ThresholdError> {
    let args = SignWithSchnorrArgs {
        message: message.to_vec(),
        derivation_path: path(),
        key_id: schnorr_key(algorithm, "test_key_1"),
        aux,
    };
    keys.sign_with_schnorr(canister(), &args)
        .map(|r| r.signature)
}

#[test]
fn ecdsa_signature_verifies_against_derived_key() {
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    let keys = ThresholdKeys::new();
    let pk_args = EcdsaPublicKeyArgs {
        canister_id: None,
        derivation_path: path(),
        key_id: ecdsa_key("key_1"),
    };
    let pk = keys.ecdsa_public_key(canister(), &pk_args).unwrap();
    assert_eq!(pk.public_key.len(), 33);
    let hash: [u8; 32] = Sha256::digest(b"pay miner 42").into();
    let sign_args = SignWithEcdsaArgs {
        message_hash: hash.to_vec(),
        derivation_path: path(),
        key_id: ecdsa_key("key_1"),
    };
    let sig = keys
        .sign_with_ecdsa(canister(), &sign_args)
        .unwrap()
        .signature;
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&pk.public_key).unwrap();
    let sig = k256::ecdsa::Signature::from_slice(&sig).unwrap();
    assert!(
        sig.normalize_s().is_none(),
        "s must be low, as the IC returns it"
    );
    vk.verify_prehash(&hash, &sig).unwrap();
    let other: [u8; 32] = Sha256::digest(b"pay miner 43").into();
    assert!(vk.verify_prehash(&other, &sig).is_err());
}

#[test]
fn public_key_canister_id_overrides_caller() {
    let keys = ThresholdKeys::new();
    let other = Principal::from_text("ryjl3-tyaaa-aaaaa-aaaba-cai").unwrap();
    let mut args = EcdsaPublicKeyArgs {
        canister_id: Some(canister()),
        derivation_path: path(),
        key_id: ecdsa_key("dfx_test_key"),
    };
    let via_override = keys.ecdsa_public_key(other, &args).unwrap();
    args.canister_id = None;
    assert_eq!(
        keys.ecdsa_public_key(canister(), &args).unwrap(),
        via_override
    );
    assert_ne!(keys.ecdsa_public_key(other, &args).unwrap(), via_override);
}

#[test]
fn algorithms_and_key_names_have_distinct_master_keys() {
    let keys = ThresholdKeys::new();
    let ecdsa = |name| {
        let args = EcdsaPublicKeyArgs {
            canister_id: None,
            derivation_path: vec![],
            key_id: ecdsa_key(name),
        };
        keys.ecdsa_public_key(canister(), &args).unwrap().public_key
    };
    let bip340 = schnorr_pk(&keys, SchnorrAlgorithm::Bip340secp256k1, vec![]);
    assert_ne!(ecdsa("test_key_1"), bip340);
    assert_ne!(ecdsa("test_key_1"), ecdsa("key_1"));
    assert_ne!(ecdsa("dfx_test_key"), ecdsa("key_1"));
}

#[test]
fn bip340_signature_verifies_with_k256() {
    let keys = ThresholdKeys::new();
    let pk = schnorr_pk(&keys, SchnorrAlgorithm::Bip340secp256k1, path());
    assert_eq!(pk.len(), 33);
    let message = b"an arbitrary-length message, not a hash";
    let sig = sign_schnorr(&keys, SchnorrAlgorithm::Bip340secp256k1, message, None).unwrap();
    let vk = k256::schnorr::VerifyingKey::from_bytes(&pk[1..]).unwrap();
    let sig = k256::schnorr::Signature::try_from(sig.as_slice()).unwrap();
    vk.verify_raw(message, &sig).unwrap();
    assert!(vk.verify_raw(b"another message", &sig).is_err());
}

/// BIP341 output key: `lift_x(P) + int(tagged_hash("TapTweak", P.x || root)) * G`.
fn taproot_output_key(internal_sec1: &[u8], merkle_root: &[u8]) -> k256::schnorr::VerifyingKey {
    let tag = Sha256::digest(b"TapTweak");
    let tweak = Sha256::new()
        .chain_update(tag)
        .chain_update(tag)
        .chain_update(&internal_sec1[1..])
        .chain_update(merkle_root)
        .finalize();
    let t = <k256::Scalar as Reduce<k256::U256>>::reduce_bytes(&tweak);
    let mut even = internal_sec1.to_vec();
    even[0] = 0x02;
    let p = k256::PublicKey::from_sec1_bytes(&even).unwrap();
    let q = (p.to_projective() + k256::ProjectivePoint::GENERATOR * t).to_affine();
    let encoded = q.to_encoded_point(true);
    k256::schnorr::VerifyingKey::from_bytes(encoded.x().unwrap()).unwrap()
}

#[test]
fn bip341_signature_verifies_against_tweaked_output_key() {
    let keys = ThresholdKeys::new();
    let pk = schnorr_pk(&keys, SchnorrAlgorithm::Bip340secp256k1, path());
    let message = Sha256::digest(b"taproot sighash").to_vec();
    for root in [vec![], vec![9u8; 32]] {
        let aux = SchnorrAux::Bip341(Bip341 {
            merkle_root_hash: root.clone(),
        });
        let raw = sign_schnorr(
            &keys,
            SchnorrAlgorithm::Bip340secp256k1,
            &message,
            Some(aux),
        )
        .unwrap();
        let signature = k256::schnorr::Signature::try_from(raw.as_slice()).unwrap();
        taproot_output_key(&pk, &root)
            .verify_raw(&message, &signature)
            .unwrap();
        // Signed by the tweaked key, so the untweaked key must not accept it.
        let untweaked = k256::schnorr::VerifyingKey::from_bytes(&pk[1..]).unwrap();
        assert!(untweaked.verify_raw(&message, &signature).is_err());
    }
}

#[test]
fn schnorr_signing_is_reproducible() {
    let keys = ThresholdKeys::new();
    let a = sign_schnorr(&keys, SchnorrAlgorithm::Bip340secp256k1, b"m", None).unwrap();
    let b = sign_schnorr(
        &ThresholdKeys::new(),
        SchnorrAlgorithm::Bip340secp256k1,
        b"m",
        None,
    );
    assert_eq!(a, b.unwrap());
}

#[test]
fn ed25519_signature_verifies_with_dalek() {
    let keys = ThresholdKeys::new();
    let pk = schnorr_pk(&keys, SchnorrAlgorithm::Ed25519, path());
    let message = b"receipt for job 7";
    let sig = sign_schnorr(&keys, SchnorrAlgorithm::Ed25519, message, None).unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk.try_into().unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&sig.try_into().unwrap());
    vk.verify_strict(message, &sig).unwrap();
    assert!(vk.verify_strict(b"receipt for job 8", &sig).is_err());
}

#[test]
fn offline_derivation_from_canister_key_matches_nested_path() {
    let keys = ThresholdKeys::new();
    let nested = vec![b"a".to_vec(), b"bc".to_vec(), vec![1, 2, 3, 4]];
    // secp256k1 (ECDSA): derive offline from the canister's key and chain code.
    let root_args = EcdsaPublicKeyArgs {
        canister_id: None,
        derivation_path: vec![],
        key_id: ecdsa_key("test_key_1"),
    };
    let root = keys.ecdsa_public_key(canister(), &root_args).unwrap();
    let nested_args = EcdsaPublicKeyArgs {
        derivation_path: nested.clone(),
        ..root_args
    };
    let expected = keys.ecdsa_public_key(canister(), &nested_args).unwrap();
    let offline_path = ic_secp256k1::DerivationPath::new(
        nested
            .iter()
            .cloned()
            .map(ic_secp256k1::DerivationIndex)
            .collect(),
    );
    let (derived, cc) = ic_secp256k1::PublicKey::deserialize_sec1(&root.public_key)
        .unwrap()
        .derive_subkey_with_chain_code(&offline_path, &root.chain_code.try_into().unwrap());
    assert_eq!(derived.serialize_sec1(true), expected.public_key);
    assert_eq!(cc.to_vec(), expected.chain_code);

    // Ed25519 likewise.
    let args = |p: Vec<Vec<u8>>| SchnorrPublicKeyArgs {
        canister_id: None,
        derivation_path: p,
        key_id: schnorr_key(SchnorrAlgorithm::Ed25519, "test_key_1"),
    };
    let root = keys.schnorr_public_key(canister(), &args(vec![])).unwrap();
    let expected = keys
        .schnorr_public_key(canister(), &args(nested.clone()))
        .unwrap();
    let offline_path = ic_ed25519::DerivationPath::new(
        nested
            .into_iter()
            .map(ic_ed25519::DerivationIndex)
            .collect(),
    );
    let (derived, _) = ic_ed25519::PublicKey::deserialize_raw(&root.public_key)
        .unwrap()
        .derive_subkey_with_chain_code(&offline_path, &root.chain_code.try_into().unwrap());
    assert_eq!(derived.serialize_raw().to_vec(), expected.public_key);
}

#[test]
fn unknown_key_names_are_rejected_listing_existing_keys() {
    let keys = ThresholdKeys::new();
    let args = SignWithEcdsaArgs {
        message_hash: vec![1; 32],
        derivation_path: vec![],
        key_id: ecdsa_key("no_such_key"),
    };
    let err = keys.sign_with_ecdsa(canister(), &args).unwrap_err();
    assert_eq!(err.reject_code(), RejectCode::DestinationInvalid);
    assert!(err.message().starts_with(
        "Unable to route management canister request sign_with_ecdsa: ChainKeyError(\"Requested \
         unknown or disabled threshold key: ecdsa:Secp256k1:no_such_key, existing enabled keys: ["
    ));
    assert!(err.message().contains("schnorr:Ed25519:dfx_test_key"));

    let pk_args = SchnorrPublicKeyArgs {
        canister_id: None,
        derivation_path: vec![],
        key_id: schnorr_key(SchnorrAlgorithm::Bip340secp256k1, "nope"),
    };
    let err = keys.schnorr_public_key(canister(), &pk_args).unwrap_err();
    assert!(err.message().contains(
        "schnorr_public_key: ChainKeyError(\"Requested unknown threshold key: \
         schnorr:Bip340Secp256k1:nope, existing keys: [ecdsa:Secp256k1:dfx_test_key, "
    ));
}

#[test]
fn secp256r1_is_an_unknown_key() {
    let keys = ThresholdKeys::new();
    let args = EcdsaPublicKeyArgs {
        canister_id: None,
        derivation_path: vec![],
        key_id: EcdsaKeyId {
            curve: EcdsaCurve::Secp256r1,
            name: "key_1".to_string(),
        },
    };
    let err = keys.ecdsa_public_key(canister(), &args).unwrap_err();
    assert!(err.message().contains("ecdsa:Secp256r1:key_1"));
}

#[test]
fn ecdsa_message_hash_must_be_32_bytes() {
    let keys = ThresholdKeys::new();
    for len in [0, 31, 33] {
        let args = SignWithEcdsaArgs {
            message_hash: vec![1; len],
            derivation_path: vec![],
            key_id: ecdsa_key("dfx_test_key"),
        };
        let err = keys.sign_with_ecdsa(canister(), &args).unwrap_err();
        assert_eq!(err.reject_code(), RejectCode::CanisterReject);
        assert!(err.message().contains("32 bytes"), "{}", err.message());
    }
}

#[test]
fn aux_is_validated_per_algorithm() {
    let keys = ThresholdKeys::new();
    let aux = |len| {
        Some(SchnorrAux::Bip341(Bip341 {
            merkle_root_hash: vec![0; len],
        }))
    };
    for len in [8, 100] {
        let err = sign_schnorr(&keys, SchnorrAlgorithm::Bip340secp256k1, b"m", aux(len));
        let err = err.unwrap_err();
        assert_eq!(err.reject_code(), RejectCode::CanisterReject);
        assert_eq!(err.message(), "Invalid aux field for Bip340Secp256k1");
    }
    for len in [0, 32] {
        let err = sign_schnorr(&keys, SchnorrAlgorithm::Ed25519, b"m", aux(len)).unwrap_err();
        assert_eq!(
            err.message(),
            "Schnorr algorithm Ed25519 does not support aux input"
        );
    }
}
