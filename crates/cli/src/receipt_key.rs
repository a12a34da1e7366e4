//! The router's receipt key from a source the verifier trusts, never from
//! the receipt file: derived offline from a published threshold master key
//! for the router's canister id and the empty derivation path — what the IC's
//! `schnorr_public_key` returns for the router (`ic_ed25519`'s
//! `DerivationPath::from_canister_id_and_path`) — or given with
//! `--public-key`.
//!
//! Master keys: on `ic`, the IC's published Ed25519 keys (`key_1`,
//! `test_key_1`); on a local network (localnet), the keys localnet generates
//! from public seeds (`tensormine-localnet/schnorr-ed25519/<name>`, see
//! docs/localnet.md), so anyone can derive a local router's key too.

use crate::config::Network;
use anyhow::{bail, Result};
use candid::Principal;
use ic_ed25519::{DerivationPath, MasterPublicKeyId, PrivateKey, PublicKey};

/// The Schnorr key name the router signs with on `network` by default (what
/// `tensormine deploy` configures).
pub fn default_key_name(network: &Network) -> &'static str {
    if network.is_local() {
        "dfx_test_key"
    } else {
        "key_1"
    }
}

/// The published Ed25519 master public key `key_name` of `network`.
pub fn master_key(network: &Network, key_name: &str) -> Result<PublicKey> {
    if network.is_local() {
        return match key_name {
            "dfx_test_key" | "test_key_1" | "key_1" => {
                let seed = format!("tensormine-localnet/schnorr-ed25519/{key_name}");
                Ok(PrivateKey::generate_from_seed(seed.as_bytes()).public_key())
            }
            other => bail!(
                "localnet has no Schnorr key {other:?} (it has dfx_test_key, test_key_1 and key_1)"
            ),
        };
    }
    match (network, key_name) {
        (Network::Ic, "key_1") => Ok(PublicKey::mainnet_key(MasterPublicKeyId::Key1)),
        (Network::Ic, "test_key_1") => Ok(PublicKey::mainnet_key(MasterPublicKeyId::TestKey1)),
        (Network::Ic, other) => {
            bail!("the IC has no Ed25519 key {other:?} (it has key_1 and test_key_1)")
        }
        (other, _) => bail!(
            "no published master key is known for network {}: pass the router's key with --public-key HEX",
            other.name()
        ),
    }
}

/// The receipt key of `router` under `network`'s master key `key_name`.
pub fn router_key(network: &Network, key_name: &str, router: Principal) -> Result<[u8; 32]> {
    let master = master_key(network, key_name)?;
    let path = DerivationPath::from_canister_id_and_path(router.as_slice(), &[]);
    Ok(master.derive_subkey(&path).0.serialize_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_router_key_name_and_network() {
        let a = Principal::from_slice(&[1; 10]);
        let b = Principal::from_slice(&[2; 10]);
        let local = Network::Local;
        let k = router_key(&local, "dfx_test_key", a).unwrap();
        assert_ne!(k, router_key(&local, "dfx_test_key", b).unwrap());
        assert_ne!(k, router_key(&local, "key_1", a).unwrap());
        assert_ne!(k, router_key(&Network::Ic, "key_1", a).unwrap());
        // A loopback URL is a local network: the same key.
        let url = Network::parse("http://127.0.0.1:4943").unwrap();
        assert_eq!(k, router_key(&url, "dfx_test_key", a).unwrap());
    }

    #[test]
    fn unknown_masters_are_errors_that_say_what_to_do() {
        let a = Principal::from_slice(&[1; 10]);
        let far = Network::parse("https://replica.example").unwrap();
        let e = router_key(&far, "key_1", a).unwrap_err().to_string();
        assert!(e.contains("--public-key"), "{e}");
        let e = router_key(&Network::Ic, "dfx_test_key", a)
            .unwrap_err()
            .to_string();
        assert!(e.contains("key_1 and test_key_1"), "{e}");
        let e = router_key(&Network::Local, "nope", a)
            .unwrap_err()
            .to_string();
        assert!(e.contains("dfx_test_key"), "{e}");
    }
}
