//! PEM identities: ed25519 (as dfx and `tensormine` write it) and secp256k1
//! (as dfx writes it, with and without the EC PARAMETERS block) load and give
//! the principal computed here independently from the public key.

use candid::Principal;
use tensormine_cli::identity::{self, IdentitySource};

fn ed25519_principal(seed: [u8; 32]) -> Principal {
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    // RFC 8410 SubjectPublicKeyInfo of an ed25519 key.
    let mut der = hex::decode("302a300506032b6570032100").unwrap();
    der.extend_from_slice(&public);
    Principal::self_authenticating(&der)
}

fn load_pem(dir: &std::path::Path, name: &str, pem: &str) -> identity::LoadedIdentity {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    identity::load(&IdentitySource::Pem(path)).unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

#[test]
fn ed25519_pem_loads_with_the_expected_principal() {
    let dir = tempfile::tempdir().unwrap();
    let id = load_pem(dir.path(), "ed.pem", &identity::ed25519_pem(&[5; 32]));
    assert_eq!(id.kind, "ed25519");
    assert_eq!(id.principal, ed25519_principal([5; 32]));
    assert!(!id.created);
    // Another key, another principal.
    let other = load_pem(dir.path(), "ed2.pem", &identity::ed25519_pem(&[6; 32]));
    assert_ne!(other.principal, id.principal);
    assert_eq!(other.principal, ed25519_principal([6; 32]));
}

#[test]
fn secp256k1_pem_loads_with_the_expected_principal() {
    use k256::pkcs8::EncodePublicKey;
    let key = k256::SecretKey::from_slice(&[3; 32]).unwrap();
    let der = key.public_key().to_public_key_der().unwrap();
    let expected = Principal::self_authenticating(der.as_bytes());
    let sec1 = key
        .to_sec1_pem(k256::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let id = load_pem(dir.path(), "k.pem", &sec1);
    assert_eq!(id.kind, "secp256k1");
    assert_eq!(id.principal, expected);
    // dfx writes the curve's parameters first.
    let dfx_form =
        format!("-----BEGIN EC PARAMETERS-----\nBgUrgQQACg==\n-----END EC PARAMETERS-----\n{sec1}");
    let id = load_pem(dir.path(), "dfx.pem", &dfx_form);
    assert_eq!(id.principal, expected);
}

#[test]
fn the_default_identity_is_created_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/identity.pem");
    let first = identity::load(&IdentitySource::Default(path.clone())).unwrap();
    assert!(first.created);
    assert_eq!(first.kind, "ed25519");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let again = identity::load(&IdentitySource::Default(path.clone())).unwrap();
    assert!(!again.created);
    assert_eq!(again.principal, first.principal);
    // A second project gets another key.
    let other = identity::load(&IdentitySource::Default(
        dir.path().join("other/identity.pem"),
    ))
    .unwrap();
    assert_ne!(other.principal, first.principal);
}

#[test]
fn dfx_identities_are_found_by_name() {
    let home = tempfile::tempdir().unwrap();
    let path = identity::dfx_identity_path(home.path(), "alice");
    assert!(path.ends_with(".config/dfx/identity/alice/identity.pem"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, identity::ed25519_pem(&[9; 32])).unwrap();
    // The only test in this binary that reads HOME.
    std::env::set_var("HOME", home.path());
    let id = identity::load(&IdentitySource::Dfx("alice".into())).unwrap();
    assert_eq!(id.principal, ed25519_principal([9; 32]));
    let e = identity::load(&IdentitySource::Dfx("bob".into()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no dfx identity \"bob\"") && e.contains("dfx identity list"),
        "{e}"
    );
    let enc =
        identity::dfx_identity_path(home.path(), "carol").with_file_name("identity.pem.encrypted");
    std::fs::create_dir_all(enc.parent().unwrap()).unwrap();
    std::fs::write(&enc, b"x").unwrap();
    let e = identity::load(&IdentitySource::Dfx("carol".into()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("encrypted") && e.contains("dfx identity export carol"),
        "{e}"
    );
}

#[test]
fn bad_files_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = identity::load(&IdentitySource::Pem(dir.path().join("nope.pem"))).unwrap_err();
    assert!(missing.to_string().contains("does not exist"), "{missing}");
    let path = dir.path().join("junk.pem");
    std::fs::write(&path, "hello").unwrap();
    let e = format!(
        "{:#}",
        identity::load(&IdentitySource::Pem(path.clone())).unwrap_err()
    );
    assert!(e.contains("not a PEM file"), "{e}");
    std::fs::write(
        &path,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let e = format!(
        "{:#}",
        identity::load(&IdentitySource::Pem(path)).unwrap_err()
    );
    assert!(
        e.contains("not an ed25519, secp256k1 or P-256 private key"),
        "{e}"
    );
}
