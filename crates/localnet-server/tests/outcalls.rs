//! Live HTTPS outcalls through the server: performed for real against a loopback
//! server, outside the net's lock, so other requests are answered while an
//! outcall waits. Uses the conformance canister (`scripts/build-canisters.sh`,
//! or `CONFORMANCE_WASM=<path>`).

mod common;

use candid::{CandidType, Deserialize, Principal};
use common::*;
use ic_management_canister_types::HttpRequestResult;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

fn conformance_wasm() -> Vec<u8> {
    let path = std::env::var_os("CONFORMANCE_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
                "../../target/wasm32-unknown-unknown/canister-release/conformance_canister.wasm",
            )
        });
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the conformance canister at {} ({e}); build it with scripts/build-canisters.sh or set CONFORMANCE_WASM",
            path.display()
        )
    })
}

#[derive(CandidType, serde::Serialize)]
enum Transform {
    #[serde(rename = "keep_headers")]
    KeepHeaders,
}

#[derive(CandidType, Deserialize, Debug)]
struct RejectInfo {
    code: u32,
    message: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_live_outcall_does_not_block_other_requests() {
    // A loopback web server whose answer the test releases.
    let (release, released) = oneshot::channel::<()>();
    let released = Arc::new(Mutex::new(Some(released)));
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::get(move || {
            let released = released.clone();
            async move {
                let wait = released.lock().unwrap().take();
                if let Some(wait) = wait {
                    let _ = wait.await;
                }
                "slow body"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = format!("http://{}/slow", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let handle = start().await;
    let agent = agent(&handle, ed25519_identity(30)).await;
    let counter = install(&agent).await;
    let canister = create_and_install(&agent, conformance_wasm()).await;

    let outcall = {
        let agent = agent.clone();
        let arg = candid::encode_args((web, None::<u64>, Transform::KeepHeaders)).unwrap();
        tokio::spawn(async move {
            agent
                .update(&canister, "http_get")
                .with_arg(arg)
                .call_and_wait()
                .await
        })
    };
    // While the outcall waits for the web server, the net answers calls and queries.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!outcall.is_finished());
    let served = tokio::time::timeout(Duration::from_secs(30), async {
        agent.update(&counter, "inc").call_and_wait().await.unwrap();
        agent.query(&counter, "get").call().await.unwrap()
    })
    .await
    .expect("a call and a query are answered while an outcall is in flight");
    assert_eq!(u64::from_le_bytes(served.try_into().unwrap()), 1);
    assert!(
        !outcall.is_finished(),
        "the outcall cannot finish before its response is released"
    );

    release.send(()).unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(60), outcall)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let result: Result<HttpRequestResult, RejectInfo> = candid::decode_one(&reply).unwrap();
    let response = result.unwrap();
    assert_eq!(response.status, candid::Nat::from(200u16));
    assert_eq!(response.body, b"slow body");
    // The canister's transform ran on the real response.
    assert!(
        response
            .headers
            .iter()
            .any(|h| h.name == "x-transform-context" && h.value == "keep"),
        "{:?}",
        response.headers
    );
}

async fn create_and_install(agent: &ic_agent::Agent, wasm: Vec<u8>) -> Principal {
    use ic_management_canister_types::{
        CanisterIdRecord, CanisterInstallMode, InstallCodeArgs,
        ProvisionalCreateCanisterWithCyclesArgs,
    };
    let create = ProvisionalCreateCanisterWithCyclesArgs {
        amount: Some(candid::Nat::from(100_000_000_000_000u64)),
        settings: None,
        specified_id: None,
        sender_canister_version: None,
    };
    let reply = agent
        .update(
            &Principal::management_canister(),
            "provisional_create_canister_with_cycles",
        )
        .with_effective_canister_id(Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 1, 1]))
        .with_arg(candid::encode_one(create).unwrap())
        .call_and_wait()
        .await
        .unwrap();
    let CanisterIdRecord { canister_id } = candid::decode_one(&reply).unwrap();
    let install = InstallCodeArgs {
        mode: CanisterInstallMode::Install,
        canister_id,
        wasm_module: wasm,
        arg: candid::encode_args(()).unwrap(),
        sender_canister_version: None,
    };
    agent
        .update(&Principal::management_canister(), "install_code")
        .with_effective_canister_id(canister_id)
        .with_arg(candid::encode_one(install).unwrap())
        .call_and_wait()
        .await
        .unwrap();
    canister_id
}

/// With mocked outcalls a call stays `processing`: the synchronous endpoint
/// answers 202 after its timeout, `read_state` certifies `processing`, and once
/// the test answers the outcall in process the agent's polling gets the reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_outlasts_the_synchronous_timeout_is_polled() {
    use ic_agent::agent::RequestStatusResponse;
    let mut config = localnet_server::Config::default();
    config.net.outcalls = localnet::OutcallMode::Mock;
    config.sync_call_timeout = Duration::from_millis(300);
    let handle = localnet_server::Server::start(config).await.unwrap();
    let agent = agent(&handle, ed25519_identity(31)).await;
    let canister = create_and_install(&agent, conformance_wasm()).await;

    let arg = candid::encode_args((
        "https://example.invalid/".to_string(),
        None::<u64>,
        Transform::KeepHeaders,
    ))
    .unwrap();
    let signed = agent
        .update(&canister, "http_get")
        .with_arg(arg)
        .sign()
        .unwrap();
    let (status, body) = post(
        &handle,
        &format!("/api/v4/canister/{canister}/call"),
        signed.signed_update.clone(),
    )
    .await;
    assert_eq!(
        (status, body.len()),
        (202, 0),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (status, _) = agent
        .request_status_raw(&signed.request_id, canister)
        .await
        .unwrap();
    assert_eq!(status, RequestStatusResponse::Processing);

    let waiting = {
        let agent = agent.clone();
        let request_id = signed.request_id;
        tokio::spawn(async move { agent.wait(&request_id, canister).await })
    };
    let net = handle.net();
    let pending = net.lock().unwrap().pending_http_outcalls();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].request.url, "https://example.invalid/");
    let response = HttpRequestResult {
        status: candid::Nat::from(200u16),
        headers: vec![],
        body: b"mocked".to_vec(),
    };
    net.lock()
        .unwrap()
        .answer_http_outcall(pending[0].id, Ok(response))
        .unwrap();
    let (reply, _) = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let result: Result<HttpRequestResult, RejectInfo> = candid::decode_one(&reply).unwrap();
    assert_eq!(result.unwrap().body, b"mocked");
}
