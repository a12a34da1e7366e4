//! localnet's HTTP interface through ic-agent, the real client: calls, queries
//! with node signatures, read_state, authentication, and certificate checks.

mod common;

use candid::Principal;
use common::*;
use ic_agent::agent::{RejectCode, RequestStatusResponse};
use ic_agent::hash_tree::LookupResult;
use ic_agent::{Agent, AgentError, Certificate, Identity};
use std::time::{Duration, SystemTime};

fn counter(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

fn http_status(e: &AgentError) -> Option<u16> {
    match e {
        AgentError::HttpError(payload) => Some(payload.status),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_gives_the_root_key_that_signs_certificates() {
    let handle = start().await;
    let agent = agent(&handle, ed25519_identity(1)).await;
    assert_eq!(agent.read_root_key(), handle.root_key_der());
    let status = agent.status().await.unwrap();
    assert_eq!(
        status.root_key.as_deref(),
        Some(handle.root_key_der().as_slice())
    );
    assert_eq!(status.replica_health_status.as_deref(), Some("healthy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronous_calls_queries_and_certified_data() {
    let handle = start().await;
    let identity = ed25519_identity(1);
    let me = identity.sender().unwrap();
    let agent = agent(&handle, identity).await;
    let canister = install(&agent).await;

    // v4 call: the reply comes with a certificate the agent verified.
    let reply = agent
        .update(&canister, "inc")
        .call_and_wait()
        .await
        .unwrap();
    assert_eq!(counter(&reply), 1);
    let reply = agent
        .update(&canister, "inc")
        .call_and_wait()
        .await
        .unwrap();
    assert_eq!(counter(&reply), 2);

    // A query, with the node signature verified (the agent's default): it reads
    // the subnet's node keys and canister ranges with read_state first.
    let reply = agent.query(&canister, "get").call().await.unwrap();
    assert_eq!(counter(&reply), 2);
    let who = agent.query(&canister, "whoami_q").call().await.unwrap();
    assert_eq!(Principal::from_slice(&who), me);

    // The canister's data certificate verifies against the fetched root key and
    // holds the certified data the update set.
    let cert_bytes = agent.query(&canister, "cert").call().await.unwrap();
    let cert: Certificate = serde_cbor::from_slice(&cert_bytes).unwrap();
    agent.verify(&cert, canister).unwrap();
    assert_eq!(
        cert.tree.lookup_path([
            b"canister".as_slice(),
            canister.as_slice(),
            b"certified_data"
        ]),
        LookupResult::Found(&2u64.to_le_bytes()[..])
    );

    // Rejects are certified, with the spec's reject code and the IC's error code.
    match agent
        .update(&canister, "reject")
        .call_and_wait()
        .await
        .unwrap_err()
    {
        AgentError::CertifiedReject { reject, .. } => {
            assert_eq!(reject.reject_code, RejectCode::CanisterReject);
            assert_eq!(reject.reject_message, "nope");
            assert_eq!(reject.error_code.as_deref(), Some("IC0406"));
        }
        other => panic!("expected a certified reject, got {other}"),
    }
    match agent
        .update(&canister, "trap")
        .call_and_wait()
        .await
        .unwrap_err()
    {
        AgentError::CertifiedReject { reject, .. } => {
            assert_eq!(reject.reject_code, RejectCode::CanisterError);
            assert_eq!(reject.error_code.as_deref(), Some("IC0503"));
        }
        other => panic!("expected a certified reject, got {other}"),
    }
    // A call refused before it enters the state: a non-replicated rejection.
    let missing = Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0x30, 0x39, 1, 1]);
    match agent
        .update(&missing, "inc")
        .call_and_wait()
        .await
        .unwrap_err()
    {
        AgentError::UncertifiedReject { reject, .. } => {
            assert_eq!(reject.reject_code, RejectCode::DestinationInvalid);
            assert_eq!(reject.error_code.as_deref(), Some("IC0301"));
        }
        other => panic!("expected an uncertified reject, got {other}"),
    }
    // A query that is rejected is signed too.
    match agent
        .query(&canister, "no_such_method")
        .call()
        .await
        .unwrap_err()
    {
        AgentError::UncertifiedReject { reject, .. } => {
            assert_eq!(reject.reject_code, RejectCode::CanisterError)
        }
        other => panic!("expected an uncertified reject, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asynchronous_call_then_read_state_polling() {
    let handle = start().await;
    let agent = agent(&handle, ed25519_identity(2)).await;
    let canister = install(&agent).await;

    // Forced v2: submit the signed call to /api/v2/.../call, which answers 202.
    let signed = agent.update(&canister, "inc").sign().unwrap();
    let (status, body) = post(
        &handle,
        &format!("/api/v2/canister/{canister}/call"),
        signed.signed_update.clone(),
    )
    .await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    assert!(body.is_empty());
    // Then poll /api/v3/.../read_state for /request_status, as the agent does.
    let (reply, cert) = agent.wait(&signed.request_id, canister).await.unwrap();
    assert_eq!(counter(&reply), 1);
    agent.verify(&cert, canister).unwrap();

    // Submitting the same request again does not run it again.
    let (status, _) = post(
        &handle,
        &format!("/api/v2/canister/{canister}/call"),
        signed.signed_update.clone(),
    )
    .await;
    assert_eq!(status, 202);
    let (status, _) = agent
        .request_status_raw(&signed.request_id, canister)
        .await
        .unwrap();
    assert_eq!(
        status,
        RequestStatusResponse::Replied(ic_agent::agent::ReplyResponse {
            arg: 1u64.to_le_bytes().to_vec()
        })
    );
    assert_eq!(
        counter(&agent.query(&canister, "get").call().await.unwrap()),
        1
    );

    // The deprecated v2 read_state endpoint gives the same certified status.
    let signed_status = agent
        .sign_request_status(canister, signed.request_id)
        .unwrap();
    let (status, body) = post(
        &handle,
        &format!("/api/v2/canister/{canister}/read_state"),
        signed_status.signed_request_status,
    )
    .await;
    assert_eq!(status, 200);
    #[derive(serde::Deserialize)]
    struct ReadStateResponse {
        #[serde(with = "serde_bytes")]
        certificate: Vec<u8>,
    }
    let response: ReadStateResponse = serde_cbor::from_slice(&body).unwrap();
    let cert: Certificate = serde_cbor::from_slice(&response.certificate).unwrap();
    agent.verify(&cert, canister).unwrap();
    let path = [
        b"request_status".as_slice(),
        signed.request_id.as_slice(),
        b"reply",
    ];
    assert_eq!(
        cert.tree.lookup_path(path),
        LookupResult::Found(&1u64.to_le_bytes()[..])
    );

    // An unknown request id is provably absent (the agent reads it as Unknown).
    let unknown = ic_agent::RequestId::new(&[7; 32]);
    let (status, _) = agent.request_status_raw(&unknown, canister).await.unwrap();
    assert_eq!(status, RequestStatusResponse::Unknown);

    // Another sender may not read the status of this request.
    let other = common::agent(&handle, ed25519_identity(3)).await;
    let e = other
        .request_status_raw(&signed.request_id, canister)
        .await
        .unwrap_err();
    assert_eq!(http_status(&e), Some(403), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_state_paths() {
    let handle = start().await;
    let identity = ed25519_identity(4);
    let me = identity.sender().unwrap();
    let agent = agent(&handle, identity).await;
    let canister = install(&agent).await;

    let cert = agent
        .read_state_raw(vec![vec!["time".into()]], canister)
        .await
        .unwrap();
    let LookupResult::Found(mut time) = cert.tree.lookup_path([b"time".as_slice()]) else {
        panic!("no time")
    };
    let time = leb128::read::unsigned(&mut time).unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(
        now.abs_diff(time) < 10_000_000_000,
        "certificate time {time} is not now ({now})"
    );

    use sha2::Digest;
    let module_hash = agent
        .read_state_canister_module_hash(canister)
        .await
        .unwrap();
    assert_eq!(module_hash, sha2::Sha256::digest(canister_wasm()).to_vec());
    assert_eq!(
        agent
            .read_state_canister_controllers(canister)
            .await
            .unwrap(),
        vec![me]
    );
    let candid = agent
        .read_state_canister_metadata(canister, "candid:service")
        .await
        .unwrap();
    assert_eq!(candid, b"service : { inc : () -> () }");
    // A private section: for controllers only.
    assert_eq!(
        agent
            .read_state_canister_metadata(canister, "secret")
            .await
            .unwrap(),
        b"only for controllers"
    );
    let stranger = common::agent(&handle, ed25519_identity(5)).await;
    let e = stranger
        .read_state_canister_metadata(canister, "secret")
        .await
        .unwrap_err();
    assert_eq!(http_status(&e), Some(403), "{e}");

    // The subnet: its key (the root key: localnet's one subnet is the root
    // subnet), node keys and canister ranges; by canister and by subnet id.
    let subnet = agent.get_subnet_by_canister(&canister).await.unwrap();
    assert!(subnet.contains_canister(&canister));
    assert!(subnet.contains_node(&handle.node_id()));
    assert_eq!(subnet.self_reported_key(), handle.root_key_der().as_slice());
    let by_id = agent.fetch_subnet_by_id(&handle.subnet_id()).await.unwrap();
    assert!(by_id.contains_node(&handle.node_id()));
    let ranges = agent
        .read_state_subnet_canister_ranges(handle.subnet_id())
        .await
        .unwrap();
    assert!(ranges
        .iter()
        .any(|(lo, hi)| *lo <= canister && canister <= *hi));

    // Paths the spec does not allow are refused: certified data is only for the
    // canister itself, and canister information only at its own effective id.
    let e = agent
        .read_state_canister_info(canister, "certified_data")
        .await
        .unwrap_err();
    assert_eq!(http_status(&e), Some(400), "{e}");
    let elsewhere = Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 1, 1]);
    let path = vec![vec![
        "canister".into(),
        canister.as_slice().into(),
        "module_hash".into(),
    ]];
    let e = agent.read_state_raw(path, elsewhere).await.unwrap_err();
    assert_eq!(http_status(&e), Some(400), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_secp256k1_and_p256_senders() {
    let handle = start().await;
    let owner = agent(&handle, ed25519_identity(6)).await;
    let canister = install(&owner).await;
    let identities: Vec<Box<dyn Identity>> = vec![
        Box::new(ed25519_identity(7)),
        Box::new(secp256k1_identity(8)),
        Box::new(p256_identity(9)),
    ];
    for identity in identities {
        let expected = identity.sender().unwrap();
        let agent = Agent::builder()
            .with_url(handle.url())
            .with_boxed_identity(identity)
            .build()
            .unwrap();
        agent.fetch_root_key().await.unwrap();
        let who = agent
            .update(&canister, "whoami")
            .call_and_wait()
            .await
            .unwrap();
        assert_eq!(Principal::from_slice(&who), expected);
        let who = agent.query(&canister, "whoami_q").call().await.unwrap();
        assert_eq!(Principal::from_slice(&who), expected);
    }
    // Anonymous: no key, no signature.
    let anonymous = Agent::builder().with_url(handle.url()).build().unwrap();
    anonymous.fetch_root_key().await.unwrap();
    let who = anonymous
        .update(&canister, "whoami")
        .call_and_wait()
        .await
        .unwrap();
    assert_eq!(Principal::from_slice(&who), Principal::anonymous());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_root_key_is_rejected_by_the_agent() {
    let handle = start().await;
    let owner = agent(&handle, ed25519_identity(10)).await;
    let canister = install(&owner).await;
    let other_root =
        localnet::localnet_services::certification::RootKey::from_seed([9; 32]).public_key_der();
    assert_ne!(other_root, handle.root_key_der());
    let agent = Agent::builder()
        .with_url(handle.url())
        .with_identity(ed25519_identity(10))
        .build()
        .unwrap();
    agent.set_root_key(other_root);
    let e = agent
        .update(&canister, "inc")
        .call_and_wait()
        .await
        .unwrap_err();
    assert!(
        matches!(e, AgentError::CertificateVerificationFailed()),
        "{e}"
    );
    let e = agent
        .read_state_raw(vec![vec!["time".into()]], canister)
        .await
        .unwrap_err();
    assert!(
        matches!(e, AgentError::CertificateVerificationFailed()),
        "{e}"
    );
    // Query signatures are checked against node keys read with that root key.
    let e = agent.query(&canister, "get").call().await.unwrap_err();
    assert!(
        matches!(e, AgentError::CertificateVerificationFailed()),
        "{e}"
    );
}

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
