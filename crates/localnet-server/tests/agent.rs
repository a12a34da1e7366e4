//! localnet's HTTP interface through ic-agent, the real client: calls, queries
//! with node signatures, read_state, senders of each key type, and certificate
//! checks. Refused requests, canister signatures and delegations: agent_auth.rs.

mod common;

use candid::Principal;
use common::*;
use ic_agent::agent::{RejectCode, RequestStatusResponse};
use ic_agent::hash_tree::LookupResult;
use ic_agent::{Agent, AgentError, Certificate, Identity};
use std::time::SystemTime;

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
