use super::*;

fn canister() -> Principal {
    Principal::from_text("rrkah-fqaaa-aaaaa-aaaaq-cai").unwrap()
}

const TIME: u64 = 1_700_000_000_123_456_789;

#[test]
fn der_key_has_ic_prefix_and_raw_key() {
    let key = RootKey::from_seed([7; 32]);
    let der = key.public_key_der();
    assert_eq!(der.len(), 133);
    assert_eq!(&der[..37], DER_PREFIX.as_slice());
    assert_eq!(&der[37..], key.public_key_raw().as_slice());
    // The same seed gives the same key, another seed another.
    assert_eq!(RootKey::from_seed([7; 32]).public_key_der(), der);
    assert_ne!(RootKey::from_seed([8; 32]).public_key_der(), der);
}

#[test]
fn certificate_signature_verifies_with_bls_crate() {
    let key = RootKey::from_seed([1; 32]);
    let cert = key.canister_data_certificate(TIME, canister(), b"root hash");
    // 0xd9d9f7 is the self-describing tag 55799.
    assert_eq!(&cert[..3], &[0xd9, 0xd9, 0xf7]);
    let wire = decode_certificate(&cert).unwrap();
    let message = state_root_message(&wire.tree.digest());
    let raw_key = &key.public_key_der()[37..];
    ic_verify_bls_signature::verify_bls_signature(&wire.signature, &message, raw_key).unwrap();
    // The domain separator is part of what is signed.
    let bare = wire.tree.digest();
    assert!(
        ic_verify_bls_signature::verify_bls_signature(&wire.signature, &bare, raw_key).is_err()
    );
}

#[test]
fn canister_data_certificate_round_trips() {
    let key = RootKey::from_seed([2; 32]);
    let cert = key.canister_data_certificate(TIME, canister(), &[0xab; 32]);
    let (time, data) =
        verify_canister_data_certificate(&cert, &key.public_key_der(), canister()).unwrap();
    assert_eq!(time, TIME);
    assert_eq!(data, vec![0xab; 32]);
}

#[test]
fn other_canister_has_no_data_in_certificate() {
    let key = RootKey::from_seed([2; 32]);
    let cert = key.canister_data_certificate(TIME, canister(), b"x");
    let other = Principal::from_text("ryjl3-tyaaa-aaaaa-aaaba-cai").unwrap();
    let err = verify_canister_data_certificate(&cert, &key.public_key_der(), other);
    assert!(matches!(err, Err(CertificateError::MissingPath(_))));
}

#[test]
fn certificate_fails_under_another_root_key() {
    let cert = RootKey::from_seed([3; 32]).canister_data_certificate(TIME, canister(), b"x");
    let other = RootKey::from_seed([4; 32]).public_key_der();
    assert_eq!(
        verify_canister_data_certificate(&cert, &other, canister()),
        Err(CertificateError::InvalidSignature)
    );
}

#[test]
fn tampered_certificate_fails() {
    let key = RootKey::from_seed([5; 32]);
    let data = b"certified";
    let cert = key.canister_data_certificate(TIME, canister(), data);
    // Flip one byte of the certified data inside the CBOR.
    let at = cert.windows(data.len()).position(|w| w == data).unwrap();
    let mut tampered = cert.clone();
    tampered[at] ^= 1;
    assert_eq!(
        verify_canister_data_certificate(&tampered, &key.public_key_der(), canister()),
        Err(CertificateError::InvalidSignature)
    );
    // And a flipped signature byte.
    let mut tampered = cert;
    // The signature is the last field: its 48 bytes end the encoding.
    let sig_at = tampered.len() - 10;
    tampered[sig_at] ^= 0x40;
    assert_eq!(
        verify_canister_data_certificate(&tampered, &key.public_key_der(), canister()),
        Err(CertificateError::InvalidSignature)
    );
}

#[test]
fn malformed_root_key_is_rejected() {
    let key = RootKey::from_seed([6; 32]);
    let cert = key.canister_data_certificate(TIME, canister(), b"x");
    let raw = key.public_key_raw();
    assert_eq!(
        verify_canister_data_certificate(&cert, &raw, canister()),
        Err(CertificateError::MalformedRootKey)
    );
}
