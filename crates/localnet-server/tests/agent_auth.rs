//! localnet's HTTP interface through ic-agent: authentication. Bad
//! signatures, wrong senders and expired requests are refused with 400;
//! canister signatures and delegation chains authenticate a sender.

mod common;

use candid::Principal;
use common::*;
use ic_agent::{Agent, Identity};
use std::time::{Duration, SystemTime};

/// Re-encodes an envelope after `edit` changed it.
fn tamper(
    signed: &[u8],
    edit: impl FnOnce(&mut Vec<(ciborium::Value, ciborium::Value)>),
) -> Vec<u8> {
    let value: ciborium::Value = ciborium::from_reader(signed).unwrap();
    let ciborium::Value::Tag(55799, inner) = value else {
        panic!("untagged envelope")
    };
    let ciborium::Value::Map(mut entries) = *inner else {
        panic!("not a map")
    };
    edit(&mut entries);
    let mut out = Vec::new();
    ciborium::into_writer(
        &ciborium::Value::Tag(55799, Box::new(ciborium::Value::Map(entries))),
        &mut out,
    )
    .unwrap();
    out
}

fn field<'a>(
    entries: &'a mut [(ciborium::Value, ciborium::Value)],
    key: &str,
) -> &'a mut ciborium::Value {
    &mut entries
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some(key))
        .unwrap()
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_wrong_senders_and_expired_requests_are_400() {
    let handle = start().await;
    let agent = agent(&handle, ed25519_identity(11)).await;
    let canister = install(&agent).await;
    let url = format!("/api/v4/canister/{canister}/call");

    // A flipped bit in the signature.
    let signed = agent.update(&canister, "inc").sign().unwrap();
    let bad_sig = tamper(&signed.signed_update, |e| {
        let ciborium::Value::Bytes(sig) = field(e, "sender_sig") else {
            panic!()
        };
        sig[0] ^= 1;
    });
    let (status, body) = post(&handle, &url, bad_sig.clone()).await;
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("signature"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let e = agent.update_signed(canister, bad_sig).await.unwrap_err();
    assert_eq!(http_status(&e), Some(400), "{e}");

    // Someone else's key for this sender (signature by that key, but the sender
    // is not its self-authenticating principal).
    let other = ed25519_identity(12);
    let signature = other
        .sign_arbitrary(&[b"\x0Aic-request".as_slice(), signed.request_id.as_slice()].concat())
        .unwrap();
    let wrong_sender = tamper(&signed.signed_update, |e| {
        *field(e, "sender_pubkey") = ciborium::Value::Bytes(signature.public_key.clone().unwrap());
        *field(e, "sender_sig") = ciborium::Value::Bytes(signature.signature.clone().unwrap());
    });
    let (status, body) = post(&handle, &url, wrong_sender).await;
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("self-authenticating"),
        "{}",
        String::from_utf8_lossy(&body)
    );

    // Unsigned but not anonymous.
    let unsigned = tamper(&signed.signed_update, |e| {
        e.retain(|(k, _)| k.as_text() == Some("content"))
    });
    assert_eq!(post(&handle, &url, unsigned).await.0, 400);

    // Expired, and too far in the future.
    let past = SystemTime::now() - Duration::from_secs(60);
    let e = agent
        .update(&canister, "inc")
        .expire_at(past)
        .call_and_wait()
        .await
        .unwrap_err();
    assert_eq!(http_status(&e), Some(400), "{e}");
    let e = agent
        .update(&canister, "inc")
        .expire_after(Duration::from_secs(20 * 60))
        .call_and_wait()
        .await
        .unwrap_err();
    assert_eq!(http_status(&e), Some(400), "{e}");
    let e = agent
        .query(&canister, "get")
        .expire_at(past)
        .call()
        .await
        .unwrap_err();
    assert_eq!(http_status(&e), Some(400), "{e}");

    // The effective canister id must be the callee (or, for the management
    // canister, the canister the argument names).
    let elsewhere = Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 1, 1]);
    let e = agent
        .update(&canister, "inc")
        .with_effective_canister_id(elsewhere)
        .call_and_wait()
        .await
        .unwrap_err();
    assert_eq!(http_status(&e), Some(400), "{e}");
    let status_arg = candid::encode_one(ic_management_canister_types::CanisterIdRecord {
        canister_id: canister,
    })
    .unwrap();
    let e = agent
        .update(&Principal::management_canister(), "canister_status")
        .with_effective_canister_id(elsewhere)
        .with_arg(status_arg.clone())
        .call_and_wait()
        .await
        .unwrap_err();
    assert_eq!(http_status(&e), Some(400), "{e}");
    agent
        .update(&Principal::management_canister(), "canister_status")
        .with_effective_canister_id(canister)
        .with_arg(status_arg)
        .call_and_wait()
        .await
        .unwrap();

    // Nothing above ran: the counter is still 0.
    assert_eq!(
        counter(&agent.query(&canister, "get").call().await.unwrap()),
        0
    );
}

/// A canister signature (as Internet Identity's delegations use): a sender whose
/// key is `(canister, seed)`, authenticated by a certificate of the canister's
/// certified data, which is the root of a tree holding `/sig/H(seed)/H(message)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canister_signatures_authenticate_a_sender() {
    use ic_agent::agent::{CallResponse, Envelope, EnvelopeContent};
    use ic_agent::hash_tree::{label, leaf, HashTree};
    use sha2::{Digest, Sha256};
    use std::borrow::Cow;

    let handle = start().await;
    let owner = agent(&handle, ed25519_identity(13)).await;
    let canister = install(&owner).await;

    let seed = b"user number 10000".as_slice();
    let mut payload = vec![canister.as_slice().len() as u8];
    payload.extend_from_slice(canister.as_slice());
    payload.extend_from_slice(seed);
    let algorithm = [
        0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb8, 0x43, 0x01, 0x02,
    ];
    let mut bits = vec![0x03, payload.len() as u8 + 1, 0x00];
    bits.extend_from_slice(&payload);
    let mut der = vec![0x30, (algorithm.len() + bits.len()) as u8];
    der.extend_from_slice(&algorithm);
    der.extend_from_slice(&bits);
    let sender = Principal::self_authenticating(&der);

    let expiry = (SystemTime::now() + Duration::from_secs(120))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let content = |nonce: Option<Vec<u8>>| EnvelopeContent::Call {
        nonce,
        ingress_expiry: expiry,
        sender,
        canister_id: canister,
        method_name: "whoami".into(),
        arg: vec![],
        sender_info: None,
    };
    let signed_content = content(None);
    let message = [
        b"\x0Aic-request".as_slice(),
        signed_content.to_request_id().as_slice(),
    ]
    .concat();
    let tree: HashTree<Vec<u8>> = label(
        "sig",
        label(
            Sha256::digest(seed).to_vec(),
            label(Sha256::digest(&message).to_vec(), leaf(Vec::new())),
        ),
    );
    owner
        .update(&canister, "set_certified")
        .with_arg(tree.digest().to_vec())
        .call_and_wait()
        .await
        .unwrap();
    let certificate = owner.query(&canister, "cert").call().await.unwrap();

    #[derive(serde::Serialize)]
    struct CanisterSig<'a> {
        #[serde(with = "serde_bytes")]
        certificate: &'a [u8],
        tree: &'a HashTree<Vec<u8>>,
    }
    let mut serializer = serde_cbor::Serializer::new(Vec::new());
    serializer.self_describe().unwrap();
    serde::Serialize::serialize(
        &CanisterSig {
            certificate: &certificate,
            tree: &tree,
        },
        &mut serializer,
    )
    .unwrap();
    let signature = serializer.into_inner();
    let envelope = |content: EnvelopeContent| {
        Envelope {
            content: Cow::Owned(content),
            sender_pubkey: Some(der.clone()),
            sender_sig: Some(signature.clone()),
            sender_delegation: None,
        }
        .encode_bytes()
    };

    match owner
        .update_signed(canister, envelope(signed_content))
        .await
        .unwrap()
    {
        CallResponse::Response(who) => assert_eq!(Principal::from_slice(&who), sender),
        CallResponse::Poll(_) => panic!("the call did not complete"),
    }
    // The same signature does not cover another request.
    let e = owner
        .update_signed(canister, envelope(content(Some(vec![1]))))
        .await
        .unwrap_err();
    assert_eq!(http_status(&e), Some(400), "{e}");
}

/// A delegation chain (Ed25519 → secp256k1 → P-256): requests signed by the last
/// key act as the first key's principal; expired delegations, delegations to
/// other canisters and query-only delegations used for calls are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegation_chains() {
    use ic_agent::identity::{
        DelegatedIdentity, Delegation, DelegationPermissions, SignedDelegation,
    };

    let handle = start().await;
    let owner = agent(&handle, ed25519_identity(20)).await;
    let canister = install(&owner).await;

    let root = ed25519_identity(21);
    let middle = secp256k1_identity(22);
    let leaf_key = p256_identity(23).public_key().unwrap();
    let far = (SystemTime::now() + Duration::from_secs(3600))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let sign = |by: &dyn Identity, delegation: Delegation| SignedDelegation {
        signature: by.sign_delegation(&delegation).unwrap().signature.unwrap(),
        delegation,
    };
    let chain = |expiration: u64,
                 targets: Option<Vec<Principal>>,
                 permissions: Option<DelegationPermissions>| {
        vec![
            sign(
                &root,
                Delegation {
                    pubkey: middle.public_key().unwrap(),
                    expiration: far,
                    targets: None,
                    permissions: None,
                },
            ),
            sign(
                &middle,
                Delegation {
                    pubkey: leaf_key.clone(),
                    expiration,
                    targets,
                    permissions,
                },
            ),
        ]
    };
    let delegated = |chain: Vec<SignedDelegation>| async {
        let identity = DelegatedIdentity::new_unchecked(
            root.public_key().unwrap(),
            Box::new(p256_identity(23)),
            chain,
        );
        let agent = Agent::builder()
            .with_url(handle.url())
            .with_identity(identity)
            .build()
            .unwrap();
        agent.fetch_root_key().await.unwrap();
        agent
    };

    let agent = delegated(chain(far, Some(vec![canister]), None)).await;
    let who = agent
        .update(&canister, "whoami")
        .call_and_wait()
        .await
        .unwrap();
    assert_eq!(Principal::from_slice(&who), root.sender().unwrap());

    let expired = delegated(chain(far - 7200 * 1_000_000_000, None, None)).await;
    let e = expired
        .update(&canister, "whoami")
        .call_and_wait()
        .await
        .unwrap_err();
    assert_eq!(http_status(&e), Some(400), "{e}");

    let elsewhere = Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 1, 1]);
    let other_target = delegated(chain(far, Some(vec![elsewhere]), None)).await;
    let e = other_target
        .update(&canister, "whoami")
        .call_and_wait()
        .await
        .unwrap_err();
    assert_eq!(http_status(&e), Some(400), "{e}");

    let queries_only = delegated(chain(far, None, Some(DelegationPermissions::Queries))).await;
    let e = queries_only
        .update(&canister, "whoami")
        .call_and_wait()
        .await
        .unwrap_err();
    assert_eq!(http_status(&e), Some(400), "{e}");
    let who = queries_only
        .query(&canister, "whoami_q")
        .call()
        .await
        .unwrap();
    assert_eq!(Principal::from_slice(&who), root.sender().unwrap());
}
