//! Certified data: the certificate a query gets verifies against localnet's root key with
//! independent code (ic-certification + ic-verify-bls-signature), and holds time and data.

use candid::Principal;
use ic_certification::{Certificate, LookupResult};

type Cert = Certificate;
use localnet::{Config, ErrorCode, LocalNet, RejectCode};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use tensormine_integration_tests::*;

/// CBOR self-describing tag 55799, which the IC puts in front of certificates.
const SELF_DESCRIBING_TAG: [u8; 3] = [0xD9, 0xD9, 0xF7];
/// DER SubjectPublicKeyInfo prefix of an IC BLS12-381 G2 key; the raw key (96 bytes) follows.
const BLS_DER_PREFIX_LEN: usize = 37;
const BLS_RAW_KEY_LEN: usize = 96;

fn certified_payload() -> Vec<u8> {
    Sha256::digest(b"tensormine conformance").to_vec()
}

fn parse_certificate(bytes: &[u8]) -> Cert {
    let cbor = bytes
        .strip_prefix(SELF_DESCRIBING_TAG.as_slice())
        .expect("certificate starts with tag 55799");
    ciborium::from_reader(cbor).expect("certificate is CBOR")
}

fn raw_root_key(root_key_der: &[u8]) -> &[u8] {
    assert_eq!(
        root_key_der.len(),
        BLS_DER_PREFIX_LEN + BLS_RAW_KEY_LEN,
        "DER-encoded BLS key"
    );
    &root_key_der[BLS_DER_PREFIX_LEN..]
}

/// `domain_sep("ic-state-root") || root_hash`, what the root key signs.
fn state_root_message(certificate: &Cert) -> Vec<u8> {
    let domain = b"ic-state-root";
    [
        &[domain.len() as u8][..],
        domain,
        &certificate.tree.digest(),
    ]
    .concat()
}

fn verify_signature(certificate: &Cert, root_key_der: &[u8]) -> Result<(), ()> {
    let message = state_root_message(certificate);
    ic_verify_bls_signature::verify_bls_signature(
        &certificate.signature,
        &message,
        raw_root_key(root_key_der),
    )
}

fn lookup(certificate: &Cert, path: &[&[u8]]) -> Vec<u8> {
    match certificate.tree.lookup_path(path.iter().copied()) {
        LookupResult::Found(value) => value.to_vec(),
        other => panic!("certificate has no value at {path:?}: {other:?}"),
    }
}

fn certificate_from_query(net: &mut LocalNet, canister: Principal) -> Cert {
    let bytes: Option<ByteBuf> = query(net, canister, "get_certificate", ());
    parse_certificate(&bytes.expect("a query gets a data certificate"))
}

#[test]
fn data_certificate_verifies_against_the_root_key_and_holds_time_and_data() {
    let (mut net, canister) = net_with_conformance();
    update_unit(
        &mut net,
        canister,
        "set_certified",
        (ByteBuf::from(certified_payload()),),
    );

    let certificate = certificate_from_query(&mut net, canister);

    assert!(
        certificate.delegation.is_none(),
        "localnet's root key signs directly"
    );
    verify_signature(&certificate, &net.root_key_der()).expect("the BLS signature verifies");
    let certified = lookup(
        &certificate,
        &[b"canister", canister.as_slice(), b"certified_data"],
    );
    assert_eq!(certified, certified_payload());
    let time = leb128::read::unsigned(&mut lookup(&certificate, &[b"time"]).as_slice())
        .expect("LEB128 time");
    assert!(
        time <= net.time() && time > 0,
        "certified time {time} vs net time {}",
        net.time()
    );
}

#[test]
fn certificate_does_not_verify_against_another_root_key() {
    let (mut net, canister) = net_with_conformance();
    update_unit(
        &mut net,
        canister,
        "set_certified",
        (ByteBuf::from(certified_payload()),),
    );
    let other_net = LocalNet::with_config(Config {
        seed: [7; 32],
        ..Config::default()
    });

    let certificate = certificate_from_query(&mut net, canister);

    assert_ne!(
        other_net.root_key_der(),
        net.root_key_der(),
        "the seed decides the root key"
    );
    assert!(verify_signature(&certificate, &other_net.root_key_der()).is_err());
}

#[test]
fn data_certificate_is_absent_in_replicated_execution() {
    let (mut net, canister) = net_with_conformance();

    let in_update: Option<ByteBuf> = update(&mut net, canister, "get_certificate", ());

    assert_eq!(in_update, None);
}

#[test]
fn certified_data_over_32_bytes_is_a_contract_violation() {
    let (mut net, canister) = net_with_conformance();

    let reject = update_rejected(
        &mut net,
        canister,
        "set_certified",
        (ByteBuf::from(vec![1u8; 33]),),
    );

    assert_reject(
        &reject,
        RejectCode::CanisterError,
        ErrorCode::CanisterContractViolation,
    );
    assert_still_usable(&mut net, canister);
}
